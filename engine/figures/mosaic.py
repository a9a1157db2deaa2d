"""The feature-map mosaic: every (or a chosen) channel of a layer, numbered, with a colour bar.

The maps are tiled into one RGB image, one image pixel per unit (repeated nearest-neighbour
to 300 pixels per inch when printed; the sidecar keeps the native values); white gaps
between tiles leave room for the channel numbers.  Values map to
0..255 as in the window (:mod:`engine.recording.mosaic`): ``floor((v - lo) * 255 / (hi - lo)
+ 0.5)``, NaN as 0, with ``lo, hi`` the channel's range (``scale="channel"``) or the range
of all channels drawn (``"shared"``); diverging colour maps use ``[-a, a]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.figures.style import DIVERGING, FigureOptions, colorbar, fmt, label_of
GAP_COLOR = (255, 255, 255)


@dataclass(frozen=True)
class Tiles:
    """The mosaic image and where each channel sits.

    Attributes
    ----------
    index : ndarray of uint8, shape (rows * (h + gap_y) - gap_y, cols * (w + gap_x) - gap_x)
        Colour-map index of every pixel (gap pixels 0, see ``mask``).
    mask : ndarray of bool
        True on tile pixels, False on gaps and empty tiles.
    channels : list of int
        The channel drawn in each tile, row-major.
    lo, hi : ndarray of float
        The values drawn as index 0 and 255 in each tile.
    """

    index: np.ndarray
    mask: np.ndarray
    channels: list[int]
    rows: int
    cols: int
    tile_h: int
    tile_w: int
    gap_y: int
    gap_x: int
    lo: np.ndarray
    hi: np.ndarray

    def origin(self, i: int) -> tuple[int, int]:
        """Pixel (y0, x0) of the top-left corner of tile ``i``."""
        row, col = divmod(i, self.cols)
        return row * (self.tile_h + self.gap_y), col * (self.tile_w + self.gap_x)

    def rgb(self, lut: np.ndarray) -> np.ndarray:
        """The mosaic through a (256, 3) uint8 lookup table, gaps white."""
        image = lut[self.index]
        image[~self.mask] = GAP_COLOR
        return image


def choose_channels(values: np.ndarray, channels=(), top_n: int = 0, ids=None) -> list[int]:
    """Rows of ``values`` drawn: ``channels`` (numbers as in ``ids``), the ``top_n`` with the largest
    mean, or all."""
    n = values.shape[0]
    ids = list(ids) if ids else list(range(n))
    if channels:
        bad = [c for c in channels if int(c) not in ids]
        if bad:
            raise UnitscopeError(f"Channel(s) {', '.join(map(str, bad))} not in this layer "
                                 f"({n} channels: {ids[0]}..{ids[-1]}).")
        return [ids.index(int(c)) for c in channels]
    if top_n:
        means = np.nan_to_num(values.reshape(n, -1).astype(np.float64)).mean(axis=1)
        return [int(c) for c in np.argsort(-means, kind="stable")[:min(int(top_n), n)]]
    return list(range(n))


def channel_ranges(maps: np.ndarray, scale: str, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per channel of (C, H, W) ``maps`` as the mosaic draws them (NaN as 0, inf left out)."""
    flat = maps.reshape(maps.shape[0], -1).astype(np.float64)
    finite = np.where(np.isfinite(flat), flat, np.nan)
    finite = np.where(np.isnan(flat), 0.0, finite)
    lo, hi = np.nanmin(finite, axis=1), np.nanmax(finite, axis=1)
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    if scale == "shared":
        lo, hi = np.full_like(lo, lo.min()), np.full_like(hi, hi.max())
    if symmetric:
        a = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -a, a
    return lo, hi


def to_index(maps: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(C, H, W) values as uint8 colour-map indices, rounding half up; a flat channel is 0."""
    x = np.nan_to_num(maps.astype(np.float64), nan=0.0)
    x = np.clip(x, lo[:, None, None], hi[:, None, None])
    span = hi - lo
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
    return np.floor((x - lo[:, None, None]) * scale[:, None, None] + 0.5).clip(0, 255).astype(np.uint8)


def tile(values: np.ndarray, channels: list[int], scale: str = "shared", symmetric: bool = False,
         cols: int | None = None, gap_y: int = 1, gap_x: int = 1) -> Tiles:
    """Tile ``values[channels]`` ((C, H, W)) into one index image with gaps."""
    maps = np.asarray(values)[channels]
    n, h, w = maps.shape
    cols = max(1, min(n, cols or math.ceil(math.sqrt(n * h / w))))
    rows = math.ceil(n / cols)
    lo, hi = channel_ranges(maps, scale, symmetric)
    index_tiles = to_index(maps, lo, hi)
    shape = (rows * (h + gap_y) - gap_y, cols * (w + gap_x) - gap_x)
    index, mask = np.zeros(shape, np.uint8), np.zeros(shape, bool)
    out = Tiles(index, mask, list(channels), rows, cols, h, w, gap_y, gap_x, lo, hi)
    for i in range(n):
        y0, x0 = out.origin(i)
        index[y0:y0 + h, x0:x0 + w] = index_tiles[i]
        mask[y0:y0 + h, x0:x0 + w] = True
    return out


def lookup_table(cmap_name: str) -> np.ndarray:
    """The (256, 3) uint8 colours of a matplotlib colour map."""
    from matplotlib import colormaps

    try:
        cmap = colormaps[cmap_name].resampled(256)
    except KeyError:
        raise UnitscopeError(f"Unknown colour map '{cmap_name}'.") from None
    return np.round(cmap(np.arange(256))[:, :3] * 255).astype(np.uint8)


def maps_of(data: FigureData) -> np.ndarray:
    """The (C, H, W) maps of a mosaic figure's data (a vector is C maps of 1 x 1)."""
    values = data.array("values")
    if values.ndim == 1:
        values = values[:, None, None]
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3 or values.size == 0:
        raise UnitscopeError(f"Feature maps of shape {values.shape} cannot be tiled; expected (C, H, W).")
    return values


def _layout(options: FigureOptions, n: int, h: int, w: int) -> tuple[int, int, float, bool]:
    """Columns, row gap in pixels, the figure's height in inches, and whether every tile is numbered
    (else each row of tiles is, at its left)."""
    width_in = options.width_in - 0.75  # colour bar and margins
    base = math.ceil(math.sqrt(n * h / w))
    even = [c for c in range(max(1, base - 1), base + 3) if n % c == 0]  # no half-empty last row
    cols = max(1, min(n, min(even, key=lambda c: abs(c - base)) if even else base))
    tile_in = width_in / cols
    label_in = options.small / 72 * 1.35
    per_tile = tile_in >= options.small / 72 * 2.2  # room for a 3-digit number
    px = tile_in / (w + 1)
    gap_y = max(1, math.ceil(label_in / px)) if per_tile else 1
    rows = math.ceil(n / cols)
    height = (rows * (h + gap_y) + gap_y) * px + 0.3
    return cols, gap_y if per_tile else 1, min(height, 9.5), per_tile


def draw(fig, data: FigureData, options: FigureOptions) -> Tiles:
    """Draw the mosaic of ``data`` into ``fig`` (sized by :func:`figure_height`)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values = maps_of(data)
    ids = data.meta.get("channel_ids") or list(range(values.shape[0]))
    channels = choose_channels(values, options.channels, options.top_n, ids)
    n, h, w = len(channels), values.shape[1], values.shape[2]
    symmetric = options.cmap in DIVERGING
    cols, gap_y, _, per_tile = _layout(options, n, h, w)
    tiles = tile(values, channels, options.scale, symmetric, cols, gap_y=gap_y, gap_x=1)
    ax = fig.add_subplot()
    ax.imshow(tiles.rgb(lookup_table(options.cmap)), interpolation="none", resample=False,
              extent=(-0.5, tiles.index.shape[1] - 0.5, tiles.index.shape[0] - 0.5, -0.5))
    ax.set_axis_off()
    ax.set_ylim(tiles.index.shape[0] - 0.5, -0.5 - (gap_y if per_tile else 0))  # room for row 0's numbers
    labels = [ids[c] for c in channels]
    if per_tile:
        for i, label in enumerate(labels):
            y0, x0 = tiles.origin(i)
            ax.text(x0 - 0.5, y0 - 0.5 - gap_y * 0.1, str(label), fontsize=options.small,
                    ha="left", va="bottom")
    else:
        for row in range(tiles.rows):
            first = row * tiles.cols
            last = min(first + tiles.cols, n) - 1
            y0, _ = tiles.origin(first)
            text = str(labels[first]) if first == last else f"{labels[first]}\u2013{labels[last]}"
            if labels[first:last + 1] != list(range(labels[first], labels[first] + last - first + 1)):
                text = str(labels[first])
            ax.text(-1.5, y0 + h / 2, text, fontsize=options.small, ha="right", va="center")
    lo_all, hi_all = float(np.min(tiles.lo)), float(np.max(tiles.hi))
    quantity = data.meta.get("units") or "activation (a.u.)"
    if options.scale == "shared":
        mappable = ScalarMappable(Normalize(lo_all, hi_all), colormaps[options.cmap])
        colorbar(fig, mappable, ax, quantity, options, shrink=0.6, aspect=25, pad=0.02)
    else:
        mappable = ScalarMappable(Normalize(0, 1), colormaps[options.cmap])
        bar = colorbar(fig, mappable, ax, f"{quantity}, each channel's range", options, shrink=0.6, aspect=25,
                       pad=0.02)
        bar.set_ticks([0, 1], labels=["\u2212max|x|", "+max|x|"] if symmetric else ["min", "max"])
    return tiles


def _stride(data: FigureData, h: int, w: int) -> str:
    """The map's stride in input pixels, when the input size is known."""
    import re

    size = data.meta.get("input_size")
    if not size:
        crop = re.search(r"crop_size=\[(\d+)\]", str(data.provenance.get("preprocessing", "")))
        size = [int(crop.group(1))] * 2 if crop else None
    if not size or h > size[0]:
        return ""
    sy, sx = size[0] / h, size[1] / w
    stride = fmt(sy) if abs(sy - sx) < 1e-9 else f"{fmt(sy)} \u00d7 {fmt(sx)}"
    return f"; a map pixel is {stride} input pixels apart (stride {stride}, {size[0]} \u00d7 {size[1]} input)"


def caption(data: FigureData, options: FigureOptions) -> str:
    values = maps_of(data)
    ids = data.meta.get("channel_ids") or list(range(values.shape[0]))
    channels = choose_channels(values, options.channels, options.top_n, ids)
    n, h, w = len(channels), values.shape[1], values.shape[2]
    raw = values[channels].astype(np.float64)
    raw = raw[np.isfinite(raw)]
    lo, hi = (float(raw.min()), float(raw.max())) if raw.size else (0.0, 0.0)
    shown = (f"the {n} of {values.shape[0]} channels with the largest mean response" if options.top_n
             and not options.channels else f"{n} of {values.shape[0]} channels")
    layer = data.meta.get("layer", "")
    stimulus = label_of(data.meta.get("stimulus", ""))
    scale = ("one colour scale for all channels drawn" if options.scale == "shared"
             else "each channel stretched to its own range")
    centred = "; the colour map is centred on 0" if options.cmap in DIVERGING else ""
    return (f"Feature maps of {layer} in {data.model_label()}" + (f" for the image {stimulus}" if stimulus else "")
            + f": {shown}, each {h} \u00d7 {w} units, numbered by channel{_stride(data, h, w)}. "
            f"Values {fmt(lo)} to {fmt(hi)}; {scale}{centred}.")


def figure_height(data: FigureData, options: FigureOptions) -> float:
    values = maps_of(data)
    n = len(options.channels) or (min(options.top_n, values.shape[0]) if options.top_n else values.shape[0])
    return _layout(options, n, values.shape[1], values.shape[2])[2]
