"""UnitView: receptive-field box, map placement, histogram and weights as shown."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from engine.anatomy.receptive_field import Field
from gui.widgets.unit_view import UnitView

# A 7x7 convolution, stride 2, padding 3 on a 16x16 input: an 8x8 map.
FIELD = Field(lo=(-3.0, -3.0), hi=(3.0, 3.0), jump=(2.0, 2.0))
IMAGE = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)


@pytest.fixture
def view(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    widget = UnitView()
    qtbot.addWidget(widget)
    widget.resize(500, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _map(h=8, w=8):
    return np.arange(h * w, dtype=np.float32).reshape(h, w) - 10


def test_rf_box_is_field_box(view):
    view.show_unit(_map(), IMAGE, FIELD, channel=3, layer="conv1")
    view.set_position(2, 5)
    assert view.position == (2, 5)
    assert view.rf_box() == (1.0, 7.0, 7.0, 13.0)  # top, left, bottom, right
    assert view.rf_box_rect() == QtCore.QRectF(7, 1, 7, 7)
    assert "RF 7x7 px, jump 2" in view._rf_label.toPlainText()
    assert "rows 1..7, columns 7..13" in view._readout.text()


def test_rf_box_is_clipped_on_screen_not_in_numbers(view):
    view.show_unit(_map(), IMAGE, FIELD, channel=0, layer="conv1")
    view.set_position(0, 7)
    assert view.rf_box() == (-3.0, 11.0, 3.0, 17.0)
    assert view.rf_box_rect() == QtCore.QRectF(11, 0, 5, 4)
    assert "rows -3..3, columns 11..17" in view._readout.text()


def test_map_covers_jump_sized_cells_centred_on_fields(view):
    view.show_unit(_map(), IMAGE, FIELD, channel=0, layer="conv1")
    rect = view._overlay.mapRectToParent(view._overlay.boundingRect())
    assert rect == QtCore.QRectF(-0.5, -0.5, 16, 16)
    view.set_position(3, 4)  # field centred on pixel (6, 8): cell spans 5.5..7.5 x 7.5..9.5
    assert view._cell.rect() == QtCore.QRectF(7.5, 5.5, 2, 2)


def test_starts_at_the_most_active_unit_and_hover_moves_the_box(view, qtbot):
    values = np.zeros((8, 8), dtype=np.float32)
    values[6, 1] = 5.0
    view.show_unit(values, IMAGE, FIELD, channel=0, layer="conv1")
    assert view.position == (6, 1)
    view._canvas.viewport().repaint()  # the view's transform is updated when it paints
    scene = view._input.mapToScene(QtCore.QPointF(8.2, 4.2))  # pixel (4, 8): unit (2, 4)
    with qtbot.waitSignal(view.position_changed, check_params_cb=lambda y, x: (y, x) == (2, 4)):
        QTest.mouseMove(view._canvas.viewport(), view._canvas.mapFromScene(scene))
    assert view.rf_box() == FIELD.box(2, 4)


def test_histogram_counts_every_unit(view):
    values = np.random.default_rng(1).normal(size=(13, 11))
    view.show_unit(values, IMAGE, None, channel=1, layer="tokens")
    edges, counts = view.histogram()
    assert counts.sum() == 13 * 11
    assert len(edges) == len(counts) + 1
    assert edges[0] == values.min() and edges[-1] == values.max()
    assert view.rf_box_rect() is None and view.rf_box() is None


def test_rgb_weights_are_shown_normalised(view):
    weights = np.random.default_rng(2).normal(size=(3, 7, 7))
    view.show_unit(_map(), IMAGE, FIELD, channel=0, layer="conv1", weights=weights)
    shown = view._weights.image
    assert shown.shape == (7, 7, 3) and shown.dtype == np.uint8
    assert shown.min() == 0 and shown.max() == 255
    assert np.argmax(shown[..., 1]) == np.argmax(weights[1])


def test_deep_weights_are_the_mean_over_inputs(view):
    weights = np.random.default_rng(3).normal(size=(64, 3, 3))
    view.show_unit(_map(4, 4), IMAGE, FIELD, channel=0, layer="layer1.0.conv1", weights=weights)
    np.testing.assert_allclose(view._weights.image, weights.mean(axis=0))
    lo, hi = view._weights.levels
    assert lo == -hi  # symmetric: zero is the middle of the diverging map


def test_clear(view):
    view.show_unit(_map(), IMAGE, FIELD, channel=0, layer="conv1")
    view.clear()
    assert view.position is None and view.rf_box_rect() is None
