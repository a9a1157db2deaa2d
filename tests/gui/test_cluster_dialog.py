"""File ▸ Run on cluster…: the dialog names the open model, the selected layer and the input
images (the menu entry run as the person runs it; the modal dialog is read, then closed)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import resources
from gui.dialogs.cluster_dialog import ClusterDialog


def _trigger(window, text: str) -> None:
    file_menu = window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text() == text).trigger()


def _read_and_close(seen: list) -> None:
    """Once the modal dialog is up, note what it shows and close it."""
    def poll():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, ClusterDialog):
            seen.append({"model": dialog.model, "layers": dialog.layers.text(), "images": list(dialog.images),
                         "command": dialog.command.toPlainText()})
            dialog.reject()
        else:
            QTimer.singleShot(20, poll)
    QTimer.singleShot(20, poll)


def test_run_on_cluster_names_the_model_layer_and_input_images(open_window, qtbot, tmp_path, monkeypatch,
                                                               resnet18_weights):
    monkeypatch.chdir(tmp_path)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"photo{i}.png")
        Image.fromarray(np.full((32, 40, 3), 60 * i, dtype=np.uint8)).save(paths[-1])
    window = open_window(wait_for="layer2", layer="layer2")
    window.strip.add_paths([str(p) for p in paths])
    seen: list[dict] = []
    _read_and_close(seen)
    _trigger(window, "Run on &cluster…")
    assert len(seen) == 1
    shown = seen[0]
    assert (shown["model"].spec, shown["model"].weights) == ("resnet18", str(resnet18_weights))
    assert shown["layers"] == "layer2"
    assert shown["images"] == [str(p.resolve()) for p in [*resources.sample_images(), *paths]]
    assert shown["command"].startswith(f"unitscope submit {tmp_path / 'unitscope-job.job.json'} "
                                       f"--out {tmp_path / 'unitscope-job'} --shards 4")


def test_run_on_cluster_before_a_model_is_open_says_so(open_window):
    window = open_window(wait_for=None)  # shown; its engine starts once events are processed
    assert window.state.info is None
    _trigger(window, "Run on &cluster…")
    assert window.message.text() == "Open a model first."
    assert QApplication.activeModalWidget() is None
