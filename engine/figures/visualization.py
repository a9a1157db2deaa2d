"""A feature visualisation: the image(s) a unit wants, side by side (diversity images in a row).

Arrays: ``images`` (N x H x W x 3, float in [0, 1] or uint8).  Meta: ``objective`` (what was
maximised, e.g. ``layer2.0[7]``), ``steps``, ``lr``, ``seed``, ``size``, ``diversity``,
``activation`` (one per image), ``best_input`` and ``best_input_activation`` (the best of the
built-in stimuli, for scale).
"""

from __future__ import annotations

import math

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import FigureOptions, fmt, image_axes, label_of, panel_letter, scale_bar
from engine.figures.unit_card import as_rgb8


def images_of(data: FigureData) -> np.ndarray:
    images = data.array("images")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        from engine.errors import UnitscopeError

        raise UnitscopeError(f"A visualisation is N x H x W x 3 or H x W x 3, not {images.shape}.")
    return images


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def figure_height(data: FigureData, options: FigureOptions) -> float:
    images = images_of(data)
    rows, cols = _grid(len(images))
    h, w = images.shape[1:3]
    return rows * (options.width_in / cols * h / w + 0.35) + 0.1


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    images = images_of(data)
    rows, cols = _grid(len(images))
    axes = fig.subplots(rows, cols, squeeze=False)
    activation = list(data.meta.get("activation") or [])
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            ax.set_axis_off()
            continue
        ax.imshow(as_rgb8(images[i]), interpolation="none", resample=False)
        image_axes(ax, f"activation {fmt(activation[i])}" if i < len(activation) and activation[i] is not None
                   else "")
        if len(images) > 1:
            panel_letter(ax, i, options)
        if i == (rows - 1) * cols:
            scale_bar(ax, images.shape[2], options)


def caption(data: FigureData, options: FigureOptions) -> str:
    images = images_of(data)
    m = data.meta
    n, h, w = images.shape[:3]
    objective = m.get("objective") or f"{m.get('layer', '')}[{m.get('channel', '')}]"
    which = ("the mean of the channel's map" if m.get("y") is None else f"the unit at ({m.get('y')}, {m.get('x')})")
    text = (f"Feature visualisation of {objective} ({which}) in {data.model_label()}: "
            + ("the image" if n == 1 else f"{n} images optimised together") + f" of {h} \u00d7 {w} pixels that "
            f"maximise{'s' if n == 1 else ''} it, from {m.get('steps', '?')} steps of Adam (learning rate "
            f"{m.get('lr', '?')}, seed {m.get('seed', '?')})")
    if n > 1:
        text += f", with a diversity term of weight {fmt(m.get('diversity') or 0)} between the images"
    text += ("; each image is parameterised by a decorrelated Fourier spectrum and jittered, scaled and rotated at "
             "every step (Olah et al. 2017).")
    activation = [a for a in (m.get("activation") or []) if a is not None]
    if activation:
        text += " Final activation " + ", ".join(fmt(a) for a in activation)
        if m.get("best_input_activation") is not None:
            text += (f"; the best built-in stimulus ({label_of(m.get('best_input') or '')}) gives "
                     f"{fmt(m['best_input_activation'])}")
        text += "."
    return text + " Scale bar in input pixels."
