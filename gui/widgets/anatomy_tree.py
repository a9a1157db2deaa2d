"""The anatomy tree with its filter box: pick the layer to listen to.

In a narrow dock (a 1366 px laptop screen) the names come first: the name column gets the
width of the longest name shown, indentation included, before the other columns get more
than a few letters (type, then shape, params and RF are cut at the right).  A name that
still does not fit keeps its end, where siblings differ (``encoder_layer_11``, ``relu #2``).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.anatomy_model import CALL_ROLE, FILTER_ROLE, LAYER_ROLE, NODE_ROLE, AnatomyModel

INDENTATION = 12  # px per level (Qt's 20 spends a third of a 400 px dock on ViT's nesting)
MIN_WIDTHS = {1: "Conv…", 2: "64×5…", 3: "7.1 M", 4: "224 a"}  # other columns, cut no narrower
GIVE_ORDER = (4, 3, 2, 1)  # after the names, the width goes to RF, params, shape, then type


def elide_name(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` cut to ``width`` pixels keeping its end, where sibling names differ:
    ``"encoder_layer_11"`` -> ``"en…layer_11"`` (or ``"…ayer_11"`` when that keeps more)."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    for head in (2, 0):
        for start in range(head + 1, len(text)):
            candidate = text[:head] + "…" + text[start:]
            if metrics.horizontalAdvance(candidate) <= width:
                if head and len(text) - start < 5:
                    break  # too little of the end is left: give the head's room to the end
                return candidate
    return "…"


class NameDelegate(QStyledItemDelegate):
    """Paints a name column cut by :func:`elide_name` (Qt would cut it in the middle or right)."""

    def shown_text(self, option: QStyleOptionViewItem, index: QModelIndex) -> str:
        """The text painted for ``index`` in a cell of ``option.rect``."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, opt.widget)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, opt.widget) + 1
        return elide_name(opt.text, opt.fontMetrics, text_rect.width() - 2 * margin)

    def paint(self, painter, option, index) -> None:  # noqa: D102 - Qt override
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = self.shown_text(option, index)
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)


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
        self.view.setIndentation(INDENTATION)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)  # type, shape: their start says most
        self.names = NameDelegate(self.view)
        self.view.setItemDelegateForColumn(0, self.names)
        # Columns are laid out by fit_columns (names first), never wider than the dock, so
        # expanding a deep block pushes no column out of it; tooltips and the card give
        # whatever is cut whole.
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header.setMinimumSectionSize(10)
        self._fit_timer = QTimer(self, singleShot=True, interval=0)
        self._fit_timer.timeout.connect(self.fit_columns)
        for signal in (self.view.expanded, self.view.collapsed):
            signal.connect(self._fit_timer.start)
        self.proxy.modelReset.connect(self._fit_timer.start)
        self.proxy.layoutChanged.connect(self._fit_timer.start)
        self.view.viewport().installEventFilter(self)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self._expanded: list[QPersistentModelIndex] | None = None  # before the filter, in source rows
        self._quiet = False  # re-selecting a row after filtering records nothing

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def fit_columns(self) -> None:
        """Share the view's width: names first, then the other columns down to a few letters.

        The name column is as wide as the widest name shown (its indentation included),
        less only what the other columns need at their narrowest (and at least half the
        width when that is too little); what is left goes to RF, params, shape and type in
        that order, each up to its contents, and anything more to the names.
        """
        self._fit_timer.stop()
        available = self.view.viewport().width()
        if self.proxy.rowCount() == 0 or available <= 0:
            return
        header = self.view.header()
        metrics = self.view.fontMetrics()
        pad = 2 * (self.view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self.view) + 1) + 4
        needs = {c: max(self.view.sizeHintForColumn(c), header.sectionSizeHint(c))
                 for c in range(self.proxy.columnCount())}
        mins = {c: min(needs[c], metrics.horizontalAdvance(text) + pad) for c, text in MIN_WIDTHS.items()}
        names = min(needs[0], max(available - sum(mins.values()), available // 2))
        room = available - names
        scale = min(1.0, room / max(sum(mins.values()), 1))  # a very narrow dock: the others shrink alike
        widths = {0: names} | {c: int(width * scale) for c, width in mins.items()}
        left = available - sum(widths.values())
        for c in GIVE_ORDER:
            more = max(min(needs[c] - widths[c], left), 0)
            widths[c] += more
            left -= more
        widths[0] += max(left, 0)
        for c, width in widths.items():
            if header.sectionSize(c) != width:
                header.resizeSection(c, width)

    def shown_names(self) -> list[tuple[str, str]]:
        """(layer reference, what the name column shows) of each row on show, in tree order."""
        shown: list[tuple[str, str]] = []
        option = QStyleOptionViewItem()
        option.initFrom(self.view)
        option.widget = self.view

        def walk(parent: QModelIndex):
            for row in range(self.proxy.rowCount(parent)):
                index = self.proxy.index(row, 0, parent)
                option.rect = self.view.visualRect(index)
                shown.append((index.data(LAYER_ROLE), self.names.shown_text(option, index)))
                if self.view.isExpanded(index):
                    walk(index)

        walk(QModelIndex())
        return shown

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
        self._fit_timer.start()  # scrollTo expanded its ancestors
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
        self._fit_timer.start()  # rows appear and go: the widest name changes
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
