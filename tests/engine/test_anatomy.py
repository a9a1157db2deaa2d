"""Anatomy of real torchvision models: exact parameter counts, calls, shapes, MACs."""

import pytest
import torch
import torchvision
from torch import nn

from engine.anatomy.tree import build_anatomy, format_table
from engine.errors import UnitscopeError


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
    assert table[0].split() == ["name", "type", "output", "shape", "params", "RF", "jump"]
    conv1 = next(line for line in table if line.strip().startswith("0 ") and "Conv2d" in line)
    assert conv1.split()[-4:] == ["1x64x55x55", "23,296", "11", "4"]
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
    assert vit.node("encoder").field is None  # tokens are no longer a spatial grid
    swin = build_anatomy(_random("swin_t"))
    assert swin.node("features.0.0").output_shape == (1, 96, 56, 56)
    assert swin.node("features.0.1").field.size == (4, 4)  # permuted to NHWC, still spatial
    assert torch.device("meta").type == swin.device
