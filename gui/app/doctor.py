"""``unitscope doctor``: one screen about this installation, to paste into a bug report.

The engine's half (Python, torch, devices, the weights cache) comes from
``engine.doctor``; this module adds Qt: versions, the platform plugin, the settings file.
Each Qt question is asked so that a broken Qt still leaves a full report, because that
is when the report is needed most.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

PROBE_FLAG = "--probe-qt"
_PROBE_TIMEOUT_S = 60


def _probe_command() -> list[str]:
    """How to start this same program again (a PyInstaller bundle has no ``-m``)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "doctor", PROBE_FLAG]
    return [sys.executable, "-m", "gui", "doctor", PROBE_FLAG]


def platform_plugin() -> str:
    """The Qt platform plugin this program uses (``xcb``, ``wayland``, ``offscreen``, ...).

    Starting a ``QGuiApplication`` ends the process when no plugin can start (no display,
    missing xcb libraries), so without a running application a child process asks.
    """
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is not None:
        return app.platformName()
    try:
        done = subprocess.run(_probe_command(), capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown (the probe failed: {exc})"
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return lines[-1]
    problems = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    # Qt's first complaint names the cause ("could not connect to display", a missing
    # library); the lines after it are consequences.
    reason = next((line for line in problems if line.startswith("qt.qpa")), problems[-1] if problems else "")
    return f"none could start ({reason or f'exit status {done.returncode}'})"


def _probe() -> int:
    """In the child process: start Qt's GUI layer and print the plugin's name."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])
    print(app.platformName())
    return 0


def qt_report(probe: bool = True) -> list[tuple[str, str]]:
    """The Qt half of the report as (label, value) rows.

    Parameters
    ----------
    probe : bool
        Find the platform plugin (may start a child process); off, the row says so.
    """
    rows: list[tuple[str, str]] = []
    try:
        import PySide6
        from PySide6.QtCore import QLibraryInfo, QSettings, qVersion
    except ImportError as exc:
        return [("Qt", f"PySide6 could not be imported: {exc}")]
    rows.append(("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"))
    for name in ("pyqtgraph", "superqt"):
        try:
            module = __import__(name)
            rows.append((name, getattr(module, "__version__", "unknown version")))
        except Exception as exc:  # noqa: BLE001 - any failure is worth reporting
            rows.append((name, f"could not be imported: {exc}"))
    try:
        rows.append(("Qt platform plugin", platform_plugin() if probe else "not checked"))
    except Exception as exc:  # noqa: BLE001
        rows.append(("Qt platform plugin", f"unknown ({exc})"))
    for variable in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY"):
        if os.environ.get(variable):
            rows.append((variable, os.environ[variable]))
    rows.append(("Qt plugins", QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)))
    from gui.app.app import APPLICATION, ORGANIZATION

    settings = QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)
    rows.append(("settings file", settings.fileName()))
    return rows


def report(probe: bool = True) -> str:
    """The whole report: engine, then Qt, as aligned ``label: value`` lines."""
    from engine.doctor import engine_report, format_report

    return format_report(engine_report() + qt_report(probe))


def main(argv: list[str] | None = None) -> int:
    """``unitscope doctor``: print the report."""
    parser = argparse.ArgumentParser(prog="unitscope doctor",
                                     description="Versions, devices, the Qt platform plugin, the weights "
                                                 "cache and the settings file, for a bug report.")
    parser.add_argument(PROBE_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_qt:
        return _probe()
    print(report())
    return 0
