"""Procedural stimuli for in-silico electrophysiology: gratings, Gabors, bars, dots, noise.

Every generator returns a ``float32`` array of shape ``(H, W, 3)`` with values in
[0, 1]; the background is mean grey 0.5 and the three channels are equal unless stated.

Geometry (the same for every generator)
---------------------------------------
* ``size`` is an int (a square image) or ``(height, width)`` in pixels.
* Pixel ``(row, col)`` is sampled at its centre.  ``x`` grows to the right (columns) and
  ``y`` grows *downwards* (rows), both measured in pixels from ``center``, which is given
  as ``(y, x)`` = ``(row, col)`` and defaults to the image centre
  ``((H - 1) / 2, (W - 1) / 2)``.
* Orientation ``theta`` (degrees) is the direction along which luminance varies:
  ``u = x * cos(theta) + y * sin(theta)``.  ``theta = 0`` gives vertical bars (luminance
  varies along x); ``theta = 90`` gives horizontal bars (rows are constant).  Because
  ``y`` points down, increasing ``theta`` turns the pattern *clockwise* on screen, as in
  PsychoPy.  A bar of orientation ``theta`` is the bright stripe of such a grating: its
  long axis is perpendicular to ``u`` (``theta = 0`` is a vertical bar).
* Spatial frequency is in cycles per image along the image's shorter side, so the
  wavelength is ``min(H, W) / sf`` pixels.
* Gratings and Gabors follow ``0.5 + 0.5 * contrast * cos(2 * pi * sf * u / min(H, W)
  + phase)``: at phase 0 the centre is at peak brightness.  ``contrast`` is Michelson
  contrast in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from PIL import Image

from engine.errors import UnitscopeError

Size = int | tuple[int, int]

MAX_SIDE = 16384
"""Largest side, in pixels, a generator will make (guards against typos like 224000)."""

MAX_EXTENT = 1e6
"""Largest length, radius, centre offset (pixels) or spatial frequency (cycles per image)
a parameter may have: far beyond any image, small enough that its square stays finite."""

MIN_SIGMA = 1e-3
"""Smallest Gaussian envelope (pixels): below it every envelope is a single-pixel point."""

MAX_DOTS = 1_000_000
"""Most dots one image may hold."""


# --- validation --------------------------------------------------------------------


def _shape(size: Size) -> tuple[int, int]:
    if isinstance(size, Integral) and not isinstance(size, bool):
        h = w = int(size)
    elif (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) for s in size)
    ):
        h, w = int(size[0]), int(size[1])
    else:
        raise UnitscopeError(f"Stimulus size must be an int or (height, width), got {size!r}.")
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise UnitscopeError(
            f"Stimulus size must be between 1 and {MAX_SIDE} pixels, got {size!r}."
        )
    return h, w


def _number(name: str, value: object, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        raise UnitscopeError(f"Stimulus parameter '{name}' must be a finite number, got {value!r}.")
    value = float(value)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        bound = f"greater than {lo:g}" if lo_open else f"at least {lo:g}"
        raise UnitscopeError(f"Stimulus parameter '{name}' must be {bound}, got {value:g}.")
    if hi is not None and value > hi:
        raise UnitscopeError(f"Stimulus parameter '{name}' must be at most {hi:g}, got {value:g}.")
    return value


def _count(name: str, value: object, lo: int = 0, hi: int | None = None) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise UnitscopeError(f"Stimulus parameter '{name}' must be an integer, got {value!r}.")
    if value < lo or (hi is not None and value > hi):
        limit = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise UnitscopeError(f"Stimulus parameter '{name}' must be {limit}, got {value}.")
    return int(value)


def _polarity(value: object, allow_mixed: bool = False) -> int:
    allowed = (1, -1, 0) if allow_mixed else (1, -1)
    if isinstance(value, bool) or not isinstance(value, Real) or value not in allowed:
        choices = "+1, -1 or 0 (mixed)" if allow_mixed else "+1 or -1"
        raise UnitscopeError(f"Stimulus parameter 'polarity' must be {choices}, got {value!r}.")
    return int(value)


def _coords(shape: tuple[int, int], center: tuple[float, float] | None):
    """Broadcastable (y, x) pixel-centre offsets from ``center`` (float64)."""
    h, w = shape
    if center is None:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    else:
        if not isinstance(center, (tuple, list)) or len(center) != 2:
            raise UnitscopeError(f"Stimulus parameter 'center' must be (y, x), got {center!r}.")
        cy = _number("center", center[0], -MAX_EXTENT, MAX_EXTENT)
        cx = _number("center", center[1], -MAX_EXTENT, MAX_EXTENT)
    return np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx


def _cos_sin(orientation_deg: float) -> tuple[float, float]:
    """cos and sin of an angle in degrees, exact at multiples of 90 so bars stay axis-aligned."""
    theta = _number("orientation_deg", orientation_deg)
    if theta % 90 == 0:
        quarter = int(theta // 90) % 4
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[quarter]
    return math.cos(math.radians(theta)), math.sin(math.radians(theta))


def _rgb(gray: np.ndarray) -> np.ndarray:
    gray = np.clip(gray, 0.0, 1.0).astype(np.float32)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _carrier(y, x, shape, orientation_deg, sf, phase_deg):
    """cos(2 pi sf u / min(H, W) + phase) on the pixel grid."""
    cos, sin = _cos_sin(orientation_deg)
    sf = _number("sf_cycles_per_image", sf, lo=0, hi=MAX_EXTENT)
    phase = math.radians(_number("phase_deg", phase_deg))
    u = x * cos + y * sin
    return np.cos(2 * math.pi * sf * u / min(shape) + phase)


# --- generators --------------------------------------------------------------------


def sine_grating(size: Size, orientation_deg: float, sf_cycles_per_image: float,
                 phase_deg: float = 0.0, contrast: float = 1.0,
                 aperture: float | None = None,
                 center: tuple[float, float] | None = None) -> np.ndarray:
    """A full-field or circular-aperture sine-wave grating.

    Parameters
    ----------
    size : int or (int, int)
        Square side or ``(height, width)`` in pixels.
    orientation_deg : float
        Direction of luminance change, clockwise from the x axis (0 = vertical bars).
    sf_cycles_per_image : float
        Cycles across the image's shorter side (>= 0).
    phase_deg : float
        Phase at ``center``; 0 puts a bright peak there.
    contrast : float
        Michelson contrast in [0, 1].
    aperture : float or None
        Radius in pixels of a hard-edged circular window around ``center``; outside
        it the image is exactly 0.5.  None for a full-field grating.
    center : (float, float) or None
        ``(y, x)`` pixel position of the phase origin and aperture; image centre if None.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``: ``0.5 + 0.5 * contrast * cos(2 pi sf u
        / min(H, W) + phase)`` with ``u = x cos(theta) + y sin(theta)``.
    """
    shape = _shape(size)
    contrast = _number("contrast", contrast, 0, 1)
    y, x = _coords(shape, center)
    gray = 0.5 + 0.5 * contrast * _carrier(y, x, shape, orientation_deg,
                                           sf_cycles_per_image, phase_deg)
    if aperture is not None:
        radius = _number("aperture", aperture, lo=0, hi=MAX_EXTENT, lo_open=True)
        gray = np.where(x**2 + y**2 <= radius**2, gray, 0.5)
    return _rgb(gray)


def gabor_patch(size: Size, orientation_deg: float, sf_cycles_per_image: float,
                sigma_px: float, phase_deg: float = 0.0, contrast: float = 1.0,
                center: tuple[float, float] | None = None) -> np.ndarray:
    """A sine grating under a circular Gaussian envelope, on mean grey.

    Parameters are those of :func:`sine_grating`, plus ``sigma_px`` (at least
    ``MIN_SIGMA``), the standard deviation of the envelope in pixels.  The value is
    ``0.5 + 0.5 * contrast * exp(-(x**2 + y**2) / (2 sigma**2)) * cos(2 pi sf u /
    min(H, W) + phase)``.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``.
    """
    shape = _shape(size)
    contrast = _number("contrast", contrast, 0, 1)
    sigma = _number("sigma_px", sigma_px, lo=MIN_SIGMA, hi=MAX_EXTENT)
    y, x = _coords(shape, center)
    envelope = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    carrier = _carrier(y, x, shape, orientation_deg, sf_cycles_per_image, phase_deg)
    return _rgb(0.5 + 0.5 * contrast * envelope * carrier)


def bar(size: Size, orientation_deg: float, length_px: float, width_px: float,
        center: tuple[float, float] | None = None, polarity: int = +1,
        contrast: float = 1.0) -> np.ndarray:
    """A hard-edged rectangular bar on mean grey.

    Parameters
    ----------
    size : int or (int, int)
        Square side or ``(height, width)`` in pixels.
    orientation_deg : float
        As for gratings: 0 is a vertical bar, 90 a horizontal one (clockwise on screen).
    length_px, width_px : float
        Extent along and across the bar (> 0).  A pixel is in the bar when its centre is.
    center : (float, float) or None
        ``(y, x)`` position of the bar's middle; image centre if None.
    polarity : {+1, -1}
        +1 for a bright bar (value ``0.5 + 0.5 * contrast``), -1 for a dark one.
    contrast : float
        In [0, 1]; 1 makes the bar white (1.0) or black (0.0).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``.
    """
    shape = _shape(size)
    cos, sin = _cos_sin(orientation_deg)
    length = _number("length_px", length_px, lo=0, hi=MAX_EXTENT, lo_open=True)
    width = _number("width_px", width_px, lo=0, hi=MAX_EXTENT, lo_open=True)
    sign = _polarity(polarity)
    contrast = _number("contrast", contrast, 0, 1)
    y, x = _coords(shape, center)
    across = x * cos + y * sin
    along = -x * sin + y * cos
    inside = (np.abs(across) <= width / 2) & (np.abs(along) <= length / 2)
    return _rgb(np.where(inside, 0.5 + 0.5 * sign * contrast, 0.5))


def dots(size: Size, n: int, radius_px: float, seed: int, polarity: int = 0) -> np.ndarray:
    """Random discs, white and/or black, on mean grey.

    Parameters
    ----------
    size : int or (int, int)
        Square side or ``(height, width)`` in pixels.
    n : int
        Number of dots (>= 0).  Centres are uniform over the image; later dots cover
        earlier ones where they overlap.
    radius_px : float
        Dot radius in pixels (> 0).
    seed : int
        Seed of the :class:`numpy.random.Generator` (>= 0); same seed, same image.
    polarity : {0, +1, -1}
        +1 all white, -1 all black, 0 each dot white or black at random.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)`` with values 0, 0.5 and 1.
    """
    h, w = shape = _shape(size)
    n = _count("n", n, 0, MAX_DOTS)
    radius = _number("radius_px", radius_px, lo=0, hi=MAX_EXTENT, lo_open=True)
    rng = np.random.default_rng(_count("seed", seed))
    sign = _polarity(polarity, allow_mixed=True)
    centres = rng.uniform((0, 0), (h, w), size=(n, 2)) - 0.5
    signs = rng.choice((-1, 1), size=n) if sign == 0 else np.full(n, sign)
    gray = np.full(shape, 0.5)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    r = math.ceil(radius)
    for (cy, cx), s in zip(centres, signs):
        # Only the dot's bounding box is touched, so many small dots stay cheap.
        y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 2, h)
        x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 2, w)
        disc = (rows[y0:y1] - cy) ** 2 + (cols[:, x0:x1] - cx) ** 2 <= radius**2
        gray[y0:y1, x0:x1][disc] = 0.5 + 0.5 * s
    return _rgb(gray)


class SparseCell(NamedTuple):
    """One lit cell of a sparse-noise frame: grid position, sign and pixel slices."""

    row: int
    col: int
    sign: int
    rows: slice
    cols: slice


def grid_cell(size: Size, grid: int | tuple[int, int], row: int, col: int) -> tuple[slice, slice]:
    """Pixel slices ``(rows, cols)`` of cell ``(row, col)`` when ``size`` is cut into ``grid``.

    Cell ``r`` spans rows ``floor(r * H / gy)`` up to ``floor((r + 1) * H / gy)``, so cells
    tile the image exactly even when the grid does not divide it.
    """
    h, w = _shape(size)
    gy, gx = _grid(grid, (h, w))
    row, col = _count("row", row, 0, gy - 1), _count("col", col, 0, gx - 1)
    return slice(row * h // gy, (row + 1) * h // gy), slice(col * w // gx, (col + 1) * w // gx)


def _grid(grid: int | tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    pair = grid if isinstance(grid, (tuple, list)) else (grid, grid)
    if len(pair) != 2:
        raise UnitscopeError(
            f"Stimulus parameter 'grid' must be an int or (rows, cols), got {grid!r}."
        )
    return _count("grid", pair[0], 1, shape[0]), _count("grid", pair[1], 1, shape[1])


def sparse_noise(size: Size, grid: int | tuple[int, int], seed: int,
                 n_on: int = 1) -> tuple[np.ndarray, list[SparseCell]]:
    """A sparse-noise frame: ``n_on`` white or black grid cells on mean grey.

    Parameters
    ----------
    size : int or (int, int)
        Square side or ``(height, width)`` in pixels.
    grid : int or (int, int)
        Cells per side, or ``(rows, cols)``; each at least 1 and at most the pixels.
    seed : int
        Seed of the :class:`numpy.random.Generator` (>= 0).
    n_on : int
        Number of distinct cells lit, from 1 to the number of cells.

    Returns
    -------
    image : numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``: 1.0 in ``+1`` cells, 0.0 in ``-1`` cells.
    cells : list of SparseCell
        The lit cells in row-major order, with their sign and pixel slices.
    """
    shape = _shape(size)
    gy, gx = _grid(grid, shape)
    n_on = _count("n_on", n_on, 1, gy * gx)
    rng = np.random.default_rng(_count("seed", seed))
    chosen = np.sort(rng.choice(gy * gx, size=n_on, replace=False))
    signs = rng.choice((-1, 1), size=n_on)
    gray = np.full(shape, 0.5)
    cells = []
    for index, sign in zip(chosen, signs):
        row, col = divmod(int(index), gx)
        rows, cols = grid_cell(shape, (gy, gx), row, col)
        gray[rows, cols] = 0.5 + 0.5 * sign
        cells.append(SparseCell(row, col, int(sign), rows, cols))
    return _rgb(gray), cells


def white_noise(size: Size, seed: int, kind: str = "uniform", color: bool = False,
                contrast: float = 1.0, block_px: int = 1) -> np.ndarray:
    """Spatial white noise, grey or coloured.

    Parameters
    ----------
    size : int or (int, int)
        Square side or ``(height, width)`` in pixels.
    seed : int
        Seed of the :class:`numpy.random.Generator` (>= 0).
    kind : {"uniform", "binary"}
        Values uniform in [0, 1), or 0 and 1 with equal chance.  Mean 0.5 either way.
    color : bool
        Independent noise per channel if True, the same grey in all three if False.
    contrast : float
        In [0, 1]; values are ``0.5 + contrast * (v - 0.5)``.
    block_px : int
        Side of the square blocks that share one value (1 = per pixel).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``.
    """
    h, w = _shape(size)
    if not isinstance(kind, str) or kind not in ("uniform", "binary"):
        raise UnitscopeError(
            f"Stimulus parameter 'kind' must be 'uniform' or 'binary', got {kind!r}."
        )
    if not isinstance(color, (bool, np.bool_, Integral)):
        raise UnitscopeError(f"Stimulus parameter 'color' must be True or False, got {color!r}.")
    contrast = _number("contrast", contrast, 0, 1)
    # A block larger than the image is the whole image; clamping keeps np.repeat small.
    block = min(_count("block_px", block_px, 1), max(h, w))
    rng = np.random.default_rng(_count("seed", seed))
    coarse = (-(-h // block), -(-w // block), 3 if color else 1)
    values = rng.random(coarse) if kind == "uniform" else rng.integers(0, 2, coarse).astype(float)
    values = np.repeat(np.repeat(values, block, axis=0), block, axis=1)[:h, :w]
    values = np.clip(0.5 + contrast * (values - 0.5), 0.0, 1.0).astype(np.float32)
    return values if color else np.repeat(values, 3, axis=2)


def hue_direction(hue_deg: float) -> np.ndarray:
    """The RGB offset from grey of hue ``hue_deg`` at full saturation, shape ``(3,)``.

    Hues lie on the circle of RGB offsets orthogonal to grey ``(1, 1, 1)``, so every hue
    has the same mean over the three channels: 0 is red ``(2, -1, -1)``, 120 green, 240
    blue.  The circle is scaled so the largest component reaches 1 at some hue: grey plus
    half the offset stays in [0, 1].
    """
    h = math.radians(_number("hue_deg", hue_deg))
    e1 = np.array([2.0, -1.0, -1.0]) / math.sqrt(6)
    e2 = np.array([0.0, 1.0, -1.0]) / math.sqrt(2)
    return (math.cos(h) * e1 + math.sin(h) * e2) / math.sqrt(2 / 3)


def hue_disc(size: Size, hue_deg: float, saturation: float = 1.0, radius_px: float = 0.0,
             center: tuple[float, float] | None = None) -> np.ndarray:
    """A disc of one hue on mean grey (``radius_px = 0``: the whole image).

    The colour is ``0.5 + 0.5 * saturation * hue_direction(hue_deg)``: equal mean over the
    channels for every hue (equal-energy isoluminance in RGB), saturation in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)``.
    """
    shape = _shape(size)
    saturation = _number("saturation", saturation, 0, 1)
    radius = _number("radius_px", radius_px, lo=0, hi=MAX_EXTENT)
    colour = 0.5 + 0.5 * saturation * hue_direction(hue_deg)
    y, x = _coords(shape, center)
    inside = np.ones(shape, bool) if radius == 0 else (x**2 + y**2 <= radius**2)
    image = np.where(inside[:, :, None], colour[None, None, :], 0.5)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# --- registry and conversion ---------------------------------------------------------


def _side(size: Size) -> int:
    return min(_shape(size))


PROCEDURAL: dict[str, Callable[[Size], np.ndarray]] = {
    "grating": lambda size: sine_grating(size, 0.0, 4.0),
    "gabor": lambda size: gabor_patch(size, 0.0, 4.0, sigma_px=max(_side(size) / 8, 1.0)),
    "bar": lambda size: bar(size, 0.0, max(0.6 * _side(size), 1.0), max(0.08 * _side(size), 1.0)),
    "dots": lambda size: dots(size, 20, max(_side(size) / 40, 1.0), seed=0),
    "sparse noise": lambda size: sparse_noise(size, min(8, _side(size)), seed=0)[0],
    "white noise": lambda size: white_noise(size, seed=0),
}
"""Procedural stimuli by display name: ``f(size) -> (H, W, 3) float32`` with defaults."""


def to_pil(array: np.ndarray) -> Image.Image:
    """Convert a stimulus array to an 8-bit RGB Pillow image.

    Parameters
    ----------
    array : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W)`` floats in [0, 1] (clipped, rounded to nearest), or
        ``uint8`` values used as they are.

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"``; 0.5 becomes 128.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise UnitscopeError(f"Stimulus array must have shape (H, W, 3), got {array.shape}.")
    if array.dtype != np.uint8:
        if not np.all(np.isfinite(array)):
            raise UnitscopeError("Stimulus array holds NaN or infinite values.")
        array = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))
