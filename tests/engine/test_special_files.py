"""FIFOs, devices and huge files where a file is expected are refused at once, in one line
(each command runs in a subprocess with a time limit: a hang fails the test; the limit is
wider than the 10 s asked for because the shared test machine is often loaded eight-fold)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.errors import UnitscopeError
from engine.files.reading import read_json


def _unitscope(*args, cwd=None, timeout=60):
    done = subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "TQDM_DISABLE": "1"})
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


def test_read_json_refuses_a_fifo_a_device_a_folder_and_deep_nesting(tmp_path, fifo):
    with pytest.raises(UnitscopeError, match="named pipe"):
        read_json(fifo, "Job file")
    with pytest.raises(UnitscopeError, match="device"):
        read_json("/dev/zero", "Job file")
    with pytest.raises(UnitscopeError, match="folder"):
        read_json(tmp_path, "Job file")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UnitscopeError, match="nested too deeply"):
        read_json(deep, "Job file")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1000)
    with pytest.raises(UnitscopeError, match="more than"):
        read_json(big, "Job file", limit=100)


@pytest.mark.parametrize("source", ["/dev/zero", "fifo"])
def test_run_and_methods_refuse_special_files_at_once(tmp_path, fifo, source):
    source = str(fifo) if source == "fifo" else source
    for args in (["run", source, "--out", str(tmp_path / "r.json")], ["methods", source]):
        done = _unitscope(*args, timeout=60)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a file" in lines[0] and source in lines[0], lines


def test_a_job_whose_weights_are_dev_zero_is_refused_at_once(tmp_path):
    job = {"format": "unitscope-job/1", "model": {"spec": "resnet18", "weights": "/dev/zero"},
           "job": {"kind": "record", "layer": "layer1", "stimulus": {"kind": "procedural", "value": "grating"}}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    done = _unitscope("run", str(tmp_path / "job.json"), "--out", str(tmp_path / "r.json"), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("unitscope: error: Weights file '/dev/zero' could not be read: "
                                   "it is a device, not a regular file.")


def test_a_session_that_is_a_fifo_is_refused(fifo):
    from gui.window.session_file import read_session

    with pytest.raises(UnitscopeError, match="named pipe"):
        read_session(fifo)


def test_a_session_whose_jobs_are_a_list_is_one_line(tmp_path):
    from gui.window.session_file import read_session

    path = tmp_path / "s.unitscope.json"
    path.write_text(json.dumps({"format": "unitscope-session/1", "model": {"spec": "resnet18"}, "jobs": [1, 2]}))
    with pytest.raises(UnitscopeError) as exc:
        read_session(path)
    assert str(exc.value) == "Session 's.unitscope.json': jobs: expected an object, got [1, 2]"
