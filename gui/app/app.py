"""Starting the Qt application: one QApplication, the main window, the screenshot mode.

Before Qt is asked for a window, :func:`platform_problem` checks that its platform plugin
can start (on Linux: an X display to connect to, and the libraries Qt's xcb plugin
needs), because Qt itself ends the process with a page of messages when it cannot.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

#: Packages whose modules PySide still reads for ``from __feature__ import`` (see below).
QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "gui", "__main__")


def skip_feature_scan_of_non_qt_modules() -> bool:
    """Stop PySide reading the source of every module imported after it (torch's 1,500 too).

    Once loaded, PySide replaces ``__import__`` and, to support its opt-in
    ``from __feature__ import snake_case``, reads the source of each newly imported module
    (``shibokensupport.feature._mod_uses_pyside``) to see whether it names PySide6.  That
    made loading torch in the engine thread about 0.4 s slower than in a fresh interpreter.
    Modules outside :data:`QT_PACKAGES` (torch, NumPy, the engine...) are now taken as not
    using PySide without reading them; Qt code is still read.  Returns whether the hook was
    found (another PySide version may not have it; then nothing changes).
    """
    feature = sys.modules.get("shibokensupport.feature")
    scan = getattr(feature, "_mod_uses_pyside", None)
    if scan is None or getattr(scan, "unitscope_wrapped", False):
        return scan is not None

    def scan_qt_modules_only(module) -> bool:
        if getattr(module, "__name__", "").partition(".")[0] not in QT_PACKAGES:
            return False
        return scan(module)

    scan_qt_modules_only.unitscope_wrapped = True
    feature._mod_uses_pyside = scan_qt_modules_only
    return True


skip_feature_scan_of_non_qt_modules()  # before pyqtgraph brings NumPy in

import pyqtgraph as pg  # noqa: E402 - after the hook above
from pyqtgraph.util.garbage_collector import GarbageCollector  # noqa: E402

import resources  # noqa: E402

ORGANIZATION = "Unitscope"
APPLICATION = "Unitscope"
SCREENSHOT_TIMEOUT_S = 120
# What Qt's xcb plugin needs beyond a base system (Qt's "X11 requirements", Debian names).
XCB_PACKAGES = ("libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 "
                "libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3")
_MISSING_LIBRARY = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*): cannot open shared object file")


def debian_package(library: str) -> str:
    """The Debian/Ubuntu package that usually ships ``library`` (``libxcb-cursor.so.0`` ->
    ``libxcb-cursor0``, ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``)."""
    base, _, version = library.partition(".so")
    base, version = base.lower(), version.lstrip(".").split(".")[0]
    return base + ("-" if base[-1:].isdigit() and version else "") + version


def _requested_platforms() -> list[str]:
    value = os.environ.get("QT_QPA_PLATFORM", "")
    return [part.split(":")[0].strip() for part in value.split(";") if part.strip()]


def platform_problem(plugin: Path | None = None) -> str | None:
    """Why Qt's platform plugin cannot start here, as one line plus the install line; None if it can.

    Only the X11 (``xcb``) plugin, Linux's default, is checked: that the plugin's libraries
    load (the first missing one is named, with the package to install) and that the X
    display answers.  Other plugins (``offscreen``, ``wayland``...) are left to Qt.
    """
    names = _requested_platforms()
    if not names:
        if not sys.platform.startswith("linux") or os.environ.get("WAYLAND_DISPLAY"):
            return None
        names = ["xcb"]
    if names[0] != "xcb":
        return None
    if plugin is None:
        from PySide6.QtCore import QLibraryInfo

        plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if plugin.is_file():
        try:
            ctypes.CDLL(str(plugin))
        except OSError as exc:
            found = _MISSING_LIBRARY.search(str(exc))
            missing = found.group(1) if found else str(exc)
            package = debian_package(found.group(1)) if found else ""
            packages = XCB_PACKAGES if package in XCB_PACKAGES.split() or not package else f"{package} {XCB_PACKAGES}"
            return (f"Unitscope cannot open its window: Qt's X11 platform plugin needs {missing}, which is not "
                    f"installed.\nInstall it with: sudo apt-get install {packages}")
    display = os.environ.get("DISPLAY", "")
    if not display:
        return ("Unitscope cannot open its window: there is no X display (DISPLAY is not set).\n"
                "Run it in a desktop session, with ssh -X, or under xvfb-run; 'unitscope doctor' tells more.")
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return (f"Unitscope cannot open its window: libxcb.so.1 is not installed.\n"
                f"Install it with: sudo apt-get install libxcb1 {XCB_PACKAGES}")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    error = xcb.xcb_connection_has_error(connection)
    xcb.xcb_disconnect(connection)
    if error:
        return (f"Unitscope cannot open its window: the X display '{display}' does not answer.\n"
                "Check DISPLAY (and xauth over ssh), or run under xvfb-run; 'unitscope doctor' tells more.")
    return None


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
    collect_garbage_in_gui_thread(app)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("unitscope")
    icon = resources.samples_dir().parent / "icons" / "unitscope.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def collect_garbage_in_gui_thread(app: QApplication) -> GarbageCollector:
    """Python's cyclic garbage collection runs only in the GUI thread, from a timer (once).

    Left automatic, a collection runs in whichever thread allocates next -- often the
    engine thread -- and frees there the Qt objects of a closed window's reference cycles:
    Qt then destroys widgets and layouts off the GUI thread, which corrupts its heap.
    pyqtgraph's :class:`~pyqtgraph.util.garbage_collector.GarbageCollector` turns automatic
    collection off and collects, with the usual thresholds, every second in the GUI thread.
    """
    collector = getattr(app, "unitscope_gc", None)
    if collector is None:
        collector = GarbageCollector(interval=1.0)
        app.unitscope_gc = collector
    return collector


def freeze_after_first_maps(window) -> None:
    """Once the first feature maps are painted, freeze what is alive then (:func:`gc.freeze`).

    By then torch, torchvision, the window and the first model are loaded: some 400 000
    Python objects, most of which live as long as the app.  A full collection walks them all,
    0.15 to 0.25 s in the GUI thread every couple of minutes of use: a visible hitch.  Frozen,
    they are no longer walked.  Nothing is collected first: freezing walks nothing, so it makes
    no pause of its own (collecting the young generations first took 0.2 s right after the
    first paint).  Frozen objects are still freed when their last reference goes (a model
    closed for another: its anatomy holds no reference cycle); only the start-up's cyclic
    garbage is kept, once.
    """
    def first_paint(_layer: str, _ms: float) -> None:
        window.feature_maps_painted.disconnect(first_paint)
        started = time.perf_counter()
        gc.freeze()
        log.info("froze %d long-lived objects in %.1f ms", gc.get_freeze_count(),
                 (time.perf_counter() - started) * 1000)

    window.feature_maps_painted.connect(first_paint)


class Screenshot(QObject):
    """Saves the window once the first feature map is painted, then quits the app.

    The exit status is 0 on success and 1 if the engine reported a problem first, the
    file could not be written, or nothing was painted within ``timeout_s``.
    """

    def __init__(self, window, path: str | Path, timeout_s: float = SCREENSHOT_TIMEOUT_S):
        super().__init__(window)
        self.window, self.path, self.done, self.painted = window, Path(path), False, False
        window.feature_maps_painted.connect(self._painted)
        window.engine_failed.connect(self._problem)
        QTimer.singleShot(int(timeout_s * 1000), self, self._timed_out)

    @Slot(str, float)
    def _painted(self, layer: str, ms: float) -> None:
        self.painted = True
        # Let queued paints (preview, status bar) land before grabbing.
        QTimer.singleShot(300, self, self._save)

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
        if not self.done and not self.painted:  # a problem after the first maps does not fail it
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
    QTimer.singleShot(0, window, lambda: log.info("window shown"))
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
    problem = platform_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    app = make_application()
    from gui.window.main_window import MainWindow, StartupChoices

    choices = StartupChoices(model=args.model, weights=args.weights, layer=args.layer,
                             image=args.image, device=args.device, seed=args.seed,
                             session=args.session, trust_code=getattr(args, "trust_code", False),
                             ask=not args.screenshot)
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
    freeze_after_first_maps(window)
    window.show()
    status = app.exec()
    window.shutdown()
    return status
