"""One channel: the input with the receptive field of the chosen unit, the channel's map with
the unit marked, the histogram of its values and its kernels."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.receptive_field import add_box, bar_spacer
from engine.figures.style import ACCENT, LINE_COLORS, NARROW_MM, FigureOptions, fmt, panel_letter, wrap


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in + 0.8
    return options.width_in / (4 if "weights" in data.arrays else 3) + 1.0


def _kernel_image(weights: np.ndarray) -> tuple[np.ndarray, str]:
    """A channel's kernels (in, kh, kw) as one picture: RGB for 3 inputs, else the mean over inputs."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape[0] == 3:
        a = np.abs(w).max() or 1.0
        return np.transpose(w / (2 * a) + 0.5, (1, 2, 0)), "RGB, 0.5 grey = 0"
    return w.mean(axis=0), f"mean over {w.shape[0]} input channels"


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps

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
    ax.set_title("input, unit's RF", fontsize=options.font_size)
    bar_spacer(fig, ax)
    ax = axes[1]
    image = ax.imshow(channel_map, cmap=colormaps[options.cmap], interpolation="none", resample=False)
    if position is not None:
        y, x = position
        add_box(ax, (y, x, y, x), ACCENT, "-", "unit")
    finite = channel_map[np.isfinite(channel_map)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    bar = fig.colorbar(image, ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03)
    bar.set_ticks([lo, hi], labels=[fmt(lo), fmt(hi)])
    bar.ax.tick_params(labelsize=options.font_size - 1.5, length=1.5)
    bar.outline.set_linewidth(0.5)
    ax.set_title(f"map {channel_map.shape[0]}\u00d7{channel_map.shape[1]}", fontsize=options.font_size)
    for a in axes[:2]:
        a.set_xticks([])
        a.set_yticks([])
    ax = axes[2]
    ax.hist(finite, bins=40, color=LINE_COLORS[0], edgecolor="none")
    if position is not None:
        ax.axvline(channel_map[position[0], position[1]], color=ACCENT, lw=0.8)
    ax.set_xlabel("value")
    ax.set_ylabel("units")
    ax.set_box_aspect(1)
    ax.set_title("values", fontsize=options.font_size)
    if has_weights:
        picture, what = _kernel_image(data.array("weights"))
        ax = axes[3]
        if picture.ndim == 3:
            ax.imshow(picture, interpolation="none", resample=False)
        else:
            a = float(np.abs(picture).max()) or 1.0
            ax.imshow(picture, cmap=colormaps["RdBu_r"], vmin=-a, vmax=a, interpolation="none", resample=False)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("kernel", fontsize=options.font_size)
        ax.set_xlabel(wrap(what, options, 0.22), fontsize=options.font_size - 1.5)
    for i, a in enumerate(axes):
        panel_letter(a, i, options)
    where = f" at ({position[0]}, {position[1]})" if position is not None else ""
    title = " \u00b7 ".join(t for t in (data.model_label(), data.meta.get("layer", ""),
                                          f"channel {data.meta.get('channel', '')}{where}",
                                          data.meta.get("stimulus", "")) if t)
    fig.suptitle(wrap(title, options), fontsize=options.font_size, x=0.01, ha="left")
