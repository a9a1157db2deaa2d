"""The engine thread: one long-lived ``QThread`` that owns the model and the device.

The GUI thread never runs a forward pass and never waits for one.  It drops requests
into a mailbox (:meth:`EngineThread.submit`) with one slot for a model to open, one for
a recording to make and one for an analysis to run (:mod:`gui.analysis_requests`): a
newer request overwrites the pending one of its kind and gets a larger request id (a
new model also clears the pending recording and analysis, which were for the old
model).  The thread takes what is pending, model first, runs it and emits the result
with its id.  A request that has become stale (a newer one of its kind or a new model
arrived, or the user cancelled) is abandoned between batches and, through a forward
pre-hook on every module, between two modules of a forward pass.

Records and analyses.  An analysis (a tuning sweep, a population analysis) streams a
snapshot after every batch (``analysis_progress``) and ends with ``analysis_finished``.
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from gui.analysis_requests import Population, Tuning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stimulus:
    """One input the user can choose: an image file or a procedural stimulus.

    Attributes
    ----------
    kind : {"image", "procedural"}
    value : str
        The image path, or a key of :data:`engine.stimuli.PROCEDURAL`.
    """

    kind: str
    value: str

    @property
    def label(self) -> str:
        """Short name for status messages and tooltips."""
        from pathlib import Path

        return Path(self.value).name if self.kind == "image" else self.value


@dataclass(frozen=True)
class OpenModel:
    """Build or load a model (``engine.sources.open_model`` syntax) and measure its anatomy."""

    spec: str
    weights: str | None = None
    trust_pickle: bool = False  # the user agreed to run the code in a pickled model file


@dataclass(frozen=True)
class Record:
    """Record one layer (``name`` or ``name#k``) for one stimulus."""

    layer: str
    stimulus: Stimulus


@dataclass
class ModelInfo:
    """What the GUI needs to know about the model the engine has just opened."""

    spec: str
    name: str
    weights_label: str
    has_random_weights: bool
    source: str
    input_size: tuple[int, int]
    device: str
    anatomy: Any  # engine.anatomy.Anatomy (plain Python)
    weights_file: str | None = None  # the weights file the user asked for, if any
    provenance: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Recording:
    """One layer's output for one stimulus, ready to display.

    Attributes
    ----------
    layer : str
        The layer reference as requested.
    output : torch.Tensor
        The layer's output for the stimulus, on the model's device, without the batch
        dimension (the panel makes the mosaic there; take ``.cpu()`` for anything else).
    input_image : ndarray of uint8, shape (H, W, 3)
        The stimulus after the model's preprocessing, as it would look.
    forward_s : float
        Seconds spent in the (possibly truncated) forward pass.
    stimulus : Stimulus
    conv_weights : torch.Tensor or None
        For a ``Conv2d`` layer its kernels, ``(out, in, kh, kw)``, on the CPU.
    """

    layer: str
    output: Any
    input_image: np.ndarray
    forward_s: float
    stimulus: Stimulus
    conv_weights: Any = None


class _Interrupted(BaseException):
    """Raised inside a forward pass whose request has gone stale.

    A ``BaseException``, like ``KeyboardInterrupt``, so that the ``except Exception``
    clauses of the recorder and of model code let it through unchanged.
    """


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
    recording_finished = Signal(int, object)  # request id, Recording
    failed = Signal(int, str)  # request id, one readable line
    job_started = Signal(int, str)  # request id, what is being done
    job_finished = Signal(int)
    analysis_progress = Signal(int, str, object, int, int)  # id, kind, snapshot, done, total
    analysis_finished = Signal(int, str, object)  # id, kind, final snapshot

    #: Every engine thread made, so tests can check that none is left running.
    instances: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, device: str = "auto", parent=None):
        super().__init__(parent)
        self.setObjectName("EngineThread")
        self._device_name = device
        self._cond = threading.Condition()
        self._pending_open: tuple[int, OpenModel] | None = None
        self._pending_record: tuple[int, Record] | None = None
        self._pending_analysis: tuple[int, Tuning | Population] | None = None
        self._last_id = 0
        self._newest_open = 0
        self._newest_record = 0
        self._newest_analysis = 0
        self._cancelled_upto = 0
        self._stopping = False
        self._current = 0  # id of the job running now (worker thread only)
        self._session = None  # gui.engine_session.EngineSession (worker thread only)
        EngineThread.instances.add(self)

    # --- GUI-thread API ------------------------------------------------------------

    def submit(self, request: OpenModel | Record | Tuning | Population) -> int:
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
            elif isinstance(request, Record):
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
        try:
            catalogue = self._catalogue()
        except Exception as exc:  # noqa: BLE001 - reported to the user, thread goes on
            log.exception("engine start-up failed")
            self.failed.emit(0, f"The engine could not start: {type(exc).__name__}: {exc}")
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
        import torch  # noqa: F401 - the first import of torch happens here, off the GUI thread

        from engine import zoo
        from engine.cpu_threads import run_models_here
        from engine.device import resolve_device
        from engine.errors import UnitscopeError

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
            what = f"Opening {request.spec}…"
        elif isinstance(request, Record):
            what = f"Recording {request.layer or 'the output'} for {request.stimulus.label}…"
        else:
            what = request.describe()
        self.job_started.emit(rid, what)
        try:
            if isinstance(request, OpenModel):
                self._open(rid, request)
            elif isinstance(request, Record):
                self._record(rid, request)
            else:
                self._analyse(rid, request)
        except _Interrupted:
            log.debug("request %d interrupted", rid)
        except Exception as exc:  # noqa: BLE001 - the worker must survive any model code
            from engine.errors import UnitscopeError
            from engine.recorder import Cancelled

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
        from gui.engine_session import EngineSession

        session = EngineSession.open(request.spec, request.weights, self._device_name,
                                     self._interrupt_check, trust_pickle=request.trust_pickle)
        if self.is_stale(rid):
            session.close()
            return
        if self._session is not None:
            self._session.close()
        self._session = session
        self.model_ready.emit(rid, session.info(request.spec, request.weights))

    def _record(self, rid: int, request: Record) -> None:
        import torch

        from engine.errors import UnitscopeError

        if self._session is None:
            raise UnitscopeError("No model is open yet.")
        tensor, display = self._session.stimulus(request.stimulus)
        started = time.perf_counter()
        with torch.inference_mode():
            # The output stays on the model's device: the panel makes its uint8 mosaic there
            # and copies only that to the host.
            batches = self._session.recorder.record([request.layer], [tensor[None]],
                                                  cancelled=lambda: self.is_stale(rid), to_cpu=False)
            recorded = next(iter(batches))
        log.debug("recorded %s in %.3f s", request.layer, time.perf_counter() - started)
        if self.is_stale(rid):
            return
        output = recorded.outputs[request.layer][0]
        self.recording_finished.emit(rid, Recording(
            layer=request.layer, output=output, input_image=display,
            forward_s=recorded.forward_s, stimulus=request.stimulus,
            conv_weights=self._session.conv_weights(request.layer)))


    def _analyse(self, rid: int, request: Tuning | Population) -> None:
        from engine.errors import UnitscopeError

        if self._session is None:
            raise UnitscopeError("No model is open yet.")
        run = getattr(self._session, request.kind)  # Tuning.kind "tuning" -> EngineSession.tuning, ...
        snapshot = None
        for snapshot in run(request, lambda: self.is_stale(rid)):
            if self.is_stale(rid):
                return
            self.analysis_progress.emit(rid, request.kind, snapshot, snapshot.done, snapshot.total)
            self._serve_pending_record(rid)
        if snapshot is not None and not self.is_stale(rid):
            self.analysis_finished.emit(rid, request.kind, snapshot)

    def _serve_pending_record(self, analysis_id: int) -> None:
        """Between two batches of an analysis, run the recording the user asked for meanwhile."""
        with self._cond:
            pending, self._pending_record = self._pending_record, None
        if pending is not None:
            self._run_job(*pending)
            self._current = analysis_id  # the interrupt pre-hook watches the analysis again
