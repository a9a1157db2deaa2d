"""The window's shortcuts work while a text box has the keyboard focus.

A line edit or spin box takes Ctrl+E, Ctrl+K, Ctrl+A... for its own editing, so a window
shortcut pressed while one has the focus would never reach the window.  A
:class:`ShortcutsThroughTextBoxes` watches the window's text boxes (those there now, those
added later, and any widget the focus reaches) and lets an enabled window action's shortcut
through; copy, cut, paste, undo, redo and select-all stay with the box.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

TEXT_BOXES = (QLineEdit, QAbstractSpinBox, QPlainTextEdit, QTextEdit)
TEXT_EDITING_KEYS = (QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Cut, QKeySequence.StandardKey.Paste,
                     QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Redo,
                     QKeySequence.StandardKey.SelectAll)


class ShortcutsThroughTextBoxes(QObject):
    """An event filter, owned by ``window``, on its text boxes."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        QApplication.instance().focusChanged.connect(self._focus_changed)
        self.watch(window)

    def watch(self, widget: QWidget) -> None:
        """Watch the text boxes inside ``widget`` now (the focus also adds any widget it reaches)."""
        for box in widget.findChildren(QWidget):
            if isinstance(box, TEXT_BOXES):
                box.installEventFilter(self)

    def _focus_changed(self, _old, new) -> None:
        if new is not None and self.window.isAncestorOf(new):
            new.installEventFilter(self)  # installed once: Qt moves a repeated filter to the front

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ShortcutOverride and self._window_shortcut(event):
            event.ignore()
            return True
        return super().eventFilter(watched, event)

    def _window_shortcut(self, event) -> bool:
        """Whether the key pressed is an enabled window action's shortcut, and no editing key."""
        if not event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            return False
        if any(event.matches(key) for key in TEXT_EDITING_KEYS):
            return False
        pressed = QKeySequence(event.keyCombination())
        return any(action.isEnabled() and action.shortcut().matches(pressed) == QKeySequence.SequenceMatch.ExactMatch
                   for action in self.window.findChildren(QAction))
