"""What the window shows and what it waits for, in one Qt-free object.

The window and its views read this instead of keeping their own copies: the open model,
the recording on show, the unit the user clicked, the requests in flight (by id, so a
late result of a stale request is dropped) and the job running in the engine thread.
``jobs_run`` keeps the last job of every view, which a saved session replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunningJob:
    """A job submitted to the engine thread whose snapshots a view draws."""

    id: int
    job: Any
    view: Any  # gui.analyses.job_view.JobView
    status: str
    progress: tuple[int, int] | None = None
    name: str | None = None  # the analysis it belongs to (its view's name in the window)


@dataclass
class AppState:
    """The window's state (see the module docstring).

    Attributes
    ----------
    info : engine.session.values.ModelInfo or None
        The open model.
    recording : engine.session.values.Recording or None
        The recording on show.
    open_id, record_id, busy_id : int
        Ids of the newest model request, the newest recording request and the request
        the status bar shows as busy (0: none).
    opening : bool
        A model is being opened.
    wanted_layer : (str or None, bool)
        The layer to record once the model is open, and whether the user named it.
    unit_channel, unit_layer
        The channel in the unit view, and the layer whose channel the user clicked.
    running : RunningJob or None
    jobs_run : dict
        View name -> the last job started from it.
    results : dict
        View name -> the final snapshot of its last job (what its figure is drawn from).
    seed : int
        Random weights of the models opened are drawn from it.
    replay, pins, display
        A restored session's jobs (view name, job) still to run, units still to pin and
        feature-map display settings still to apply.
    """

    info: Any = None
    recording: Any = None
    open_id: int = 0
    record_id: int = 0
    busy_id: int = 0
    opening: bool = False
    wanted_layer: tuple[str | None, bool] = (None, False)
    unit_channel: int | None = None
    unit_layer: str | None = None
    running: RunningJob | None = None
    jobs_run: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    replay: list[tuple[str, Any]] = field(default_factory=list)
    pins: list[Any] = field(default_factory=list)
    display: dict = field(default_factory=dict)

    def is_running(self, rid: int) -> bool:
        """Whether ``rid`` is the job whose snapshots are drawn."""
        return bool(rid) and self.running is not None and self.running.id == rid

    def model_opened(self, info) -> None:
        """A new model: nothing recorded, clicked or running for it yet."""
        self.opening, self.info, self.recording = False, info, None
        self.unit_channel = self.unit_layer = None
        self.running = None  # the engine dropped it with the old model
        self.jobs_run, self.results = {}, {}
