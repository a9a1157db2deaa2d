"""The evidence job: a unit's gradient, gradient x input and guided backprop on one input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("evidence")
@dataclass(frozen=True)
class EvidenceMaps:
    """The unit's evidence (:mod:`engine.analyses.evidence`) on one input.

    Parameters
    ----------
    layer, channel, y, x
        The unit; ``y``/``x`` None means the map centre.
    stimulus : (kind, value)
        The input (:class:`engine.session.values.Stimulus` fields).
    methods : tuple of str
        Which of :data:`engine.analyses.evidence.METHODS` to make.
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    stimulus: tuple[str, str] = ("procedural", "grating")
    methods: tuple[str, ...] = ("gradient", "gradient_x_input", "guided_backprop")

    @property
    def unit_label(self) -> str:
        return Unit(self.layer, self.channel, self.y, self.x).label

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Evidence of {self.unit_label} on {self.stimulus[1]}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[EvidenceSnapshot]:
        """One snapshot: the maps, the input and the unit's RF box."""
        from engine.analyses.evidence import evidence
        from engine.analyses.units import unit_geometry
        from engine.session.values import Stimulus

        session.recorder.resolve([self.layer])
        geometry = unit_geometry(session.anatomy, Unit(self.layer, self.channel, self.y, self.x))
        tensor, display = session.stimulus(Stimulus(*self.stimulus))
        pp = session.preprocess
        found = evidence(session.recorder.model, geometry.unit, tensor.to(session.recorder.device),
                         pp.mean.flatten().tolist(), pp.std.flatten().tolist(), self.methods)
        yield EvidenceSnapshot(geometry.unit.label, found.maps, found.activation, display, geometry.box)


@dataclass
class EvidenceSnapshot:
    """Evidence maps of a unit on one input.

    Attributes
    ----------
    unit_label : str
    maps : dict of str to ndarray
        ``(H, W, 3)`` float32 maps by method.
    activation : float
        The unit's response to the input.
    input_image : ndarray
        ``(H, W, 3)`` uint8, the preprocessed input as the model saw it.
    rf_box : tuple or None
        The unit's theoretical RF (top, left, bottom, right), inclusive input pixels.
    """

    kind: ClassVar[str] = "evidence"

    unit_label: str
    maps: dict
    activation: float
    input_image: np.ndarray
    rf_box: tuple | None
    done: int = 1
    total: int = 1


register(Analysis(
    "evidence",
    "Evidence on the input",
    jobs=(EvidenceMaps,),
    snapshots=(EvidenceSnapshot,),
    needs=frozenset({"unit"}),
    no_figure='the evidence maps are shown in the Visualise view; no paper figure kind draws them yet',
    methods='engine.figures.methods:evidence_methods',
    order=95))
