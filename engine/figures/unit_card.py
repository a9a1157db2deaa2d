"""One unit's card: what it wants (feature visualisation), its evidence on an image, its
tuning curve, its receptive field and the images that drive it most.

Arrays of the :class:`~engine.figures.data.FigureData` (kind ``"unit_card"``):

``visualisation``
    H x W x 3, uint8 or float in [0, 1] (floats are shown as ``round(255 v)``), embedded as is.
``evidence``
    H x W signed map (e.g. gradient x input) drawn over ``input_image`` (H x W x 3, in [0, 1]).
``tuning_x``, ``tuning_f0`` and optionally ``tuning_f1``
    The tuning curve.
``rf``
    h x w map of the receptive field (e.g. the gradient's magnitude), over the image.
``top_images``
    N x h x w x 3 in [0, 1]: the images (or crops) that drive the unit most, best first.

Meta: ``layer``, ``channel``, ``position`` (y, x), ``rf_box`` (inclusive top, left, bottom,
right in image pixels), ``tuning_label`` (x axis), ``tuning_metric`` (one line),
``activation`` (the visualisation's final activation), ``top_values`` (one per top image).
"""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.receptive_field import add_box
from engine.figures.style import (
    ACCENT,
    LINE_COLORS,
    FigureOptions,
    diverging,
    fmt,
    image_axes,
    panel_letter,
    scale_bar,
)

TITLES = ("visualisation", "evidence", "receptive field", "tuning", "top images")


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return options.width_in * 0.62 + 0.3


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """An RGB image as uint8: uint8 as given, floats in [0, 1] as ``round(255 v)``."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def _montage(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """The top images side by side, two rows, white gaps."""
    images = [as_rgb8(i) for i in images]
    h, w = images[0].shape[:2]
    rows = 1 if len(images) <= 2 else 2
    cols = max(1, -(-len(images) // rows))
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def _image_axis(ax, options: FigureOptions, title: str) -> None:
    image_axes(ax, title)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps

    grid = fig.add_gridspec(2, 3, height_ratios=(1.0, 0.9))
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[0, 2]),
            fig.add_subplot(grid[1, :2]), fig.add_subplot(grid[1, 2])]
    box = data.meta.get("rf_box")

    ax = axes[0]
    ax.imshow(as_rgb8(data.array("visualisation")), interpolation="none", resample=False)
    _image_axis(ax, options, TITLES[0])
    scale_bar(ax, data.array("visualisation").shape[1], options)

    ax = axes[1]
    ax.imshow(data.array("input_image"), interpolation="none", resample=False)
    evidence = data.array("evidence").astype(np.float64)
    a = float(np.abs(evidence).max()) or 1.0
    # Colour by sign and opacity by size: where the unit takes no evidence, the image shows through.
    overlay = colormaps[diverging(options)](0.5 + 0.5 * evidence / a)
    overlay[..., 3] = np.sqrt(np.abs(evidence) / a)
    ax.imshow(overlay, interpolation="none", resample=False)
    add_box(ax, box, ACCENT, "--", "receptive field")
    _image_axis(ax, options, TITLES[1])
    scale_bar(ax, evidence.shape[1], options)

    ax = axes[2]
    rf = data.array("rf").astype(np.float64)
    ax.imshow(rf, cmap=colormaps[options.cmap], interpolation="none", resample=False)
    add_box(ax, box, ACCENT, "--", "theoretical RF")
    _image_axis(ax, options, TITLES[2])
    if box is not None:  # zoomed on the theoretical RF, half its side around it
        top, left, bottom, right = box
        pad = max(bottom - top, right - left) / 2 + 1
        ax.set_xlim(max(left - pad, -0.5), min(right + pad, rf.shape[1] - 0.5))
        ax.set_ylim(min(bottom + pad, rf.shape[0] - 0.5), max(top - pad, -0.5))

    ax = axes[3]
    x = data.array("tuning_x").astype(np.float64)
    ax.plot(x, data.array("tuning_f0"), "o-", color=LINE_COLORS[0], ms=3, lw=1, label="F0")
    if "tuning_f1" in data.arrays:
        ax.plot(x, data.array("tuning_f1"), "--", color=LINE_COLORS[1], lw=1, label="F1")
        ax.legend(frameon=False)
    ax.set_xlabel(data.meta.get("tuning_label", "orientation \u03b8 (\u00b0)"))
    if ax.get_xlabel().startswith("orientation"):
        ax.set_xticks(np.arange(0, 181, 30))
    ax.set_ylabel("response (a.u.)")
    ax.set_title(TITLES[3])

    ax = axes[4]
    ax.imshow(_montage(data.array("top_images")), interpolation="none", resample=False)
    _image_axis(ax, options, TITLES[4])
    for i, a in enumerate(axes):
        panel_letter(a, i, options)


def caption(data: FigureData, options: FigureOptions) -> str:
    position = data.meta.get("position")
    where = f" at ({position[0]}, {position[1]})" if position is not None else ""
    unit = f"channel {data.meta.get('channel', '')} of {data.meta.get('layer', '')}{where}"
    vis = data.array("visualisation")
    text = (f"Unit card of {unit} in {data.model_label()}. a, Feature visualisation "
            f"({vis.shape[0]} \u00d7 {vis.shape[1]} pixels")
    if data.meta.get("activation") is not None:
        text += f"; final activation {fmt(data.meta['activation'])}"
    text += ("). b, Evidence on an input: gradient \u00d7 input, coloured by sign (diverging map centred on 0) and "
             "opaque in proportion to the square root of its magnitude; dashed: the theoretical receptive field. "
             "c, " + data.meta.get("rf_label", "Absolute gradient of the unit") + ", zoomed on the theoretical "
             "receptive field (dashed). d, Tuning")
    if data.meta.get("tuning_metric"):
        text += f" ({data.meta['tuning_metric']})"
    text += "; F0: mean over phase, F1: first harmonic"
    if str(data.meta.get("tuning_label", "orientation")).startswith("orientation"):
        from engine.figures.tuning import ORIENTATION_CONVENTION

        text += ". " + ORIENTATION_CONVENTION[:-1]
    values = data.meta.get("top_values")
    text += ". e, The images that drive the unit most, best first" + (
        f" (responses {', '.join(fmt(v) for v in values)})" if values else "") + ". Scale bars in input pixels."
    return text
