"""Fuzzing what users feed the engine: stimulus parameters and image files.

Stimulus generators given valid parameters return (H, W, 3) float32 images in [0, 1],
the same ones every time; given anything else (wrong types, NaN, infinities, values out
of range, odd containers) they raise :class:`UnitscopeError` and nothing else.  The image
loader given random bytes, random cuts and damaged copies of real files returns an RGB
image or raises :class:`UnitscopeError`, quickly; valid small images of every mode come
back as RGB of the same size.
"""

from __future__ import annotations

import io
import math
import time
from numbers import Integral
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from engine.errors import UnitscopeError
from engine.stimuli import procedural as stimuli
from engine.stimuli.images import load_image

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SECONDS = 5.0  # "never hangs": far more than any of these tiny files takes


# --- stimuli -----------------------------------------------------------------------------

SIZES = st.one_of(st.integers(1, 40), st.tuples(st.integers(1, 40), st.integers(1, 40)))
ANGLES = st.floats(-720, 720)
UNIT = st.floats(0, 1)
POSITIVE = st.floats(0.01, 100)
CENTRES = st.none() | st.tuples(st.floats(-60, 100), st.floats(-60, 100))
SEEDS = st.integers(0, 2**63)

# Values no parameter accepts, or accepts only sometimes.  Integers are negative or beyond
# the size limit, so that a value that happens to be valid is never a huge allocation.
JUNK = st.one_of(
    st.none(), st.booleans(), st.text(max_size=3), st.binary(max_size=2),
    st.sampled_from([math.nan, math.inf, -math.inf, -1e300, 1e300, -0.0, 1e-300]),
    st.floats(max_value=-1e-6), st.integers(max_value=-1),
    st.integers(stimuli.MAX_SIDE + 1, 10**12),
    st.tuples(), st.tuples(st.integers(-3, 3)), st.lists(st.integers(-2, 3), max_size=4),
    st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
    st.just(np.float64("nan")), st.just(np.array([1.0, 2.0])), st.just({"a": 1}), st.just(1j),
)

PARAMETERS = {  # generator -> {parameter: valid values}
    stimuli.sine_grating: {"size": SIZES, "orientation_deg": ANGLES, "sf_cycles_per_image": st.floats(0, 40),
                           "phase_deg": ANGLES, "contrast": UNIT, "aperture": st.none() | POSITIVE,
                           "center": CENTRES},
    stimuli.gabor_patch: {"size": SIZES, "orientation_deg": ANGLES, "sf_cycles_per_image": st.floats(0, 40),
                          "sigma_px": POSITIVE, "phase_deg": ANGLES, "contrast": UNIT, "center": CENTRES},
    stimuli.bar: {"size": SIZES, "orientation_deg": ANGLES, "length_px": POSITIVE, "width_px": POSITIVE,
                  "center": CENTRES, "polarity": st.sampled_from([1, -1]), "contrast": UNIT},
    stimuli.dots: {"size": SIZES, "n": st.integers(0, 30), "radius_px": st.floats(0.01, 20), "seed": SEEDS,
                   "polarity": st.sampled_from([1, -1, 0])},
    stimuli.white_noise: {"size": SIZES, "seed": SEEDS, "kind": st.sampled_from(["uniform", "binary"]),
                          "color": st.booleans(), "contrast": UNIT, "block_px": st.integers(1, 50)},
    stimuli.sparse_noise: {"size": SIZES, "grid": st.integers(1, 40) | st.tuples(st.integers(1, 40),
                                                                                   st.integers(1, 40)),
                           "seed": SEEDS, "n_on": st.integers(1, 4)},
}
GENERATORS = sorted(PARAMETERS, key=lambda f: f.__name__)


def _shape(size) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, Integral) else tuple(size)


def _fits(generator, kwargs) -> bool:
    """Whether valid values also fit together (a sparse-noise grid within the image)."""
    if generator is not stimuli.sparse_noise:
        return True
    h, w = _shape(kwargs["size"])
    gy, gx = _shape(kwargs["grid"])
    return gy <= h and gx <= w and kwargs["n_on"] <= gy * gx


def _image_of(generator, kwargs):
    out = generator(**kwargs)
    return out[0] if generator is stimuli.sparse_noise else out


def _check_image(img, shape, grey: bool) -> None:
    assert isinstance(img, np.ndarray) and img.dtype == np.float32
    assert img.shape == (*shape, 3)
    assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
    if grey:
        assert (img[:, :, 0] == img[:, :, 1]).all() and (img[:, :, 1] == img[:, :, 2]).all()


@FUZZ
@given(generator=st.sampled_from(GENERATORS), data=st.data())
def test_valid_parameters_give_a_deterministic_image(generator, data):
    kwargs = {name: data.draw(values, label=name) for name, values in PARAMETERS[generator].items()}
    if not _fits(generator, kwargs):
        with pytest.raises(UnitscopeError):
            generator(**kwargs)
        return
    img = _image_of(generator, kwargs)
    _check_image(img, _shape(kwargs["size"]), grey=not kwargs.get("color", False))
    assert np.array_equal(img, _image_of(generator, kwargs))


@settings(FUZZ, max_examples=120)
@given(generator=st.sampled_from(GENERATORS), data=st.data())
def test_any_parameters_give_an_image_or_a_unitscope_error(generator, data):
    kwargs, valid = {}, True
    junk_values = st.one_of(JUNK, st.sampled_from(PATHOLOGICAL))
    for name, values in PARAMETERS[generator].items():
        junk = data.draw(st.booleans(), label=f"junk {name}")
        kwargs[name] = data.draw(junk_values if junk else values, label=name)
        valid = valid and not junk
    valid = valid and _fits(generator, kwargs)
    try:
        img = _image_of(generator, kwargs)
    except UnitscopeError as exc:
        assert not valid, f"valid parameters refused: {exc}"
        assert "\n" not in str(exc)
        return
    _check_image(img, _shape(kwargs["size"]), grey=False)


# Every parameter of every generator is also given each of these, the others valid.
PATHOLOGICAL = [
    None, True, False, "", "3", b"\x00", math.nan, math.inf, -math.inf, -1e300, 1e300, 1.7e308,
    5e-324, 1e-300, -0.0, -1, 0, 2, -(10**12), 10**12, 2**64, (), (1,), (1, 2, 3), [4, 5],
    (math.nan, 0), (1e300, -1e300), np.float64("nan"), np.float32(0.5), np.int64(7),
    np.array([1.0, 2.0]), np.array(3), {"a": 1}, 1j, object(),
]
_DEFAULTS = {  # a valid value for every parameter
    "size": 9, "orientation_deg": 30.0, "sf_cycles_per_image": 2.0, "phase_deg": 0.0, "contrast": 0.5,
    "aperture": 3.0, "center": (4.0, 4.0), "sigma_px": 2.0, "length_px": 5.0, "width_px": 2.0,
    "polarity": 1, "n": 3, "radius_px": 1.5, "seed": 0, "kind": "binary", "color": True,
    "block_px": 2, "grid": 3, "n_on": 2,
}


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda f: f.__name__)
def test_pathological_values_of_each_parameter(generator):
    for name in PARAMETERS[generator]:
        for value in PATHOLOGICAL:
            kwargs = {key: _DEFAULTS[key] for key in PARAMETERS[generator]} | {name: value}
            try:
                img = _image_of(generator, kwargs)
            except UnitscopeError as exc:
                # The message names the parameter (or the grid that a smaller image no longer fits).
                named = name.split("_")[0] in str(exc) or (name == "size" and "'grid'" in str(exc))
                assert "\n" not in str(exc) and named, (name, value, exc)
                continue
            _check_image(img, _shape(kwargs["size"]), grey=False)


@FUZZ
@given(size=SIZES, data=st.data())
def test_grid_cells_tile_any_image(size, data):
    h, w = _shape(size)
    grid = (data.draw(st.integers(1, h)), data.draw(st.integers(1, w)))
    covered = np.zeros((h, w), dtype=int)
    for row in range(grid[0]):
        for col in range(grid[1]):
            rows, cols = stimuli.grid_cell(size, grid, row, col)
            covered[rows, cols] += 1
    assert (covered == 1).all()
    with pytest.raises(UnitscopeError):
        stimuli.grid_cell(size, grid, grid[0], 0)


@FUZZ
@given(array=hnp.arrays(dtype=st.sampled_from([np.uint8, np.float16, np.float32, np.float64,
                                                np.int16, np.bool_]),
                        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_to_pil_gives_rgb_or_a_unitscope_error(array):
    ok_shape = array.ndim in (2, 3) and 0 not in array.shape[:2] and (array.ndim == 2 or array.shape[2] == 3)
    finite = array.dtype == np.uint8 or np.isfinite(array.astype(np.float64)).all()
    try:
        img = stimuli.to_pil(array)
    except UnitscopeError:
        assert not (ok_shape and finite)
        return
    assert ok_shape and finite
    assert img.mode == "RGB" and img.size == (array.shape[1], array.shape[0])


# --- image files -------------------------------------------------------------------------


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


_NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
VALID_FILES = {  # suffix -> bytes of a valid 16 x 16 image
    ".png": _encode(_NOISE, "PNG"),
    ".jpg": _encode(_NOISE, "JPEG", quality=80),
    ".gif": _encode(_NOISE.convert("P"), "GIF"),
    ".bmp": _encode(_NOISE, "BMP"),
    ".tif": _encode(_NOISE, "TIFF", compression="tiff_deflate"),
    ".webp": _encode(_NOISE, "WEBP", quality=80),
}
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
         b"RIFF\x00\x00\x00\x00WEBP", b"P6\n4 4\n255\n", b"P5\n", b"\x00\x00\x01\x00"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzzed files")


def _load_within_time(path):
    """load_image's RGB image, or None for a UnitscopeError; anything else fails the test."""
    start = time.perf_counter()
    try:
        # A random header may claim a huge image; a low limit keeps each try cheap.
        with mock.patch.object(Image, "MAX_IMAGE_PIXELS", 1_000_000):
            img = load_image(path)
    except UnitscopeError as exc:
        assert "\n" not in str(exc) and f"'{path.name}'" in str(exc)
        img = None
    assert time.perf_counter() - start < SECONDS
    if img is not None:
        assert img.mode == "RGB" and img.width >= 1 and img.height >= 1
    return img


@settings(FUZZ, max_examples=60)
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=600),
       suffix=st.sampled_from(sorted(VALID_FILES) + [".ppm", ".txt"]))
def test_random_bytes_give_rgb_or_a_unitscope_error(scratch, magic, body, suffix):
    path = scratch / f"random bytes{suffix}"
    path.write_bytes(magic + body)
    _load_within_time(path)


@settings(FUZZ, max_examples=60)
@given(suffix=st.sampled_from(sorted(VALID_FILES)), data=st.data())
def test_cut_or_damaged_files_give_rgb_or_a_unitscope_error(scratch, suffix, data):
    whole = VALID_FILES[suffix]
    cut = data.draw(st.integers(0, len(whole)), label="kept bytes")
    damaged = bytearray(whole[:cut])
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(cut - 1, 0)), st.integers(1, 255)),
                               max_size=3 if cut else 0), label="flipped bytes")
    for at, xor in flips:
        damaged[at] ^= xor
    path = scratch / f"damaged ü{suffix}"
    path.write_bytes(bytes(damaged))
    img = _load_within_time(path)
    if img is not None and not flips:
        assert img.size == (16, 16)  # a cut file never loads as a different image


MODES = {  # mode -> formats that store it
    "1": ["PNG", "BMP", "TIFF"], "L": ["PNG", "JPEG", "BMP", "TIFF"], "LA": ["PNG", "TIFF"],
    "P": ["PNG", "GIF", "BMP", "TIFF"], "RGB": ["PNG", "JPEG", "WEBP", "TIFF"],
    "RGBA": ["PNG", "WEBP", "TIFF"], "I;16": ["PNG", "TIFF"], "I": ["TIFF"], "F": ["TIFF"],
    "CMYK": ["JPEG", "TIFF"],
}


def _random_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(rng.random((height, width), dtype=np.float32))
    bands = len(Image.new(mode, (1, 1)).getbands())
    pixels = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
    rgb_like = Image.fromarray(pixels[:, :, :3] if bands >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2))
    if mode == "P":
        return rgb_like.convert("P", palette=Image.Palette.ADAPTIVE, colors=int(rng.integers(2, 256)))
    if mode in ("RGBA", "LA"):
        return Image.fromarray(pixels)  # 4 or 2 bands of uint8
    return rgb_like.convert(mode)


@settings(FUZZ, max_examples=60)
@given(mode=st.sampled_from(sorted(MODES)), width=st.integers(1, 24), height=st.integers(1, 24),
       seed=st.integers(0, 2**32), data=st.data())
def test_valid_images_of_every_mode_load_as_rgb_of_the_same_size(scratch, mode, width, height, seed, data):
    img = _random_image(mode, width, height, seed)
    assert img.mode == mode
    fmt = data.draw(st.sampled_from(MODES[mode]), label="format")
    path = scratch / f"{mode.replace(';', '_')} image.{fmt.lower()}"
    path.write_bytes(_encode(img, fmt))
    loaded = _load_within_time(path)
    assert loaded is not None and loaded.size == (width, height)
    if fmt in ("PNG", "BMP", "TIFF") and mode in ("L", "RGB"):  # lossless: the very pixels
        assert np.array_equal(np.asarray(loaded), np.asarray(img.convert("RGB")))
