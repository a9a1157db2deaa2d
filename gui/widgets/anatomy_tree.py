"""The anatomy tree with its filter box: pick the layer to listen to."""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from gui.widgets.anatomy_model import CALL_ROLE, FILTER_ROLE, LAYER_ROLE, NODE_ROLE, AnatomyModel


class AnatomyTree(QWidget):
    """A filter box over a collapsible tree of the model's modules.

    Typing in the filter keeps the modules whose name or type contains the text, with
    their ancestors, so every match stays in context.  Clearing it brings back the rows
    expanded before, and the selected row stays selected (without recording it again).

    Signals
    -------
    layer_selected(str)
        The user selected a row (mouse or keyboard); the argument is its layer reference.
    """

    layer_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = AnatomyModel(parent=self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterRole(FILTER_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.filter_box = QLineEdit(self)
        self.filter_box.setPlaceholderText("Filter layers (name or type, e.g. conv, ReLU)")
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.setToolTip("Keeps the layers whose name or type contains this text, "
                                   "with the modules they sit in")
        self.filter_box.textChanged.connect(self._apply_filter)

        self.view = QTreeView(self)
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAllColumnsShowFocus(True)
        # Long sibling names differ at the end (encoder_layer_1, encoder_layer_11).
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        # The shape, params and RF columns as wide as their contents; the names take
        # the rest, so expanding a deep block never pushes those columns out of the dock
        # (a long name is elided in the middle; its tooltip and the card give it whole).
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Type names can be long (AdaptiveAvgPool2d): a fixed width the user may drag wider.
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(1, self.fontMetrics().horizontalAdvance("BatchNorm2d") + 14)
        header.setMinimumSectionSize(30)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self._expanded: list[QPersistentModelIndex] | None = None  # before the filter, in source rows
        self._quiet = False  # re-selecting a row after filtering records nothing

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)

    def set_anatomy(self, anatomy, model_name: str) -> None:
        """Show a new model's tree, expanded down to its top-level blocks."""
        self._expanded = None
        self.model.set_anatomy(anatomy, model_name)
        self.view.expandToDepth(0)
        self._apply_filter(self.filter_box.text())

    def current_layer(self) -> str | None:
        """The layer reference of the selected row, or None."""
        index = self.view.currentIndex()
        return index.data(LAYER_ROLE) if index.isValid() else None

    def current_node(self):
        """The selected ``AnatomyNode`` and which of its calls, or ``(None, 1)``."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None, 1
        return index.data(NODE_ROLE), index.data(CALL_ROLE)

    def select_layer(self, layer: str) -> bool:
        """Select the row of ``layer`` (the filter is cleared if it hides it).

        Returns
        -------
        bool
            False if the model has no such layer.
        """
        source = self.model.index_of(layer)
        if not source.isValid():
            return False
        index = self.proxy.mapFromSource(source)
        if not index.isValid():
            self.filter_box.clear()
            index = self.proxy.mapFromSource(source)
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.view.scrollTo(index)
        return True

    def visible_layers(self) -> list[str]:
        """Layer references of every row the filter keeps, in tree order."""
        found: list[str] = []

        def walk(parent: QModelIndex):
            for row in range(self.proxy.rowCount(parent)):
                index = self.proxy.index(row, 0, parent)
                found.append(index.data(LAYER_ROLE))
                walk(index)

        walk(QModelIndex())
        return found

    def expanded_layers(self) -> list[str]:
        """Layer references of the expanded rows."""
        return [index.data(LAYER_ROLE) for index in self._expanded_rows()]

    def _expanded_rows(self) -> list[QModelIndex]:
        rows: list[QModelIndex] = []

        def walk(parent: QModelIndex):
            for row in range(self.proxy.rowCount(parent)):
                index = self.proxy.index(row, 0, parent)
                if self.view.isExpanded(index):
                    rows.append(index)
                    walk(index)

        walk(QModelIndex())
        return rows

    def _apply_filter(self, text: str) -> None:
        text = text.strip()
        current = self.view.currentIndex()
        source = QPersistentModelIndex(self.proxy.mapToSource(current)) if current.isValid() else None
        if text and self._expanded is None:
            self._expanded = [QPersistentModelIndex(self.proxy.mapToSource(i)) for i in self._expanded_rows()]
        self.proxy.setFilterFixedString(text)
        if text:
            self.view.expandAll()
        elif self._expanded is not None:
            self.view.collapseAll()
            for row in self._expanded:
                if row.isValid():
                    self.view.expand(self.proxy.mapFromSource(QModelIndex(row)))
            self._expanded = None
        if source is not None and source.isValid():
            index = self.proxy.mapFromSource(QModelIndex(source))
            if index.isValid():
                if index != self.view.currentIndex():
                    self._quiet = True
                    try:
                        self.view.selectionModel().setCurrentIndex(
                            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                            | QItemSelectionModel.SelectionFlag.Rows)
                    finally:
                        self._quiet = False
                self.view.scrollTo(index)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid() and not self._quiet:
            self.layer_selected.emit(current.data(LAYER_ROLE))
