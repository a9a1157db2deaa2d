"""Start-up does only what the first feature maps need: the window's modules load no torch,
the feature-map panel and unit view are built with the window, the costliest analysis
views once the first maps are painted (or when asked for), and PySide does not read the
source of every non-Qt module imported after it (torch's)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

from PySide6.QtWidgets import QDockWidget, QLabel

from gui.feature_map_panel import FeatureMapPanel
from gui.main_window import LAZY_VIEWS, WAITING_TEXT, MainWindow, StartupChoices
from gui.properties_view import PropertiesView
from gui.unit_view import UnitView
from gui.visualize_view import VisualizeView

ROOT = Path(__file__).resolve().parents[2]


def _docks(window) -> dict[str, QDockWidget]:
    return {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}


def test_the_window_and_its_views_import_no_torch():
    code = ("import sys, gui.app, gui.main_window, gui.feature_map_panel, gui.unit_view\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_panel_and_unit_view_are_built_with_the_window_and_shown_once_the_engine_is_ready(qtbot):
    window = MainWindow(StartupChoices(device="cpu"))  # not shown: the engine does not start
    qtbot.addWidget(window)
    assert isinstance(window.panel, FeatureMapPanel) and isinstance(window.unit_view, UnitView)
    assert window.centre_stack.currentWidget().text() == WAITING_TEXT
    assert window.unit_dock.widget().widget() is window.unit_placeholder
    window._engine_ready({})
    assert window.centre_stack.currentWidget() is window.panel
    assert window.unit_dock.widget().widget() is window.unit_view


def test_copy_screenshot_before_any_feature_map_says_there_is_nothing_to_copy(qtbot):
    """The panel exists from the start now; before the engine has shown maps, copying it
    would give an empty picture: the window says why instead."""
    from PySide6.QtWidgets import QApplication

    from gui.figure_menu import copy_screenshot

    window = MainWindow(StartupChoices(device="cpu"))  # not shown: no feature map yet
    qtbot.addWidget(window)
    QApplication.clipboard().clear()
    copy_screenshot(window)
    assert "nothing on screen to copy yet" in window.message.text()
    assert QApplication.clipboard().pixmap().isNull()


def test_lazy_views_wait_in_their_docks_and_are_built_when_asked_for(qtbot):
    window = MainWindow(StartupChoices(device="cpu"))
    qtbot.addWidget(window)
    assert set(LAZY_VIEWS) == {"visualize", "properties"}
    assert not window.findChildren(VisualizeView) and not window.findChildren(PropertiesView)
    docks = _docks(window)
    assert docks["visualize_dock"].windowTitle() == "Visualise"
    assert docks["properties_dock"].windowTitle() == "Properties"
    assert isinstance(docks["properties_dock"].widget().widget(), QLabel)
    views = window.job_views  # asking for them builds them, into the docks already there
    assert isinstance(views["visualize"][0], VisualizeView) and isinstance(views["properties"][0], PropertiesView)
    assert views["visualize"][1] is docks["visualize_dock"] and views["properties"][1] is docks["properties_dock"]
    assert docks["properties_dock"].widget().widget() is views["properties"][0]
    assert _docks(window).keys() == docks.keys()  # no second dock
    assert len(window.findChildren(PropertiesView)) == 1 and not window.lazy_docks


def test_lazy_views_are_built_after_the_first_maps_and_run_their_jobs(open_window, qtbot):
    window = open_window()  # waits until layer1's maps and the views around them are shown
    qtbot.waitUntil(lambda: not window.lazy_docks, timeout=10000)  # no one asked: built after the paint
    view, dock = window._job_views["properties"]
    assert isinstance(view, PropertiesView) and dock.widget().widget() is view
    view.run_action.trigger()
    assert window.state.running is not None and window.state.running.view is view
    assert window.state.running.job.layer == "layer1"
    window.cancel()


def test_pyside_reads_no_source_of_non_qt_modules(tmp_path):
    import gui.app

    feature = sys.modules["shibokensupport.feature"]
    assert gui.app.skip_feature_scan_of_non_qt_modules() is True
    source = tmp_path / "uses_qt.py"
    source.write_text("import PySide6\n")
    outside, inside = types.ModuleType("torch_like.module"), types.ModuleType("gui.uses_qt")
    outside.__file__ = inside.__file__ = str(source)
    assert feature._mod_uses_pyside(inside) is True  # Qt code is still read
    assert feature._mod_uses_pyside(outside) is False  # the same text, outside the Qt packages: not read
    assert feature.pyside_feature_dict.get("torch", -1) == -1
