"""The window's one link to the engine thread: requests out, answers routed back.

:class:`EngineLink` submits every request (a model to open, a recording, an analysis job),
keeps the ids of the newest ones in the :class:`gui.engine_link.app_state.AppState`, and
routes each answer of the :class:`gui.engine_link.worker.EngineThread` to whoever asked:
an analysis's snapshots to the view that started it, a recording or a model to the window
(through signals), a failure to the one request it belongs to.  Anything no longer asked
for is dropped here, so neither the window nor the views ever compare request ids.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from engine.errors import UnitscopeError
from engine.session import checks
from engine.session.values import Recording
from gui.engine_link.app_state import RunningJob
from gui.engine_link.worker import EngineThread, OpenModel

log = logging.getLogger(__name__)


class EngineLink(QObject):
    """Owns the engine thread and what each of its answers is for.

    Signals
    -------
    model_opened(ModelInfo)
        The newest model asked for is open (the state already says so).
    open_failed()
        The newest model could not be opened; the one before stays.
    recording_ready(Recording)
        The newest recording asked for (the state's ``recording`` already).
    record_failed()
        The newest recording failed; the one on show stays.
    analysis_finished(str)
        A job's final snapshot was drawn by its view (the job's kind).
    job_ended(int)
        The running job finished or failed (its request id); not sent for one replaced or
        cancelled.
    problem(str)
        One line for the person: what the engine could not do.
    busy(str, bool), idle(bool), progress(int, int)
        For the status bar: work started (say so at once?), work ended (clear the
        message?), how far the running job is.
    """

    model_opened = Signal(object)
    open_failed = Signal()
    recording_ready = Signal(object)
    record_failed = Signal()
    analysis_finished = Signal(str)
    job_ended = Signal(int)
    problem = Signal(str)
    busy = Signal(str, bool)
    idle = Signal(bool)
    progress = Signal(int, int)

    def __init__(self, state, device: str = "auto", parent=None):
        super().__init__(parent)
        self.state = state
        self.worker = EngineThread(device, self)
        self.worker.model_ready.connect(self._model_ready)
        self.worker.snapshot_ready.connect(self._snapshot_ready)
        self.worker.failed.connect(self._failed)
        self.worker.job_started.connect(self._job_started)
        self.worker.job_finished.connect(self._job_finished)

    # --- requests ------------------------------------------------------------------------

    def open(self, model) -> RunningJob | None:
        """Open ``model`` (a :class:`engine.session.values.ModelSpec`); a running job stops (its
        view says so) and is returned, so the window can name it."""
        state = self.state
        state.opening = True
        state.replay = []  # jobs of a session being restored belong to that session's model
        state.seed = model.seed
        stopped, state.running = state.running, None
        if stopped is not None:  # the engine drops it for the new model
            stopped.view.cancelled()
        state.open_id = self.worker.submit(OpenModel(model))
        return stopped

    def record(self, job) -> int:
        """Record ``job`` (a ``record``-slot job) as the recording to show; its request id."""
        self.state.record_id = self.worker.submit(job)
        return self.state.record_id

    def start(self, job, view, name: str | None) -> int:
        """Run an analysis ``job`` whose snapshots ``view`` draws; a running one is replaced (its
        view keeps what it drew).  ``name``: the analysis, whose last job a session keeps.

        The job's values are checked first, as the command line and files check them
        (:func:`engine.session.checks.job`): one that is refused goes no further, its view and
        :attr:`problem` say why, the running job goes on, and the id returned is 0."""
        try:
            checks.job(job, output=True)  # "" is the tree's root row: the model's output
        except UnitscopeError as exc:
            view.failed(str(exc))
            self.problem.emit(str(exc))
            return 0
        state = self.state
        if state.running is not None:
            state.running.view.cancelled()
        rid = self.worker.submit(job)
        state.running = RunningJob(rid, job, view, job.describe(), name=name)
        if name is not None:
            state.jobs_run[name] = job
        view.started(job)
        self.busy.emit(job.describe(), True)  # Cancel at once: it is long
        return rid

    def cancel(self) -> bool:
        """Abandon the work in progress (the open model stays); True if a model was being opened."""
        state = self.state
        self.worker.cancel()
        state.record_id = state.busy_id = 0
        if state.running is not None:
            state.running.view.cancelled()  # its partial results stay on show
        state.running = None
        was_opening, state.opening = state.opening, False
        self.idle.emit(False)
        return was_opening

    # --- answers -------------------------------------------------------------------------

    @Slot(int, object)
    def _model_ready(self, rid: int, info) -> None:
        if rid == self.state.open_id:
            self.state.model_opened(info)
            self.model_opened.emit(info)

    @Slot(int, object, bool)
    def _snapshot_ready(self, rid: int, snapshot, final: bool) -> None:
        state = self.state
        if state.is_running(rid):
            running = state.running
            if final:
                running.view.finish(snapshot)
                if running.name is not None:
                    state.results[running.name] = snapshot
                self.analysis_finished.emit(running.job.kind)
            else:
                running.view.show_snapshot(snapshot)
                running.progress = (snapshot.done, snapshot.total)
                self.progress.emit(snapshot.done, snapshot.total)
        elif isinstance(snapshot, Recording):
            if rid != state.record_id:
                log.debug("dropped stale recording %d of %s", rid, snapshot.layer)
                return
            state.recording = snapshot
            self.recording_ready.emit(snapshot)

    @Slot(int, str)
    def _failed(self, rid: int, text: str) -> None:
        state = self.state
        if rid and rid not in (state.open_id, state.record_id) and not state.is_running(rid):
            return
        if state.is_running(rid):
            state.running.view.failed(text)
        if rid and rid == state.record_id and state.recording is not None:
            self.record_failed.emit()
        if rid == state.open_id and state.opening:
            state.opening = False
            state.replay, state.pins = [], []  # a session's jobs need the session's model
            self.open_failed.emit()
        self.problem.emit(text)

    @Slot(int, str)
    def _job_started(self, rid: int, text: str) -> None:
        state = self.state
        if state.is_running(rid):
            state.running.status, state.running.progress = text, None
            self.busy.emit(text, True)
            return
        if rid not in (state.open_id, state.record_id):
            return
        state.busy_id = rid
        # A model build takes seconds: say so at once; a recording only if it is slow.
        self.busy.emit(text, rid == state.open_id)

    @Slot(int)
    def _job_finished(self, rid: int) -> None:
        state = self.state
        if state.is_running(rid):
            state.running = None
            self.idle.emit(True)  # the view says how it ended
            self.job_ended.emit(rid)
            return
        if rid == state.busy_id:
            self.idle.emit(rid == state.record_id)
        running = state.running
        if running is not None:  # a recording made between two batches of the job
            self.busy.emit(running.status, True)
            if running.progress is not None:
                self.progress.emit(*running.progress)
