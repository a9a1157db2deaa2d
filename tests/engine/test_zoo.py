"""The model zoo and model files: families, offline weights, user files."""

import pickle
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from engine.anatomy.tree import build_anatomy
from engine.errors import UnitscopeError
from engine.models import zoo
from engine.models.model_files import read_state_dict
from engine.models.sources import open_model


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_every_torchvision_classification_model_is_listed_in_a_family():
    names = torchvision.models.list_models(module=torchvision.models)
    assert sorted(zoo.model_names()) == sorted(names)
    grouped = zoo.families()
    assert "resnet101" in grouped["ResNet"]
    assert "densenet169" in grouped["DenseNet"]
    assert {"googlenet", "inception_v3"} <= set(grouped["GoogLeNet / Inception"])
    assert "vit_b_16" in grouped["ViT"] and "swin_t" in grouped["Swin"]
    assert "Other" not in grouped


def test_without_a_cached_file_the_model_has_random_weights(hub):
    state = zoo.weights_state("resnet18")
    assert not state.found and state.file_name == "resnet18-f37072fd.pth"
    model = open_model("resnet18")
    assert model.has_random_weights
    assert model.display_name == "resnet18 (random weights)"


def test_cached_weights_file_is_loaded_without_network(hub):
    torch.manual_seed(5)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), hub / "resnet18-f37072fd.pth")
    state = zoo.weights_state("resnet18")
    assert state.found and state.path == hub / "resnet18-f37072fd.pth"
    model = open_model("resnet18")
    assert model.weights_label == "ResNet18_Weights.IMAGENET1K_V1"
    assert torch.equal(model.module.conv1.weight, reference.conv1.weight)


def test_googlenet_random_weights_has_no_aux_heads(hub):
    model = open_model("googlenet")
    assert sum(p.numel() for p in model.module.parameters()) == 6_624_904


def test_anatomy_does_not_change_when_the_weights_file_arrives(hub):
    """Random weights build what the pretrained file builds: GoogLeNet with transform_input
    and without auxiliary heads (the file holds them; torchvision drops them after loading)."""
    random = open_model("googlenet")
    assert random.module.transform_input and random.module.aux1 is None
    before = build_anatomy(random.module, random.input_size)
    torch.manual_seed(2)
    checkpoint = torchvision.models.GoogLeNet(aux_logits=True, transform_input=True, init_weights=False)
    torch.save(checkpoint.state_dict(), hub / zoo.weights_state("googlenet").file_name)
    pretrained = open_model("googlenet")
    assert pretrained.weights_label == "GoogLeNet_Weights.IMAGENET1K_V1"
    after = build_anatomy(pretrained.module, pretrained.input_size)
    assert (after.total_params, after.total_macs) == (before.total_params, before.total_macs) == (6_624_904,
                                                                                                   1_498_376_192)
    assert [n.as_dict() for n in after.nodes()] == [n.as_dict() for n in before.nodes()]


def test_unknown_model_suggests_names():
    with pytest.raises(UnitscopeError, match="Unknown model 'resnet_18'. Did you mean resnet18"):
        open_model("resnet_18")


def test_weights_file_for_another_architecture_names_the_keys(tmp_path, hub):
    path = tmp_path / "alex.pth"
    torch.save(torchvision.models.alexnet().state_dict(), path)
    with pytest.raises(UnitscopeError, match=r"'alex.pth' do not fit this model \(missing keys: bn1.bias"):
        open_model("resnet18", weights=path)


def test_state_dict_with_extra_keys_and_wrapped_checkpoint(tmp_path, hub):
    net = torchvision.models.resnet18()
    state = {"module." + k: v for k, v in net.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    model = open_model("resnet18", weights=path)  # wrapper and DataParallel prefix removed
    assert torch.equal(model.module.fc.weight, net.fc.weight)
    assert model.weights_label == "ckpt.pth"
    extra = dict(net.state_dict(), **{"head.weight": torch.zeros(1)})
    torch.save(extra, path)
    with pytest.raises(UnitscopeError, match="unexpected keys: head.weight"):
        open_model("resnet18", weights=path)


def test_truncated_weights_file(tmp_path, hub):
    path = tmp_path / "cut.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UnitscopeError, match="'cut.pth' could not be read"):
        read_state_dict(path)


class _Evil:
    def __reduce__(self):
        return (print, ("this ran code",))


def test_weights_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"weight": _Evil()}, fh)
    with pytest.raises(UnitscopeError, match="'evil.pth' holds more than tensors"):
        read_state_dict(path)
    assert "this ran code" not in capsys.readouterr().out


def test_safetensors_weights(tmp_path, hub):
    from safetensors.torch import save_file

    net = torchvision.models.resnet18()
    path = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(path))
    model = open_model("resnet18", weights=path)
    assert torch.equal(model.module.layer4[1].conv2.weight, net.layer4[1].conv2.weight)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_python_factory_and_trusted_pickle(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    ts = tmp_path / "net.pt"
    torch.jit.script(net).save(str(ts))
    assert open_model(str(ts)).source == "torchscript"

    bad_ts = tmp_path / "broken.ts"
    bad_ts.write_bytes(b"not an archive")
    with pytest.raises(UnitscopeError, match="could not be loaded"):
        open_model(str(bad_ts))

    py = tmp_path / "my net.py"
    py.write_text(textwrap.dedent("""
        from torch import nn
        def build():
            return nn.Sequential(nn.Conv2d(3, 5, 3))
    """))
    model = open_model(f"{py}:build")
    assert model.source == "python" and model.module[0].out_channels == 5
    with pytest.raises(UnitscopeError, match="has no factory 'make'"):
        open_model(f"{py}:make")

    weights_only = tmp_path / "weights.pth"
    torch.save(net.state_dict(), weights_only)
    with pytest.raises(UnitscopeError, match="holds weights only"):
        open_model(str(weights_only))

    pickled = tmp_path / "whole.pkl"
    torch.save(net, pickled)
    with pytest.raises(UnitscopeError, match="--trust-pickle"):
        open_model(str(pickled))
    assert open_model(str(pickled), trust_pickle=True).source == "pickle"
