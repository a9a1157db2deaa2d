"""What an analysis view provides to the window, and what the window shows it.

Every analysis of :mod:`engine.session.analysis` that has a view names a class with these
methods.  The window builds one per analysis, gives it a read-only :class:`ViewContext`
(the open model, the recording on show, the clicked unit, pinned units, the inputs) and
listens to its ``job_requested(job)`` signal; the view builds the job from its own
controls and the context, and never sees the window.  Adding an analysis means one engine
job module (with its ``register(Analysis(...))``) and one view with these methods.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


@runtime_checkable
class JobView(Protocol):
    """A view that shows one analysis's snapshots.

    Besides these methods it has the signals ``job_requested(object)`` (a job to run) and
    ``show_requested()`` (bring its dock to the front), and a ``context`` attribute the
    window sets to its :class:`ViewContext`.
    """

    def menu_actions(self) -> list:
        """Its actions for the Analyse menu, the main one first (it gets the analysis's shortcut)."""

    def context_changed(self) -> None:
        """The model, recording, clicked unit or inputs changed: enable what can run now."""

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


class AnalysisView(QWidget):
    """What the views of this package share: the two signals, the context, and a
    ``context_changed`` that names the clicked unit (views without ``set_unit`` override it)."""

    job_requested = Signal(object)  # a job to run (built from the controls and the context)
    show_requested = Signal()  # bring this view's dock to the front

    def __init__(self, parent=None):
        super().__init__(parent)
        self.context: ViewContext | None = None  # set by the window

    def context_changed(self) -> None:
        """Enable what acts on the clicked unit, and say which unit it is."""
        self.set_unit(self.context.unit_label if self.context is not None else None)

    def clicked_unit(self):
        """The context's clicked unit (:class:`engine.recording.unit.Unit`), or None."""
        return self.context.unit if self.context is not None else None


class ViewContext:
    """What an analysis view may read of the window (read-only).

    Built by the window over its :class:`gui.engine_link.app_state.AppState`, the inputs and the unit
    view; a view reads it when the user asks for a job, or in ``context_changed``.
    """

    def __init__(self, state, stimuli=lambda: [], unit_position=lambda: None, pinned=lambda: []):
        self._state, self._stimuli, self._position, self._pinned = state, stimuli, unit_position, pinned

    @property
    def info(self):
        """The open model (:class:`engine.session.values.ModelInfo`) or None."""
        return self._state.info

    @property
    def recording(self):
        """The recording on show, or None (also while a model opens)."""
        return None if self._state.opening else self._state.recording

    @property
    def layer(self) -> str | None:
        """The recorded layer, or None."""
        return self.recording.layer if self.recording is not None else None

    @property
    def layers(self) -> list[str]:
        """Every layer of the open model, in anatomy order."""
        return [node.name for node in self.info.anatomy.nodes()] if self.info is not None else []

    @property
    def unit(self):
        """The clicked unit as :class:`engine.recording.unit.Unit` (its position where the layer has a
        map: the unit view's RF box), or None."""
        from engine.recording.unit import Unit

        recording, channel = self.recording, self._state.unit_channel
        if recording is None or channel is None:
            return None
        y, x = (self._position() or (None, None)) if recording.kind in ("maps", "tokens") else (None, None)
        return Unit(recording.layer, channel, y, x)

    @property
    def unit_position(self) -> tuple[int, int] | None:
        """Where the clicked unit sits in its map, or None for a layer without a map."""
        unit = self.unit
        return (unit.y, unit.x) if unit is not None and unit.y is not None else None

    @property
    def unit_label(self) -> str | None:
        """``"layer1, channel 3"`` for the clicked unit, or None."""
        recording, channel = self.recording, self._state.unit_channel
        if recording is None or channel is None:
            return None
        return f"{recording.layer or 'output'}, channel {channel}"

    @property
    def stimuli(self) -> list:
        """The inputs (:class:`engine.session.values.Stimulus`) in the input strip."""
        return list(self._stimuli())

    @property
    def image_paths(self) -> list[str]:
        """The image files among the inputs."""
        return [s.value for s in self.stimuli if s.kind == "image"]

    @property
    def shown_stimulus(self):
        """The input of the recording on show, or None."""
        return self.recording.stimulus if self.recording is not None else None

    @property
    def pinned(self) -> list:
        """Units pinned to the probe."""
        return list(self._pinned())

    @property
    def running_id(self) -> int:
        """The request id of the job whose snapshots a view draws now (0: none)."""
        running = self._state.running
        return running.id if running is not None else 0
