"""The model box: what it shows is the model that is open, and Enter opens the typed name once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from gui.widgets.model_picker import ModelPicker

CATALOGUE = {"ResNet": [("resnet18", True), ("resnet34", False)],
             "GoogLeNet": [("googlenet", False)], "AlexNet": [("alexnet", False)]}


def typed_picker(qtbot, text: str) -> tuple[QWidget, ModelPicker]:
    """A picker showing alexnet as open, in a window with a second box, ``text`` typed into it."""
    window = QWidget()
    qtbot.addWidget(window)
    picker = ModelPicker(window)
    picker.set_catalogue(CATALOGUE)
    picker.set_current("alexnet")
    layout = QVBoxLayout(window)
    layout.addWidget(picker)
    layout.addWidget(QLineEdit(window, objectName="other_box"))
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    edit = picker.combo.lineEdit()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    edit.selectAll()
    QTest.keyClicks(edit, text)
    qtbot.waitUntil(picker.combo.completer_object.popup().isVisible, timeout=2000)
    return window, picker


def test_one_enter_opens_the_typed_model_while_suggestions_are_open(qtbot):
    _window, picker = typed_picker(qtbot, "resnet3")
    popup = picker.combo.completer_object.popup()
    assert not popup.currentIndex().isValid()  # nothing highlighted: the typed text is meant
    picker.combo.lineEdit().setText("resnet34")
    with qtbot.waitSignal(picker.model_chosen, timeout=2000) as chosen:
        QTest.keyClick(popup, Qt.Key.Key_Return)  # the popup has the keys while it is open
    assert chosen.args == ["resnet34"]
    assert not popup.isVisible()


def test_escape_closes_the_suggestions_and_leaving_the_box_shows_the_open_model(qtbot):
    _window, picker = typed_picker(qtbot, "googlenet")
    popup = picker.combo.completer_object.popup()
    QTest.keyClick(popup, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    assert picker.combo.currentText() == "googlenet"  # still being typed: the box keeps it
    other = _window.findChild(QLineEdit, "other_box")
    other.setFocus()
    qtbot.waitUntil(lambda: not picker.combo.lineEdit().hasFocus(), timeout=2000)
    assert picker.combo.currentText() == "alexnet  —  random weights"  # nothing was opened


def test_opening_a_model_during_a_battery_stops_it_and_opens_the_model(open_window, qtbot):
    window = open_window()
    qtbot.waitUntil(lambda: window.picker.combo.count() > 50, timeout=20000)
    view = window.job_views["properties"][0]
    window.start_job(view.make_job("layer1"), view)
    qtbot.waitUntil(lambda: window.state.running is not None and window.state.running.progress is not None,
                    timeout=30000)
    edit = window.picker.combo.lineEdit()
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "googlenet")
    popup = window.picker.combo.completer_object.popup()
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    QTest.keyClick(popup, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    assert window.state.running is not None  # Escape closed the suggestions, it cancelled nothing
    with qtbot.waitSignal(window.worker.model_ready, timeout=60000):
        QTest.keyClick(edit, Qt.Key.Key_Return)
        assert "stopped: Property battery of layer1" in window.status.currentMessage()
    qtbot.waitUntil(lambda: window.info is not None and window.info.name == "googlenet", timeout=5000)
    assert window.picker.combo.currentText() == "googlenet  —  random weights"
    assert window.tree.model.index(0, 0).data() == "googlenet"
    assert window.state.running is None
