"""Feature-map mosaics: exact pixels, layout, normalisation and output shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import UnitscopeError
from engine.mosaic import Mosaic, make_mosaic, to_channels

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
