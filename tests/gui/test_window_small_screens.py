"""The window fits small screens (1366×768, 1280×720) with every dock usable.

Each case runs the real window in a child process whose offscreen Qt has a screen of the
size under test (``QT_QPA_PLATFORM=offscreen:configfile=...``), waits for the first
feature maps and reports the geometry of everything as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r'''
import json, sys
from PySide6.QtCore import QByteArray, QRect, QSettings, QTimer
from PySide6.QtWidgets import QDockWidget, QGraphicsView, QMainWindow
from gui.app.app import make_application

app = make_application()
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
if sys.argv[2] == "saved-on-a-large-screen":
    # A layout saved at 1500x950 with its corner at (300, 120): off this screen's edges.
    other = QMainWindow()
    other.setGeometry(QRect(300, 120, 1500, 950))
    QSettings().setValue("window/geometry", other.saveGeometry())
from gui.window.main_window import MainWindow, StartupChoices

window = MainWindow(StartupChoices(model="resnet18", device="cpu"))

def rect(r):
    return [r.x(), r.y(), r.width(), r.height()]

def report(*_):
    screen = window.screen().availableGeometry()
    docks = {}
    for dock in window.findChildren(QDockWidget):
        top_left = dock.mapTo(window, dock.rect().topLeft())
        scroll = dock.widget()
        docks[dock.objectName()] = {
            "closed": dock.isHidden(), "on_top": not dock.visibleRegion().isEmpty(),
            "tabbed_with": [d.objectName() for d in window.tabifiedDockWidgets(dock)],
            "rect": [top_left.x(), top_left.y(), dock.width(), dock.height()],
            "scrolls": scroll.verticalScrollBar().maximum() > 0 or scroll.horizontalScrollBar().maximum() > 0}
    tree = window.tree.view
    tree.expandAll()
    app.processEvents()
    header = tree.header()
    last = header.count() - 1
    print(json.dumps({
        "screen": rect(screen), "frame": rect(window.frameGeometry()), "window": rect(window.geometry()),
        "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
        "docks": docks, "maps": [window.panel.width(), window.panel.height()],
        "tree_right": header.sectionViewportPosition(last) + header.sectionSize(last),
        "tree_viewport": tree.viewport().width(), "name_column": header.sectionSize(0),
        "sections": [header.sectionSize(i) for i in range(header.count())]}))
    plots, scrolls = {}, {}
    for name, dock in window.docks.items():  # each analysis brought to the front in turn
        dock.raise_()
        app.processEvents()
        heights = [v.height() for v in dock.widget().widget().findChildren(QGraphicsView) if v.isVisible()]
        plots[name] = max(heights, default=0)
        bars = (dock.widget().verticalScrollBar(), dock.widget().horizontalScrollBar())
        scrolls[name] = any(bar.maximum() > 0 for bar in bars)
    print(json.dumps({"plots": plots, "raised_scrolls": scrolls}))
    window.close()
    app.quit()

window.layer_shown.connect(lambda layer: QTimer.singleShot(100, report))
window.show()
app.exec()
'''


def probe(tmp_path, width, height, case="fresh"):
    config = tmp_path / f"screen-{width}x{height}.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": width, "height": height,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "settings"), case], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    *_, shown, plots = done.stdout.strip().splitlines()
    return {**json.loads(shown), **json.loads(plots)}


def inside(inner, outer):
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def check_fits(shown):
    screen = shown["screen"]
    assert inside(shown["frame"], screen), shown
    assert shown["minimum"][0] <= screen[2] and shown["minimum"][1] <= screen[3]
    window_area = [0, 0, shown["window"][2], shown["window"][3]]
    maps_area = shown["maps"][0] * shown["maps"][1]
    docks = shown["docks"]
    for name, dock in docks.items():
        assert not dock["closed"], name
        if dock["on_top"]:
            assert inside(dock["rect"], window_area), (name, dock)
            assert dock["rect"][2] >= 250 and dock["rect"][3] >= 120, (name, dock)
            assert dock["rect"][2] * dock["rect"][3] < maps_area, (name, "the maps are the largest panel")
        else:  # behind a tab: one click brings it up
            assert any(docks[other]["on_top"] for other in dock["tabbed_with"]), (name, dock)
    # The unit view and the tuning view (brought to the front) fit their docks without scrolling.
    assert not docks["unit_dock"]["scrolls"] and not shown["raised_scrolls"]["tuning"]
    # Expanded blocks never push the tree's last column out of the dock.
    assert shown["tree_right"] <= shown["tree_viewport"] and shown["name_column"] >= 60


def test_fits_1366x768_with_every_dock_visible(tmp_path):
    shown = probe(tmp_path, 1366, 768)
    check_fits(shown)
    # Every analysis, brought to the front, has a usable plot (its dock takes the column's height).
    assert set(shown["plots"]) >= {"tuning", "population", "probe", "receptive_field", "visualize", "properties"}
    short = {name: h for name, h in shown["plots"].items() if name != "topk" and h < 200}
    assert short == {}, shown["plots"]
    assert shown["frame"][2] >= 1300 and shown["frame"][3] >= 700  # and uses the room there is


def test_a_layout_saved_on_a_large_screen_is_fitted_to_1280x720(tmp_path):
    check_fits(probe(tmp_path, 1280, 720, "saved-on-a-large-screen"))
