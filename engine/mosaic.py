"""One layer's output as a single tiled uint8 image, ready for a 256-entry lookup table.

Normalisation and tiling run with torch on the tensor's own device (GPU when the
recording ran there); only the finished uint8 mosaic is copied to the host.

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

NORMALIZE_MODES = ("channel", "shared")
LAYOUTS = ("auto", "nchw", "nhwc")


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
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, not {normalize!r}")
    if gap < 0 or not 0 <= pad_value <= 255:
        raise ValueError("gap must be >= 0 and pad_value in 0..255")
    t = _as_tensor(fmap)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.numel() == 0:
        raise UnitscopeError(f"A feature map of shape {tuple(t.shape)} cannot be tiled; "
                             "expected (channels, height, width) with none empty.")
    n, h, w = t.shape
    if t.dtype != torch.float32 and t.dtype != torch.float64:
        t = t.float()
    x = t.reshape(n, h * w)
    lo, hi, x = _channel_ranges(x)
    value_range = (float(lo.min()), float(hi.max()))
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

    cols = default_cols(n, h, w) if cols is None else max(1, min(int(cols), n))
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
    image = canvas[:rows * (h + gap) - gap, :cols * (w + gap) - gap]
    return Mosaic(image=np.ascontiguousarray(image.cpu().numpy()), rows=rows, cols=cols,
                  tile_h=h, tile_w=w, gap=gap, n_channels=n,
                  vmin=lo.double().cpu().numpy(), vmax=hi.double().cpu().numpy(),
                  value_range=value_range)


def _square_side(n: int) -> int | None:
    if n <= 0:
        return None
    side = math.isqrt(n)
    return side if side * side == n else None


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
        side = _square_side(tokens)
        if side is None and (side := _square_side(tokens - 1)) is not None:
            sample = sample[1:]
        grid = (side, side) if side is not None else (1, tokens)
        return "tokens", sample.transpose(0, 1).reshape(dim, *grid)
    _, d1, d2, d3 = t.shape
    if layout == "auto":
        layout = "nhwc" if d1 == d2 and d3 > d1 else "nchw"
    return "maps", sample.permute(2, 0, 1) if layout == "nhwc" else sample
