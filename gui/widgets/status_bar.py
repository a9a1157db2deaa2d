"""The status bar: device, weights, last forward and render times, progress with Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

BUSY_AFTER_MS = 1000  # work longer than this shows the progress bar and Cancel


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 1 else f"{value:.1f} ms"


class EngineStatusBar(QStatusBar):
    """What the engine is doing and on what.

    Signals
    -------
    cancel_requested()
        The user pressed Cancel (or Esc while work is shown as running).
    """

    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.progress = QProgressBar(self, maximumWidth=140, textVisible=False)
        self.progress.setRange(0, 0)  # a busy indicator: the engine reports no fraction
        self.progress.setToolTip("The engine is working")
        self.cancel_button = QToolButton(self, text="Cancel")
        self.cancel_button.setToolTip("Stop the work in progress (Esc)")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.timing_label = QLabel("", self)
        self.timing_label.setToolTip("Last forward pass, and last drawing of the feature maps")
        self.live_label = QLabel("", self)
        self.live_label.setToolTip("Live input: frames shown per second (frames decoded meanwhile are dropped)")
        self.live_label.hide()
        self.weights_label = QLabel("", self)
        self.device_label = QLabel("device: starting…", self)
        self.device_label.setToolTip("Where the engine runs the model")
        for widget in (self.progress, self.cancel_button, self.live_label, self.timing_label,
                       self.weights_label, self.device_label):
            self.addPermanentWidget(widget)
        self._times: dict[str, float] = {}
        self._pending_text = ""  # what the engine does, shown once the work is slow
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(lambda: self._set_busy_visible(True))
        self._set_busy_visible(False)

    def set_model(self, device: str, weights_label: str, random_weights: bool,
                  seed: int | None = None) -> None:
        """Show where the model runs and which weights it has (random ones with their seed)."""
        self.device_label.setText(f"device: {device}")
        random_text = "weights: random" if seed is None else f"weights: random, seed {seed}"
        self.weights_label.setText(random_text if random_weights else f"weights: {weights_label}")
        self.weights_label.setToolTip(
            "No pretrained weights were found: the model is randomly initialised"
            + ("" if seed is None else f" from seed {seed} (unitscope --seed N picks another)")
            if random_weights else f"Weights: {weights_label}")

    def set_time(self, what: str, ms: float) -> None:
        """Record the last duration of ``what`` ("forward" or "render") and show all."""
        self._times[what] = ms
        order = [k for k in ("forward", "render") if k in self._times]
        self.timing_label.setText(" · ".join(f"{k} {_ms(self._times[k])}" for k in order))

    def set_live(self, fps: float | None, name: str = "") -> None:
        """Show live input's frames per second (None hides it)."""
        self.live_label.setVisible(fps is not None)
        if fps is not None:
            self.live_label.setText(f"live {name}: {fps:.1f} fps" if name else f"live: {fps:.1f} fps")

    def work_started(self, text: str, at_once: bool = False) -> None:
        """Say what the engine does and show progress, now or once it takes over a second.

        Work that ends sooner (a click's recording) changes nothing in the status bar, so
        the window does not lay out and repaint it while the forward pass runs.
        """
        self._pending_text = text
        self.progress.setRange(0, 0)  # busy until set_progress says how far
        if at_once:
            self._set_busy_visible(True)
        else:
            self._busy_timer.start()

    def set_progress(self, done: int, total: int) -> None:
        """Show how far a streamed analysis is (``done`` of ``total`` stimuli), with Cancel."""
        self._busy_timer.stop()
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(min(int(done), max(int(total), 1)))
        self.progress.setToolTip(f"{done} of {total} stimuli recorded")
        self._set_busy_visible(True)

    def work_finished(self) -> None:
        """Hide the progress bar and Cancel."""
        self._busy_timer.stop()
        self._pending_text = ""
        self._set_busy_visible(False)
        self.progress.setToolTip("The engine is working")

    def is_busy_shown(self) -> bool:
        """Whether the progress bar and Cancel are on show."""
        return not self.progress.isHidden()

    def _set_busy_visible(self, busy: bool) -> None:
        if busy and self._pending_text:
            self.showMessage(self._pending_text)
            self._pending_text = ""
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
