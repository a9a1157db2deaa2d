"""The README's worked examples of ``unitscope predict`` run as written (the image files of the
first are made here; the second needs none: its stimuli are grating labels), and the layer
sweep's default layers are the model's main stages."""

from __future__ import annotations

import csv
import pathlib
import shlex
import textwrap

import numpy as np
from PIL import Image

from engine.cli import main

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def example(marker: str = "predict example") -> tuple[str, list[str]]:
    """The README's Python block and command line after the ``<!-- marker -->`` line."""
    text = README.read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker} -->\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    code = textwrap.dedent("\n".join(lines)).strip()
    python, command = code.rsplit("\n\n", 1)
    return python, shlex.split(command)


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    python, command = example()
    assert command[:2] == ["unitscope", "predict"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # random weights, never a cached file
    (tmp_path / "stimuli").mkdir()
    rng = np.random.default_rng(1)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "stimuli" / f"im{i:02d}.png")
    exec(compile(python, "README.md", "exec"), {})
    assert main([*command[1:], "--device", "cpu", "--workers", "0"]) == 0
    with (tmp_path / "R.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["neuron"], r["layer"]) for r in rows] == [(n, layer) for n in ("n1", "n2", "n3")
                                                         for layer in ("layer1", "layer3")]
    for name in ("r", "alpha", "best_unit", "unit_r", "ceiling", "normalised", "best_layer"):
        assert name in rows[0]
    assert sum(int(r["best_layer"]) for r in rows) == 3
    assert "saved R.csv: 3 neurons x 2 layers" in capsys.readouterr().out


def test_the_readme_gratings_example_runs_without_images(tmp_path, monkeypatch, capsys):
    from engine.session.results import read_result

    python, command = example("predict gratings example")
    assert command[:2] == ["unitscope", "predict"] and "--images" not in command
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    exec(compile(python, "README.md", "exec"), {})
    assert main([*command[1:], "--device", "cpu", "--boots", "20"]) == 0
    assert "saved G.npz: 3 neurons x 2 layers" in capsys.readouterr().out
    job, fields, _ = read_result(tmp_path / "G.npz")
    assert job.job.images == () and list(fields["finished"]) == ["layer1", "layer3"]
    np.testing.assert_array_equal(fields["orientations"], np.arange(0, 180, 15))
    responses = np.load(tmp_path / "gratings.npz")["responses"]  # (12 orientations x 2 SFs x 4 phases, 3, 3)
    f0 = responses.mean(axis=2).reshape(12, 2, 4, 3).mean(axis=2)  # orientation x SF x neuron
    for n in range(3):
        best_sf = np.unravel_index(np.argmax(f0[:, :, n]), (12, 2))[1]
        np.testing.assert_allclose(fields["tuning_mean"][n], f0[:, best_sf, n], rtol=1e-12)
        assert fields["tuning_sf"][n] == (8, 16)[best_sf]


def test_default_layers_are_the_main_stages():
    from engine.analyses.stages import main_stages
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    session = Session.open(ModelSpec("resnet18", device="cpu"))
    assert main_stages(session.anatomy) == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert main_stages(session.anatomy, limit=3) == ["relu", "layer2", "layer4"]
