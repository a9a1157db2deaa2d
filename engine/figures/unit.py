"""One channel: the input with the receptive field of the chosen unit, the channel's map with
the unit marked, the histogram of its values and its kernels."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.receptive_field import add_box, bar_spacer
from engine.figures.style import (
    ACCENT,
    LINE_COLORS,
    NARROW_MM,
    FigureOptions,
    colorbar,
    diverging,
    fmt,
    image_axes,
    label_of,
    panel_letter,
    scale_bar,
)


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in + 0.6
    return options.width_in / (4 if "weights" in data.arrays else 3) + 0.8


def _kernel_image(weights: np.ndarray) -> tuple[np.ndarray, str]:
    """A channel's kernels (in, kh, kw) as one picture: RGB for 3 inputs, else the mean over inputs."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape[0] == 3:
        a = np.abs(w).max() or 1.0
        rgb = "its three input channels as red, green and blue, mid-grey = 0"
        return np.transpose(w / (2 * a) + 0.5, (1, 2, 0)), rgb
    return w.mean(axis=0), f"the mean over its {w.shape[0]} input channels, on a diverging map centred on 0"


def _stride(data: FigureData) -> float | None:
    if "input_image" not in data.arrays:
        return None
    return data.array("input_image").shape[1] / data.array("map").shape[1]


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from engine.figures.style import DIVERGING

    has_weights = "weights" in data.arrays
    if options.width_mm < NARROW_MM:
        axes = list(fig.subplots(2, 2).flat)
        if not has_weights:
            fig.delaxes(axes.pop())
    else:
        axes = list(fig.subplots(1, 4 if has_weights else 3))
    channel_map = data.array("map")
    position = data.meta.get("position")
    ax = axes[0]
    if "input_image" in data.arrays:
        ax.imshow(data.array("input_image"), interpolation="none", resample=False)
        add_box(ax, data.meta.get("rf_box"), ACCENT, "-", "receptive field")
    image_axes(ax, "input")
    if "input_image" in data.arrays:
        scale_bar(ax, data.array("input_image").shape[1], options)
    bar_spacer(fig, ax)
    ax = axes[1]
    finite = channel_map[np.isfinite(channel_map)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if options.cmap in DIVERGING:
        a = max(abs(lo), abs(hi)) or 1.0
        lo, hi = -a, a
    image = ax.imshow(channel_map, cmap=colormaps[options.cmap], norm=Normalize(lo, hi if hi > lo else lo + 1),
                      interpolation="none", resample=False)
    if position is not None:
        y, x = position
        add_box(ax, (y, x, y, x), ACCENT, "-", "unit")
    colorbar(fig, image, ax, "activation (a.u.)", options, location="bottom", shrink=0.9, aspect=15, pad=0.03)
    image_axes(ax, "feature map")
    stride = _stride(data)
    scale_bar(ax, channel_map.shape[1], options, per_unit=stride or 1.0, unit="px" if stride else "units")
    ax = axes[2]
    ax.hist(finite, bins=40, color=LINE_COLORS[0], edgecolor="none")
    if position is not None:
        ax.axvline(channel_map[position[0], position[1]], color=ACCENT, lw=0.8)
    ax.set_xlabel("activation (a.u.)")
    ax.set_ylabel("units")
    ax.set_box_aspect(1)
    ax.set_title("values")
    if has_weights:
        picture, _what = _kernel_image(data.array("weights"))
        ax = axes[3]
        if picture.ndim == 3:
            ax.imshow(picture, interpolation="none", resample=False)
            bar_spacer(fig, ax)
        else:
            a = float(np.abs(picture).max()) or 1.0
            kernel = ax.imshow(picture, cmap=colormaps[diverging(options)], norm=Normalize(-a, a),
                               interpolation="none", resample=False)
            colorbar(fig, kernel, ax, "weight", options, location="bottom", shrink=0.9, aspect=15, pad=0.03)
        image_axes(ax, "kernel")
    for i, a in enumerate(axes):
        panel_letter(a, i, options)


def caption(data: FigureData, options: FigureOptions) -> str:
    channel_map = data.array("map")
    position = data.meta.get("position")
    where = f" at ({position[0]}, {position[1]})" if position is not None else ""
    stimulus = label_of(data.meta.get("stimulus", ""))
    stride = _stride(data)
    h, w = channel_map.shape
    text = (f"Channel {data.meta.get('channel', '')} of {data.meta.get('layer', '')} in {data.model_label()}"
            + (f" for the image {stimulus}" if stimulus else "") + ". a, The input"
            + (" with the receptive field of the unit" + where + " (box)" if data.meta.get("rf_box") else "")
            + f". b, The channel's feature map ({h} \u00d7 {w} units"
            + (f"; stride {fmt(stride)}: neighbouring units are {fmt(stride)} input pixels apart" if stride else "")
            + ")" + (f", the unit{where} boxed" if position is not None else "")
            + ". c, Histogram of the map's values" + (" (line: the unit)" if position is not None else "") + ".")
    if "weights" in data.arrays:
        _picture, what = _kernel_image(data.array("weights"))
        text += f" d, The channel's kernel: {what}."
    text += " Scale bars in input pixels."
    return text
