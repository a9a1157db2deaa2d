"""Channel numbers on the feature-map tiles, measured in the pixels drawn: at 128 channels
they cover little of each tile, and tiles too small for them all show the hovered one's."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF

from gui.widgets.feature_map_panel import FeatureMapPanel


@pytest.fixture
def panel(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(560, 480)  # the feature maps' share of a 1366x768 window
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def drawn(panel, qtbot) -> np.ndarray:
    qtbot.wait(30)
    image = panel._map_view.grab().toImage().convertToFormat(pg.QtGui.QImage.Format.Format_RGB32)
    return pg.functions.ndarray_from_qimage(image)[..., :3].astype(int).copy()


def tile_rects(panel) -> list[tuple[int, int, int, int]]:
    """Each tile's pixels in the view widget: (top, left, bottom, right), exclusive ends."""
    m = panel.current_mosaic
    rects = []
    for c in range(m.n_channels):
        y0, x0 = m.tile_origin(c)
        a = panel._map_view.mapFromScene(panel._image.mapToScene(QPointF(x0, y0)))
        b = panel._map_view.mapFromScene(panel._image.mapToScene(QPointF(x0 + m.tile_w, y0 + m.tile_h)))
        rects.append((a.y() + 1, a.x() + 1, b.y() - 1, b.x() - 1))  # inside the grid lines
    return rects


def covered(with_numbers: np.ndarray, without: np.ndarray, rect) -> float:
    top, left, bottom, right = rect
    changed = np.any(with_numbers[top:bottom, left:right] != without[top:bottom, left:right], axis=-1)
    return float(changed.mean())


def maps(n: int, size: int) -> np.ndarray:
    return np.random.default_rng(n).random((n, size, size)).astype(np.float32)


def test_numbers_cover_little_of_each_tile_at_128_channels(panel, qtbot):
    panel.show_output(maps(128, 28), "layer2")
    qtbot.waitUntil(lambda: panel.channel_numbers_shown() == list(range(128)), timeout=3000)
    shown = drawn(panel, qtbot)
    rects = tile_rects(panel)
    assert rects[0][3] - rects[0][1] >= 26  # tiles large enough to be numbered at this size
    for item in panel._numbers:
        item.setOpacity(0.0)  # the same scene, the numbers drawn in nothing
    bare = drawn(panel, qtbot)
    cover = [covered(shown, bare, rect) for rect in rects]
    assert min(cover) > 0.01  # every tile carries its number...
    # ...on at most a seventh of its pixels (white numbers on a plate covered 28 % of the
    # three-digit tiles here)
    assert max(cover) <= 0.15, max(cover)
    font_px = panel._numbers[127].font().pixelSize()
    assert 7 <= font_px <= 11


def test_small_tiles_show_the_number_of_the_tile_under_the_mouse(panel, qtbot):
    panel.resize(330, 300)
    panel.show_output(maps(128, 28), "layer2")
    qtbot.wait(30)
    assert panel.channel_numbers_shown() == []  # too small for every number
    bare = drawn(panel, qtbot)
    m = panel.current_mosaic
    y0, x0 = m.tile_origin(37)
    centre = panel._image.mapToScene(QPointF(x0 + m.tile_w / 2, y0 + m.tile_h / 2))
    panel._mouse_moved(centre)
    assert panel.channel_numbers_shown() == [37]
    hovered = drawn(panel, qtbot)
    rects = tile_rects(panel)
    cover = [covered(hovered, bare, rect) for rect in rects]
    assert cover[37] > 0.01 and max(cover[:37] + cover[38:]) == 0.0  # drawn on that tile only
    panel._mouse_moved(QPointF(-50, -50))  # off the maps
    assert panel.channel_numbers_shown() == []
