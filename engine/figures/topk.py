"""Top and bottom images of a unit: receptive-field crops in two rows, each with its response."""

from __future__ import annotations

import math

from engine.figures.data import FigureData
from engine.figures.style import FigureOptions, fmt, image_axes, label_of


def _crops(data: FigureData, end: str) -> list:
    return [data.arrays[f"{end}_crop.{i}"] for i in range(len(data.array(f"{end}_values")))]


def _cols(data: FigureData) -> int:
    return max(1, min(8, max(len(data.array("top_values")), len(data.array("bottom_values")))))


def figure_height(data: FigureData, options: FigureOptions) -> float:
    cols = _cols(data)
    rows = sum(math.ceil(len(data.array(f"{e}_values")) / cols) for e in ("top", "bottom"))
    return rows * (options.width_in / cols + 0.25) + 0.3


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    cols = _cols(data)
    ends = [e for e in ("top", "bottom") if len(data.array(f"{e}_values"))]
    rows = {e: math.ceil(len(data.array(f"{e}_values")) / cols) for e in ends}
    subfigs = fig.subfigures(len(ends), 1, height_ratios=[rows[e] for e in ends], squeeze=False)[:, 0]
    for sub, end in zip(subfigs, ends):
        values, crops = data.array(f"{end}_values"), _crops(data, end)
        names = data.meta.get(f"{end}_names", [])
        axes = sub.subplots(rows[end], cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if i >= len(values):
                continue
            ax.imshow(crops[i], interpolation="none", resample=False)
            image_axes(ax)
            ax.set_axis_on()
            name = label_of(names[i]) if i < len(names) else ""
            room = max(6, int(options.width_in / cols * 72 / (options.small * 0.6)))
            name = name if len(name) <= room else name[:room - 1] + "\u2026"
            ax.set_title(f"{fmt(values[i])}\n{name}", fontsize=options.small, pad=1.5)
        sub.suptitle(f"{'highest' if end == 'top' else 'lowest'} responses", fontsize=options.font_size,
                     x=0.01, ha="left")


def caption(data: FigureData, options: FigureOptions) -> str:
    n_images = data.meta.get("n_images")
    crop = data.arrays.get("top_crop.0")
    size = f" ({crop.shape[0]} \u00d7 {crop.shape[1]} pixels)" if crop is not None else ""
    return (f"The images that drive {data.meta.get('unit', 'the unit')} of {data.model_label()} most (top rows) and "
            f"least (bottom rows)" + (f", out of {n_images} images" if n_images else "")
            + f": crops of the unit's theoretical receptive field{size}, each with the unit's response above it "
            "and the image's name.")
