"""A layer's population over a stimulus set: PCA scatter, RDM, dimensionality, sparseness.

Redrawn after every batch the engine records.  The scatter shows each stimulus on the
first two principal components (axis titles give their share of the variance); the RDM
(``1 - Pearson r`` between stimuli) is one ``ImageItem`` with a viridis colour bar from 0
(identical patterns) to its largest value.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from gui.analysis_requests import STIMULUS_SETS, Population, PopulationSnapshot

log = logging.getLogger(__name__)

VIEWS = {"flat": "all units", "channels": "channel means", "centre": "channels at the map centre"}
MAX_LABELS = 24  # stimuli named next to their point; more are named on hover only
NO_LAYER = "Record a layer, then run a population analysis over a stimulus set."


def _num(value: float, fmt: str = ".2f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


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


class PopulationView(QWidget):
    """Population analyses of the recorded layer.

    Signals
    -------
    population_requested()
        The user asked to run the analysis with the settings shown.
    """

    population_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_action = QAction("&Population analysis", self, enabled=False)
        self.run_action.setStatusTip("PCA, RDM, participation ratio and sparseness of the recorded "
                                     "layer over a stimulus set")
        self.run_action.triggered.connect(self.population_requested)
        self._last: PopulationSnapshot | None = None
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
        self.colorbar.setImageItem(self.rdm_image, insert_in=self.rdm_plot)
        self.summary_label = QLabel(" ", wordWrap=True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(" ", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.layer_label)
        layout.addLayout(controls)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.status_label)

    # --- public ------------------------------------------------------------------------

    def set_layer(self, layer: str | None) -> None:
        """Say which layer an analysis would use (None: nothing recorded, analysis disabled)."""
        self.layer_label.setText(f"Layer: {layer or 'the output'}" if layer is not None else NO_LAYER)
        self.run_action.setEnabled(layer is not None)

    def make_request(self, layer: str, image_paths: list[str]) -> Population:
        """The request for ``layer`` with the stimulus set and population vector chosen."""
        return Population(layer, self.set_combo.currentData(), tuple(image_paths),
                          self.view_combo.currentData())

    def started(self, request: Population) -> None:
        """Empty the plots for a new analysis of ``request``."""
        self.clear_plots()
        self.status_label.setText(request.describe())

    def show_snapshot(self, snapshot: PopulationSnapshot) -> None:
        """Draw the scatter, the RDM and the numbers so far."""
        self._last = snapshot
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
        rdm = np.asarray(snapshot.rdm, dtype=float)
        finite = rdm[np.isfinite(rdm)]
        top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        self.rdm_image.setImage(rdm, autoLevels=False)
        self.colorbar.setLevels((0.0, top))
        self.rdm_image.setRect(0, 0, rdm.shape[1], rdm.shape[0])
        self.rdm_plot.getViewBox().autoRange(padding=0.02)
        self.summary_label.setText(summary_text(snapshot))
        self.status_label.setText(f"Recorded {snapshot.done} of {snapshot.total} stimuli…")

    def finish(self, snapshot: PopulationSnapshot) -> None:
        """Show the finished analysis."""
        self.show_snapshot(snapshot)
        log.debug("population of %s finished: %d stimuli", snapshot.layer, snapshot.done)
        text = f"Done: {snapshot.done} stimuli."
        if snapshot.skipped:
            text += f" Skipped {len(snapshot.skipped)}: " + "; ".join(snapshot.skipped[:3])
        self.status_label.setText(text)

    def mark_cancelled(self) -> None:
        """Say the analysis was cancelled; what it had computed stays."""
        done = f" after {self._last.done} of {self._last.total} stimuli" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the plots show what was recorded.")

    def mark_failed(self, text: str) -> None:
        """Say the analysis failed (the window shows the details)."""
        self.status_label.setText(f"Failed: {text}")

    def clear_plots(self) -> None:
        """Remove the scatter, the RDM and the numbers."""
        self._last = None
        self.scatter.setData([])
        for item in self._labels:
            self.scatter_plot.removeItem(item)
        self._labels = []
        self.rdm_image.clear()
        self.summary_label.setText(" ")
        self.status_label.setText(" ")

    @property
    def last_snapshot(self) -> PopulationSnapshot | None:
        """The snapshot drawn last."""
        return self._last
