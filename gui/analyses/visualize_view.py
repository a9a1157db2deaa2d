"""What a unit wants, and its evidence on the input: feature visualisation and gradient maps.

"Visualise" optimises an image for the unit shown in the unit view
(:class:`engine.jobs.visualize.Visualize`); the image is redrawn from the engine's
snapshots every few steps, so it improves as one watches, and Cancel keeps the last one.
When it is done the image's activation is shown next to the best activation over the
strip's inputs.  "Evidence" draws the unit's gradient, gradient x input and guided
backpropagation on the input shown (:class:`engine.jobs.evidence.EvidenceMaps`), each
over the input's pixels with the unit's receptive-field box.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from engine.jobs.evidence import EvidenceMaps, EvidenceSnapshot
from engine.jobs.visualize import VisualizationSnapshot, Visualize
from gui.analyses.receptive_field_view import THEORETICAL_COLOUR, MapPlot
from gui.analyses.job_view import AnalysisView

NO_UNIT = "Click a channel in the feature maps, then visualise it or show its evidence."
EVIDENCE_TITLES = {"gradient": "Gradient", "gradient_x_input": "Gradient × input",
                   "guided_backprop": "Guided backprop"}


def signed_rgb(values: np.ndarray) -> np.ndarray:
    """A signed map ``(H, W, 3)`` as uint8 RGB: grey is zero, the largest magnitude reaches 0 or 255."""
    values = np.nan_to_num(np.asarray(values, dtype=float))
    reach = float(np.max(np.abs(values))) or 1.0
    return np.clip(np.round(127.5 + 127.5 * values / reach), 0, 255).astype(np.uint8)


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """An image ``(H, W, 3)`` in [0, 1] as uint8."""
    return np.clip(np.round(np.asarray(image, dtype=float) * 255), 0, 255).astype(np.uint8)


class VisualizeView(AnalysisView):
    """Feature visualisation and evidence maps of the unit shown in the unit view.

    Signals
    -------
    visualize_requested()
        The user asked for the unit's visualisation with the settings shown.
    evidence_requested()
        The user asked for the unit's evidence on the input shown.
    """

    visualize_requested = Signal()
    evidence_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.visualize_requested.connect(lambda: self._request(False))
        self.evidence_requested.connect(lambda: self._request(True))
        self.visualize_action = QAction("&Visualise unit", self)
        self.visualize_action.setIconText("Visualise")
        self.visualize_action.setStatusTip("Optimise an image that drives the unit most (feature visualisation)")
        self.visualize_action.triggered.connect(self.visualize_requested)
        self.evidence_action = QAction("&Evidence on the input", self)
        self.evidence_action.setIconText("Evidence")
        self.evidence_action.setStatusTip("Gradient, gradient × input and guided backprop of the unit on the "
                                          "input shown")
        self.evidence_action.triggered.connect(self.evidence_requested)
        self._last: VisualizationSnapshot | None = None
        self._evidence: EvidenceSnapshot | None = None

        self.unit_label = QLabel(NO_UNIT, wordWrap=True)
        self._build_controls()
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(2)
        self.image_plot = MapPlot(self.graphics.ci, "Visualisation")
        evidence = self.graphics.ci.addLayout()  # a 2 x 2 grid to the right of the image
        evidence.setSpacing(2)
        self.evidence_plots: dict[str, MapPlot] = {}
        for i, (key, title) in enumerate({"input": "Input", **EVIDENCE_TITLES}.items()):
            plot = MapPlot(evidence, title)
            plot.add_outline("rf", THEORETICAL_COLOUR, width=1.5)
            self.evidence_plots[key] = plot
            if i == 1:
                evidence.nextRow()
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        self.activation_label = QLabel(" ", wordWrap=True)
        self.activation_label.setStyleSheet("font-weight: bold")
        self.activation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(" ", wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unit_label)
        layout.addLayout(self._controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.activation_label)
        layout.addWidget(self.status_label)

    def _build_controls(self) -> None:
        buttons = []
        for action in (self.visualize_action, self.evidence_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            buttons.append(button)
        self.steps_spin = QSpinBox(self, minimum=8, maximum=4096, value=256, singleStep=64, suffix=" steps",
                                   toolTip="Optimiser steps (Adam)")
        self.size_spin = QSpinBox(self, minimum=0, maximum=1024, value=0, singleStep=32, suffix=" px",
                                  specialValueText="input size", toolTip="Image side (0: the model's input size)")
        self.lr_spin = QDoubleSpinBox(self, minimum=0.001, maximum=1.0, value=0.05, decimals=3, singleStep=0.01,
                                      prefix="lr ", toolTip="Learning rate")
        self.seed_spin = QSpinBox(self, minimum=0, maximum=2**31 - 1, value=0, prefix="seed ",
                                  toolTip="Seed of the initial noise and the random transforms")
        self.target_combo = QComboBox(self, toolTip="Maximise the channel's mean over its map, or one unit")
        self.target_combo.addItem("channel mean", "channel")
        self.target_combo.addItem("unit in the RF box", "box")
        self._controls = QGridLayout()
        for i, widget in enumerate((*buttons, self.target_combo, self.steps_spin, self.size_spin,
                                    self.lr_spin, self.seed_spin)):
            self._controls.addWidget(widget, i // 4, i % 4)

    # --- public ------------------------------------------------------------------------

    def set_unit(self, label: str | None) -> None:
        """Say which unit the buttons act on."""
        self.unit_label.setText(f"Unit: {label}" if label else NO_UNIT)

    def make_job(self, layer: str, channel: int, position: tuple[int, int] | None, stimuli=()) -> Visualize:
        """The visualisation of ``(layer, channel)``: the channel mean, or the unit at ``position``
        when the target setting says so; ``stimuli`` are the inputs its activation is compared with."""
        use_box = position is not None and self.target_combo.currentData() == "box"
        y, x = position if use_box else (None, None)
        steps = self.steps_spin.value()
        return Visualize(layer, channel, y, x, steps=steps, lr=self.lr_spin.value(), seed=self.seed_spin.value(),
                         size=self.size_spin.value() or None, every=max(4, steps // 32),
                         compare=tuple((s.kind, s.value) for s in stimuli))

    def make_evidence_job(self, layer: str, channel: int, position: tuple[int, int] | None, stimulus) -> EvidenceMaps:
        """The evidence of the unit at ``position`` (the map centre if None) on ``stimulus``."""
        y, x = position if position is not None else (None, None)
        return EvidenceMaps(layer, channel, y, x, (stimulus.kind, stimulus.value))

    # --- in the window ---------------------------------------------------------------

    def menu_actions(self) -> list:
        """Visualise unit (the analysis's shortcut) and Evidence on the input."""
        self.evidence_action.setShortcut("Ctrl+Shift+G")
        return [self.visualize_action, self.evidence_action]

    def _request(self, evidence: bool) -> None:
        unit = self.clicked_unit()
        if unit is None:
            self.status_label.setText(NO_UNIT)
            return
        self.set_unit(self.context.unit_label)
        if evidence:
            job = self.make_evidence_job(unit.layer, unit.channel, self.context.unit_position,
                                         self.context.shown_stimulus)
        else:
            job = self.make_job(unit.layer, unit.channel, self.context.unit_position, self.context.stimuli)
        self.job_requested.emit(job)

    def started(self, job) -> None:
        """A job was submitted: say so (the last image stays until the first new snapshot)."""
        self.status_label.setText(job.describe())
        if isinstance(job, Visualize):
            self.activation_label.setText(" ")
            self._last = None

    def show_snapshot(self, snapshot) -> None:
        """Draw the image so far, or the evidence maps."""
        if isinstance(snapshot, EvidenceSnapshot):
            self._show_evidence(snapshot)
            return
        resized = self._last is None or self._last.images.shape != snapshot.images.shape
        self._last = snapshot
        self.image_plot.image.setImage(to_rgb8(snapshot.images[0]), autoLevels=False, levels=(0, 255))
        self.image_plot.set_title(f"Visualisation of {snapshot.label}")
        if resized:
            self.image_plot.plot.autoRange(padding=0)
        self.status_label.setText(f"Step {snapshot.done} of {snapshot.total}…")

    def finish(self, snapshot) -> None:
        """Show the final image with its activation next to the best over the inputs, or the evidence."""
        self.show_snapshot(snapshot)
        if isinstance(snapshot, EvidenceSnapshot):
            self.status_label.setText(f"Evidence of {snapshot.unit_label}: activation {snapshot.activation:.4g}.")
            return
        self.activation_label.setText(activation_text(snapshot))
        self.status_label.setText(f"Done: {snapshot.total} steps.")

    def cancelled(self) -> None:
        """The job was stopped: the last image stays."""
        done = f" at step {self._last.done} of {self._last.total}" if self._last else ""
        self.status_label.setText(f"Cancelled{done}: the image shown is the last one.")

    def failed(self, text: str) -> None:
        self.status_label.setText(f"Failed: {text}")

    def clear(self) -> None:
        """Forget every image and map (a new model was opened)."""
        self._last = self._evidence = None
        self.image_plot.clear()
        for plot in self.evidence_plots.values():
            plot.clear()
        self.activation_label.setText(" ")
        self.status_label.setText(" ")

    @property
    def last_snapshot(self) -> VisualizationSnapshot | None:
        """The visualisation drawn last."""
        return self._last

    @property
    def last_evidence(self) -> EvidenceSnapshot | None:
        return self._evidence

    # --- internals ---------------------------------------------------------------------

    def _show_evidence(self, snapshot: EvidenceSnapshot) -> None:
        self._evidence = snapshot
        shape = snapshot.input_image.shape[:2]
        images = {"input": snapshot.input_image, **{k: signed_rgb(v) for k, v in snapshot.maps.items()}}
        for key, plot in self.evidence_plots.items():
            if key in images:
                plot.image.setImage(images[key], autoLevels=False, levels=(0, 255))
            else:
                plot.image.clear()
            plot.set_box("rf", snapshot.rf_box, shape)
            frame_to_box(plot.plot, snapshot.rf_box, shape)


def frame_to_box(plot: pg.PlotItem, box, shape: tuple[int, int]) -> None:
    """Frame the RF box with half its size around it (the whole image without a box): an early
    layer's field is a few pixels of a large input."""
    if box is None:
        plot.autoRange(padding=0)
        return
    top, left, bottom, right = (max(box[0], 0), max(box[1], 0), min(box[2], shape[0] - 1), min(box[3], shape[1] - 1))
    margin = max(bottom - top + 1, right - left + 1) / 2
    plot.setRange(xRange=(max(left - margin, 0), min(right + 1 + margin, shape[1])),
                  yRange=(max(top - margin, 0), min(bottom + 1 + margin, shape[0])), padding=0)


def activation_text(snapshot: VisualizationSnapshot) -> str:
    """"Activation of the image … · best over the inputs …" for a finished visualisation."""
    final = snapshot.activation[0] if snapshot.activation else float("nan")
    text = f"Activation of the image {final:.4g}"
    if snapshot.best_input is not None:
        ratio = f" ({final / snapshot.best_input:.1f}×)" if snapshot.best_input > 0 else ""
        text += f" · best over the inputs {snapshot.best_input:.4g}, {snapshot.best_input_label}{ratio}"
    return text
