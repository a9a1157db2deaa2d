"""Pinned units' responses to a stimulus sequence: one marker per stimulus, no joining lines
between separate stimuli (a grating sequence over orientation is a curve and is joined)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import LINE_COLORS, FigureOptions, label_of

MARKERS = "osD^v<>p"


def figure_height(data: FigureData, options: FigureOptions) -> float:
    names = [n[:14] for n in data.meta.get("stimulus_labels", [])]
    extra = 0.0 if _flat(names, data, options) else max(map(len, names), default=4) * options.font_size / 72 * 0.5
    return min(options.width_in * 0.55, 4.0) + 0.4 + extra


def _flat(names: list[str], data: FigureData, options: FigureOptions) -> bool:
    """Whether the stimulus names fit side by side under the axis (else they stand upright)."""
    step = max(1, int(np.ceil(len(names) / 18)))
    return (data.meta.get("sequence") == "orientations"
            or sum(len(n) + 2 for n in names[::step]) * options.small * 0.6 < options.width_in * 60)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    responses = data.array("responses")
    if responses.ndim == 1:
        responses = responses[:, None]
    labels = list(data.meta.get("labels", [])) or [f"unit {i}" for i in range(responses.shape[1])]
    stimuli = list(data.meta.get("stimulus_labels", [])) or [str(i) for i in range(responses.shape[0])]
    curve = data.meta.get("sequence") == "orientations"
    ax = fig.add_subplot()
    x = np.arange(responses.shape[0])
    n = responses.shape[1]
    width = 0.7 / max(n, 1)
    for j in range(n):
        offset = 0.0 if curve else (j - (n - 1) / 2) * width
        ax.plot(x + offset, responses[:, j], ls="-" if curve else "none", marker=MARKERS[j % len(MARKERS)],
                color=LINE_COLORS[j % len(LINE_COLORS)], label=labels[j])
    step = max(1, int(np.ceil(len(stimuli) / 18)))
    names = [label_of(s) for s in stimuli]
    names = [s if len(s) <= 14 else s[:13] + "\u2026" for s in names]
    ax.set_xticks(x[::step], names[::step], rotation=0 if _flat(names, data, options) else 90)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("grating orientation \u03b8" if curve else "stimulus")
    ax.set_ylabel("response (a.u.)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(n, 3), handlelength=1.2)


def caption(data: FigureData, options: FigureOptions) -> str:
    responses = data.array("responses")
    n = 1 if responses.ndim == 1 else responses.shape[1]
    stimuli = list(data.meta.get("stimulus_labels", [])) or [str(i) for i in range(responses.shape[0])]
    units = list(data.meta.get("labels", []))
    text = (f"Responses of {n} unit{'s' if n != 1 else ''}" + (f" ({', '.join(units)})" if units else "")
            + f" of {data.model_label()} to {len(stimuli)} stimuli"
            + ("" if data.meta.get("sequence") == "orientations" else
               " (" + ", ".join(label_of(s) for s in stimuli[:12]) + (", \u2026" if len(stimuli) > 12 else "") + ")")
            + "; one marker per stimulus.")
    if data.meta.get("sequence") == "orientations":
        from engine.figures.tuning import ORIENTATION_CONVENTION

        text += " " + ORIENTATION_CONVENTION
    return text
