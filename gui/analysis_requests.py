"""What the window asks the engine thread to analyse, and the snapshots it streams back.

Requests are frozen dataclasses of plain values: they cross from the GUI thread into
:class:`gui.worker.EngineThread`'s mailbox.  Snapshots are made in the engine thread
after every batch from the engine's running state (:mod:`engine.tuning`,
:mod:`engine.population`), with every array copied, so the GUI thread only ever reads
objects nobody else writes.  Neither Qt nor torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.unit import Unit

#: Spatial frequencies of an SF sweep, in cycles per receptive field: 1/4 to 8, half-octave steps.
SF_SWEEP: tuple[float, ...] = tuple(float(2.0 ** e) for e in np.arange(-2.0, 3.25, 0.5))

#: Population stimulus sets the window offers.
STIMULUS_SETS = {"images": "images in the input strip",
                 "gratings": "gratings: 12 orientations x 4 spatial frequencies"}
GRATING_SET_SF = (4.0, 8.0, 16.0, 32.0)  # cycles per image
GRATING_SET_ORIENTATIONS = 12


@dataclass(frozen=True)
class Tuning:
    """Sweep one unit's responses along orientation or spatial frequency.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.units.Unit`); ``y``/``x`` None means the map centre.
    param : {"orientation", "sf"}
        What is swept.
    stimulus : {"gratings", "gabors"}
        Full-field gratings, or Gabor patches on the unit's receptive field.
    orientations : int
        Orientations from 0 to 180 degrees (excluded) for an orientation sweep.
    sf : tuple of float
        Spatial frequencies in cycles per receptive field (per image for a unit without
        a spatial receptive field): one value for an orientation sweep, the swept
        values for an SF sweep.
    orientation : float
        The orientation (degrees) held during an SF sweep.
    phases : int
        Phases per condition; responses are averaged over them (F0) and their first
        harmonic taken (F1).
    batch_size : int
        Stimuli per forward pass: the curve is redrawn after each batch.
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    param: str = "orientation"
    stimulus: str = "gratings"
    orientations: int = 12
    sf: tuple[float, ...] = (2.0,)
    orientation: float = 0.0
    phases: int = 8
    batch_size: int = 16

    kind = "tuning"

    @property
    def unit_label(self) -> str:
        """``layer[c]`` or ``layer[c](y,x)``, as :attr:`engine.units.Unit.label`."""
        where = "" if self.y is None and self.x is None else f"({self.y},{self.x})"
        return f"{self.layer}[{self.channel}]{where}"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        what = "Orientation" if self.param == "orientation" else "Spatial-frequency"
        return f"{what} tuning of {self.unit_label}…"

    def protocol_params(self, sf_key: str) -> dict[str, np.ndarray]:
        """Parameters of the :class:`engine.protocols.Protocol` (``sf_key``: "sf_rf" or "sf")."""
        if self.param == "orientation":
            n = int(self.orientations)
            return {"orientation": 180.0 * np.arange(n) / n, sf_key: np.asarray(self.sf[:1], float)}
        return {"orientation": np.array([float(self.orientation)]), sf_key: np.asarray(self.sf, float)}


@dataclass(frozen=True)
class Population:
    """Population analyses of one layer over a stimulus set.

    Parameters
    ----------
    layer : str
    stimuli : {"images", "gratings"}
        The images in ``paths``, or the grating set of :data:`STIMULUS_SETS`.
    paths : tuple of str
        Image files, for ``stimuli="images"``.
    view : {"flat", "channels", "centre"}
        Population vector: every unit, each channel's spatial mean, or every channel
        at the map centre (:func:`engine.population.population_vectors`).
    batch_size : int
    """

    layer: str
    stimuli: str = "images"
    paths: tuple[str, ...] = ()
    view: str = "flat"
    batch_size: int = 16

    kind = "population"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Population analysis of {self.layer or 'the output'} ({STIMULUS_SETS[self.stimuli]})…"


@dataclass
class TuningSnapshot:
    """A tuning curve so far: conditions not yet recorded are NaN.

    Attributes
    ----------
    unit_label : str
    param : str
        The swept parameter as the engine names it: "orientation", "sf_rf" or "sf".
    values : ndarray
        Swept values, ascending.
    f0, f1 : ndarray
        Mean response over phase, and amplitude of its first harmonic.
    metrics : dict
        :meth:`engine.tuning.TuningTable.metrics` of F0.
    done, total : int
        Stimuli recorded and in the sweep.
    rf_side : float or None
        The unit's theoretical receptive-field side in pixels.
    """

    unit_label: str
    param: str
    values: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    metrics: dict
    done: int
    total: int
    rf_side: float | None = None


@dataclass
class PopulationSnapshot:
    """A layer's population analyses over the stimuli recorded so far.

    Attributes
    ----------
    layer, view : str
    labels : list of str
        One per stimulus recorded, in order.
    groups : ndarray of float
        A value per stimulus to colour its point by (orientation for gratings, index for images).
    scores : ndarray, shape (N, 2)
        Stimuli on the first two principal components.
    explained : ndarray
        Explained-variance ratio of every component, descending.
    participation_ratio, lifetime_sparseness, population_sparseness : float
        Sparseness values are means: over units (lifetime) and over stimuli (population).
    rdm : ndarray, shape (N, N)
        1 - Pearson r between stimuli.
    n_units : int
        Length of a population vector.
    done, total : int
    stimuli : str
        The stimulus set (a key of :data:`STIMULUS_SETS`).
    skipped : list of str
        Images that could not be read, with why.
    """

    layer: str
    view: str
    labels: list[str]
    groups: np.ndarray
    scores: np.ndarray
    explained: np.ndarray
    participation_ratio: float
    lifetime_sparseness: float
    population_sparseness: float
    rdm: np.ndarray
    n_units: int
    done: int
    total: int
    stimuli: str = "images"
    skipped: list[str] = field(default_factory=list)


def finite_mean(values) -> float:
    """Mean of the finite entries (NaN when there are none, without a warning)."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def unit_label(layer: str, channel: int, y: int | None = None, x: int | None = None) -> str:
    """``layer[c]`` or ``layer[c](y,x)``, as :attr:`engine.unit.Unit.label`."""
    return Unit(layer, channel, y, x).label


@dataclass(frozen=True)
class TopImages:
    """Rank the images of a stimulus set by one unit's response; keep the k best and worst.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.units.Unit`); ``y``/``x`` None means the map centre.
    paths : tuple of str
        The image files ranked.
    k : int
        Images kept at each end.
    batch_size : int
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    paths: tuple[str, ...] = ()
    k: int = 9
    batch_size: int = 16

    kind = "topk"

    @property
    def unit_label(self) -> str:
        return unit_label(self.layer, self.channel, self.y, self.x)

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Ranking {len(self.paths)} images by {self.unit_label}…"


@dataclass
class TopImagesSnapshot:
    """The top and bottom images so far, as receptive-field crops.

    Attributes
    ----------
    unit_label : str
        The unit with its position made concrete.
    box : tuple of float or None
        The unit's receptive field (top, left, bottom, right; inclusive input pixels,
        unclipped); None when the unit has no spatial field (crops are whole images).
    top_values, bottom_values : ndarray
        Responses, highest first and lowest first.
    top_crops, bottom_crops : list of ndarray
        uint8 ``(h, w, 3)`` crops of the preprocessed images, one per value.
    top_names, bottom_names : list of str
        The image file names, one per value.
    done, total : int
    skipped : list of str
    """

    unit_label: str
    box: tuple[float, float, float, float] | None
    top_values: np.ndarray
    top_crops: list[np.ndarray]
    top_names: list[str]
    bottom_values: np.ndarray
    bottom_crops: list[np.ndarray]
    bottom_names: list[str]
    done: int
    total: int
    skipped: list[str] = field(default_factory=list)


#: Stimulus sequences a probe can play.
PROBE_SEQUENCES = {"strip": "inputs in the strip (images and procedural)",
                   "orientations": "grating orientation sweep"}
PROBE_GRATING_SF = 8.0  # cycles per image


@dataclass(frozen=True)
class ProbePlay:
    """Play a stimulus sequence to several pinned units and record each one's responses.

    Parameters
    ----------
    units : tuple of engine.unit.Unit
    sequence : {"strip", "orientations"}
        The inputs in ``stimuli``, or a full-field grating at ``orientations`` orientations.
    stimuli : tuple of (kind, value)
        The strip's inputs (:class:`gui.worker.Stimulus` fields), for ``sequence="strip"``.
    orientations : int
    batch_size : int
    """

    units: tuple[Unit, ...]
    sequence: str = "strip"
    stimuli: tuple[tuple[str, str], ...] = ()
    orientations: int = 36
    batch_size: int = 8

    kind = "probe"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Playing {PROBE_SEQUENCES[self.sequence]} to {len(self.units)} pinned unit(s)…"


@dataclass
class ProbeSnapshot:
    """The pinned units' responses to the stimuli played so far.

    Attributes
    ----------
    labels : list of str
        One per unit, positions made concrete.
    stimulus_labels : list of str
        One per stimulus played so far.
    responses : ndarray, shape (done, n_units)
    done, total : int
    sequence : str
    """

    labels: list[str]
    stimulus_labels: list[str]
    responses: np.ndarray
    done: int
    total: int
    sequence: str = "strip"


@dataclass(frozen=True)
class Compare:
    """Compare two layers' populations over a stimulus set: RSA and linear CKA.

    Both layers are recorded in one forward pass per batch
    (:func:`engine.population.compare_stream`).  Fields as :class:`Population`, with
    ``layer_b`` the layer compared with ``layer``.
    """

    layer: str
    layer_b: str
    stimuli: str = "images"
    paths: tuple[str, ...] = ()
    view: str = "flat"
    batch_size: int = 16

    kind = "comparison"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return (f"Comparing {self.layer or 'the output'} with {self.layer_b or 'the output'} "
                f"({STIMULUS_SETS[self.stimuli]})…")


@dataclass
class ComparisonSnapshot:
    """Two layers' RDMs and their similarity over the stimuli recorded so far.

    Attributes
    ----------
    layer, layer_b, view : str
    labels : list of str
        One per stimulus recorded, in order.
    groups : ndarray of float
        As :class:`PopulationSnapshot`.
    rdm, rdm_b : ndarray, shape (N, N)
        1 - Pearson r between stimuli, in ``layer`` and in ``layer_b``.
    rsa : float
        Spearman correlation of the two RDMs' upper triangles.
    cka : float
        Linear CKA of the two populations.
    n_units, n_units_b : int
    done, total : int
    stimuli : str
    skipped : list of str
    """

    layer: str
    layer_b: str
    view: str
    labels: list[str]
    groups: np.ndarray
    rdm: np.ndarray
    rdm_b: np.ndarray
    rsa: float
    cka: float
    n_units: int
    n_units_b: int
    done: int
    total: int
    stimuli: str = "images"
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReceptiveFieldMapping:
    """Map one unit's receptive field: input gradient over images, then sparse-noise reverse correlation.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.units.Unit`); ``y``/``x`` None means the map centre.
    stimuli : tuple of (kind, value)
        The strip's inputs (:class:`gui.worker.Stimulus` fields) the gradient is averaged over.
    shown : (kind, value) or None
        The input drawn under the boxes (the one the unit view shows).
    noise_frames, grid, n_on, seed
        The ``sparse_noise`` protocol (:mod:`engine.protocols`): frames, cells per image
        side, cells lit per frame, seed of frame 0.
    rel_threshold : float
        Fraction of the gradient map's peak that bounds the empirical box
        (:func:`engine.unit_rf.empirical_box`).
    batch_size : int
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    stimuli: tuple[tuple[str, str], ...] = ()
    shown: tuple[str, str] | None = None
    noise_frames: int = 300
    grid: int = 16
    n_on: int = 8
    seed: int = 0
    rel_threshold: float = 0.01
    batch_size: int = 16

    kind = "receptive_field"

    @property
    def unit_label(self) -> str:
        return unit_label(self.layer, self.channel, self.y, self.x)

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return (f"Mapping the receptive field of {self.unit_label} ({len(self.stimuli)} inputs, "
                f"{self.noise_frames} sparse-noise frames)…")


@dataclass
class ReceptiveFieldSnapshot:
    """A unit's receptive-field maps so far (None: that part has not started).

    Attributes
    ----------
    unit_label : str
        The unit with its position made concrete.
    image : ndarray or None
        uint8 ``(H, W, 3)`` display of the shown input, at the model's input size.
    theoretical_box, empirical_box : tuple of float or None
        (top, left, bottom, right; inclusive input pixels).  The theoretical box comes
        from the anatomy, unclipped; the empirical box bounds the mean |gradient| above
        ``rel_threshold`` of its peak.
    gradient : ndarray or None
        Mean over inputs of ``sum_c |d unit / d input_c|``, shape ``(H, W)``.
    on_map, off_map : ndarray or None
        Reverse-correlation maps ``(H, W)`` (NaN where a pixel was never ON / OFF).
    n_images, n_frames : int
        Inputs behind the gradient map and noise frames behind the ON/OFF maps.
    done, total : int
        Inputs plus frames recorded, and in the whole run.
    rel_threshold : float
    """

    unit_label: str
    image: np.ndarray | None
    theoretical_box: tuple[float, float, float, float] | None
    empirical_box: tuple[float, float, float, float] | None
    gradient: np.ndarray | None
    on_map: np.ndarray | None
    off_map: np.ndarray | None
    n_images: int
    n_frames: int
    done: int
    total: int
    rel_threshold: float = 0.01

    @property
    def on_minus_off(self) -> np.ndarray | None:
        """ON minus OFF map (NaN where either is unknown)."""
        if self.on_map is None or self.off_map is None:
            return None
        return self.on_map - self.off_map
