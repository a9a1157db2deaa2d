"""``timm:MODEL``: timm's models opened offline, with exact parameters, MACs and fields.

Parameters are compared with the model's own count, MACs with
:class:`torch.utils.flop_counter.FlopCounterMode` (halved) on the same model's forward
pass, and no layer may report an unknown field.
"""

import copy

import pytest
import timm  # the optional "timm" extra; the test extra installs it
import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from engine.anatomy.tree import build_anatomy
from engine.errors import UnitscopeError
from engine.models.sources import open_model


@pytest.mark.parametrize(("name", "kind", "layer"), [
    ("resnet18", "box", "layer2"),  # ResNet (torchvision's numbers too: 1.814 GMACs)
    ("convnext_atto", "box", "stages.1"),  # ConvNeXt: NHWC blocks
    ("vit_tiny_patch16_224", "global", "blocks.0"),  # ViT/DeiT: attention by F.scaled_dot_product_attention
    ("efficientnet_b0", "gated", "blocks.2"),  # squeeze-excitation
    ("swin_tiny_patch4_window7_224", "window", "layers.0.blocks.1"),  # window partition by reshapes
])
def test_timm_model_counts_and_fields_are_exact(name, kind, layer):
    loaded = open_model(f"timm:{name}")
    assert loaded.has_random_weights and loaded.source == "timm" and loaded.seed == 0
    model = loaded.module
    anatomy = build_anatomy(model, loaded.input_size)
    assert anatomy.device == "meta"
    assert anatomy.total_params == sum(p.numel() for p in model.parameters())
    reference = FlopCounterMode(display=False)
    meta_model = copy.deepcopy(model).to("meta")
    with reference, torch.inference_mode():
        meta_model(torch.zeros(1, 3, *loaded.input_size, device="meta"))
    assert anatomy.total_macs == reference.get_total_flops() // 2
    assert anatomy.node(layer).rf_kind == kind
    assert [n.name for n in anatomy.nodes() for c in n.calls if c.kind == "unknown"] == []
    if name.startswith("swin"):  # as torchvision's swin_t: 28 px windows, 56 px shifted, global at the end
        assert anatomy.node("layers.0.blocks.0").field.size == (28, 28)
        assert anatomy.node("layers.0.blocks.1").field.size == (56, 56)
        assert anatomy.node("layers.3").rf_kind == "global"


def test_timm_weights_come_from_the_hugging_face_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    torch.manual_seed(3)
    reference = timm.create_model("resnet18", pretrained=False)
    repo = tmp_path / "models--timm--resnet18.a1_in1k"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    save_file(reference.state_dict(), str(repo / "snapshots" / "abc123" / "model.safetensors"))
    loaded = open_model("timm:resnet18")
    assert loaded.weights_label == "timm timm/resnet18.a1_in1k"
    assert torch.equal(loaded.module.conv1.weight, reference.conv1.weight)
    assert loaded.seed is None


def test_timm_without_cached_weights_is_random_and_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    loaded = open_model("timm:resnet18", seed=1)
    assert loaded.has_random_weights and loaded.seed == 1
    assert loaded.weights_entry.transforms().crop_size == [224]


def test_unknown_timm_model_is_one_line_with_suggestions():
    with pytest.raises(UnitscopeError, match=r"Unknown timm model 'resnet1B'. Did you mean .*resnet18"):
        open_model("timm:resnet1B")
