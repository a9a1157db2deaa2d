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

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.figures.style import (
    ACCENT,
    MM_PER_INCH,
    PANEL_LETTERS,
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


#: The panels in the order drawn, each drawn only where the data hold it: the input under the boxes,
#: the mean |input gradient| and the sparse-noise ON - OFF map.
PANELS = ("input", "gradient", "noise")
#: The largest side of a panel when fewer than three share the width (unless three at that width are larger).
MAX_PANEL_MM = 50.0


def panels(data: FigureData) -> list[str]:
    """The :data:`PANELS` that ``data`` fill, in order; a result that fills none is refused."""
    held = {"input": "image" in data.arrays, "gradient": "gradient" in data.arrays,
            "noise": "on_map" in data.arrays and "off_map" in data.arrays}
    names = [name for name in PANELS if held[name]]
    if not names:
        raise UnitscopeError(f"The receptive field of {data.meta.get('unit', 'the unit')} has nothing to draw: it "
                             "holds no input image, no input gradient and no sparse-noise map.")
    return names


def panel_side(options: FigureOptions, n: int) -> float:
    """The side (inches) of each of ``n`` square panels in a row: an equal share of the width, but
    no larger than :data:`MAX_PANEL_MM` or, where that is smaller, than three panels at this width."""
    return min(options.width_in / n, max(options.width_in / 3, MAX_PANEL_MM / MM_PER_INCH))


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return panel_side(options, len(panels(data))) + 0.6


def panel_axes(fig, names: list[str], options: FigureOptions) -> dict:
    """One axes per panel in a row, each :func:`panel_side` wide; fewer panels than fill the width
    are centred (the columns beside them are empty), so a lone panel is not as wide as the page."""
    n = len(names)
    spare = options.width_in - n * panel_side(options, n)
    if spare <= 1e-9:
        return dict(zip(names, np.atleast_1d(fig.subplots(1, n))))
    margin = spare / 2 / panel_side(options, n)
    grid = fig.add_gridspec(1, n + 2, width_ratios=(margin, *[1.0] * n, margin))
    return {name: fig.add_subplot(grid[0, i + 1]) for i, name in enumerate(names)}


def bar_spacer(fig, ax) -> None:
    """An invisible colour bar under ``ax``, so that it lines up with panels that have one."""
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(), ax=ax, location="bottom", shrink=0.9, aspect=15, pad=0.03).ax.set_visible(False)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    """The panels ``data`` fill (:func:`panels`), lettered a, b, ... in order. The first panel carries
    both boxes and the legend lists them; after it, the gradient repeats the box it bounds and the
    sparse noise the theoretical box."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    names = panels(data)
    axes = panel_axes(fig, names, options)
    first = axes[names[0]]
    theoretical, empirical = data.meta.get("theoretical_box"), data.meta.get("empirical_box")

    def boxes(ax, *which: str) -> None:
        on_first = ax is first  # both boxes, labelled for the legend
        if on_first or "empirical" in which:
            add_box(ax, empirical, EMPIRICAL, "-", "gradient RF" if on_first else "_")
        if on_first or "theoretical" in which:  # dashed, on top: both show where they meet
            add_box(ax, theoretical, ACCENT, "--", "theoretical RF" if on_first else "_")

    if "input" in axes:
        ax = axes["input"]
        ax.imshow(data.array("image"), interpolation="none", resample=False)
        boxes(ax)
        ax.set_title("input")
        if len(names) > 1:  # the others have colour bars
            bar_spacer(fig, ax)
    if "gradient" in axes:
        ax = axes["gradient"]
        gradient = data.array("gradient")
        peak = float(np.nanmax(gradient)) or 1.0
        image = ax.imshow(gradient, cmap=colormaps["magma"], norm=Normalize(0.0, peak), interpolation="none",
                          resample=False)
        boxes(ax, "empirical")
        colorbar(fig, image, ax, "mean |\u2202unit/\u2202input|", options, location="bottom", shrink=0.9,
                 aspect=15, pad=0.03)
        ax.set_title("input gradient")
    significant = data.array("significant").astype(bool) if "significant" in data.arrays else None
    if "noise" in axes:
        ax = axes["noise"]
        diff = data.array("on_map") - data.array("off_map")
        a = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        image = ScalarMappable(Normalize(-a, a), colormaps[diverging(options)])
        ax.imshow(significance_rgb(diff, image, significant), interpolation="none", resample=False)
        boxes(ax, "theoretical")
        if significant is not None:
            add_outline(ax, significant)
        colorbar(fig, image, ax, "ON \u2212 OFF response (a.u.)", options, location="bottom", shrink=0.9,
                 aspect=15, pad=0.03)
        ax.set_title("sparse noise")
    for i, ax in enumerate(axes.values()):
        image_axes(ax)
        panel_letter(ax, i, options)
    scale_bar(first, panel_shape(data)[1], options)
    handles, labels = first.get_legend_handles_labels()
    if "noise" in axes and significant is not None and significant.any():
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color=SIGNIFICANT, lw=0.7))
        labels.append(significance_label(data))
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), handlelength=1.5,
                   columnspacing=1.2)


def panel_shape(data: FigureData) -> tuple[int, int]:
    """Height and width, in input pixels, of the first panel (every panel is the input's size)."""
    return data.array({"input": "image", "gradient": "gradient", "noise": "on_map"}[panels(data)[0]]).shape[:2]


def caption(data: FigureData, options: FigureOptions) -> str:
    """The panels' descriptions, lettered as :func:`draw` letters them; the first panel's says what its boxes are."""
    names = panels(data)
    letters = dict(zip(names, PANEL_LETTERS))
    drawn = [what for box, what in (
        ("theoretical_box", "the unit's theoretical receptive field (dashed; from the network's kernels, strides and "
                            "padding, Araujo et al. 2019)"),
        ("empirical_box", "the box the gradient bounds (solid)")) if data.meta.get(box) is not None]
    boxes = " and ".join(drawn)
    text = f"Receptive field of {data.meta.get('unit', 'the unit')} in {data.model_label()}."
    if "input" in letters:
        shown = f" ({label_of(data.meta['shown'])})" if data.meta.get("shown") else ""
        text += f" {letters['input']}, An input{shown}" + (f" with {boxes}" if boxes else "") + "."
    elif boxes:  # the boxes are over the first panel instead
        boxes = f" {'Boxes' if len(drawn) > 1 else 'Box'}: {boxes}."
    if "gradient" in letters:
        threshold = data.meta.get("rel_threshold")
        text += (f" {letters['gradient']}, Mean absolute gradient of the unit's response with respect to the input "
                 "pixels" + (f" over {data.meta.get('n_images')} inputs" if data.meta.get("n_images") else "")
                 + (f"; its box is where it exceeds {threshold:g} of its peak" if threshold else "") + ".")
        if names[0] == "gradient":
            text += boxes
    if "noise" in letters:
        text += (f" {letters['noise']}, Sparse-noise reverse correlation: the mean response to frames with a bright "
                 "(ON) minus a dark (OFF) square at each place" + (f", over {data.meta.get('n_frames')} frames"
                                                                    if data.meta.get("n_frames") else "")
                 + "; the colour map is centred on 0.")
        if names[0] == "noise":
            text += boxes
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
    h, w = panel_shape(data)
    text += (f" {'All panels are' if len(names) > 1 else 'The panel is'} {h} \u00d7 {w} input pixels; the scale bar "
             "is in input pixels.")
    return text
