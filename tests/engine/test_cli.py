"""The engine's command line, run as users run it, on real models and files."""

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from engine.cli import main
from engine.files.writers import read_activations
from engine.models.preprocess import Preprocess
from engine.models.sources import open_model
from engine.recording.recorder import Recorder
from engine.stimuli.images import load_image
from resources import sample_images


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "stimuli ü"
    folder.mkdir()
    for path in sample_images()[:3]:
        shutil.copy(path, folder / path.name)
    (folder / "notes.png").write_text("this is not an image")
    return folder


def test_anatomy_json_has_the_documented_fields(capsys):
    assert main(["anatomy", "resnet101", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "resnet101" and doc["weights"] == "random weights"
    assert doc["total_params"] == 44_549_160
    assert doc["input_shape"] == [1, 3, 224, 224]
    layer4 = next(m for m in doc["modules"] if m["name"] == "layer4")
    assert layer4["rf"] == [971, 971] and layer4["jump"] == [32, 32]
    assert layer4["output_shapes"] == [[1, 2048, 7, 7]]
    relu = next(m for m in doc["modules"] if m["name"] == "layer1.0.relu")
    assert relu["calls"] == 3
    keys = {"name", "type", "params", "params_total", "calls", "output_shapes", "macs", "rf", "jump", "start"}
    assert keys <= set(layer4)


def test_anatomy_table_names_random_weights(capsys):
    assert main(["anatomy", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "alexnet (random weights): 61,100,840 parameters, input 1x3x224x224"


def test_unknown_model_is_one_line_and_nonzero(capsys):
    assert main(["anatomy", "resnet1O1"]) == 2
    err = capsys.readouterr().err
    assert err == "unitscope: error: Unknown model 'resnet1O1'. Did you mean resnet101, resnet18?\n" or (
        err.startswith("unitscope: error: Unknown model 'resnet1O1'. Did you mean resnet101") and err.count("\n") == 1)


def test_record_to_h5_equals_the_recorder_and_skips_bad_files(image_dir, tmp_path, capsys):
    out = tmp_path / "acts.h5"
    code = main(["record", "resnet18", "--layer", "layer1", "--layer", "layer1.0.relu#2",
                 "--images", str(image_dir), "--out", str(out), "--workers", "0", "--batch-size", "2",
                 "--device", "cpu"])
    assert code == 0
    captured = capsys.readouterr()
    assert "notes.png" in captured.err and "1 file(s) skipped" in captured.out
    arrays = read_activations(out)
    assert arrays["layer1"].shape == (3, 64, 56, 56) and arrays["layer1"].dtype == np.float32
    # Same numbers as recording the preprocessed images directly (random init is seeded
    # differently, so rebuild the reference from the weights the command used: none are
    # saved, hence compare the second recording of a seeded model instead).
    with h5py.File(out) as f:
        attrs = f["layer1"].attrs
        assert attrs["model"] == "resnet18" and attrs["weights"] == "random weights"
        paths = [p.decode() if isinstance(p, bytes) else p for p in attrs["image_paths"]]
        assert [p.rsplit("/", 1)[-1] for p in paths] == [p.name for p in sample_images()[:3]]
        assert "ImageClassification" in attrs["preprocessing"]


def test_record_values_match_a_reference_with_given_weights(image_dir, tmp_path):
    torch.manual_seed(0)
    loaded = open_model("resnet18")
    weights = tmp_path / "w.pth"
    torch.save(loaded.module.state_dict(), weights)
    out = tmp_path / "acts.npz"
    assert main(["record", "resnet18", "--weights", str(weights), "--layer", "conv1", "--images",
                 str(image_dir), "--out", str(out), "--workers", "0", "--device", "cpu"]) == 0
    pre = Preprocess(loaded)
    batch = torch.stack([pre.image(load_image(p)) for p in sorted(image_dir.glob("*.jpg"))])
    ref = Recorder(loaded.module, "cpu", channels_last=True).record_one(["conv1"], batch).outputs["conv1"].numpy()
    np.testing.assert_array_equal(read_activations(out)["conv1"], ref)
    assert read_activations(out)["conv1"].flags.c_contiguous


def test_record_in_channels_last_equals_the_plain_pass_up_to_rounding(image_dir, tmp_path):
    torch.manual_seed(0)
    loaded = open_model("resnet18")
    weights = tmp_path / "w.pth"
    torch.save(loaded.module.state_dict(), weights)
    pre = Preprocess(loaded)
    batch = torch.stack([pre.image(load_image(p)) for p in sorted(image_dir.glob("*.jpg"))])
    plain = Recorder(loaded.module, "cpu").record_one(["layer3"], batch).outputs["layer3"].numpy()
    saved = {}
    for memory_format in ("contiguous", "channels_last"):
        out = tmp_path / f"{memory_format}.h5"
        assert main(["record", "resnet18", "--weights", str(weights), "--layer", "layer3", "--images",
                     str(image_dir), "--out", str(out), "--workers", "0", "--device", "cpu",
                     "--memory-format", memory_format]) == 0
        saved[memory_format] = read_activations(out)["layer3"]
        with h5py.File(out) as f:
            assert f.attrs["memory_format"] == memory_format
    np.testing.assert_array_equal(saved["contiguous"], plain)
    np.testing.assert_allclose(saved["channels_last"], plain, rtol=1e-4, atol=1e-4 * np.abs(plain).max())
    nhwc = Recorder(loaded.module, "cpu", channels_last=True)
    assert nhwc.channels_last and nhwc.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not Recorder(torch.nn.Linear(3, 4), "cpu", channels_last=True).channels_last  # no convolution


@pytest.mark.parametrize("suffix", [".npy", ".mat"])
def test_record_other_formats(image_dir, tmp_path, suffix):
    out = tmp_path / f"acts{suffix}"
    assert main(["record", "resnet18", "--layer", "layer2.0.bn1", "--images", str(image_dir),
                 "--out", str(out), "--workers", "0", "--device", "cpu"]) == 0
    assert read_activations(out)["layer2.0.bn1"].shape == (3, 128, 28, 28)


def test_record_errors_are_one_line(image_dir, tmp_path, capsys):
    assert main(["record", "resnet18", "--layer", "layer9", "--images", str(image_dir),
                 "--out", str(tmp_path / "a.npy")]) == 2
    assert "Unknown layer 'layer9'" in capsys.readouterr().err
    assert main(["record", "resnet18", "--layer", "conv1", "--images", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "a.npy")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["record", "resnet18", "--layer", "conv1", "--images", str(image_dir),
                 "--out", str(tmp_path / "a.txt")]) == 2
    assert ".npy" in capsys.readouterr().err
    assert not (tmp_path / "a.npy").exists()


def test_console_script_runs_without_qt():
    """`unitscope anatomy` runs in a fresh interpreter and never imports Qt."""
    code = ("import sys; from gui.main import main; rc = main(['anatomy', 'alexnet']); "
            "assert rc == 0; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'superqt', 'shiboken6')]; assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "features" in done.stdout
