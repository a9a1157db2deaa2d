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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    QWidget,
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
from gui.analyses.job_view import JobView, ViewContext
from gui.dialogs.code_trust import CodeTrust, trusted_model

log = logging.getLogger(__name__)

#: The dialog's object name: one is open at a time among its parent's children.
DIALOG_NAME = "cluster_results"
NO_MODEL = "Open a model first: the views show a cluster job's results through it."


@dataclass(frozen=True)
class ResultViews:
    """Where a cluster job's results are shown, and what the dialog reads to show them; the
    window makes it (the dialog never sees the window).

    Attributes
    ----------
    context : gui.analyses.job_view.ViewContext
        The open model, the recording on show, the clicked unit and the running job (read-only).
    views : Mapping[str, JobView]
        The analyses' views by name: ``topk``, ``tuning``, ``population`` and ``predict`` are used.
    start_job : callable(job, view) -> int
        Runs ``job`` with ``view`` drawing its snapshots (its dock in front); the request id.
    show_problem : callable(str)
        Shows one line in the problem banner.
    analysis_finished : SignalInstance
        :attr:`gui.engine_link.controller.EngineLink.analysis_finished` (the job's kind): a
        view drew a job's final snapshot.
    job_ended : SignalInstance
        :attr:`gui.engine_link.controller.EngineLink.job_ended` (the request id): the running
        job ended.
    """

    context: ViewContext
    views: Mapping[str, JobView]
    start_job: Callable[[object, JobView], int]
    show_problem: Callable[[str], None]
    analysis_finished: Any
    job_ended: Any


def open_results_folder(path: str | Path, shown_in: ResultViews, trust: CodeTrust,
                        parent: QWidget | None = None) -> ClusterResultsDialog | None:
    """Open the finished job in ``path`` in the views of ``shown_in``; returns its dialog (over
    ``parent``, in place of the one open before), or None when the folder is not a finished
    job (``shown_in.show_problem`` is then told why, in one line), when it is a predict job
    (shown in the Brain view) or when its model runs code the person did not agree to run
    (asked as ``trust`` says)."""
    try:
        results = open_results(path)
    except UnitscopeError as exc:
        shown_in.show_problem(str(exc))
        return None
    info = shown_in.context.info
    if isinstance(results, ClusterPredict):  # the layers it scored, in the Brain view: no model of its own opened
        if info is None:
            shown_in.show_problem(NO_MODEL)
        else:
            shown_in.start_job(results, shown_in.views["predict"])
        return None
    model = info.model if info is not None else None
    if model is None or not same_model(model, results.model):  # its views would open the store's model
        if trusted_model(results.model, f"The cluster job in '{Path(path).name}'", trust) is None:
            return None
    for old in parent.findChildren(QDialog, DIALOG_NAME) if parent is not None else ():
        if old.isVisible():
            old.close()
    dialog = ClusterResultsDialog(results, shown_in, parent)
    dialog.show()
    dialog.show_all()
    return dialog


class ClusterResultsDialog(QDialog):
    """A finished job's contents, and buttons that show a layer's results in the views."""

    def __init__(self, results: ClusterResults, shown_in: ResultViews, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(DIALOG_NAME)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a newer job's dialog replaces it
        self.results, self.shown_in = results, shown_in
        self.setWindowTitle(f"Cluster results: {Path(results.job_dir).name}")
        self._queue: list = []
        self._rid = 0
        self._sources: dict[int, object] = {}  # request id -> the view it fills
        context = shown_in.context
        info = context.info.model if context.info is not None else None
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
        layer = context.layer if context.layer in results.layers else results.layers[0]
        self.layer_combo.setCurrentText(layer)
        self._layer_changed(layer)
        unit = context.unit
        if unit is not None and unit.layer == layer:
            self.channel_spin.setValue(unit.channel)  # the channel the unit view shows
        shown_in.analysis_finished.connect(self._shown)
        shown_in.job_ended.connect(self._job_ended)

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
        return self._start(job, self.shown_in.views["topk"])

    def show_tuning(self) -> int:
        """Show the channel's tuning over the protocol in the Tuning view (0 without a protocol)."""
        refusal = self.results.tuning_refusal(self.layer)
        if refusal:
            self.shown_in.show_problem(f"The job in '{self.results.job_dir}' has no tuning curve: {refusal}")
            return 0
        return self._start(tuning_job(self.results, self.layer, self.channel_spin.value()),
                           self.shown_in.views["tuning"])

    def show_population(self) -> int:
        """Show the layer's population analyses (the chosen summary per stimulus) in the Population view."""
        name = self.reduction_combo.currentText()
        if not name:
            self.shown_in.show_problem(f"The job kept no per-stimulus summary of {self.layer} for a population.")
            return 0
        # "cluster": no stimulus set of the view's own, so its set control is left as it is
        job = ClusterPopulation(self.layer, "cluster", view=POPULATION_REDUCTIONS.get(name, name),
                                job_dir=self.results.job_dir, reduction=name)
        return self._start(job, self.shown_in.views["population"])

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
        if self.shown_in.context.info is None:
            self.shown_in.show_problem(NO_MODEL)
            return 0
        self._rid = self.shown_in.start_job(job, view)
        self._sources[self._rid] = view
        return self._rid

    def _shown(self, kind: str) -> None:
        """Say, under the finished view, which job (and model) its results come from."""
        view = self._sources.get(self.shown_in.context.running_id)
        if view is None or not kind.startswith("cluster_"):
            return
        source = f"From the cluster job '{Path(self.results.job_dir).name}'"
        if self.other_model:
            source += f" (model {self.results.model.label}, not the window's)"
        view.status_label.setText(f"{view.status_label.text()}\n{source}.")

    def _job_ended(self, rid: int) -> None:
        """Go on with the next view once the last job ended (never when the user, or a
        session's replay, started another meanwhile)."""
        if not self._queue:
            return
        if rid != self._rid or self.shown_in.context.running_id:  # another job took this one's place
            self._queue = []
            return
        self._queue.pop(0)()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._queue = []
        for signal, slot in ((self.shown_in.analysis_finished, self._shown),
                             (self.shown_in.job_ended, self._job_ended)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already disconnected
                pass
        super().closeEvent(event)
