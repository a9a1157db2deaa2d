"""``unitscope doctor`` with its Qt half: the plugin in use and the settings file."""

import os
import subprocess
import sys

from gui.app.doctor import report
from gui.main import main


def test_doctor_prints_engine_and_qt_in_one_report(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    labels = [line.split(":", 1)[0] for line in out.splitlines()]
    for label in ("Python", "torch", "torchvision", "device cpu", "torch hub cache", "weights", "Qt",
                  "pyqtgraph", "Qt platform plugin", "settings file"):
        assert label in labels
    assert "Qt platform plugin: offscreen" in " ".join(out.split())
    settings = next(line for line in out.splitlines() if line.startswith("settings file:"))
    assert settings.split(":", 1)[1].strip().startswith(str(tmp_path / "settings"))


def test_without_an_application_a_child_process_finds_the_plugin(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "gui", "doctor", "--probe-qt"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "offscreen"


def test_a_plugin_that_cannot_start_is_reported_not_fatal(tmp_path):
    code = "from gui.app.doctor import platform_plugin; print(platform_plugin())"
    env = {**os.environ, "QT_QPA_PLATFORM": "no-such-plugin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("none could start (")
    assert "no-such-plugin" in done.stdout


def test_report_without_probing_still_names_everything():
    text = report(probe=False)
    assert "Qt platform plugin: not checked" in " ".join(text.split())
