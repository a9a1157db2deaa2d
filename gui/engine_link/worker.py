"""The engine thread: one long-lived ``QThread`` that owns the model and the device.

The GUI thread never runs a forward pass and never waits for one.  It drops requests
into a mailbox (:meth:`EngineThread.submit`) with one slot for a model to open, one for
a recording to make (the ``record`` job) and one for any other job
(:mod:`engine.jobs`, run by ``job.run(session, cancelled)``; the :class:`gui.engine_link.controller.EngineLink` checks an analysis's job before it submits it): a
newer request overwrites the pending one of its kind and gets a larger request id (a
new model also clears the pending recording and analysis, which were for the old
model).  The thread takes what is pending, model first, runs it and emits the result
with its id.  A request that has become stale (a newer one of its kind or a new model
arrived, or the user cancelled) is abandoned between batches and, through a forward
pre-hook on every module, between two modules of a forward pass.

Records and analyses.  An analysis (a tuning sweep, a population analysis) streams a
snapshot after every batch and the last one again as final (one signal, ``snapshot_ready(id,
snapshot, final)``; a recording is one final snapshot).
It may take minutes, so it must not hold up the quick recordings the user asks for by
clicking layers and inputs meanwhile.  Cancelling the analysis would throw away work the
user started on purpose; a second thread would need a second copy of the model and
device.  So the analysis *yields*: after each of its batches the worker runs the pending
recording, if any, then resumes the analysis.  Between batches no recorder hook is
installed and no stimulus batch is in flight, so the two never interleave inside a
forward pass, and a recording waits at most one analysis batch.

torch is first imported in the thread, so the window appears before torch has loaded.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, replace

from PySide6.QtCore import QThread, Signal

from engine.session.values import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenModel:
    """Open a model (:class:`engine.session.values.ModelSpec`) and measure its anatomy."""

    model: ModelSpec


class _Interrupted(BaseException):
    """Raised inside a forward pass whose request has gone stale.

    A ``BaseException``, like ``KeyboardInterrupt``, so that the ``except Exception``
    clauses of the recorder and of model code let it through unchanged.
    """


@contextmanager
def closed_here(snapshots):
    """Iterate a job's snapshots and close its generator on leaving, in this thread."""
    iterator = iter(snapshots)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class EngineThread(QThread):
    """The long-lived worker thread owning model, anatomy, recorder and preprocessing.

    Parameters
    ----------
    device : str
        ``"auto"`` or a torch device string, resolved in the thread.

    Notes
    -----
    Signals are emitted from the worker thread and reach slots of GUI objects through
    queued connections.  Every result carries the id :meth:`submit` returned, so a slot
    can drop what is no longer current.
    """

    engine_ready = Signal(object)  # torch is loaded; {family: [(model name, weights found?)]}
    model_ready = Signal(int, object)  # request id, ModelInfo
    snapshot_ready = Signal(int, object, bool)  # request id, snapshot (a Recording for a record job), final
    failed = Signal(int, str)  # request id, one readable line
    job_started = Signal(int, str)  # request id, what is being done
    job_finished = Signal(int)

    #: Every engine thread made, so tests can check that none is left running.
    instances: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, device: str = "auto", parent=None):
        super().__init__(parent)
        self.setObjectName("EngineThread")
        self._device_name = device
        self._cond = threading.Condition()
        self._pending_open: tuple[int, OpenModel] | None = None
        self._pending_record: tuple[int, object] | None = None
        self._pending_analysis: tuple[int, object] | None = None
        self._last_id = 0
        self._newest_open = 0
        self._newest_record = 0
        self._newest_analysis = 0
        self._cancelled_upto = 0
        self._stopping = False
        self._current = 0  # id of the job running now (worker thread only)
        self._session = None  # engine.session.session.Session (worker thread only)
        EngineThread.instances.add(self)

    # --- GUI-thread API ------------------------------------------------------------

    def submit(self, request) -> int:
        """Put a request in the mailbox, replacing a pending one of the same kind.

        A new model also discards a pending recording and analysis (they were for the
        old model); a new analysis makes a running one stale.

        Returns
        -------
        int
            The request id that results and errors for it will carry.
        """
        with self._cond:
            self._last_id += 1
            rid = self._last_id
            if isinstance(request, OpenModel):
                self._pending_open, self._pending_record = (rid, request), None
                self._pending_analysis = None
                self._newest_open = rid
            elif getattr(request, "slot", None) == "record":
                self._pending_record = (rid, request)
                self._newest_record = rid
            else:
                self._pending_analysis = (rid, request)
                self._newest_analysis = rid
            self._cond.notify()
        return rid

    def cancel(self) -> None:
        """Abandon the running and pending requests (the current model stays open)."""
        with self._cond:
            self._cancelled_upto = self._last_id
            self._pending_open = self._pending_record = self._pending_analysis = None

    def stop(self) -> None:
        """Ask the thread to finish, wake it and wait until it has (never terminates it)."""
        with self._cond:
            self._stopping = True
            self._pending_open = self._pending_record = self._pending_analysis = None
            self._cond.notify()
        waited = 0.0
        while not self.wait(2000):
            waited += 2.0
            log.warning("engine thread still busy after %.0f s; waiting for it to finish", waited)

    def hooks_left(self) -> list[str]:
        """Modules of the open model holding hooks other than the worker's own (read-only).

        The recorder's hooks live only during a forward pass, so when the engine is idle
        this is empty; anything listed then was leaked by a failure.  Meant for tests and
        diagnostics: call it only while no request is running.
        """
        session = self._session
        return session.hooks_left() if session is not None else []

    def is_stale(self, rid: int) -> bool:
        """Whether request ``rid`` no longer matters (newer request, cancel or stop).

        A request is stale once another model is asked for, and once a newer request of
        its own kind (model, recording, analysis) is.
        """
        with self._cond:
            if self._stopping or rid <= self._cancelled_upto or rid < self._newest_open:
                return True
            return rid not in (self._newest_open, self._newest_record, self._newest_analysis)

    # --- worker thread ---------------------------------------------------------------

    def run(self) -> None:  # noqa: D102 - QThread entry point
        threading.current_thread().name = "engine"  # for log records
        catalogue: dict = {}
        started = time.perf_counter()
        try:
            catalogue = self._catalogue()
        except Exception as exc:  # noqa: BLE001 - reported to the user, thread goes on
            log.exception("engine start-up failed")
            self.failed.emit(0, f"The engine could not start: {type(exc).__name__}: {exc}")
        # The benchmark (figure 7) splits start-up at this line: before it torch loads.
        log.info("engine ready: torch loaded in %.2f s", time.perf_counter() - started)
        self.engine_ready.emit(catalogue)
        while True:
            with self._cond:
                while not self._stopping and not (self._pending_open or self._pending_record
                                                  or self._pending_analysis):
                    self._cond.wait()
                if self._stopping:
                    break
                if self._pending_open:
                    (rid, request), self._pending_open = self._pending_open, None
                elif self._pending_record:
                    (rid, request), self._pending_record = self._pending_record, None
                else:
                    (rid, request), self._pending_analysis = self._pending_analysis, None
            self._run_job(rid, request)
        self._session = None
        log.debug("engine thread finished")

    def _catalogue(self) -> dict:
        from engine.errors import UnitscopeError
        from engine.models import zoo  # the first import of torch happens here, off the GUI thread
        from engine.models.device import resolve_device
        from engine.recording.cpu_threads import run_models_here

        run_models_here()  # this thread owns torch's CPU pool; the GUI thread stays single-threaded
        try:
            resolve_device(self._device_name)
        except UnitscopeError as exc:
            self.failed.emit(0, f"{exc} Using the CPU instead.")
            self._device_name = "cpu"
        return {family: [(name, zoo.weights_state(name).found) for name in names]
                for family, names in zoo.families().items()}

    def _run_job(self, rid: int, request) -> None:
        self._current = rid
        if self.is_stale(rid):
            return
        if isinstance(request, OpenModel):
            what = f"Opening {request.model.spec}…"
        else:
            what = request.describe()
        self.job_started.emit(rid, what)
        try:
            if isinstance(request, OpenModel):
                self._open(rid, request)
            elif getattr(request, "slot", None) == "record":
                self._record(rid, request)
            else:
                self._analyse(rid, request)
        except _Interrupted:
            log.debug("request %d interrupted", rid)
        except SystemExit as exc:  # model code called sys.exit: the thread must not end
            log.warning("request %d: model code called sys.exit(%r)", rid, exc.code)
            if not self.is_stale(rid):
                self.failed.emit(rid, f"Model code called sys.exit({exc.code!r}); the request was stopped.")
        except Exception as exc:  # noqa: BLE001 - the worker must survive any model code
            from engine.errors import UnitscopeError
            from engine.recording.recorder import Cancelled

            if isinstance(exc, Cancelled) or self.is_stale(rid):
                log.debug("request %d dropped: %s", rid, exc)
            elif isinstance(exc, UnitscopeError):
                self.failed.emit(rid, str(exc))
            else:
                log.exception("request %d failed", rid)
                first = (str(exc).strip().splitlines() or [""])[0]
                self.failed.emit(rid, f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
        finally:
            self.job_finished.emit(rid)

    def _interrupt_check(self, module, inputs) -> None:
        if self.is_stale(self._current):
            raise _Interrupted()

    def _open(self, rid: int, request: OpenModel) -> None:
        from engine.session.session import Session

        model = request.model
        if model.device == "auto":  # the thread's device, which falls back to the CPU
            model = replace(model, device=self._device_name)
        started = time.perf_counter()
        session = Session.open(model, self._interrupt_check)
        session.anatomy.cache_texts()  # the card reads repr and source as strings, made here
        log.info("opened %s in %.2f s", model.spec, time.perf_counter() - started)
        if self.is_stale(rid):
            session.close()
            return
        if self._session is not None:
            self._session.close()
        self._session = session
        self.model_ready.emit(rid, session.info())

    def _session_or_fail(self):
        from engine.errors import UnitscopeError

        if self._session is None:
            raise UnitscopeError("No model is open yet.")
        return self._session

    def _record(self, rid: int, request) -> None:
        started = time.perf_counter()
        # The output stays on the model's device: the panel makes its uint8 mosaic there
        # and copies only that to the host.
        # The tree's own layers, the model's output ("") among them: not a job's values to check.
        with closed_here(request.run(self._session_or_fail(), lambda: self.is_stale(rid))) as snapshots:
            recording = next(snapshots)
        log.debug("recorded %s in %.3f s", request.layer, time.perf_counter() - started)
        if not self.is_stale(rid):
            self.snapshot_ready.emit(rid, recording, True)

    def _analyse(self, rid: int, job) -> None:
        snapshot = None
        # Closed here, whatever happens: a job left suspended (a newer request won) would
        # otherwise be finished by the garbage collector in whichever thread it runs, leaving
        # the job's torch modes and grad settings (per-thread state) on the wrong thread.
        # Checked by the EngineLink before it was submitted (the model's output "" allowed).
        with closed_here(job.run(self._session_or_fail(), lambda: self.is_stale(rid))) as snapshots:
            for snapshot in snapshots:
                if self.is_stale(rid):
                    return
                self.snapshot_ready.emit(rid, snapshot, False)
                self._serve_pending_record(rid)
        if snapshot is not None and not self.is_stale(rid):
            self.snapshot_ready.emit(rid, snapshot, True)

    def _serve_pending_record(self, analysis_id: int) -> None:
        """Between two batches of an analysis, run the recording the user asked for meanwhile."""
        with self._cond:
            pending, self._pending_record = self._pending_record, None
        if pending is not None:
            self._run_job(*pending)
            self._current = analysis_id  # the interrupt pre-hook watches the analysis again
