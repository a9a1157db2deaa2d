"""What the command line does with inputs it cannot fully use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.files.writers import read_activations, read_provenance

BRANCHY = '''
import torch
from torch import nn


class Branchy(nn.Module):
    """Runs ``extra`` only for batches of light inputs: a data-dependent path."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=4)
        self.extra = nn.Conv2d(4, 4, 1)
        with torch.no_grad():  # a mean of the (normalised) pixels: positive where they are light
            self.stem.weight.fill_(1 / 27)
            self.stem.bias.zero_()

    def forward(self, x):
        x = self.stem(x)
        if x.amin() > 0:
            x = self.extra(x)
        return x.mean((2, 3))


def branchy():
    torch.manual_seed(0)
    return Branchy()
'''


@pytest.fixture(autouse=True)
def empty_hub(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))


@pytest.fixture
def grey_images(tmp_path):
    """Light and dark images: only the light ones take the model's ``extra`` branch."""
    folder = tmp_path / "greys"
    folder.mkdir()
    for name, level in [("a_light.png", 250), ("b_dark.png", 5), ("c_light.png", 240), ("d_dark.png", 10)]:
        Image.fromarray(np.full((64, 64, 3), level, np.uint8)).save(folder / name)
    return folder


def test_a_layer_missing_for_some_inputs_records_the_others(tmp_path, grey_images, capsys):
    factory = tmp_path / "branchy.py"
    factory.write_text(BRANCHY)
    out = tmp_path / "extra.npz"
    code = main(["record", f"{factory}:branchy", "--layer", "extra", "--images", str(grey_images),
                 "--out", str(out), "--device", "cpu", "--workers", "0", "--batch-size", "4",
                 "--memory-format", "contiguous"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    skipped = [line for line in captured.err.splitlines() if line.startswith("unitscope: skipped:")]
    assert skipped == [
        "unitscope: skipped: b_dark.png: Layer 'extra' (called 0 times) did not produce that call in a forward pass.",
        "unitscope: skipped: d_dark.png: Layer 'extra' (called 0 times) did not produce that call in a forward pass."]
    saved = read_activations(out)["extra"]
    provenance = read_provenance(out)
    names = [Path(p).name for p in provenance["image_paths"]]
    assert names == ["a_light.png", "c_light.png"]
    # the rows are those of the light images, as a plain hook sees them one by one
    from engine.models.sources import open_model
    from engine.session.session import Session
    from engine.session.values import ModelSpec, Stimulus

    session = Session.open(ModelSpec(f"{factory}:branchy", device="cpu"))
    model = open_model(f"{factory}:branchy").module.eval()
    for row, name in enumerate(names):
        x, _ = session.stimulus(Stimulus("image", str(grey_images / name)))
        seen = []
        handle = model.extra.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
        with torch.no_grad():
            model(x[None] if x.ndim == 3 else x)
        handle.remove()
        assert np.array_equal(saved[row], seen[0][0].numpy())


def test_no_input_producing_the_layer_is_one_line(tmp_path, grey_images, capsys):
    factory = tmp_path / "branchy.py"
    factory.write_text(BRANCHY)
    for light in grey_images.glob("*light*"):
        light.unlink()
    code = main(["record", f"{factory}:branchy", "--layer", "extra", "--images", str(grey_images),
                 "--out", str(tmp_path / "x.npz"), "--device", "cpu", "--workers", "0"])
    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "unitscope: error: No image produced extra; nothing was saved."
    assert not (tmp_path / "x.npz").exists()


def test_provenance_names_images_absolutely(tmp_path, grey_images, monkeypatch, capsys):
    monkeypatch.chdir(grey_images.parent)
    out = tmp_path / "acts.npz"
    assert main(["record", "alexnet", "--layer", "features.0", "--images", "greys", "--out", str(out),
                 "--device", "cpu", "--workers", "0"]) == 0
    paths = read_provenance(out)["image_paths"]
    assert paths == [str(grey_images / n) for n in ("a_light.png", "b_dark.png", "c_light.png", "d_dark.png")]
    job = json.loads(read_provenance(out)["job"]) if isinstance(read_provenance(out)["job"], str) \
        else read_provenance(out)["job"]
    assert all(os.path.isabs(p) for p in job["job"]["paths"])


def test_an_existing_output_is_kept_unless_forced(tmp_path, grey_images, capsys):
    out = tmp_path / "acts.npy"
    out.write_bytes(b"the user's own file")
    out.chmod(0o444)
    args = ["record", "alexnet", "--layer", "features.0", "--images", str(grey_images), "--out", str(out),
            "--device", "cpu", "--workers", "0"]
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"unitscope: error: '{out}' already exists; pass --force to replace, or choose another --out."]
    assert out.read_bytes() == b"the user's own file"
    assert main([*args, "--force"]) == 0
    assert read_activations(out)["features.0"].shape == (4, 64, 55, 55)


def test_run_refuses_a_device_that_holds_no_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tmp_path / "job.json"), "--out", str(tmp_path / "r.npz"), "--device", "meta"])
    assert exc.value.code == 2
    assert "'meta' is not a device unitscope can run on" in capsys.readouterr().err


def test_verbose_works_before_or_after_the_command_and_library_warnings_stay_quiet(tmp_path):
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "PYTHONWARNINGS": "always"}
    quiet = subprocess.run([sys.executable, "-m", "gui.main", "anatomy", "alexnet"], capture_output=True,
                           text=True, env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    for argv in (["-v", "anatomy", "alexnet"], ["anatomy", "alexnet", "--verbose"]):
        loud = subprocess.run([sys.executable, "-m", "gui.main", *argv], capture_output=True, text=True, env=env)
        assert loud.returncode == 0, loud.stderr
        assert "INFO " in loud.stderr

