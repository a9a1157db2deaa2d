"""File ▸ Figure: the journal-style dialog, and figures drawn from the data the views hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pypdf import PdfReader
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from engine.errors import UnitscopeError
from engine.figures.style import FigureOptions
from gui.dialogs.figure_dialog import FigureDialog

PT_PER_MM = 72 / 25.4


def test_dialog_defaults_are_what_journals_ask_for_and_presets_set_the_width(qtbot, tmp_path):
    dialog = FigureDialog(None, "feature maps", str(tmp_path / "maps.pdf"), mosaic=True)
    qtbot.addWidget(dialog)
    options = dialog.options()
    assert (options.width_mm, options.font_size, options.panel_letters) == (85.0, 7.0, True)
    assert dialog.path().endswith("maps.pdf") and not dialog.dpi_spin.isEnabled()  # vector: no DPI
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData(180.0))
    assert dialog.options().width_mm == 180.0
    dialog.width_spin.setValue(120.0)
    assert dialog.preset_combo.currentData() == 120.0  # a typed width that is a preset shows as one
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(".png"))
    assert dialog.path().endswith("maps.png") and dialog.dpi_spin.isEnabled()
    dialog.channels_edit.setText("0-3,9")
    dialog.top_spin.setValue(0)
    assert dialog.options().channels == (0, 1, 2, 3, 9)
    assert dialog.options().deg_per_image == 0.0 and dialog.angle_spin.text() == "not given"
    dialog.angle_spin.setValue(8.0)
    assert dialog.options().deg_per_image == 8.0  # scale bars then give degrees
    dialog.channels_edit.setText("three")
    with pytest.raises(UnitscopeError, match="not a channel list"):
        dialog.options()


def test_figure_of_the_feature_maps_is_drawn_from_the_recording(open_window, tmp_path):
    window = open_window()
    actions = {a.text().replace("&", ""): a for a in window.findChildren(QAction)}
    assert actions["Figure…"].shortcut() == QKeySequence("Ctrl+Shift+E")
    assert "Save screenshot of feature maps…" in actions and "Copy screenshot" in actions
    from gui.window.figure_menu import figure_data, save_figure

    data = figure_data(window, "feature maps")
    assert np.array_equal(data.arrays["values"], window.recording.values)  # the data, not the screen
    out = save_figure(window, "feature maps", str(tmp_path / "maps.pdf"), FigureOptions(width_mm=89, top_n=8))
    page = PdfReader(out).pages[0]
    assert float(page.mediabox.width) == pytest.approx(89 * PT_PER_MM, abs=1e-3)
    caption = (tmp_path / "maps.pdf.caption.txt").read_text()  # provenance in the caption, not the drawing
    assert "resnet18 (resnet18_test.pth)" in caption and "layer1" in caption
    assert "the 8 of 64 channels with the largest mean response" in caption
    assert (tmp_path / "maps.pdf.json").is_file()
    unit = save_figure(window, "unit", str(tmp_path / "unit.svg"), FigureOptions(width_mm=180))
    assert "feature map" in unit.read_text(encoding="utf-8")
    assert "Channel " in (tmp_path / "unit.svg.caption.txt").read_text()


def test_copy_methods_text_names_the_weights_file_and_layer(open_window):
    window = open_window()
    window.figure_action.parent()  # the action exists on the window
    from gui.window.figure_menu import copy_methods

    copy_methods(window)
    text = QApplication.clipboard().text()
    assert "resnet18_test.pth (SHA-256" in text and "layer1" in text and "He et al., 2016" in text


def test_an_analysis_view_gives_its_snapshot_as_figure_data(open_window, tmp_path):
    from engine.jobs.probe import ProbeSnapshot
    from gui.window.figure_menu import save_figure

    window = open_window()
    responses = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.25]])
    window.views["probe"].show_snapshot(ProbeSnapshot(["layer1[0](28,28)", "layer2[3](14,14)"],
                                                  ["cat.jpg", "rocket.jpg", "coffee.jpg"], responses, 3, 3, "strip"))
    data = window.views["probe"].figure_data()
    assert np.array_equal(data.arrays["responses"], responses)
    out = save_figure(window, "probe", str(tmp_path / "probe.svg"), FigureOptions())
    svg = out.read_text(encoding="utf-8")
    assert "layer2[3](14,14)" in svg and ">rocket<" in svg  # file suffixes dropped from labels


def test_ctrl_shift_e_opens_the_figure_dialog_for_the_feature_maps(open_window, qtbot):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    window = open_window()
    seen = []

    def close_dialog():
        for dialog in QApplication.topLevelWidgets():
            if isinstance(dialog, FigureDialog) and dialog.isVisible():
                seen.append((dialog.windowTitle(), dialog.options().width_mm, dialog.path()))
                dialog.reject()

    triggered = []
    window.figure_action.triggered.connect(lambda *_: triggered.append(True))
    QTimer.singleShot(500, close_dialog)
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert triggered == [True]
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    title, width, path = seen[0]
    assert title == "Figure of the feature maps" and width == 85.0 and path.endswith("layer1_feature_maps.pdf")


def test_orientation_reported_is_offered_for_orientation_figures_and_round_trips(qtbot, tmp_path):
    dialog = FigureDialog(None, "tuning curve", str(tmp_path / "t.pdf"), orientation=True)
    qtbot.addWidget(dialog)
    dialog.show()
    combo = dialog.orientation_combo
    assert combo.isVisible() and [combo.itemText(i) for i in range(combo.count())] == [
        "grating (\u03b8)", "bar (\u03b8 + 90\u00b0)"]
    assert dialog.options().orientation == "grating"
    combo.setCurrentIndex(combo.findData("bar"))
    assert dialog.options().orientation == "bar"
    again = FigureDialog(None, "tuning curve", str(tmp_path / "t.pdf"), orientation=True, options=dialog.options())
    qtbot.addWidget(again)
    assert again.orientation_combo.currentData() == "bar"  # the options remembered are shown
    other = FigureDialog(None, "feature maps", str(tmp_path / "m.pdf"), mosaic=True)
    qtbot.addWidget(other)
    other.show()
    assert not other.orientation_combo.isVisible()  # nothing there reports an orientation


def test_a_tuning_figure_saved_through_the_dialog_reports_bar_orientation(open_window, qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    from engine.jobs.tuning import TuningSnapshot
    from gui.window.figure_menu import save_figure

    window = open_window()
    theta = np.arange(0.0, 180.0, 15.0)
    metrics = {"preferred_deg": 30.0, "osi": 0.8, "circular_variance": 0.2, "bandwidth_deg": 25.0}
    f0 = np.cos(np.radians(theta - 30.0)) ** 2
    window.views["tuning"].finish(TuningSnapshot("layer1[5](28,28)", "orientation", theta, f0, 0 * f0, metrics,
                                                 12, 12))
    seen = []

    def choose_bar():
        dialogs = [d for d in QApplication.topLevelWidgets() if isinstance(d, FigureDialog) and d.isVisible()]
        if not dialogs:
            QTimer.singleShot(100, choose_bar)
            return
        dialog = dialogs[0]
        seen.append(dialog.orientation_combo.isVisible())
        dialog.orientation_combo.setCurrentIndex(dialog.orientation_combo.findData("bar"))
        dialog.path_edit.setText(str(tmp_path / "tuning.pdf"))
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()

    QTimer.singleShot(200, choose_bar)
    out = save_figure(window, "tuning")
    assert seen == [True] and out == tmp_path / "tuning.pdf"
    caption = (tmp_path / "tuning.pdf.caption.txt").read_text()
    assert "The figure reports the bars' orientation, \u03b8 + 90\u00b0." in caption
    assert "preferred bar orientation 120\u00b0" in caption  # a 30 deg grating is a 120 deg bar
    side = json.loads((tmp_path / "tuning.pdf.json").read_text())
    assert side["options"]["orientation"] == "bar"
    assert "bar orientation" in PdfReader(out).pages[0].extract_text()  # the axis says so too

    def look_and_cancel():  # the feature maps' dialog offers no orientation
        for dialog in QApplication.topLevelWidgets():
            if isinstance(dialog, FigureDialog) and dialog.isVisible():
                seen.append(dialog.orientation_combo.isVisible())
                dialog.reject()
                return
        QTimer.singleShot(100, look_and_cancel)

    QTimer.singleShot(200, look_and_cancel)
    assert save_figure(window, "feature maps") is None
    assert seen == [True, False]
