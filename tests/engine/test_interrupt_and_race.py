"""Ctrl-C stops ``visualize`` and ``properties`` between steps (exit 130, no partial file), even when
started in the background of a script, whose SIGINT the shell sets to be ignored; two commands
writing the same output without --force: exactly one wins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import UnitscopeError
from engine.files.atomic import TEMP_PREFIX, atomic_write_text, new_outputs_only

NET = ("from torch import nn\n\n\ndef build():\n"
       "    return nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.Conv2d(8, 16, 5))\n")


def _ignoring_sigint():  # what a non-interactive shell does to a command started with '&'
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(tmp_path, *args):
    (tmp_path / "net.py").write_text(NET)
    return subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_ignoring_sigint,
                            env={**os.environ, "TQDM_DISABLE": "1"})


def _wait_for_work(process, seconds: float) -> None:
    """Let the command import torch, open its model and start stepping."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()


@pytest.mark.parametrize("command", [
    ["visualize", "net.py:build", "--layer", "2", "--channel", "0", "--steps", "1000000", "--size", "32",
     "--device", "cpu", "--out", "v.png"],
    ["properties", "net.py:build", "--layer", "2", "--orientations", "64", "--phases", "32", "--chunk", "1",
     "--batch-size", "1", "--device", "cpu", "--out", "p.csv"],
])
def test_sigint_stops_the_command_between_steps_and_leaves_no_partial_file(tmp_path, command):
    process = _start(tmp_path, *command)
    _wait_for_work(process, 25)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # SIGINT was ignored: the failure this test is for
        process.communicate()
        pytest.fail("the command was still running 60 s after SIGINT")
    assert process.returncode == 130, err
    assert time.monotonic() - sent < 10
    assert err.strip().splitlines()[-1] == "unitscope: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]  # no output, no temporary, no .partial


def test_a_killed_properties_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    process = _start(tmp_path, "properties", "net.py:build", "--layer", "2", "--orientations", "64", "--phases",
                     "32", "--chunk", "1", "--batch-size", "1", "--device", "cpu", "--out", "p.csv")
    end = time.monotonic() + 60
    while time.monotonic() < end and not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir()):
        time.sleep(0.1)
    process.kill()
    process.communicate()
    left = [p.name for p in tmp_path.iterdir() if p.name != "net.py"]
    assert len(left) == 1 and left[0].startswith(TEMP_PREFIX)  # hidden, named for its dead process
    atomic_write_text(tmp_path / "other.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py", "other.txt"]


def test_a_file_written_by_another_process_meanwhile_is_never_replaced_without_force(tmp_path):
    out = tmp_path / "o.txt"

    def racing(tmp: Path) -> None:  # the other command finishes between our check and our rename
        tmp.write_text("mine")
        out.write_text("theirs")

    from engine.files.atomic import atomic_write

    with new_outputs_only(), pytest.raises(UnitscopeError) as exc:
        atomic_write(out, racing)
    assert str(exc.value) == (f"'{out}' already exists (another process has just written it); pass --force "
                              "to replace, or choose another --out.")
    assert out.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.txt"]
    with new_outputs_only():  # a file the command made itself may be written again
        atomic_write_text(tmp_path / "again.txt", "1")
        atomic_write_text(tmp_path / "again.txt", "2")
    assert (tmp_path / "again.txt").read_text() == "2"
    atomic_write_text(out, "forced")  # outside the block (--force): replaced
    assert out.read_text() == "forced"


def test_a_set_that_loses_the_race_for_its_second_file_leaves_nothing(tmp_path):
    from engine.files.atomic import atomic_write_all

    first, second = tmp_path / "a.csv", tmp_path / "a.csv.json"

    def write_second(tmp: Path) -> None:
        tmp.write_text("mine")
        second.write_text("theirs")

    with new_outputs_only(), pytest.raises(UnitscopeError):
        atomic_write_all({first: lambda tmp: tmp.write_text("mine"), second: write_second})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv.json"] and second.read_text() == "theirs"


def test_two_records_started_together_exactly_one_wins(tmp_path):
    import shutil

    from resources import sample_images

    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "photos").mkdir()
    shutil.copy(sample_images()[0], tmp_path / "photos")
    args = [sys.executable, "-m", "engine", "record", "net.py:build", "--layer", "0", "--device", "cpu",
            "--images", "photos", "--workers", "0", "--out", "o.npy"]
    processes = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = [(p.wait(timeout=180), p.communicate()[1]) for p in processes]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "already exist" in loser and "Traceback" not in loser
