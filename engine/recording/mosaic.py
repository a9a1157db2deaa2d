"""One layer's output as a single tiled uint8 image, ready for a 256-entry lookup table.

Normalisation and tiling run with torch on the tensor's own device (GPU when the
recording ran there); only the finished uint8 mosaic is copied to the host.
:func:`display_values` does all of it for one recorded output in the engine thread -- the
mosaic of every normalisation the window offers (:data:`MOSAIC_VARIANTS`), the display
values as NumPy and the most active channel -- so that the window runs no torch.

Mapping to 0..255 rounds half up: a value ``v`` in ``[lo, hi]`` becomes
``floor((v - lo) * 255 / (hi - lo) + 0.5)``.  With ``symmetric=True`` the range is
``[-a, a]`` with ``a = max |x|``, so zero maps to exactly 127.5 and rounds to **128**.
A channel with no range (``hi == lo``, or ``a == 0`` when symmetric) is drawn 0, or 128
when symmetric.  A constant non-zero channel under ``symmetric=True`` has ``a = |c|``
and so shows its sign at full strength (0 or 255), which is what a diverging map means.
NaN counts as 0 and +-inf are clipped to the channel's finite range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.errors import UnitscopeError
from engine.recording.unit import token_grid

NORMALIZE_MODES = ("channel", "shared")
LAYOUTS = ("auto", "nchw", "nhwc")

#: A mosaic's normalisation: ``(normalize, symmetric)``.
MosaicKey = tuple[str, bool]
#: Every normalisation the feature-map panel offers: per channel or shared, each plain
#: (sequential colormaps) and symmetric about zero (diverging colormaps).
MOSAIC_VARIANTS: tuple[MosaicKey, ...] = tuple((mode, symmetric) for mode in NORMALIZE_MODES
                                               for symmetric in (False, True))


@dataclass(frozen=True)
class Mosaic:
    """A tiled image of all channels of one feature map, row-major.

    Attributes
    ----------
    image : ndarray of uint8
        Shape ``(rows * (tile_h + gap) - gap, cols * (tile_w + gap) - gap)``; channel
        ``c`` sits in tile row ``c // cols`` and tile column ``c % cols``.
    rows, cols, tile_h, tile_w, gap, n_channels : int
        Layout of the tiles.
    vmin, vmax : ndarray of float, shape (n_channels,)
        The data values drawn as 0 and 255 in each channel (equal for all channels
        when normalisation is shared).
    value_range : tuple of float
        Minimum and maximum of the raw data (NaN as 0, infinities left out).
    """

    image: np.ndarray
    rows: int
    cols: int
    tile_h: int
    tile_w: int
    gap: int
    n_channels: int
    vmin: np.ndarray
    vmax: np.ndarray
    value_range: tuple[float, float]

    def channel_at(self, y: float, x: float) -> int | None:
        """The channel drawn at image pixel ``(y, x)``; None on a gap or off the tiles."""
        if y < 0 or x < 0:
            return None
        row, dy = divmod(int(y), self.tile_h + self.gap)
        col, dx = divmod(int(x), self.tile_w + self.gap)
        if dy >= self.tile_h or dx >= self.tile_w or row >= self.rows or col >= self.cols:
            return None
        channel = row * self.cols + col
        return channel if channel < self.n_channels else None

    def tile_origin(self, channel: int) -> tuple[int, int]:
        """Image pixel ``(y0, x0)`` of the top-left corner of ``channel``'s tile."""
        if not 0 <= channel < self.n_channels:
            raise IndexError(f"channel {channel} is not in 0..{self.n_channels - 1}")
        row, col = divmod(channel, self.cols)
        return row * (self.tile_h + self.gap), col * (self.tile_w + self.gap)


def _as_tensor(data: Any) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data.detach()
    arr = np.asarray(data)
    if not arr.flags.writeable:  # torch warns on read-only arrays
        arr = arr.copy()
    return torch.as_tensor(arr)


def _channel_ranges(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel (lo, hi) of a (C, N) float tensor, and ``x`` made finite and in range."""
    lo, hi = x.amin(dim=1), x.amax(dim=1)  # both propagate NaN, so they tell us
    if bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
        return lo, hi, x
    finite = torch.isfinite(x)
    lo = torch.where(finite, x, math.inf).amin(dim=1)
    hi = torch.where(finite, x, -math.inf).amax(dim=1)
    has_nan = torch.isnan(x).any(dim=1)
    zero = torch.zeros_like(lo)
    lo = torch.where(has_nan, torch.minimum(lo, zero), lo)
    hi = torch.where(has_nan, torch.maximum(hi, zero), hi)
    empty = lo > hi  # only infinities in the channel
    lo, hi = torch.where(empty, zero, lo), torch.where(empty, zero, hi)
    x = torch.nan_to_num(x, nan=0.0).clamp(lo[:, None], hi[:, None])
    return lo, hi, x


def default_cols(n_channels: int, tile_h: int, tile_w: int) -> int:
    """Tile columns that make the mosaic roughly square in pixels."""
    return max(1, min(n_channels, math.ceil(math.sqrt(n_channels * tile_h / tile_w))))


def _check_options(normalize: str, gap: int, pad_value: int) -> None:
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, not {normalize!r}")
    if gap < 0 or not 0 <= pad_value <= 255:
        raise ValueError("gap must be >= 0 and pad_value in 0..255")


def _as_maps(fmap: Any) -> torch.Tensor:
    """``fmap`` as a float (C, H, W) tensor on its own device; (H, W) is one channel."""
    t = _as_tensor(fmap)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.numel() == 0:
        raise UnitscopeError(f"A feature map of shape {tuple(t.shape)} cannot be tiled; "
                             "expected (channels, height, width) with none empty.")
    if t.dtype != torch.float32 and t.dtype != torch.float64:
        t = t.float()
    return t


def _tiled(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, shape: tuple[int, int, int],
           normalize: str, symmetric: bool, gap: int, cols: int, pad_value: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The uint8 mosaic of (C, N) finite ``x`` with channel ranges ``lo``, ``hi``, and its vmin, vmax."""
    n, h, w = shape
    if symmetric:
        hi = torch.maximum(lo.abs(), hi.abs())
        if normalize == "shared":
            hi = hi.max().expand(n)
        lo = -hi
        scale = torch.where(hi > 0, 127.5 / hi, 0.0)
        offset = torch.full_like(scale, 128.0)  # 127.5, plus 0.5 to round by truncation
    else:
        if normalize == "shared":
            lo, hi = lo.min().expand(n), hi.max().expand(n)
        scale = 255.0 / (hi - lo)
        scale = torch.where(torch.isfinite(scale) & (hi > lo), scale, 0.0)
        offset = 0.5 - lo * scale
    scaled = torch.addcmul(offset[:, None], x, scale[:, None]).clamp_(0.0, 255.0)
    tiles = scaled.to(torch.uint8).view(n, h, w)

    rows = math.ceil(n / cols)
    canvas = torch.full((rows * (h + gap), cols * (w + gap)), pad_value, dtype=torch.uint8,
                        device=tiles.device)
    grid = canvas.view(rows, h + gap, cols, w + gap)
    full = n // cols
    if full:
        grid[:full, :h, :, :w] = tiles[:full * cols].view(full, cols, h, w).permute(0, 2, 1, 3)
    rest = n - full * cols
    if rest:
        grid[full, :h, :rest, :w] = tiles[full * cols:].permute(1, 0, 2)
    return canvas[:rows * (h + gap) - gap, :cols * (w + gap) - gap], lo, hi


def make_mosaics(fmap: Any, variants: tuple[MosaicKey, ...] = MOSAIC_VARIANTS, gap: int = 1,
                 cols: int | None = None, pad_value: int = 0) -> dict[MosaicKey, Mosaic]:
    """Several normalisations of one feature map, each as :func:`make_mosaic` makes it.

    The channel ranges are found once, every mosaic is built on the tensor's own device,
    and all images and ranges come to the host in one copy each.

    Parameters
    ----------
    fmap : Tensor or array-like, shape (C, H, W) or (H, W)
        As for :func:`make_mosaic`.
    variants : tuple of (normalize, symmetric)
        The mosaics wanted; by default all of :data:`MOSAIC_VARIANTS`.
    gap, cols, pad_value
        As for :func:`make_mosaic`, the same for every variant.

    Returns
    -------
    dict
        ``{(normalize, symmetric): Mosaic}``; ``make_mosaics(f)[(n, s)]`` is pixel for pixel
        ``make_mosaic(f, normalize=n, symmetric=s)``.
    """
    variants = tuple((str(normalize), bool(symmetric)) for normalize, symmetric in variants)
    for normalize, _ in variants:
        _check_options(normalize, gap, pad_value)
    if not variants:
        return {}
    t = _as_maps(fmap)
    n, h, w = t.shape
    x = t.reshape(n, h * w)
    lo, hi, x = _channel_ranges(x)
    cols = default_cols(n, h, w) if cols is None else max(1, min(int(cols), n))
    rows = math.ceil(n / cols)
    images, ranges = [], [torch.stack([lo.min(), hi.max()]).double()]
    for normalize, symmetric in variants:
        image, vmin, vmax = _tiled(x, lo, hi, (n, h, w), normalize, symmetric, gap, cols, pad_value)
        images.append(image)
        ranges += [vmin.double(), vmax.double()]
    on_host = torch.stack(images).cpu().numpy()
    limits = torch.cat(ranges).cpu().numpy()
    value_range = (float(limits[0]), float(limits[1]))
    mosaics = {}
    for i, key in enumerate(variants):
        start = 2 + 2 * i * n
        mosaics[key] = Mosaic(image=on_host[i], rows=rows, cols=cols, tile_h=h, tile_w=w, gap=gap,
                              n_channels=n, vmin=limits[start:start + n].copy(),
                              vmax=limits[start + n:start + 2 * n].copy(), value_range=value_range)
    return mosaics


def make_mosaic(fmap: Any, normalize: str = "channel", symmetric: bool = False, gap: int = 1,
                cols: int | None = None, pad_value: int = 0) -> Mosaic:
    """Normalise every channel of a feature map to 0..255 and tile them into one image.

    Parameters
    ----------
    fmap : Tensor or array-like, shape (C, H, W) or (H, W)
        One sample's feature maps, on any device; (H, W) is one channel.
    normalize : {"channel", "shared"}
        Stretch each channel's own range, or one range over all channels.
    symmetric : bool
        Map ``[-a, a]`` (``a = max |x|``) instead of ``[min, max]``, so zero is mid-grey
        (128) under a diverging colormap.
    gap : int
        Pixels between tiles.
    cols : int, optional
        Tile columns (at most C); by default :func:`default_cols`.
    pad_value : int
        Value (0..255) of gap pixels and of empty tiles after the last channel.

    Returns
    -------
    Mosaic
        The uint8 image and its layout.
    """
    _check_options(normalize, gap, pad_value)
    key = (normalize, bool(symmetric))
    return make_mosaics(fmap, (key,), gap=gap, cols=cols, pad_value=pad_value)[key]


def to_channels(output: Any, layout: str = "auto") -> tuple[str, torch.Tensor]:
    """Turn what a layer returned into something to display, for the first sample.

    Parameters
    ----------
    output : Tensor, ndarray, tuple, list or dict
        A layer's output with a batch dimension first.  For a tuple, list or dict the
        first tensor in it is used.
    layout : {"auto", "nchw", "nhwc"}
        How to read a 4-D output.  ``"auto"`` takes (N, H, W, C) -- as Swin
        transformers return -- when dims 1 and 2 are equal and dim 3 is larger
        than both, and (N, C, H, W) otherwise.  This can misread an
        NCHW map whose channel count equals its height on a non-square input; pass the
        layout then.

    Returns
    -------
    kind : {"maps", "tokens", "vector"}
        ``"maps"``: (C, H, W).  ``"tokens"``: a 3-D (N, T, D) output as (D, s, s) when
        T or T - 1 is a square (the leading class token is dropped), else (D, 1, T).
        ``"vector"``: a 2-D (N, D) output as (D,).
    tensor : Tensor
        A view of the first sample on the output's device, not a copy.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, tuple | list):
        first = next((o for o in output if isinstance(o, torch.Tensor | np.ndarray)), None)
        if first is None:
            raise UnitscopeError("The layer returned no tensor to display.")
        output = first
    t = _as_tensor(output)
    if t.ndim < 2 or t.ndim > 4 or t.shape[0] == 0:
        raise UnitscopeError(f"A layer output of shape {tuple(t.shape)} cannot be displayed; "
                             "expected (N, C, H, W), (N, H, W, C), (N, T, D) or (N, D).")
    sample = t[0]
    if t.ndim == 2:
        return "vector", sample
    if t.ndim == 3:
        tokens, dim = sample.shape
        skip, grid = token_grid(tokens)
        return "tokens", sample[skip:].transpose(0, 1).reshape(dim, *grid)
    _, d1, d2, d3 = t.shape
    if layout == "auto":
        layout = "nhwc" if d1 == d2 and d3 > d1 else "nchw"
    return "maps", sample.permute(2, 0, 1) if layout == "nhwc" else sample


@dataclass(frozen=True)
class DisplayValues:
    """One stimulus' layer output made ready to show, with no torch in it.

    Attributes
    ----------
    kind : {"maps", "tokens", "vector"}
        What :func:`to_channels` found.
    values : ndarray of float32 (float64 when the output was), on the host
        The display channels: (C, H, W) for maps and token grids, (D,) for a vector.
    mosaics : dict
        ``{(normalize, symmetric): Mosaic}`` for every key of :data:`MOSAIC_VARIANTS`;
        empty for a vector.
    top_channel : int or None
        The channel with the largest mean (NaN counted as 0, infinities as the largest
        finite floats); None when there are no channels.
    """

    kind: str
    values: np.ndarray
    mosaics: dict
    top_channel: int | None


def _display_channels(output: Any, layout: str) -> tuple[str, torch.Tensor]:
    """(kind, channels) of one stimulus' output; a 4-D output is a batch (first sample shown)."""
    if isinstance(output, tuple | list | dict):
        return to_channels(output)
    if output.ndim <= 3:
        return to_channels(output[None], layout=layout)
    return to_channels(output, layout=layout)


def _host_array(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.dtype != torch.float32 and t.dtype != torch.float64:
        t = t.float()
    return t.cpu().numpy()


def top_channel(channels: torch.Tensor) -> int | None:
    """The channel of ``channels`` (C, ...) with the largest mean; NaN counts as 0."""
    if channels.shape[0] == 0:
        return None
    return int(channels.reshape(channels.shape[0], -1).float().nan_to_num().mean(dim=1).argmax())


def display_values(output: Any, layout: str = "nchw", host: Any = None, gap: int = 1,
                   pad_value: int = 0) -> DisplayValues:
    """What the feature-map panel and the unit view show for one stimulus' output.

    Runs where the output is: the mosaics are normalised and tiled on its device and only
    the uint8 images, the ranges and the display values come to the host.  This is the
    engine's work (the engine thread calls it from :meth:`engine.session.session.Session.record`);
    the window only paints what it returns.

    Parameters
    ----------
    output : Tensor, ndarray, tuple, list or dict
        One stimulus' output without its batch dimension: (C, H, W) maps, (T, D) tokens
        (shown as the D channels of the token grid, see :func:`to_channels`) or a (D,)
        vector.  A 4-D output is taken as a batch and its first sample is shown; a
        container is read as :func:`to_channels` reads it.
    layout : {"nchw", "nhwc", "auto"}
        How to read a 3-D ``output``: (C, H, W) unless told otherwise.
    host : Tensor or ndarray, optional
        ``output`` already copied to the host (same shape), to take the values from without
        a second copy.
    gap, pad_value
        As for :func:`make_mosaic`.
    """
    kind, shown = _display_channels(output, layout)
    on_host = shown if host is None else _display_channels(host, layout)[1]
    if tuple(on_host.shape) != tuple(shown.shape):
        raise ValueError(f"host has shape {tuple(on_host.shape)}, not {tuple(shown.shape)}")
    mosaics = {} if kind == "vector" else make_mosaics(shown, gap=gap, pad_value=pad_value)
    return DisplayValues(kind=kind, values=_host_array(on_host), mosaics=mosaics,
                         top_channel=top_channel(shown))
