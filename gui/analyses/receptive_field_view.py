"""A unit's receptive field three ways: the anatomy's box, the input gradient, sparse noise.

The window maps the unit shown in the unit view
(:class:`engine.jobs.receptive_field.ReceptiveFieldMapping`): the engine averages
``|d unit / d input|`` over the strip's inputs, then plays sparse noise and correlates
the unit's responses with the pixels (ON minus OFF).  The view draws

* the input with the **theoretical** box (every pixel any path reaches, from the
  anatomy) and the **empirical** box (pixels whose mean |gradient| passes a fraction of
  its peak), in two colours, with their sizes in the legend;
* the mean |gradient| map (sequential colours);
* the ON − OFF map (diverging colours, symmetric about zero), its significant cells
  outlined in black over white (Welch's t-test of ON against OFF frames, false discovery
  rate over the noise cells; :meth:`engine.analyses.unit_rf.ReverseCorrelation.significance`).

The three plots frame the same pixels; "Zoom to the receptive field" frames the
theoretical box, which for early layers is a few pixels of a large input.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from engine.figures.receptive_field import outline_segments
from engine.jobs.receptive_field import ReceptiveFieldMapping, ReceptiveFieldSnapshot
from engine.recording.unit import Box, clip_box
from gui.widgets import colormaps
from gui.analyses.job_view import AnalysisView

log = logging.getLogger(__name__)

INPUT_TITLE = "Input and receptive fields"
NO_UNIT = "Click a channel in the feature maps, then map that unit's receptive field."
THEORETICAL_COLOUR = "#00c8ff"  # cyan: the anatomy's box
EMPIRICAL_COLOUR = "#ff9f1a"  # orange: the gradient's box
TITLE_HEIGHT = 40  # pixels: two lines of 9 pt


def box_size(box: Box | None) -> str:
    """``h×w px`` of an inclusive box, or a dash."""
    if box is None:
        return "–"
    return f"{box[2] - box[0] + 1:g}×{box[3] - box[1] + 1:g} px"


def to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` mapped linearly from ``[low, high]`` to 0..255 (NaN to the middle of a symmetric range)."""
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=(low + high) / 2)
    span = high - low if high > low else 1.0
    return np.clip(np.round((values - low) / span * 255), 0, 255).astype(np.uint8)



#: Bright (and as many dark) frames per noise cell below which the view says more frames find more.
ENOUGH_FRAMES_PER_CELL = 20


def noise_frames_per_cell(n_frames: int, n_on: int | None, n_cells: int) -> float | None:
    """Frames in which one noise cell was bright (as many were dark, on average): each frame
    lights ``n_on`` of ``n_cells`` cells, each bright or dark with equal chance."""
    if not n_on or not n_cells:
        return None
    return n_frames * n_on / n_cells / 2


class MapPlot:
    """One image in a plot with box outlines over it (pixel (r, c) spans [c, c+1] x [r, r+1])."""

    def __init__(self, layout: pg.GraphicsLayout, title: str, colspan: int = 1):
        self.plot: pg.PlotItem = layout.addPlot(colspan=colspan)
        self.set_title(title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideButtons()
        for axis in ("left", "bottom"):  # pixel positions are in the text under the plots
            self.plot.hideAxis(axis)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.outlines: dict[str, pg.PlotDataItem] = {}

    def set_title(self, html: str) -> None:
        """A title of up to two lines (pyqtgraph leaves room for one)."""
        self.plot.setTitle(html, size="9pt")
        self.plot.titleLabel.setMaximumHeight(TITLE_HEIGHT)
        self.plot.layout.setRowFixedHeight(0, TITLE_HEIGHT)

    def add_outline(self, key: str, colour: str, name: str | None = None, width: float = 2.0,
                    style=Qt.PenStyle.SolidLine) -> pg.PlotDataItem:
        item = pg.PlotDataItem([], [], pen=pg.mkPen(colour, width=width, style=style), name=name)
        self.plot.addItem(item)
        self.outlines[key] = item
        return item

    def set_box(self, key: str, box: Box | None, shape: tuple[int, int] | None) -> None:
        """Outline ``box`` (inclusive pixels), clipped to an image of ``shape``; None hides it."""
        item = self.outlines[key]
        if box is None or shape is None:
            item.setData([], [])
            return
        top, left, bottom, right = clip_box(box, *shape)
        xs = [left, right + 1, right + 1, left, left]
        ys = [top, top, bottom + 1, bottom + 1, top]
        item.setData(xs, ys)

    def set_outline(self, key: str, mask: np.ndarray | None) -> None:
        """Outline the pixels of ``mask`` (None hides it)."""
        item = self.outlines[key]
        segments = outline_segments(mask) if mask is not None else []
        if not segments:
            item.setData([], [])
            return
        points = np.asarray(segments, dtype=float).reshape(-1, 2) + 0.5  # pixel centres are at +0.5 here
        item.setData(points[:, 0], points[:, 1], connect="pairs")

    def clear(self) -> None:
        self.image.clear()
        for item in self.outlines.values():
            item.setData([], [])


class ReceptiveFieldView(AnalysisView):
    """Theoretical and empirical receptive field of the unit shown in the unit view.

    Signals
    -------
    receptive_field_requested()
        The user asked to map the unit's receptive field with the settings shown.
    """

    receptive_field_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._on_per_frame: int | None = None  # noise cells lit per frame, of the job on show
        self.receptive_field_requested.connect(self._request)
        self.run_action = QAction("&Receptive field", self, enabled=False)
        self.run_action.setIconText("Map receptive field")
        self.run_action.setStatusTip("Map the unit's receptive field: mean input gradient over the "
                                     "strip's inputs and sparse-noise reverse correlation")
        self.run_action.triggered.connect(self.receptive_field_requested)
        self._last: ReceptiveFieldSnapshot | None = None
        self._shape: tuple[int, int] | None = None

        self.unit_label = QLabel(NO_UNIT, wordWrap=True)
        run = QToolButton(self)
        run.setDefaultAction(self.run_action)
        self.frames_spin = QSpinBox(self, minimum=16, maximum=20000, value=300, singleStep=100,
                                    suffix=" noise frames",
                                    toolTip="Sparse-noise frames for the reverse correlation")
        self.grid_spin = QSpinBox(self, minimum=2, maximum=224, value=16, prefix="grid ",
                                  toolTip="Sparse-noise cells per image side")
        self.position_combo = QComboBox(self, toolTip="Which unit of the channel's map is mapped")
        self.position_combo.addItem("clicked unit", "box")  # as the tuning view
        self.position_combo.addItem("map centre", "centre")
        self.zoom_check = QCheckBox("Zoom to the receptive field", self, checked=True)
        self.zoom_check.toggled.connect(lambda _on: self._frame())
        controls = QHBoxLayout()
        controls.addWidget(run)
        controls.addWidget(self.frames_spin)
        controls.addWidget(self.grid_spin)
        controls.addWidget(self.position_combo, 1)
        for widget in (self.frames_spin, self.grid_spin, self.position_combo):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            widget.setMinimumWidth(64)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(2)
        self.input_plot = MapPlot(self.graphics.ci, INPUT_TITLE)
        # The title is the legend: it names each box in its own colour, with its size.
        self.input_plot.add_outline("theoretical", THEORETICAL_COLOUR, "theoretical (anatomy)", 2.5)
        self.input_plot.add_outline("empirical", EMPIRICAL_COLOUR, "empirical (gradient)", 2.5,
                                    Qt.PenStyle.DashLine)
        self.gradient_plot = MapPlot(self.graphics.ci, "Mean |gradient|<br>over the inputs")
        self.gradient_plot.add_outline("theoretical", THEORETICAL_COLOUR, width=1.5)
        self.gradient_plot.add_outline("empirical", EMPIRICAL_COLOUR, width=1.5, style=Qt.PenStyle.DashLine)
        self.gradient_plot.image.setLookupTable(colormaps.lut("inferno"))
        self.rc_plot = MapPlot(self.graphics.ci, "Sparse noise<br>ON − OFF")
        self.rc_plot.add_outline("theoretical", "#202020", width=1.5)
        self.rc_plot.add_outline("significant halo", "#ffffff", width=3.5)  # keeps the outline on dark colours
        self.rc_plot.add_outline("significant", "#000000", width=1.5)
        self.rc_plot.image.setLookupTable(colormaps.lut(colormaps.DEFAULT_DIVERGING))

        self.boxes_label = QLabel(" ", wordWrap=True)
        self.boxes_label.setTextFormat(Qt.TextFormat.RichText)
        self.ranges_label = QLabel(" ", wordWrap=True)
        self.ranges_label.setStyleSheet("color: gray")
        self.status_label = QLabel(" ", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unit_label)
        layout.addLayout(controls)
        layout.addWidget(self.zoom_check)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.boxes_label)
        layout.addWidget(self.ranges_label)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def set_unit(self, label: str | None) -> None:
        """Say which unit would be mapped (None: no unit shown, mapping disabled)."""
        self.unit_label.setText(f"Unit: {label}" if label else NO_UNIT)
        self.run_action.setEnabled(label is not None)

    def make_job(self, layer: str, channel: int, position: tuple[int, int] | None,
                 stimuli, shown) -> ReceptiveFieldMapping:
        """The request for ``(layer, channel)`` at ``position`` or the map centre.

        ``stimuli`` are the strip's inputs (:class:`engine.session.values.Stimulus`), ``shown`` the
        one drawn under the boxes.
        """
        use_box = position is not None and self.position_combo.currentData() == "box"
        y, x = position if use_box else (None, None)
        return ReceptiveFieldMapping(
            layer, channel, y, x, stimuli=tuple((s.kind, s.value) for s in stimuli),
            shown=(shown.kind, shown.value) if shown is not None else None,
            noise_frames=self.frames_spin.value(), grid=self.grid_spin.value())

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Map receptive field (the analysis's shortcut)."""
        return [self.run_action]

    def _request(self) -> None:
        unit = self.clicked_unit()
        if unit is not None:
            self.job_requested.emit(self.make_job(unit.layer, unit.channel, self.context.unit_position,
                                                  self.context.stimuli, self.context.shown_stimulus))

    def started(self, request: ReceptiveFieldMapping) -> None:
        """Empty the plots for a new mapping."""
        self.clear()
        self._on_per_frame = request.n_on
        self.status_label.setText(request.describe())

    def show_snapshot(self, snapshot: ReceptiveFieldSnapshot) -> None:
        """Draw the maps so far."""
        first = self._last is None
        self._last = snapshot
        if snapshot.image is not None:
            self._shape = snapshot.image.shape[:2]
            self.input_plot.image.setImage(snapshot.image, autoLevels=False, levels=(0, 255))
        if snapshot.gradient is not None:
            self._shape = snapshot.gradient.shape
            peak = float(np.max(snapshot.gradient))
            self.gradient_plot.image.setImage(to_uint8(snapshot.gradient, 0.0, peak),
                                              autoLevels=False, levels=(0, 255))
        rc = snapshot.on_minus_off
        if rc is not None:
            finite = rc[np.isfinite(rc)]
            reach = float(np.max(np.abs(finite))) if finite.size else 0.0
            self.rc_plot.image.setImage(to_uint8(rc, -reach, reach), autoLevels=False, levels=(0, 255))
        for plot in (self.input_plot, self.gradient_plot, self.rc_plot):
            plot.set_box("theoretical", snapshot.theoretical_box, self._shape)
        for plot in (self.input_plot, self.gradient_plot):
            plot.set_box("empirical", snapshot.empirical_box, self._shape)
        for key in ("significant halo", "significant"):
            self.rc_plot.set_outline(key, snapshot.significant)
        self._describe(snapshot)
        if first:
            self._frame()
        self.status_label.setText(f"Mapped {snapshot.done} of {snapshot.total} "
                                  f"({snapshot.n_images} inputs, {snapshot.n_frames} noise frames)…")

    def finish(self, snapshot: ReceptiveFieldSnapshot) -> None:
        """Show the finished mapping."""
        self.show_snapshot(snapshot)
        text = f"Done: gradient over {snapshot.n_images} inputs, {snapshot.n_frames} noise frames."
        if snapshot.gradient is not None and snapshot.empirical_box is None:
            text += " The gradient is zero on every input: no empirical box."
        self.status_label.setText(text)

    def cancelled(self) -> None:
        """Say the mapping was cancelled; the maps made so far stay."""
        done = f" after {self._last.done} of {self._last.total}" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the maps show what was recorded.")

    def failed(self, text: str) -> None:
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Remove every map and box (the unit and settings stay)."""
        self._last = self._shape = None
        for plot in (self.input_plot, self.gradient_plot, self.rc_plot):
            plot.clear()
        self.input_plot.set_title(INPUT_TITLE)  # the last unit's box sizes are its legend
        for label in (self.boxes_label, self.ranges_label, self.status_label):
            label.setText(" ")

    @property
    def last_snapshot(self) -> ReceptiveFieldSnapshot | None:
        return self._last

    def figure_data(self):
        """What this view shows, as :mod:`engine.figures` data for a paper figure (None before a result)."""
        from engine.figures.sources import from_snapshot

        return from_snapshot(self._last) if self._last is not None else None

    def shown_box(self, key: str) -> tuple[float, float, float, float] | None:
        """The outline drawn on the input as (top, left, bottom, right) inclusive pixels, or None."""
        xs, ys = self.input_plot.outlines[key].getData()
        if xs is None or len(xs) == 0:
            return None
        return (float(min(ys)), float(min(xs)), float(max(ys)) - 1, float(max(xs)) - 1)

    # --- drawing -----------------------------------------------------------------------

    def _describe(self, s: ReceptiveFieldSnapshot) -> None:
        def swatch(colour: str, dashed: bool) -> str:
            return f"<span style='color:{colour}; font-weight:bold'>{'- - -' if dashed else '———'}</span>"

        self.boxes_label.setText(
            f"<b>{s.unit_label}</b> &nbsp; {swatch(THEORETICAL_COLOUR, False)} theoretical "
            f"(anatomy): {box_size(s.theoretical_box)} &nbsp; {swatch(EMPIRICAL_COLOUR, True)} "
            f"empirical (|gradient| &gt; {s.rel_threshold:g} × peak): {box_size(s.empirical_box)}")
        parts = []
        if s.gradient is not None:
            parts.append(f"|gradient| 0 to {float(np.max(s.gradient)):.3g}")
        rc = s.on_minus_off
        if rc is not None and np.isfinite(rc).any():
            reach = float(np.nanmax(np.abs(rc)))
            parts.append(f"ON − OFF ±{reach:.3g} (blue: dark drives, red: bright drives)")
        if s.significant is not None:
            parts.append(f"outlined: {s.n_significant} of {s.n_tests} noise cells significant "
                         f"(Welch's t, ON vs OFF; FDR {s.fdr:g})")
            each = noise_frames_per_cell(s.n_frames, self._on_per_frame, s.n_tests)
            if each is not None and each < ENOUGH_FRAMES_PER_CELL and s.done >= s.total:
                parts.append(f"each cell was bright in about {each:.0f} frames and dark in as many: "
                             "more noise frames let more cells pass")
        self.ranges_label.setText("; ".join(parts) or " ")
        self.input_plot.set_title(
            f"<span style='color:{THEORETICAL_COLOUR}'>&#9632; theoretical "
            f"{box_size(s.theoretical_box)}</span><br><span style='color:{EMPIRICAL_COLOUR}'>"
            f"&#9632; empirical {box_size(s.empirical_box)}</span>")

    def _frame(self) -> None:
        """Frame the theoretical box (with a margin) or the whole image."""
        if self._shape is None:
            return
        h, w = self._shape
        box = self._last.theoretical_box if self._last is not None else None
        if self.zoom_check.isChecked() and box is not None:
            top, left, bottom, right = clip_box(box, h, w)
            margin = max(2.0, 0.25 * max(bottom - top + 1, right - left + 1))
            x_range = (max(0, left - margin), min(w, right + 1 + margin))
            y_range = (max(0, top - margin), min(h, bottom + 1 + margin))
        else:
            x_range, y_range = (0, w), (0, h)
        # Not linked: with locked aspects, plots of different shapes would push each other's ranges.
        for plot in (self.input_plot, self.gradient_plot, self.rc_plot):
            plot.plot.setRange(xRange=x_range, yRange=y_range, padding=0)
