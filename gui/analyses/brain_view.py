"""The Brain view: how well each layer predicts a lab's recorded neurons.

The user chooses a responses file (NWB, ``.npz``/``.h5``/``.mat`` or long CSV), the folder
of the images shown, the layers (empty: the model's main stages), the spike-count window
(NWB) and the visual angle of the model's input; "Predict" runs a
:class:`engine.jobs.predict.Predict` job.  As each layer finishes the view redraws

- the **layer sweep**: median held-out r over neurons per layer (with the median bootstrap
  interval), the normalised score, and the noise ceiling as a grey band;
- a **per-neuron scatter**: each neuron's ridge r at the chosen layer against its noise
  ceiling (the diagonal is the ceiling); clicking a neuron chooses it;
- the chosen neuron's trial-averaged responses against its **matched unit's**, the unit
  most correlated with it in the training folds;
- where stimuli are gratings named by their labels (no image folder is needed when all are),
  the neuron's **orientation tuning curve** (mean over repeats and phases at its preferred
  SF, SEM over repeats as error bars) with the matched unit's curve over the same gratings,
  scaled linearly to the neuron's range (one axis, the neuron's units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
)

from engine.analyses.neuron_tuning import scaled_to
from engine.errors import UnitscopeError
from engine.jobs.predict import Predict, PredictSnapshot
from gui.analyses.job_view import AnalysisView

R_PEN = pg.mkPen((31, 119, 180), width=2)
NORM_PEN = pg.mkPen((255, 127, 14), width=2, style=Qt.PenStyle.DashLine)
CEILING_BRUSH = pg.mkBrush(150, 150, 150, 80)
POINT_BRUSH = pg.mkBrush(31, 119, 180, 160)
CHOSEN_PEN = pg.mkPen((214, 39, 40), width=2)
UNIT_PEN = pg.mkPen((213, 94, 0), width=2, style=Qt.PenStyle.DashLine)
TUNING_KEY = ("<span style='color:#1f77b4'>&#9644; neuron (mean &plusmn; SEM)</span> &nbsp; "
              "<span style='color:#d55e00'>- - unit, scaled to the neuron's range</span>")
#: Said under the tuning plot: the convention of every stimulus of Unitscope.
CONVENTION = "θ: the direction luminance varies (0° = vertical bars, clockwise on screen)"
GRAPHICS_HEIGHT, TUNING_HEIGHT = 320, 200  # pixels: the sweep and scatters, and the tuning plot below them
KEY = ("<span style='color:#1f77b4'>&#9644; ridge r (median, 95% CI)</span> &nbsp; "
       "<span style='color:#ff7f0e'>- - r / ceiling</span> &nbsp; "
       "<span style='color:#969696'>&#9608; noise ceiling (95% CI)</span>")


def finite_median(values) -> float:
    """The median of the finite values (NaN when there are none), without a warning."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def parse_layers(text: str) -> tuple[str, ...]:
    """``"layer1, layer2 layer3"`` -> the layer names (empty: the main stages)."""
    return tuple(t for t in text.replace(",", " ").split() if t)


class BrainView(AnalysisView):
    """Layer sweep, per-neuron scatter and matched unit of a predict job.

    Signals
    -------
    predict_requested()
        The user asked to run the job with the settings shown.
    """

    predict_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.predict_requested.connect(self._request)
        self.responses_path = ""
        self.images_folder = ""
        self._last: PredictSnapshot | None = None
        self._source = ""  # where a result read from disk comes from (a cluster job's folder)
        self.neuron = 0
        self._tuning_shown = False

        self.run_action = QAction("&Predict neurons", self)
        self.run_action.setIconText("Predict")
        self.run_action.setStatusTip("Ridge encoding models, noise ceilings, RSA and best units for the neurons")
        self.run_action.triggered.connect(self.predict_requested)
        self.responses_action = QAction("Responses…", self)
        self.responses_action.setStatusTip("The recorded responses: .nwb, .npz, .h5, .mat or long-form .csv")
        self.responses_action.triggered.connect(self._choose_responses)
        self.images_action = QAction("Images…", self)
        self.images_action.setStatusTip("The folder of the images shown to the neurons (not needed when every "
                                        "stimulus is a grating label, e.g. 'grating orientation=30 sf=4')")
        self.images_action.triggered.connect(self._choose_images)
        buttons = QHBoxLayout()
        for action in (self.responses_action, self.images_action, self.run_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.files_label = QLabel("No responses chosen.", wordWrap=True)
        self.layers_edit = QLineEdit(self, placeholderText="main stages", toolTip="Layers to score, e.g. layer1 layer2")
        self.window_edit = QLineEdit("50:200", self, toolTip="NWB: spikes counted from A to B ms after each onset")
        self.deg_spin = QDoubleSpinBox(self, minimum=0.1, maximum=180.0, value=8.0, decimals=1, suffix="°",
                                       toolTip="Visual angle the model's input spans")
        form = QFormLayout()
        form.addRow("Layers", self.layers_edit)
        form.addRow("Window (ms)", self.window_edit)
        form.addRow("Image size", self.deg_spin)
        for widget in (self.layers_edit, self.window_edit, self.deg_spin):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # the dock may be narrow

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.setMinimumHeight(GRAPHICS_HEIGHT)
        self.sweep_plot = self._plot("layer", "held-out r", colspan=2)
        self.ceiling_band = pg.LinearRegionItem((0, 0), orientation="horizontal", movable=False, brush=CEILING_BRUSH,
                                                pen=pg.mkPen(None))
        self.ceiling_band.setVisible(False)
        self.sweep_plot.addItem(self.ceiling_band)
        self.sweep_errors = pg.ErrorBarItem(x=np.array([]), y=np.array([]), top=np.array([]), bottom=np.array([]),
                                           beam=0.1, pen=R_PEN)
        self.sweep_plot.addItem(self.sweep_errors)
        self.sweep_curve = self.sweep_plot.plot([], [], pen=R_PEN, symbol="o", symbolBrush=R_PEN.color(),
                                                symbolSize=6, name="ridge r")
        self.normalised_curve = self.sweep_plot.plot([], [], pen=NORM_PEN, symbol="s", symbolSize=5,
                                                     symbolBrush=NORM_PEN.color(), name="r / ceiling")
        self.graphics.nextRow()
        self.neuron_plot = self._plot("noise ceiling", "ridge r")
        self.diagonal = self.neuron_plot.plot([0, 1], [0, 1], pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DotLine))
        self.neuron_points = pg.ScatterPlotItem(size=7, brush=POINT_BRUSH, pen=None)
        self.neuron_points.sigClicked.connect(self._point_clicked)
        self.neuron_plot.addItem(self.neuron_points)
        self.chosen_point = pg.ScatterPlotItem(size=12, brush=None, pen=CHOSEN_PEN)
        self.neuron_plot.addItem(self.chosen_point)
        self.unit_plot = self._plot("matched unit (a.u.)", "neuron (mean)")
        self.unit_points = pg.ScatterPlotItem(size=5, brush=POINT_BRUSH, pen=None)
        self.unit_plot.addItem(self.unit_points)
        self.tuning_plot = pg.PlotItem()  # in the layout only while the stimuli hold gratings
        self.tuning_plot.setMenuEnabled(False)
        self.tuning_plot.hideButtons()
        self.tuning_plot.setLabel("bottom", "orientation θ (°)")
        self.tuning_plot.setLabel("left", "neuron (mean)")
        self.tuning_plot.showGrid(x=False, y=True, alpha=0.2)
        self.tuning_plot.getAxis("bottom").setTicks([[(t, f"{t}") for t in (0, 45, 90, 135, 180)]])
        self.tuning_plot.setXRange(-5, 185, padding=0)
        self.tuning_errors = pg.ErrorBarItem(x=np.array([]), y=np.array([]), top=np.array([]),
                                             bottom=np.array([]), beam=4.0, pen=R_PEN)
        self.tuning_plot.addItem(self.tuning_errors)
        self.tuning_neuron = self.tuning_plot.plot([], [], pen=R_PEN, symbol="o", symbolSize=6,
                                                   symbolBrush=R_PEN.color(), name="neuron")
        self.tuning_unit = self.tuning_plot.plot([], [], pen=UNIT_PEN, symbol="s", symbolSize=5,
                                                 symbolBrush=UNIT_PEN.color(), name="unit (scaled)")

        self.layer_combo = QComboBox(self, toolTip="The layer of the scatter and the matched unit ('best' per neuron)")
        self.layer_combo.currentIndexChanged.connect(lambda _i: self._draw_neurons())
        self.neuron_combo = QComboBox(self, toolTip="The neuron whose matched unit is shown")
        self.neuron_combo.currentIndexChanged.connect(self._neuron_chosen)
        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Layer"))
        pickers.addWidget(self.layer_combo, 1)
        pickers.addWidget(QLabel("Neuron"))
        pickers.addWidget(self.neuron_combo, 1)
        for combo in (self.layer_combo, self.neuron_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            combo.setMinimumWidth(60)

        self.key_label = QLabel(KEY, wordWrap=True)  # a legend inside the plot would hide it in a narrow dock
        self.tuning_label = QLabel(" ", wordWrap=True)
        self.tuning_label.setVisible(False)
        self.progress = QProgressBar(self, textVisible=True)
        self.progress.setVisible(False)
        self.summary_label = QLabel(" ", wordWrap=True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(" ", wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.files_label)
        layout.addLayout(form)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.key_label)
        layout.addWidget(self.tuning_label)
        layout.addLayout(pickers)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.status_label)

    def _plot(self, x_label: str, y_label: str, colspan: int = 1) -> pg.PlotItem:
        plot = self.graphics.addPlot(colspan=colspan)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setLabel("bottom", x_label)
        plot.setLabel("left", y_label)
        plot.showGrid(x=False, y=True, alpha=0.2)
        for axis in ("bottom", "left"):
            plot.getAxis(axis).enableAutoSIPrefix(False)
        return plot

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Predict neurons (the analysis's shortcut)."""
        return [self.run_action]

    def context_changed(self) -> None:
        """Nothing to enable: the job names its own files and layers."""

    def _request(self) -> None:
        try:
            job = self.make_job()
        except UnitscopeError as exc:
            self.failed(str(exc))
            return
        self.job_requested.emit(job)

    # --- the job -----------------------------------------------------------------------

    def set_files(self, responses: str | Path, images: str | Path | None = None) -> None:
        """Use this responses file and image folder (what the two choosers set; no folder for
        responses to gratings named by their labels)."""
        self.responses_path, self.images_folder = str(responses), str(images) if images else ""
        self._show_files()

    def make_job(self) -> Predict:
        """The predict job for the files, layers, window and visual angle shown."""
        from engine.neural.readers import parse_window
        from engine.stimuli.images import find_images

        if not self.responses_path:
            raise UnitscopeError("Choose the responses file first (Responses…).")
        paths = find_images([self.images_folder]) if self.images_folder else []  # none: gratings named by labels
        if self.images_folder and not paths:
            raise UnitscopeError(f"No image files in '{self.images_folder}'.")
        window = None
        if Path(self.responses_path).suffix.lower() == ".nwb":
            window = parse_window(self.window_edit.text().strip() or "50:200")
        return Predict(self.responses_path, tuple(str(p) for p in paths), parse_layers(self.layers_edit.text()),
                       window, float(self.deg_spin.value()))

    def started(self, job: Predict) -> None:
        self.clear()
        job_dir = getattr(job, "job_dir", "")  # a sharded job's merged result (cluster_predict)
        self._source = f" from the cluster job '{Path(job_dir).name}'" if job_dir else ""
        self.progress.setVisible(True)
        self.status_label.setText(job.describe())

    def show_snapshot(self, snapshot: PredictSnapshot) -> None:
        """Redraw the sweep when a layer has finished; show the progress."""
        new_layer = self._last is None or len(snapshot.finished) != len(self._last.finished)
        self._last = snapshot
        self.progress.setVisible(True)
        self.progress.setRange(0, max(snapshot.total, 1))
        self.progress.setValue(snapshot.done)
        if len(snapshot.finished) == 0:
            self.progress.setFormat(f"recording %v of {len(snapshot.stimuli)} stimuli")
        else:
            self.progress.setFormat(f"{len(snapshot.finished)} of {len(snapshot.layers)} layers scored")
        if new_layer:
            self._draw()

    def finish(self, snapshot: PredictSnapshot) -> None:
        self.show_snapshot(snapshot)
        self.progress.setVisible(False)
        self.status_label.setText(f"Done: {len(snapshot.neurons)} neurons, {len(snapshot.finished)} layers"
                                  f"{self._source}.")

    def cancelled(self) -> None:
        self.progress.setVisible(False)
        n = len(self._last.finished) if self._last else 0
        self.status_label.setText(f"Cancelled: the plots show the {n} layer(s) finished.")

    def failed(self, text: str) -> None:
        self.progress.setVisible(False)
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Forget the results (the chosen files stay)."""
        self._last = None
        self.neuron = 0
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.blockSignals(False)
        self.neuron_combo.blockSignals(True)
        self.neuron_combo.clear()
        self.neuron_combo.blockSignals(False)
        self._draw()
        self.progress.setVisible(False)
        self.status_label.setText(" ")

    # --- drawing -----------------------------------------------------------------------

    def sweep(self) -> dict[str, np.ndarray]:
        """What the sweep plot shows: per finished layer the median r, its interval and the
        median normalised score, and the ceiling (median, low, high)."""
        s = self._last
        if s is None or not s.finished:
            return {}
        return {"r": np.array([finite_median(v) for v in s.r]),
                "r_low": np.array([finite_median(v) for v in s.r_ci[..., 0]]),
                "r_high": np.array([finite_median(v) for v in s.r_ci[..., 1]]),
                "normalised": np.array([finite_median(v) for v in s.normalised]),
                "ceiling": np.array([finite_median(s.ceiling), finite_median(s.ceiling_ci[:, 0]),
                                     finite_median(s.ceiling_ci[:, 1])])}

    def _draw(self) -> None:
        s = self._last
        data = self.sweep()
        if not data:
            for curve in (self.sweep_curve, self.normalised_curve):
                curve.setData([], [])
            self.sweep_errors.setData(x=np.array([]), y=np.array([]), top=np.array([]), bottom=np.array([]))
            self.ceiling_band.setVisible(False)
            self.summary_label.setText(" ")
            self._draw_neurons()
            return
        x = np.arange(len(data["r"]), dtype=float)
        self.sweep_curve.setData(x, data["r"])
        self.sweep_errors.setData(x=x, y=data["r"], top=data["r_high"] - data["r"], bottom=data["r"] - data["r_low"])
        norm = data["normalised"]
        self.normalised_curve.setData(x[np.isfinite(norm)], norm[np.isfinite(norm)])
        ceiling = data["ceiling"]
        self.ceiling_band.setVisible(bool(np.isfinite(ceiling).all()))
        if np.isfinite(ceiling).all():
            self.ceiling_band.setRegion((ceiling[1], ceiling[2]))
        self.sweep_plot.getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(s.finished)]])
        self.sweep_plot.setXRange(-0.5, len(s.layers) - 0.5, padding=0)
        best = int(np.nanargmax(np.where(np.isfinite(data["r"]), data["r"], -np.inf)))
        self.summary_label.setText(
            f"Best layer {s.finished[best]}: median r {data['r'][best]:.3f}"
            + (f", normalised {norm[best]:.3f}" if np.isfinite(norm[best]) else "")
            + (f"; ceiling {ceiling[0]:.3f} [{ceiling[1]:.3f}, {ceiling[2]:.3f}]" if np.isfinite(ceiling[0]) else
               "; no ceiling (one repeat)")
            + f"; RSA {s.rsa[best]:.3f}, CKA {s.cka[best]:.3f}.")
        self._fill_pickers()
        self._draw_neurons()

    def _fill_pickers(self) -> None:
        s = self._last
        current = self.layer_combo.currentIndex()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(["best per neuron", *s.finished])
        self.layer_combo.setCurrentIndex(max(current, 0))
        self.layer_combo.blockSignals(False)
        if self.neuron_combo.count() != len(s.neurons):
            self.neuron_combo.blockSignals(True)
            self.neuron_combo.clear()
            self.neuron_combo.addItems(s.neurons)
            self.neuron_combo.setCurrentIndex(min(self.neuron, len(s.neurons) - 1))
            self.neuron_combo.blockSignals(False)

    def layer_of(self, neuron: int) -> int:
        """The row of the layer shown for ``neuron``: the one chosen, or its best."""
        s = self._last
        chosen = self.layer_combo.currentIndex() - 1
        if chosen >= 0:
            return chosen
        score = np.where(np.isfinite(s.normalised[:, neuron]), s.normalised[:, neuron], s.r[:, neuron])
        return int(np.argmax(np.where(np.isfinite(score), score, -np.inf)))

    def neuron_scatter(self) -> tuple[np.ndarray, np.ndarray]:
        """(ceiling, r) per neuron, r at the layer shown for each."""
        s = self._last
        rows = [self.layer_of(n) for n in range(len(s.neurons))]
        return np.asarray(s.ceiling, dtype=float), np.array([s.r[i, n] for n, i in enumerate(rows)])

    def _draw_neurons(self) -> None:
        s = self._last
        if s is None or not s.finished:
            self.neuron_points.setData([], [])
            self.chosen_point.setData([], [])
            self.unit_points.setData([], [])
            self._draw_tuning()
            return
        ceiling, r = self.neuron_scatter()
        ok = np.isfinite(ceiling) & np.isfinite(r)
        if not ok.any():  # one repeat: no ceiling; r against the neuron's index
            ceiling, ok = np.arange(len(r), dtype=float), np.isfinite(r)
            self.neuron_plot.setLabel("bottom", "neuron")
        else:
            self.neuron_plot.setLabel("bottom", "noise ceiling")
        self.neuron_points.setData(ceiling[ok], r[ok], data=np.flatnonzero(ok))
        n = self.neuron
        self.chosen_point.setData([ceiling[n]] if ok[n] else [], [r[n]] if ok[n] else [])
        i = self.layer_of(n)
        self.unit_points.setData(np.asarray(s.unit_response[i, :, n], dtype=float),
                                 np.asarray(s.mean[:, n], dtype=float))
        unit = f"{s.finished[i]}[{s.best_channel[i, n]}]" + (f"({s.best_y[i, n]},{s.best_x[i, n]})"
                                                             if s.best_y[i, n] >= 0 else "")
        self.unit_plot.setLabel("bottom", f"unit {unit}")
        self.unit_plot.setLabel("left", f"neuron {s.neurons[n]}")
        self.unit_plot.setTitle(f"held-out r {s.unit_r[i, n]:.2f}", size="9pt")
        self._draw_tuning()

    def tuning(self) -> dict[str, np.ndarray]:
        """What the tuning plot shows for the chosen neuron: the orientations, its curve and SEM,
        its matched unit's curve as recorded and scaled to the neuron's range ({} without gratings)."""
        s = self._last
        if s is None or not s.finished or s.orientations is None or len(s.orientations) == 0:
            return {}
        n = self.neuron
        mean = np.asarray(s.tuning_mean[n], dtype=float)
        if np.isfinite(mean).sum() < 2:
            return {}
        unit = np.asarray(s.unit_tuning[self.layer_of(n), n], dtype=float)
        return {"orientations": np.asarray(s.orientations, dtype=float), "neuron": mean,
                "sem": np.asarray(s.tuning_sem[n], dtype=float), "unit": unit, "unit_scaled": scaled_to(unit, mean)}

    def _draw_tuning(self) -> None:
        data = self.tuning()
        if not data:
            if self._tuning_shown:
                self.graphics.removeItem(self.tuning_plot)
                self.graphics.setMinimumHeight(GRAPHICS_HEIGHT)
                self._tuning_shown = False
            self.tuning_label.setVisible(False)
            return
        if not self._tuning_shown:
            self.graphics.addItem(self.tuning_plot, row=2, col=0, colspan=2)
            self.graphics.setMinimumHeight(GRAPHICS_HEIGHT + TUNING_HEIGHT)  # the dock scrolls where it must
            self._tuning_shown = True
        x, neuron, sem, unit = data["orientations"], data["neuron"], data["sem"], data["unit_scaled"]
        ok = np.isfinite(neuron)
        self.tuning_neuron.setData(x[ok], neuron[ok])
        bar = np.where(np.isfinite(sem[ok]), sem[ok], 0.0)
        self.tuning_errors.setData(x=x[ok], y=neuron[ok], top=bar, bottom=bar)
        ok = np.isfinite(unit)
        self.tuning_unit.setData(x[ok], unit[ok])
        s, n = self._last, self.neuron
        self.tuning_plot.setTitle(f"orientation tuning at SF {s.tuning_sf[n]:g} cycles/image, "
                                  f"contrast {s.tuning_contrast[n]:g}", size="9pt")
        raw = data["unit"][np.isfinite(data["unit"])]
        self.tuning_label.setText(f"{TUNING_KEY}<br>{CONVENTION}; the unit's own range "
                                  f"{raw.min():.3g} to {raw.max():.3g} (a.u.)" if raw.size else TUNING_KEY)
        self.tuning_label.setVisible(True)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """The layout's minimum with every wrapped label as tall as its lines at this width: a
        scrolling dock gives the view only this height (:class:`gui.window.window_settings.DockScrollArea`)."""
        hint = super().minimumSizeHint()
        width = max(self.width() - 8, 120)
        extra = sum(max(label.heightForWidth(width) - label.minimumSizeHint().height(), 0)
                    for label in self.findChildren(QLabel) if label.wordWrap() and label.isVisibleTo(self))
        return QSize(hint.width(), hint.height() + extra)

    def _point_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.choose_neuron(int(points[0].data()))

    def _neuron_chosen(self, index: int) -> None:
        if index >= 0:
            self.neuron = index
            self._draw_neurons()

    def chosen_neuron(self) -> tuple[int, str] | None:
        """The neuron shown beside its matched unit and that unit's layer (None before a layer is scored):
        what File ▸ Figure of ▸ Brain, chosen neuron draws."""
        s = self._last
        if s is None or not s.finished:
            return None
        return self.neuron, s.finished[self.layer_of(self.neuron)]

    def choose_neuron(self, index: int) -> None:
        """Show neuron ``index``'s matched unit."""
        self.neuron_combo.setCurrentIndex(index)  # draws through _neuron_chosen
        if self.neuron != index:
            self.neuron = index
            self._draw_neurons()

    # --- file choosers -----------------------------------------------------------------

    def _show_files(self) -> None:
        parts = [f"Responses: {Path(self.responses_path).name}" if self.responses_path else "No responses chosen.",
                 f"Images: {Path(self.images_folder).name}/" if self.images_folder else
                 "no image folder (needed unless every stimulus is a grating label)."]
        self.files_label.setText(" · ".join(parts))
        self.files_label.setToolTip("\n".join(p for p in (self.responses_path, self.images_folder) if p))
        self.window_edit.setEnabled(Path(self.responses_path).suffix.lower() == ".nwb" if self.responses_path
                                    else True)

    def _choose_responses(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Neural responses", self.responses_path or "",
                                              "Responses (*.nwb *.npz *.h5 *.hdf5 *.mat *.csv)")
        if path:
            self.responses_path = path
            self._show_files()

    def _choose_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images shown", self.images_folder or "")
        if folder:
            self.images_folder = folder
            self._show_files()
