"""Feature-map mosaics: exact pixels, layout, normalisation and output shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import UnitscopeError
from engine.recording.mosaic import (
    MOSAIC_VARIANTS,
    DisplayValues,
    Mosaic,
    display_values,
    make_mosaic,
    make_mosaics,
    to_channels,
)

P = 7  # pad value, distinct from every data pixel below

KNOWN = torch.tensor([
    [[0.0, 1.0], [2.0, 3.0]],
    [[10.0, 20.0], [30.0, 10.0]],
    [[5.0, 5.0], [5.0, 5.0]],
])


def test_known_values_per_channel_exact_pixels():
    m = make_mosaic(KNOWN, pad_value=P)
    assert (m.rows, m.cols, m.tile_h, m.tile_w, m.gap, m.n_channels) == (2, 2, 2, 2, 1, 3)
    expected = np.array([
        [0, 85, P, 0, 128],
        [170, 255, P, 255, 0],
        [P, P, P, P, P],
        [0, 0, P, P, P],
        [0, 0, P, P, P],
    ], dtype=np.uint8)
    assert m.image.dtype == np.uint8
    np.testing.assert_array_equal(m.image, expected)
    np.testing.assert_array_equal(m.vmin, [0, 10, 5])
    np.testing.assert_array_equal(m.vmax, [3, 30, 5])
    assert m.value_range == (0.0, 30.0)


def test_shared_normalisation_uses_one_range():
    m = make_mosaic(KNOWN, normalize="shared", pad_value=P)
    # v * 255 / 30, rounded half up: 8.5 -> 9, 17 -> 17, 25.5 -> 26, 42.5 -> 43
    np.testing.assert_array_equal(m.image[0:2, 0:2], [[0, 9], [17, 26]])
    np.testing.assert_array_equal(m.image[0:2, 3:5], [[85, 170], [255, 85]])
    np.testing.assert_array_equal(m.image[3:5, 0:2], [[43, 43], [43, 43]])
    np.testing.assert_array_equal(m.vmin, [0, 0, 0])
    np.testing.assert_array_equal(m.vmax, [30, 30, 30])
    assert not np.array_equal(m.image, make_mosaic(KNOWN, pad_value=P).image)


def test_symmetric_maps_zero_to_mid_grey():
    fmap = torch.tensor([
        [[-2.0, 0.0], [1.0, 2.0]],
        [[0.0, 0.0], [0.0, 0.0]],
        [[-4.0, 0.0], [0.0, 1.0]],
    ])
    m = make_mosaic(fmap, symmetric=True, gap=0, cols=3)
    np.testing.assert_array_equal(m.image[:, 0:2], [[0, 128], [191, 255]])
    np.testing.assert_array_equal(m.image[:, 2:4], [[128, 128], [128, 128]])
    np.testing.assert_array_equal(m.image[:, 4:6], [[0, 128], [128, 159]])
    np.testing.assert_array_equal(m.vmin, [-2, 0, -4])
    np.testing.assert_array_equal(m.vmax, [2, 0, 4])

    shared = make_mosaic(fmap, symmetric=True, normalize="shared", gap=0, cols=3)
    np.testing.assert_array_equal(shared.image[:, 0:2], [[64, 128], [159, 191]])
    np.testing.assert_array_equal(shared.vmax, [4, 4, 4])


def test_nan_and_inf_are_safe():
    fmap = torch.tensor([[[1.0, float("nan")], [float("inf"), -1.0]],
                         [[float("-inf"), 2.0], [4.0, 3.0]]])
    m = make_mosaic(fmap, gap=0, cols=2)
    # channel 0: finite range [-1, 1], NaN as 0 -> 128, +inf clipped to 1
    np.testing.assert_array_equal(m.image[:, 0:2], [[255, 128], [255, 0]])
    # channel 1: range [2, 4], -inf clipped to 2
    np.testing.assert_array_equal(m.image[:, 2:4], [[0, 0], [255, 128]])
    assert m.value_range == (-1.0, 4.0)


def test_numpy_and_other_dtypes_match_torch():
    base = make_mosaic(KNOWN).image
    np.testing.assert_array_equal(make_mosaic(KNOWN.numpy()).image, base)
    read_only = KNOWN.numpy().copy()
    read_only.flags.writeable = False
    np.testing.assert_array_equal(make_mosaic(read_only).image, base)
    np.testing.assert_array_equal(make_mosaic(KNOWN.double()).image, base)
    np.testing.assert_array_equal(make_mosaic(KNOWN.to(torch.int32)).image, base)
    np.testing.assert_array_equal(make_mosaic(KNOWN.half()).image, base)
    assert make_mosaic(torch.ones(4, 5)).image.shape == (4, 5)  # (H, W) is one channel


@pytest.mark.parametrize(("shape", "grid"), [
    ((5, 3, 3), (2, 3)),
    ((10, 2, 8), (5, 2)),
    ((2048, 7, 7), (45, 46)),
    ((1, 4, 4), (1, 1)),
    ((7, 8, 2), (2, 6)),
])
def test_layout_for_non_square_counts(shape, grid):
    c, h, w = shape
    m = make_mosaic(torch.randn(shape), gap=2)
    assert (m.rows, m.cols) == grid
    assert m.image.shape == (m.rows * (h + 2) - 2, m.cols * (w + 2) - 2)
    assert m.rows * m.cols >= c > (m.rows - 1) * m.cols


def test_cols_override_and_clamp():
    assert make_mosaic(torch.randn(6, 2, 2), cols=1).image.shape == (6 * 3 - 1, 2)
    assert make_mosaic(torch.randn(3, 2, 2), cols=10).cols == 3


def test_channel_at_and_tile_origin():
    m = make_mosaic(torch.randn(10, 3, 4), gap=1, cols=4)  # 3 rows, last has 2 tiles
    for c in range(10):
        y0, x0 = m.tile_origin(c)
        assert m.channel_at(y0, x0) == c
        assert m.channel_at(y0 + 2.9, x0 + 3.5) == c  # pyqtgraph hands over floats
        assert m.channel_at(y0 + 3, x0) is None  # gap row below
        assert m.channel_at(y0, x0 + 4) is None  # gap column right
    assert m.channel_at(-0.5, 0) is None
    assert m.channel_at(0, m.image.shape[1] + 5) is None
    assert m.channel_at(8, 10) is None  # empty tile after the last channel
    with pytest.raises(IndexError):
        m.tile_origin(10)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 70), h=st.integers(1, 9), w=st.integers(1, 9),
       gap=st.integers(0, 3), shared=st.booleans(), symmetric=st.booleans())
def test_property_layout_round_trip(c, h, w, gap, shared, symmetric):
    fmap = torch.randn(c, h, w)
    m = make_mosaic(fmap, gap=gap, symmetric=symmetric,
                    normalize="shared" if shared else "channel")
    assert isinstance(m, Mosaic)
    assert m.image.dtype == np.uint8
    assert m.image.shape == (m.rows * (h + gap) - gap, m.cols * (w + gap) - gap)
    assert m.vmin.shape == m.vmax.shape == (c,)
    for ch in range(c):
        assert m.channel_at(*m.tile_origin(ch)) == ch


def test_bad_input_shapes():
    with pytest.raises(UnitscopeError, match="cannot be tiled"):
        make_mosaic(torch.randn(2, 3, 4, 5))
    with pytest.raises(UnitscopeError, match="cannot be tiled"):
        make_mosaic(torch.randn(0, 3, 4))
    with pytest.raises(ValueError):
        make_mosaic(KNOWN, normalize="global")


def test_to_channels_4d_takes_first_sample():
    out = torch.randn(2, 64, 56, 56)
    kind, maps = to_channels(out)
    assert kind == "maps"
    assert torch.equal(maps, out[0])


def test_to_channels_nhwc_swin():
    out = torch.randn(1, 7, 7, 768)
    kind, maps = to_channels(out)
    assert kind == "maps" and maps.shape == (768, 7, 7)
    assert maps[5, 2, 3] == out[0, 2, 3, 5]
    assert to_channels(torch.randn(1, 56, 56, 96))[1].shape == (96, 56, 56)
    # square NCHW maps are never taken for NHWC; the override forces either reading
    assert to_channels(torch.randn(1, 32, 32, 32))[1].shape == (32, 32, 32)
    assert to_channels(out, layout="nchw")[1].shape == (7, 7, 768)
    assert to_channels(torch.randn(1, 4, 6, 3), layout="nhwc")[1].shape == (3, 4, 6)


def test_to_channels_tokens_with_class_token():
    out = torch.randn(2, 197, 768)
    kind, grid = to_channels(out)
    assert kind == "tokens" and grid.shape == (768, 14, 14)
    i, j, d = 3, 11, 100
    assert grid[d, i, j] == out[0, 1 + i * 14 + j, d]


def test_to_channels_tokens_without_class_token_and_odd_counts():
    out = torch.randn(1, 49, 32)
    kind, grid = to_channels(out)
    assert kind == "tokens" and grid.shape == (32, 7, 7)
    assert grid[4, 1, 2] == out[0, 1 * 7 + 2, 4]
    kind, strip = to_channels(torch.randn(1, 12, 8))
    assert kind == "tokens" and strip.shape == (8, 1, 12)


def test_to_channels_vector_and_containers():
    out = torch.randn(3, 1000)
    kind, vec = to_channels(out)
    assert kind == "vector" and torch.equal(vec, out[0])
    kind, maps = to_channels((torch.randn(1, 8, 4, 4), torch.randn(1, 2)))
    assert kind == "maps" and maps.shape == (8, 4, 4)
    assert to_channels({"logits": out})[0] == "vector"
    assert to_channels([None, np.zeros((1, 5), np.float32)])[1].shape == (5,)


def test_to_channels_rejects_what_it_cannot_show():
    with pytest.raises(UnitscopeError, match="cannot be displayed"):
        to_channels(torch.randn(1, 3, 4, 5, 6))
    with pytest.raises(UnitscopeError, match="no tensor"):
        to_channels((None, "text"))


def test_mosaic_of_tokens_is_square_enough():
    _, grid = to_channels(torch.randn(1, 197, 768))
    m = make_mosaic(grid)
    assert m.cols == math.ceil(math.sqrt(768))
    assert 0.8 < m.image.shape[0] / m.image.shape[1] < 1.25


# -- several normalisations at once, and what the window is handed -------------------------

def _same_mosaic(a: Mosaic, b: Mosaic) -> None:
    assert a.image.dtype == b.image.dtype == np.uint8
    np.testing.assert_array_equal(a.image, b.image)
    assert (a.rows, a.cols, a.tile_h, a.tile_w, a.gap, a.n_channels) == \
        (b.rows, b.cols, b.tile_h, b.tile_w, b.gap, b.n_channels)
    np.testing.assert_array_equal(a.vmin, b.vmin)
    np.testing.assert_array_equal(a.vmax, b.vmax)
    assert a.value_range == b.value_range


def test_make_mosaics_gives_every_variant_as_make_mosaic_does():
    assert MOSAIC_VARIANTS == (("channel", False), ("channel", True), ("shared", False), ("shared", True))
    mosaics = make_mosaics(KNOWN, pad_value=P)
    assert set(mosaics) == set(MOSAIC_VARIANTS)
    for (mode, symmetric), m in mosaics.items():
        _same_mosaic(m, make_mosaic(KNOWN, normalize=mode, symmetric=symmetric, pad_value=P))
    # the known pixels of test_known_values_per_channel_exact_pixels, from the batch
    np.testing.assert_array_equal(mosaics[("channel", False)].image[0:2, 0:2], [[0, 85], [170, 255]])
    np.testing.assert_array_equal(mosaics[("shared", False)].image[3:5, 0:2], [[43, 43], [43, 43]])
    only = make_mosaics(KNOWN, variants=(("shared", True),), gap=0, cols=3)
    assert list(only) == [("shared", True)]
    _same_mosaic(only[("shared", True)], make_mosaic(KNOWN, normalize="shared", symmetric=True, gap=0, cols=3))
    with pytest.raises(ValueError):
        make_mosaics(KNOWN, variants=(("global", False),))


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 40), h=st.integers(1, 7), w=st.integers(1, 7), gap=st.integers(0, 2),
       specials=st.lists(st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0]), max_size=4))
def test_property_make_mosaics_equals_make_mosaic(c, h, w, gap, specials):
    fmap = torch.randn(c, h, w)
    flat = fmap.view(-1)
    for i, v in enumerate(specials):
        flat[(i * 7919) % flat.numel()] = v
    for key, m in make_mosaics(fmap, gap=gap).items():
        _same_mosaic(m, make_mosaic(fmap, normalize=key[0], symmetric=key[1], gap=gap))


def test_display_values_of_maps_are_numpy_with_ready_mosaics():
    fmap = torch.randn(6, 5, 4)
    fmap[3] += 10.0  # the most active channel
    shown = display_values(fmap)
    assert isinstance(shown, DisplayValues)
    assert shown.kind == "maps"
    assert isinstance(shown.values, np.ndarray) and shown.values.dtype == np.float32
    np.testing.assert_array_equal(shown.values, fmap.numpy())
    assert shown.top_channel == 3
    assert set(shown.mosaics) == set(MOSAIC_VARIANTS)
    for (mode, symmetric), m in shown.mosaics.items():
        assert isinstance(m.image, np.ndarray) and isinstance(m.vmin, np.ndarray)
        _same_mosaic(m, make_mosaic(fmap, normalize=mode, symmetric=symmetric))
    # from NumPy, and with the values taken from a host copy, the same
    again = display_values(fmap.numpy(), host=fmap.clone())
    np.testing.assert_array_equal(again.values, shown.values)
    assert again.top_channel == 3
    with pytest.raises(ValueError, match="host"):
        display_values(fmap, host=torch.zeros(6, 5, 5))


def test_display_values_top_channel_counts_nan_as_zero_like_the_window_did():
    fmap = torch.zeros(4, 2, 2)
    fmap[0] = float("nan")
    fmap[1, 0, 0] = 0.5
    fmap[2, 0, 0] = float("nan")
    fmap[2, 1, 1] = 1.0
    fmap[3] = -1.0
    shown = display_values(fmap)
    reference = int(fmap.reshape(4, -1).float().nan_to_num().mean(dim=1).argmax())
    assert shown.top_channel == reference == 2
    values = np.zeros((3, 1, 1), np.float32)
    values[1] = np.inf
    assert display_values(values).top_channel == 1


def test_display_values_of_tokens_vectors_batches_and_containers():
    tokens = torch.randn(1 + 16, 8)
    shown = display_values(tokens)
    assert shown.kind == "tokens"
    np.testing.assert_array_equal(shown.values, tokens[1:].T.reshape(8, 4, 4).numpy())
    _same_mosaic(shown.mosaics[("channel", False)], make_mosaic(tokens[1:].T.reshape(8, 4, 4)))

    logits = torch.tensor([3.0, -1.0, 7.0, 0.5])
    shown = display_values(logits)
    assert shown.kind == "vector" and shown.mosaics == {} and shown.top_channel == 2
    np.testing.assert_array_equal(shown.values, logits.numpy())
    assert display_values(np.zeros(0, np.float32)).top_channel is None

    batch = torch.randn(2, 3, 4, 4)
    np.testing.assert_array_equal(display_values(batch).values, batch[0].numpy())
    nhwc = torch.randn(4, 4, 3)
    np.testing.assert_array_equal(display_values(nhwc, layout="nhwc").values,
                                  nhwc.permute(2, 0, 1).numpy())
    assert display_values((torch.randn(1, 5), None)).kind == "vector"
    assert display_values(torch.arange(8, dtype=torch.int32).reshape(2, 2, 2)).values.dtype == np.float32


FACTORY = '''
from torch import nn


def make():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 5))
'''


def test_a_recording_holds_numpy_only_made_in_the_engine(tmp_path):
    import dataclasses

    from engine.session.session import Session
    from engine.session.values import ModelSpec, Stimulus

    factory = tmp_path / "tiny.py"
    factory.write_text(FACTORY)
    session = Session.open(ModelSpec(f"{factory}:make", device="cpu"))
    stimulus = Stimulus("procedural", "gabor")
    x = session.stimulus(stimulus)[0][None]
    try:
        conv = session.record("0", stimulus, lambda: False)
        reference = session.recorder.record_one(["0", "4"], x).outputs
        fc = session.record("4", stimulus, lambda: False)
    finally:
        session.close()

    for recording in (conv, fc):
        for f in dataclasses.fields(recording):
            value = getattr(recording, f.name)
            assert not isinstance(value, torch.Tensor), f.name
        for m in recording.mosaics.values():
            assert not any(isinstance(getattr(m, f.name), torch.Tensor) for f in dataclasses.fields(m))

    expected = reference["0"][0]
    assert conv.kind == "maps" and isinstance(conv.output, np.ndarray)
    assert conv.output.shape == tuple(expected.shape)
    np.testing.assert_array_equal(conv.output, expected.numpy())
    np.testing.assert_array_equal(conv.values, expected.numpy())
    assert conv.top_channel == int(expected.reshape(4, -1).nan_to_num().mean(dim=1).argmax())
    for (mode, symmetric), m in conv.mosaics.items():
        _same_mosaic(m, make_mosaic(expected, normalize=mode, symmetric=symmetric))
    weight = session.loaded.module[0].weight
    assert isinstance(conv.conv_weights, np.ndarray) and conv.conv_weights.dtype == np.float32
    np.testing.assert_array_equal(conv.conv_weights, weight.detach().numpy())
    assert not np.shares_memory(conv.conv_weights, weight.detach().numpy())  # a copy, not the module's

    assert fc.kind == "vector" and fc.mosaics == {} and fc.conv_weights is None
    np.testing.assert_array_equal(fc.values, reference["4"][0].numpy())
    assert fc.top_channel == int(reference["4"][0].argmax())
