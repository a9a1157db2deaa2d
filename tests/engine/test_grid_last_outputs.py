"""Outputs whose grid sits last, ``(N, H, W, C)`` as in Swin's stages, are recorded channels first.

A unit is (channel, y, x) on every layer: the recorder, the unit geometry, the gradient RF and
every job see ``(N, C, H, W)``; the anatomy still reports the module's own output shape.
Checked against a plain cloning forward hook and against the closed-form window of Swin's
first block (7 x 7 tokens of 4 x 4 pixels: 28 px, no shift).
"""

from __future__ import annotations

import pytest
import torch

from engine.analyses.unit_rf import gradient_rf
from engine.analyses.units import Unit, output_shape, unit_geometry
from engine.session.session import Session
from engine.session.values import ModelSpec


@pytest.fixture(scope="module")
def swin():
    return Session.open(ModelSpec("swin_t", device="cpu"))


def _hooked(module: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = module.register_forward_hook(lambda m, i, o: seen.setdefault("out", o.detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["out"]


def test_swin_stage_outputs_are_recorded_channels_first(swin):
    model = swin.loaded.module
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    recorded = swin.recorder.record_one(["features.0", "features.1.0", "features.5.3", "norm", "avgpool"], x).outputs
    for name, channels, side in (("features.0", 96, 56), ("features.1.0", 96, 56), ("features.5.3", 384, 14),
                                 ("norm", 768, 7)):
        module = dict(model.named_modules())[name]
        native = _hooked(module, model, x)
        assert native.shape == (2, side, side, channels)  # the module's own layout
        assert recorded[name].shape == (2, channels, side, side) and recorded[name].is_contiguous()
        assert torch.equal(recorded[name], native.permute(0, 3, 1, 2))
        assert swin.anatomy.node(name).calls[0].output_shape == (1, side, side, channels)
        assert swin.anatomy.node(name).as_dict()["output_shapes"] == [[1, side, side, channels]]
        assert output_shape(swin.anatomy, name) == (1, channels, side, side)
    # an NCHW output (after the model's own permute back) is left as it is
    assert torch.equal(recorded["avgpool"], _hooked(model.avgpool, model, x))
    assert output_shape(swin.anatomy, "avgpool") == (1, 768, 1, 1)


@pytest.mark.parametrize("channel, y, x", [(5, 10, 20), (90, 55, 0)])
def test_a_swin_unit_is_its_channel_at_its_grid_position(swin, channel, y, x):
    """The gradient of unit (channel, y, x) of the first block reaches exactly the pixels of its
    7 x 7-token window: rows 28 * (y // 7) .. + 27, columns likewise."""
    unit = Unit("features.1.0", channel, y, x)
    top, left = 28 * (y // 7), 28 * (x // 7)
    window = (float(top), float(left), float(top + 27), float(left + 27))
    assert unit_geometry(swin.anatomy, unit).box == window
    batch = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    for grad in gradient_rf(swin.recorder, unit, [batch]):
        pass
    assert grad.box(rel_threshold=0) == window
