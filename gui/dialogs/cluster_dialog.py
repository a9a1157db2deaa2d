"""File ▸ Run on cluster…: the shown model, layer and input images as a sharded summaries job.

The dialog writes the job file and shows the ``unitscope submit`` command that runs it; with
``sbatch`` on the PATH (or the local executor) it also submits, as a separate process that
outlives the window.  It only names values: no torch, no engine thread.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QProcess
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import UnitscopeError
from engine.session.values import ModelSpec

DEFAULT_SUMMARIES = "mean, centre, project:256"


class ClusterDialog(QDialog):
    """Settings of a sharded job and the command that submits it."""

    def __init__(self, model, layer: str, images: list[str], folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Run on cluster")
        self.model, self.images = model, images
        self.layers = QLineEdit(layer)
        self.summaries = QLineEdit(DEFAULT_SUMMARIES)
        self.k = _spin(1, 1000, 9)
        self.shards = _spin(1, 100_000, 4)
        self.executor = QComboBox()
        self.executor.addItems(["slurm", "local"])
        self.partition = QLineEdit()
        self.partition.setPlaceholderText("the cluster's default")
        self.time = _spin(1, 100_000, 60)
        self.gpus = _spin(0, 16, 0)
        self.folder = QLineEdit(folder)
        self.command = QPlainTextEdit(readOnly=True)
        self.command.setMinimumHeight(70)
        form = QFormLayout()
        form.addRow("Stimuli", QLabel(f"the {len(images)} input image(s), sorted by path"))
        form.addRow("Layers (comma-separated)", self.layers)
        form.addRow("Summaries per stimulus", self.summaries)
        form.addRow("Top/bottom k per channel", self.k)
        form.addRow("Shards", self.shards)
        form.addRow("Executor", self.executor)
        form.addRow("Partition", self.partition)
        form.addRow("Time per task (min)", self.time)
        form.addRow("GPUs per task", self.gpus)
        form.addRow("Job folder", self.folder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.write_button = buttons.addButton("Write job file", QDialogButtonBox.ButtonRole.ActionRole)
        self.submit_button = buttons.addButton("Submit", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.rejected.connect(self.reject)
        self.write_button.clicked.connect(self.write_job)
        self.submit_button.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.command)
        layout.addWidget(buttons)
        for widget in (self.layers, self.summaries, self.partition, self.folder):
            widget.textChanged.connect(self.refresh)
        for spin in (self.k, self.shards, self.time, self.gpus):
            spin.valueChanged.connect(self.refresh)
        self.executor.currentTextChanged.connect(self.refresh)
        self.refresh()

    def job_path(self) -> Path:
        folder = Path(self.folder.text().strip() or "unitscope-job")
        return folder.with_name(folder.name + ".job.json")

    def argv(self) -> list[str]:
        """The ``unitscope submit`` arguments of the settings shown."""
        args = ["submit", str(self.job_path()), "--out", self.folder.text().strip(), "--shards",
                str(self.shards.value()), "--executor", self.executor.currentText(), "--time", str(self.time.value())]
        if self.partition.text().strip():
            args += ["--partition", self.partition.text().strip()]
        if self.gpus.value():
            args += ["--gpus-per-task", str(self.gpus.value())]
        if ".py:" in self.model.spec:
            args.append("--trust-code")
        return args

    def refresh(self) -> None:
        can_submit = self.executor.currentText() == "local" or shutil.which("sbatch") is not None
        self.submit_button.setEnabled(can_submit and bool(self.images))
        self.submit_button.setToolTip("" if can_submit else "sbatch is not on the PATH here: write the job file "
                                      "and run the command on the cluster's login node")
        self.command.setPlainText(shlex.join(["unitscope", *self.argv()]))

    def job_file(self):
        from engine.jobs.summaries import Summaries
        from engine.session.job import JobFile

        layers = tuple(name.strip() for name in self.layers.text().split(",") if name.strip())
        summaries = tuple(name.strip() for name in self.summaries.text().split(",") if name.strip())
        if not layers or not summaries or not self.images:
            raise UnitscopeError("A cluster job needs at least one layer, one summary and one input image.")
        return JobFile(self.model, Summaries(layers, tuple(self.images), summaries=summaries, k=self.k.value()))

    def write_job(self) -> Path | None:
        try:
            path = self.job_file().save(self.job_path())
        except UnitscopeError as exc:
            self.command.setPlainText(f"{exc}")
            return None
        self.command.setPlainText(f"Wrote {path}. Run:\n{shlex.join(['unitscope', *self.argv()])}")
        return path

    def submit(self) -> None:
        if self.write_job() is None:
            return
        ok, _pid = QProcess.startDetached(sys.executable, ["-m", "engine", *self.argv()])
        self.command.appendPlainText("Submitted: follow it with unitscope status " + self.folder.text().strip()
                                     + "; once every shard is done, File ▸ Open cluster results… shows them"
                                     if ok else "Could not start unitscope submit.")


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def open_cluster_dialog(model: ModelSpec | None, layer: str, images: list[str],
                        show_problem: Callable[[str], None], parent: QWidget | None = None) -> None:
    """Open the dialog (modal, over ``parent``) for ``model``, the selected ``layer`` and the
    input ``images``; without a model (None) ``show_problem`` is told to open one first."""
    if model is None:
        show_problem("Open a model first.")
        return
    ClusterDialog(model, layer, images, str(Path.cwd() / "unitscope-job"), parent).exec()
