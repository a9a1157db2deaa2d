"""A Qt item model over the engine's anatomy tree.

Columns: name, type, output shape, parameters, receptive field.  A module called more
than once in a forward pass gets one child row per call ("relu #2"), whose layer
reference is ``name#2``; the module's own row stands for its first call.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt

from engine.errors import UnitscopeError
from engine.recording.unit import LayerRef

if TYPE_CHECKING:
    from engine.anatomy.receptive_field import Field
    from engine.anatomy.tree import Anatomy, AnatomyNode

COLUMNS = ("Name", "Type", "Shape", "Params", "RF")
LAYER_ROLE = Qt.ItemDataRole.UserRole + 1  # the layer reference ("layer1.0.relu#2")
FILTER_ROLE = Qt.ItemDataRole.UserRole + 2  # text the filter box matches against
NODE_ROLE = Qt.ItemDataRole.UserRole + 3  # the AnatomyNode
CALL_ROLE = Qt.ItemDataRole.UserRole + 4  # which call (1-based) the row stands for


def format_shape(shape) -> str:
    """``(1, 64, 56, 56)`` -> ``"64×56×56"`` (the batch dimension left out)."""
    if not shape:
        return "–"
    return "×".join(str(s) for s in shape[1:]) or "scalar"


def format_pair(pair) -> str:
    """A (height, width) pair as ``"7"`` when square, else ``"7×3"``."""
    if pair is None:
        return "–"
    a, b = (f"{v:g}" for v in pair)
    return a if a == b else f"{a}×{b}"


def format_count(n: int) -> str:
    """Counts the way people say them: 1.8 G, 1.2 M, 36.9 k, 512."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f} G"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


class _Row:
    """One row of the tree: a module, or one call of a module called several times."""

    __slots__ = ("node", "call", "parent_ref", "children", "row", "__weakref__")

    def __init__(self, node: AnatomyNode, call: int | None, parent: _Row | None, row: int):
        self.node, self.call, self.row = node, call, row
        # Held weakly: no reference cycle, so a model's rows (and its modules) go with the tree's.
        self.parent_ref = weakref.ref(parent) if parent is not None else None
        self.children: list[_Row] = []
        if call is None:
            for child in node.children:
                self.children.append(_Row(child, None, self, len(self.children)))
            if len(node.calls) > 1:
                for k in range(1, len(node.calls) + 1):
                    self.children.append(_Row(node, k, self, len(self.children)))

    @property
    def parent(self) -> _Row | None:
        return self.parent_ref() if self.parent_ref is not None else None

    @property
    def layer(self) -> str:
        return self.node.name if not self.call or self.call == 1 else f"{self.node.name}#{self.call}"

    @property
    def field(self) -> Field | None:
        calls = self.node.calls
        k = (self.call or 1) - 1
        return calls[k].field if k < len(calls) else None

    @property
    def shape(self):
        calls = self.node.calls
        k = (self.call or 1) - 1
        return calls[k].output_shape if k < len(calls) else None


class AnatomyModel(QAbstractItemModel):
    """Read-only tree model of an :class:`engine.anatomy.tree.Anatomy`.

    Parameters
    ----------
    anatomy : Anatomy, optional
        The tree to show; see :meth:`set_anatomy`.
    model_name : str
        Label for the root row (the whole model).
    """

    def __init__(self, anatomy: Anatomy | None = None, model_name: str = "model", parent=None):
        super().__init__(parent)
        self._root: _Row | None = None
        self._anatomy = None
        self._model_name = model_name
        if anatomy is not None:
            self.set_anatomy(anatomy, model_name)

    @property
    def anatomy(self) -> Anatomy | None:
        return self._anatomy

    def set_anatomy(self, anatomy: Anatomy | None, model_name: str = "model") -> None:
        """Show another model's anatomy (or nothing)."""
        self.beginResetModel()
        self._anatomy, self._model_name = anatomy, model_name
        self._root = _Row(anatomy.root, None, None, 0) if anatomy is not None else None
        self.endResetModel()

    def index_of(self, layer: str) -> QModelIndex:
        """The index (column 0) of a layer reference, or an invalid index."""
        if self._root is None:
            return QModelIndex()
        try:
            ref = LayerRef.parse(layer)
        except UnitscopeError:
            return QModelIndex()
        name, call = ref.name, ref.call
        if self._anatomy is None or name not in self._anatomy.by_name:
            return QModelIndex()
        path = []
        node = self._anatomy.by_name[name]
        while node is not None:
            path.append(node)
            node = node.parent
        row = self._root
        for node in reversed(path[:-1]):
            row = next(r for r in row.children if r.node is node and r.call is None)
        if call != 1:
            match = [r for r in row.children if r.node is row.node and r.call == call]
            if not match:
                return QModelIndex()
            row = match[0]
        return self.createIndex(row.row, 0, row)

    # --- QAbstractItemModel ------------------------------------------------------------

    def _row(self, index: QModelIndex | QPersistentModelIndex) -> _Row | None:
        return index.internalPointer() if index.isValid() else None

    def index(self, row: int, column: int, parent=QModelIndex()) -> QModelIndex:
        if self._root is None or not self.hasIndex(row, column, parent):
            return QModelIndex()
        parent_row = self._row(parent)
        children = [self._root] if parent_row is None else parent_row.children
        return self.createIndex(row, column, children[row])

    def parent(self, index=QModelIndex()) -> QModelIndex:  # type: ignore[override]
        row = self._row(index)
        if row is None or row.parent is None:
            return QModelIndex()
        return self.createIndex(row.parent.row, 0, row.parent)

    def rowCount(self, parent=QModelIndex()) -> int:
        if self._root is None or parent.column() > 0:
            return 0
        row = self._row(parent)
        return 1 if row is None else len(row.children)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def flags(self, index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return ("Module name (rows below a module called several times are its calls)",
                    "Module class", "Output shape of one sample (channels×height×width)",
                    "Parameters in this module and all below it",
                    "Receptive field size in input pixels (≤: largest of a position-dependent window "
                    "field; all: global attention; g: gated by a global squeeze-excitation)")[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self._row(index)
        if row is None:
            return None
        node, col = row.node, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == LAYER_ROLE:
            return row.layer
        if role == FILTER_ROLE:
            return f"{row.layer} {node.type}"
        if role == NODE_ROLE:
            return node
        if role == CALL_ROLE:
            return row.call or 1
        return None

    def _display(self, row: _Row, col: int) -> str:
        node = row.node
        if col == 0:
            if row.call is not None:
                return f"{node.short_name} #{row.call}"
            return self._model_name if not node.name else node.short_name
        if col == 1:
            return node.type
        if col == 2:
            shape = format_shape(row.shape)
            if row.call is None and len(node.calls) > 1:
                shape += f"  (×{len(node.calls)})"
            return shape
        if col == 3:
            return "" if row.call is not None else format_count(node.params_total)
        f = row.field
        text = format_pair(f.size if f else None)
        kind = f.kind if f else ""
        return {"gated": f"{text} g", "window": f"≤{text}", "global": f"{text} all"}.get(kind, text)

    def _tooltip(self, row: _Row) -> str:
        layer = row.layer or "(the whole model's output)"
        f = row.field
        rf = (f"receptive field {format_pair(f.size)} px ({f.kind}), jump {format_pair(f.jump)} px"
              if f else "no spatial receptive field")
        if f and f.note:
            rf += f"\n{f.note}"
        if row.node.shared_with:
            rf += f"\nshares weights with {', '.join(row.node.shared_with)}"
        if row.node.hint:
            rf += f"\n{row.node.hint}"
        calls = len(row.node.calls)
        called = f"called {calls} times; " if calls > 1 and row.call is None else ""
        return f"{layer}\n{row.node.type}, {called}{rf}"
