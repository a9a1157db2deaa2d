"""Procedural stimuli: closed-form values, geometry conventions, seeds and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import UnitscopeError
from engine.stimuli.procedural import (
    PROCEDURAL,
    SparseCell,
    bar,
    dots,
    gabor_patch,
    grid_cell,
    sine_grating,
    sparse_noise,
    to_pil,
    white_noise,
)


def _check_image(img: np.ndarray, shape: tuple[int, int]) -> None:
    assert img.shape == (*shape, 3)
    assert img.dtype == np.float32
    assert np.all(img >= 0) and np.all(img <= 1)


# --- gratings and Gabors --------------------------------------------------------------


@pytest.mark.parametrize("contrast", [1.0, 0.4])
def test_grating_matches_closed_form(contrast):
    size = 64
    img = sine_grating(size, 0, 1, phase_deg=0, contrast=contrast)
    centre = (size - 1) / 2
    for col in (0, 5, 16, 31, 40, 63):
        expected = 0.5 + 0.5 * contrast * math.cos(2 * math.pi * (col - centre) / size)
        assert img[7, col, 0] == pytest.approx(expected, abs=1e-6)
    assert np.array_equal(img[:, :, 0], img[:, :, 1]) and np.array_equal(img[:, :, 1], img[:, :, 2])
    assert np.all(img[0] == img[-1])  # orientation 0: vertical bars, columns constant


def test_grating_phase_and_oblique_formula():
    h, w = 30, 50
    img = sine_grating((h, w), 30, 3, phase_deg=45, contrast=0.8)
    theta, phase = math.radians(30), math.radians(45)
    for row, col in [(0, 0), (12, 40), (29, 49), (15, 3)]:
        u = (col - (w - 1) / 2) * math.cos(theta) + (row - (h - 1) / 2) * math.sin(theta)
        expected = 0.5 + 0.4 * math.cos(2 * math.pi * 3 * u / min(h, w) + phase)
        assert img[row, col, 0] == pytest.approx(expected, abs=1e-6)


def test_orientation_90_gives_horizontal_bars():
    img = sine_grating((40, 60), 90, 4)
    assert np.all(img == img[:, :1, :])  # every row is constant along x
    assert img[:, 0, 0].max() - img[:, 0, 0].min() > 0.9


def test_opposite_phases_sum_to_one():
    a = sine_grating(32, 20, 2.5, phase_deg=10)
    b = sine_grating(32, 20, 2.5, phase_deg=190)
    assert np.allclose(a + b, 1.0, atol=1e-6)


@pytest.mark.parametrize("orientation", [0, 90, 180])
def test_mean_over_whole_cycles_is_half(orientation):
    img = sine_grating(60, orientation, 3, phase_deg=33)
    assert img.mean() == pytest.approx(0.5, abs=1e-6)


def test_aperture_outside_is_exactly_mean_grey():
    img = sine_grating(41, 0, 5, aperture=10, center=(15, 25))
    rows, cols = np.mgrid[:41, :41]
    outside = (rows - 15) ** 2 + (cols - 25) ** 2 > 100
    assert np.all(img[outside] == np.float32(0.5))
    assert img[15, 25, 0] == pytest.approx(1.0)  # phase 0 peak at the aperture centre
    assert np.ptp(img[~outside]) > 0.5


def test_gabor_centre_and_envelope():
    img = gabor_patch(51, 0, 4, sigma_px=5, phase_deg=60, contrast=0.5)
    assert img[25, 25, 0] == pytest.approx(0.5 + 0.25 * math.cos(math.radians(60)), abs=1e-6)
    assert np.all(np.abs(img[0] - 0.5) < 1e-6)  # 25 px = 5 sigma: envelope ~ 4e-6
    x = 3.0
    expected = 0.5 + 0.25 * math.exp(-x * x / 50) * math.cos(2 * math.pi * 4 * x / 51 + math.pi / 3)
    assert img[25, 28, 0] == pytest.approx(expected, abs=1e-6)


# --- bars and dots ---------------------------------------------------------------------


def test_vertical_bar_pixels():
    img = bar(21, 0, length_px=11, width_px=3)
    expected = np.full((21, 21), 0.5, dtype=np.float32)
    expected[5:16, 9:12] = 1.0
    assert np.array_equal(img[:, :, 0], expected)
    dark = bar(21, 0, length_px=11, width_px=3, polarity=-1)
    assert np.array_equal(dark[:, :, 0], np.where(expected == 1.0, 0.0, 0.5))


def test_bar_orientation_90_is_transposed():
    vertical = bar(25, 0, 15, 5)
    horizontal = bar(25, 90, 15, 5)
    assert np.array_equal(horizontal, vertical.transpose(1, 0, 2))


def test_bar_off_centre():
    img = bar((20, 30), 0, 4, 1, center=(3, 27))
    assert set(zip(*np.nonzero(img[:, :, 0] == 1.0))) == {(r, 27) for r in range(1, 6)}


def test_dots_are_deterministic_and_signed():
    a = dots(64, 30, 3, seed=7)
    assert np.array_equal(a, dots(64, 30, 3, seed=7))
    assert not np.array_equal(a, dots(64, 30, 3, seed=8))
    assert set(np.unique(a)) <= {0.0, 0.5, 1.0}
    bright = dots(64, 30, 3, seed=7, polarity=+1)
    assert 0.0 not in bright and 1.0 in bright
    assert np.all(dots(32, 0, 3, seed=1) == 0.5)


# --- noise ---------------------------------------------------------------------------


def test_sparse_noise_returns_the_lit_cell():
    img, cells = sparse_noise(40, 8, seed=3)
    assert len(cells) == 1
    cell = cells[0]
    assert isinstance(cell, SparseCell) and cell.sign in (-1, 1)
    assert (cell.rows, cell.cols) == (slice(cell.row * 5, cell.row * 5 + 5),
                                      slice(cell.col * 5, cell.col * 5 + 5))
    lit = np.zeros((40, 40), bool)
    lit[cell.rows, cell.cols] = True
    assert np.all(img[lit] == (1.0 if cell.sign > 0 else 0.0))
    assert np.all(img[~lit] == 0.5)


def test_sparse_noise_many_cells_uneven_grid():
    img, cells = sparse_noise((23, 31), (4, 5), seed=11, n_on=6)
    assert len({(c.row, c.col) for c in cells}) == 6
    lit = np.zeros((23, 31), bool)
    for c in cells:
        assert np.all(img[c.rows, c.cols] == (0.5 + 0.5 * c.sign))
        lit[c.rows, c.cols] = True
    assert np.all(img[~lit] == 0.5)
    again, same = sparse_noise((23, 31), (4, 5), seed=11, n_on=6)
    assert np.array_equal(img, again) and same == cells


def test_grid_cells_tile_the_image():
    cover = np.zeros((23, 31), int)
    for r in range(4):
        for c in range(7):
            rows, cols = grid_cell((23, 31), (4, 7), r, c)
            cover[rows, cols] += 1
    assert np.all(cover == 1)


def test_white_noise_kinds():
    u = white_noise((50, 60), seed=5)
    assert np.array_equal(u, white_noise((50, 60), seed=5))
    assert np.array_equal(u[:, :, 0], u[:, :, 2])
    assert abs(float(u.mean()) - 0.5) < 0.02
    b = white_noise(64, seed=5, kind="binary")
    assert set(np.unique(b)) == {0.0, 1.0}
    c = white_noise(16, seed=5, color=True)
    assert not np.array_equal(c[:, :, 0], c[:, :, 1])
    blocks = white_noise((10, 9), seed=2, block_px=4, kind="binary")
    assert np.all(blocks[:4, :4] == blocks[0, 0]) and blocks.shape == (10, 9, 3)
    assert np.all(white_noise(8, seed=1, contrast=0) == 0.5)


# --- validation, registry, conversion ------------------------------------------------


@pytest.mark.parametrize("call, name", [
    (lambda: sine_grating(-5, 0, 1), "size"),
    (lambda: sine_grating((10, 0), 0, 1), "size"),
    (lambda: sine_grating(10.5, 0, 1), "size"),
    (lambda: sine_grating(10, 0, 1, contrast=1.5), "contrast"),
    (lambda: sine_grating(10, 0, -1), "sf_cycles_per_image"),
    (lambda: sine_grating(10, float("nan"), 1), "orientation_deg"),
    (lambda: sine_grating(10, 0, 1, aperture=0), "aperture"),
    (lambda: sine_grating(10, 0, 1, center=(1,)), "center"),
    (lambda: gabor_patch(10, 0, 1, sigma_px=0), "sigma_px"),
    (lambda: bar(10, 0, -3, 2), "length_px"),
    (lambda: bar(10, 0, 3, 2, polarity=2), "polarity"),
    (lambda: dots(10, -1, 2, seed=0), "'n'"),
    (lambda: dots(10, 3, 2, seed=-1), "seed"),
    (lambda: sparse_noise(10, 0, seed=0), "grid"),
    (lambda: sparse_noise(10, 2, seed=0, n_on=5), "n_on"),
    (lambda: white_noise(10, seed=0, kind="pink"), "kind"),
])
def test_bad_parameters_name_the_parameter(call, name):
    with pytest.raises(UnitscopeError, match=name):
        call()


def test_procedural_registry():
    assert {"grating", "gabor", "bar", "dots", "white noise"} <= set(PROCEDURAL)
    for make in PROCEDURAL.values():
        _check_image(make((32, 48)), (32, 48))
        _check_image(make(1), (1, 1))


def test_to_pil():
    img = to_pil(sine_grating(16, 0, 0, phase_deg=90))  # cos(90 deg) = 0: flat mid-grey
    assert img.mode == "RGB" and img.size == (16, 16)
    assert img.getpixel((3, 3)) == (128, 128, 128)
    assert to_pil(np.ones((2, 3))).getpixel((2, 1)) == (255, 255, 255)
    with pytest.raises(UnitscopeError):
        to_pil(np.zeros((4, 4, 4)))


# --- properties ----------------------------------------------------------------------

sizes = st.one_of(st.integers(1, 48), st.tuples(st.integers(1, 48), st.integers(1, 48)))
angles = st.floats(-720, 720, allow_nan=False)
fast = settings(max_examples=40, deadline=None)


@fast
@given(size=sizes, orientation=angles, sf=st.floats(0, 30), phase=angles,
       contrast=st.floats(0, 1), aperture=st.none() | st.floats(0.5, 60))
def test_grating_property(size, orientation, sf, phase, contrast, aperture):
    img = sine_grating(size, orientation, sf, phase, contrast, aperture)
    shape = (size, size) if isinstance(size, int) else size
    _check_image(img, shape)
    assert np.array_equal(img, sine_grating(size, orientation, sf, phase, contrast, aperture))


@fast
@given(size=sizes, orientation=angles, sf=st.floats(0, 30), sigma=st.floats(0.1, 100),
       length=st.floats(0.1, 80), width=st.floats(0.1, 80), polarity=st.sampled_from([1, -1]))
def test_gabor_and_bar_property(size, orientation, sf, sigma, length, width, polarity):
    shape = (size, size) if isinstance(size, int) else size
    _check_image(gabor_patch(size, orientation, sf, sigma), shape)
    img = bar(size, orientation, length, width, polarity=polarity)
    _check_image(img, shape)
    assert set(np.unique(img)) <= {0.5, 0.5 + 0.5 * polarity}


@fast
@given(size=sizes, seed=st.integers(0, 2**32), n=st.integers(0, 20),
       radius=st.floats(0.3, 10), grid=st.integers(1, 6),
       kind=st.sampled_from(["uniform", "binary"]))
def test_random_generators_are_deterministic(size, seed, n, radius, grid, kind):
    shape = (size, size) if isinstance(size, int) else size
    grid = (min(grid, shape[0]), min(grid, shape[1]))
    first = dots(size, n, radius, seed)
    _check_image(first, shape)
    assert np.array_equal(first, dots(size, n, radius, seed))
    frame, cells = sparse_noise(size, grid, seed)
    _check_image(frame, shape)
    frame_again, cells_again = sparse_noise(size, grid, seed)
    assert np.array_equal(frame, frame_again) and cells == cells_again
    noise = white_noise(size, seed, kind=kind)
    _check_image(noise, shape)
    assert np.array_equal(noise, white_noise(size, seed, kind=kind))
