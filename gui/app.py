"""Starting the Qt application: one QApplication, the main window, the screenshot mode."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import resources

log = logging.getLogger(__name__)

ORGANIZATION = "Unitscope"
APPLICATION = "Unitscope"
SCREENSHOT_TIMEOUT_S = 120


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (made once), with pyqtgraph configured for row-major images.

    Parameters
    ----------
    argv : list of str, optional
        Qt's own command-line arguments; ``sys.argv[:1]`` by default.
    """
    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("unitscope")
    icon = resources.samples_dir().parent / "icons" / "unitscope.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


class Screenshot(QObject):
    """Saves the window once the first feature map is painted, then quits the app.

    The exit status is 0 on success and 1 if the engine reported a problem first, the
    file could not be written, or nothing was painted within ``timeout_s``.
    """

    def __init__(self, window, path: str | Path, timeout_s: float = SCREENSHOT_TIMEOUT_S):
        super().__init__(window)
        self.window, self.path, self.done = window, Path(path), False
        window.feature_maps_painted.connect(self._painted)
        window.engine_failed.connect(self._problem)
        QTimer.singleShot(int(timeout_s * 1000), self._timed_out)

    @Slot(str, float)
    def _painted(self, layer: str, ms: float) -> None:
        # Let queued paints (preview, status bar) land before grabbing.
        QTimer.singleShot(300, self._save)

    def _save(self) -> None:
        if self.done:
            return
        self.done = True
        pixmap = self.window.grab()
        if pixmap.save(str(self.path)):
            log.info("saved screenshot %s (%dx%d)", self.path, pixmap.width(), pixmap.height())
            self._finish(0)
        else:
            self._finish(1, f"could not write the screenshot to '{self.path}'")

    def _problem(self, text: str) -> None:
        if not self.done and self.window.recording is None:
            self.done = True
            self._finish(1, text)

    def _timed_out(self) -> None:
        if not self.done:
            self.done = True
            self._finish(1, f"nothing was painted within {SCREENSHOT_TIMEOUT_S} s")

    def _finish(self, code: int, message: str = "") -> None:
        if message:
            log.error("screenshot failed: %s", message)
        self.window.close()
        QApplication.instance().exit(code)


def _log_startup_milestones(window) -> None:
    """Log when the window is first on screen and when the first maps are painted.

    The benchmark suite times start-up from these lines, read from outside the process.
    """
    QTimer.singleShot(0, lambda: log.info("window shown"))
    painted = []

    def first_paint(layer: str, ms: float) -> None:
        if not painted:
            painted.append(layer)
            log.info("first feature map painted: %s", layer)

    window.feature_maps_painted.connect(first_paint)


def run_app(args) -> int:
    """Open the main window as the command line asks and run the event loop.

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`gui.main.gui_parser`: model, weights, layer, image, device, screenshot.

    Returns
    -------
    int
        The exit status.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = make_application()
    from gui.main_window import MainWindow, StartupChoices

    choices = StartupChoices(model=args.model, weights=args.weights, layer=args.layer,
                             image=args.image, device=args.device, seed=args.seed,
                             session=args.session)
    window = MainWindow(choices)
    if args.screenshot:
        Screenshot(window, args.screenshot)
    # Ctrl+C in the terminal closes the window cleanly (Python sees signals only
    # while it runs, hence the idle timer).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    keep_python_awake = QTimer(interval=250)
    keep_python_awake.timeout.connect(lambda: None)
    keep_python_awake.start()
    app.aboutToQuit.connect(window.shutdown)
    _log_startup_milestones(window)
    window.show()
    status = app.exec()
    window.shutdown()
    return status
