"""FeatureMapPanel: what the user sees for known feature maps, clicks and hovers.

The panel paints what the engine made ready (:func:`engine.recording.mosaic.display_values`, as the
engine thread does for a recording): NumPy values and uint8 mosaics, no tensors.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.recording.mosaic import MOSAIC_VARIANTS, display_values, make_mosaic
from gui.widgets import colormaps
from gui.widgets.feature_map_panel import FeatureMapPanel, tile_grid


@pytest.fixture
def panel(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _viewport_point(panel, y, x):
    """Viewport pixel over mosaic pixel (y, x), once the view has been painted."""
    panel._map_view.viewport().repaint()  # the view's transform is updated when it paints
    scene = panel._image.mapToScene(QtCore.QPointF(x + 0.5, y + 0.5))
    return panel._map_view.mapFromScene(scene)


def show(panel, output, layer):
    """Show ``output`` as the window does: values made ready by the engine, then painted."""
    shown = display_values(output)
    assert isinstance(shown.values, np.ndarray)
    panel.show_values(shown, layer)
    return shown


def _image_items(panel):
    return [i for i in panel.export_target().getViewBox().addedItems if isinstance(i, pg.ImageItem)]


def test_mosaic_is_make_mosaic_image_and_on_screen(panel):
    fmap = np.arange(4 * 5 * 5, dtype=np.float32).reshape(4, 5, 5) ** 1.5
    with_signal = []
    panel.render_finished.connect(with_signal.append)
    show(panel, fmap, "conv1")
    expected = make_mosaic(fmap).image
    np.testing.assert_array_equal(panel.mosaic_image(), expected)
    np.testing.assert_array_equal(panel._image.image, expected)
    assert panel.mosaic_image().dtype == np.uint8
    assert len(with_signal) == 1 and with_signal[0] >= 0
    assert "conv1: 4 channels, 5x5" in panel._info.text()
    assert "range [0, " in panel._info.text()


def test_shared_normalization_matches_engine(panel):
    fmap = np.array([[[0.0, 1.0], [2.0, 3.0]], [[0.0, 10.0], [20.0, 30.0]], [[5.0, 5.0], [5.0, 5.0]]],
                    dtype=np.float32)
    panel.set_normalization("shared")
    shown = show(panel, fmap, "x")
    np.testing.assert_array_equal(panel.mosaic_image(), make_mosaic(fmap, normalize="shared").image)
    panel.set_normalization("channel")
    np.testing.assert_array_equal(panel.mosaic_image(), make_mosaic(fmap).image)
    # switching the scale paints the engine's other ready mosaic; nothing is computed here
    assert panel.mosaic_image() is shown.mosaics[("channel", False)].image


def test_thousands_of_channels_use_one_image_item(panel):
    show(panel, np.random.default_rng(0).random((2048, 7, 7), dtype=np.float32), "layer4")
    assert len(_image_items(panel)) == 1
    assert panel.current_mosaic.n_channels == 2048
    assert panel.mosaic_image().shape == make_mosaic(np.zeros((2048, 7, 7))).image.shape


def test_click_on_tile_emits_its_channel(panel, qtbot):
    show(panel, np.random.default_rng(1).random((16, 6, 6), dtype=np.float32), "conv")
    mosaic = panel.current_mosaic
    for channel in (0, 5, 15):
        y0, x0 = mosaic.tile_origin(channel)
        point = _viewport_point(panel, y0 + 2, x0 + 3)
        with qtbot.waitSignal(panel.channel_clicked, check_params_cb=lambda c, ch=channel: c == ch):
            QTest.mouseClick(panel._map_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
        assert panel.selected_channel == channel
        assert panel._highlight[1].isVisible()
        assert panel._highlight[1].rect() == QtCore.QRectF(x0 - 0.5, y0 - 0.5, 7, 7)


def test_hover_shows_raw_value(panel, qtbot):
    fmap = np.zeros((9, 4, 4), dtype=np.float32)
    fmap[7, 1, 2] = -3.25
    show(panel, fmap, "conv")
    y0, x0 = panel.current_mosaic.tile_origin(7)
    with qtbot.waitSignal(panel.hovered, check_params_cb=lambda c, y, x: (c, y, x) == (7, 1, 2)):
        QTest.mouseMove(panel._map_view.viewport(), _viewport_point(panel, y0 + 1, x0 + 2))
    assert panel._readout.text() == "channel 7, (1, 2) = -3.25"


def test_vector_is_a_bar_plot(panel):
    values = np.array([3.0, -1.0, 0.5, 2.0, 7.0], dtype=np.float32)
    show(panel, values, "fc")
    bars = [i for i in panel.export_target().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 1
    np.testing.assert_array_equal(bars[0].opts["height"], values)
    assert len(bars[0].opts["x"]) == 5
    assert panel.current_mosaic is None and panel.mosaic_image() is None
    assert panel._plots.currentWidget() is panel._bar_view
    assert "fc: 5 values" in panel._info.text()


def test_tokens_are_shown_as_a_grid(panel):
    # class token + 4x4 patch grid, 8 dims
    tokens = np.random.default_rng(2).standard_normal((1 + 16, 8), dtype=np.float32)
    show(panel, tokens, "encoder.layer_3")
    mosaic = panel.current_mosaic
    assert (mosaic.n_channels, mosaic.tile_h, mosaic.tile_w) == (8, 4, 4)
    grid = tokens[1:].T.reshape(8, 4, 4)
    # Signed tokens open in the diverging map: the zero-centred mosaic (zero in the middle).
    assert panel.colormap_name == colormaps.DEFAULT_DIVERGING
    np.testing.assert_array_equal(panel.mosaic_image(), make_mosaic(grid, symmetric=True).image)


def test_diverging_colormap_maps_zero_to_the_middle(panel):
    fmap = np.array([[[-2.0, 0.0], [1.0, 0.5]], [[0.0, 4.0], [-1.0, 3.0]]], dtype=np.float32)
    show(panel, fmap, "x")
    panel.set_colormap(colormaps.DEFAULT_DIVERGING)
    assert colormaps.is_diverging(panel.colormap_name)
    image = panel.mosaic_image()
    np.testing.assert_array_equal(image, make_mosaic(fmap, symmetric=True).image)
    m = panel.current_mosaic
    for c, y, x in ((0, 0, 1), (1, 0, 0)):
        y0, x0 = m.tile_origin(c)
        assert image[y0 + y, x0 + x] == 128
    lut = panel._image.lut
    np.testing.assert_array_equal(lut, colormaps.lut("CET-D1"))
    middle = pg.colormap.get("CET-D1").map(0.5, mode="byte")[:3]
    assert np.abs(lut[128].astype(int) - middle).max() <= 3


def test_clear_shows_nothing(panel):
    show(panel, np.random.default_rng(3).random((3, 2, 2), dtype=np.float32), "x")
    panel.clear()
    assert panel.mosaic_image() is None and panel.current_mosaic is None
    assert panel._image.image is None


def test_grid_covers_exactly_the_pixels_without_data(panel):
    show(panel, np.random.default_rng(0).random((7, 3, 4)), "x")
    m = panel.current_mosaic
    assert (m.rows, m.cols) == (3, 3)  # two empty tiles at the end
    path, empty = tile_grid(m)
    assert panel._grid.path() == path and panel._empty.rect() == empty
    stroke = QtGui.QPainterPathStroker(panel._grid.pen()).createStroke(path)
    for y in range(m.image.shape[0]):
        for x in range(m.image.shape[1]):
            centre = QtCore.QPointF(x + 0.5, y + 0.5)
            covered = stroke.contains(centre) or empty.contains(centre)
            assert covered == (m.channel_at(y, x) is None), (y, x)


def test_vector_hover_and_click(panel, qtbot):
    show(panel, np.array([1.0, -2.5, 4.0]), "logits")
    assert not panel._cmap_combo.isEnabled()
    panel._bar_view.viewport().repaint()
    vb = panel.export_target().getViewBox()
    point = panel._bar_view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(1.1, -1.0)))
    QTest.mouseMove(panel._bar_view.viewport(), point)
    qtbot.waitUntil(lambda: panel._readout.text() == "unit 1 = -2.5")
    with qtbot.waitSignal(panel.channel_clicked, check_params_cb=lambda c: c == 1):
        QTest.mouseClick(panel._bar_view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_every_scale_and_colormap_paints_a_mosaic_the_engine_made(panel):
    fmap = np.random.default_rng(4).standard_normal((5, 3, 4)).astype(np.float32)
    shown = show(panel, fmap, "x")
    assert set(shown.mosaics) == set(MOSAIC_VARIANTS)
    for mode in ("channel", "shared"):
        for cmap in ("viridis", colormaps.DEFAULT_DIVERGING):
            panel.set_normalization(mode)
            panel.set_colormap(cmap)
            symmetric = colormaps.is_diverging(cmap)
            assert panel.mosaic_image() is shown.mosaics[(mode, symmetric)].image
            np.testing.assert_array_equal(panel.mosaic_image(),
                                          make_mosaic(fmap, normalize=mode, symmetric=symmetric).image)
            np.testing.assert_array_equal(panel._image.lut, colormaps.lut(cmap))


def test_show_recording_paints_the_recordings_mosaic_and_reads_its_values(panel, qtbot):
    from engine.session.values import Recording, Stimulus

    fmap = np.zeros((4, 3, 3), dtype=np.float32)
    fmap[2, 0, 1] = 1.5
    shown = display_values(fmap)
    recording = Recording(layer="conv", output=fmap, input_image=np.zeros((6, 6, 3), np.uint8), forward_s=0.0,
                          stimulus=Stimulus("procedural", "gabor"), kind=shown.kind, values=shown.values,
                          mosaics=shown.mosaics, top_channel=shown.top_channel)
    panel.show_recording(recording)
    np.testing.assert_array_equal(panel.mosaic_image(), make_mosaic(fmap).image)
    assert "conv: 4 channels, 3x3" in panel._info.text()
    y0, x0 = panel.current_mosaic.tile_origin(2)
    with qtbot.waitSignal(panel.hovered, check_params_cb=lambda c, y, x: (c, y, x) == (2, 0, 1)):
        QTest.mouseMove(panel._map_view.viewport(), _viewport_point(panel, y0, x0 + 1))
    assert panel._readout.text() == "channel 2, (0, 1) = 1.5"


def test_show_output_makes_the_same_values_for_scripts(panel):
    fmap = np.random.default_rng(5).random((6, 4, 4), dtype=np.float32)
    panel.show_output(fmap, "conv")
    np.testing.assert_array_equal(panel.mosaic_image(), make_mosaic(fmap).image)
