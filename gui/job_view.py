"""What every analysis view provides to the window: the job-view protocol.

A view builds the job from its own controls (``make_job``, whose arguments depend on what
it analyses), then the window submits the job to the engine thread and calls the view
back as it runs.  Adding a job kind means one engine module (:mod:`engine.jobs`), one view
with these methods, and one :meth:`gui.main_window.MainWindow.add_job_view` call.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class JobView(Protocol):
    """A view that shows one job kind's snapshots."""

    def started(self, job) -> None:
        """The job was submitted: clear old results, show it is running."""

    def show_snapshot(self, snapshot) -> None:
        """Draw the results so far (called after every batch)."""

    def finish(self, snapshot) -> None:
        """Draw the final results and say the job is done."""

    def cancelled(self) -> None:
        """The job was cancelled or replaced: keep what was drawn, say so."""

    def failed(self, text: str) -> None:
        """The job failed with ``text`` (one readable line)."""

    def clear(self) -> None:
        """Forget every result (a new model was opened)."""
