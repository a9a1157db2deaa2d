"""Shared set-up for the GUI tests: offscreen Qt, isolated settings, no dangling threads."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any QApplication exists

import gc
import threading

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication

from gui.engine_link.worker import EngineThread


class OffThreadCollections:
    """A ``gc.callbacks`` hook that catches a cyclic collection outside the GUI thread that
    would delete a Qt object: a live one whose Python wrapper owns it and is in the garbage.

    During such a collection the garbage is saved rather than freed (``gc.DEBUG_SAVEALL``);
    the hook records the Qt objects in it and keeps the garbage for the GUI thread to free
    (:meth:`release`), so the check itself never lets Qt objects die in the wrong thread.
    Wrappers of objects Qt already deleted, or that Qt owns (a widget's children), are not
    deleted with their wrapper and are let go.
    """

    def __init__(self):
        self.found: list[tuple[str, list[str]]] = []  # (thread, Qt types that would die there)
        self.kept: list[list] = []
        self._flags = 0

    def __call__(self, phase: str, _info: dict) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        if phase == "start":
            self._flags = gc.get_debug()
            gc.set_debug(self._flags | gc.DEBUG_SAVEALL)
            return
        gc.set_debug(self._flags)
        garbage = gc.garbage[:]
        del gc.garbage[:]
        qt = sorted({type(o).__name__ for o in garbage if isinstance(o, shiboken6.Shiboken.Object)
                     and shiboken6.isValid(o) and shiboken6.ownedByPython(o)})
        if qt:
            self.found.append((threading.current_thread().name, qt))
        self.kept.append(garbage)

    def release(self) -> list[tuple[str, list[str]]]:
        """Free the kept garbage here (the GUI thread); return and forget what was found."""
        found, self.found = self.found, []
        self.kept.clear()
        gc.collect()  # the kept cycles, here
        return found


OFF_THREAD = OffThreadCollections()
gc.callbacks.append(OFF_THREAD)


@pytest.fixture
def off_thread() -> OffThreadCollections:
    """The suite's record of collections outside the GUI thread."""
    return OFF_THREAD


@pytest.fixture(autouse=True)
def _qt_objects_die_in_the_gui_thread():
    """Fail a test during which a Qt object was collected outside the GUI thread (see
    :class:`OffThreadCollections`); what the test left is deleted here, in the GUI thread: the
    widgets it closed first (Qt deletes them while their Python side is whole), then what
    Python still holds in reference cycles."""
    OFF_THREAD.release()
    yield
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    found = OFF_THREAD.release()
    if found:
        pytest.fail("Qt objects collected outside the GUI thread: "
                    + "; ".join(f"{', '.join(types)} in thread {thread}" for thread, types in found), pytrace=False)


@pytest.fixture(scope="package", autouse=True)
def _automatic_collection_after_the_gui_tests():
    """The application collects garbage only in the GUI thread (automatic collection off);
    the tests after these get Python's automatic collection back."""
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _unitscope_app(qapp, tmp_path):
    """The application as ``unitscope`` sets it up, with settings kept in ``tmp_path``."""
    from gui.app.app import make_application

    make_application()
    # The app collects Python's garbage from a timer in this thread; here it is collected at
    # each test's end instead, once Qt has deleted the widgets the test closed (a timer could
    # fire in between and clear a dropped widget's Python side while Qt still calls into it).
    qapp.unitscope_gc.timer.stop()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield qapp


@pytest.fixture(autouse=True)
def _dangling_qthreads():
    """Fail a test that leaves an engine thread running (after its widgets are closed).

    Like napari's ``_dangling_qthreads``: every ``EngineThread`` registers itself when
    made; at teardown none may still run.  Stray ones are stopped so the next test and
    the interpreter's exit are not disturbed.
    """
    yield
    # A thread whose C++ object is gone was deleted with its window: Qt aborts the
    # process if one is deleted while running, so only live ones need checking.
    running = [t for t in list(EngineThread.instances) if shiboken6.isValid(t) and t.isRunning()]
    for thread in running:
        thread.stop()
    if running:
        pytest.fail(f"{len(running)} engine thread(s) still running after the test", pytrace=False)


TINY_MODELS = '''
import time

from torch import nn


class Boom(nn.Module):
    def forward(self, x):
        raise ValueError("boom: this layer always fails")


class Slow(nn.Module):
    def forward(self, x):
        if x.device.type != "meta":
            time.sleep(0.05)
        return x


def boom():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), Boom())


def slow():
    return nn.Sequential(nn.Conv2d(3, 4, 3), *[Slow() for _ in range(60)], nn.Conv2d(4, 4, 3))
'''


@pytest.fixture
def model_file(tmp_path):
    """A Python file with two tiny factories: ``boom`` (its third layer raises) and
    ``slow`` (sixty 50 ms layers between two convolutions)."""
    path = tmp_path / "tiny_models.py"
    path.write_text(TINY_MODELS)
    return path


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory):
    """A state_dict file of a randomly initialised resnet18, so tests know the weights."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18_test.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


class Reference:
    """Layer outputs computed directly with the engine, outside the GUI."""

    def __init__(self, weights):
        from engine.models.preprocess import Preprocess
        from engine.models.sources import open_model
        from engine.recording.recorder import Recorder

        self.model = open_model("resnet18", weights)
        self.preprocess = Preprocess(self.model)
        self.recorder = Recorder(self.model.module, "cpu")

    def output(self, layer, stimulus):
        """The output of ``layer`` for a ``engine.session.values.Stimulus``, first sample."""
        from engine.stimuli.images import load_image
        from engine.stimuli.procedural import PROCEDURAL

        if stimulus.kind == "image":
            x = self.preprocess.image(load_image(stimulus.value))
        else:
            x = self.preprocess.array(PROCEDURAL[stimulus.value](self.preprocess.crop_size))
        return self.recorder.record_one([layer], x[None]).outputs[layer][0]


@pytest.fixture(scope="session")
def reference(resnet18_weights):
    """A :class:`Reference` for resnet18 with the ``resnet18_weights`` file."""
    return Reference(resnet18_weights)


@pytest.fixture
def open_window(qtbot, resnet18_weights):
    """Open a main window and wait until it shows ``wait_for``; closed at teardown."""
    from gui.window.main_window import MainWindow, StartupChoices

    windows = []

    def _open(wait_for="layer1", **choices):
        choices.setdefault("model", "resnet18")
        if choices["model"] == "resnet18":
            choices.setdefault("weights", str(resnet18_weights))
        window = MainWindow(StartupChoices(device="cpu", **choices))
        qtbot.addWidget(window)
        windows.append(window)
        if wait_for is None:
            window.show()
        else:
            with qtbot.waitSignal(window.layer_shown, timeout=30000,
                                  check_params_cb=lambda layer: layer == wait_for):
                window.show()
        return window

    yield _open
    for window in windows:
        window.close()
        window.deleteLater()
    windows.clear()
    # Delete the closed windows here, in the GUI thread: Qt first, while their Python side is
    # whole, then what Python still holds of them.
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
