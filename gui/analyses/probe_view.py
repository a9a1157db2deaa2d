"""A probe: several pinned units, from one or several layers, listened to side by side.

The user pins the unit shown in the unit view ("Pin unit"), as many as wanted from any
layers, then plays a stimulus sequence to all of them at once (the inputs in the strip,
or a grating orientation sweep): the engine records every pinned unit's layer in the
same forward pass (:class:`engine.analyses.units.Probe`) and the plot gains a point per unit
after every batch, one line per unit (x: stimulus index).  Responses of units in
different layers can differ by orders of magnitude; "scale to peak" divides each line
by its largest absolute response.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from engine.jobs.probe import PROBE_SEQUENCES, ProbePlay, ProbeSnapshot
from engine.recording.unit import Unit
from gui.analyses.job_view import AnalysisView

log = logging.getLogger(__name__)

MAX_UNITS = 16
MAX_TICK_LABELS = 8
NO_UNIT = "Click a channel in the feature maps, then pin the unit shown in the unit view."


#: Line colours, distinct on a dark plot (Tableau 10), reused after ten units.
COLORS = ((78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
          (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172))


def unit_color(i: int) -> QColor:
    """The colour of the ``i``-th pinned unit (its line and its entry in the list)."""
    return QColor(*COLORS[i % len(COLORS)])


class ProbeView(AnalysisView):
    """Pinned units and their responses to a stimulus sequence.

    Signals
    -------
    pin_requested()
        The user asked to pin the unit shown in the unit view.
    play_requested()
        The user asked to play the chosen sequence to the pinned units.
    """

    pin_requested = Signal()
    play_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pin_requested.connect(self._pin_clicked_unit)
        self.play_requested.connect(self._request)
        self._units_of = None
        self.pin_action = QAction("P&in unit", self, enabled=False)
        self.pin_action.setStatusTip("Add the unit shown in the unit view to the probe")
        self.pin_action.triggered.connect(self.pin_requested)
        self.play_action = QAction("Play &stimuli", self, enabled=False)
        self.play_action.setStatusTip("Play the stimulus sequence to every pinned unit and plot "
                                      "their responses side by side")
        self.play_action.triggered.connect(self.play_requested)
        self.clear_action = QAction("Clear", self, enabled=False)
        self.clear_action.setStatusTip("Unpin every unit and clear the plot")
        self.clear_action.triggered.connect(self.clear_units)
        self.units: list[Unit] = []
        self._last: ProbeSnapshot | None = None
        self._curves: list[pg.PlotDataItem] = []

        self.unit_label = QLabel(NO_UNIT, wordWrap=True)
        buttons = QHBoxLayout()
        for action in (self.pin_action, self.play_action, self.clear_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            buttons.addWidget(button)
        self.sequence_combo = QComboBox(self, toolTip="What the pinned units are shown")
        for key, text in PROBE_SEQUENCES.items():
            self.sequence_combo.addItem(text, key)
        self.orientations_spin = QSpinBox(self, minimum=2, maximum=180, value=36, suffix=" orientations",
                                          toolTip="Orientations from 0 to 180° in the grating sweep")
        self.sequence_combo.currentIndexChanged.connect(
            lambda: self.orientations_spin.setEnabled(self.sequence_combo.currentData() == "orientations"))
        self.orientations_spin.setEnabled(False)
        buttons.addWidget(self.sequence_combo, 1)
        buttons.addWidget(self.orientations_spin)
        self.units_list = QListWidget(self, toolTip="Pinned units: layer[channel](row,column)")
        self.units_list.setMaximumHeight(44)
        self.units_list.setFlow(QListWidget.Flow.LeftToRight)
        self.units_list.setWrapping(True)
        self.scale_check = QCheckBox("scale to peak", self, toolTip="Divide each unit's responses by "
                                     "its largest absolute response (units of different layers)")
        self.scale_check.toggled.connect(lambda: self._last and self.show_snapshot(self._last))

        self.plot_widget = pg.PlotWidget(self)
        self.plot_widget.setMinimumHeight(160)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=False, y=True, alpha=0.2)  # an x grid would clip the first name
        self.plot.setLabel("left", "response")
        self.plot.setLabel("bottom", "stimulus")
        self.plot.getAxis("bottom").setStyle(hideOverlappingLabels=40)  # room for the first name
        self.legend = self.plot.addLegend(offset=(8, 8), labelTextSize="8pt", brush=(0, 0, 0, 160))
        self.status_label = QLabel(" ", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unit_label)
        layout.addLayout(buttons)
        layout.addWidget(self.units_list)
        layout.addWidget(self.scale_check)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def set_unit(self, label: str | None) -> None:
        """Say which unit "Pin unit" would add (None: no unit shown, pinning disabled)."""
        self.unit_label.setText(f"Unit shown: {label}" if label else NO_UNIT)
        self.pin_action.setEnabled(label is not None)

    def pin(self, unit: Unit) -> bool:
        """Add ``unit`` to the probe (False if it is already pinned or the probe is full)."""
        if unit in self.units or len(self.units) >= MAX_UNITS:
            return False
        self.units.append(unit)
        swatch = QPixmap(10, 10)
        swatch.fill(unit_color(len(self.units) - 1))
        self.units_list.addItem(unit.label)
        self.units_list.item(self.units_list.count() - 1).setIcon(QIcon(swatch))
        self._update_actions()
        self.status_label.setText(f"Pinned {unit.label}: {len(self.units)} unit(s).")
        return True

    def clear_units(self) -> None:
        """Unpin every unit and clear the plot."""
        self.units = []
        self.units_list.clear()
        self.clear()
        self._update_actions()

    def make_job(self, stimuli) -> ProbePlay:
        """The request for the pinned units with the sequence chosen (``stimuli``: the strip's)."""
        return ProbePlay(tuple(self.units), self.sequence_combo.currentData(),
                         tuple((s.kind, s.value) for s in stimuli), self.orientations_spin.value())

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Pin unit (the analysis's shortcut) and Play stimuli."""
        return [self.pin_action, self.play_action]

    def context_changed(self) -> None:
        """Enable pinning for the clicked unit; pinned units belong to the model they came from."""
        info = self.context.info if self.context is not None else None
        if info is not self._units_of:
            self._units_of = info
            self.clear_units()
        self.set_unit(self.context.unit_label if self.context is not None else None)

    def _pin_clicked_unit(self) -> None:
        unit = self.clicked_unit()
        if unit is not None:
            self.pin(unit)
            self.show_requested.emit()

    def _request(self) -> None:
        if self.context is not None and self.context.info is not None and self.units:
            self.job_requested.emit(self.make_job(self.context.stimuli))

    def started(self, request: ProbePlay) -> None:
        """Empty the plot for a new sequence."""
        self.clear()
        self.status_label.setText(request.describe())

    def show_snapshot(self, snapshot: ProbeSnapshot) -> None:
        """Draw every pinned unit's responses so far, one line each."""
        self._last = snapshot
        if [c.name() for c in self._curves] != snapshot.labels:
            self._remove_curves()
            for i, label in enumerate(snapshot.labels):
                color = unit_color(i)
                curve = self.plot.plot([], [], name=label, pen=pg.mkPen(color, width=2), symbol="o",
                                       symbolSize=5, symbolBrush=color, symbolPen=None)
                self._curves.append(curve)
        responses = np.asarray(snapshot.responses, dtype=float)
        x = np.arange(responses.shape[0], dtype=float)
        for u, curve in enumerate(self._curves):
            y = responses[:, u]
            if self.scale_check.isChecked():
                peak = np.nanmax(np.abs(y)) if y.size else 0.0
                y = y / peak if peak > 0 else y
            curve.setData(x, y)
        self.plot.setLabel("left", "response / peak" if self.scale_check.isChecked() else "response")
        self._set_ticks(snapshot)
        self.status_label.setText(f"Played {snapshot.done} of {snapshot.total} stimuli…")

    def finish(self, snapshot: ProbeSnapshot) -> None:
        self.show_snapshot(snapshot)
        self.status_label.setText(f"Done: {snapshot.total} stimuli played to "
                                  f"{len(snapshot.labels)} unit(s).")

    def cancelled(self) -> None:
        """Say the sequence was cancelled; the responses recorded so far stay."""
        done = f" after {self._last.done} of {self._last.total} stimuli" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the plot shows what was recorded.")

    def failed(self, text: str) -> None:
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Remove every line (the pinned units stay)."""
        self._last = None
        self._remove_curves()
        self.plot.getAxis("bottom").setTicks(None)
        self.status_label.setText(" ")

    def curve_data(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(label, x, y)`` of every line drawn."""
        return [(c.name(), *(np.asarray(a) for a in c.getData())) for c in self._curves]

    @property
    def last_snapshot(self) -> ProbeSnapshot | None:
        return self._last

    def figure_data(self):
        """What this view shows, as :mod:`engine.figures` data for a paper figure (None before a result)."""
        from engine.figures.sources import from_snapshot

        return from_snapshot(self._last) if self._last is not None else None

    # --- internals ---------------------------------------------------------------------

    def _remove_curves(self) -> None:
        for curve in self._curves:
            self.plot.removeItem(curve)
        self._curves = []
        self.legend.clear()

    def _update_actions(self) -> None:
        self.play_action.setEnabled(bool(self.units))
        self.clear_action.setEnabled(bool(self.units))

    def _set_ticks(self, snapshot: ProbeSnapshot) -> None:
        total = max(snapshot.total, 1)
        step = max(1, int(np.ceil(total / MAX_TICK_LABELS)))
        strip = snapshot.sequence == "strip"
        names = [(Path(n).stem if strip else n)[:10] for n in snapshot.stimulus_labels]
        ticks = [(float(i), names[i]) for i in range(0, len(names), step)]
        self.plot.getAxis("bottom").setTicks([ticks, [(float(i), "") for i in range(total)]])
        self.plot.setXRange(-0.5, total - 0.5, padding=0)  # room for the end labels
        what = "stimulus" if strip else "grating orientation"
        self.plot.setLabel("bottom", f"{what} (stimulus index 0–{total - 1})")
