"""The images that drive a unit most and least, as receptive-field crops, found while they stream.

The window ranks the images of the input strip by the response of the unit shown in the
unit view (:class:`engine.jobs.topk.TopImages`); after every batch the engine sends
the running top k and bottom k (:mod:`engine.analyses.topk`) as uint8 crops of the preprocessed
images over the unit's theoretical receptive field, grey where the field runs past the
image.  Each crop is drawn in a tile with the response under it; small fields are
enlarged without smoothing, so the pixels the unit sees stay visible.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFontMetrics, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.jobs.topk import TopImages, TopImagesSnapshot
from gui.widgets.input_strip import array_to_qimage
from gui.analyses.job_view import AnalysisView

log = logging.getLogger(__name__)

TILE = 72  # pixels per crop on screen
NO_UNIT = "Click a channel in the feature maps, then rank the images in the strip by that unit."


def value_text(value: float) -> str:
    """A response as shown under its crop."""
    return format(value, ".4g") if math.isfinite(value) else "–"


class CropTile(QWidget):
    """One crop with its response and image name under it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image_label = QLabel(self, alignment=Qt.AlignmentFlag.AlignCenter)
        self.image_label.setFixedSize(TILE, TILE)
        self.image_label.setStyleSheet("background: #202020;")
        self.value_label = QLabel(self, alignment=Qt.AlignmentFlag.AlignCenter)
        self.value_label.setStyleSheet("font-weight: bold")
        self.name_label = QLabel(self, alignment=Qt.AlignmentFlag.AlignCenter)
        self.name_label.setStyleSheet("color: gray; font-size: 8pt")
        self.name_label.setFixedWidth(TILE + 20)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(0)
        layout.addWidget(self.image_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.value_label)
        layout.addWidget(self.name_label)

    def show_crop(self, crop: np.ndarray, value: float, name: str, rank: int) -> None:
        h, w = crop.shape[:2]
        pixmap = QPixmap.fromImage(array_to_qimage(np.ascontiguousarray(crop)))
        smooth = Qt.TransformationMode.SmoothTransformation if max(h, w) > TILE else \
            Qt.TransformationMode.FastTransformation  # enlarge small fields pixel by pixel
        self.image_label.setPixmap(pixmap.scaled(TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio, smooth))
        self.value_label.setText(value_text(value))
        metrics = QFontMetrics(self.name_label.font())
        self.name_label.setText(metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, TILE + 18))
        self.setToolTip(f"#{rank}: {name}\nresponse {value:.6g}\ncrop {h}×{w} px of the model's input")


class CropGrid(QGroupBox):
    """k tiles in rows of ``ceil(sqrt(k))``, best first."""

    def __init__(self, title: str, parent=None):
        super().__init__(title, parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setSpacing(2)
        self.tiles: list[CropTile] = []
        self.values = np.zeros(0)
        self._columns = 3

    def show_crops(self, crops: list[np.ndarray], values: np.ndarray, names: list[str]) -> None:
        while len(self.tiles) < len(crops):
            tile = CropTile(self)
            self._grid.addWidget(tile, len(self.tiles) // self._columns, len(self.tiles) % self._columns)
            self.tiles.append(tile)
        for i, tile in enumerate(self.tiles):
            if i < len(crops):
                tile.show_crop(crops[i], float(values[i]), names[i], i + 1)
            tile.setVisible(i < len(crops))  # fewer images than k: no empty tiles
        self.values = np.asarray(values, dtype=float)

    def shown_values(self) -> list[str]:
        """The texts under the tiles that hold a crop, in order."""
        return [t.value_label.text() for t in self.tiles[:len(self.values)]]

    def reset(self, k: int) -> None:
        """Drop every tile and make room for ``k``."""
        for tile in self.tiles:
            self._grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        self.values = np.zeros(0)
        self._columns = max(1, math.ceil(math.sqrt(k)))


class TopImagesView(AnalysisView):
    """Top and bottom images of the unit shown in the unit view.

    Signals
    -------
    topk_requested()
        The user asked to rank the strip's images with the settings shown.
    """

    topk_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.topk_requested.connect(self._request)
        self.run_action = QAction("&Top and bottom images", self, enabled=False)
        self.run_action.setIconText("Top and bottom images")
        self.run_action.setStatusTip("Rank the images in the strip by the unit's response and show "
                                     "the best and worst as receptive-field crops")
        self.run_action.triggered.connect(self.topk_requested)
        self._last: TopImagesSnapshot | None = None

        self.unit_label = QLabel(NO_UNIT, wordWrap=True)
        run = QToolButton(self)
        run.setDefaultAction(self.run_action)
        self.k_spin = QSpinBox(self, minimum=1, maximum=64, value=9, prefix="k = ",
                               toolTip="Images kept at each end of the ranking")
        self.position_combo = QComboBox(self, toolTip="Which unit of the channel's map ranks the images")
        self.position_combo.addItem("map centre", "centre")  # as the tuning view
        self.position_combo.addItem("unit in the RF box", "box")
        controls = QHBoxLayout()
        controls.addWidget(run)
        controls.addWidget(self.k_spin)
        controls.addWidget(self.position_combo, 1)

        self.top_grid = CropGrid("Top: highest responses", self)
        self.bottom_grid = CropGrid("Bottom: lowest responses", self)
        grids = QWidget(self)
        row = QHBoxLayout(grids)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.top_grid, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.bottom_grid, 0, Qt.AlignmentFlag.AlignTop)
        row.addStretch(1)
        scroll = QScrollArea(self, widgetResizable=True)
        scroll.setWidget(grids)
        self.crop_label = QLabel(" ", wordWrap=True)
        self.status_label = QLabel(" ", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unit_label)
        layout.addLayout(controls)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.crop_label)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def set_unit(self, label: str | None) -> None:
        """Say which unit would rank the images (None: no unit shown, ranking disabled)."""
        self.unit_label.setText(f"Unit: {label}" if label else NO_UNIT)
        self.run_action.setEnabled(label is not None)

    def make_job(self, layer: str, channel: int, position: tuple[int, int] | None,
                 image_paths: list[str]) -> TopImages:
        """The request for the unit ``(layer, channel)`` at ``position`` or the map centre."""
        use_box = position is not None and self.position_combo.currentData() == "box"
        y, x = position if use_box else (None, None)
        return TopImages(layer, channel, y, x, tuple(image_paths), k=self.k_spin.value())

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Top and bottom images (the analysis's shortcut)."""
        return [self.run_action]

    def _request(self) -> None:
        unit = self.clicked_unit()
        if unit is not None:
            self.job_requested.emit(self.make_job(unit.layer, unit.channel, self.context.unit_position,
                                                  self.context.image_paths))

    def started(self, request: TopImages) -> None:
        """Empty the grids for a new ranking; the k control shows the job's."""
        self.k_spin.blockSignals(True)
        self.k_spin.setValue(request.k)
        self.k_spin.blockSignals(False)
        self.clear(request.k)
        self.status_label.setText(request.describe())

    def show_snapshot(self, snapshot: TopImagesSnapshot) -> None:
        """Draw the ranking so far."""
        self._last = snapshot
        self.top_grid.show_crops(snapshot.top_crops, snapshot.top_values, snapshot.top_names)
        self.bottom_grid.show_crops(snapshot.bottom_crops, snapshot.bottom_values, snapshot.bottom_names)
        if snapshot.box is None:
            where = "whole images (the unit has no spatial receptive field)"
        else:
            h, w = snapshot.top_crops[0].shape[:2] if snapshot.top_crops else (0, 0)
            where = f"{h}×{w} px receptive-field crops of the model's input (grey: outside the image)"
        self.crop_label.setText(f"{snapshot.unit_label}: {where}")
        self.status_label.setText(f"Ranked {snapshot.done} of {snapshot.total} images…")

    def finish(self, snapshot: TopImagesSnapshot) -> None:
        """Show the finished ranking."""
        self.show_snapshot(snapshot)
        text = f"Done: {snapshot.done} images ranked."
        values = np.concatenate([snapshot.top_values, snapshot.bottom_values])
        if values.size and np.ptp(values) == 0:
            text += f" Every image gives {value_text(float(values[0]))}: the unit does not tell them apart."
        elif snapshot.done < 2 * len(snapshot.top_values):
            text += " Fewer than 2k images: the top and bottom share some."
        if snapshot.skipped:
            text += f" Skipped {len(snapshot.skipped)}: " + "; ".join(snapshot.skipped[:3])
        self.status_label.setText(text)

    def cancelled(self) -> None:
        """Say the ranking was cancelled; the crops of the images ranked so far stay."""
        done = f" after {self._last.done} of {self._last.total} images" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the grids rank the images seen.")

    def failed(self, text: str) -> None:
        self.status_label.setText(f"Failed: {text}")

    def clear(self, k: int | None = None) -> None:
        """Remove every crop (the unit and settings stay)."""
        self._last = None
        k = self.k_spin.value() if k is None else k
        self.top_grid.reset(k)
        self.bottom_grid.reset(k)
        self.crop_label.setText(" ")
        self.status_label.setText(" ")

    @property
    def last_snapshot(self) -> TopImagesSnapshot | None:
        return self._last

    def figure_data(self):
        """What this view shows, as :mod:`engine.figures` data for a paper figure (None before a result)."""
        from engine.figures.sources import from_snapshot

        return from_snapshot(self._last) if self._last is not None else None
