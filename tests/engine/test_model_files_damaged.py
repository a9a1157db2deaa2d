"""Reliability of opening models: damaged hub-cache files, factories that exit or import
helpers, bad safetensors, files that are not models, checkpoints holding numpy arrays.

Every case goes through the real entry points (``open_model``, ``engine.cli.main``) with
real files written here, and checks the one line the user sees.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.cli import main
from engine.doctor import engine_report
from engine.errors import UnitscopeError
from engine.models import zoo
from engine.models.sources import open_model

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own; returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("unitscope: error: ")
    return lines[0][len("unitscope: error: "):]


R18 = zoo.weights_file_name(zoo.default_weights_entry("resnet18"))  # resnet18-f37072fd.pth


def _damaged_files(hub):
    """The broken cache files of the issue, each under resnet18's torchvision name."""
    torch.manual_seed(0)
    full = hub.parent / "full.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), full)
    data = full.read_bytes()
    alexnet = hub.parent / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), alexnet)
    return {"truncated": data[: len(data) // 2], "another model's weights": alexnet.read_bytes()}


def test_a_damaged_cached_file_fails_in_one_line_and_is_reported_damaged(hub, capsys):
    path = hub / R18
    for case, data in _damaged_files(hub).items():
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        reason = (f"its sha256 begins {sha[:8]} but its name needs f37072fd "
                  f"(a truncated copy or another file under this name)")
        with pytest.raises(UnitscopeError) as exc:
            open_model("resnet18")
        expected = (f"The pretrained weights file '{path}' for resnet18 is damaged: {reason}. "
                    f"Remove it, or replace it with a good copy: unitscope weights import FILE.")
        assert str(exc.value) == expected, case
        code, out, err = cli(capsys, "anatomy", "resnet18")
        assert (code, out) == (2, "")
        assert one_error_line(err) == expected

        code, out, _ = cli(capsys, "weights", "list")
        assert code == 0
        lines = out.splitlines()
        assert f"  {R18}: damaged, {reason}" in lines, case
        code, out, _ = cli(capsys, "weights", "list", "--json")
        assert json.loads(out)["damaged"] == [{"file_name": R18, "reason": reason}]
        rows = engine_report()
        assert [v for k, v in rows if k == "damaged weights"] == [
            f"{R18}: damaged, {reason}; remove it or re-import a good copy with unitscope weights import FILE"]
    # A sound file is not called damaged, and the model opens with it.
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), hub / "good.pth")
    sha = hashlib.sha256((hub / "good.pth").read_bytes()).hexdigest()
    path.unlink()
    good = hub / f"resnet18-{sha[:8]}.pth"
    os.replace(hub / "good.pth", good)
    assert [v for k, v in engine_report() if k == "damaged weights"] == []


UNREADABLE_CHECK = """
import contextlib, io, json, sys
from engine.cli import main
from engine.doctor import engine_report
from engine.errors import UnitscopeError
from engine.models.sources import open_model
found = {}
if sys.argv[1] == "file":
    try:
        open_model("resnet18")
    except UnitscopeError as exc:
        found["open"] = str(exc)
else:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        found["code"] = main(["weights", "list"])
    found["list"] = out.getvalue()
    found["doctor"] = [v for k, v in engine_report() if k == "damaged weights"]
print(json.dumps(found))
"""


def _as_another_user(check: str, torch_home: Path) -> dict:
    """Run UNREADABLE_CHECK where 000 files cannot be read: root reads anything, so as root
    the child runs without the capabilities that let it (util-linux's ``setpriv``)."""
    no_override = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                   "--inh-caps", "-dac_override,-dac_read_search"] if AS_ROOT else []
    done = subprocess.run([*no_override, sys.executable, "-c", UNREADABLE_CHECK, check], capture_output=True,
                          text=True, env={**os.environ, "TORCH_HOME": str(torch_home)},
                          cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_unreadable_cached_file_and_folder():
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    hub = base / "torch" / "hub" / "checkpoints"
    path = hub / R18
    try:
        hub.mkdir(parents=True)
        for folder in (base, base / "torch", base / "torch" / "hub", hub):
            folder.chmod(0o755)
        path.write_bytes(b"x" * 10)
        path.chmod(0)
        found = _as_another_user("file", base / "torch")
        assert "could not be read (Permission denied)" in found["open"] and R18 in found["open"]
        hub.chmod(0)
        found = _as_another_user("folder", base / "torch")
        assert found["code"] == 0
        assert f"Warning: the torch hub cache {hub} could not be read (Permission denied)" in found["list"]
        assert found["doctor"] == [f"the torch hub cache {hub} could not be read (Permission denied)"]
    finally:
        hub.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


FACTORIES = {
    "exits.py": "import sys\n\ndef build():\n    sys.exit(3)\n",
    "parses.py": textwrap.dedent("""\
        import argparse

        def build():
            parser = argparse.ArgumentParser()
            parser.add_argument("--depth", type=int, required=True)
            args = parser.parse_args()
            raise AssertionError("not reached")
        """),
    "exits_on_import.py": "import sys\nsys.exit('no GPU here')\n\ndef build():\n    pass\n",
}
FACTORY_ERRORS = {
    "exits.py": "'exits.py:build' called sys.exit(3) while building the model.",
    "parses.py": ("'parses.py:build' tried to parse command-line arguments while building the model "
                  "(the following arguments are required: --depth); a factory must build the model "
                  "without them."),
    "exits_on_import.py": "'exits_on_import.py:build' called sys.exit('no GPU here') while building the model.",
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_factory_that_exits_gives_one_line(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_text(FACTORIES[name])
    with pytest.raises(UnitscopeError) as exc:
        open_model(f"{path}:build")
    assert str(exc.value) == FACTORY_ERRORS[name]
    code, out, err = cli(capsys, "anatomy", f"{path}:build")
    assert (code, out) == (2, "")
    assert one_error_line(err) == FACTORY_ERRORS[name]
    assert "usage:" not in err


def test_a_factory_imports_a_helper_next_to_it(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "unitscope_test_blocks.py").write_text(textwrap.dedent("""\
        from torch import nn

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())
        """))
    (folder / "net.py").write_text(textwrap.dedent("""\
        from torch import nn
        from unitscope_test_blocks import block

        def build():
            print("building the net")  # goes to the log, not into the command's output
            return nn.Sequential(block(3, 8), block(8, 4))
        """))
    monkeypatch.chdir(tmp_path)  # not the factory's folder
    path_before = list(sys.path)
    model = open_model("lab/net.py:build", seed=5)
    assert sys.path == path_before and "unitscope_test_blocks" not in sys.modules
    torch.manual_seed(5)
    direct = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.Conv2d(8, 4, 3, padding=1), torch.nn.ReLU()))
    own, ref = model.module.state_dict(), direct.state_dict()
    assert list(own) == list(ref) == ["0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias"]
    for key in ref:
        assert torch.equal(own[key], ref[key]), key
    code, out, err = cli(capsys, "anatomy", "lab/net.py:build")
    assert code == 0 and err == "" and "building the net" not in out


def _safetensors(tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    torch.manual_seed(0)
    save_file(torchvision.models.resnet18(weights=None).state_dict(), str(good))
    data = good.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    pickled = tmp_path / "pickled.safetensors"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), pickled)
    return good, cut, pickled


def test_bad_safetensors_files_name_the_file_and_the_fault(tmp_path, capsys):
    from engine.models.model_files import file_kind

    good, cut, pickled = _safetensors(tmp_path)
    assert file_kind(good) == "safetensors" and file_kind(pickled) == "torch-zip"
    cases = {
        cut: ("Weights file 'cut.safetensors' could not be read (a damaged safetensors file): "
              "Error while deserializing header: incomplete metadata, file not fully covered"),
        pickled: ("Weights file 'pickled.safetensors' is named .safetensors but is a PyTorch file "
                  "(torch.save), not a safetensors file; rename it to .pth to load it as one."),
    }
    for path, message in cases.items():
        with pytest.raises(UnitscopeError) as exc:
            open_model("resnet18", path)
        assert str(exc.value) == message
        code, out, err = cli(capsys, "anatomy", "resnet18", "--weights", path)
        assert (code, out) == (2, "") and one_error_line(err) == message
    assert open_model("resnet18", good).weights_label == "good.safetensors"


def _not_models(tmp_path):
    files = {}
    for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"), ("GIF", ".gif")):
        path = tmp_path / f"photo{suffix}"
        Image.new("RGB", (16, 16), (200, 10, 10)).save(path, fmt)
        files[path] = f"a {fmt} image"
    notes = tmp_path / "notes.txt"
    notes.write_text("layer3 looks interesting\n")
    files[notes] = "a text file"
    renamed = tmp_path / "photo.pth"  # a JPEG under a weights name
    renamed.write_bytes((tmp_path / "photo.jpg").read_bytes())
    files[renamed] = "a JPEG image"
    return files


def test_files_that_are_not_models_are_called_what_they_are(tmp_path, capsys):
    for path, what in _not_models(tmp_path).items():
        message = f"'{path.name}' is {what}, not a model or weights file."
        for args in ((str(path),), ("resnet18", "--weights", str(path)), (str(path), "--trust-pickle")):
            code, out, err = cli(capsys, "anatomy", *args)
            assert (code, out) == (2, "")
            assert one_error_line(err) == message, args
            assert "pickle" not in err and "run code" not in err
    script = tmp_path / "net.py"
    script.write_text("def build():\n    pass\n")
    with pytest.raises(UnitscopeError) as exc:
        open_model(str(script))
    assert str(exc.value) == ("'net.py' is a Python source file, not a model or weights file "
                              "(open it as net.py:FACTORY with its factory's name).")


def test_a_checkpoint_with_numpy_values_loads_its_state_dict(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": reference.state_dict(), "mean": np.array([0.485, 0.456, 0.406]),
                "best_acc": np.float64(0.71), "epoch": 30}, path)
    model = open_model("resnet18", path)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.module.state_dict()[key], value), key
    assert model.notes == [("checkpoint.pth: loaded its state_dict; ignored what else it holds "
                            "(best_acc: float64 (), epoch: int, mean: ndarray (3,))")]


def test_a_checkpoint_that_would_run_code_names_what_is_in_it(tmp_path, capsys):
    path = tmp_path / "odd.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "when": datetime.date(2024, 1, 2)}, path)
    code, out, err = cli(capsys, "anatomy", "resnet18", "--weights", path)
    assert (code, out) == (2, "")
    assert one_error_line(err) == ("Weights file 'odd.pth' holds more than tensors (datetime.date) "
                                   "(it would run code when loaded), so it was not loaded.")
