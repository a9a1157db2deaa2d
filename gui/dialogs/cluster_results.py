"""File ▸ Open cluster results…: a finished ``unitscope submit`` job shown in the usual views.

A predict job's merged layers go straight to the Brain view (a ``cluster_predict`` job);
a summaries job's results are shown as follows.

The job's store is read in the engine thread, as any analysis: the window starts one of
:mod:`engine.cluster.results`' jobs on the Top images, Tuning or Population view, and the
view draws its snapshot as if its own job had run.  Opening a job runs them one after the
other (population, then top images and, for a protocol's stimuli, tuning); the small
:class:`ClusterResultsDialog` names the job and its model and lets the user pick another
layer, channel or population vector.  Nothing here imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from engine.cluster.predict_merged import ClusterPredict
from engine.cluster.results import (
    POPULATION_REDUCTIONS,
    ClusterPopulation,
    ClusterResults,
    ClusterTopImages,
    open_results,
    same_model,
    tuning_job,
)
from engine.errors import UnitscopeError

log = logging.getLogger(__name__)


def open_results_folder(window, path: str | Path):
    """Open the finished job in ``path`` in ``window``'s views; returns its dialog, or None when
    the folder is not a finished job (then the window says why, in one line)."""
    try:
        results = open_results(path)
    except UnitscopeError as exc:
        window.show_problem(str(exc))
        return None
    if isinstance(results, ClusterPredict):  # the layers it scored, in the Brain view: no model of its own opened
        if window.state.info is None:
            window.show_problem("Open a model first: the views show a cluster job's results through it.")
        else:
            window.start_job(results, window.views["predict"])
        return None
    info = window.info.model if window.info is not None else None
    if info is None or not same_model(info, results.model):  # its views would open the store's model
        from gui.dialogs.code_trust import trusted_model

        if trusted_model(window, results.model, f"The cluster job in '{Path(path).name}'") is None:
            return None
    old = getattr(window, "cluster_results", None)
    if old is not None:
        old.close()
    dialog = window.cluster_results = ClusterResultsDialog(window, results)
    dialog.show()
    dialog.show_all()
    return dialog


class ClusterResultsDialog(QDialog):
    """A finished job's contents, and buttons that show a layer's results in the views."""

    def __init__(self, window, results: ClusterResults):
        super().__init__(window)
        self.window_, self.results = window, results
        self.setWindowTitle(f"Cluster results: {Path(results.job_dir).name}")
        self._queue: list = []
        self._rid = 0
        self._sources: dict[int, object] = {}  # request id -> the view it fills
        info = window.info.model if window.info is not None else None
        self.other_model = info is not None and not same_model(info, results.model)
        model = f"Model: {results.model.label}"
        if self.other_model:
            model = (f"<b>Model: {results.model.label}</b>, not the window's {info.label}: "
                     "the views name the model their results come from")
        self.model_label = QLabel(model, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.stimuli_label = QLabel(f"Stimuli: {results.stimuli_text()} · top/bottom {results.k} per channel",
                                    wordWrap=True)
        self.layer_combo = QComboBox(self)
        self.layer_combo.addItems(results.layers)
        self.channel_spin = QSpinBox(self, toolTip="The channel whose centre unit the top images and the "
                                                   "tuning curve show")
        self.reduction_combo = QComboBox(self, toolTip="The summary each stimulus keeps of the layer: its "
                                                       "population vector")
        self.topk_button = QPushButton("Top images", self)
        self.tuning_button = QPushButton("Tuning", self)
        self.population_button = QPushButton("Population", self)
        self.topk_button.clicked.connect(lambda: self.show_topk())
        self.tuning_button.clicked.connect(lambda: self.show_tuning())
        self.population_button.clicked.connect(lambda: self.show_population())
        form = QFormLayout()
        form.addRow("Layer", self.layer_combo)
        form.addRow("Channel", self.channel_spin)
        form.addRow("Population vector", self.reduction_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        for button in (self.topk_button, self.tuning_button, self.population_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.model_label)
        layout.addWidget(self.stimuli_label)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.layer_combo.currentTextChanged.connect(self._layer_changed)
        recording = window.recording
        layer = recording.layer if recording is not None and recording.layer in results.layers else results.layers[0]
        self.layer_combo.setCurrentText(layer)
        self._layer_changed(layer)
        if window.state.unit_channel is not None and recording is not None and recording.layer == layer:
            self.channel_spin.setValue(window.state.unit_channel)  # the channel the unit view shows
        window.analysis_shown.connect(self._shown)
        window.worker.job_finished.connect(self._job_finished)

    # --- what the user picks -------------------------------------------------------------

    @property
    def layer(self) -> str:
        return self.layer_combo.currentText()

    def _layer_changed(self, layer: str) -> None:
        if layer not in self.results.units:
            return
        self.channel_spin.setRange(0, self.results.channels(layer) - 1)
        self.reduction_combo.clear()
        self.reduction_combo.addItems(self.results.population_reductions(layer))
        refusal = self.results.tuning_refusal(layer)
        self.tuning_button.setEnabled(not refusal)
        self.tuning_button.setToolTip(refusal or "The channel's centre unit over the protocol's conditions")
        self.population_button.setEnabled(self.reduction_combo.count() > 0)

    # --- showing -------------------------------------------------------------------------

    def show_topk(self) -> int:
        """Show the channel's top and bottom stimuli in the Top images view; returns the request id."""
        job = ClusterTopImages(self.layer, self.channel_spin.value(), k=self.results.k,
                               job_dir=self.results.job_dir)
        return self._start(job, self.window_.views["topk"])

    def show_tuning(self) -> int:
        """Show the channel's tuning over the protocol in the Tuning view (0 without a protocol)."""
        refusal = self.results.tuning_refusal(self.layer)
        if refusal:
            self.window_.show_problem(f"The job in '{self.results.job_dir}' has no tuning curve: {refusal}")
            return 0
        return self._start(tuning_job(self.results, self.layer, self.channel_spin.value()),
                           self.window_.views["tuning"])

    def show_population(self) -> int:
        """Show the layer's population analyses (the chosen summary per stimulus) in the Population view."""
        name = self.reduction_combo.currentText()
        if not name:
            self.window_.show_problem(f"The job kept no per-stimulus summary of {self.layer} for a population.")
            return 0
        # "cluster": no stimulus set of the view's own, so its set control is left as it is
        job = ClusterPopulation(self.layer, "cluster", view=POPULATION_REDUCTIONS.get(name, name),
                                job_dir=self.results.job_dir, reduction=name)
        return self._start(job, self.window_.views["population"])

    def show_all(self) -> None:
        """Show every view the layer has results for, one after the other; the last in front
        is the tuning (a protocol's stimuli) or the top images."""
        steps = [self.show_population] if self.population_button.isEnabled() else []
        steps.append(self.show_topk)
        if self.tuning_button.isEnabled():
            steps.append(self.show_tuning)
        self._queue = steps[1:]
        steps[0]()

    def _start(self, job, view) -> int:
        if self.window_.state.info is None:
            self.window_.show_problem("Open a model first: the views show a cluster job's results through it.")
            return 0
        self._rid = self.window_.start_job(job, view)
        self._sources[self._rid] = view
        return self._rid

    def _shown(self, kind: str) -> None:
        """Say, under the finished view, which job (and model) its results come from."""
        running = self.window_.state.running
        view = self._sources.get(running.id) if running is not None else None
        if view is None or not kind.startswith("cluster_"):
            return
        source = f"From the cluster job '{Path(self.results.job_dir).name}'"
        if self.other_model:
            source += f" (model {self.results.model.label}, not the window's)"
        view.status_label.setText(f"{view.status_label.text()}\n{source}.")

    def _job_finished(self, rid: int) -> None:
        """Go on with the next view once the window has closed the last job (never when the
        user started another meanwhile)."""
        if rid != self._rid or not self._queue:
            return
        if self.window_.state.running is not None:
            self._queue = []
            return
        self._queue.pop(0)()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._queue = []
        for signal, slot in ((self.window_.analysis_shown, self._shown),
                             (self.window_.worker.job_finished, self._job_finished)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already disconnected
                pass
        if getattr(self.window_, "cluster_results", None) is self:
            self.window_.cluster_results = None
        super().closeEvent(event)
