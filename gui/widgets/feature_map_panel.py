"""All channels of one layer's output for one stimulus, as a single tiled image.

The whole mosaic is one :class:`pyqtgraph.ImageItem` holding a uint8 image with a
256-entry lookup table and fixed levels (0, 255), which is pyqtgraph's fast indexed-QImage
path.  The panel runs no torch: the engine thread has already made the uint8 mosaic of
every normalisation offered (:func:`engine.recording.mosaic.display_values`, carried by
:class:`engine.session.values.Recording`), so switching the scale picks another ready
image and switching the colormap only changes the lookup table.  A click or a hover is mapped
to a channel by integer division (:meth:`engine.recording.mosaic.Mosaic.channel_at`); the hover
read-out shows the raw value, not the colour index.  A 1-D output (a vector of units,
e.g. logits) and maps of 1×1 (a global pool) are drawn as a bar plot instead; a vector
with one value per class of the model's weights names the classes and its top five.

Defaults follow the data until the user picks a colormap: a layer with values of both
signs opens in a diverging map centred on zero, a non-negative one in viridis.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from gui.widgets import colormaps

if TYPE_CHECKING:  # the module imports torch; the window builds this panel before torch has loaded
    from engine.recording.mosaic import Mosaic

log = logging.getLogger(__name__)

NORMALIZATIONS = {"channel": "per channel", "shared": "shared"}
GRID_COLOR = (110, 110, 110)  # neutral, so tiles stand apart under every colormap
BAR_COLOR = (90, 160, 230)
TOP_COLOR = (255, 214, 10)
MAX_NUMBERED = 256  # tiles get their channel number when there are at most this many...
NUMBER_MIN_PX = 26  # ...and a tile is at least this wide on screen...
NUMBER_MAX_COVER = 0.15  # ...and the number's box covers at most this part of it; else on hover only
NUMBER_FONT_PX = (7, 11)  # the numbers' font, a quarter of the tile's width within these bounds
HOVER_NUMBER_MIN_PX = 12  # smaller tiles get no number even on hover (the read-out names them)
TOP_K = 5


def top_classes(values: np.ndarray, names: list[str] | None, k: int = TOP_K) -> list[tuple[int, str, float]]:
    """The ``k`` largest values as ``(index, class name, value)``, largest first (NaN last)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(np.where(np.isnan(v), -np.inf, v))[::-1][:k]
    return [(int(i), names[i] if names is not None and i < len(names) else str(int(i)), float(v[i]))
            for i in order]


def is_signed(values: np.ndarray) -> bool:
    """Whether ``values`` hold both negative and positive finite numbers."""
    v = np.asarray(values)
    if v.size == 0:
        return False
    finite = v[np.isfinite(v)] if not np.isfinite(v).all() else v
    return finite.size > 0 and float(finite.min()) < 0.0 < float(finite.max())


def tile_grid(m: Mosaic) -> tuple[QtGui.QPainterPath, QtCore.QRectF]:
    """Lines along the gaps between tiles, and the rectangle of the empty tiles at the end.

    Stroked with a pen as wide as the gap (and the rectangle filled), they paint exactly
    the pixels that hold no data, in a colour no lookup table gives to data.  A pen,
    unlike a filled strip, stays at least one screen pixel wide when zoomed out.
    """
    path = QtGui.QPainterPath()
    height, width = m.image.shape
    step_y, step_x = m.tile_h + m.gap, m.tile_w + m.gap
    if m.gap:
        for row in range(1, m.rows):
            y = row * step_y - m.gap / 2
            path.moveTo(0, y)
            path.lineTo(width, y)
        for col in range(1, m.cols):
            x = col * step_x - m.gap / 2
            path.moveTo(x, 0)
            path.lineTo(x, height)
    empty = m.rows * m.cols - m.n_channels
    x0 = (m.cols - empty) * step_x
    return path, QtCore.QRectF(x0, (m.rows - 1) * step_y, width - x0, m.tile_h) if empty else QtCore.QRectF()


class TileNumber(QtWidgets.QGraphicsSimpleTextItem):
    """A channel number: white digits in a thin dark outline, readable over every colormap
    while covering only their strokes (no plate), drawn at screen size."""

    OUTLINE_PX = 2.2

    def __init__(self, parent: QtWidgets.QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt override
        m = self.OUTLINE_PX
        return super().boundingRect().adjusted(-m, -m, m, m)

    def paint(self, painter: QtGui.QPainter, option, widget=None) -> None:  # noqa: D102 - Qt override
        path = QtGui.QPainterPath()
        path.addText(0, QtGui.QFontMetricsF(self.font()).ascent(), self.font(), self.text())
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.strokePath(path, QtGui.QPen(QtGui.QColor(0, 0, 0, 220), self.OUTLINE_PX, Qt.PenStyle.SolidLine,
                                            Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.fillPath(path, QtGui.QBrush(QtGui.QColor("white")))


class FeatureMapPanel(QtWidgets.QWidget):
    """Feature maps of one layer for one stimulus, with colormap and scaling controls.

    Signals
    -------
    channel_clicked(int)
        The user clicked a channel's tile (or a unit's bar for a vector output).
    unit_clicked(int, int, int)
        Channel, y and x of the map unit the user clicked in the mosaic.
    render_finished(float)
        Milliseconds spent turning the ready mosaic into the displayed image.
    hovered(int, int, int)
        Channel, y and x of the map position under the mouse.
    """

    channel_clicked = Signal(int)
    unit_clicked = Signal(int, int, int)
    render_finished = Signal(float)
    hovered = Signal(int, int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._values: np.ndarray | None = None  # the display channels, for the read-out
        self._mosaics: dict = {}  # (normalize, symmetric) -> the engine's ready Mosaic
        self._kind: str | None = None
        self._from_maps = False  # the bars are a 1×1 layer's channels
        self._layer = ""
        self._mosaic: Mosaic | None = None
        self._selected: int | None = None
        self._class_names: list[str] | None = None
        self._model_name = ""
        self._auto_colormap = True  # until the user picks one, the data choose it
        self._numbers: list[TileNumber] = []
        self._numbers_on_hover = False  # tiles too small for every number: the hovered one only

        self._cmap_combo = QtWidgets.QComboBox(toolTip="Colormap (diverging maps are drawn "
                                               "symmetric about zero)")
        for name in colormaps.NAMES:
            self._cmap_combo.addItem(colormaps.label(name), name)
        self._norm_combo = QtWidgets.QComboBox(toolTip="Stretch each channel to its own "
                                               "range, or use one range for all channels")
        for mode, text in NORMALIZATIONS.items():
            self._norm_combo.addItem(text, mode)
        self._cmap_combo.currentIndexChanged.connect(self._controls_changed)
        self._cmap_combo.activated.connect(self._colormap_picked)
        self._norm_combo.currentIndexChanged.connect(self._controls_changed)
        self._info = QtWidgets.QLabel("No feature map yet", wordWrap=True)
        self._info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._readout = QtWidgets.QLabel(" ")

        self._plots = QtWidgets.QStackedWidget()
        self._map_view = pg.PlotWidget()
        self._map_plot = self._map_view.getPlotItem()
        for axis in ("left", "bottom"):
            self._map_plot.hideAxis(axis)
        self._map_plot.setAspectLocked(True)
        self._map_plot.invertY(True)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._map_plot.addItem(self._image)
        self._map_plot.getViewBox().sigRangeChanged.connect(lambda *_: self._update_numbers())
        self._hover_number = self._number_item()
        self._hover_number.setZValue(1)
        self._grid = QtWidgets.QGraphicsPathItem(self._image)
        self._empty = QtWidgets.QGraphicsRectItem(self._image)
        self._empty.setPen(QtGui.QPen(Qt.PenStyle.NoPen))
        self._empty.setBrush(pg.mkBrush(GRID_COLOR))
        self._grid_layout: tuple | None = None
        self._highlight = [QtWidgets.QGraphicsRectItem(self._image) for _ in range(2)]
        for item, (color, width) in zip(self._highlight, (("k", 4), ("w", 2))):
            item.setPen(pg.mkPen(color, width=width, cosmetic=True))
            item.setVisible(False)
        self._bar_view = pg.PlotWidget()
        self._bar_plot = self._bar_view.getPlotItem()
        self._bar_plot.setLabel("bottom", "unit")
        self._bar_plot.getAxis("left").enableAutoSIPrefix(False)
        self._top_labels: list[pg.TextItem] = []
        # bars thinner than a pixel show only their outline: give it the fill colour
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=BAR_COLOR, pen=pg.mkPen(BAR_COLOR))
        self._bar_plot.addItem(self._bars)
        self._plots.addWidget(self._map_view)
        self._plots.addWidget(self._bar_view)
        for view, on_click in ((self._map_view, self._map_clicked), (self._bar_view, self._bar_clicked)):
            view.scene().sigMouseMoved.connect(self._mouse_moved)
            view.scene().sigMouseClicked.connect(on_click)

        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Colormap"))
        bar.addWidget(self._cmap_combo)
        bar.addWidget(QtWidgets.QLabel("Scale"))
        bar.addWidget(self._norm_combo)
        bar.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self._info)
        layout.addWidget(self._plots, 1)
        layout.addWidget(self._readout)
        self._image.setLookupTable(colormaps.lut(self.colormap_name))

    # -- public API -----------------------------------------------------------------
    @property
    def colormap_name(self) -> str:
        """The colormap in use (one of :data:`gui.widgets.colormaps.NAMES`)."""
        return self._cmap_combo.currentData()

    def set_colormap(self, name: str, chosen: bool = True) -> None:
        """Use colormap ``name``; a diverging one switches to symmetric scaling.

        ``chosen`` (the default) keeps it for every layer; otherwise the next layer's
        values choose again (diverging for signed values, else viridis).
        """
        self._cmap_combo.setCurrentIndex(colormaps.NAMES.index(colormaps.canonical(name)))
        self._auto_colormap = not chosen

    @property
    def colormap_chosen(self) -> bool:
        """Whether the user chose the colormap (else the data choose it per layer)."""
        return not self._auto_colormap

    def set_class_names(self, names: list[str] | None) -> None:
        """The model's class names (its weights' categories): a vector of as many values
        is drawn with them and its top five named."""
        self._class_names = list(names) if names else None

    def set_model_name(self, name: str) -> None:
        """The open model's name: the caption of its root row's output."""
        self._model_name = name

    def _caption(self) -> str:
        return self._layer or (f"{self._model_name} output" if self._model_name else "model output")

    def top_predictions(self) -> list[tuple[int, str, float]]:
        """The top five ``(index, class name, value)`` of the vector shown (empty for maps)."""
        if self._kind != "vector" or self._values is None or not self._names_fit():
            return []
        return top_classes(self._values, self._class_names)

    def is_bar_plot(self) -> bool:
        """Whether the output is drawn as a bar plot (a vector, or 1×1 maps)."""
        return self._kind == "vector"

    @property
    def normalization(self) -> str:
        """``"channel"`` (each channel stretched to its own range) or ``"shared"``."""
        return self._norm_combo.currentData()

    def set_normalization(self, mode: str) -> None:
        """Use ``"channel"`` or ``"shared"`` normalisation."""
        if mode not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {tuple(NORMALIZATIONS)}, not {mode!r}")
        self._norm_combo.setCurrentIndex(list(NORMALIZATIONS).index(mode))

    @property
    def current_mosaic(self) -> Mosaic | None:
        """The :class:`~engine.recording.mosaic.Mosaic` shown, or None (nothing, or a vector)."""
        return self._mosaic

    @property
    def selected_channel(self) -> int | None:
        """The channel outlined in the mosaic, if any."""
        return self._selected

    def mosaic_image(self) -> np.ndarray | None:
        """The uint8 mosaic currently shown: the very array given to ``setImage``."""
        return self._mosaic.image if self._mosaic is not None else None

    def export_target(self) -> pg.PlotItem:
        """The plot to hand to :mod:`gui.window.export` (the mosaic, or the bar plot)."""
        return self._bar_plot if self._kind == "vector" else self._map_plot

    def show_recording(self, recording) -> None:
        """Show a :class:`~engine.session.values.Recording` (its ready mosaics and values)."""
        self.show_values(recording, recording.layer)

    def show_values(self, shown, layer: str) -> None:
        """Show one stimulus' output of ``layer`` as the engine made it ready.

        Parameters
        ----------
        shown : Recording or engine.recording.mosaic.DisplayValues
            Anything with ``kind`` ("maps", "tokens" or "vector"), ``values`` (the display
            channels as a NumPy array: (C, H, W), or (D,) for a vector, drawn as a bar
            plot) and ``mosaics`` (``{(normalize, symmetric): Mosaic}`` for every
            normalisation offered; empty for a vector).
        layer : str
            The layer's name, for the caption.
        """
        kind, values = shown.kind, np.asarray(shown.values)
        self._from_maps = kind == "maps" and values.ndim == 3 and values.shape[1:] == (1, 1)
        if self._from_maps:  # a global pool's C×1×1: one bar per channel, not C one-pixel tiles
            kind, values = "vector", values.reshape(-1)
        self._kind, self._values, self._mosaics, self._layer = kind, values, dict(shown.mosaics), layer
        if self._auto_colormap and kind != "vector":
            wanted = colormaps.DEFAULT_DIVERGING if is_signed(values) else colormaps.DEFAULT
            if wanted != self.colormap_name:
                self._cmap_combo.blockSignals(True)
                self._cmap_combo.setCurrentIndex(colormaps.NAMES.index(wanted))
                self._cmap_combo.blockSignals(False)
                self._image.setLookupTable(colormaps.lut(wanted), update=False)
        if self._selected is not None and self._selected >= values.shape[0]:
            self._selected = None
        self._readout.setText(" ")
        for combo in (self._cmap_combo, self._norm_combo):
            combo.setEnabled(kind != "vector")
        if kind == "vector":
            self._show_vector()
        else:
            self._render()

    def show_output(self, output, layer: str, layout: str = "nchw") -> None:
        """Make the display values of ``output`` here and show them (scripts and tests).

        This runs :func:`engine.recording.mosaic.display_values` -- torch -- in the calling thread;
        the window never calls it: it shows what the engine thread made
        (:meth:`show_recording`).

        Parameters
        ----------
        output : ndarray or tensor
            (C, H, W) feature maps, (T, D) tokens or a (D,) vector; a 4-D array is taken
            as a batch and its first sample is shown.
        layer : str
            The layer's name, for the caption.
        layout : {"nchw", "nhwc", "auto"}
            How to read a 3-D ``output``: (C, H, W) unless told otherwise.
        """
        from engine.recording.mosaic import display_values

        self.show_values(display_values(output, layout=layout), layer)

    def select_channel(self, channel: int | None) -> None:
        """Outline ``channel``'s tile (None removes the outline)."""
        self._selected = channel
        self._update_highlight()

    def clear(self) -> None:
        """Show nothing."""
        self._values = self._mosaic = self._kind = self._selected = None
        self._mosaics = {}
        self._image.clear()
        self._bars.setOpts(x=[], height=[])
        self._set_top_labels([])
        self._update_grid()
        self._update_highlight()
        self._update_numbers()
        self._info.setText("No feature map yet")
        self._readout.setText(" ")

    # -- drawing --------------------------------------------------------------------
    def _render(self) -> None:
        if self._values is None or self._kind == "vector":
            return
        start = time.perf_counter()
        diverging = colormaps.is_diverging(self.colormap_name)
        mosaic = self._mosaics[(self.normalization, diverging)]
        old = self._mosaic.image.shape if self._mosaic is not None else None
        self._mosaic = mosaic
        self._image.setImage(mosaic.image, autoLevels=False, levels=(0, 255))
        self._image.render()  # build the QImage now, so the time below is the real cost
        elapsed = (time.perf_counter() - start) * 1000.0
        self._plots.setCurrentWidget(self._map_view)
        if old != mosaic.image.shape:
            self._map_plot.getViewBox().autoRange(padding=0.01)
        self._update_grid()
        self._update_highlight()
        self._update_numbers()
        lo, hi = mosaic.value_range
        grid = "tokens" if self._kind == "tokens" else "px"
        self._info.setText(f"{self._caption()}: {mosaic.n_channels} channels, {mosaic.tile_h}x"
                           f"{mosaic.tile_w} {grid}, range [{lo:.4g}, {hi:.4g}]")
        log.debug("mosaic of %s %s drawn in %.2f ms", self._layer, tuple(self._values.shape), elapsed)
        self.render_finished.emit(elapsed)

    def _show_vector(self) -> None:
        start = time.perf_counter()
        self._mosaic = None
        values = self._values
        self._update_numbers()
        self._bars.setOpts(x=np.arange(values.size), height=values, width=0.8)
        self._bar_plot.setLabel("bottom", "channel" if self._from_maps else
                                ("class" if self._names_fit() else "unit"))
        self._plots.setCurrentWidget(self._bar_view)
        self._bar_plot.getViewBox().autoRange(padding=0.02)
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        what = f"{values.size} channels of 1×1" if self._from_maps else f"{values.size} values"
        text = f"{self._caption()}: {what}, range [{lo:.4g}, {hi:.4g}]"
        top = self.top_predictions()
        if top:
            text += "\nTop 5: " + " · ".join(f"{name} ({value:.3g})" for _i, name, value in top)
        self._info.setText(text)
        self._set_top_labels(top)
        if top and hi > lo:  # room above the tallest bar for its name
            self._bar_plot.setYRange(min(lo, 0.0), hi + 0.15 * (hi - min(lo, 0.0)), padding=0.02)
        self.render_finished.emit((time.perf_counter() - start) * 1000.0)

    def _names_fit(self) -> bool:
        return (not self._from_maps and self._class_names is not None and self._values is not None
                and self._values.ndim == 1 and self._values.size == len(self._class_names))

    def _set_top_labels(self, top: list[tuple[int, str, float]]) -> None:
        for item in self._top_labels:
            self._bar_plot.removeItem(item)
        self._top_labels = []
        for i, name, value in top:
            item = pg.TextItem(name, color=TOP_COLOR, anchor=(0.5, 1.0 if value >= 0 else 0.0))
            item.setPos(i, value if np.isfinite(value) else 0.0)
            self._bar_plot.addItem(item)
            self._top_labels.append(item)

    def _number_item(self) -> TileNumber:
        item = TileNumber(self._image)
        item.setVisible(False)
        return item

    def _number_layout(self, m: Mosaic) -> tuple[str, int]:
        """How the tiles get their numbers on screen now: ``("all" | "hover" | "none", font px)``."""
        px = self._map_plot.getViewBox().viewPixelSize()[0] or 1.0
        tile_w, tile_h = m.tile_w / px, m.tile_h / px
        font_px = int(min(max(round(tile_w / 4), NUMBER_FONT_PX[0]), NUMBER_FONT_PX[1]))
        font = QtGui.QFont(self.font())
        font.setPixelSize(font_px)
        font.setBold(True)
        metrics = QtGui.QFontMetricsF(font)
        widest = metrics.horizontalAdvance(str(m.n_channels - 1))
        cover = widest * metrics.height() / max(tile_w * tile_h, 1.0)
        if m.n_channels <= MAX_NUMBERED and tile_w >= NUMBER_MIN_PX and cover <= NUMBER_MAX_COVER:
            return "all", font_px
        if tile_w >= HOVER_NUMBER_MIN_PX:
            return "hover", font_px
        return "none", font_px

    def _update_numbers(self) -> None:
        """Channel numbers on the tiles: on every tile while they are few and cover little of
        each, else on the tile under the mouse only."""
        m = self._mosaic if self._kind != "vector" else None
        mode, font_px = self._number_layout(m) if m is not None else ("none", NUMBER_FONT_PX[0])
        self._numbers_on_hover = mode == "hover"
        if mode != "hover":
            self._hover_number.setVisible(False)
        if mode != "all":
            for item in self._numbers:
                item.setVisible(False)
            return
        while len(self._numbers) < m.n_channels:
            self._numbers.append(self._number_item())
        for c, item in enumerate(self._numbers):
            visible = c < m.n_channels
            item.setVisible(visible)
            if visible:
                self._place_number(item, c, font_px)

    def _place_number(self, item: TileNumber, channel: int, font_px: int) -> None:
        y0, x0 = self._mosaic.tile_origin(channel)
        if item.font().pixelSize() != font_px:
            font = QtGui.QFont(self.font())
            font.setPixelSize(font_px)
            font.setBold(True)
            item.setFont(font)
        if item.text() != str(channel):
            item.setText(str(channel))
        item.setPos(x0, y0)

    def _show_hover_number(self, channel: int | None) -> None:
        """The hovered tile's number, when the tiles are too small to carry them all."""
        if channel is None or not self._numbers_on_hover or self._mosaic is None:
            self._hover_number.setVisible(False)
            return
        self._place_number(self._hover_number, channel, self._number_layout(self._mosaic)[1])
        self._hover_number.setVisible(True)

    def channel_numbers_shown(self) -> list[int]:
        """The channels whose number is drawn on their tile."""
        shown = [int(item.text()) for item in self._numbers if item.isVisible()]
        return shown + ([int(self._hover_number.text())] if self._hover_number.isVisible() else [])

    def _colormap_picked(self, _index: int) -> None:
        self._auto_colormap = False

    def _update_grid(self) -> None:
        m = self._mosaic
        layout = None if m is None else (m.rows, m.cols, m.tile_h, m.tile_w, m.gap, m.n_channels)
        if layout != self._grid_layout:
            path, empty = (QtGui.QPainterPath(), QtCore.QRectF()) if m is None else tile_grid(m)
            pen = QtGui.QPen(pg.mkColor(GRID_COLOR), m.gap if m is not None else 1)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            self._grid.setPen(pen)
            self._grid.setPath(path)
            self._empty.setRect(empty)
            self._grid_layout = layout

    def _update_highlight(self) -> None:
        show = self._mosaic is not None and self._selected is not None
        if show:
            y0, x0 = self._mosaic.tile_origin(self._selected)
            rect = QtCore.QRectF(x0 - 0.5, y0 - 0.5, self._mosaic.tile_w + 1, self._mosaic.tile_h + 1)
            for item in self._highlight:
                item.setRect(rect)
        for item in self._highlight:
            item.setVisible(show)

    def _controls_changed(self) -> None:
        self._image.setLookupTable(colormaps.lut(self.colormap_name), update=False)
        self._render()

    # -- mouse ----------------------------------------------------------------------
    def _unit_under(self, scene_pos: QtCore.QPointF) -> tuple[int, int, int] | None:
        """(channel, y, x) of the map unit at ``scene_pos`` in the mosaic, if any."""
        if self._mosaic is None:
            return None
        p = self._image.mapFromScene(scene_pos)
        m = self._mosaic
        channel = m.channel_at(p.y(), p.x())
        if channel is None:
            return None
        y0, x0 = m.tile_origin(channel)
        return channel, int(p.y()) - y0, int(p.x()) - x0

    def _bar_under(self, scene_pos: QtCore.QPointF) -> int | None:
        if self._kind != "vector" or self._values is None:
            return None
        x = self._bar_plot.getViewBox().mapSceneToView(scene_pos).x()
        unit = int(np.floor(x + 0.5))
        return unit if 0 <= unit < self._values.shape[0] and abs(x - unit) <= 0.4 else None

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self._kind == "vector":
            unit = self._bar_under(scene_pos)
            if unit is None:
                text = " "
            elif self._names_fit():
                text = f"class {unit} ({self._class_names[unit]}) = {self._values[unit]:.6g}"
            else:
                text = f"{'channel' if self._from_maps else 'unit'} {unit} = {self._values[unit]:.6g}"
            self._readout.setText(text)
            return
        hit = self._unit_under(scene_pos)
        self._show_hover_number(hit[0] if hit is not None else None)
        if hit is None:
            self._readout.setText(" ")
            return
        c, y, x = hit
        self._readout.setText(f"channel {c}, ({y}, {x}) = {self._values[c, y, x]:.6g}")
        self.hovered.emit(c, y, x)

    def _map_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        hit = self._unit_under(ev.scenePos())
        if hit is not None:
            self.select_channel(hit[0])
            self.channel_clicked.emit(hit[0])
            self.unit_clicked.emit(*hit)

    def _bar_clicked(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and (unit := self._bar_under(ev.scenePos())) is not None:
            self.channel_clicked.emit(unit)
