"""Live input: the frames of a video file or a camera, streamed through the selected layer.

A :class:`FrameSource` decodes in a thread of its own (PyAV, the optional ``video`` extra)
and keeps only the newest frame: a frame the window has not taken before the next one is
decoded is dropped.  :class:`LiveInput` keeps one frame in the engine at a time: when a
frame's maps are back it submits the newest frame decoded meanwhile
(:class:`engine.jobs.record.RecordFrame`, in the engine's ``record`` mailbox slot), so the
mosaic updates as fast as the engine keeps up, never with a backlog, and the frames per
second achieved are shown in the status bar.

A video file is played at its own frame rate (as a camera delivers frames), once.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)

VIDEO_FILTERS = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg);;All files (*)"
INSTALL_HINT = "Live video needs PyAV: pip install 'unitscope[video]' (or pip install av)."
FPS_WINDOW_S = 2.0  # frames per second are counted over the last two seconds


def camera_source() -> tuple[str, str | None]:
    """The first camera as PyAV names it on this system: ``(device, format)``."""
    if sys.platform.startswith("linux"):
        return "/dev/video0", "v4l2"
    if sys.platform == "darwin":
        return "0", "avfoundation"
    return "video=0", "dshow"


def have_pyav() -> bool:
    """Whether PyAV (the ``video`` extra) is installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class FrameSource(QObject):
    """Decodes a video file or a camera in a thread; the newest frame waits in one slot.

    Signals
    -------
    frame_ready()
        A newer frame is waiting: take it with :meth:`take`.
    finished(str)
        The source ended: ``""`` at the end of a file or after :meth:`stop`, else why
        it failed (one line).
    """

    frame_ready = Signal()
    finished = Signal(str)

    def __init__(self, source: str, input_format: str | None = None, realtime: bool = True, parent=None):
        super().__init__(parent)
        self.source, self.input_format, self.realtime = source, input_format, realtime
        self.name = Path(source).name if input_format is None else f"camera {source}"
        self._lock = threading.Lock()
        self._latest: tuple[int, np.ndarray] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decoded = 0

    def start(self) -> None:
        """Start decoding."""
        self._thread = threading.Thread(target=self._run, name=f"unitscope-video-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop decoding and wait for the thread (at most a frame's decoding)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def take(self) -> tuple[int, np.ndarray] | None:
        """The newest frame not taken yet, as (index, (H, W, 3) uint8), or None."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    def _run(self) -> None:
        try:
            import av
        except ImportError:
            self.finished.emit(INSTALL_HINT)
            return
        try:
            options = {"format": self.input_format} if self.input_format else {}
            container = av.open(self.source, **options)
        except Exception as exc:  # noqa: BLE001 - PyAV raises many kinds; the user gets one line
            self.finished.emit(f"Could not open {self.name}: {_reason(exc)}.")
            return
        reason = ""
        try:
            if not container.streams.video:
                reason = f"{self.name} has no video stream."
                return
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or 25)
            start = time.monotonic()
            for index, frame in enumerate(container.decode(stream)):
                if self._stop.is_set():
                    break
                if self.realtime and self.input_format is None:  # a file plays at its own rate
                    delay = start + index / rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                image = frame.to_ndarray(format="rgb24")
                with self._lock:
                    self._latest = (index, image)
                self.decoded = index + 1
                self.frame_ready.emit()
        except Exception as exc:  # noqa: BLE001
            reason = f"Reading {self.name} failed: {_reason(exc)}."
        finally:
            container.close()
            self.finished.emit(reason)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


class LiveInput(QObject):
    """Streams a :class:`FrameSource` through the window's selected layer, one frame in flight.

    Signals
    -------
    fps_changed(float)
        Frames shown per second over the last two seconds.
    stopped(str)
        Live input ended (the source's reason, "" when it simply ended).
    """

    fps_changed = Signal(float)
    stopped = Signal(str)

    def __init__(self, link, current_layer, parent=None):
        """``link``: the :class:`gui.engine_link.controller.EngineLink` that records each frame;
        ``current_layer()``: the layer to record it at (None: none selected)."""
        super().__init__(parent)
        self.link, self._current_layer = link, current_layer
        self.source: FrameSource | None = None
        self._in_flight: int | None = None
        self._ending: str | None = None  # the source ended (why): stop once the engine is free
        self._shown: deque[float] = deque()
        self.frames_shown = 0
        link.worker.snapshot_ready.connect(self._recording_finished)
        link.worker.job_finished.connect(self._job_finished)

    @property
    def running(self) -> bool:
        """Whether a source is streaming."""
        return self.source is not None

    def start(self, source: str, input_format: str | None = None, realtime: bool = True) -> None:
        """Stream ``source`` (a video file, or a camera device with its ``input_format``)."""
        self.stop()
        self._ending = None
        self._shown.clear()
        self.frames_shown = 0
        self.source = FrameSource(source, input_format, realtime, self)
        self.source.frame_ready.connect(self._submit_newest)
        self.source.finished.connect(self._source_finished)
        self.source.start()

    def stop(self, reason: str = "") -> None:
        """Stop streaming; the last frame's maps stay on show."""
        source, self.source = self.source, None
        if source is not None:
            source.frame_ready.disconnect(self._submit_newest)
            source.finished.disconnect(self._source_finished)
            source.stop()
            self.stopped.emit(reason)
        self._in_flight = self._ending = None

    def fps(self) -> float:
        """Frames shown per second over the last :data:`FPS_WINDOW_S` seconds."""
        if len(self._shown) < 2:
            return 0.0
        return (len(self._shown) - 1) / max(self._shown[-1] - self._shown[0], 1e-9)

    @Slot()
    def _submit_newest(self) -> None:
        if self.source is None or self._in_flight is not None:
            return  # the frame waits; a newer one may replace it before the engine is free
        taken = self.source.take()
        if taken is None:
            return
        layer, state = self._current_layer(), self.link.state
        if layer is None or state.info is None or state.opening:
            return
        from engine.jobs.record import RecordFrame

        index, frame = taken
        self._in_flight = self.link.record(RecordFrame(layer, frame, f"{self.source.name} #{index}"))

    @Slot(int, object)
    def _recording_finished(self, rid: int, recording, final: bool = True) -> None:
        if rid != self._in_flight:
            return
        now = time.monotonic()
        self._shown.append(now)
        while self._shown and now - self._shown[0] > FPS_WINDOW_S:
            self._shown.popleft()
        self.frames_shown += 1
        self.fps_changed.emit(self.fps())

    @Slot(int)
    def _job_finished(self, rid: int) -> None:
        if rid == self._in_flight:  # shown, failed or replaced: the engine is free for the next frame
            self._in_flight = None
            self._submit_newest()
            if self._ending is not None and self._in_flight is None:
                self.stop(self._ending)

    @Slot(str)
    def _source_finished(self, reason: str) -> None:
        """The source ended: the frame still waiting is shown, then live input stops."""
        self._ending = reason
        if self._in_flight is None:
            self._submit_newest()
        if self._in_flight is None:
            self.stop(reason)
