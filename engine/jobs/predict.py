"""The predict job: how well each chosen layer predicts a lab's recorded neurons
(:mod:`engine.analyses.predictivity`), what ``unitscope predict`` and the Brain view run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("predict")
@dataclass(frozen=True)
class Predict:
    """Encoding models, noise ceilings, RSA, CKA and best units of ``layers`` for the
    neurons in ``responses``.

    Parameters
    ----------
    responses : str
        The responses file (:func:`engine.neural.readers.read_responses`).
    images : tuple of str
        Image files; every stimulus row of the responses that is not a grating label
        (:mod:`engine.neural.gratings`) must match one by name.  Labelled gratings are drawn
        at the model's input size, so responses to gratings alone need no images.
    layers : tuple of str
        Layers to score (empty: the model's main stages, :func:`engine.analyses.stages.main_stages`).
    window_ms : (float, float) or None
        For NWB responses: spikes counted from ``start`` to ``end`` ms after each onset
        (None: 50 to 200 ms).
    deg_per_image : float
        Visual angle the model's input spans (recorded in provenance and Methods).
    features : int
        Layers with more units are projected to this many features (seeded).
    max_units : int
        Units searched for each neuron's best single unit (a seeded sample of wider layers).
    pca : int or None
        The ridge sees the first ``pca`` principal components of the features, fitted in
        each training fold (None: all features).
    folds, splits, boots, seed : int
        Cross-validation folds, split halves of the repeats, bootstrap resamples, and the seed
        of all of them and of the projection.
    batch_size, workers : int
        How images are recorded and decoded.
    """

    responses: str
    images: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    window_ms: tuple[float, float] | None = None
    deg_per_image: float = 8.0
    features: int = 1000
    max_units: int = 16384
    pca: int | None = None
    folds: int = 5
    splits: int = 20
    boots: int = 200
    seed: int = 0
    batch_size: int = 32
    workers: int | None = 0

    def describe(self) -> str:
        """What the status bar says while it runs."""
        which = ", ".join(self.layers) if self.layers else "the main stages"
        return f"Predicting neurons from {which}…"

    def checked_inputs(self):
        """The responses read and checked, what each stimulus row is as model input and the folds.

        Returns
        -------
        data : engine.neural.responses.NeuralResponses
        stimuli : engine.neural.stimulus_rows.StimulusRows
            Each row's image file or grating label.
        splits : list of (ndarray, ndarray)
            The seeded cross-validation folds over the stimuli.
        """
        from engine.analyses.predictivity import folds_of
        from engine.errors import UnitscopeError
        from engine.neural.readers import read_responses
        from engine.neural.stimulus_rows import StimulusRows

        if self.features < 1 or self.max_units < 1 or self.boots < 1 or self.splits < 1 or \
                (self.pca is not None and self.pca < 1):
            raise UnitscopeError("--features, --pca, max_units, boots and splits must be at least 1.")
        if not self.deg_per_image > 0:
            raise UnitscopeError(f"--deg-per-image must be above 0, got {self.deg_per_image}.")
        data = read_responses(self.responses, tuple(self.window_ms) if self.window_ms else None)
        stimuli = StimulusRows(data, self.images)
        splits = folds_of(data.n_stimuli, self.folds, self.seed)  # checks there are stimuli enough
        return data, stimuli, splits

    def neurons(self, data, stimuli) -> Neurons:
        """What every layer is scored against: the trial means, the noise ceilings with their
        bootstrap resamples (seeded by the job) and the neurons' orientation tuning."""
        from engine.analyses.neuron_tuning import orientation_tuning
        from engine.analyses.predictivity import noise_ceiling

        return Neurons(data.mean(), noise_ceiling(data.responses, self.splits, self.boots, self.seed),
                       stimuli.gratings, orientation_tuning(stimuli.gratings, data.responses))

    def record(self, session, stimuli, layers, cancelled: Callable[[], bool] = lambda: False):
        """Record every stimulus of ``stimuli`` (a :class:`~engine.neural.stimulus_rows.StimulusRows`:
        its images, then its gratings) once for all ``layers``; yields after each batch
        ``(stimuli done, {layer: LayerFeatures})`` (the same dict, filled as it goes)."""
        from engine.recording.recorder import Cancelled

        recorded = {name: LayerFeatures(self.features, self.max_units, self.seed) for name in layers}
        done = 0
        for batch in stimuli.batches(session.preprocess, self.batch_size, self.workers):
            if cancelled():
                raise Cancelled()
            outputs = session.recorder.record_one(layers, batch).outputs  # stops after the deepest layer
            for name in layers:
                recorded[name].add(outputs[name].numpy())
            done += batch.shape[0]
            yield done, recorded

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[PredictSnapshot]:
        """Record every stimulus once for all layers (progress after each batch), then one
        snapshot per finished layer; the last holds every layer."""
        import time

        from engine.analyses.stages import main_stages
        from engine.errors import UnitscopeError
        from engine.recording.recorder import Cancelled

        data, stimuli, splits = self.checked_inputs()
        layers = list(self.layers) or main_stages(session.anatomy)
        if not layers:
            raise UnitscopeError("The model has no layers to sweep; name some with --layers.")
        session.recorder.resolve(layers)
        s, total = data.n_stimuli, data.n_stimuli + len(layers)
        snapshot = PredictSnapshot(list(data.neurons), list(data.stimuli), stimuli.image_paths(), list(layers),
                                   deg_per_image=float(self.deg_per_image),
                                   window_ms=list(self.window_ms) if self.window_ms else None, total=total)
        recorded: dict = {}
        started = time.perf_counter()
        for done, recorded in self.record(session, stimuli, layers, cancelled):
            snapshot.done = done
            if done < s:
                yield snapshot.copy()
        snapshot.seconds["recording"] = time.perf_counter() - started
        started = time.perf_counter()
        neurons = self.neurons(data, stimuli)
        snapshot.seconds["ceiling"] = time.perf_counter() - started
        snapshot.set_neurons(neurons)
        snapshot.done = s
        yield snapshot.copy()
        rows = stimuli.row_of_recorded()  # images were recorded first, then the gratings
        for name in layers:
            if cancelled():
                raise Cancelled()
            started = time.perf_counter()
            row = recorded.pop(name).score(name, neurons, splits, rows, self.pca)
            snapshot.seconds[name] = time.perf_counter() - started
            snapshot.add_row(name, row)
            snapshot.done += 1
            yield snapshot.copy()


@dataclass(frozen=True)
class Neurons:
    """What every layer of a predict job is scored against; none of it depends on a layer.

    Attributes
    ----------
    mean : ndarray (S, N)
        Trial-averaged responses.
    ceiling : engine.analyses.predictivity.Ceiling
        Noise ceilings and their bootstrap resamples.
    gratings : ndarray (S, 4)
        :func:`engine.neural.gratings.grating_table` of the rows (NaN rows for images).
    tuning : engine.analyses.neuron_tuning.OrientationTuning
        Each neuron's orientation tuning curve (empty without grating rows).
    """

    mean: object
    ceiling: object
    gratings: object
    tuning: object


class LayerFeatures:
    """What recording keeps of one layer: its seeded projected features, a seeded sample of
    its raw units (searched for each neuron's best unit) and its output shape."""

    def __init__(self, features: int, max_units: int, seed: int):
        self.features, self.max_units, self.seed = features, max_units, seed
        self.projection = self.sample = self.shape = None
        self.projected: list = []
        self.units: list = []

    def add(self, output) -> None:
        """Keep one batch of the layer's output ``(B, ...)``."""
        import numpy as np

        from engine.analyses.predictivity import Projection

        x = output.reshape(output.shape[0], -1)
        if self.projection is None:
            self.shape = tuple(output.shape[1:])
            self.projection = Projection(x.shape[1], self.features, self.seed)
            rng = np.random.default_rng([self.seed, 2, x.shape[1]])
            self.sample = (None if x.shape[1] <= self.max_units
                           else np.sort(rng.choice(x.shape[1], self.max_units, replace=False)))
        self.projected.append(self.projection(x))
        self.units.append(x if self.sample is None else x[:, self.sample])

    def score(self, name: str, neurons: Neurons, splits, rows, pca: int | None = None) -> dict:
        """The layer against the neurons (:func:`engine.analyses.predictivity.fit_layer` on their
        trial means; the best unit's orientation tuning, :func:`engine.analyses.neuron_tuning.unit_tuning`),
        as one row of :data:`LAYER_FIELDS`; the kept batches are let go.

        ``rows`` puts the recorded stimuli in row order
        (:meth:`engine.neural.stimulus_rows.StimulusRows.row_of_recorded`).
        """
        import numpy as np

        from engine.analyses.neuron_tuning import unit_tuning
        from engine.analyses.predictivity import fit_layer

        in_order = (lambda a: a) if np.array_equal(rows, np.arange(len(rows))) else (lambda a: a[rows])
        x, self.projected = in_order(np.concatenate(self.projected)), []
        u, self.units = in_order(np.concatenate(self.units)), []
        fit = fit_layer(name, x, u, neurons.mean, neurons.ceiling, splits, pca=pca)
        del x
        flat = fit.best_unit if self.sample is None else self.sample[fit.best_unit]
        response = u[:, fit.best_unit]
        return layer_row(fit, flat, self.shape, response, unit_tuning(neurons.gratings, response, neurons.tuning))


#: Per-layer fields of a :class:`PredictSnapshot`, one row per finished layer.
LAYER_FIELDS = ("r", "ev", "alpha", "normalised", "normalised_ev", "r_ci", "normalised_ci", "best_unit",
                "best_channel", "best_y", "best_x", "unit_r", "unit_response", "unit_tuning", "rsa", "cka",
                "n_features", "n_units")


@dataclass
class PredictSnapshot:
    """The layers scored so far.

    Attributes
    ----------
    neurons, stimuli, image_paths : list of str
        The neurons, the stimulus of each row, and the image file it matched ("" for a grating
        drawn from its label).
    layers : list of str
        Every layer chosen; ``finished`` those scored (the first rows of the per-layer arrays).
    mean : ndarray (S, N)
        Trial-averaged responses.
    reliability, ceiling : ndarray (N,)
        Split-half reliability (Spearman-Brown) and the ceiling of r, ``sqrt(reliability)``.
    ceiling_ci : ndarray (N, 2)
    rdm_ceiling : float
        Ceiling of the RSA score.
    r, ev, alpha, normalised, normalised_ev, unit_r : ndarray (layers, N)
        Held-out Pearson r and explained variance, ridge penalty, ceiling-normalised r and
        explained variance, the best single unit's held-out r.
    r_ci, normalised_ci : ndarray (layers, N, 2)
        Bootstrap 95% intervals.
    best_unit, best_channel, best_y, best_x : ndarray (layers, N), int
        The best unit as a flat index into the layer's output and as channel and position
        (-1 where the output has no grid).
    unit_response : ndarray (layers, S, N)
        That unit's response to every stimulus.
    orientations : ndarray (O,)
        The orientations of the rows that are grating labels (empty when none is).
    tuning_mean, tuning_sem : ndarray (N, O)
        Each neuron's orientation tuning curve at its preferred SF and contrast, and its SEM over
        repeats (:func:`engine.analyses.neuron_tuning.orientation_tuning`).
    tuning_sf, tuning_contrast : ndarray (N,)
        The SF (cycles per image) and contrast each neuron's curve is taken at.
    unit_tuning : ndarray (layers, N, O)
        The best unit's curve over the same stimuli (its mean over phases).
    rsa, cka : ndarray (layers,)
    n_features, n_units : ndarray (layers,), int
        Features the ridge used (after projection) and units searched for the best one.
    deg_per_image : float
    window_ms : list of float or None
    seconds : dict of str to float
        Wall time of the recording, of the noise ceiling and of each layer's fit.
    """

    kind: ClassVar[str] = "predict"

    neurons: list[str] = field(default_factory=list)
    stimuli: list[str] = field(default_factory=list)
    image_paths: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    mean: object = None
    reliability: object = None
    ceiling: object = None
    ceiling_ci: object = None
    rdm_ceiling: float = float("nan")
    r: object = None
    ev: object = None
    alpha: object = None
    normalised: object = None
    normalised_ev: object = None
    r_ci: object = None
    normalised_ci: object = None
    best_unit: object = None
    best_channel: object = None
    best_y: object = None
    best_x: object = None
    unit_r: object = None
    unit_response: object = None
    orientations: object = None
    tuning_mean: object = None
    tuning_sem: object = None
    tuning_sf: object = None
    tuning_contrast: object = None
    unit_tuning: object = None
    rsa: object = None
    cka: object = None
    n_features: object = None
    n_units: object = None
    deg_per_image: float = 8.0
    window_ms: list[float] | None = None
    seconds: dict = field(default_factory=dict)
    done: int = 0
    total: int = 0

    def copy(self) -> PredictSnapshot:
        """A shallow copy (the arrays are replaced, never changed in place, as layers finish)."""
        import dataclasses

        return dataclasses.replace(self, neurons=list(self.neurons), finished=list(self.finished),
                                   seconds=dict(self.seconds))

    def set_neurons(self, neurons: Neurons) -> None:
        """The trial means, the noise ceilings and the neurons' orientation tuning (a :class:`Neurons`)."""
        ceiling, tuning = neurons.ceiling, neurons.tuning
        self.mean = neurons.mean
        self.reliability, self.ceiling, self.ceiling_ci = ceiling.reliability, ceiling.ceiling, ceiling.ceiling_ci
        self.rdm_ceiling = ceiling.rdm_ceiling
        self.orientations, self.tuning_mean, self.tuning_sem = tuning.orientations, tuning.mean, tuning.sem
        self.tuning_sf, self.tuning_contrast = tuning.sf, tuning.contrast

    def add_row(self, layer: str, row: dict) -> None:
        """Append one finished layer's row (:data:`LAYER_FIELDS`, as :func:`layer_row` makes it)."""
        import numpy as np

        for name in LAYER_FIELDS:
            value = np.asarray(row[name])[None]
            old = getattr(self, name)
            setattr(self, name, value if old is None else np.concatenate([old, value]))
        self.finished.append(layer)


def layer_row(fit, flat_unit, shape: tuple, unit_response, unit_tuning) -> dict:
    """One layer's row of :data:`LAYER_FIELDS` from an :class:`engine.analyses.predictivity.LayerFit`:
    the best unit ``flat_unit`` (a flat index into the output of ``shape``) also as channel and
    position (-1 without a grid), that unit's ``unit_response`` to every stimulus and its
    orientation tuning ``unit_tuning``."""
    import numpy as np

    flat_unit = np.asarray(flat_unit, dtype=np.int64)
    if len(shape) == 3:
        channel, y, x = np.unravel_index(flat_unit, shape)
    else:
        channel = flat_unit if len(shape) == 1 else np.unravel_index(flat_unit, shape)[0]
        y = x = np.full_like(flat_unit, -1)
    row = {"r": fit.r, "ev": fit.ev, "alpha": fit.alpha, "normalised": fit.normalised,
           "normalised_ev": fit.normalised_ev, "r_ci": fit.r_ci, "normalised_ci": fit.normalised_ci,
           "best_unit": flat_unit, "best_channel": channel, "best_y": y, "best_x": x, "unit_r": fit.unit_r,
           "unit_response": unit_response, "unit_tuning": unit_tuning, "rsa": fit.rsa, "cka": fit.cka,
           "n_features": fit.n_features, "n_units": fit.n_units}
    return {name: np.asarray(row[name]) for name in LAYER_FIELDS}


register(Analysis(
    "predict",
    "Brain",
    jobs=(Predict,),
    snapshots=(PredictSnapshot,),
    needs=frozenset({"model"}),
    view="gui.analyses.brain_view:BrainView",
    shortcut="Ctrl+Shift+N",
    figure="engine.figures.predictivity:sweep_data",
    neuron_figure="engine.figures.predictivity:neuron_unit_data",
    methods="engine.figures.predictivity:methods",
    command="predict",
    order=65))
