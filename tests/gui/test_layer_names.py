"""Layer names in the tree at a laptop's dock width: names first, the other columns cut before them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision
from PySide6.QtGui import QFont, QFontMetrics

from engine.anatomy.tree import build_anatomy
from gui.widgets.anatomy_tree import AnatomyTree, elide_name

DOCK_WIDTH = 409  # what MainWindow._size_docks gives the layer tree on a 1366 px screen


@pytest.fixture(scope="module")
def anatomies():
    made = {}

    def get(name):
        if name not in made:
            model = getattr(torchvision.models, name)(weights=None)
            made[name] = build_anatomy(model.eval(), (224, 224))
        return made[name]

    return get


def tree_showing(qtbot, anatomy, name: str, layer: str, width: int = DOCK_WIDTH) -> AnatomyTree:
    tree = AnatomyTree()
    qtbot.addWidget(tree)
    tree.resize(width, 500)
    tree.show()
    qtbot.waitExposed(tree)
    tree.set_anatomy(anatomy, name)
    assert tree.select_layer(layer)
    tree.fit_columns()
    return tree


@pytest.mark.parametrize("model, layer, names", [
    ("vit_b_16", "encoder.layers.encoder_layer_11.mlp",
     {f"encoder.layers.encoder_layer_{i}": f"encoder_layer_{i}" for i in range(12)}
     | {"encoder.layers.encoder_layer_11.self_attention": "self_attention"}),
    ("googlenet", "inception3a.branch2.1.conv",
     {"inception3a": "inception3a", "inception4e": "inception4e", "inception3a.branch1": "branch1",
      "inception3a.branch2.1.conv": "conv"}),
    ("densenet169", "features.denseblock3.denselayer12.conv1",
     {"features.denseblock3": "denseblock3", "features.denseblock3.denselayer12": "denselayer12",
      "features.transition2": "transition2"}),
    ("resnet18", "layer1.0.relu#2",
     [("layer1.0.conv1", "conv1"), ("layer1.0.relu", "relu"), ("layer1.0.relu", "relu #1"),
      ("layer1.0.relu#2", "relu #2")]),
])
def test_names_are_shown_whole_at_1366_px(qtbot, anatomies, model, layer, names):
    tree = tree_showing(qtbot, anatomies(model), model, layer)
    shown = tree.shown_names()
    for ref, name in dict(names).items() if isinstance(names, dict) else names:
        assert (ref, name) in shown
    assert all("…" not in text for _ref, text in shown), shown  # every row on show, whole
    header = tree.view.header()
    widths = [header.sectionSize(c) for c in range(5)]
    assert widths[0] >= tree.view.sizeHintForColumn(0)  # the names got the width they need...
    assert sum(widths) <= tree.view.viewport().width()  # ...and no column is pushed out of the dock
    assert min(widths[1:]) >= 25  # the others are cut, not gone


def test_a_name_that_cannot_fit_keeps_its_end(qtbot, anatomies):
    tree = tree_showing(qtbot, anatomies("vit_b_16"), "vit_b_16", "encoder.layers.encoder_layer_11.mlp", width=260)
    shown = dict(tree.shown_names())["encoder.layers.encoder_layer_11"]
    head, tail = shown.split("…")  # cut once, in the name's first part
    assert "encoder_layer_11".startswith(head) and "encoder_layer_11".endswith(tail)
    assert tail.endswith("_11") and len(tail) >= 5
    metrics = QFontMetrics(QFont())
    assert elide_name("encoder_layer_11", metrics, 10_000) == "encoder_layer_11"
    cut = elide_name("encoder_layer_11", metrics, metrics.horizontalAdvance("en…layer_11"))
    assert cut == "en…layer_11"
    assert elide_name("relu #2", metrics, metrics.horizontalAdvance("…u #2")).endswith("#2")


WINDOW_PROBE = r'''
import json, sys
from PySide6.QtCore import QSettings, QTimer
from gui.app.app import make_application

app = make_application()
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
from gui.window.main_window import MainWindow, StartupChoices

window = MainWindow(StartupChoices(model=sys.argv[2], layer=sys.argv[3], device="cpu"))

def report(*_):
    app.processEvents()
    header = window.tree.view.header()
    print(json.dumps({"shown": window.tree.shown_names(), "viewport": window.tree.view.viewport().width(),
                      "sections": [header.sectionSize(i) for i in range(header.count())]}))
    window.close()
    app.quit()

window.layer_shown.connect(lambda layer: QTimer.singleShot(100, report))
window.show()
app.exec()
'''


def test_the_window_at_1366x768_shows_vit_block_names_whole(tmp_path):
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1366, "height": 768,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WINDOW_PROBE, str(tmp_path / "settings"), "vit_b_16",
                           "encoder.layers.encoder_layer_11.mlp"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2], timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    names = [tuple(row) for row in shown["shown"]]
    for i in range(12):
        assert (f"encoder.layers.encoder_layer_{i}", f"encoder_layer_{i}") in names
    assert ("encoder.layers.encoder_layer_11.mlp", "mlp") in names
    assert sum(shown["sections"]) <= shown["viewport"]
