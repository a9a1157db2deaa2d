"""A unit's receptive field three ways: the theoretical box from the anatomy (Araujo et al.
2019), the mean |input gradient| over images with the box it bounds, and sparse-noise
reverse correlation (ON minus OFF, on a diverging map centred on 0)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import (
    ACCENT,
    FigureOptions,
    colorbar,
    diverging,
    image_axes,
    label_of,
    panel_letter,
    scale_bar,
)

EMPIRICAL = "#0072B2"


def add_box(ax, box, color: str, style: str, label: str) -> None:
    """Draw an inclusive (top, left, bottom, right) pixel box on ``ax``."""
    from matplotlib.patches import Rectangle

    if box is None:
        return
    top, left, bottom, right = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           edgecolor=color, lw=0.9, ls=style, label=label))


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return options.width_in / 3 + 0.6


def bar_spacer(fig, ax) -> None:
    """An invisible colour bar under ``ax``, so that it lines up with panels that have one."""
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(), ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03).ax.set_visible(False)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    axes = fig.subplots(1, 3)
    theoretical, empirical = data.meta.get("theoretical_box"), data.meta.get("empirical_box")
    ax = axes[0]
    if "image" in data.arrays:
        ax.imshow(data.array("image"), interpolation="none", resample=False)
    add_box(ax, empirical, EMPIRICAL, "-", "gradient RF")
    add_box(ax, theoretical, ACCENT, "--", "theoretical RF")  # dashed, on top: both show where they meet
    ax.set_title("input")
    bar_spacer(fig, ax)
    if "gradient" in data.arrays:
        gradient = data.array("gradient")
        peak = float(np.nanmax(gradient)) or 1.0
        image = axes[1].imshow(gradient, cmap=colormaps["magma"], norm=Normalize(0.0, peak), interpolation="none",
                               resample=False)
        add_box(axes[1], empirical, EMPIRICAL, "-", "_")
        colorbar(fig, image, axes[1], "mean |\u2202unit/\u2202input|", options, location="bottom", shrink=0.9,
                 aspect=15, pad=0.03)
        axes[1].set_title("input gradient")
    if "on_map" in data.arrays and "off_map" in data.arrays:
        diff = data.array("on_map") - data.array("off_map")
        a = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        image = axes[2].imshow(diff, cmap=colormaps[diverging(options)], norm=Normalize(-a, a), interpolation="none",
                               resample=False)
        add_box(axes[2], theoretical, ACCENT, "--", "_")
        colorbar(fig, image, axes[2], "ON \u2212 OFF response (a.u.)", options, location="bottom", shrink=0.9,
                 aspect=15, pad=0.03)
        axes[2].set_title("sparse noise")
    for i, ax in enumerate(axes):
        image_axes(ax)
        panel_letter(ax, i, options)
    if "image" in data.arrays:
        scale_bar(axes[0], data.array("image").shape[1], options)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, handlelength=1.5)


def caption(data: FigureData, options: FigureOptions) -> str:
    shown = f" ({label_of(data.meta['shown'])})" if data.meta.get("shown") else ""
    text = (f"Receptive field of {data.meta.get('unit', 'the unit')} in {data.model_label()}. a, An input{shown} "
            "with the unit's theoretical receptive field (dashed; from the network's kernels, strides and padding, "
            "Araujo et al. 2019) and the box the gradient bounds (solid)")
    threshold = data.meta.get("rel_threshold")
    text += (". b, Mean absolute gradient of the unit's response with respect to the input pixels"
             + (f" over {data.meta.get('n_images')} inputs" if data.meta.get("n_images") else "")
             + (f"; its box is where it exceeds {threshold:g} of its peak" if threshold else "") + ".")
    if "on_map" in data.arrays:
        text += (" c, Sparse-noise reverse correlation: the mean response to frames with a bright (ON) minus a "
                 "dark (OFF) square at each place" + (f", over {data.meta.get('n_frames')} frames"
                                                       if data.meta.get("n_frames") else "")
                 + "; the colour map is centred on 0.")
    if "image" in data.arrays:
        h, w = data.array("image").shape[:2]
        text += f" All panels are {h} \u00d7 {w} input pixels; the scale bar is in input pixels."
    return text
