"""The anatomy tree with its filter box: pick the layer to listen to."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from gui.anatomy_model import CALL_ROLE, FILTER_ROLE, LAYER_ROLE, NODE_ROLE, AnatomyModel


class AnatomyTree(QWidget):
    """A filter box over a collapsible tree of the model's modules.

    Typing in the filter keeps the modules whose name or type contains the text, with
    their ancestors, so every match stays in context.

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
        # Every column as wide as its contents, the names too (with their indentation):
        # a name cut to "l…1" says nothing.  A narrow dock scrolls sideways instead.
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(36)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)

    def set_anatomy(self, anatomy, model_name: str) -> None:
        """Show a new model's tree, expanded down to its top-level blocks."""
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

    def _apply_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self.view.expandAll()
        current = self.view.currentIndex()
        if current.isValid():
            self.view.scrollTo(current)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.layer_selected.emit(current.data(LAYER_ROLE))
