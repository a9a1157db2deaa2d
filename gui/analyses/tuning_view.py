"""A unit's tuning curve, drawn while the sweep runs: F0 with markers, F1 dashed, metrics.

The view only asks and shows.  Its actions ("Orientation tuning", "Spatial-frequency
tuning", and the "Protocols" menu's entries for the V1 battery's size, contrast, hue, bar-length and phase
protocols) emit :attr:`TuningView.tuning_requested`; the window builds the request with
:meth:`TuningView.make_job` and hands every snapshot the engine streams back to
:meth:`TuningView.show_snapshot`.  Conditions not recorded yet are left out of the plot,
so a cancelled sweep keeps the part of the curve it has.  A battery protocol runs as the
engine's :class:`~engine.jobs.protocol_responses.ProtocolResponses` job; its curve and
headline metric (:func:`engine.analyses.properties.protocol_metrics`) are drawn when it ends.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from engine.analyses.properties import curve, protocol_metrics
from engine.jobs.protocol_responses import ProtocolResponses, ProtocolSnapshot
from engine.jobs.tuning import SF_SWEEP, Tuning, TuningSnapshot
from engine.recording.unit import Unit
from gui.analyses.job_view import AnalysisView

log = logging.getLogger(__name__)

F0_COLOR = (90, 160, 230)
F1_COLOR = (255, 170, 60)
PREFERRED_PEN = pg.mkPen((255, 214, 10), width=1, style=Qt.PenStyle.DotLine, cosmetic=True)
NO_UNIT = "Click a channel in the feature maps, then choose a tuning sweep."
SF_TICKS = [(math.log10(2.0 ** k), f"{2.0 ** k:g}") for k in range(-6, 10)]
#: The battery's protocols offered next to the sweeps: kind -> (menu text, swept parameter, axis label, log axis).
PROTOCOLS = {
    "size": ("Size", "radius", "aperture radius (px, log scale)", True),
    "contrast": ("Contrast", "contrast", "contrast (log scale)", True),
    "hue": ("Hue", "hue", "hue (deg)", False),
    "bar_length": ("Bar length", "length", "bar length (px, log scale)", True),
    "phase": ("Phase (F1/F0)", "orientation", "orientation (deg)", False),
}


def _num(value: float, fmt: str = ".2f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


def metrics_text(snapshot: TuningSnapshot) -> str:
    """The metrics of a snapshot as one or two readable lines."""
    m = snapshot.metrics
    if snapshot.param == "orientation":
        o = m.get("orientation")
        if not o:
            return "No responses yet."
        return (f"Preferred orientation {_num(o['preferred_deg'], '.1f')}° · OSI {_num(o['osi'])} · "
                f"circular variance {_num(o['circular_variance'])}\nBandwidth "
                f"{_num(o['bandwidth_deg'], '.1f')}° (half-width at 1/√2 of the peak)"
                + _fit_text("von Mises", o.get("preferred_fit_deg"), "°", o.get("bandwidth_fit_deg"), "°",
                            o.get("fit_r_squared")))
    rf, img = m.get("sf_rf"), m.get("sf")
    main = rf or img
    if not main:
        return "No responses yet."
    text = f"Preferred SF {_num(main['preferred'])} cycles/{'RF' if rf else 'image'}"
    if rf and img:
        text += f" ({_num(img['preferred'], '.1f')} cycles/image)"
    return (text + f"\nBandwidth {_num(main['bandwidth_octaves'])} octaves (full width at half height)"
            + _fit_text("log-Gaussian", main.get("preferred_fit"), "", main.get("bandwidth_fit_octaves"),
                        " octaves", main.get("fit_r_squared")))


def _fit_text(model: str, preferred, preferred_unit: str, bandwidth, bandwidth_unit: str, r_squared) -> str:
    """A line with the fitted preferred value and bandwidth beside the grid's (nothing without a fit)."""
    if preferred is None or not math.isfinite(preferred):
        return ""
    return (f"\nFit ({model}, R² {_num(r_squared, '.2f')}): preferred {_num(preferred, '.1f')}{preferred_unit}, "
            f"bandwidth {_num(bandwidth, '.2f')}{bandwidth_unit}")


#: The headline of each protocol: (text, metric, format, unit), joined with " · ".
HEADLINES = {
    "size": (("Surround suppression index", "surround_suppression_index", ".3f", ""),
             ("preferred radius", "preferred_radius", ".1f", " px")),
    "contrast": (("c50", "c50", ".3f", ""), ("exponent", "exponent", ".3f", ""),
                 ("Naka-Rushton R²", "r_squared", ".2f", "")),
    "hue": (("Preferred hue", "preferred_hue_deg", ".1f", "°"), ("selectivity", "hue_selectivity", ".3f", "")),
    "bar_length": (("End-stopping index", "end_stopping_index", ".3f", ""),
                   ("optimal length", "optimal_length", ".1f", " px")),
}


def protocol_text(kind: str, metrics: dict) -> str:
    """The headline of a battery protocol's metrics (:func:`engine.analyses.properties.protocol_metrics`)."""
    m = metrics.get(kind, {})
    lines = [" · ".join(f"{text} {_num(m[key], spec)}{unit}" for text, key, spec, unit in HEADLINES[kind])
             ] if m and kind in HEADLINES else []
    ratio = metrics.get("modulation_ratio")
    if ratio is not None:
        cell = "" if not math.isfinite(ratio) else (" (simple)" if ratio > 1 else " (complex)")
        lines.append(f"F1/F0 {_num(ratio, '.3f')}{cell} at the best condition")
    return "\n".join(lines) or "No responses yet."


class TuningView(AnalysisView):
    """Tuning sweeps of the unit shown in the unit view.

    Signals
    -------
    tuning_requested(str)
        The user asked for a sweep: "orientation" or "sf", or a protocol of :data:`PROTOCOLS`.
    """

    tuning_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tuning_requested.connect(self._request)
        self.orientation_action = QAction("&Orientation tuning", self, enabled=False)
        self.orientation_action.setStatusTip("Sweep grating orientation for the unit shown in the unit view")
        self.orientation_action.triggered.connect(lambda: self.tuning_requested.emit("orientation"))
        self.sf_action = QAction("&Spatial-frequency tuning", self, enabled=False)
        self.sf_action.setStatusTip("Sweep spatial frequency (1/4 to 8 cycles per receptive field) "
                                    "at the orientation given")
        self.sf_action.triggered.connect(lambda: self.tuning_requested.emit("sf"))
        self.protocol_actions: dict[str, QAction] = {}
        for kind, (text, *_rest) in PROTOCOLS.items():
            action = QAction(text, self, enabled=False)
            action.setStatusTip(f"{text} protocol of the V1 battery, at the SF sweep's orientation and the SF given")
            action.triggered.connect(lambda _checked=False, kind=kind: self.tuning_requested.emit(kind))
            self.protocol_actions[kind] = action
        self.protocol_metrics: dict = {}
        self._param = "orientation"
        self._last: TuningSnapshot | None = None

        self.unit_label = QLabel(NO_UNIT, wordWrap=True)
        self.status_label = QLabel(" ", wordWrap=True)
        self.metrics_label = QLabel(" ", wordWrap=True)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label.setStyleSheet("font-weight: bold")
        self._build_controls()
        self._build_plot()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unit_label)
        layout.addLayout(self._controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.metrics_label)
        layout.addWidget(self.status_label)

    def _build_controls(self) -> None:
        self.orientation_action.setIconText("Orientation tuning")  # the buttons' text
        self.sf_action.setIconText("SF tuning")
        buttons = []
        for action in (self.orientation_action, self.sf_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            buttons.append(button)
        self.stimulus_combo = QComboBox(self, toolTip="Full-field gratings, or Gabor patches "
                                        "centred on the unit's receptive field")
        self.stimulus_combo.addItem("gratings", "gratings")
        self.stimulus_combo.addItem("Gabors on the RF", "gabors")
        self.position_combo = QComboBox(self, toolTip="Which unit of the channel's map to sweep: the one "
                                        "clicked in the feature maps (its RF box in the unit view), or "
                                        "the map's centre")
        self.position_combo.addItem("clicked unit", "box")
        self.position_combo.addItem("map centre", "centre")
        self.orientations_spin = QSpinBox(self, minimum=2, maximum=72, value=12, suffix=" orientations",
                                          toolTip="Orientations from 0 to 180° for an orientation sweep")
        self.sf_spin = QDoubleSpinBox(self, minimum=0.05, maximum=64.0, value=2.0, decimals=2,
                                      singleStep=0.25, suffix=" cycles/RF",
                                      toolTip="Spatial frequency of an orientation sweep, in cycles "
                                              "per receptive field (per image for units without one)")
        self.phases_spin = QSpinBox(self, minimum=1, maximum=32, value=8, suffix=" phases",
                                    toolTip="Phases per condition: F0 is their mean, F1 the "
                                            "amplitude of the first harmonic")
        self.sf_orientation_spin = QDoubleSpinBox(self, minimum=0.0, maximum=179.9, decimals=1,
                                                  prefix="SF sweep at ", suffix="°",
                                                  toolTip="Orientation held during a spatial-frequency "
                                                          "sweep or a protocol (set to the preferred one "
                                                          "after an orientation sweep)")
        self.protocol_button = QToolButton(self, text="Protocols \u25be",
                                           toolTip="The V1 battery's protocols (size, contrast, hue, bar length, "
                                                   "phase); they run at the SF sweep's orientation and the SF given "
                                                   "(hue: a disc on the RF)")
        self.protocol_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.protocol_button)
        menu.addActions(list(self.protocol_actions.values()))
        self.protocol_button.setMenu(menu)
        self._controls = QGridLayout()
        # Three to a row, each allowed to narrow: the controls never make the dock wider
        # than a side column of a 1280 px screen.
        for i, widget in enumerate((*buttons, self.protocol_button, self.stimulus_combo, self.position_combo,
                                    self.orientations_spin, self.sf_spin, self.phases_spin,
                                    self.sf_orientation_spin)):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            widget.setMinimumWidth(72)
            self._controls.addWidget(widget, i // 3, i % 3)

    def _build_plot(self) -> None:
        self.plot_widget = pg.PlotWidget(self)
        self.plot_widget.setMinimumHeight(100)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "response")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # "x0.001" misleads for raw activations
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        legend = self.legend = self.plot.addLegend(labelTextSize="8pt", colCount=2, verSpacing=-6)
        legend.setParentItem(self.plot)  # the view box clips its children: anchor to the plot
        legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-4, -2))  # in the title row, off the data
        self.f0_item = self.plot.plot([], [], name="F0 (mean over phase)",
                                      pen=pg.mkPen(F0_COLOR, width=2), symbol="o", symbolSize=6,
                                      symbolBrush=F0_COLOR, symbolPen=None)
        self.f1_item = self.plot.plot([], [], name="F1 (first harmonic)",
                                      pen=pg.mkPen(F1_COLOR, width=2, style=Qt.PenStyle.DashLine))
        self.preferred_line = pg.InfiniteLine(angle=90, pen=PREFERRED_PEN)
        self.preferred_line.setVisible(False)
        self.plot.addItem(self.preferred_line, ignoreBounds=True)
        self._set_axis("orientation")
        self.plot.setTitle(" ", size="9pt")

    # --- public ------------------------------------------------------------------------

    def set_unit(self, label: str | None) -> None:
        """Say which unit a sweep would measure (None: no unit shown, sweeps disabled)."""
        self.unit_label.setText(f"Unit: {label}" if label else NO_UNIT)
        for action in (self.orientation_action, self.sf_action, *self.protocol_actions.values()):
            action.setEnabled(label is not None)
        self.protocol_button.setEnabled(label is not None)

    def make_job(self, layer: str, channel: int, position: tuple[int, int] | None,
                 param: str) -> Tuning | ProtocolResponses:
        """The request for a sweep of ``param`` (or the protocol ``param`` of :data:`PROTOCOLS`)
        with the settings shown.

        ``position`` is the unit in the unit view's RF box, or None for a unit without a
        spatial map; it is used when the position setting says so, else the map centre.
        """
        use_box = position is not None and self.position_combo.currentData() == "box"
        y, x = position if use_box else (None, None)
        if param in PROTOCOLS:
            orientation = ("orientation", (self.sf_orientation_spin.value(),))
            sf = ("sf_rf" if position is not None else "sf", (self.sf_spin.value(),))
            params = {"hue": (), "bar_length": (orientation,)}.get(param, (orientation, sf))
            return ProtocolResponses(layer, channel, y, x, protocol=param, params=params,
                                     phases=self.phases_spin.value(),
                                     batch_size=self.phases_spin.value() * max(1, 16 // self.phases_spin.value()))
        sf = (self.sf_spin.value(),) if param == "orientation" else SF_SWEEP
        return Tuning(layer, channel, y, x, param=param, stimulus=self.stimulus_combo.currentData(),
                      orientations=self.orientations_spin.value(), sf=sf,
                      orientation=self.sf_orientation_spin.value(), phases=self.phases_spin.value(),
                      batch_size=self.phases_spin.value() * max(1, 16 // self.phases_spin.value()))

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Orientation tuning (the analysis's shortcut), SF tuning and the protocols."""
        self.sf_action.setShortcut("Ctrl+Shift+T")
        return [self.orientation_action, self.sf_action, *self.protocol_actions.values()]

    def _request(self, param: str) -> None:
        unit = self.clicked_unit()
        if unit is not None:
            self.job_requested.emit(self.make_job(unit.layer, unit.channel, self.context.unit_position, param))

    def started(self, request: Tuning | ProtocolResponses) -> None:
        """Empty the plot for a new sweep of ``request``; the controls show its settings
        (a job from a reopened session may differ from what they showed)."""
        self.clear()
        if isinstance(request, ProtocolResponses):
            self._set_protocol_axis(request.protocol)
            self._show_measured(Unit(request.layer, request.channel, request.y, request.x).label)
            self.status_label.setText(request.describe())
            return
        self._show_settings(request)
        self._set_axis("orientation" if request.param == "orientation" else "sf_rf")
        self._show_measured(request.unit_label)
        self.status_label.setText(request.describe())

    def _show_measured(self, label: str) -> None:
        """Name the unit measured above the controls (the plot's title row holds the legend)."""
        self.unit_label.setText(f"Unit: {label} (measured)")

    def show_snapshot(self, snapshot: TuningSnapshot | ProtocolSnapshot) -> None:
        """Draw the curve so far (conditions not yet recorded are left out) and its metrics;
        a protocol's curve and metrics come with its last snapshot."""
        self._last = snapshot
        if isinstance(snapshot, ProtocolSnapshot):
            self._show_protocol(snapshot)
            return
        self._set_axis(snapshot.param)
        self._show_measured(snapshot.unit_label)
        x = np.asarray(snapshot.values, dtype=float)
        seen = np.isfinite(snapshot.f0)
        self.f0_item.setData(x[seen], snapshot.f0[seen])
        has_f1 = np.isfinite(snapshot.f1)
        self.f1_item.setData(x[has_f1], snapshot.f1[has_f1])
        self._list_f1(bool(has_f1.any()))
        self.metrics_label.setText(metrics_text(snapshot))
        preferred = self._preferred(snapshot)
        self.preferred_line.setVisible(preferred is not None)
        if preferred is not None:
            self.preferred_line.setValue(preferred if self._param == "orientation" else math.log10(preferred))
        self.status_label.setText(f"Recorded {snapshot.done} of {snapshot.total} stimuli…")

    def finish(self, snapshot: TuningSnapshot | ProtocolSnapshot) -> None:
        """Show the finished sweep; an orientation sweep sets the SF sweep's orientation."""
        self.show_snapshot(snapshot)
        self.status_label.setText(f"Done: {snapshot.total} stimuli.")
        if isinstance(snapshot, ProtocolSnapshot):
            return
        log.debug("tuning of %s finished: %s", snapshot.unit_label, snapshot.metrics)
        preferred = self._preferred(snapshot)
        if snapshot.param == "orientation" and preferred is not None:
            self.sf_orientation_spin.setValue(round(preferred, 1) % 180.0)

    def cancelled(self) -> None:
        """Say the sweep was cancelled; the partial curve stays."""
        done = f" after {self._last.done} of {self._last.total} stimuli" if self._last else ""
        if isinstance(self._last, ProtocolSnapshot):  # its table and metrics come only at its end
            self.status_label.setText(f"Cancelled{done}: a protocol's curve is drawn when it ends.")
            return
        self.status_label.setText(f"Cancelled{done}: the curve shows what was recorded.")

    def failed(self, text: str) -> None:
        """Say the sweep failed (the window shows the details)."""
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Remove the curves and metrics (the unit and settings stay)."""
        self._last = None
        self.protocol_metrics = {}
        self.f0_item.setData([], [])
        self.f1_item.setData([], [])
        self.preferred_line.setVisible(False)
        self.plot.setTitle(" ", size="9pt")  # keeps the row the legend sits in
        self.metrics_label.setText(" ")
        self.status_label.setText(" ")

    @property
    def last_snapshot(self) -> TuningSnapshot | None:
        """The snapshot drawn last."""
        return self._last

    def figure_data(self):
        """What this view shows, as :mod:`engine.figures` data for a paper figure (None before a result)."""
        from engine.figures.sources import from_snapshot

        return from_snapshot(self._last) if self._last is not None else None

    # --- internals ---------------------------------------------------------------------

    def _show_protocol(self, snapshot: ProtocolSnapshot) -> None:
        kind = snapshot.protocol.get("protocol", "")
        self._set_protocol_axis(kind)
        if not snapshot.rows:
            self.status_label.setText(f"Recorded {snapshot.done} of {snapshot.total} stimuli…")
            return
        param = PROTOCOLS.get(kind, ("", "orientation"))[1]
        x, f0, fixed = curve(snapshot.columns, snapshot.rows, param, "f0")
        _x, f1, _fixed = curve(snapshot.columns, snapshot.rows, param, "f1")
        shown = np.log10(x) if self._param == "log" else x
        self.f0_item.setData(shown, f0)
        has_f1 = f1.size == x.size and bool(np.isfinite(f1).any())  # phased protocols only
        self.f1_item.setData(shown if has_f1 else [], f1 if has_f1 else [])
        self._list_f1(has_f1)
        self.protocol_metrics = protocol_metrics(kind, snapshot.columns, snapshot.rows)
        self.metrics_label.setText(protocol_text(kind, self.protocol_metrics))
        self.preferred_line.setVisible(False)

    def _list_f1(self, shown: bool) -> None:
        """The legend names F1 only while a curve of it is drawn (hue and bar length have none)."""
        listed = any(sample.item is self.f1_item for sample, _label in self.legend.items)
        if shown and not listed:
            self.legend.addItem(self.f1_item, "F1 (first harmonic)")
        elif listed and not shown:
            self.legend.removeItem(self.f1_item)

    def _set_protocol_axis(self, kind: str) -> None:
        _text, _param, label, log_x = PROTOCOLS.get(kind, ("", "", kind, False))
        self._param = "log" if log_x else "linear"
        self.plot.setLogMode(x=False, y=False)  # log values are drawn as log10: the ticks say the values
        self.plot.setLabel("bottom", label)
        ticks = [(math.log10(2.0 ** k), f"{2.0 ** k:g}") for k in range(-8, 10)] if log_x else None
        self.plot.getAxis("bottom").setTicks([ticks, []] if ticks else None)

    def _show_settings(self, job: Tuning) -> None:
        controls = (self.stimulus_combo, self.orientations_spin, self.sf_spin, self.phases_spin,
                    self.sf_orientation_spin)
        for control in controls:
            control.blockSignals(True)
        try:
            index = self.stimulus_combo.findData(job.stimulus)
            if index >= 0:
                self.stimulus_combo.setCurrentIndex(index)
            self.phases_spin.setValue(job.phases)
            if job.param == "orientation":
                self.orientations_spin.setValue(job.orientations)
                if job.sf:
                    self.sf_spin.setValue(job.sf[0])
            else:
                self.sf_orientation_spin.setValue(job.orientation)
        finally:
            for control in controls:
                control.blockSignals(False)

    def _preferred(self, snapshot: TuningSnapshot) -> float | None:
        m = snapshot.metrics.get(snapshot.param)
        value = None if not m else m.get("preferred_deg", m.get("preferred"))
        return value if value is not None and math.isfinite(value) else None

    def _set_axis(self, param: str) -> None:
        """Axis for the engine's parameter: "orientation", "sf_rf" (cycles/RF) or "sf" (cycles/image)."""
        self._param = "orientation" if param == "orientation" else "sf"
        if self._param == "orientation":
            self.plot.setLogMode(x=False, y=False)
            self.plot.setLabel("bottom", "orientation (deg)")
            self.plot.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in range(0, 181, 30)]])
        else:
            self.plot.setLogMode(x=True, y=False)
            per = "RF" if param == "sf_rf" else "image"
            self.plot.setLabel("bottom", f"spatial frequency (cycles/{per}, log scale)")
            # Log axis: ticks at powers of two, written as the frequencies themselves.
            self.plot.getAxis("bottom").setTicks([SF_TICKS, []])
