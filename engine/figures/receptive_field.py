"""A unit's receptive field three ways: the theoretical box from the anatomy (Araujo et al.
2019), the mean |input gradient| over images with the box it bounds, and sparse-noise
reverse correlation (ON minus OFF, on a diverging map centred on 0).

Where the data hold the ON/OFF test (:meth:`engine.analyses.unit_rf.ReverseCorrelation.significance`),
the significant cells are outlined in black over a thin white line (seen on dark and light
colours, and in greyscale) and the others are drawn pale: what is shown at full strength is
what the test found.
"""

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
SIGNIFICANT = "black"  # outline of the significant cells; a white line under it keeps it on dark colours
FADE = 0.3  # the share of its colour a pixel that is not significant keeps (the rest is white)


def add_box(ax, box, color: str, style: str, label: str) -> None:
    """Draw an inclusive (top, left, bottom, right) pixel box on ``ax``."""
    from matplotlib.patches import Rectangle

    if box is None:
        return
    top, left, bottom, right = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           edgecolor=color, lw=0.9, ls=style, label=label))


def significance_rgb(diff: np.ndarray, mappable, significant: np.ndarray | None) -> np.ndarray:
    """``diff`` in the colours of ``mappable``, as RGB; pixels not ``significant`` keep :data:`FADE` of their
    colour, pixels never tested (NaN) are white."""
    rgb = mappable.to_rgba(np.nan_to_num(diff, nan=0.0))[..., :3]
    if significant is not None:
        rgb = np.where(significant[..., None], rgb, 1.0 - FADE * (1.0 - rgb))
    return np.where(np.isfinite(diff)[..., None], rgb, 1.0)


def outline_segments(mask: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The pixel edges between ``mask`` and the rest (the image's border counting as the rest), as
    ((x0, y0), (x1, y1)) in image coordinates, runs along a row or column joined into one segment."""
    mask = np.pad(np.asarray(mask, dtype=bool), 1)
    segments = []
    for transpose in (False, True):
        m = mask.T if transpose else mask
        edges = m[1:, 1:-1] != m[:-1, 1:-1]  # edge above row i of the image (i = 0 .. H)
        for i, row in enumerate(edges):
            padded = np.concatenate(([False], row, [False]))
            starts = np.nonzero(padded[1:] & ~padded[:-1])[0]
            stops = np.nonzero(~padded[1:] & padded[:-1])[0]
            for j0, j1 in zip(starts.tolist(), stops.tolist()):
                ends = ((j0 - 0.5, i - 0.5), (j1 - 0.5, i - 0.5))
                segments.append(tuple((y, x) for x, y in ends) if transpose else ends)
    return segments


def add_outline(ax, mask: np.ndarray) -> None:
    """Outline the cells of ``mask`` on ``ax``: black over white, square corners."""
    from matplotlib.collections import LineCollection

    segments = outline_segments(mask)
    for color, width in (("white", 1.5), (SIGNIFICANT, 0.7)):
        ax.add_collection(LineCollection(segments, colors=color, linewidths=width, capstyle="projecting"),
                          autolim=False)


def significance_label(data: FigureData) -> str:
    return f"significant (FDR {data.meta.get('fdr') or 0.01:g})"


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return options.width_in / 3 + 0.6


def bar_spacer(fig, ax) -> None:
    """An invisible colour bar under ``ax``, so that it lines up with panels that have one."""
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(), ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03).ax.set_visible(False)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
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
        image = ScalarMappable(Normalize(-a, a), colormaps[diverging(options)])
        significant = data.array("significant").astype(bool) if "significant" in data.arrays else None
        axes[2].imshow(significance_rgb(diff, image, significant), interpolation="none", resample=False)
        add_box(axes[2], theoretical, ACCENT, "--", "_")
        if significant is not None:
            add_outline(axes[2], significant)
        colorbar(fig, image, axes[2], "ON \u2212 OFF response (a.u.)", options, location="bottom", shrink=0.9,
                 aspect=15, pad=0.03)
        axes[2].set_title("sparse noise")
    for i, ax in enumerate(axes):
        image_axes(ax)
        panel_letter(ax, i, options)
    if "image" in data.arrays:
        scale_bar(axes[0], data.array("image").shape[1], options)
    handles, labels = axes[0].get_legend_handles_labels()
    if "on_map" in data.arrays and "significant" in data.arrays and data.array("significant").any():
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color=SIGNIFICANT, lw=0.7))
        labels.append(significance_label(data))
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), handlelength=1.5,
                   columnspacing=1.2)


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
        if "significant" in data.arrays:
            tests, found = data.meta.get("n_tests"), data.meta.get("n_significant")
            test = (f"Welch's two-sided t-test, Benjamini\u2013Hochberg false discovery rate "
                    f"{data.meta.get('fdr') or 0.01:g}" + (f" over the {tests} noise cells tested" if tests else ""))
            if data.array("significant").any():
                text += (f" Cells outlined in black are those whose ON and OFF responses differ ({test}"
                         + (f": {found} significant" if found is not None else "") + "); the others are drawn pale.")
            else:
                text += (f" No cell's ON and OFF responses differ significantly ({test}), so every cell is drawn "
                         "pale.")
    if "image" in data.arrays:
        h, w = data.array("image").shape[:2]
        text += f" All panels are {h} \u00d7 {w} input pixels; the scale bar is in input pixels."
    return text
