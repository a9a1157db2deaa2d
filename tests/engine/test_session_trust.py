"""No model code named in a file (a job, a result, a figure sidecar, a cluster job) runs without
``--trust-code``: a factory that writes a marker file shows whether it ran."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from engine.cli import main
from engine.jobs.summaries import Summaries
from engine.session.job import JobFile
from engine.session.values import ModelSpec

EVIL = ("from pathlib import Path\n"
        "Path(__file__).with_name('MARKER').write_text('imported')\n"
        "from torch import nn\n\n\n"
        "def build():\n"
        "    Path(__file__).with_name('MARKER').write_text('built')\n"
        "    return nn.Sequential(nn.Conv2d(3, 2, 3))\n")


@pytest.fixture
def evil(tmp_path):
    path = tmp_path / "evil.py"
    path.write_text(EVIL)
    return path


def _job(spec: str) -> dict:
    return JobFile(ModelSpec(spec, device="cpu"), Summaries(("0",), protocol="gratings", k=2)).to_dict()


def _refused(capsys, evil) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(evil.resolve()) in err[0] and hashlib.sha256(evil.read_bytes()).hexdigest() in err[0]
    assert "--trust-code" in err[0]
    assert not evil.with_name("MARKER").exists()


@pytest.mark.parametrize("absolute", [True, False])
def test_run_refuses_a_job_whose_model_is_python_code_without_trust(tmp_path, evil, capsys, monkeypatch, absolute):
    monkeypatch.chdir(tmp_path)
    spec = f"{evil}:build" if absolute else "evil.py:build"
    (tmp_path / "job.json").write_text(json.dumps(_job(spec)))
    assert main(["run", "job.json", "--out", "r.json"]) == 2
    _refused(capsys, evil)
    assert not (tmp_path / "r.json").exists()


def test_run_refuses_a_result_whose_embedded_job_is_python_code(tmp_path, evil, capsys):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"job": _job(f"{evil}:build"), "kind": "summaries", "result": {}, "provenance": {}}))
    assert main(["run", str(result), "--out", str(tmp_path / "again.json")]) == 2
    _refused(capsys, evil)


def test_run_with_trust_code_runs_it(tmp_path, evil):
    (tmp_path / "job.json").write_text(json.dumps(_job(f"{evil}:build")))
    assert main(["run", str(tmp_path / "job.json"), "--out", str(tmp_path / "r.json"), "--trust-code"]) == 0
    assert evil.with_name("MARKER").read_text() == "built"


def test_submit_refuses_a_job_whose_model_is_python_code(tmp_path, evil, capsys):
    (tmp_path / "job.json").write_text(json.dumps(_job(f"{evil}:build")))
    assert main(["submit", str(tmp_path / "job.json"), "--out", str(tmp_path / "store"),
                 "--executor", "local", "--shards", "1"]) == 2
    _refused(capsys, evil)  # one line with the file's absolute path and SHA-256, like run's


def test_methods_and_figure_read_specs_as_text_only(tmp_path, evil, capsys):
    """A sidecar, result or session naming evil.py is described, never run."""
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"job": _job(f"{evil}:build"), "kind": "summaries", "result": {}, "provenance": {}}))
    session = tmp_path / "s.unitscope.json"
    session.write_text(json.dumps({"format": "unitscope-session/1", "model": {"spec": f"{evil}:build"}}))
    for source in (result, session):
        main(["methods", str(source)])
        assert not evil.with_name("MARKER").exists()
    capsys.readouterr()


def test_a_pickled_model_in_a_job_needs_trust_pickle(tmp_path, capsys):
    import torch
    from torch import nn

    pickled = tmp_path / "whole.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 2, 3)), pickled)
    (tmp_path / "job.json").write_text(json.dumps(_job(str(pickled))))
    assert main(["run", str(tmp_path / "job.json"), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and hashlib.sha256(pickled.read_bytes()).hexdigest() in err


def test_the_window_refuses_a_session_naming_code_under_screenshot_without_trust(tmp_path, evil):
    """``unitscope --session s.unitscope.json --screenshot x.png``: nobody to ask, so nothing runs."""
    session = tmp_path / "s.unitscope.json"
    session.write_text(json.dumps({"format": "unitscope-session/1", "model": {"spec": "evil.py:build"}}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "gui.main", "--session", str(session), "--screenshot",
                           str(tmp_path / "shot.png"), "--device", "cpu"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "--trust-code" in done.stderr and "Traceback" not in done.stderr
    assert not evil.with_name("MARKER").exists() and not (tmp_path / "shot.png").exists()
    # A plain start afterwards does not run it either: it was never remembered.
    done = subprocess.run([sys.executable, "-m", "gui.main", "--screenshot", str(tmp_path / "shot2.png"),
                           "--device", "cpu"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert not evil.with_name("MARKER").exists()
