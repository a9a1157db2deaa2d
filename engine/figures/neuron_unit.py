"""A recorded neuron beside its best model unit: the neuron's trial-averaged response to each
stimulus against the unit's (with their held-out r), and every neuron's ridge r against its
noise ceiling at that layer (:mod:`engine.figures.predictivity`)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import ACCENT, LINE_COLORS, NARROW_MM, FigureOptions, panel_letter


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.4 + 0.6  # two panels, each a little wider than tall
    return min(options.width_in * 0.45, 4.0) + 0.7


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    axes = fig.subplots(2, 1) if options.width_mm < NARROW_MM else fig.subplots(1, 2)
    ax = axes[0]
    ax.scatter(data.array("unit"), data.array("neuron"), s=6, color=LINE_COLORS[0], lw=0)
    ax.set_xlabel(f"unit {data.meta.get('unit', '')} (a.u.)")
    ax.set_ylabel(f"neuron {data.meta.get('neuron', '')} (mean response)")
    ax2 = axes[1]
    r, ceiling = data.array("r"), data.array("ceiling")
    ok = np.isfinite(ceiling)
    ax2.scatter(ceiling[ok], r[ok], s=8, color=LINE_COLORS[0], lw=0, label="neurons")
    n = data.meta.get("neuron_index", 0)
    if ok[n]:
        ax2.scatter([ceiling[n]], [r[n]], s=24, facecolor="none", edgecolor=ACCENT, label="this neuron")
    top = max(1.0, float(np.nanmax(np.r_[ceiling[ok], r[ok], 0])))
    ax2.plot([0, top], [0, top], color="0.5", lw=0.8, ls="--", label="r = ceiling")
    ax2.set_xlabel("noise ceiling")
    ax2.set_ylabel(f"ridge r ({data.meta.get('layer', '')})")
    ax2.legend(loc="upper left", fontsize=options.small, frameon=False)
    for i, a in enumerate(axes):
        panel_letter(a, i, options)


def caption(data: FigureData, options: FigureOptions) -> str:
    return (f"Neuron {data.meta.get('neuron')} and its best single unit of {data.model_label()}, "
            f"{data.meta.get('unit', '')} of {data.meta.get('layer', '')}. (a) The neuron's mean response against "
            f"the unit's response, one point per stimulus; held-out r = {data.meta.get('unit_r', float('nan')):.2f}. "
            "(b) Ridge predictivity (held-out r) of every neuron against its noise ceiling; the circle marks this "
            "neuron, the dashed line r = ceiling.")
