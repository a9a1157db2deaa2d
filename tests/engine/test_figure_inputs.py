"""``unitscope figure`` checks channel lists and its inputs before building anything: one line each."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main


@pytest.fixture
def acts(tmp_path):
    path = tmp_path / "acts.npy"
    np.save(path, np.random.default_rng(0).standard_normal((16, 5, 5)).astype(np.float32))
    return path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("channels, says", [
    ("0-100000000", "names more than 65,536 channels"),
    ("5-1", "'5-1' runs backwards; write 1-5"),
    ("", "an empty channel list"),
    ("0-15,,32", "has an empty entry between commas"),
])
def test_bad_channel_lists_are_refused_at_once(tmp_path, acts, capsys, channels, says):
    with pytest.raises(SystemExit) as exc:
        main(["figure", str(acts), "--channels", channels, "--out", str(tmp_path / "f.png")])
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_channels_beyond_the_data_and_top_0_are_refused(tmp_path, acts, capsys):
    assert main(["figure", str(acts), "--channels", "0-16", "--out", str(tmp_path / "f.png")]) == 2
    assert _one_line(capsys) == "unitscope: error: Channel(s) 16 not in this layer (16 channels: 0..15)."
    with pytest.raises(SystemExit):
        main(["figure", str(acts), "--top", "0", "--out", str(tmp_path / "f.png")])
    assert "must be at least 1" in capsys.readouterr().err
    assert main(["figure", str(acts), "--channels", "0-3", "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").stat().st_size > 0


def test_complex_values_and_garbage_csv_are_one_line(tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.ones((4, 3, 3), np.complex64))
    assert main(["figure", str(tmp_path / "c.npy"), "--out", str(tmp_path / "f.png")]) == 2
    assert "complex64 values, not real numbers" in _one_line(capsys)
    (tmp_path / "g.csv").write_bytes(b"\x00\xff,,\n\"unclosed\n" + bytes(range(256)))
    assert main(["figure", str(tmp_path / "g.csv"), "--out", str(tmp_path / "f.png")]) == 2
    assert "g.csv" in _one_line(capsys)


def test_damaged_sidecars_are_one_line(tmp_path, acts, capsys):
    assert main(["figure", str(acts), "--out", str(tmp_path / "f.png")]) == 0
    capsys.readouterr()
    side = tmp_path / "f.png.json"
    record = json.loads(side.read_text())

    def draw(**changes):
        side.write_text(json.dumps({**record, **changes}))
        return main(["figure", str(side), "--out", str(tmp_path / "again.png"), "--force"])

    assert draw(options=[1]) == 2
    assert "\"options\" must be an object" in _one_line(capsys)
    data = tmp_path / record["data"]
    np.savez(data, values=np.full((4, 3, 3), np.nan, np.float32))
    assert draw() == 2
    assert "array 'values' holds NaN or infinite values" in _one_line(capsys)
    np.savez(data, values=np.zeros((2, 2, 2, 2, 2), np.float32))
    assert draw() == 2
    assert "has shape (2, 2, 2, 2, 2); expected 1-D or 2-D or 3-D" in _one_line(capsys)


def test_unit_beyond_the_recording_is_one_line(tmp_path, capsys):
    from engine.jobs.record import Record
    from engine.session.job import JobFile
    from engine.session.results import write_result
    from engine.session.values import ModelSpec, Recording, Stimulus

    values = np.zeros((4, 3, 3), np.float32)
    snapshot = Recording("layer1", values, np.zeros((8, 8, 3), np.uint8), 0.0, Stimulus("procedural", "grating"),
                         values=values)
    write_result(tmp_path / "r.npz", JobFile(ModelSpec("resnet18"), Record("layer1", snapshot.stimulus)),
                 snapshot, {})
    assert main(["figure", str(tmp_path / "r.npz"), "--unit", "9999", "--out", str(tmp_path / "f.png")]) == 2
    assert "--unit 9999 is not in 'r.npz': its recording has 4 channels" in _one_line(capsys)
