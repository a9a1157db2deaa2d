"""Qt objects die in the GUI thread: the application collects Python's cyclic garbage only
there (from a timer), and the suite's check (``OffThreadCollections`` in conftest.py) catches
a collection in another thread that would free a Qt object."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from gui.app.app import collect_garbage_in_gui_thread


class Holder:
    """A plain Python object in a reference cycle, owning a Qt object."""

    def __init__(self):
        self.qt = QObject()
        self.me = self


def _in_thread(work) -> None:
    thread = threading.Thread(target=work, name="engine-like")
    thread.start()
    thread.join()


def test_the_check_catches_a_qt_object_freed_by_a_collection_in_another_thread(off_thread):
    holder = Holder()
    destroyed = []
    holder.qt.destroyed.connect(lambda: destroyed.append(threading.current_thread().name))
    del holder
    _in_thread(gc.collect)
    assert off_thread.found == [("engine-like", ["QObject"])]
    assert destroyed == []  # kept for the GUI thread to free
    assert off_thread.release() == [("engine-like", ["QObject"])]
    assert destroyed == ["MainThread"] and off_thread.found == []


def test_a_collection_in_another_thread_that_frees_no_qt_object_is_allowed(off_thread):
    cycle = []
    cycle.append(cycle)
    del cycle
    _in_thread(gc.collect)
    assert off_thread.found == []


def test_the_application_collects_only_in_the_gui_thread(qtbot, off_thread):
    app = QApplication.instance()
    assert collect_garbage_in_gui_thread(app) is app.unitscope_gc  # made once, by make_application
    assert not gc.isenabled()
    holder = Holder()
    ref = weakref.ref(holder)
    del holder

    kept = []

    def allocate():  # enough new containers for many automatic collections, were they on
        kept.extend([] for _ in range(50_000))

    _in_thread(allocate)
    assert ref() is not None and off_thread.found == []
    timer = app.unitscope_gc.timer  # stopped in the suite (conftest.py): started as the app has it
    timer.start(100)
    try:
        qtbot.waitUntil(lambda: ref() is None, timeout=3000)  # the GUI thread's timer collected it
    finally:
        timer.stop()


def test_a_closed_window_is_deleted_in_the_gui_thread(qtbot, off_thread):
    from gui.window.main_window import MainWindow, StartupChoices

    window = MainWindow(StartupChoices(device="cpu"))
    qtbot.addWidget(window)
    views = {name: weakref.ref(view) for name, view in window.views.items()}
    assert set(views) >= {"tuning", "properties", "visualize", "predict"}
    destroyed = []
    window.destroyed.connect(lambda: destroyed.append(threading.current_thread() is threading.main_thread()))
    window.close()
    window.deleteLater()
    del window
    qtbot.waitUntil(lambda: destroyed == [True], timeout=3000)  # Qt deleted it here, whole
    # pyqtgraph keeps Python-owned Qt objects (plot menus, view boxes) in reference cycles
    # that outlive the window: only a collection frees them, and the app's runs here.
    gc.collect()
    assert [name for name, view in views.items() if view() is not None] == []
    assert off_thread.found == []


def test_what_lives_at_the_first_maps_is_frozen_and_a_model_closed_later_is_still_freed(qtbot, resnet18_weights):
    """The app freezes torch, the window and the first model once the first maps are painted
    (:func:`gui.app.app.freeze_after_first_maps`): collections then walk only what came after,
    it happens once, and a frozen model is still freed when another one replaces it."""
    from gui.app.app import freeze_after_first_maps
    from gui.window.main_window import MainWindow, StartupChoices

    assert gc.get_freeze_count() == 0
    window = MainWindow(StartupChoices(device="cpu", model="resnet18", weights=str(resnet18_weights)))
    qtbot.addWidget(window)
    freeze_after_first_maps(window)
    try:
        with qtbot.waitSignal(window.layer_shown, timeout=30000):
            window.show()
        frozen = gc.get_freeze_count()
        module = window.worker._session.loaded.module
        first_model = weakref.ref(module)
        assert frozen > 100_000  # torch, torchvision, PySide6, pyqtgraph, the window and the model
        assert len(gc.get_objects()) < frozen // 4  # what a full collection still walks
        assert all(o is not module for o in gc.get_objects())  # the model among the frozen
        with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == "layer2"):
            window.record_layer("layer2")
        assert frozen - 1000 < gc.get_freeze_count() <= frozen  # once (frozen objects still die of refcount)
        del module
        with qtbot.waitSignal(window.layer_shown, timeout=30000):
            window.open_model("resnet18", layer="layer1")  # new random weights: the first model goes
        assert first_model() is None
    finally:
        window.close()
        window.deleteLater()
        gc.unfreeze()
