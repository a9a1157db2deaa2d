"""The "Pretrained weights" dialog: which models have weights offline, and importing files.

It shows what ``unitscope weights list`` prints and its "Import weights…" button does
what ``unitscope weights import`` does (``engine.models.weights``), hashing and copying in a
background thread so that a multi-gigabyte file from a drive does not freeze the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSettings, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
)
from superqt.utils import create_worker

from engine.errors import UnitscopeError
from engine.models.weights import ImportResult, WeightsRow, import_file, list_weights
from engine.models.zoo import hub_checkpoint_dir

log = logging.getLogger(__name__)

WEIGHT_FILTERS = "Weights (*.pth *.pt);;All files (*)"
_IMPORT_DIR_KEY = "weights/import_dir"


class WeightsTableModel(QAbstractTableModel):
    """Rows of :class:`engine.models.weights.WeightsRow`: model, entry, file name, state."""

    HEADERS = ("Model", "Weights entry", "File in the torch hub cache", "State")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[WeightsRow] = []

    def set_rows(self, rows: list[WeightsRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[WeightsRow]:
        return list(self._rows)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            entry = row.entry
            name = entry.entry_name.split(".", 1)[1]
            return (entry.model, name if entry.is_default else f"{name} (not loaded)",
                    entry.file_name, row.state)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.found:
                return f"{row.path}\n{row.entry.entry_name}"
            return (f"{row.entry.file_name} is not in {hub_checkpoint_dir()}: "
                    f"{row.entry.model} runs with random weights")
        if role == Qt.ItemDataRole.FontRole and row.found and column == 3:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and not row.found and column == 3:
            return QBrush(QGuiApplication.palette().color(QPalette.ColorGroup.Disabled,
                                                          QPalette.ColorRole.WindowText))
        return None


class WeightsDialog(QDialog):
    """Every model with the state of its weights, and an "Import weights…" button.

    Parameters
    ----------
    parent : QWidget, optional
        Usually the main window.

    Signals
    -------
    import_finished(list)
        An import ended; the argument is the list of :class:`engine.models.weights.ImportResult`,
        one per file (``ok`` false for a refused file).  Connect it to refresh anything
        that shows whether a model has its weights.
    """

    import_finished = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Pretrained weights")
        self.resize(860, 600)
        self._worker = None
        self._results: list[ImportResult] = []

        self.cache_label = QLabel(self)
        self.cache_label.setWordWrap(True)
        self.cache_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label = QLabel(self)

        self.filter_box = QLineEdit(self, placeholderText="Filter models…", clearButtonEnabled=True)
        self.all_entries_box = QCheckBox("Show every weights entry", self)
        self.all_entries_box.setToolTip("Unitscope loads each model's default entry; torchvision "
                                        "has older or larger entries for some models too")
        self.all_entries_box.toggled.connect(self.refresh)

        self.model = WeightsTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_box.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        # Click a header to sort (by State puts the models with weights first); the
        # initial order is the zoo's, by family.
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.results_box = QPlainTextEdit(self, readOnly=True)
        self.results_box.setPlaceholderText("Results of imports appear here.")
        self.results_box.setMaximumHeight(110)
        self.busy = QProgressBar(self, minimum=0, maximum=0, textVisible=False)
        self.busy.setMaximumWidth(160)
        self.busy.hide()

        self.import_button = QPushButton("Import weights…", self)
        self.import_button.setToolTip("Copy weights files (for example from a USB drive) into the torch "
                                      "hub cache under the name torchvision expects, after checking "
                                      "the hash prefix in that name")
        self.import_button.clicked.connect(self.choose_files)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(self.filter_box, 1)
        top.addWidget(self.all_entries_box)
        bottom = QHBoxLayout()
        bottom.addWidget(self.import_button)
        bottom.addWidget(self.busy)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.cache_label)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.results_box)
        layout.addLayout(bottom)
        self.refresh()

    @property
    def importing(self) -> bool:
        return self._worker is not None

    def refresh(self) -> None:
        """Read the torch hub cache again and show what it holds."""
        rows = list_weights(include_all_entries=self.all_entries_box.isChecked())
        self.model.set_rows(rows)
        folder = hub_checkpoint_dir()
        self.cache_label.setText(
            f"Pretrained weights are read from the torch hub cache, <b>{folder}</b>"
            f"{'' if folder.is_dir() else ' (not created yet)'}. A model whose file is not there "
            f"runs with random weights. Nothing is ever downloaded.")
        models = {r.entry.model for r in rows}
        found = {r.entry.model for r in rows if r.found and r.entry.is_default}
        names = sorted(found)
        listed = ": " + ", ".join(names) if 0 < len(names) <= 8 else ""
        self.summary_label.setText(f"{len(found)} of {len(models)} models have their pretrained "
                                   f"weights{listed}.")

    def choose_files(self) -> None:
        """Ask for weights files, then import them."""
        settings = QSettings()
        start = str(settings.value(_IMPORT_DIR_KEY, str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(self, "Import weights", start, WEIGHT_FILTERS)
        if paths:
            settings.setValue(_IMPORT_DIR_KEY, str(Path(paths[0]).parent))
            self.import_files(paths)

    def import_files(self, paths: list[str | Path]) -> None:
        """Import files in a background thread; each result appears as soon as it is known.

        Emits :attr:`import_finished` at the end.  Ignored while an import is running.
        """
        if self.importing or not paths:
            return
        self._results = []
        self.import_button.setEnabled(False)
        self.busy.show()
        self.results_box.appendPlainText(f"Importing {len(paths)} file(s)…")

        def each_file():
            for path in paths:
                try:
                    yield import_file(path)
                except UnitscopeError as exc:
                    yield ImportResult(Path(path), error=str(exc))

        self._worker = create_worker(each_file, _start_thread=False)
        self._worker.yielded.connect(self._show_result)
        self._worker.errored.connect(self._failed)
        self._worker.finished.connect(self._done)
        self._worker.start()

    def _show_result(self, result: ImportResult) -> None:
        self._results.append(result)
        self.results_box.appendPlainText(("✓ " if result.ok else "✗ ") + result.describe())
        self.refresh()

    def _failed(self, exc: Exception) -> None:
        log.exception("weights import failed", exc_info=exc)
        self.results_box.appendPlainText(f"✗ the import stopped: {exc}")

    def _done(self) -> None:
        self._worker = None
        self.busy.hide()
        self.import_button.setEnabled(True)
        self.refresh()
        self.import_finished.emit(list(self._results))
