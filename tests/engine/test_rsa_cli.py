"""``unitscope rsa``: two layers of resnet18 (random weights) over the bundled images,
checked against engine.analyses.population.compare_stream recomputed here."""

import json

import pytest
import torch
import torchvision

from engine.analyses.population import PopulationSource, compare_stream
from engine.cli import command_names, main
from engine.models.preprocess import Preprocess
from engine.models.sources import open_model
from engine.recording.recorder import Recorder
from engine.stimuli.protocols import ImageFolder
from resources import sample_images


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "resnet18_rsa.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def expected(weights, layer_a, layer_b):
    model = open_model("resnet18", str(weights))
    recorder, preprocess = Recorder(model.module, "cpu"), Preprocess(model)
    result = None
    for result in compare_stream(PopulationSource(recorder, layer_a, preprocess),
                                 PopulationSource(recorder, layer_b, preprocess),
                                 ImageFolder([str(p) for p in sample_images()], workers=0)):
        pass
    return result


def run(tmp_path, weights, a, b, capsys):
    out = tmp_path / "rsa.json"
    images = [str(p) for p in sample_images()]
    assert main(["rsa", "resnet18", "--weights", str(weights), "--layer", a, "--layer", b,
                 "--images", *images, "--out", str(out), "--device", "cpu", "--workers", "0"]) == 0
    assert "RSA =" in capsys.readouterr().out
    return json.loads(out.read_text())


def test_layer2_vs_layer3_matches_compare_stream(tmp_path, weights, capsys):
    assert "rsa" in command_names()
    doc = run(tmp_path, weights, "layer2", "layer3", capsys)
    ref = expected(weights, "layer2", "layer3")
    assert doc["rsa"] == pytest.approx(ref.rsa(), abs=1e-9)
    assert doc["cka"] == pytest.approx(ref.cka(), abs=1e-9)
    assert doc["layers"] == ["layer2", "layer3"] and doc["n_stimuli"] == len(sample_images())
    prov = doc["provenance"]
    assert prov["command"] == "rsa" and prov["model"] == "resnet18" and prov["weights_sha256"]
    assert [p.rsplit("/", 1)[-1] for p in prov["image_paths"]] == [p.name for p in sample_images()]


def test_a_layer_with_itself_gives_one(tmp_path, weights, capsys):
    doc = run(tmp_path, weights, "layer3", "layer3", capsys)
    assert doc["rsa"] == pytest.approx(1.0) and doc["cka"] == pytest.approx(1.0)


def test_bad_arguments_are_one_line_errors(tmp_path, weights, capsys):
    images = [str(p) for p in sample_images()]
    assert main(["rsa", "resnet18", "--layer", "layer2", "--images", *images,
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "exactly twice" in capsys.readouterr().err
    assert main(["rsa", "resnet18", "--layer", "layer2", "--layer", "layerX", "--images", *images,
                 "--out", str(tmp_path / "x.json"), "--device", "cpu"]) == 2
    assert "Unknown layer 'layerX'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
