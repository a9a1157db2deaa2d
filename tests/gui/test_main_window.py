"""The main window as a user meets it: real resnet18 (known random weights), no mocks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import resources
from engine.recording.mosaic import make_mosaic, to_channels
from engine.session.values import Stimulus
from engine.stimuli.procedural import PROCEDURAL
from gui.widgets import colormaps
from gui.widgets.anatomy_model import LAYER_ROLE
from gui.widgets.model_picker import SPEC_ROLE

SAMPLE = Stimulus("image", str(resources.sample_images()[0]))


def expected_mosaic(window, output):
    kind, maps = to_channels(output[None], layout="nchw")
    diverging = colormaps.is_diverging(window.panel.colormap_name)
    return make_mosaic(maps, normalize=window.panel.normalization, symmetric=diverging,
                       pad_value=128 if diverging else 0).image


def click_row(view, layer):
    """Click the tree row of ``layer`` with the mouse (expanding its ancestors)."""
    model = view.model()
    matches = model.match(model.index(0, 0), LAYER_ROLE, layer, 1,
                          Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    index = matches[0]
    parent = index.parent()
    while parent.isValid():
        view.expand(parent)
        parent = parent.parent()
    view.scrollTo(index)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())


def test_clicking_a_node_shows_the_engines_exact_activations(open_window, qtbot, reference):
    window = open_window()
    np.testing.assert_array_equal(window.panel.mosaic_image(),
                                  expected_mosaic(window, reference.output("layer1", SAMPLE)))
    with qtbot.waitSignal(window.layer_shown, timeout=10000,
                          check_params_cb=lambda layer: layer == "layer2.0.relu#2"):
        click_row(window.tree.view, "layer2.0.relu#2")
    assert window.tree.current_layer() == "layer2.0.relu#2"
    np.testing.assert_array_equal(window.panel.mosaic_image(),
                                  expected_mosaic(window, reference.output("layer2.0.relu#2", SAMPLE)))
    assert window.card.values["Layer"].text() == "layer2.0.relu#2"
    assert window.card.values["Output shape"].text().startswith("128×28×28")
    assert window.strip.preview.pixmap() is not None and not window.strip.preview.pixmap().isNull()
    assert "random" not in window.status.weights_label.text()  # the weights file was loaded
    assert "forward" in window.status.timing_label.text() and "render" in window.status.timing_label.text()


def test_arrow_keys_record_the_next_node(open_window, qtbot, reference):
    window = open_window()
    view = window.tree.view
    view.setFocus()
    with qtbot.waitSignal(window.layer_shown, timeout=10000,
                          check_params_cb=lambda layer: layer == "layer2"):
        QTest.keyClick(view, Qt.Key.Key_Down)  # layer1 is collapsed: the next row is layer2
    np.testing.assert_array_equal(window.panel.mosaic_image(),
                                  expected_mosaic(window, reference.output("layer2", SAMPLE)))


def test_rapid_selections_paint_only_the_last(open_window, qtbot):
    window = open_window()
    painted, renders = [], []
    window.layer_shown.connect(painted.append)
    window.panel.render_finished.connect(renders.append)
    window.tree.view.expandAll()
    layers = [layer for layer in window.tree.visible_layers() if layer.count(".") >= 1][:10]
    for layer in layers:
        window.tree.select_layer(layer)
    qtbot.waitUntil(lambda: painted == [layers[-1]], timeout=10000)
    qtbot.wait(300)  # anything stale would have arrived by now
    assert painted == [layers[-1]]
    assert len(renders) == 1


def test_selecting_an_input_records_it(open_window, qtbot, reference):
    window = open_window()
    grating = Stimulus("procedural", "grating")
    with qtbot.waitSignal(window.layer_shown, timeout=10000):
        assert window.strip.select(grating)
    assert window.recording.stimulus == grating
    np.testing.assert_array_equal(window.panel.mosaic_image(),
                                  expected_mosaic(window, reference.output("layer1", grating)))


def test_dropping_a_folder_adds_its_images_and_records_the_first(open_window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = open_window()
    folder = tmp_path / "my images"
    folder.mkdir()
    shutil.copy(resources.sample_images()[1], folder / "photo 2.jpg")
    (folder / "notes.txt").write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.layer_shown, timeout=10000):
        window.strip.dropEvent(drop)
    assert window.recording.stimulus == Stimulus("image", str((folder / "photo 2.jpg").resolve()))
    assert len(window.strip.stimuli()) == len(resources.sample_images()) + len(PROCEDURAL) + 1


def test_clicking_a_channel_opens_the_unit_view(open_window, qtbot):
    window = open_window(layer="conv1", wait_for="conv1")
    window.panel.channel_clicked.emit(5)
    assert window.unit_view.position is not None
    assert "conv1, channel 5" in window.unit_view._title.text()
    assert window.panel.selected_channel == 5
    assert window.unit_view.rf_box() is not None


def test_engine_errors_are_shown_and_the_next_selection_works(open_window, qtbot):
    window = open_window()
    with qtbot.waitSignal(window.message_shown, timeout=10000):
        window.record_layer("layer1#5")
    assert window.message.isVisible()
    assert "layer1#5" in window.message.text()
    assert QApplication.activeModalWidget() is None
    with qtbot.waitSignal(window.layer_shown, timeout=10000,
                          check_params_cb=lambda layer: layer == "layer3"):
        window.tree.select_layer("layer3")
    assert not window.message.isVisible()


def test_a_model_whose_forward_raises(open_window, qtbot, model_file):
    window = open_window(model=f"{model_file}:boom", wait_for="0")
    with qtbot.waitSignal(window.message_shown, timeout=10000):
        window.tree.select_layer("2")
    assert "ValueError: boom: this layer always fails" in window.message.text()
    with qtbot.waitSignal(window.layer_shown, timeout=10000,
                          check_params_cb=lambda layer: layer == "1"):
        window.tree.select_layer("1")
    assert window.panel.mosaic_image().shape == make_mosaic(np.zeros((4, 222, 222))).image.shape


def test_closing_mid_record_stops_the_engine_within_a_second(open_window, qtbot, model_file):
    window = open_window(model=f"{model_file}:slow", wait_for="0")
    with qtbot.waitSignal(window.worker.job_started, timeout=5000):
        window.tree.select_layer("61")  # 60 layers of 50 ms lie before it
    qtbot.wait(100)
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 1.0
    assert not window.worker.isRunning()


def test_slow_work_shows_progress_and_can_be_cancelled(open_window, qtbot, model_file):
    window = open_window(model=f"{model_file}:slow", wait_for="0")
    painted = []
    window.layer_shown.connect(painted.append)
    window.tree.select_layer("61")  # three seconds of work
    assert not window.status.is_busy_shown()
    qtbot.waitUntil(window.status.is_busy_shown, timeout=3000)
    assert "Recording 61" in window.status.currentMessage()
    QTest.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.status.is_busy_shown()
    qtbot.wait(300)
    assert painted == []
    with qtbot.waitSignal(window.layer_shown, timeout=5000, check_params_cb=lambda layer: layer == "1"):
        window.tree.select_layer("1")


def test_filter_keeps_matches_and_their_ancestors(open_window):
    window = open_window()
    tree = window.tree
    assert "layer1.0.relu#2" in tree.visible_layers()  # a module called twice: one row per call
    tree.filter_box.setText("bn2")
    shown = tree.visible_layers()
    assert {"layer1.0.bn2", "layer4.1.bn2", "layer1.0", "layer1", ""} <= set(shown)
    assert "fc" not in shown and "layer1.0.bn1" not in shown and "layer1.0.relu#2" not in shown
    tree.filter_box.setText("ReLU")  # types match too
    assert "layer1.0.relu#2" in tree.visible_layers() and "fc" not in tree.visible_layers()
    tree.filter_box.clear()
    assert "fc" in tree.visible_layers()


def test_model_picker_switches_model(open_window, qtbot):
    window = open_window()
    combo = window.picker.combo
    qtbot.waitUntil(lambda: combo.count() > 50, timeout=10000)
    row = next(r for r in range(combo.count()) if combo.itemData(r, SPEC_ROLE) == "squeezenet1_0")
    assert "weights" in combo.itemText(row)
    with qtbot.waitSignal(window.layer_shown, timeout=30000,
                          check_params_cb=lambda layer: layer == "features.0"):
        combo.setCurrentIndex(row)
        combo.activated.emit(row)
    assert window.info.name == "squeezenet1_0"
    assert window.tree.model.index(0, 0).data() == "squeezenet1_0"
    assert "squeezenet1_0" in window.windowTitle()


def test_window_appears_before_torch_is_imported(tmp_path):
    code = ("import sys\n"
            "from gui.app.app import make_application\n"
            "app = make_application()\n"
            "from gui.window.main_window import MainWindow\n"
            "w = MainWindow()\n"
            "w.show()\n"
            "assert w.isVisible()\n"
            "print('torch' in sys.modules)\n"
            "w.close()\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_save_activations_writes_what_is_shown(open_window, qtbot, reference, tmp_path, monkeypatch):
    from engine.files.writers import read_activations, read_provenance
    from gui.window import file_menu

    window = open_window()
    target = tmp_path / "acts.h5"
    monkeypatch.setattr(file_menu.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    action = next(a for a in window.findChildren(file_menu.QAction) if a.text() == "&Save activations…")
    assert action.shortcut().matches(file_menu.QKeySequence(file_menu.QKeySequence.StandardKey.Save))
    action.trigger()
    saved = read_activations(target)
    np.testing.assert_array_equal(saved["layer1"][0], reference.output("layer1", SAMPLE).numpy())
    prov = read_provenance(target)
    assert prov["model"] == "resnet18" and prov["layers"] == ["layer1"]
    assert prov["image_paths"] == [str(resources.sample_images()[0].resolve())]


def test_export_feature_maps_as_png_of_chosen_width(open_window, tmp_path, monkeypatch):
    from PySide6.QtGui import QImage

    from gui.window import file_menu

    window = open_window()
    target = tmp_path / "maps.png"
    monkeypatch.setattr(file_menu.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(file_menu.QInputDialog, "getInt", lambda *a, **k: (1234, True))
    file_menu.export_view(window, "feature maps")
    assert QImage(str(target)).width() == 1234
    assert window.settings.value("export/width", type=int) == 1234


def test_the_next_session_starts_where_this_one_ended(open_window, qtbot):
    window = open_window()
    with qtbot.waitSignal(window.layer_shown, timeout=10000):
        window.tree.select_layer("layer2.0.bn1")
    with qtbot.waitSignal(window.layer_shown, timeout=10000):
        window.strip.select(Stimulus("procedural", "gabor"))
    window.close()
    again = open_window(wait_for="layer2.0.bn1")
    assert again.strip.current() == Stimulus("procedural", "gabor")
    assert again.recording.stimulus == Stimulus("procedural", "gabor")


def test_screenshot_mode_saves_the_window_and_exits_0(tmp_path):
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "gui", "--model", "resnet18", "--device", "cpu",
                           "--screenshot", str(shot)], capture_output=True, text=True, env=env,
                          timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))  # the whole window, fitted to offscreen Qt's 800×800 screen
    assert 700 < image.width() <= 800 and 700 < image.height() <= 800


def test_the_engine_owns_torchs_cpu_pool(open_window):
    """The engine thread runs every torch operator (the window thread runs none, see
    test_no_torch_in_gui.py), with torch's whole CPU pool."""
    from engine.recording.cpu_threads import DEFAULT_THREADS

    window = open_window()
    assert window.status.device_label.text() == f"device: cpu ({DEFAULT_THREADS} threads)"


def test_a_quick_recording_paints_maps_first_and_leaves_the_status_bar_alone(open_window, qtbot):
    window = open_window()
    messages, order = [], []
    window.status.messageChanged.connect(messages.append)
    window.feature_maps_painted.connect(lambda layer, ms: order.append(("painted", layer)))
    window.layer_shown.connect(lambda layer: order.append(("shown", layer)))
    with qtbot.waitSignal(window.layer_shown, timeout=10000, check_params_cb=lambda layer: layer == "layer2"):
        window.record_layer("layer2")
    assert order == [("painted", "layer2"), ("shown", "layer2")]
    assert window.unit_view.position is not None and "layer2, channel" in window.unit_view._title.text()
    assert messages == []  # no "Recording…" flash: the bar changes only for work over a second
    assert "forward" in window.status.timing_label.text()


def test_copy_screenshot_before_any_feature_map_says_there_is_nothing_to_copy(qtbot):
    from PySide6.QtWidgets import QApplication

    from gui.window.figure_menu import copy_screenshot
    from gui.window.main_window import MainWindow, StartupChoices

    window = MainWindow(StartupChoices(device="cpu"))  # not shown: no feature map yet
    qtbot.addWidget(window)
    QApplication.clipboard().clear()
    copy_screenshot(window)
    assert "nothing on screen to copy yet" in window.message.text()
    assert QApplication.clipboard().pixmap().isNull()
