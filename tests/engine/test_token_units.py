"""A transformer's token layer has units: D channels over its patch grid, the same grid the
feature-map panel shows, so the unit clicked in a token mosaic is the unit every analysis measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from planted_units import one_thread, session_for  # noqa: F401
from torchvision.models.vision_transformer import VisionTransformer

from engine.analyses.units import as_maps, channel_responses, output_shape, unit_geometry, unit_response
from engine.errors import UnitscopeError
from engine.jobs.topk import TopImages
from engine.jobs.tuning import Tuning
from engine.recording.mosaic import to_channels
from engine.recording.unit import Unit, maps_shape, token_grid
from engine.stimuli.images import load_image

LAYER = "encoder.layers.encoder_layer_0"
SIZE, PATCH, DIM = 32, 8, 12  # a 4 x 4 patch grid and a class token: 17 tokens of 12 channels


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    net = VisionTransformer(image_size=SIZE, patch_size=PATCH, num_layers=1, num_heads=2, hidden_dim=DIM,
                            mlp_dim=24, num_classes=5)
    return session_for(net, SIZE)


def hooked_tokens(session, images: torch.Tensor) -> torch.Tensor:
    """The layer's (N, T, D) output, taken by a plain forward hook that clones."""
    kept = []
    module = dict(session.loaded.module.named_modules())[LAYER]
    handle = module.register_forward_hook(lambda _m, _i, out: kept.append(out.detach().clone()))
    try:
        with torch.no_grad():
            session.loaded.module(images)
    finally:
        handle.remove()
    return kept[0]


@pytest.mark.parametrize("tokens, grid", [(196, (0, (14, 14))), (197, (1, (14, 14))), (50, (1, (7, 7))),
                                          (49, (0, (7, 7))), (10, (1, (3, 3))), (7, (0, (1, 7)))])
def test_the_token_grid_rule(tokens, grid):
    assert token_grid(tokens) == grid
    assert maps_shape((2, tokens, 5)) == (2, 5, *grid[1])
    assert maps_shape((2, 5, 3, 3)) == (2, 5, 3, 3) and maps_shape((2, 5)) == (2, 5)


def test_a_token_unit_is_its_token_and_channel_and_the_mosaics_pixel(vit):
    images = torch.randn(3, 3, SIZE, SIZE)
    tokens = hooked_tokens(vit, images)
    assert tokens.shape == (3, 17, DIM)
    assert output_shape(vit.anatomy, LAYER) == (1, DIM, 4, 4)  # the class token left out
    for channel, y, x in ((0, 0, 0), (5, 2, 3), (11, 3, 1)):
        token = 1 + y * 4 + x  # the class token first, then the patches row by row
        expected = tokens[:, token, channel]
        torch.testing.assert_close(unit_response(tokens, Unit(LAYER, channel, y, x)), expected, rtol=0, atol=0)
        torch.testing.assert_close(channel_responses(tokens, y, x, [channel], LAYER)[:, 0], expected, rtol=0, atol=0)
        kind, shown = to_channels(tokens)  # what the panel tiles and the unit view reads
        assert kind == "tokens" and shown[channel, y, x] == expected[0]
    assert as_maps(tokens).shape == (3, DIM, 4, 4)
    centre = unit_geometry(vit.anatomy, Unit(LAYER, 2)).unit
    assert (centre.y, centre.x) == (2, 2)
    with pytest.raises(UnitscopeError, match=r"Position \(y=4, x=0\) is outside layer .* whose map is 4 x 4"):
        unit_response(tokens, Unit(LAYER, 0, 4, 0))
    with pytest.raises(UnitscopeError, match=f"Channel {DIM} is outside layer"):
        unit_response(tokens, Unit(LAYER, DIM, 0, 0))


def test_tuning_and_top_images_of_a_token_unit_are_its_hooked_responses(vit, tmp_path):
    from PIL import Image

    tuning = vit.result(Tuning(LAYER, 5, 1, 2, orientations=4, phases=2, sf=(4.0,)))
    assert tuning.unit_label == f"{LAYER}[5](1,2)"
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(paths[-1])
    top = vit.result(TopImages(LAYER, 5, 1, 2, paths=tuple(paths), k=2))
    batch = torch.stack([vit.preprocess.image(load_image(p)) for p in paths])
    responses = hooked_tokens(vit, batch)[:, 1 + 1 * 4 + 2, 5].numpy()
    np.testing.assert_allclose(top.top_values, np.sort(responses)[::-1][:2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(top.bottom_values, np.sort(responses)[:2], rtol=1e-5, atol=1e-6)
