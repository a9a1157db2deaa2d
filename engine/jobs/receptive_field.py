"""The receptive-field job: a unit's input gradient over images, then sparse-noise reverse correlation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("receptive_field")
@dataclass(frozen=True)
class ReceptiveFieldMapping:
    """Map one unit's receptive field: input gradient over images, then sparse-noise reverse correlation.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.analyses.units.Unit`); ``y``/``x`` None means the map centre.
    stimuli : tuple of (kind, value)
        The strip's inputs (:class:`engine.session.values.Stimulus` fields) the gradient is averaged over.
    shown : (kind, value) or None
        The input drawn under the boxes (the one the unit view shows).
    noise_frames, grid, n_on, seed
        The ``sparse_noise`` protocol (:mod:`engine.stimuli.protocols`): frames, cells per image
        side, cells lit per frame, seed of frame 0.
    rel_threshold : float
        Fraction of the gradient map's peak that bounds the empirical box
        (:func:`engine.analyses.unit_rf.empirical_box`).
    batch_size : int
    fdr : float
        False discovery rate of the ON/OFF test, over the noise cells
        (:meth:`engine.analyses.unit_rf.ReverseCorrelation.significance`).
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
    fdr: float = 0.01

    @property
    def unit_label(self) -> str:
        return Unit(self.layer, self.channel, self.y, self.x).label

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return (f"Mapping the receptive field of {self.unit_label} ({len(self.stimuli)} inputs, "
                f"{self.noise_frames} sparse-noise frames)…")

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[ReceptiveFieldSnapshot]:
        """Map the field; yield a snapshot after every batch.

        First the mean |input gradient| over the inputs (:func:`engine.analyses.unit_rf.gradient_rf`),
        then sparse-noise reverse correlation (:func:`engine.analyses.unit_rf.reverse_correlation`).
        """
        import torch

        from engine.analyses.unit_rf import gradient_rf, reverse_correlation
        from engine.analyses.units import unit_geometry
        from engine.session.values import Stimulus
        from engine.stimuli.protocols import Protocol

        geometry = unit_geometry(session.anatomy, Unit(self.layer, self.channel, self.y, self.x))
        unit = geometry.unit
        size = session.preprocess.crop_size
        grid = max(1, min(int(self.grid), size))
        protocol = Protocol("sparse_noise", size, {"frames": int(self.noise_frames), "grid": grid,
                                                   "n_on": min(int(self.n_on), grid * grid),
                                                   "seed": int(self.seed)})
        inputs = [Stimulus(kind, value) for kind, value in self.stimuli]
        image = (np.array(session.stimulus(Stimulus(*self.shown))[1], copy=True)
                 if self.shown is not None else None)
        total = len(inputs) + len(protocol)
        gradient = box = None
        n_images = 0

        def snapshot(maps=None) -> ReceptiveFieldSnapshot:
            if maps is None:
                return ReceptiveFieldSnapshot(unit.label, image, geometry.box, box, gradient, None, None,
                                              n_images, 0, n_images, total, self.rel_threshold, fdr=self.fdr)
            test = maps.significance(self.fdr)
            return ReceptiveFieldSnapshot(
                unit.label, image, geometry.box, box, gradient, maps.on_map, maps.off_map,
                n_images, maps.n, n_images + maps.n, total, self.rel_threshold, test.p, test.significant,
                test.fdr, test.n_tests, test.n_significant)

        batches = (torch.stack([session.stimulus(s)[0] for s in inputs[i:i + self.batch_size]])
                   for i in range(0, len(inputs), self.batch_size))
        for grad in gradient_rf(session.recorder, unit, batches, cancelled):
            gradient, n_images = grad.mean_abs.copy(), grad.n
            box = grad.box(self.rel_threshold)
            yield snapshot()
        for maps in reverse_correlation(session.recorder, unit, protocol, session.preprocess,
                                        self.batch_size, cancelled):
            yield snapshot(maps)


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
    p_value : ndarray or None
        ``(H, W)`` two-sided p of Welch's t-test of the responses to frames where the pixel
        was ON against those where it was OFF (NaN where it was not both twice); every pixel
        of a noise cell holds the cell's.
    significant : ndarray of bool or None
        ``(H, W)``: the pixel's cell is a discovery at false discovery rate ``fdr``
        (Benjamini–Hochberg over the ``n_tests`` cells with a p-value).
    fdr : float
    n_tests, n_significant : int
        Cells tested, and cells found.
    """

    kind: ClassVar[str] = "receptive_field"

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
    p_value: np.ndarray | None = None
    significant: np.ndarray | None = None
    fdr: float = 0.01
    n_tests: int = 0
    n_significant: int = 0

    @property
    def on_minus_off(self) -> np.ndarray | None:
        """ON minus OFF map (NaN where either is unknown)."""
        if self.on_map is None or self.off_map is None:
            return None
        return self.on_map - self.off_map


register(Analysis(
    "receptive_field",
    "Receptive field",
    jobs=(ReceptiveFieldMapping,),
    snapshots=(ReceptiveFieldSnapshot,),
    needs=frozenset({"unit"}),
    view='gui.analyses.receptive_field_view:ReceptiveFieldView',
    shortcut='Ctrl+Shift+R',
    figure='engine.figures.sources:receptive_field_figure',
    methods='engine.figures.methods:receptive_field_methods',
    order=50))
