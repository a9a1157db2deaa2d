"""Anatomy of real torchvision models: exact parameter counts, calls, shapes, MACs."""

import pytest
import torch
import torchvision
from torch import nn

from engine.anatomy.tree import build_anatomy, format_table
from engine.errors import UnitscopeError
from engine.models.zoo import build_architecture


def _random(name, **kwargs):
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


@pytest.mark.parametrize(
    ("name", "kwargs", "total"),
    [
        ("resnet101", {}, 44_549_160),
        ("densenet169", {}, 14_149_480),
        ("googlenet", {"aux_logits": False, "init_weights": True}, 6_624_904),
    ],
)
def test_total_parameters_match_the_published_figures(name, kwargs, total):
    anatomy = build_anatomy(_random(name, **kwargs))
    assert anatomy.total_params == total
    assert anatomy.device == "meta"
    # Own parameters over the whole tree add up to the total (no double counting).
    assert sum(node.params for node in anatomy.nodes()) == total


def test_bottleneck_relu_is_called_three_times_with_each_shape():
    anatomy = build_anatomy(_random("resnet101"))
    relu = anatomy.node("layer1.0.relu")
    assert [c.output_shape for c in relu.calls] == [(1, 64, 56, 56), (1, 64, 56, 56), (1, 256, 56, 56)]
    assert anatomy.node("layer3").output_shape == (1, 1024, 14, 14)
    assert anatomy.node("fc").output_shape == (1, 1000)
    assert len(anatomy.node("layer4").calls) == 1


def test_macs_of_convolution_and_linear_layers():
    anatomy = build_anatomy(_random("resnet101"))
    # conv1: 64 x 112 x 112 outputs, each 3 x 7 x 7 multiply-accumulates.
    assert anatomy.node("conv1").macs == 64 * 112 * 112 * 3 * 7 * 7
    assert anatomy.node("fc").macs == 2048 * 1000
    assert anatomy.node("bn1").macs == 0


def test_bytes_count_parameters_and_buffers():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    anatomy = build_anatomy(net, (16, 16))
    conv_bytes = (4 * 3 * 9 + 4) * 4
    bn_bytes = (4 + 4 + 4 + 4) * 4 + 8  # weight, bias, running mean/var (float32) + num_batches_tracked
    assert anatomy.node("0").nbytes == conv_bytes
    assert anatomy.node("1").nbytes == bn_bytes
    assert anatomy.root.nbytes == conv_bytes + bn_bytes


def test_repr_and_forward_source_for_the_anatomy_card():
    anatomy = build_anatomy(_random("resnet18"))
    block = anatomy.node("layer1.0")
    assert block.module_repr.startswith("BasicBlock(")
    assert "(conv1): Conv2d(64, 64, kernel_size=(3, 3)" in block.module_repr
    assert "def forward(self, x" in block.forward_source
    assert "identity" in block.forward_source


def test_unknown_layer_suggests_close_names():
    anatomy = build_anatomy(_random("resnet18"))
    with pytest.raises(UnitscopeError, match=r"Unknown layer 'layr1'.*layer1"):
        anatomy.node("layr1")


def test_model_that_cannot_run_still_gets_its_tree():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            raise ValueError("this model always fails")

    anatomy = build_anatomy(Broken(), (8, 8))
    assert anatomy.device == ""
    assert anatomy.total_params == 3 * 2 * 9 + 2
    assert any("this model always fails" in n for n in anatomy.notes)
    assert anatomy.node("conv").calls == []


def test_table_lists_every_module_aligned():
    anatomy = build_anatomy(_random("alexnet"))
    table = format_table(anatomy, "alexnet").splitlines()
    assert table[0].split() == ["name", "type", "output", "shape", "params", "MACs", "RF", "jump", "kind"]
    conv1 = next(line for line in table if line.strip().startswith("0 ") and "Conv2d" in line)
    # 64 x 55 x 55 outputs of 3 x 11 x 11 MACs each: 70.3 M
    assert conv1.split()[-6:] == ["1x64x55x55", "23,296", "70.3", "M", "11", "4"]
    assert len(table) == 2 + sum(1 for _ in anatomy.nodes())


def test_meta_pass_falls_back_to_cpu_for_data_dependent_models():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            y = self.conv(x)
            if y.sum().item() > 1e9:  # .item() is impossible on meta tensors
                y = y * 0
            return y

    anatomy = build_anatomy(DataDependent(), (8, 8))
    assert anatomy.device == "cpu"
    assert anatomy.node("conv").output_shape == (1, 2, 6, 6)


def test_swin_and_vit_anatomy_run_on_meta():
    vit = build_anatomy(_random("vit_b_16"))
    assert vit.total_params == sum(p.numel() for p in vit.root.module.parameters())
    assert vit.node("conv_proj").output_shape == (1, 768, 14, 14)
    assert vit.node("conv_proj").field.size == (16, 16)
    assert vit.node("encoder").rf_kind == "global"  # every token sees the whole image
    assert vit.node("encoder").field.tokens == (14, 14, 1)  # a 14 x 14 grid after the class token
    swin = build_anatomy(_random("swin_t"))
    assert swin.node("features.0.0").output_shape == (1, 96, 56, 56)
    assert swin.node("features.0.1").field.size == (4, 4)  # permuted to NHWC, still spatial
    assert torch.device("meta").type == swin.device


def test_macs_of_attention_count_its_projections_and_matmuls():
    """vit_b_16's attention: in/out projections (4 x 197 x 768 x 768) and the two matmuls
    (2 x 197 x 197 x 768), counted in the MultiheadAttention whose forward runs them."""
    anatomy = build_anatomy(build_architecture("vit_b_16", meta=True))
    attention = anatomy.node("encoder.layers.encoder_layer_0.self_attention")
    assert attention.macs_total == 4 * 197 * 768 * 768 + 2 * 197 * 197 * 768
    assert attention.calls[0].macs == attention.macs_total
    out_proj = anatomy.node("encoder.layers.encoder_layer_0.self_attention.out_proj")
    assert out_proj.calls == [] and "weights are used directly" in out_proj.hint
    assert "record 'encoder.layers.encoder_layer_0.self_attention'" in out_proj.hint
    assert anatomy.total_macs == 17_563_828_224  # torchvision: 17.564 GFLOPs


def test_each_call_has_its_own_macs_shape_and_field_in_json():
    anatomy = build_anatomy(_random("resnet18"))
    relu = anatomy.node("layer2.0.relu").as_dict()
    assert relu["calls"] == 2 and len(relu["per_call"]) == 2
    assert [c["rf"] for c in relu["per_call"]] == [[51, 51], [67, 67]]  # 43 after layer1, + 2 x 4, + 2 x 8
    assert relu["rf"] == [51, 51]  # the plain keys are the first call's
    assert [c["rf_kind"] for c in relu["per_call"]] == ["box", "box"]
    block = anatomy.node("layer2.0").as_dict()
    assert block["per_call"][0]["macs"] == block["macs_total"] == anatomy.node("layer2.0").macs_total
    assert anatomy.node("fc").as_dict()["rf_kind"] == "none"


def test_tied_weights_count_once_and_are_flagged():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 1)
            self.first = nn.Linear(8, 8, bias=False)
            self.second = nn.Linear(8, 8, bias=False)
            self.second.weight = self.first.weight
            self.unused = nn.Linear(2, 2)

        def forward(self, x):
            return self.second(self.first(self.conv(x).mean((2, 3))))

    net = Tied()
    anatomy = build_anatomy(net, (8, 8))
    assert anatomy.total_params == 32 + 64 + 6 == sum(p.numel() for p in net.parameters())
    assert anatomy.node("first").shared_with == ["second"] and anatomy.node("second").shared_with == ["first"]
    assert anatomy.node("conv").shared_with == []
    assert anatomy.total_macs == 8 * 64 * 3 + 2 * 64
    assert anatomy.node("unused").calls == [] and "not run" in anatomy.node("unused").hint
    assert "(shared)" in format_table(anatomy, "tied")


def test_a_model_and_its_anatomy_are_freed_without_a_garbage_collection():
    """The tree holds its parents weakly: no reference cycle keeps a closed model (and its
    weights, on whatever device) alive until the next full collection."""
    import gc
    import weakref

    model = build_architecture("resnet18")
    anatomy = build_anatomy(model)
    layer = anatomy.by_name["layer1.0.conv1"]
    assert layer.parent is anatomy.by_name["layer1.0"] and layer.parent.parent.parent is anatomy.root
    assert anatomy.root.parent is None
    alive = weakref.ref(model)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del model, anatomy, layer
        assert alive() is None
    finally:
        if was_enabled:
            gc.enable()
