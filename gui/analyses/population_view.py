"""A layer's population over a stimulus set: PCA scatter, RDM, dimensionality, sparseness.

Redrawn after every batch the engine records.  The scatter shows each stimulus on the
first two principal components (axis titles give their share of the variance); the RDM
(``1 - Pearson r`` between stimuli) is one ``ImageItem`` with a viridis colour bar from 0
(identical patterns) to its largest value.

"Compare with layer…" records a second layer over the same stimuli (one forward pass per
batch for both) and shows its RDM next to the first (each on its own colour scale), with the
RSA (Spearman correlation of the two RDMs) and the linear CKA of the two populations.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QCompleter, QHBoxLayout, QLabel, QToolButton, QVBoxLayout

from engine.jobs.comparison import Compare, ComparisonSnapshot
from engine.jobs.population import STIMULUS_SETS, Population, PopulationSnapshot
from gui.analyses.job_view import AnalysisView

log = logging.getLogger(__name__)

VIEWS = {"flat": "all units", "channels": "channel means", "centre": "channels at the map centre"}
MAX_LABELS = 24  # stimuli named next to their point; more are named on hover only
NO_LAYER = "Record a layer, then run a population analysis over a stimulus set."


def _num(value: float, fmt: str = ".2f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


def _top(rdm: np.ndarray) -> float:
    """The top of an RDM's colour scale: its largest finite value (1 when there is none)."""
    finite = rdm[np.isfinite(rdm)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def explained_variance_text(ratio: np.ndarray, k: int = 3) -> str:
    """``PC1 34.5%, PC2 20.1%, PC3 9.8%`` for the first ``k`` components."""
    return ", ".join(f"PC{i + 1} {_num(100 * r, '.1f')}%" for i, r in enumerate(np.asarray(ratio)[:k]))


def summary_text(s: PopulationSnapshot) -> str:
    """The numbers of a snapshot as readable lines."""
    return (f"{len(s.labels)} stimuli × {s.n_units} units ({VIEWS.get(s.view, s.view)}) · "
            f"explained variance: {explained_variance_text(s.explained)}\n"
            f"Participation ratio {_num(s.participation_ratio)} · lifetime sparseness "
            f"{_num(s.lifetime_sparseness)} (mean over units) · population sparseness "
            f"{_num(s.population_sparseness)} (mean over stimuli)")


def comparison_text(s: ComparisonSnapshot) -> str:
    """``RSA (Spearman of RDMs) = 0.812, linear CKA = 0.734`` and what was compared."""
    return (f"{s.layer or 'output'} vs {s.layer_b or 'output'}: RSA (Spearman of RDMs) = "
            f"{_num(s.rsa, '.3f')}, linear CKA = {_num(s.cka, '.3f')}\n"
            f"{len(s.labels)} stimuli · {s.n_units} vs {s.n_units_b} units ({VIEWS.get(s.view, s.view)})")


class PopulationView(AnalysisView):
    """Population analyses of the recorded layer.

    Signals
    -------
    population_requested()
        The user asked to run the analysis with the settings shown.
    compare_requested()
        The user asked to compare the layer with the one in :attr:`compare_combo`.
    """

    population_requested = Signal()
    compare_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.population_requested.connect(lambda: self._request(self.make_job))
        self.compare_requested.connect(lambda: self._request(self.make_compare_job))
        self._layers_of = None
        self.run_action = QAction("&Population analysis", self, enabled=False)
        self.run_action.setStatusTip("PCA, RDM, participation ratio and sparseness of the recorded "
                                     "layer over a stimulus set")
        self.run_action.triggered.connect(self.population_requested)
        self.compare_action = QAction("Compare", self, enabled=False)
        self.compare_action.setToolTip("Record this layer and the chosen one over the stimulus set "
                                       "(one forward pass) and compare their representations: "
                                       "RSA and linear CKA")
        self.compare_action.triggered.connect(self._compare_clicked)
        self._last: PopulationSnapshot | ComparisonSnapshot | None = None
        self._layer: str | None = None
        self._plotted: str | None = None  # the layer (or "A vs B") the plots show
        self._layers: list[str] = []
        self._labels: list[pg.TextItem] = []

        self.layer_label = QLabel(NO_LAYER, wordWrap=True)
        self.set_combo = QComboBox(self, toolTip="The stimuli whose population responses are compared")
        for key, text in STIMULUS_SETS.items():
            self.set_combo.addItem(text, key)
        self.view_combo = QComboBox(self, toolTip="Population vector of a stimulus: every unit of "
                                    "the layer, each channel's mean over space, or every channel "
                                    "at the centre of the map")
        for key, text in VIEWS.items():
            self.view_combo.addItem(text, key)
        run = QToolButton(self)
        run.setDefaultAction(self.run_action)
        controls = QHBoxLayout()
        controls.addWidget(run)
        controls.addWidget(self.set_combo, 1)
        controls.addWidget(self.view_combo)
        self.compare_combo = QComboBox(self, editable=True, toolTip="The layer to compare with "
                                       "(type to search the model's layers)")
        self.compare_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.compare_combo.setMinimumContentsLength(14)
        self.compare_combo.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        self.compare_combo.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.compare_combo.lineEdit().setPlaceholderText("layer")
        self.compare_combo.lineEdit().returnPressed.connect(self.compare_action.trigger)
        self.compare_combo.editTextChanged.connect(lambda _text: self._update_compare_action())
        compare = QToolButton(self)
        compare.setDefaultAction(self.compare_action)
        compare_row = QHBoxLayout()
        compare_row.addWidget(QLabel("Compare with layer…", self))
        compare_row.addWidget(self.compare_combo, 1)
        compare_row.addWidget(compare)

        self.canvas = pg.GraphicsLayoutWidget(self)
        self.canvas.setMinimumHeight(160)
        self.scatter_plot = self.canvas.addPlot(row=0, col=0, title="stimuli in PC space")
        self.scatter_plot.setMenuEnabled(False)
        self.scatter_plot.showGrid(x=True, y=True, alpha=0.2)
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=0.5), hoverable=True,
                                          tip=lambda x, y, data: str(data))
        self.scatter_plot.addItem(self.scatter)
        self.rdm_plot = self.canvas.addPlot(row=0, col=1, title="RDM (1 − Pearson r)")
        self.rdm_plot.setMenuEnabled(False)
        self.rdm_plot.setAspectLocked(True)
        self.rdm_plot.invertY(True)
        self.rdm_plot.setLabel("bottom", "stimulus")
        self.rdm_plot.setLabel("left", "stimulus")
        self.rdm_image = pg.ImageItem(axisOrder="row-major")
        self.rdm_plot.addItem(self.rdm_image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, width=10)
        self.rdm_b_plot = pg.PlotItem(title="RDM")  # shown in column 2 during a comparison
        self.rdm_b_plot.setMenuEnabled(False)
        self.rdm_b_plot.setAspectLocked(True)
        self.rdm_b_plot.invertY(True)
        self.rdm_b_plot.setLabel("bottom", "stimulus")
        self.rdm_b_image = pg.ImageItem(axisOrder="row-major")
        self.rdm_b_plot.addItem(self.rdm_b_image)
        self.colorbar.setImageItem(self.rdm_image, insert_in=self.rdm_plot)
        # Its own scale: RSA compares ranks, and a deeper layer's RDM may span a smaller range.
        self.colorbar_b = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                          interactive=False, width=10)
        self.colorbar_b.setImageItem(self.rdm_b_image, insert_in=self.rdm_b_plot)
        self.compare_label = QLabel(" ", wordWrap=True)
        self.compare_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.compare_label.hide()
        self.summary_label = QLabel(" ", wordWrap=True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(" ", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.layer_label)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.compare_label)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def set_layer(self, layer: str | None) -> None:
        """Say which layer an analysis would use (None: nothing recorded, analysis disabled).

        The header names the layer the plots show; when that is not the layer shown in
        the window, it says both, so plots are never taken for another layer's.
        """
        self.run_action.setEnabled(layer is not None)
        self._layer = layer
        self._update_header()
        self._update_compare_action()

    def _update_header(self) -> None:
        layer = self._layer
        current = f"{layer or 'the output'}" if layer is not None else None
        if self._plotted is None:
            self.layer_label.setText(f"Layer: {current}" if current is not None else NO_LAYER)
        elif current is None or self._plotted == current:
            self.layer_label.setText(f"Layer: {self._plotted}")
        else:
            self.layer_label.setText(f"Plots: {self._plotted} · Run again for the layer shown, {current}")

    def header_text(self) -> str:
        """The header over the plots."""
        return self.layer_label.text()

    def set_layers(self, names: list[str]) -> None:
        """The model's layers the comparison can choose from (its anatomy's names)."""
        current = self.compare_combo.currentText()
        self._layers = [n for n in names if n]
        self.compare_combo.blockSignals(True)
        self.compare_combo.clear()
        self.compare_combo.addItems(self._layers)
        self.compare_combo.setEditText(current if current in self._layers else "")
        self.compare_combo.blockSignals(False)
        self._update_compare_action()

    def compare_layer(self) -> str:
        """The layer chosen to compare with (as typed)."""
        return self.compare_combo.currentText().strip()

    def make_compare_job(self, layer: str, image_paths: list[str]) -> Compare:
        """The comparison of ``layer`` with the chosen one, over the stimulus set and view chosen."""
        return Compare(layer, self.compare_layer(), self.set_combo.currentData(), tuple(image_paths),
                       self.view_combo.currentData())

    def _update_compare_action(self) -> None:
        self.compare_action.setEnabled(self._layer is not None and bool(self.compare_layer()))

    def _compare_clicked(self) -> None:
        name = self.compare_layer()
        if self._layers and name not in self._layers:
            self.status_label.setText(f"Unknown layer '{name}': choose one of the model's layers.")
            return
        self.compare_requested.emit()

    def _show_second_rdm(self, shown: bool) -> None:
        """A comparison shows the two RDMs side by side in place of the scatter and the RDM."""
        ci = self.canvas.ci
        if shown and self.rdm_b_plot not in ci.items:
            ci.removeItem(self.scatter_plot)
            ci.addItem(self.rdm_b_plot, row=0, col=2)
        elif not shown and self.rdm_b_plot in ci.items:
            ci.removeItem(self.rdm_b_plot)
            ci.addItem(self.scatter_plot, row=0, col=0)

    def make_job(self, layer: str, image_paths: list[str]) -> Population:
        """The request for ``layer`` with the stimulus set and population vector chosen."""
        return Population(layer, self.set_combo.currentData(), tuple(image_paths),
                          self.view_combo.currentData())

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Population analysis (the analysis's shortcut) and Compare."""
        return [self.run_action, self.compare_action]

    def context_changed(self) -> None:
        """Offer the open model's layers for comparison and say which layer is recorded."""
        info = self.context.info if self.context is not None else None
        if info is not self._layers_of:
            self._layers_of = info
            self.set_layer(None)
            self.set_layers(self.context.layers if info is not None else [])
        self.set_layer(self.context.layer if self.context is not None else None)

    def _request(self, make) -> None:
        layer = self.context.layer if self.context is not None else None
        if layer is not None:
            self.job_requested.emit(make(layer, self.context.image_paths))

    def started(self, request: Population) -> None:
        """Empty the plots for a new analysis of ``request``; the controls show its settings."""
        for combo, value in ((self.set_combo, request.stimuli), (self.view_combo, request.view)):
            index = combo.findData(value)
            if index >= 0:
                combo.blockSignals(True)
                combo.setCurrentIndex(index)
                combo.blockSignals(False)
        self.clear()
        compare = isinstance(request, Compare)
        self._plotted = request.layer or "the output"
        self._update_header()
        self._show_second_rdm(compare)
        self.compare_label.setVisible(compare)
        self.rdm_plot.setTitle(f"RDM of {request.layer or 'output'}" if compare else "RDM (1 − Pearson r)")
        if compare:
            self.rdm_b_plot.setTitle(f"RDM of {request.layer_b or 'output'}")
            self.compare_label.setText("RSA (Spearman of RDMs) = …, linear CKA = …")
        self.status_label.setText(request.describe())

    def show_snapshot(self, snapshot: PopulationSnapshot | ComparisonSnapshot) -> None:
        """Draw the scatter (or the second RDM of a comparison), the RDM and the numbers so far."""
        self._last = snapshot
        compare = isinstance(snapshot, ComparisonSnapshot)
        if not compare:
            self._show_scatter(snapshot)
        rdm = np.asarray(snapshot.rdm, dtype=float)
        self.rdm_image.setImage(rdm, autoLevels=False)
        self.rdm_image.setRect(0, 0, rdm.shape[1], rdm.shape[0])
        if compare:
            rdm_b = np.asarray(snapshot.rdm_b, dtype=float)
            self.rdm_b_image.setImage(rdm_b, autoLevels=False)
            self.rdm_b_image.setRect(0, 0, rdm_b.shape[1], rdm_b.shape[0])
            self.colorbar_b.setLevels((0.0, _top(rdm_b)))
            self.rdm_b_plot.getViewBox().autoRange(padding=0.02)
            self.compare_label.setText(comparison_text(snapshot))
            self.summary_label.setText(" ")
        else:
            self.summary_label.setText(summary_text(snapshot))
        self.colorbar.setLevels((0.0, _top(rdm)))
        self.rdm_plot.getViewBox().autoRange(padding=0.02)
        self.status_label.setText(f"Recorded {snapshot.done} of {snapshot.total} stimuli…")

    def _show_scatter(self, snapshot: PopulationSnapshot) -> None:
        n = len(snapshot.labels)
        if snapshot.stimuli == "gratings":
            brushes = [pg.hsvColor(float(g) / 180.0, sat=0.8) for g in snapshot.groups]  # orientation
        else:
            brushes = [pg.intColor(i, hues=max(n, 6)) for i in range(n)]
        self.scatter.setData(pos=snapshot.scores, brush=brushes, data=list(snapshot.labels))
        self.scatter_plot.setTitle("stimuli in PC space" + (" (colour: orientation)"
                                                           if snapshot.stimuli == "gratings" else ""))
        for item in self._labels:
            self.scatter_plot.removeItem(item)
        self._labels = []
        if n <= MAX_LABELS:
            for (x, y), text in zip(snapshot.scores, snapshot.labels):
                item = pg.TextItem(text, color=(220, 220, 220), anchor=(0, 1))
                item.setPos(x, y)
                self.scatter_plot.addItem(item)
                self._labels.append(item)
        ratio = list(snapshot.explained) + [math.nan, math.nan]
        self.scatter_plot.setLabel("bottom", f"PC1 ({_num(100 * ratio[0], '.1f')}%)")
        self.scatter_plot.setLabel("left", f"PC2 ({_num(100 * ratio[1], '.1f')}%)")
        self.scatter_plot.getViewBox().autoRange(padding=0.15)

    def finish(self, snapshot: PopulationSnapshot | ComparisonSnapshot) -> None:
        """Show the finished analysis (population or comparison)."""
        self.show_snapshot(snapshot)
        log.debug("%s of %s finished: %d stimuli", type(snapshot).__name__, snapshot.layer, snapshot.done)
        text = f"Done: {snapshot.done} stimuli."
        if snapshot.skipped:
            text += f" Skipped {len(snapshot.skipped)}: " + "; ".join(snapshot.skipped[:3])
        self.status_label.setText(text)

    def cancelled(self) -> None:
        """Say the analysis was cancelled; what it had computed stays."""
        done = f" after {self._last.done} of {self._last.total} stimuli" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the plots show what was recorded.")

    def failed(self, text: str) -> None:
        """Say the analysis failed (the window shows the details)."""
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Remove the scatter, the RDM and the numbers."""
        self._last = None
        self.scatter.setData([])
        for item in self._labels:
            self.scatter_plot.removeItem(item)
        self._labels = []
        self.rdm_image.clear()
        self.rdm_b_image.clear()
        # A new analysis starts on fresh colour scales, not the last one's ranges.
        self.colorbar.setLevels((0.0, 1.0))
        self.colorbar_b.setLevels((0.0, 1.0))
        self._plotted = None
        self._update_header()
        self._show_second_rdm(False)
        self.compare_label.hide()
        self.rdm_plot.setTitle("RDM (1 − Pearson r)")
        self.summary_label.setText(" ")
        self.status_label.setText(" ")

    @property
    def last_snapshot(self) -> PopulationSnapshot | ComparisonSnapshot | None:
        """The snapshot drawn last."""
        return self._last

    def figure_data(self):
        """What this view shows, as :mod:`engine.figures` data for a paper figure (None before a result)."""
        from engine.figures.sources import from_snapshot

        return from_snapshot(self._last) if self._last is not None else None
