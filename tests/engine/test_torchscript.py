"""TorchScript models are recorded at any layer, values equal to the eager model's hooks."""

import warnings

import numpy as np
import pytest
import torch
import torchvision

from engine.analyses.unit_rf import _unit_output
from engine.cli import main
from engine.files.writers import read_activations
from engine.models.sources import open_model
from engine.recording.recorder import Recorder
from engine.recording.unit import LayerRef
from engine.session.session import Session
from engine.session.values import ModelSpec, Stimulus
from resources import sample_images

LAYERS = ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu#2", "layer2", "avgpool", "fc"]


def _eager_outputs(model, x):
    """Plain forward hooks that clone: the reference (the k-th call for ``#k``)."""
    seen: dict[str, list] = {}
    handles = []
    for name in {layer.split("#")[0] for layer in LAYERS}:
        def hook(module, args, output, name=name):
            seen.setdefault(name, []).append(output.detach().clone())
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return {layer: seen[LayerRef.parse(layer).name][LayerRef.parse(layer).call - 1] for layer in LAYERS}


@pytest.fixture(scope="module")
def eager():
    torch.manual_seed(3)
    return torchvision.models.resnet18().eval()


@pytest.fixture(scope="module", params=["trace", "script"])
def archive(request, eager, tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / f"resnet18_{request.param}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        if request.param == "trace":
            scripted = torch.jit.trace(eager, torch.zeros(1, 3, 64, 64))
        else:
            scripted = torch.jit.script(eager)
        torch.jit.save(scripted, str(path))
    return path


def test_hidden_layers_equal_eager_hooks(archive, eager):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    reference = _eager_outputs(eager, x)
    loaded = open_model(str(archive))
    assert loaded.source == "torchscript"
    batch = Recorder(loaded.module, "cpu").record_one(LAYERS, x)
    for layer in LAYERS:
        assert torch.equal(batch.outputs[layer], reference[layer]), layer
    assert batch.calls_seen["layer1.0.relu"] == 2


def test_record_command_on_a_torchscript_file(archive, eager, tmp_path, capsys):
    out = tmp_path / "acts.npz"
    image = sample_images()[0]
    code = main(["record", str(archive), "--layer", "layer1.0.bn1", "--layer", "layer3",
                 "--images", str(image), "--memory-format", "contiguous", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    saved = read_activations(out)
    session = Session.open(ModelSpec(spec="resnet18", seed=0))  # the same preprocessing
    x, _ = session.stimulus(Stimulus("image", str(image)))
    reference = _eager_outputs(eager, x[None] if x.ndim == 3 else x)
    assert np.array_equal(saved["layer1.0.bn1"], reference["layer1.0.bn1"].numpy())
    assert saved["layer3"].shape == (1, 256, 14, 14)


def test_unknown_call_and_gradients(archive, eager):
    loaded = open_model(str(archive))
    recorder = Recorder(loaded.module, "cpu")
    with pytest.raises(Exception) as exc:
        recorder.record_one(["layer1.0.relu#3"], torch.zeros(1, 3, 64, 64))
    assert "called 2 times" in str(exc.value)
    # Gradients flow through the recorded value (receptive fields, feature visualisation).
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    out = _unit_output(loaded.module, LayerRef.parse("layer1.0.conv1"), x)
    out[0, 0, 8, 8].backward()
    x_ref = x.detach().clone().requires_grad_(True)
    ref = _unit_output(eager, LayerRef.parse("layer1.0.conv1"), x_ref)
    ref[0, 0, 8, 8].backward()
    assert torch.allclose(x.grad, x_ref.grad)
    support = x.grad[0].abs().sum(0).nonzero()
    # inside the unit's theoretical field: 19 px centred on 8 * 4 (conv1 7/2, maxpool 3/2, conv 3)
    assert support.min(0).values.min() >= 32 - 9 and support.max(0).values.max() <= 32 + 9


def test_anatomy_of_a_torchscript_file_has_shapes_calls_and_total_macs(archive, eager):
    from engine.anatomy.tree import build_anatomy

    scripted = build_anatomy(open_model(str(archive)).module, (64, 64))
    reference = build_anatomy(eager, (64, 64))
    for node in reference.root.walk():
        if not node.name:
            continue
        mine = scripted.node(node.name)
        assert mine.type == node.type, node.name
        assert [c.output_shape for c in mine.calls] == [c.output_shape for c in node.calls], node.name
        assert all(c.field is None and c.kind == "unknown" for c in mine.calls)
    assert scripted.total_macs == reference.total_macs  # whole-model MACs by the same convention
    assert scripted.total_params == reference.total_params == 11_689_512
    assert scripted.notes and "no receptive fields" in scripted.notes[0]
