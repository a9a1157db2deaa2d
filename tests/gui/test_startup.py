"""Start-up does only what the first feature maps need: the window's modules load no torch,
the feature-map panel and unit view are built with the window, each analysis's dock at once
and its view once the first maps are painted (or when asked for), and PySide does not read
the source of every non-Qt module imported after it (torch's)."""

from __future__ import annotations

import sys
import types

from PySide6.QtWidgets import QDockWidget, QLabel

from engine.session.analysis import analyses, resolve
from gui.widgets.feature_map_panel import FeatureMapPanel
from gui.widgets.unit_view import UnitView
from gui.window.main_window import WAITING_TEXT, MainWindow, StartupChoices


def _with_views():
    return [a for a in analyses() if a.view is not None]


def test_panel_and_unit_view_are_built_with_the_window_and_shown_once_the_engine_is_ready(qtbot):
    window = MainWindow(StartupChoices(device="cpu"))  # not shown: the engine does not start
    qtbot.addWidget(window)
    assert isinstance(window.panel, FeatureMapPanel) and isinstance(window.unit_view, UnitView)
    assert window.centre_stack.currentWidget().text() == WAITING_TEXT
    assert window.unit_dock.widget().widget() is window.unit_placeholder
    window.worker.engine_ready.emit({})  # what the engine thread says once torch is loaded
    assert window.centre_stack.currentWidget() is window.panel
    assert window.unit_dock.widget().widget() is window.unit_view


def test_analysis_docks_wait_for_their_views_which_are_built_when_asked_for(qtbot):
    window = MainWindow(StartupChoices(device="cpu"))
    qtbot.addWidget(window)
    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    for analysis in _with_views():
        dock = docks[f"{analysis.name}_dock"]
        assert dock.windowTitle() == analysis.title and isinstance(dock.widget().widget(), QLabel)
        assert not window.findChildren(resolve(analysis.view))
    analyse = window.analyse_menu
    assert [a.text() for a in analyse.actions() if a.isVisible()] == ["", "&Cancel analysis"]
    views = window.views  # asking builds every view, into the docks already there
    assert list(views) == [a.name for a in _with_views()]
    for analysis in _with_views():
        view = views[analysis.name]
        assert type(view) is resolve(analysis.view) and docks[f"{analysis.name}_dock"].widget().widget() is view
        assert view.menu_actions()[0] in analyse.actions()
    main_actions = [views[a.name].menu_actions()[0] for a in _with_views()]
    shown = [a for a in analyse.actions() if a in main_actions]
    assert shown == main_actions  # the registry's order, whatever order the views were built in
    assert {d.objectName() for d in window.findChildren(QDockWidget)} == set(docks)  # no second dock


def test_the_views_are_built_after_the_first_maps_and_run_their_jobs(open_window, qtbot):
    window = open_window()  # waits until layer1's maps are shown
    qtbot.waitUntil(lambda: not window.analyses.unbuilt, timeout=10000)  # no one asked: built after the paint
    view = window.analyses.built["properties"]
    assert window.docks["properties"].widget().widget() is view
    view.menu_actions()[0].trigger()
    assert window.state.running is not None and window.state.running.view is view
    assert window.state.running.job.layer == "layer1"
    window.cancel()


def test_pyside_reads_no_source_of_non_qt_modules(tmp_path):
    import gui.app.app

    feature = sys.modules["shibokensupport.feature"]
    assert gui.app.app.skip_feature_scan_of_non_qt_modules() is True
    source = tmp_path / "uses_qt.py"
    source.write_text("import PySide6\n")
    outside, inside = types.ModuleType("torch_like.module"), types.ModuleType("gui.uses_qt")
    outside.__file__ = inside.__file__ = str(source)
    assert feature._mod_uses_pyside(inside) is True  # Qt code is still read
    assert feature._mod_uses_pyside(outside) is False  # the same text, outside the Qt packages: not read
