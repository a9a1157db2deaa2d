"""The record job: one layer's output for one input (what a click in the window asks for)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
