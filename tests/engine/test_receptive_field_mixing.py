"""Receptive fields where tokens mix, grids are reshaped, sliced or NHWC, and gates are global.

Every field is checked against the gradient support of the additive network
(:mod:`rf_reference`: norms as identities, max pooling as average, squeeze-excitation
gates detached, as the ``gated`` convention states), unit by unit, on small variants of
torchvision's architectures so that the whole file runs in seconds.
"""

from functools import lru_cache

import pytest
import torch
import torchvision
from rf_reference import clipped, gradient_box
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.maxvit import MaxVit
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer

from engine.anatomy.tree import build_anatomy
from engine.models.zoo import build_architecture


@lru_cache(maxsize=None)
def _torchvision(name, **kwargs):
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Many small passes: one torch thread is faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check(model, size, layer, units, layout="nchw", tiny=0.0):
    """The field's box of each unit, clipped to the image, is the gradient's bounding box."""
    anatomy = build_anatomy(model, (size, size))
    node = anatomy.node(layer)
    field = node.field
    assert field is not None, f"{layer}: no field ({node.rf_kind})"
    for unit in units:
        reference, _, (y, x) = gradient_box(model, layer, size, unit, layout=layout, tiny=tiny)
        assert clipped(field.box(y, x), size) == reference, (layer, unit, field.box(y, x), reference)
    return node


def test_vit_tokens_see_the_whole_image_after_the_first_attention():
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
                            mlp_dim=64).eval()
    layer = "encoder.layers.encoder_layer_0"
    node = _check(vit, 64, layer, [(0, 0), (1, 2), (3, 3)], layout=("tokens", 4, 4, 1))
    assert node.rf_kind == "global" and node.field.tokens == (4, 4, 1)  # the class token first
    assert node.field.size == (64, 64) and node.field.jump == (16, 16)
    anatomy = build_anatomy(vit, (64, 64))
    assert anatomy.node("conv_proj").rf_kind == "box" and anatomy.node("conv_proj").field.size == (16, 16)
    assert anatomy.node("heads").rf_kind == "none"  # the class token alone: no grid


def test_vit_b_16_encoder_layer_is_global_over_224_pixels():
    anatomy = build_anatomy(build_architecture("vit_b_16", meta=True))
    node = anatomy.node("encoder.layers.encoder_layer_0")
    assert node.rf_kind == "global" and node.field.size == (224, 224)
    assert node.calls[0].as_dict()["rf_kind"] == "global"


SWIN = dict(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 1], window_size=[4, 4],
            stochastic_depth_prob=0.0)


def test_swin_window_and_shifted_window_fields_depend_on_position():
    torch.manual_seed(0)
    swin = SwinTransformer(**SWIN).eval()
    # 16x16 tokens of 4 px, windows of 4x4 tokens: 16 px; shifted by 2 tokens, the
    # second block's units see two of the first block's windows (32 px) or, at the
    # border, one window's worth of their own segment.
    first = _check(swin, 64, "features.1.0", [(0, 0), (5, 6), (15, 15), (3, 12)], layout="nhwc")
    assert first.rf_kind == "window" and first.field.size == (16, 16)
    assert first.field.box(5, 6) == (16, 16, 31, 31)
    shifted = _check(swin, 64, "features.1.1", [(0, 0), (1, 1), (2, 2), (5, 9), (15, 15), (14, 1)],
                     layout="nhwc", tiny=1e-20)
    assert shifted.rf_kind == "window" and shifted.field.size == (32, 32)
    assert "largest" in shifted.field.note
    _check(swin, 64, "features.3.1", [(0, 0), (4, 5), (7, 7)], layout="nhwc", tiny=1e-20)


def test_swin_t_first_blocks_see_28_then_56_pixels():
    anatomy = build_anatomy(build_architecture("swin_t", meta=True))
    assert anatomy.node("features.0").field.size == (4, 4)
    assert anatomy.node("features.1.0").field.size == (28, 28)
    assert anatomy.node("features.1.1").field.size == (56, 56)
    assert anatomy.node("features.7.1").rf_kind == "global"  # 7x7 tokens, one 7x7 window


def test_maxvit_block_and_grid_attention():
    torch.manual_seed(0)
    maxvit = MaxVit(input_size=(64, 64), stem_channels=8, partition_size=2, block_channels=[8, 16],
                    block_layers=[1, 1], head_dim=4, stochastic_depth_prob=0.0).eval()
    base = "blocks.0.layers.0.layers."
    mb = _check(maxvit, 64, base + "MBconv", [(0, 0), (7, 8)])
    assert mb.rf_kind == "gated" and "squeeze-excitation" in mb.field.note
    window = _check(maxvit, 64, base + "window_attention", [(0, 0), (7, 8), (15, 15)])
    assert window.rf_kind == "window"
    _check(maxvit, 64, base + "grid_attention", [(0, 0), (7, 8), (15, 15)])
    _check(maxvit, 64, "blocks.1", [(0, 0), (3, 4)])


def test_convnext_nhwc_blocks():
    torch.manual_seed(0)
    net = ConvNeXt([CNBlockConfig(8, 16, 2), CNBlockConfig(16, None, 1)]).eval()
    node = _check(net, 64, "features.1.1", [(0, 0), (8, 8), (15, 15)])
    assert node.rf_kind == "box" and node.field.size == (52, 52)  # 4 + 2 * 6 * 4
    _check(net, 64, "features.3", [(0, 0), (4, 4)])


@pytest.mark.parametrize(("name", "kwargs", "size", "layer"), [
    ("googlenet", {"transform_input": True, "aux_logits": False, "init_weights": True}, 96, "conv1"),
    ("googlenet", {"transform_input": True, "aux_logits": False, "init_weights": True}, 96, "inception3a"),
    ("inception_v3", {"transform_input": True, "aux_logits": False, "init_weights": True}, 96, "Mixed_5b"),
    ("shufflenet_v2_x0_5", {}, 96, "stage2.1"),
    ("mobilenet_v3_small", {}, 96, "features.4"),
    ("efficientnet_b0", {}, 96, "features.3"),
])
def test_pretrained_style_and_gated_cnns_equal_gradient_support(name, kwargs, size, layer):
    model = _torchvision(name, **kwargs)
    node = _check(model, size, layer, [None, (0, 0)])
    gated = name.startswith(("mobilenet_v3", "efficientnet"))
    assert node.rf_kind == ("gated" if gated else "box")


def test_shufflenet_channel_shuffle_keeps_the_grid():
    anatomy = build_anatomy(build_architecture("shufflenet_v2_x1_0", meta=True))
    field = anatomy.node("stage2.0").field
    assert (field.size, field.jump) == ((15, 15), (8, 8))
    assert all(c.kind == "box" for n in anatomy.nodes() for c in n.calls if c.output_shape and len(c.output_shape) == 4
               and c.output_shape[-1] > 1)


def test_googlenet_transform_input_slices_keep_the_field():
    anatomy = build_anatomy(build_architecture("googlenet", meta=True))
    assert anatomy.root.module.transform_input
    assert anatomy.node("conv1").field.size == (7, 7)
    assert anatomy.node("inception5b").field is not None
