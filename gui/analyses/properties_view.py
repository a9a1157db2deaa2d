"""The V1 property battery of a layer: one histogram per property, filled as units finish.

"Run battery" measures the units at the receptive-field centre of the recorded layer
(:class:`engine.jobs.properties.Properties`); the histograms are drawn after each of the
battery's protocols (orientation, spatial frequency, size) from what it has measured so
far, and the status line says how far each protocol is.  "Load reference…" reads
distributions from a CSV (one column per property, e.g. published V1 data), or measures a
lab's neurons from a responses file of labelled gratings (``.npz``, ``.h5``, ``.mat``, NWB or a
long-form CSV; :func:`engine.analyses.neuron_tuning.reference_from_responses`, in a thread of
its own, with the battery's definitions); they are drawn as outlines over the model's bars,
and each title gives the KS similarity ``1 - D`` (Marques et al. 2021).  The neurons' spatial
frequencies, in cycles per image, are compared in the battery's cycles per receptive field
once the battery has given the layer's field.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from engine.analyses.neuron_tuning import SF_PROPERTIES, in_battery_units, is_responses_file
from engine.analyses.properties import COLUMNS, PROPERTIES, ks_similarity, read_reference
from engine.errors import UnitscopeError
from engine.jobs.properties import Properties, PropertiesSnapshot
from gui.analyses.job_view import AnalysisView

MODEL_BRUSH = (90, 160, 230, 170)
REFERENCE_PEN = pg.mkPen((230, 120, 30), width=2)
TITLES = {"preferred_orientation_deg": "pref. orientation (°)", "circular_variance": "circ. variance",
          "orientation_bandwidth_deg": "ori. bandwidth (°)", "orthogonal_preferred_ratio": "orth. / pref.",
          "peak_sf": "peak SF", "sf_bandwidth_octaves": "SF bandwidth (oct.)",
          "surround_suppression_index": "surround suppr.", "modulation_ratio": "F1/F0",
          "response_magnitude": "response"}
"""Short titles (the dock is narrow); the CSV and the tooltips use the full names."""
BINS = 12


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of the finite ``values`` in each bin, values beyond the edges in the end bins
    (all zero when there are none)."""
    values = np.clip(values[np.isfinite(values)], edges[0], edges[-1])
    counts, _ = np.histogram(values, edges)
    return counts / values.size if values.size else counts.astype(float)


def shared_edges(*samples: np.ndarray) -> np.ndarray:
    """``BINS`` equal bins from the 2nd to the 98th percentile of the finite values of every
    sample (a few units with F0 near zero would otherwise stretch the modulation ratio's axis)."""
    finite = np.concatenate([s[np.isfinite(s)] for s in samples]) if samples else np.array([])
    if finite.size == 0:
        return np.linspace(0, 1, BINS + 1)
    low, high = (float(v) for v in np.percentile(finite, [2, 98]))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def progress_text(snapshot: PropertiesSnapshot) -> str:
    """``orientation ✓ · spatial frequency 96 of 384 · size`` and the stimuli in all."""
    parts = []
    for name, recorded, total in snapshot.stages:
        if recorded >= total and name != snapshot.stage:
            parts.append(f"{name} ✓")
        elif recorded or name == snapshot.stage:
            parts.append(f"{name} {recorded} of {total}")
        else:
            parts.append(name)
    head = " · ".join(parts) if parts else f"{len(snapshot.rows)} of {snapshot.n_units} units"
    return f"{head} ({snapshot.done} of {snapshot.total} stimuli, {snapshot.n_units} units)…"


class PropertiesView(AnalysisView):
    """Histograms of the battery's properties over a layer's units.

    Signals
    -------
    properties_requested()
        The user asked to run the battery on the recorded layer with the settings shown.
    reference_loaded(str)
        A reference was read or measured and is drawn (its file name; "" when it failed).
    """

    properties_requested = Signal()
    reference_loaded = Signal(str)  # the reference's file name once it is drawn ("" when it could not be read)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.properties_requested.connect(self._request)
        self.run_action = QAction("&Property battery", self)
        self.run_action.setIconText("Run battery")
        self.run_action.setStatusTip("Orientation, SF, surround suppression and F1/F0 of the layer's units")
        self.run_action.triggered.connect(self.properties_requested)
        self.reference_action = QAction("Load reference…", self)
        self.reference_action.setStatusTip("Reference distributions: a CSV with one column per property, or a "
                                           "lab's responses to labelled gratings, measured as the battery measures")
        self.reference_action.triggered.connect(self._choose_reference)
        self.reference: dict[str, np.ndarray] = {}  # what the histograms compare, in the battery's units
        self.neurons = None  # a NeuronReference measured from a responses file, or None
        self._measuring = self._measuring_name = None  # the thread measuring one, and its file's name
        self._last: PropertiesSnapshot | None = None

        buttons = []
        for action in (self.run_action, self.reference_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            buttons.append(button)
        self.units_spin = QSpinBox(self, minimum=0, maximum=100000, value=64, specialValueText="all units",
                                   suffix=" units", toolTip="Channels measured, spread over the layer (0: all)")
        self.orientations_spin = QSpinBox(self, minimum=4, maximum=72, value=12, suffix=" orientations")
        self.phases_spin = QSpinBox(self, minimum=1, maximum=32, value=8, suffix=" phases")
        # Buttons on one row, the settings under them: the whole text of each fits a narrow dock.
        controls = QGridLayout()
        for column, widget in enumerate(buttons):
            controls.addWidget(widget, 0, column)
        for i, widget in enumerate((self.units_spin, self.orientations_spin, self.phases_spin)):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # the dock may be narrow
            widget.setMinimumWidth(widget.sizeHint().width())
            controls.addWidget(widget, 1 + i // 2, i % 2)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.setMinimumHeight(200)
        self.plots: dict[str, pg.PlotItem] = {}
        self.bars: dict[str, pg.PlotDataItem] = {}
        self.outlines: dict[str, pg.PlotDataItem] = {}
        for i, name in enumerate(PROPERTIES):
            if i and i % 3 == 0:
                self.graphics.nextRow()
            plot = self.graphics.addPlot()
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.hideAxis("left")  # fractions of units: the shapes are what matters
            plot.getAxis("bottom").setStyle(tickLength=-3)
            plot.getAxis("bottom").setHeight(18)
            plot.setToolTip(name)
            self.plots[name] = plot
            self.bars[name] = plot.plot([], [], stepMode="center", fillLevel=0, brush=MODEL_BRUSH, pen=None)
            self.outlines[name] = plot.plot([], [], stepMode="center", pen=REFERENCE_PEN)
            self._title(name)
        self.summary_label = QLabel(" ", wordWrap=True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(" ", wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def make_job(self, layer: str) -> Properties:
        """The battery on ``layer`` with the settings shown."""
        return Properties(layer, self.units_spin.value() or None, self.orientations_spin.value(),
                          phases=self.phases_spin.value())

    def set_reference(self, reference: dict[str, np.ndarray]) -> None:
        """Reference distributions by property (from :func:`engine.analyses.properties.read_reference`)."""
        self.neurons = None
        self.reference = dict(reference)
        self._draw()

    def set_neurons(self, neurons) -> None:
        """A lab's neurons as the reference (:class:`engine.analyses.neuron_tuning.NeuronReference`):
        their spatial frequencies are compared once the battery has given the layer's field."""
        self.neurons = neurons
        self._convert_neurons()
        self._draw()

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Property battery (the analysis's shortcut) and Load reference."""
        return [self.run_action, self.reference_action]

    def context_changed(self) -> None:
        """Nothing to enable: the battery measures whichever layer is recorded."""

    def _request(self) -> None:
        layer = self.context.layer if self.context is not None else None
        if layer is None:
            self.status_label.setText("Choose a layer first: the battery measures the layer shown.")
            return
        self.job_requested.emit(self.make_job(layer))

    def started(self, job: Properties) -> None:
        self.clear()
        self.status_label.setText(job.describe())

    def show_snapshot(self, snapshot: PropertiesSnapshot) -> None:
        """Redraw the histograms when a protocol has been measured; say how far each protocol is."""
        changed = self._last is None or self._measured(snapshot) != self._measured(self._last)
        self._last = snapshot
        if changed:
            self._convert_neurons()
            self._draw()
        self.status_label.setText(progress_text(snapshot))

    def finish(self, snapshot: PropertiesSnapshot) -> None:
        self.show_snapshot(snapshot)
        self.status_label.setText(f"Done: {len(snapshot.rows)} units of {snapshot.layer}.")

    def cancelled(self) -> None:
        done = [name for name, recorded, total in (self._last.stages if self._last else []) if recorded >= total]
        what = f"the {', '.join(done)} protocol(s)" if done and self._rows() else "no protocol"
        self.status_label.setText(f"Cancelled: the histograms show what {what} measured.")

    def failed(self, text: str) -> None:
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Forget the units (the reference stays)."""
        self._last = None
        self._draw()
        self.status_label.setText(" ")

    def values(self, name: str) -> np.ndarray:
        """The model's values of a property over the units, as measured so far (NaN for a
        property whose protocol has not been recorded yet)."""
        rows = self._rows()
        if not rows:
            return np.array([])
        i = COLUMNS.index(name)
        return np.array([float(row[i]) for row in rows], dtype=float)

    def similarity(self, name: str) -> float:
        """KS similarity of a property to the reference (NaN without one)."""
        return ks_similarity(self.values(name), self.reference[name]) if name in self.reference else math.nan

    # --- internals ---------------------------------------------------------------------

    def _rows(self) -> list[list]:
        if self._last is None:
            return []
        return self._last.rows or self._last.preview

    @staticmethod
    def _measured(snapshot: PropertiesSnapshot) -> tuple:
        return len(snapshot.rows), len(snapshot.preview), tuple(r >= t for _, r, t in snapshot.stages)

    def _title(self, name: str, score: float = math.nan) -> None:
        text = TITLES[name] + ("" if math.isnan(score) else f" · KS {score:.2f}")
        self.plots[name].setTitle(text, size="8pt")

    def _draw(self) -> None:
        scores = []
        for name in PROPERTIES:
            model = self.values(name)
            reference = self.reference.get(name, np.array([]))
            edges = shared_edges(model, reference)
            if np.isfinite(model).any():
                self.bars[name].setData(edges, histogram(model, edges))
            else:
                self.bars[name].setData([], [])
            if reference.size:
                self.outlines[name].setData(edges, histogram(reference, edges))
            else:
                self.outlines[name].setData([], [])
            score = self.similarity(name) if model.size else math.nan
            scores += [] if math.isnan(score) else [score]
            self._title(name, score)
        n = len(self._rows())
        text = f"{n} units" if n else " "
        if scores:
            text += f" · mean KS similarity to the reference {np.mean(scores):.3f} over {len(scores)} properties"
        self.summary_label.setText(text)

    def _choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Reference: properties (CSV) or responses to labelled gratings", "",
            "References (*.csv *.npz *.h5 *.hdf5 *.mat *.nwb);;All files (*)")
        if path:
            self.load_reference(Path(path))

    def load_reference(self, path: Path) -> None:
        """Read a reference: a CSV of properties at once, a responses file measured in a thread
        of its own (:attr:`reference_loaded` when done); a bad file is said in the status line."""
        path = Path(path)
        if is_responses_file(path):
            self._measure(path)
            return
        try:
            self.set_reference(read_reference(path))
        except UnitscopeError as exc:
            self.status_label.setText(str(exc))
            self.reference_loaded.emit("")
            return
        self.status_label.setText(f"Reference: {path.name} ({', '.join(self.reference)}).")
        self.reference_loaded.emit(path.name)

    def _measure(self, path: Path) -> None:
        from superqt.utils import create_worker

        from engine.analyses.neuron_tuning import reference_from_responses

        if self._measuring is not None:
            return
        self.reference_action.setEnabled(False)
        self.status_label.setText(f"Measuring the neurons of {path.name} from their grating responses…")
        self._measuring = create_worker(reference_from_responses, path, _start_thread=False, _ignore_errors=True)
        self._measuring_name = path.name  # what the status line names
        self._measuring.returned.connect(self._measured_neurons)
        self._measuring.errored.connect(self._not_measured)
        self._measuring.start()

    def _measured_neurons(self, neurons) -> None:
        name = self._measuring_done()
        self.set_neurons(neurons)
        text = f"Reference: {name}, {neurons.n_neurons} neurons measured on {neurons.n_gratings} gratings"
        if neurons.left_out:
            text += f" ({len(neurons.left_out)} other rows left out)"
        if neurons.not_computed:
            text += "; not compared: " + "; ".join(f"{k}: {why}" for k, why in neurons.not_computed.items())
        if self._sf_waits():
            text += "; spatial frequency compared once the battery has given the layer's receptive field"
        self.status_label.setText(text + ".")
        self.reference_loaded.emit(name)

    def _not_measured(self, exc: Exception) -> None:
        self._measuring_done()
        self.status_label.setText(str(exc) if isinstance(exc, UnitscopeError) else
                                  f"The reference could not be measured: {type(exc).__name__}: {exc}")
        self.reference_loaded.emit("")

    def _measuring_done(self) -> str:
        """Ready for another reference; the name of the file just measured."""
        name, self._measuring, self._measuring_name = self._measuring_name, None, None
        self.reference_action.setEnabled(True)
        return name

    def _sf_waits(self) -> bool:
        """Whether the neurons' spatial frequencies wait for the battery's receptive field."""
        return (self.neurons is not None and (self._last is None or "image_side" not in self._last.rf)
                and any(name in self.neurons.values for name in SF_PROPERTIES))

    def _convert_neurons(self) -> None:
        """The neurons' properties in the battery's units: spatial frequency per receptive field of
        the layer measured, as ``unitscope properties --reference`` converts them (left out until
        the battery has given the field)."""
        if self.neurons is None:
            return
        values = dict(self.neurons.values)
        if self._last is not None and "image_side" in self._last.rf:
            self.reference = in_battery_units(values, self._last.rf.get("rf_side"), self._last.rf["image_side"])
        else:
            self.reference = {name: v for name, v in values.items() if name not in SF_PROPERTIES}
