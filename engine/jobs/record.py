"""The record job: one layer's output for one input (what a click in the window asks for)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind
from engine.session.values import Recording, Stimulus


@job_kind("record")
@dataclass(frozen=True)
class Record:
    """Record one layer (``name`` or ``name#k``) for one stimulus.

    The window's engine thread keeps one mailbox slot for this job (``slot``), so a
    recording asked for during a long analysis runs between two of its batches.
    """

    layer: str
    stimulus: Stimulus

    slot = "record"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Recording {self.layer or 'the output'} for {self.stimulus.label}…"

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[Recording]:
        """Yield the one :class:`~engine.session.values.Recording`."""
        yield session.record(self.layer, self.stimulus, cancelled)


@dataclass(frozen=True)
class RecordFrame:
    """Record one layer for one frame of live video (a camera or a video file).

    Not a saved job kind: a frame is transient.  It shares the ``record`` slot, so the
    window's mailbox keeps only the newest frame; the window submits the next frame when
    the last one's maps are back, and frames decoded meanwhile are dropped.

    Attributes
    ----------
    layer : str
    frame : ndarray of uint8, shape (H, W, 3)
        The frame as decoded; the model's own preprocessing (resize, crop) is applied.
    label : str
        What the frame is called in messages and on the recording (``clip.mp4 #12``).
    """

    layer: str
    frame: Any = field(compare=False, repr=False)
    label: str = "frame"

    slot = "record"
    kind = "record_frame"

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Recording {self.layer or 'the output'} for {self.label}…"

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[Recording]:
        """Yield the one :class:`~engine.session.values.Recording` (its stimulus is ``("frame", label)``)."""
        yield session.record_frame(self.layer, self.frame, self.label, cancelled)


register(Analysis(
    "record",
    "Feature maps",
    jobs=(Record, RecordFrame),
    snapshots=(Recording,),
    needs=frozenset({"layer"}),
    figure='engine.figures.sources:record_figure',
    methods='engine.figures.methods:record_methods',
    command='record',
    order=0))
