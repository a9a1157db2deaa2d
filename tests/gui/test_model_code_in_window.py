"""The window survives model code that calls ``sys.exit``, and never re-runs a remembered
``FILE.py:FACTORY`` that is gone, has changed, or lies in another folder."""

from __future__ import annotations

import hashlib
import textwrap

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from gui.window.window_settings import DEFAULT_MODEL

EXITING = textwrap.dedent("""\
    import sys

    from torch import nn


    class Exits(nn.Module):
        def forward(self, x):
            sys.exit(4)


    def exits_at_build():
        sys.exit(3)


    def exits_in_forward():
        return nn.Sequential(nn.Conv2d(3, 4, 3), Exits())
    """)


def _banner(qtbot, window, action) -> str:
    with qtbot.waitSignal(window.message_shown, timeout=30000) as shown:
        action()
    assert window.message.isVisible()
    return shown.args[0]


def _opened(qtbot, window, spec: str) -> None:
    qtbot.waitUntil(lambda: window.info is not None and window.info.spec == spec and not window.state.opening,
                    timeout=30000)


def test_model_code_calling_sys_exit_gives_a_banner_and_the_window_goes_on(open_window, qtbot, tmp_path):
    path = tmp_path / "exiting.py"
    path.write_text(EXITING)
    window = open_window()
    text = _banner(qtbot, window, lambda: window.open_model(f"{path}:exits_at_build"))
    assert text == "'exiting.py:exits_at_build' called sys.exit(3) while building the model."
    assert window.worker.isRunning()
    # sys.exit inside forward() reaches the engine thread itself: reported, the thread lives.
    text = _banner(qtbot, window, lambda: window.open_model(f"{path}:exits_in_forward"))
    assert text == "Model code called sys.exit(4); the request was stopped."
    assert window.worker.isRunning()
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == "layer1"):
        window.open_model("resnet18")
    assert window.info.spec == "resnet18"
    window.close()
    qtbot.waitUntil(lambda: not window.worker.isRunning(), timeout=10000)


def _answer_run_code(button, seen: list) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.dialogs.code_trust import QUESTION_NAME

    def poll():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == QUESTION_NAME:
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, poll)
    QTimer.singleShot(20, poll)


NET = "from torch import nn\n\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, {c}, 3), nn.ReLU())\n"
STRANGER = ("from pathlib import Path\n\nPath(__file__).with_name('stranger ran').touch()\n\n\n"
            "def net():\n    raise AssertionError('the other folder\\'s file ran')\n")


def test_a_remembered_factory_runs_only_from_its_own_unchanged_file(open_window, qtbot, tmp_path, monkeypatch):
    lab, elsewhere = tmp_path / "lab", tmp_path / "elsewhere"
    lab.mkdir()
    elsewhere.mkdir()
    (lab / "net.py").write_text(NET.format(c=4))
    (elsewhere / "net.py").write_text(STRANGER)

    monkeypatch.chdir(lab)
    first = open_window(model="net.py:net", wait_for=None)
    _opened(qtbot, first, f"{lab / 'net.py'}:net")  # the engine names the file absolutely at once
    first.close()
    settings = QSettings()
    assert settings.value("last/model") == f"{lab / 'net.py'}:net"
    assert settings.value("last/model_sha256") == hashlib.sha256((lab / "net.py").read_bytes()).hexdigest()

    # Started later in another folder holding a file of the same name: the remembered one opens,
    # once the person has said Yes to running it (tests/gui/test_session_trust.py).
    monkeypatch.chdir(elsewhere)
    asked = []
    _answer_run_code(QMessageBox.StandardButton.Yes, asked)
    second = open_window(model=None, wait_for=None)
    _opened(qtbot, second, f"{lab / 'net.py'}:net")
    assert not (elsewhere / "stranger ran").exists()
    assert len(asked) == 1 and str(lab / "net.py") in asked[0]
    assert not second.message.isVisible()
    second.close()

    # The file changed since it last ran: not run; the default model opens, and the banner says why.
    (lab / "net.py").write_text(NET.format(c=8))
    third = open_window(model=None, wait_for=None)
    _opened(qtbot, third, DEFAULT_MODEL)
    qtbot.waitUntil(third.message.isVisible, timeout=30000)
    assert third.message.text() == (
        f"Opened {DEFAULT_MODEL} instead: the last model, {lab / 'net.py'}:net, was not opened again: "
        f"net.py has changed since it last ran.")
    third.close()

    # Remembered again, then removed: the same, with the reason.
    fourth = open_window(model=f"{lab / 'net.py'}:net", wait_for=None)
    _opened(qtbot, fourth, f"{lab / 'net.py'}:net")
    fourth.close()
    (lab / "net.py").unlink()
    fifth = open_window(model=None, wait_for=None)
    _opened(qtbot, fifth, DEFAULT_MODEL)
    qtbot.waitUntil(fifth.message.isVisible, timeout=30000)
    assert fifth.message.text() == (
        f"Opened {DEFAULT_MODEL} instead: the last model, {lab / 'net.py'}:net, was not opened again: "
        f"{lab / 'net.py'} is gone or cannot be read.")
    assert not (elsewhere / "stranger ran").exists()
