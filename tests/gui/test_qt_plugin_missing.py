"""Starting without a usable Qt platform plugin: one clear line and what to install, no abort."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

from gui.app.app import XCB_PACKAGES, debian_package, platform_problem

ROOT = Path(__file__).resolve().parents[2]


def start(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "gui", "--device", "cpu"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def _expected(monkeypatch, **env) -> list[str]:
    """What :func:`platform_problem` says here with ``env``: which line comes first depends on
    whether this machine has the X11 plugin's libraries (then the display is checked)."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return platform_problem().splitlines()


def test_no_display_is_one_line_and_a_hint_not_a_qt_abort(monkeypatch):
    done = start(QT_QPA_PLATFORM="xcb")
    assert done.returncode == 1  # not Qt's abort (SIGABRT, -6)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert lines == _expected(monkeypatch, QT_QPA_PLATFORM="xcb") and len(lines) == 2
    assert lines[0].startswith("Unitscope cannot open its window: ")
    assert "qt.qpa" not in done.stderr and "Aborted" not in done.stderr


def test_a_display_that_does_not_answer_is_named(monkeypatch):
    done = start(QT_QPA_PLATFORM="xcb", DISPLAY=":987")  # no X server listens there
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert lines == _expected(monkeypatch, QT_QPA_PLATFORM="xcb", DISPLAY=":987")
    assert "qt.qpa" not in done.stderr


def test_the_display_is_checked_once_the_plugin_loads(monkeypatch, tmp_path):
    absent = tmp_path / "libqxcb.so"  # no plugin file: its libraries are not checked, the display is
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert platform_problem(absent).splitlines()[0] == (
        "Unitscope cannot open its window: there is no X display (DISPLAY is not set).")
    monkeypatch.setenv("DISPLAY", ":987")
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        first = "Unitscope cannot open its window: libxcb.so.1 is not installed."
    else:
        first = "Unitscope cannot open its window: the X display ':987' does not answer."
    assert platform_problem(absent).splitlines()[0] == first


def test_missing_libraries_map_to_the_packages_to_install():
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libEGL.so.1") == "libegl1"
    assert debian_package("libdbus-1.so.3") == "libdbus-1-3"
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1"} <= set(XCB_PACKAGES.split())
