"""Starting without a usable Qt platform plugin: one clear line and what to install, no abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gui.app.app import XCB_PACKAGES, debian_package

ROOT = Path(__file__).resolve().parents[2]


def start(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "gui", "--device", "cpu"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_no_display_is_one_line_and_a_hint_not_a_qt_abort():
    done = start(QT_QPA_PLATFORM="xcb")
    assert done.returncode == 1  # not Qt's abort (SIGABRT, -6)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert lines[0] == "Unitscope cannot open its window: there is no X display (DISPLAY is not set)."
    assert "xvfb-run" in lines[1] and len(lines) == 2
    assert "qt.qpa" not in done.stderr and "Aborted" not in done.stderr


def test_a_display_that_does_not_answer_is_named():
    done = start(QT_QPA_PLATFORM="xcb", DISPLAY=":987")  # no X server listens there
    assert done.returncode == 1
    assert "the X display ':987' does not answer" in done.stderr and "qt.qpa" not in done.stderr


def test_missing_libraries_map_to_the_packages_to_install():
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libEGL.so.1") == "libegl1"
    assert debian_package("libdbus-1.so.3") == "libdbus-1-3"
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1"} <= set(XCB_PACKAGES.split())
