"""Receptive fields: hand-derived values and the gradient-support reference."""

import pytest
import torch
import torchvision
from rf_reference import clipped, gradient_box
from torch import nn

from engine.anatomy.tree import build_anatomy

ALEXNET = {  # layer: (size, jump), derived by hand from the layer table
    "features.0": (11, 4), "features.2": (19, 8), "features.3": (51, 8), "features.5": (67, 16),
    "features.6": (99, 16), "features.8": (131, 16), "features.10": (163, 16), "features.12": (195, 32),
}
VGG16 = {
    "features.0": (3, 1), "features.2": (5, 1), "features.4": (6, 2), "features.5": (10, 2),
    "features.7": (14, 2), "features.9": (16, 4), "features.10": (24, 4), "features.12": (32, 4),
    "features.14": (40, 4), "features.16": (44, 8), "features.17": (60, 8), "features.19": (76, 8),
    "features.21": (92, 8), "features.23": (100, 16), "features.24": (132, 16), "features.26": (164, 16),
    "features.28": (196, 16), "features.30": (212, 32),
}


@pytest.mark.parametrize(("name", "expected"), [("alexnet", ALEXNET), ("vgg16", VGG16)])
def test_hand_derived_fields(name, expected):
    anatomy = build_anatomy(torchvision.models.get_model(name, weights=None))
    for layer, (size, jump) in expected.items():
        field = anatomy.node(layer).field
        assert (field.size, field.jump) == ((size, size), (jump, jump)), layer
    assert anatomy.node("classifier").field is None
    assert anatomy.node("avgpool").field.size == anatomy.node("features").field.size  # 7x7 -> 7x7 pooling


def test_resnet101_fields_are_not_clipped_to_the_image():
    anatomy = build_anatomy(torchvision.models.resnet101())
    assert anatomy.node("layer4").field.size == (971, 971)
    assert anatomy.node("layer4").field.jump == (32, 32)
    assert anatomy.node("layer3").field.size == (811, 811)
    assert anatomy.node("avgpool").field is None
    assert anatomy.node("fc").field is None
    # The Bottleneck's relu is called three times; each call has its own field.
    calls = anatomy.node("layer2.0.relu").calls
    assert [c.field.size for c in calls] == [(35, 35), (43, 43), (43, 43)]


CASES = [
    ("alexnet", {}, "features.10", 224),
    ("vgg11", {}, "features.12", 224),
    ("resnet18", {}, "layer1.1", 128),
    ("resnet18", {}, "layer3", 320),
    ("resnet50", {}, "layer2.0", 160),  # the downsampling shortcut: a 1x1 strided path
    ("densenet121", {}, "features.denseblock2", 224),
    ("densenet121", {}, "features.transition1", 160),
    ("googlenet", {"aux_logits": False, "init_weights": True}, "inception3a", 224),
    ("googlenet", {"aux_logits": False, "init_weights": True}, "inception4a.branch3", 256),
    ("mobilenet_v2", {}, "features.6", 160),
]


@pytest.mark.parametrize(("name", "kwargs", "layer", "size"), CASES)
def test_field_equals_gradient_support(name, kwargs, layer, size):
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    anatomy = build_anatomy(model, (size, size))
    field = anatomy.node(layer).field
    reference, grid, (y, x) = gradient_box(model, layer, size)
    assert clipped(field.box(y, x), size) == reference
    assert anatomy.node(layer).output_shape[-2:] == grid


def test_union_over_branches_of_different_reach():
    """A 1x1 branch and a dilated 5x5 branch concatenated: the field is the wider one."""

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.narrow = nn.Conv2d(3, 2, 1)
            self.wide = nn.Conv2d(3, 2, 5, padding=4, dilation=2)
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)

        def forward(self, x):
            return self.pool(torch.cat([self.narrow(x), self.wide(x)], dim=1))

    net = TwoBranches()
    anatomy = build_anatomy(net, (32, 32))
    assert anatomy.node("narrow").field.size == (1, 1)
    assert anatomy.node("wide").field.size == (9, 9)
    assert anatomy.node("pool").field.size == (11, 11)
    assert anatomy.node("pool").field.jump == (2, 2)
    reference, _, (y, x) = gradient_box(net, "pool", 32)
    assert clipped(anatomy.node("pool").field.box(y, x), 32) == reference
