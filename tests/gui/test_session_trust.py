"""A session or the remembered model that names code runs it only after the person's Yes to a
question showing the file's absolute path and SHA-256 (answered here on the real dialog)."""

from __future__ import annotations

import hashlib
import json

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from gui.dialogs.code_trust import QUESTION_NAME
from gui.window.window_settings import DEFAULT_MODEL

EVIL = ("from pathlib import Path\n"
        "Path(__file__).with_name('MARKER').write_text('imported')\n"
        "from torch import nn\n\n\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")


def _answer(button, seen: list) -> None:
    """Answer the next run-code question with ``button``; record its text in ``seen``."""
    def poll():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == QUESTION_NAME:
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, poll)
    QTimer.singleShot(20, poll)


def _session(tmp_path, spec: str):
    path = tmp_path / "s.unitscope.json"
    path.write_text(json.dumps({"format": "unitscope-session/1", "model": {"spec": spec, "device": "cpu"},
                                "layer": "0"}))
    return path


def test_a_session_naming_code_asks_and_no_runs_nothing(open_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.py"
    evil.write_text(EVIL)
    seen: list[str] = []
    _answer(QMessageBox.StandardButton.No, seen)
    window = open_window(wait_for="layer1", session=str(_session(tmp_path, "evil.py:build")))
    assert len(seen) == 1
    assert str(evil.resolve()) in seen[0] and hashlib.sha256(evil.read_bytes()).hexdigest() in seen[0]
    assert not (tmp_path / "MARKER").exists()
    assert window.info.spec == "resnet18"  # what the command line asked for opened instead
    assert "evil.py" in window.message.text()
    window.close()
    assert QSettings().value("last/model") == "resnet18"  # the declined model is not remembered


def test_a_session_naming_code_runs_after_yes_and_the_remembered_model_asks_again(open_window, qtbot, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.py"
    evil.write_text(EVIL)
    seen: list[str] = []
    _answer(QMessageBox.StandardButton.Yes, seen)
    window = open_window(wait_for="0", session=str(_session(tmp_path, f"{evil}:build")))
    assert len(seen) == 1 and (tmp_path / "MARKER").read_text() == "imported"
    assert window.info.spec == f"{evil}:build"
    window.close()
    assert QSettings().value("last/model") == f"{evil}:build"  # remembered: the person agreed

    # A plain start: the remembered model asks again; No opens the default model and runs nothing.
    (tmp_path / "MARKER").unlink()
    _answer(QMessageBox.StandardButton.No, seen)
    again = open_window(model=None, wait_for=None)
    qtbot.waitUntil(lambda: again.info is not None, timeout=60000)
    assert len(seen) == 2 and str(evil) in seen[1]
    assert again.info.spec == DEFAULT_MODEL and not (tmp_path / "MARKER").exists()
    again.close()


def test_trust_code_on_the_command_line_opens_it_unasked(open_window, qtbot, tmp_path):
    evil = tmp_path / "evil.py"
    evil.write_text(EVIL)
    window = open_window(wait_for="0", session=str(_session(tmp_path, f"{evil}:build")), trust_code=True)
    assert window.info.spec == f"{evil}:build" and (tmp_path / "MARKER").exists()


def test_a_session_whose_jobs_are_not_jobs_is_one_message(open_window, qtbot, tmp_path):
    path = tmp_path / "jobs.unitscope.json"
    path.write_text(json.dumps({"format": "unitscope-session/1", "model": {"spec": "resnet18"}, "jobs": [1, 2]}))
    window = open_window(session=str(path))
    assert "jobs.unitscope.json" in window.message.text() and "jobs" in window.message.text()


def _evil_store(tmp_path):
    """A finished one-shard cluster job whose model is evil.py:build (the marker it left is removed)."""
    from engine.cluster.plan import prepare
    from engine.cluster.shard import run_shard
    from engine.jobs.summaries import Summaries
    from engine.session.job import JobFile
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    evil = tmp_path / "evil.py"
    evil.write_text(EVIL)
    job_file = JobFile(ModelSpec(f"{evil}:build", device="cpu"),
                       Summaries(("0",), protocol="gratings", phases=1, k=2, batch_size=8))
    prepare(tmp_path / "job", job_file, 1, Session.open(job_file.model))
    run_shard(tmp_path / "job", 0)
    (tmp_path / "MARKER").unlink()
    return evil, tmp_path / "job"


def test_cluster_results_of_a_model_that_runs_code_ask_first(open_window, qtbot, tmp_path):
    """File ▸ Open cluster results… on a store whose model is evil.py: its views would open that
    model, so the window asks; No opens nothing and runs nothing."""
    from gui.window import file_menu

    evil, store = _evil_store(tmp_path)
    window = open_window()
    seen: list[str] = []
    _answer(QMessageBox.StandardButton.No, seen)
    assert file_menu.open_cluster_results(window, str(store)) is None
    assert len(seen) == 1 and str(evil) in seen[0]
    assert not (tmp_path / "MARKER").exists() and "you chose not to run it" in window.message.text()


def test_a_session_replaying_cluster_results_of_code_asks_first(open_window, qtbot, tmp_path, resnet18_weights):
    evil, store = _evil_store(tmp_path)
    path = tmp_path / "s.unitscope.json"
    path.write_text(json.dumps({
        "format": "unitscope-session/1", "model": {"spec": "resnet18", "weights": str(resnet18_weights)},
        "layer": "layer1",
        "jobs": {"topk": {"kind": "cluster_topk", "layer": "0", "channel": 0, "job_dir": str(store)}}}))
    seen: list[str] = []
    _answer(QMessageBox.StandardButton.No, seen)
    window = open_window(session=str(path))  # the command line's resnet18 opens instead
    assert len(seen) == 1 and str(evil) in seen[0] and "topk results" in seen[0]
    qtbot.wait(500)
    assert not (tmp_path / "MARKER").exists() and window.state.replay == []
