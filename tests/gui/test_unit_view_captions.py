"""The unit view's captions as drawn in a laptop-sized dock: the box's caption stays on the
thumbnail, and the histogram's tick labels never run into each other."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage, QPainter

from engine.anatomy.receptive_field import Field
from gui.widgets.unit_view import UnitView

# ViT-B/16's patch embedding: 16x16 px patches 16 px apart, a 14x14 map on a 224 px input.
PATCHES = Field(lo=(0.0, 0.0), hi=(15.0, 15.0), jump=(16.0, 16.0))
IMAGE = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)


@pytest.fixture
def view(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    widget = UnitView()
    qtbot.addWidget(widget)
    widget.resize(380, 330)  # the unit dock at 1366x768
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.mark.parametrize("y, x", [(13, 13), (0, 13), (13, 0), (6, 7)])
def test_the_rf_caption_stays_on_the_thumbnail(view, qtbot, y, x):
    view.show_unit(np.zeros((14, 14)), IMAGE, PATCHES, channel=0, layer="conv_proj")
    view.set_position(y, x)
    qtbot.wait(20)
    assert view.rf_caption() is not None and view.rf_caption().startswith("RF 16")
    caption = view._rf_label.textItem.sceneBoundingRect()
    thumbnail = view._input.sceneBoundingRect().adjusted(-1, -1, 1, 1)
    assert thumbnail.contains(caption), (caption, thumbnail)


def test_a_wider_thumbnail_gets_the_whole_caption(view, qtbot):
    view.resize(900, 900)
    view.show_unit(np.zeros((14, 14)), IMAGE, PATCHES, channel=0, layer="conv_proj")
    view.set_position(13, 13)
    qtbot.wait(20)
    assert view.rf_caption() == "RF 16x16 px, jump 16"
    assert view._input.sceneBoundingRect().adjusted(-1, -1, 1, 1).contains(view._rf_label.textItem.sceneBoundingRect())


@pytest.mark.parametrize("high", [0.0008, 3.3e-5, 12345.0, 1.0])
def test_histogram_tick_labels_do_not_collide(view, qtbot, high):
    values = np.linspace(0.0, high, 196).reshape(14, 14)
    view.show_unit(values, IMAGE, PATCHES, channel=0, layer="conv_proj")
    qtbot.wait(20)
    axis = view._hist_plot.getAxis("bottom")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    rects = sorted((rect for rect, _flags, _text in texts), key=lambda r: r.left())
    assert len(rects) >= 2, [t for _r, _f, t in texts]  # the axis still says where the values are
    for left, right in zip(rects, rects[1:]):
        assert left.right() < right.left(), [t for _r, _f, t in texts]
