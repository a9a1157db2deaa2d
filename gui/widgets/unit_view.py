"""One channel in detail: its map over the input, a unit's receptive field, values, weights.

Where a map is drawn on the input
---------------------------------
Input pixel ``i`` covers ``[i, i + 1)`` in the view.  A unit's receptive field
(:class:`engine.anatomy.receptive_field.Field`) is centred on input pixel index
``field.start + (y, x) * field.jump``, i.e. at view coordinate ``start + y * jump + 0.5``.
Each map unit ``(y, x)`` is drawn as a ``jump``-sized cell centred there, so the whole
(H, W) map covers the rectangle

    left = start_x + 0.5 - jump_x / 2,  top = start_y + 0.5 - jump_y / 2,
    width = W * jump_x,  height = H * jump_y

(nearest-neighbour upsampling; the cells tile exactly).  A field that depends on the
position (window or global attention: ViT's and Swin's token grids) is centred on no
``start + y * jump``: its units' own cells (patches) tile the input from its corner,
``W * jump_x`` by ``H * jump_y``.  Without a field the map is stretched over the whole input.  The receptive-field box of unit
``(y, x)`` is ``Field.box(y, x)`` -- inclusive pixels ``top..bottom``, ``left..right``,
drawn as ``QRectF(left, top, right - left + 1, bottom - top + 1)`` clipped to the image;
the numbers in the read-out are not clipped.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetricsF

from engine.recording.unit import LayerRef
from gui.widgets import colormaps

if TYPE_CHECKING:  # the modules import torch; the window builds this view before torch has loaded
    from engine.anatomy.receptive_field import Field
    from engine.session.values import Recording

log = logging.getLogger(__name__)

_RF_PEN = pg.mkPen("#ffd60a", width=2, cosmetic=True)
_CELL_PEN = pg.mkPen("w", width=1, style=Qt.PenStyle.DashLine, cosmetic=True)


KIND_NOTES = {
    "gated": "the box is the convolutional path; a squeeze-excitation gate that sees the whole "
             "image scales this channel",
    "window": "window attention: the field depends on the unit's position (its window is shown)",
    "global": "global attention: every unit sees the whole image",
}
"""What the read-out adds for a field that is more than a box (the card's Receptive field says
the same kind)."""


def _fmt(v: float) -> str:
    return f"{v:g}"


def map_rect(shape: tuple[int, int], field: Field | None, image_size: tuple[int, int]) -> QtCore.QRectF:
    """View rectangle covered by an (H, W) map drawn over an input of ``image_size`` (h, w)."""
    h, w = shape
    if field is None:
        return QtCore.QRectF(0, 0, image_size[1], image_size[0])
    (sy, sx), (jy, jx) = field.start, field.jump
    if field.table is not None:  # attention fields: the patches tile the input from its corner
        return QtCore.QRectF(0, 0, w * jx, h * jy)
    return QtCore.QRectF(sx + 0.5 - jx / 2, sy + 0.5 - jy / 2, w * jx, h * jy)


def rf_captions(field: Field) -> list[str]:
    """The box's caption, longest first: the view draws the longest that fits the thumbnail."""
    (sh, sw), (jy, jx) = field.size, field.jump
    size = f"{_fmt(sh)}x{_fmt(sw)}" if sh != sw else _fmt(sh)
    jump = _fmt(jy) + ("" if jy == jx else f"x{_fmt(jx)}")
    kind = {"gated": " + gate", "window": ", window", "global": ", global"}.get(field.kind, "")
    return [f"RF {_fmt(sh)}x{_fmt(sw)} px{kind}, jump {jump}", f"RF {size} px{kind}", f"RF {size}{kind}",
            f"RF {size}"]


class SparseAxis(pg.AxisItem):
    """A horizontal axis whose tick labels never run into each other.

    The spacing of its ticks grows (1, 2, 5 x 10^k) until the widest label fits between two
    ticks with a gap; of those spacings the first that leaves two labels on the axis (a
    label may reach ``OVERHANG`` px past its ends) is taken.
    """

    GAP = 10  # px between two labels
    OVERHANG = 16  # px a label at an end may reach past the axis

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        self.setStyle(hideOverlappingLabels=self.OVERHANG)

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 - pyqtgraph
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or size <= 0 or maxVal <= minVal or self.orientation not in ("top", "bottom"):
            return levels
        metrics = QFontMetricsF(self.style["tickFont"] or self.font())
        spacing, chosen = levels[0][0], None
        for _ in range(30):
            first = math.ceil(minVal / spacing) * spacing
            values = [first + k * spacing for k in range(int((maxVal - first) / spacing + 1e-9) + 1)]
            labels = self.tickStrings(values, self.autoSIPrefixScale * self.scale, spacing)
            widths = [metrics.horizontalAdvance(text) for text in labels]
            if size * spacing / (maxVal - minVal) >= max(widths, default=0.0) + self.GAP:
                chosen = chosen or spacing  # the first spacing whose labels do not collide
                shown = sum(1 for v, w in zip(values, widths)
                            if -self.OVERHANG <= (v - minVal) / (maxVal - minVal) * size - w / 2
                            and (v - minVal) / (maxVal - minVal) * size + w / 2 <= size + self.OVERHANG)
                if shown >= 2:
                    return [(spacing, 0.0)]
                if len(values) < 2:
                    break  # wider spacings show fewer still
            exponent = math.floor(math.log10(spacing))
            mantissa = round(spacing / 10 ** exponent, 6)
            spacing = (2 if mantissa < 2 else 5 if mantissa < 5 else 10) * 10 ** exponent
        return [(chosen or spacing, 0.0)]


def _image_plot(layout: pg.GraphicsLayout, row: int, col: int, **kwargs) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=col, **kwargs)
    for axis in ("left", "bottom"):
        plot.hideAxis(axis)
    plot.setAspectLocked(True)
    plot.invertY(True)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    return plot


class UnitView(QtWidgets.QWidget):
    """A channel's map over the input, a unit's receptive field, histogram and weights.

    Signals
    -------
    position_changed(int, int)
        The unit (y, x) whose receptive field is drawn changed.
    """

    position_changed = Signal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._map: np.ndarray | None = None
        self._field: Field | None = None
        self._position: tuple[int, int] | None = None
        self._pinned = False
        self._title = QtWidgets.QLabel("Click a channel to see it here", wordWrap=True)
        self._readout = QtWidgets.QLabel(" ", wordWrap=True)
        self._readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._opacity = QtWidgets.QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=55,
                                          toolTip="Opacity of the channel map over the input")
        self._opacity.valueChanged.connect(lambda v: self._overlay.setOpacity(v / 100))

        self._canvas = pg.GraphicsLayoutWidget()
        self._canvas.setMinimumHeight(170)  # never crushed to a sliver: the dock scrolls instead
        layout = self._canvas.ci
        self._input_plot = _image_plot(layout, 0, 0, colspan=2)
        self._input = pg.ImageItem(axisOrder="row-major")
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._overlay.setOpacity(self._opacity.value() / 100)
        self._cell = QtWidgets.QGraphicsRectItem()
        self._cell.setPen(_CELL_PEN)
        self._rf = QtWidgets.QGraphicsRectItem()
        self._rf.setPen(_RF_PEN)
        self._rf_label = pg.TextItem(color="#ffd60a", fill=(0, 0, 0, 160), anchor=(0, 0))
        for item in (self._input, self._overlay, self._cell, self._rf, self._rf_label):
            self._input_plot.addItem(item)
            item.setVisible(False)

        self._hist_plot = layout.addPlot(row=1, col=0, title="values",
                                         axisItems={"bottom": SparseAxis("bottom")})
        self._hist_plot.setMenuEnabled(False)
        self._hist_plot.setLabel("left", "units")
        self._hist = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(90, 160, 230, 150),
                                     pen=pg.mkPen((90, 160, 230), width=1))
        self._hist_plot.addItem(self._hist)
        self._value_line = pg.InfiniteLine(angle=90, pen=_RF_PEN)
        # Never part of the auto range: the last unit's value would stretch the next axis.
        self._hist_plot.addItem(self._value_line, ignoreBounds=True)
        self._hist_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self._weights_plot = _image_plot(layout, 1, 1, title="weights")
        self._weights = pg.ImageItem(axisOrder="row-major")
        self._weights_plot.addItem(self._weights)
        layout.layout.setRowStretchFactor(0, 3)
        layout.layout.setRowStretchFactor(1, 1)
        # The box's caption stays on the thumbnail, however small the dock makes it.
        self._input_plot.getViewBox().sigResized.connect(self._place_rf_label)
        self._input_plot.getViewBox().sigRangeChanged.connect(self._place_rf_label)
        self._canvas.scene().sigMouseMoved.connect(self._mouse_moved)
        self._canvas.scene().sigMouseClicked.connect(self._mouse_clicked)

        opacity_row = QtWidgets.QHBoxLayout()
        opacity_row.addWidget(QtWidgets.QLabel("Map opacity"))
        opacity_row.addWidget(self._opacity, 1)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(self._title)
        box.addLayout(opacity_row)
        box.addWidget(self._canvas, 1)
        box.addWidget(self._readout)

    # -- public API -----------------------------------------------------------------
    def show_unit(self, channel_map: np.ndarray, input_image: np.ndarray, field: Field | None,
                  channel: int, layer: str, weights: np.ndarray | None = None) -> None:
        """Show one channel of ``layer`` for the current stimulus.

        Parameters
        ----------
        channel_map : ndarray, shape (H, W)
            The channel's raw values.
        input_image : ndarray of uint8, shape (S, S, 3)
            The model input after preprocessing, as shown to the user.
        field : Field or None
            The layer's receptive field; None for outputs that are not spatial maps.
        channel : int
            The channel's index, for the caption.
        layer : str
            The layer's name, for the caption.
        weights : ndarray, shape (in, kh, kw), optional
            The channel's convolution kernel: shown as RGB when ``in == 3``, else the
            mean over input channels with a diverging colormap.
        """
        channel_map = np.array(channel_map, dtype=np.float64)
        input_image = np.asarray(input_image)
        if channel_map.ndim != 2:
            raise ValueError(f"channel_map must be (H, W), not {channel_map.shape}")
        keep = (self._pinned and self._map is not None and self._map.shape == channel_map.shape)
        self._map, self._field = channel_map, field
        self._title.setText(f"{layer}, channel {channel}: {channel_map.shape[0]}x{channel_map.shape[1]} map")
        self._input.setImage(input_image, autoLevels=False, levels=(0, 255))
        self._input.setVisible(True)
        self._show_overlay(channel_map, input_image.shape[:2])
        self._show_histogram(channel_map)
        self._show_weights(weights)
        self._input_plot.getViewBox().autoRange(padding=0.01)
        if keep:
            self.set_position(*self._position)
        else:
            self._pinned = False
            finite = np.where(np.isfinite(channel_map), channel_map, -np.inf)
            self.set_position(*np.unravel_index(int(np.argmax(finite)), channel_map.shape))

    def set_position(self, y: int, x: int) -> None:
        """Draw the receptive field of map unit ``(y, x)`` (clamped to the map)."""
        if self._map is None:
            return
        h, w = self._map.shape
        y, x = min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)
        self._position = (y, x)
        value = self._map[y, x]
        self._value_line.setValue(value if np.isfinite(value) else 0.0)
        rect = map_rect(self._map.shape, self._field, self._input.image.shape[:2])
        cw, ch = rect.width() / w, rect.height() / h
        self._cell.setRect(QtCore.QRectF(rect.left() + x * cw, rect.top() + y * ch, cw, ch))
        self._cell.setVisible(True)
        text = f"unit ({y}, {x}) = {value:.6g}"
        if self._field is not None:
            top, left, bottom, right = self._field.box(y, x)
            shown = self._clip(QtCore.QRectF(left, top, right - left + 1, bottom - top + 1))
            (sh, sw) = self._field.size
            self._rf.setRect(shown)
            text += (f"; receptive field rows {_fmt(top)}..{_fmt(bottom)}, "
                     f"columns {_fmt(left)}..{_fmt(right)} ({_fmt(sh)}x{_fmt(sw)} px)")
            if self._field.kind in KIND_NOTES:
                text += f"; {KIND_NOTES[self._field.kind]}"
        else:
            text += "; no receptive field (not a spatial map)"
        for item in (self._rf, self._rf_label):
            item.setVisible(self._field is not None)
        self._place_rf_label()
        self._readout.setText(text + (" [pinned: click to release]" if self._pinned else ""))
        self.position_changed.emit(y, x)

    @property
    def position(self) -> tuple[int, int] | None:
        """The map unit (y, x) whose receptive field is drawn."""
        return self._position

    def pin(self, y: int, x: int) -> None:
        """Draw the receptive field of map unit ``(y, x)`` and keep it there (a click in the
        feature maps); hovering no longer moves it until the user clicks the map here."""
        if self._map is None:
            return
        self._pinned = True
        self.set_position(y, x)

    def rf_caption(self) -> str | None:
        """The caption drawn at the receptive-field box (None: none drawn)."""
        return self._rf_label.toPlainText() if self._rf_label.isVisible() else None

    def rf_box(self) -> tuple[float, float, float, float] | None:
        """Unclipped ``Field.box`` (top, left, bottom, right; inclusive) at the position."""
        if self._field is None or self._position is None:
            return None
        return self._field.box(*self._position)

    def rf_box_rect(self) -> QtCore.QRectF | None:
        """The receptive-field rectangle as drawn, in input-pixel view coordinates."""
        return QtCore.QRectF(self._rf.rect()) if self._rf.isVisible() else None

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) of the histogram shown."""
        edges, counts = self._hist.getData()
        if edges is None:
            return np.zeros(0), np.zeros(0)
        return np.asarray(edges), np.asarray(counts)

    def histogram_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The histogram's x and y view ranges."""
        (x0, x1), (y0, y1) = self._hist_plot.getViewBox().viewRange()
        return (x0, x1), (y0, y1)

    def export_target(self) -> pg.GraphicsLayout:
        """The graphics to hand to :mod:`gui.window.export`."""
        return self._canvas.ci

    def clear(self) -> None:
        """Show nothing."""
        self._map = self._field = self._position = None
        self._pinned = False
        for item in (self._input, self._overlay, self._weights):
            item.clear()
        for item in (self._input, self._overlay, self._cell, self._rf, self._rf_label):
            item.setVisible(False)
        self._hist.clear()  # setData([], []) would leave the last curve drawn
        self._value_line.setValue(0.0)
        self._weights_plot.setTitle("weights")
        self._title.setText("Click a channel to see it here")
        self._readout.setText(" ")

    # -- drawing --------------------------------------------------------------------
    def _place_rf_label(self, *_args) -> None:
        """Caption the box with the longest text that fits the thumbnail, inside it."""
        if self._field is None or self._position is None or self._input.image is None:
            self._rf_label.setVisible(False)
            return
        h, w = self._input.image.shape[:2]
        box = self._rf.rect()
        try:
            pixel_w, pixel_h = self._input_plot.getViewBox().viewPixelSize()  # view units per screen pixel
        except Exception:  # noqa: BLE001 - not on screen yet (no view to measure): placed when shown
            pixel_w = pixel_h = 0.0
        for caption in rf_captions(self._field):
            self._rf_label.setText(caption)
            size = self._rf_label.textItem.boundingRect()
            text_w, text_h = size.width() * pixel_w, size.height() * pixel_h
            if text_w <= w and text_h <= h / 2:
                break
        else:
            self._rf_label.setVisible(False)  # a thumbnail too small for any caption: the read-out says it
            return
        x = min(max(box.left(), 0.0), w - text_w)
        y = min(max(box.top(), 0.0), h - text_h)
        self._rf_label.setPos(x, y)
        self._rf_label.setVisible(True)

    def _clip(self, rect: QtCore.QRectF) -> QtCore.QRectF:
        h, w = self._input.image.shape[:2]
        return rect.intersected(QtCore.QRectF(0, 0, w, h))

    def _show_overlay(self, channel_map: np.ndarray, image_size: tuple[int, int]) -> None:
        finite = channel_map[np.isfinite(channel_map)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if lo < 0 < hi:  # signed values: zero in the middle of a diverging map
            hi = max(-lo, hi)
            lo, table = -hi, colormaps.lut(colormaps.DEFAULT_DIVERGING)
        else:
            table = colormaps.lut("inferno")
        if hi <= lo:
            hi = lo + 1.0
        self._overlay.setImage(channel_map, autoLevels=False, levels=(lo, hi), lut=table)
        self._overlay.setRect(map_rect(channel_map.shape, self._field, image_size))
        self._overlay.setVisible(True)

    def _show_histogram(self, channel_map: np.ndarray) -> None:
        values = channel_map[np.isfinite(channel_map)]
        if values.size == 0:
            self._hist.clear()
            return
        bins = int(np.clip(np.sqrt(values.size), 8, 64))
        counts, edges = np.histogram(values, bins=bins)
        self._hist.setData(edges, counts)
        # Set from this histogram alone, on every update (not left to the auto range).
        self._hist_plot.getViewBox().setRange(xRange=(float(edges[0]), float(edges[-1])),
                                              yRange=(0.0, float(max(counts.max(), 1))), padding=0.02)

    def _show_weights(self, weights) -> None:
        w = None if weights is None else np.array(weights, dtype=np.float64)
        if w is None or w.ndim != 3:
            self._weights.clear()
            self._weights_plot.setTitle("no weights" if w is None else f"weights {w.shape}: not shown")
            return
        n_in, kh, kw = w.shape
        if n_in == 3:
            lo, hi = w.min(), w.max()
            rgb = ((w - lo) / (hi - lo if hi > lo else 1.0) * 255).round().astype(np.uint8)
            self._weights.setImage(np.ascontiguousarray(rgb.transpose(1, 2, 0)), autoLevels=False,
                                   levels=(0, 255), lut=None)
            self._weights_plot.setTitle(f"weights 3x{kh}x{kw} (RGB)")
        else:
            mean = w.mean(axis=0)
            a = float(np.abs(mean).max()) or 1.0
            self._weights.setImage(mean, autoLevels=False, levels=(-a, a),
                                   lut=colormaps.lut(colormaps.DEFAULT_DIVERGING))
            self._weights_plot.setTitle(f"weights {kh}x{kw}, mean of {n_in} inputs")
        self._weights_plot.getViewBox().autoRange(padding=0.02)

    # -- mouse ----------------------------------------------------------------------
    def _unit_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int] | None:
        if self._map is None or not self._input_plot.sceneBoundingRect().contains(scene_pos):
            return None
        p = self._overlay.mapFromScene(scene_pos)  # overlay pixels are map units
        y, x = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self._map.shape
        return (y, x) if 0 <= y < h and 0 <= x < w else None

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if not self._pinned and (unit := self._unit_at(scene_pos)) is not None:
            self.set_position(*unit)

    def _mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        unit = self._unit_at(ev.scenePos())
        if unit is None:
            return
        self._pinned = not self._pinned or unit != self._position
        self.set_position(*unit)


def unit_view_arguments(recording: Recording, anatomy, channel: int | None) -> dict | None:
    """What :meth:`UnitView.show_unit` needs for ``channel`` of a recording, or None.

    ``channel=None`` picks the channel with the largest mean output (the engine's
    ``recording.top_channel``).  Only NumPy: the engine made the values.
    """
    kind, values = recording.kind, recording.values
    if channel is None:
        channel = recording.top_channel
    if channel is None or not 0 <= channel < values.shape[0]:
        return None
    channel_map = values[channel].reshape(1, 1) if kind == "vector" else values[channel]
    field = None
    ref = LayerRef.parse(recording.layer)
    node = anatomy.by_name.get(ref.name) if anatomy is not None and kind in ("maps", "tokens") else None
    k = ref.call
    if node is not None and k <= len(node.calls):
        field = node.calls[k - 1].field
        # A token grid (ViT) has the field the card gives when the tokens are that grid.
        if kind == "tokens" and (field is None or field.tokens is None
                                 or tuple(field.tokens[:2]) != tuple(channel_map.shape)):
            field = None
    weights = recording.conv_weights
    return {"channel_map": channel_map, "input_image": recording.input_image,
            "field": field, "channel": channel, "layer": recording.layer,
            "weights": weights[channel] if weights is not None and channel < len(weights) else None}
