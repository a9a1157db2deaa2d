"""A long session in a short time: rapid layer selections across three models, then close.

``make test`` runs 150 selections; ``make soak`` runs 1,000 (``UNITSCOPE_SOAK_SELECTIONS``).
The window must never paint a frame other than the newest one asked for, must end on the
last selection, must leave no engine thread running, and must not grow: resident memory
and the number of graphics items after the run are compared with those after the first
third (by then each of the three models has been opened at least once).
"""

from __future__ import annotations

import gc
import os
import random
import time

import shiboken6
from PySide6.QtWidgets import QApplication, QGraphicsView

from gui.engine_link.worker import EngineThread

MODELS = ("resnet18", "squeezenet1_0", "mobilenet_v3_small")
SELECTIONS = int(os.environ.get("UNITSCOPE_SOAK_SELECTIONS", "150"))


def resident_mb() -> float:
    """Resident memory of this process after a full garbage collection, in MiB."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def graphics_items(window) -> int:
    """How many graphics items the feature-map panel's scenes hold."""
    return sum(len(view.scene().items()) for view in window.panel.findChildren(QGraphicsView))


def test_rapid_selections_across_models(open_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # random weights, nothing cached
    started = time.perf_counter()
    window = open_window(model=MODELS[0], weights=None)
    requested: list[str] = []  # layers the window asked the engine for, in order
    painted: list[int] = []  # for each frame shown, the index of its request in ``requested``
    wrong: list[str] = []
    window.tree.layer_selected.connect(requested.append)
    window.message_shown.connect(lambda text: wrong.append(f"problem shown: {text}"))

    def shown(layer: str) -> None:
        if not requested or layer != requested[-1]:
            wrong.append(f"painted {layer} after {requested[-1:]} was asked for")
        painted.append(len(requested) - 1)

    def rendered(layer: str, _ms: float) -> None:
        if layer != requested[-1]:
            wrong.append(f"rendered {layer} after {requested[-1]} was asked for")

    window.layer_shown.connect(shown)
    window.feature_maps_painted.connect(rendered)

    def layers() -> list[str]:
        window.tree.view.expandAll()
        return window.tree.visible_layers()

    def settle() -> None:
        qtbot.waitUntil(lambda: painted and painted[-1] == len(requested) - 1, timeout=30000)

    switch_every = min(50, max(10, SELECTIONS // 9))  # every model opens within the first third
    rng = random.Random(0)
    names = layers()
    first_third = None
    for i in range(SELECTIONS):
        if i and i % switch_every == 0:
            model = MODELS[(i // switch_every) % len(MODELS)]
            with qtbot.waitSignal(window.layer_shown, timeout=60000,
                                  check_params_cb=lambda _layer, m=model: window.info.name == m):
                window.open_model(model)
            names = layers()
        current = window.tree.current_layer()
        window.record_layer(rng.choice([name for name in names if name != current]))
        if i % 7 == 0:
            QApplication.processEvents()
        elif i % 5 == 0:
            qtbot.wait(30)  # now and then long enough for a frame to arrive
        if i + 1 == SELECTIONS // 3:
            settle()
            first_third = (resident_mb(), graphics_items(window))
    settle()
    assert wrong == []
    assert window.recording.layer == window.tree.current_layer() == requested[-1]
    assert painted == sorted(set(painted))  # each frame newer than the one before
    end = (resident_mb(), graphics_items(window))
    print(f"\nsoak: {SELECTIONS} selections, {len(painted)} frames painted; resident memory "
          f"{first_third[0]:.0f} MiB after the first third, {end[0]:.0f} MiB at the end; "
          f"{graphics_items(window)} graphics items; {time.perf_counter() - started:.0f} s")
    assert end[1] == first_third[1]
    assert end[0] <= 1.10 * first_third[0]
    window.close()
    assert not window.worker.isRunning()
    assert not [t for t in list(EngineThread.instances) if shiboken6.isValid(t) and t.isRunning()]
