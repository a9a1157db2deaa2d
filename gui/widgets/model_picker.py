"""Choosing the model: a searchable list of torchvision's models grouped by family.

The list comes from the engine thread (``engine.models.zoo`` imports torch, which the GUI
thread must not do before the window is up), so the picker starts with only the model
being opened and fills in once the engine has started.  Models are listed in natural
order (resnet18 before resnet101); typing a name and pressing Enter opens it (once, also
while the suggestions are open), and an unknown name gets a "did you mean".  Escape with the
suggestions open closes them (it does not cancel the engine's work); leaving the box without
opening anything shows the open model's name again, so the box never names another model.
"""

from __future__ import annotations

import difflib
import re

from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QCompleter, QHBoxLayout, QToolButton, QWidget

SPEC_ROLE = Qt.ItemDataRole.UserRole + 1


class SearchableComboBox(QComboBox):
    """An editable combo box whose completer finds the typed text anywhere in a name.

    As superqt's ``QSearchableComboBox``, whose package takes longer to import (0.4 s) than
    the window takes to build: the window is shown before torch loads, so that time counts.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEditable(True)
        self.completer_object = QCompleter(self)
        self.completer_object.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_object.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer_object.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompleter(self.completer_object)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)


def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers inside names by value: resnet18 < resnet34 < resnet101."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def looks_like_file(spec: str) -> bool:
    """Whether ``spec`` names a model file (``.pt``, ``.py:factory``...) rather than a zoo model."""
    return "/" in spec or "\\" in spec or bool(re.search(r"\.(pt|pth|ts|jit|py)(:\w+)?$", spec))


def entry_text(name: str, found: bool) -> str:
    """What the list shows for a model: its name and whether real weights were found."""
    return f"{name}  —  {'found weights' if found else 'random weights'}"


class ModelPicker(QWidget):
    """Model combo box with "Open model file…" and "Load weights…" buttons.

    Signals
    -------
    model_chosen(str)
        The user picked a zoo model (or typed a model file's name); the argument is its name.
    problem(str)
        The user typed a name that is no model: the message says so, with close names.
    open_file_requested()
        The user asked to open a model file (the window shows the file dialog).
    load_weights_requested()
        The user asked to load a weights file into the current model.
    """

    model_chosen = Signal(str)
    problem = Signal(str)
    open_file_requested = Signal()
    load_weights_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.combo = SearchableComboBox(self)
        self.combo.setToolTip("Model to listen to: type to search; 'found weights' means "
                              "pretrained weights are in the local torch cache, "
                              "'random weights' that the model is randomly initialised")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(28)
        self.combo.setMaxVisibleItems(25)
        self.combo.setMaximumWidth(520)
        self._items = QStandardItemModel(self)
        self.combo.setModel(self._items)
        self._names = QStringListModel(self)
        self.combo.completer_object.setModel(self._names)
        self.combo.activated.connect(self._activated)
        self.combo.completer_object.activated[str].connect(self._completed)
        self.combo.lineEdit().returnPressed.connect(self._return_pressed)
        # The completer's popup takes the keys while it is open: Enter there would only close
        # it, Escape reach the window's Cancel.  Both boxes are watched (see eventFilter).
        self.combo.installEventFilter(self)  # the combo takes focus-outs and passes them on
        self.combo.lineEdit().installEventFilter(self)
        self.combo.completer_object.popup().installEventFilter(self)

        self.open_button = QToolButton(self, text="Open model file…")
        self.open_button.setToolTip("Open a TorchScript archive or a Python file with a "
                                    "model factory (file.py:factory)")
        self.open_button.clicked.connect(self.open_file_requested)
        self.weights_button = QToolButton(self, text="Load weights…")
        self.weights_button.setToolTip("Load a state_dict file (.pth, .pt, .safetensors) "
                                       "into the current model")
        self.weights_button.clicked.connect(self.load_weights_requested)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.open_button)
        layout.addWidget(self.weights_button)
        layout.addStretch(0)
        self._current = ""
        self._current_state = ""

    def set_catalogue(self, catalogue: dict[str, list[tuple[str, bool]]]) -> None:
        """Fill the list: ``{family: [(model name, weights found?), ...]}`` in display order."""
        self.combo.blockSignals(True)
        self._items.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        # Headers are enabled (not greyed out) but not selectable, in the text colour on a
        # shaded band, so they read as headings.
        palette = self.palette()
        text_brush = QBrush(palette.color(QPalette.ColorRole.Text))
        band = QBrush(palette.color(QPalette.ColorRole.AlternateBase).darker(106))
        texts = []
        for family, models in catalogue.items():
            header = QStandardItem(family)
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            header.setFont(bold)
            header.setForeground(text_brush)
            header.setBackground(band)
            self._items.appendRow(header)
            for name, found in sorted(models, key=lambda m: natural_key(m[0])):
                text = entry_text(name, found)
                item = QStandardItem("    " + text)
                item.setData(name, SPEC_ROLE)
                item.setToolTip(f"{name} ({family})")
                self._items.appendRow(item)
                texts.append(text)
        self._names.setStringList(texts)
        self.combo.blockSignals(False)
        self.set_current(self._current, self._current_state)

    def set_current(self, spec: str, weights_label: str = "") -> None:
        """Show ``spec`` as the open model (added as an entry if it is not a zoo model)."""
        self._current, self._current_state = spec, weights_label
        self.combo.blockSignals(True)
        for row in range(self._items.rowCount()):
            if self._items.item(row).data(SPEC_ROLE) == spec:
                self.combo.setCurrentIndex(row)
                self.combo.setEditText(self._items.item(row).text().strip())
                break
        else:
            self.combo.setCurrentIndex(-1)
            suffix = f"  —  {weights_label}" if weights_label else ""
            self.combo.setEditText(spec + suffix)
        self.combo.blockSignals(False)

    def current_spec(self) -> str:
        """The model the picker shows as open."""
        return self._current

    def _activated(self, row: int) -> None:
        spec = self._items.item(row).data(SPEC_ROLE) if row >= 0 else None
        if spec:
            self._choose(spec)

    def _completed(self, text: str) -> None:
        name = text.split("  —  ")[0].strip()
        if name:
            self._choose(name)

    def model_names(self) -> list[str]:
        """Every zoo model in the list, in the order shown."""
        return [self._items.item(row).data(SPEC_ROLE) for row in range(self._items.rowCount())
                if self._items.item(row).data(SPEC_ROLE)]

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        """Keys of the line edit and of the suggestion popup (see the module docstring)."""
        kind = event.type()
        popup = self.combo.completer_object.popup()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and popup.isVisible():
            key = event.key()
            if kind == QEvent.Type.ShortcutOverride and key in (Qt.Key.Key_Escape, Qt.Key.Key_Return,
                                                                 Qt.Key.Key_Enter):
                event.accept()  # the key is the box's: no window shortcut (Esc is Cancel) takes it
                return True
            if kind == QEvent.Type.KeyPress and key == Qt.Key.Key_Escape:
                popup.hide()
                return True
            if (kind == QEvent.Type.KeyPress and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                    and not popup.currentIndex().isValid()):
                popup.hide()  # no suggestion highlighted: the typed name is meant, at the first Enter
                self._return_pressed()
                return True
        elif (kind == QEvent.Type.FocusOut and watched is not popup and not popup.isVisible()
              and event.reason() != Qt.FocusReason.PopupFocusReason):
            self.set_current(self._current, self._current_state)  # typed but not opened: show the open one
        return super().eventFilter(watched, event)

    def _return_pressed(self) -> None:
        """Enter opens the typed name: a zoo model (any case), a model file, or says what is close."""
        typed = self.combo.currentText().split("  —  ")[0].strip()
        if not typed or self.combo.completer_object.popup().isVisible():
            return
        names = self.model_names()
        by_lower = {name.lower(): name for name in names}
        if typed.lower() in by_lower:
            self._choose(by_lower[typed.lower()])
        elif looks_like_file(typed) or not names:
            self._choose(typed)
        else:
            close = difflib.get_close_matches(typed.lower(), list(by_lower), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(by_lower[c] for c in close)}?" if close else ""
            self.problem.emit(f"No model is called '{typed}'.{hint}")

    def _choose(self, spec: str) -> None:
        if spec != self._current:
            self._current = spec
            self.model_chosen.emit(spec)
        else:  # the open model again: the box shows its full entry, not what was typed
            self.set_current(self._current, self._current_state)
