"""A finished sharded job's results as the window's snapshots: top-k, tuning, population.

A ``unitscope submit`` job keeps, per stimulus, reductions of each layer (``mean``,
``centre``, ``project:D`` ...) and, over all stimuli, each channel's ``k`` highest and
lowest centre-unit responses (:mod:`engine.cluster.merged`).  The functions here turn them
into exactly what the window's jobs yield, so the usual views draw them:

- :func:`topk_result`: a channel's dataset-wide extremes as a
  :class:`~engine.jobs.topk.TopImagesSnapshot` (crops cut as the ``topk`` job cuts them);
- :func:`tuning_result`: for a protocol's stimuli, a channel's ``centre`` responses per
  condition through :class:`~engine.analyses.tuning.TuningTable`, as a
  :class:`~engine.jobs.tuning.TuningSnapshot` (gratings, Gabors) or a
  :class:`~engine.jobs.protocol_responses.ProtocolSnapshot` (the V1 battery's protocols);
- :func:`population_result`: one reduction's rows through the population analyses, as a
  :class:`~engine.jobs.population.PopulationSnapshot`.

The jobs at the end (``cluster_topk``, ``cluster_tuning``, ``cluster_protocol``,
``cluster_population``) run these in the window's engine thread; each extends the job whose
view shows it, so the view reads its settings as usual.  This module loads without torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.jobs.population import Population
from engine.jobs.protocol_responses import ProtocolResponses
from engine.jobs.summaries import Summaries
from engine.jobs.topk import TopImages
from engine.jobs.tuning import Tuning
from engine.recording.unit import Unit
from engine.session.job import JobFile, job_kind
from engine.session.values import ModelSpec

log = logging.getLogger(__name__)

#: Per-stimulus reductions a population vector can be made of, best first, and the view each is.
POPULATION_REDUCTIONS = {"mean": "channels", "centre": "centre", "raw": "flat", "max": "channel maxima"}
#: Protocol kinds the tuning view draws as a sweep (the others as a battery protocol's table).
SWEPT_KINDS = ("gratings", "gabors")
#: Protocol kinds with no tuning curve to draw.
NO_CURVE_KINDS = ("sparse_noise", "white_noise")


@dataclass(frozen=True)
class ClusterResults:
    """What a finished job's store holds (read from its attributes, no array read).

    Attributes
    ----------
    job_dir : str
    model : ModelSpec
        The model the shards ran.
    job : Summaries
        The whole job (images sorted, every stimulus).
    units : dict
        Layer -> per-stimulus output shape ``(C[, H, W])``.
    reductions : dict
        Layer -> the names of its per-stimulus reductions.
    n_stimuli, k : int
    """

    job_dir: str
    model: ModelSpec
    job: Summaries
    units: dict
    reductions: dict
    n_stimuli: int
    k: int

    @property
    def layers(self) -> list[str]:
        return list(self.units)

    @property
    def protocol(self) -> str:
        """The protocol kind of the stimuli ("" for image files)."""
        return self.job.protocol

    def channels(self, layer: str) -> int:
        return int(self.units[layer][0])

    def population_reductions(self, layer: str) -> list[str]:
        """The reductions of ``layer`` a population analysis can use, best first."""
        names = self.reductions.get(layer, [])
        return sorted((n for n in names if not n.startswith("grid")),
                      key=lambda n: (list(POPULATION_REDUCTIONS).index(n) if n in POPULATION_REDUCTIONS
                                     else 1.5 if n.startswith("project") else 9, n))

    def tuning_refusal(self, layer: str) -> str:
        """Why ``layer`` has no tuning curve in this job ("" when it has one)."""
        if not self.protocol:
            return "Its stimuli are image files, not a protocol: a tuning curve needs a protocol's conditions."
        if self.protocol in NO_CURVE_KINDS:
            return f"Its stimuli are {self.protocol.replace('_', ' ')} frames: they have no tuning curve."
        if "centre" not in self.reductions.get(layer, []):
            return f"It kept no 'centre' summary of {layer}: a tuning curve needs each channel's centre unit."
        return ""

    def stimuli_text(self) -> str:
        if self.protocol:
            params = ", ".join(f"{name} {', '.join(f'{v:g}' for v in values)}" for name, values in self.job.params)
            return (f"{self.n_stimuli:,} {self.protocol} stimuli ({params or 'default parameters'}; "
                    f"{self.job.phases} phase(s))")
        return f"{self.n_stimuli:,} image(s)"



def same_model(a: ModelSpec, b: ModelSpec) -> bool:
    """Whether two specs build the same network with the same weights (devices aside)."""
    a, b = a.with_absolute_paths(), b.with_absolute_paths()
    weights = (a.weights_sha256 == b.weights_sha256 if a.weights_sha256 and b.weights_sha256
               else a.weights == b.weights)
    return a.spec == b.spec and weights and (a.weights is not None or a.seed == b.seed)


def open_results(job_dir: str | Path):
    """Describe a finished summaries job's store, or, for a predict job, the job that reads its
    merged result (:class:`~engine.cluster.predict_merged.ClusterPredict`); refused (one line)
    for a folder that is not a job store or a job with shards not done."""
    from engine.cluster.merged import finished_store

    store = finished_store(job_dir)
    if store.kind == "predict":
        from engine.cluster.predict_merged import ClusterPredict

        return ClusterPredict.of(store)
    return describe(store)


def describe(store) -> ClusterResults:
    """What ``store`` (a :class:`~engine.cluster.store.JobStore`) holds."""
    job_file = JobFile.from_dict(store.attrs["job"])
    return ClusterResults(str(store.dir), job_file.model, job_file.job,
                          {layer: store.units(layer) for layer in store.layers},
                          {layer: store.reductions(layer) for layer in store.layers},
                          int(store.attrs["n_stimuli"]), int(store.attrs["k"]))


def skipped(store) -> list[tuple[str, str]]:
    """Stimuli the shards could not read, with why (from each shard's record)."""
    return [tuple(s) for shard in range(len(store.shards)) for s in store.info(shard).get("skipped") or []]


def job_protocol(job: Summaries, crop_size):
    """The job's protocol, as its shards made it (centred on the image, sizes from ``crop_size``)."""
    from engine.stimuli.protocols import Protocol

    return Protocol(job.protocol, crop_size, {name: np.asarray(values, dtype=float) for name, values in job.params},
                    phases=job.phases)


def _check(results: ClusterResults, layer: str, channel: int | None = None) -> None:
    if layer not in results.units:
        raise UnitscopeError(f"The job in '{results.job_dir}' has no layer '{layer}'; it has "
                             f"{', '.join(results.layers)}.")
    if channel is not None and not 0 <= channel < results.channels(layer):
        raise UnitscopeError(f"Layer '{layer}' has channels 0–{results.channels(layer) - 1}, not {channel}.")


def _centre_unit(results: ClusterResults, layer: str, channel: int) -> Unit:
    """The unit the ``centre`` summary and the extremes keep: the map centre (H // 2, W // 2)."""
    shape = results.units[layer]
    return Unit(layer, channel, shape[1] // 2, shape[2] // 2) if len(shape) == 3 else Unit(layer, channel)


def topk_result(store, layer: str, channel: int, session) -> object:
    """``channel``'s top and bottom ``k`` stimuli over the whole job, as a ``TopImagesSnapshot``.

    ``session`` is the job's model (its preprocessing and anatomy cut the receptive-field
    crops, as the ``topk`` job does); None shows whole images, named so.
    """
    from engine.analyses.topk import rf_crop
    from engine.analyses.units import unit_geometry
    from engine.cluster.merged import extremes
    from engine.jobs.topk import TopImagesSnapshot
    from engine.stimuli.images import load_image

    results = describe(store)
    _check(results, layer, channel)
    ends = extremes(store, layer).padded()
    unit = _centre_unit(results, layer, channel)
    box = None
    if session is not None:
        geometry = unit_geometry(session.anatomy, Unit(layer, channel))
        unit, box = geometry.unit, geometry.box
    if results.protocol and session is None:
        raise UnitscopeError(f"The job's model {results.model.label} cannot be opened here, and its "
                             "protocol's stimuli depend on the model's input size.")
    protocol = job_protocol(results.job, session.preprocess.crop_size) if results.protocol else None
    names = list(results.job.images)

    def name(i: int) -> str:
        if protocol is None:
            return Path(names[i]).name
        params = protocol.stimulus(i)[0]
        return f"#{i}: " + ", ".join(f"{k} {v:g}" for k, v in params.items() if k != "sf_rf")

    def crop(i: int) -> np.ndarray:
        if session is None:
            return np.asarray(load_image(names[i]).convert("RGB"))
        inputs = (session.preprocess.array(protocol.stimulus(i)[1]) if protocol is not None
                  else session.preprocess.image(load_image(names[i])))
        return rf_crop(session.preprocess.to_display(inputs), box)

    made: dict[int, np.ndarray] = {}

    def entries(end: str):
        kept = ends[f"{end}_indices"][channel]
        values = ends[f"{end}_values"][channel]
        kept, values = kept[kept >= 0], values[kept >= 0]
        for i in kept:
            if int(i) not in made:
                made[int(i)] = crop(int(i))
        return values.astype(float), [made[int(i)] for i in kept], [name(int(i)) for i in kept]

    lost = skipped(store)
    return TopImagesSnapshot(unit.label, box, *entries("top"), *entries("bottom"),
                             done=results.n_stimuli - len(lost), total=results.n_stimuli,
                             skipped=[f"{Path(n).name}: {why}" for n, why in lost])


def tuning_table(store, layer: str, channel: int, crop_size):
    """The job's protocol and ``channel``'s :class:`~engine.analyses.tuning.TuningTable` of
    its ``centre`` responses (phases in stimulus order, as the protocol shows them)."""
    from engine.analyses.tuning import TuningTable
    from engine.cluster.merged import reduction

    results = describe(store)
    _check(results, layer, channel)
    refusal = results.tuning_refusal(layer)
    if refusal:
        raise UnitscopeError(f"The job in '{results.job_dir}' has no tuning curve: {refusal}")
    protocol = job_protocol(results.job, crop_size)
    if len(protocol) != results.n_stimuli:
        raise UnitscopeError(f"The job's protocol makes {len(protocol)} stimuli here, not the "
                             f"{results.n_stimuli} of its store: is it the same model input size?")
    responses = reduction(store, layer, "centre")[:, channel].astype(float)
    index = np.arange(len(protocol))
    n_phases = len(protocol.phases)
    table = TuningTable.for_protocol(protocol, 1)
    good = np.isfinite(responses)
    table.update(index[good] // n_phases, protocol.phases[index[good] % n_phases], responses[good, None])
    return protocol, table


def tuning_result(store, layer: str, channel: int, crop_size) -> object:
    """``channel``'s tuning over the job's protocol, from its ``centre`` summary.

    Gratings and Gabors give a :class:`~engine.jobs.tuning.TuningSnapshot` along orientation
    (or spatial frequency when orientation is not swept), the other swept parameters at the
    best condition, as the ``tuning`` job gives it; the V1 battery's protocols (size, contrast,
    hue, bar length, phase) and bars give a :class:`~engine.jobs.protocol_responses.ProtocolSnapshot`.
    """
    from engine.analyses.tuning import MEASURES
    from engine.jobs.protocol_responses import ProtocolSnapshot
    from engine.jobs.tuning import TuningSnapshot

    protocol, table = tuning_table(store, layer, channel, crop_size)
    results = describe(store)
    unit = _centre_unit(results, layer, channel)
    n = int(table.count.sum())
    param = swept_param(protocol.kind, protocol.swept)
    if param:
        f0 = table.curve(param, "f0")
        f1 = table.curve(param, "f1", at=f0.fixed)
        return TuningSnapshot(unit.label, param, f0.values.copy(), f0.responses.copy(), f1.responses.copy(),
                              table.metrics("f0"), n, results.n_stimuli, None)
    header, rows = table.table()
    geometry = {"unit": unit.label, "layer": layer, "channel": channel, "y": unit.y, "x": unit.x,
                "rf_box": None, "rf_center": None, "rf_side": None}
    return ProtocolSnapshot(geometry, protocol.describe(), header, rows,
                            {m: table.metrics(m) for m in MEASURES if m != "min"},
                            protocol.n_conditions, len(protocol.phases), n, results.n_stimuli)


def population_result(store, layer: str, name: str, crop_size=None) -> object:
    """The population analyses of ``layer`` over the job's stimuli, one reduction ``name`` per
    stimulus as its population vector, as a :class:`~engine.jobs.population.PopulationSnapshot`.

    Stimuli the shards could not read (NaN rows) are left out, as the population job leaves
    out unreadable images.  ``crop_size`` names a protocol's stimuli by their conditions.
    """
    from engine.analyses.population import participation_ratio, pca_of, sparseness
    from engine.analyses.similarity import rdm_of
    from engine.cluster.merged import reduction
    from engine.jobs.population import PopulationSnapshot, finite_mean

    results = describe(store)
    _check(results, layer)
    if name not in results.reductions[layer]:
        raise UnitscopeError(f"The job kept no '{name}' summary of {layer}; it kept "
                             f"{', '.join(results.reductions[layer])}.")
    values = reduction(store, layer, name)
    rows = values.reshape(len(values), -1).astype(float)
    kept = np.flatnonzero(np.all(np.isfinite(rows), axis=1))
    rows = rows[kept]
    if len(rows) < 2:
        raise UnitscopeError(f"The job has {len(rows)} readable stimuli: a population analysis needs two.")
    pca = pca_of(rows)
    scores = np.zeros((len(rows), 2))
    shown = min(2, len(pca.components))
    scores[:, :shown] = pca.transform(rows)[:, :shown]
    gratings = False
    if results.protocol and crop_size is not None:
        protocol = job_protocol(results.job, crop_size)
        params = [protocol.stimulus(int(i))[0] for i in kept]
        labels = [", ".join(f"{key} {v:g}" for key, v in p.items() if key in protocol.swept or key == "phase")
                  for p in params]
        gratings = "orientation" in protocol.axes
        groups = np.array([p["orientation"] for p in params]) if gratings else kept.astype(float)
    elif results.protocol:
        labels, groups = [f"{results.protocol} #{i}" for i in kept], kept.astype(float)
    else:
        labels, groups = [Path(results.job.images[i]).name for i in kept], np.arange(len(kept), dtype=float)
    lost = skipped(store)
    return PopulationSnapshot(
        layer=layer, view=POPULATION_REDUCTIONS.get(name, name), labels=labels, groups=groups, scores=scores,
        explained=np.array(pca.explained_variance_ratio, copy=True),
        participation_ratio=participation_ratio(pca.explained_variance),
        lifetime_sparseness=finite_mean(sparseness(rows, axis=0)),
        population_sparseness=finite_mean(sparseness(rows, axis=1)), rdm=rdm_of(rows),
        n_units=int(rows.shape[1]), done=len(rows), total=results.n_stimuli,
        stimuli="gratings" if gratings else "images", skipped=[f"{Path(n).name}: {why}" for n, why in lost])


# --- the jobs the window runs --------------------------------------------------------------


@contextmanager
def job_model(session, model: ModelSpec):
    """The session of the job's model: the window's own when it is the same model, else the
    job's model opened on the window's device for the time being (None if it cannot be)."""
    if same_model(session.model, model):
        yield session
        return
    from engine.session.session import Session

    try:
        other = Session.open(replace(model, device=session.model.device))
    except Exception as exc:  # noqa: BLE001 - weights or code not on this machine: said in the snapshot
        log.warning("the job's model %s could not be opened here: %s", model.label, exc)
        yield None
        return
    try:
        yield other
    finally:
        other.close()


def _note(session, results: ClusterResults) -> str:
    """" · results of MODEL" when the results come from another model than the window's, else ""."""
    return "" if same_model(session.model, results.model) else f" · results of {results.model.label}"


@job_kind("cluster_topk")
@dataclass(frozen=True)
class ClusterTopImages(TopImages):
    """A channel's dataset-wide top and bottom images, read from a finished job in ``job_dir``."""

    job_dir: str = ""

    def describe(self) -> str:
        return f"Reading the top and bottom images of {self.layer}[{self.channel}] from {self.job_dir}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        from engine.cluster.merged import finished_store

        store = finished_store(self.job_dir)
        results = describe(store)
        with job_model(session, results.model) as model_session:
            snapshot = topk_result(store, self.layer, self.channel, model_session)
        snapshot.unit_label += _note(session, results)
        if model_session is None:
            snapshot.unit_label += " (whole images: that model cannot be opened here)"
        yield snapshot


@job_kind("cluster_tuning")
@dataclass(frozen=True)
class ClusterTuning(Tuning):
    """A channel's tuning curve read from a finished protocol job in ``job_dir``."""

    job_dir: str = ""

    def describe(self) -> str:
        return f"Reading the tuning of {self.layer}[{self.channel}] from {self.job_dir}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        yield _tuning(self, session)


@job_kind("cluster_protocol")
@dataclass(frozen=True)
class ClusterProtocol(ProtocolResponses):
    """A channel's responses to a battery protocol, read from a finished job in ``job_dir``."""

    job_dir: str = ""

    def describe(self) -> str:
        return f"Reading the {self.protocol} protocol of {self.layer}[{self.channel}] from {self.job_dir}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        yield _tuning(self, session)


def _tuning(job, session):
    from engine.cluster.merged import finished_store

    store = finished_store(job.job_dir)
    results = describe(store)
    with job_model(session, results.model) as model_session:
        if model_session is None:
            raise UnitscopeError(f"The job's model {results.model.label} cannot be opened here, and its "
                                 "protocol's stimuli depend on the model's input size.")
        snapshot = tuning_result(store, job.layer, job.channel, model_session.preprocess.crop_size)
    note = _note(session, results)
    if hasattr(snapshot, "unit_label"):
        snapshot.unit_label += note
    else:
        snapshot.unit["unit"] += note
    return snapshot


@job_kind("cluster_population")
@dataclass(frozen=True)
class ClusterPopulation(Population):
    """A layer's population analyses over a finished job's stimuli, one ``reduction`` per stimulus."""

    job_dir: str = ""
    reduction: str = "mean"

    def describe(self) -> str:
        return f"Population analysis of {self.layer} ({self.reduction}) from {self.job_dir}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        from engine.cluster.merged import finished_store

        store = finished_store(self.job_dir)
        results = describe(store)
        crop_size = None
        if results.protocol:
            with job_model(session, results.model) as model_session:
                crop_size = model_session.preprocess.crop_size if model_session is not None else None
        yield population_result(store, self.layer, self.reduction, crop_size)


def swept_param(kind: str, swept) -> str:
    """The parameter a gratings or Gabor job's curve runs along ("" for a battery protocol's table)."""
    if kind not in SWEPT_KINDS:
        return ""
    return "orientation" if "orientation" in swept else "sf" if "sf" in swept else ""


def tuning_job(results: ClusterResults, layer: str, channel: int) -> ClusterTuning | ClusterProtocol:
    """The job that reads ``channel``'s tuning: a sweep for gratings and Gabors, else a protocol's table."""
    job = results.job
    params = dict(job.params)
    # Gratings and Gabors sweep 12 orientations unless told otherwise; every other default is one value.
    swept = [name for name in ("orientation", "sf") if len(params.get(name, (0.0,) * 12)) > 1
             and (name in params or name == "orientation")]
    param = swept_param(results.protocol, swept)
    if not param:
        return ClusterProtocol(layer, channel, protocol=results.protocol, params=job.params, phases=job.phases,
                               job_dir=results.job_dir)
    orientations = params.get("orientation", ())
    # sf left empty: the job's frequencies are per image, the view's control is per receptive field
    return ClusterTuning(layer, channel, param=param, stimulus=results.protocol,
                         orientations=min(72, max(2, len(orientations) or 12)), sf=(),
                         orientation=float(orientations[0]) if len(orientations) == 1 else 0.0,
                         phases=job.phases, job_dir=results.job_dir)
