"""What a newcomer sees in each view: nothing stale, defaults chosen by the data, keys that work.

Widget-level tests, no model: the values are made here and the expected answers are
computed independently (NumPy, torchvision's metadata).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.jobs.comparison import Compare, ComparisonSnapshot
from engine.jobs.population import Population
from engine.jobs.receptive_field import ReceptiveFieldSnapshot
from gui.widgets import colormaps
from gui.widgets.feature_map_panel import FeatureMapPanel
from gui.widgets.model_picker import ModelPicker, natural_key
from gui.analyses.population_view import PopulationView
from gui.analyses.receptive_field_view import INPUT_TITLE, ReceptiveFieldView
from gui.analyses.tuning_view import TuningView
from gui.widgets.unit_view import UnitView


@pytest.fixture
def panel(qtbot):
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(600, 500)
    widget.show()
    return widget


def test_histogram_re_ranges_after_a_layer_change(qtbot):
    view = UnitView()
    qtbot.addWidget(view)
    view.resize(400, 500)
    view.show()
    image = np.zeros((224, 224, 3), np.uint8)
    big = np.linspace(0, 150_000, 49).reshape(7, 7)  # a deep layer of a large model
    view.show_unit(big, image, None, channel=3, layer="layer4")
    (x0, x1), _ = view.histogram_range()
    assert x1 > 100_000
    small = np.linspace(-0.5, 1.5, 56 * 56).reshape(56, 56)
    view.show_unit(small, image, None, channel=0, layer="layer1.1")
    (x0, x1), (y0, y1) = view.histogram_range()
    edges, counts = view.histogram()
    assert edges[0] == pytest.approx(-0.5) and edges[-1] == pytest.approx(1.5)
    # The axis spans this histogram (with 2 % padding), not the last one's 0..150,000.
    assert -0.6 < x0 < -0.5 and 1.5 < x1 < 1.6
    assert y1 < counts.max() * 1.1 and y1 >= counts.max()


def test_clearing_the_unit_view_removes_the_histogram(qtbot):
    view = UnitView()
    qtbot.addWidget(view)
    view.show_unit(np.arange(16.0).reshape(4, 4), np.zeros((32, 32, 3), np.uint8), None, 1, "conv1")
    assert view.histogram()[1].sum() == 16
    view.clear()
    edges, counts = view.histogram()
    assert edges.size == 0 and counts.size == 0
    assert view._hist.curve.getData()[0] is None or len(view._hist.curve.getData()[0]) == 0  # nothing drawn


def test_one_by_one_maps_are_drawn_as_bars(panel):
    values = np.random.default_rng(0).normal(size=(512, 1, 1)).astype(np.float32)
    panel.show_output(values, "avgpool")
    assert panel.is_bar_plot() and panel.current_mosaic is None
    x, height = panel._bars.opts["x"], panel._bars.opts["height"]
    assert len(x) == 512
    np.testing.assert_array_equal(height, values.reshape(-1))
    assert "512 channels of 1×1" in panel._info.text()


def test_signed_values_open_in_a_diverging_map_until_the_user_picks_one(panel):
    rng = np.random.default_rng(1)
    panel.show_output(rng.normal(size=(8, 6, 6)).astype(np.float32), "bn1")
    assert panel.colormap_name == colormaps.DEFAULT_DIVERGING
    assert panel.current_mosaic is not None
    # The mosaic shown is the zero-centred one: zero maps to the middle of the table.
    assert panel.current_mosaic is panel._mosaics[(panel.normalization, True)]
    panel.show_output(np.abs(rng.normal(size=(8, 6, 6))).astype(np.float32), "relu")
    assert panel.colormap_name == colormaps.DEFAULT
    assert not panel.colormap_chosen
    # A colormap the user picks stays, whatever the data.
    panel._cmap_combo.setCurrentIndex(colormaps.NAMES.index("magma"))
    panel._cmap_combo.activated.emit(colormaps.NAMES.index("magma"))
    panel.show_output(rng.normal(size=(8, 6, 6)).astype(np.float32), "bn1")
    assert panel.colormap_name == "magma" and panel.colormap_chosen


def test_classifier_output_names_the_classes_and_its_top_five(panel):
    from torchvision.models import ResNet18_Weights

    names = ResNet18_Weights.DEFAULT.meta["categories"]
    logits = np.random.default_rng(2).normal(size=1000).astype(np.float32)
    panel.set_model_name("resnet18")
    panel.set_class_names(names)
    panel.show_output(logits, "")
    order = np.argsort(logits)[::-1][:5]
    assert [i for i, _n, _v in panel.top_predictions()] == order.tolist()
    assert [n for _i, n, _v in panel.top_predictions()] == [names[i] for i in order]
    info = panel._info.text()
    assert info.startswith("resnet18 output: 1000 values") and names[order[0]] in info
    assert [item.toPlainText() for item in panel._top_labels] == [names[i] for i in order]
    # A vector of another length is not taken for classes.
    panel.show_output(logits[:10], "fc_small")
    assert panel.top_predictions() == [] and panel._top_labels == []


def test_tiles_carry_channel_numbers_when_large_enough(panel, qtbot):
    panel.show_output(np.random.default_rng(3).random((16, 28, 28)).astype(np.float32), "layer1")
    qtbot.waitUntil(lambda: panel.channel_numbers_shown() == list(range(16)), timeout=3000)
    panel.show_output(np.random.default_rng(3).random((1024, 2, 2)).astype(np.float32), "layer4")
    assert panel.channel_numbers_shown() == []  # too many: only the hover read-out names them


def test_receptive_field_view_forgets_the_last_units_legend(qtbot):
    view = ReceptiveFieldView()
    qtbot.addWidget(view)
    image = np.zeros((64, 64, 3), np.uint8)
    gradient = np.zeros((64, 64))
    gradient[10:20, 10:20] = 1.0
    snap = ReceptiveFieldSnapshot("layer1[3](4,4)", image, (5, 5, 30, 30), (10, 10, 19, 19), gradient,
                                  None, None, 1, 0, 1, 1)
    view.finish(snap)
    assert "theoretical" in view.input_plot.plot.titleLabel.text
    view.clear()  # a model switch
    assert view.input_plot.plot.titleLabel.text == INPUT_TITLE
    assert view.shown_box("theoretical") is None and view.boxes_label.text().strip() == ""


def test_population_header_names_the_plotted_layer_and_colours_start_fresh(qtbot):
    view = PopulationView()
    qtbot.addWidget(view)
    view.set_layer("layer3")
    view.started(Compare("layer3", "layer4"))
    rdm = np.full((3, 3), 7.0)
    np.fill_diagonal(rdm, 0.0)
    snap = ComparisonSnapshot("layer3", "layer4", "flat", ["a", "b", "c"], np.zeros(3), rdm, rdm / 7, 0.5, 0.5,
                              10, 10, 3, 3)
    view.finish(snap)
    assert view.colorbar.levels() == pytest.approx((0.0, 7.0))
    view.set_layer("layer1")  # the user clicks another layer: the plots are still layer3's
    assert "layer3" in view.header_text() and "layer1" in view.header_text()
    assert view.header_text().startswith("Plots: layer3")
    view.started(Population("layer1"))
    assert view.colorbar.levels() == pytest.approx((0.0, 1.0))
    assert view.colorbar_b.levels() == pytest.approx((0.0, 1.0))
    assert view.header_text() == "Layer: layer1"


def test_sf_axis_reads_as_frequencies(qtbot):
    view = TuningView()
    qtbot.addWidget(view)
    view._set_axis("sf_rf")
    axis = view.plot.getAxis("bottom")
    assert not axis.autoSIPrefix
    labels = {round(v, 6): text for v, text in axis._tickLevels[0]}
    assert labels[0.0] == "1" and labels[round(np.log10(4), 6)] == "4" and labels[round(np.log10(0.25), 6)] == "0.25"
    assert view.position_combo.currentData() == "box"  # the clicked unit by default


CATALOGUE = {"ResNet": [("resnet101", False), ("resnet152", False), ("resnet18", True), ("resnet34", False)],
             "AlexNet": [("alexnet", False)]}


def test_model_list_in_natural_order_with_readable_headers(qtbot):
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_catalogue(CATALOGUE)
    assert picker.model_names() == ["resnet18", "resnet34", "resnet101", "resnet152", "alexnet"]
    assert sorted(["resnet101", "resnet18", "vgg11", "vgg9"], key=natural_key) == ["resnet18", "resnet101",
                                                                                     "vgg9", "vgg11"]
    header = picker._items.item(0)
    assert header.isEnabled() and not header.isSelectable() and header.font().bold()


def test_enter_opens_the_typed_model_or_says_what_is_close(qtbot):
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_catalogue(CATALOGUE)
    picker.set_current("alexnet")
    picker.show()
    edit = picker.combo.lineEdit()
    edit.setText("ResNet34")
    with qtbot.waitSignal(picker.model_chosen, timeout=2000) as chosen:
        QTest.keyClick(edit, Qt.Key.Key_Return)
    assert chosen.args == ["resnet34"]
    edit.setText("resnt18")
    with qtbot.waitSignal(picker.problem, timeout=2000) as problem:
        QTest.keyClick(edit, Qt.Key.Key_Return)
    assert problem.args[0].startswith("No model is called 'resnt18'. Did you mean resnet18")
