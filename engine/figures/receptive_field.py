"""A unit's receptive field three ways: the theoretical box from the anatomy (Araujo et al.
2019), the mean |input gradient| over images with the box it bounds, and sparse-noise
reverse correlation (ON minus OFF)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import ACCENT, FigureOptions, fmt, panel_letter, wrap

EMPIRICAL = "#1f77b4"


def add_box(ax, box, color: str, style: str, label: str) -> None:
    """Draw an inclusive (top, left, bottom, right) pixel box on ``ax``."""
    from matplotlib.patches import Rectangle

    if box is None:
        return
    top, left, bottom, right = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           edgecolor=color, lw=0.9, ls=style, label=label))


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return options.width_in / 3 + 0.95


def bar_spacer(fig, ax) -> None:
    """An invisible colour bar under ``ax``, so that it lines up with panels that have one."""
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(), ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03).ax.set_visible(False)


def _bar(fig, image, ax, options: FigureOptions, label: str, ticks) -> None:
    bar = fig.colorbar(image, ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03)
    bar.set_ticks(ticks, labels=[fmt(t) for t in ticks])
    bar.set_label(label, fontsize=options.font_size - 1.5)
    bar.ax.tick_params(labelsize=options.font_size - 1.5, length=1.5)
    bar.outline.set_linewidth(0.5)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps

    axes = fig.subplots(1, 3)
    theoretical, empirical = data.meta.get("theoretical_box"), data.meta.get("empirical_box")
    ax = axes[0]
    if "image" in data.arrays:
        ax.imshow(data.array("image"), interpolation="none", resample=False)
    add_box(ax, empirical, EMPIRICAL, "-", "gradient RF")
    add_box(ax, theoretical, ACCENT, "--", "theoretical RF")  # dashed, on top: both show where they meet
    ax.set_title("input", fontsize=options.font_size)
    bar_spacer(fig, ax)
    if "gradient" in data.arrays:
        gradient = data.array("gradient")
        image = axes[1].imshow(gradient, cmap=colormaps["magma"], interpolation="none", resample=False)
        add_box(axes[1], empirical, EMPIRICAL, "-", "_")
        _bar(fig, image, axes[1], options, "mean |\u2202unit/\u2202input|", [0.0, float(np.nanmax(gradient))])
        axes[1].set_title("input gradient", fontsize=options.font_size)
    if "on_map" in data.arrays and "off_map" in data.arrays:
        diff = data.array("on_map") - data.array("off_map")
        a = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        image = axes[2].imshow(diff, cmap=colormaps["RdBu_r"], vmin=-a, vmax=a, interpolation="none",
                               resample=False)
        add_box(axes[2], theoretical, ACCENT, "--", "_")
        _bar(fig, image, axes[2], options, "ON \u2212 OFF response", [-a, 0.0, a])
        axes[2].set_title("sparse noise", fontsize=options.font_size)
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        panel_letter(ax, i, options)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, handlelength=1.5)
    threshold = data.meta.get("rel_threshold")
    note = (f"; gradient over {data.meta.get('n_images', '?')} inputs, its box where it exceeds {threshold:g} of "
            f"its peak; reverse correlation over {data.meta.get('n_frames', '?')} sparse-noise frames"
            if threshold else "")
    fig.suptitle(wrap(f"{data.model_label()} \u00b7 {data.meta.get('unit', '')}{note}", options),
                 fontsize=options.font_size, x=0.01, ha="left")
