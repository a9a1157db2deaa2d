"""``unitscope tuning``, ``topk`` and ``rdm`` run as users run them, on resnet18 (random weights)."""

import csv
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from engine.cli import command_names, main
from engine.files.writers import read_activations, read_provenance


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # never find cached weights


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"photo{i}.png")
    (folder / "broken.png").write_text("not an image")
    return folder


def test_the_commands_are_listed():
    assert {"tuning", "topk", "rdm"} <= command_names()


def test_tuning_csv_has_a_row_per_condition_and_a_provenance_sidecar(tmp_path, capsys):
    out = tmp_path / "tuning.csv"
    code = main(["tuning", "resnet18", "--layer", "layer1.0.conv1", "--channel", "5", "--protocol", "gratings",
                 "--param", "orientation=0:180:4", "--param", "sf=8,16", "--phases", "2",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert "saved" in capsys.readouterr().out
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    assert list(rows[0]) == ["orientation", "sf", "sf_rf", "contrast", "aperture", "f0", "f1", "max", "min", "n"]
    assert [float(r["orientation"]) for r in rows[::2]] == [0, 45, 90, 135]
    assert {float(r["sf"]) for r in rows} == {8, 16} and {r["n"] for r in rows} == {"2"}
    for r in rows:
        assert float(r["min"]) <= float(r["f0"]) <= float(r["max"])
        assert float(r["f1"]) == pytest.approx(float(r["max"]) - float(r["min"]), rel=1e-5, abs=1e-6)
    side = json.loads((tmp_path / "tuning.csv.json").read_text())
    assert side["provenance"]["model"] == "resnet18" and side["provenance"]["weights"] == "random weights"
    assert side["unit"]["y"] == 28 and side["unit"]["x"] == 28 and side["unit"]["channel"] == 5
    assert side["protocol"]["phases"] == [0, 180] and side["protocol"]["n_stimuli"] == 16
    assert side["parameters"]["param"] == ["orientation=0:180:4", "sf=8,16"]
    assert set(side["metrics"]["f0"]) == {"orientation", "sf", "sf_rf"}
    assert 0 <= side["metrics"]["f0"]["orientation"]["preferred_deg"] < 180


def test_tuning_h5_holds_columns_and_attributes(tmp_path):
    out = tmp_path / "bars.h5"
    code = main(["tuning", "resnet18", "--layer", "layer1.0.relu", "--channel", "0", "--y", "10", "--x", "20",
                 "--protocol", "bars", "--param", "orientation=0:180:3", "--device", "cpu",
                 "--out", str(out)])
    assert code == 0
    arrays = read_activations(out)
    assert arrays["orientation"].tolist() == [0, 60, 120]
    assert np.isnan(arrays["f1"]).all() and (arrays["n"] == 1).all()
    with h5py.File(out) as f:
        assert f.attrs["model"] == "resnet18" and f.attrs["command"] == "tuning"
        assert json.loads(f.attrs["unit"])["y"] == 10
    assert read_provenance(out)["protocol"]


@pytest.mark.parametrize("args, message", [
    (["--param", "orientation=0:180"], "start:stop:count"),
    (["--param", "colour=1"], "no parameter 'colour'"),
    (["--protocol", "plaids"], "Unknown protocol"),
    (["--channel", "64"], "Channel 64"),
    (["--layer", "layer9"], "Unknown layer"),
])
def test_tuning_errors_are_one_line(tmp_path, capsys, args, message):
    base = {"--layer": "layer1.0.conv1", "--channel": "0", "--protocol": "gratings"}
    argv = ["tuning", "resnet18", "--device", "cpu", "--out", str(tmp_path / "t.csv")]
    for key, value in base.items():
        if key not in args:
            argv += [key, value]
    assert main(argv + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("unitscope: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "t.csv").exists()


def test_topk_writes_ranked_csv_crops_and_sidecar(tmp_path, image_dir, capsys):
    out = tmp_path / "top"
    code = main(["topk", "resnet18", "--layer", "layer1.0.conv2", "--images", str(image_dir), "--k", "2",
                 "--channel", "3", "--channel", "7", "--out", str(out), "--workers", "0",
                 "--batch-size", "3", "--device", "cpu"])
    assert code == 0
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "1 file(s) skipped" in captured.out
    with open(out / "topk.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 2
    for channel in ("3", "7"):
        top = [float(r["activation"]) for r in rows if r["channel"] == channel and r["end"] == "top"]
        bottom = [float(r["activation"]) for r in rows if r["channel"] == channel and r["end"] == "bottom"]
        assert top == sorted(top, reverse=True) and bottom == sorted(bottom) and top[0] >= bottom[-1]
    side = json.loads((out / "topk.json").read_text())
    box = side["rf_box"]
    assert side["n_images"] == 4 and side["provenance"]["model"] == "resnet18"
    assert len(side["skipped_paths"]) == 1
    for r in rows:
        with Image.open(out / r["crop"]) as crop:
            assert crop.size == (box[3] - box[1] + 1, box[2] - box[0] + 1)


def test_rdm_npy_equals_one_minus_pearson_with_sidecar(tmp_path, image_dir):
    out = tmp_path / "rdm.npy"
    code = main(["rdm", "resnet18", "--layer", "layer1", "--images", str(image_dir), "--view", "channels",
                 "--out", str(out), "--workers", "0", "--device", "cpu"])
    assert code == 0
    rdm = np.load(out)
    assert rdm.shape == (4, 4)
    np.testing.assert_allclose(rdm, rdm.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(rdm), 0, atol=1e-6)
    meta = json.loads((tmp_path / "rdm.npy.json").read_text())
    prov = meta["provenance"]
    assert meta["layer_name"] == "layer1" and prov["view"] == "channels" and prov["n_units"] == 64
    assert [p.rsplit("/", 1)[-1] for p in prov["image_paths"]] == [f"photo{i}.png" for i in range(4)]
    assert prov["measure"] == "1 - Pearson r" and 1 <= prov["participation_ratio"] <= 4
