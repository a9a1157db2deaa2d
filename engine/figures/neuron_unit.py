"""A recorded neuron beside its best model unit: the neuron's trial-averaged response to each
stimulus against the unit's (with their held-out r), and every neuron's ridge r against its
noise ceiling at that layer (:mod:`engine.figures.predictivity`).  Where the stimuli include
gratings named by their labels, a third panel overlays the neuron's orientation tuning curve
(mean over repeats and phases at its preferred SF, SEM over repeats) and the unit's curve over
the same gratings, scaled linearly to the neuron's range (one axis, the neuron's units)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import ACCENT, LINE_COLORS, NARROW_MM, FigureOptions, fmt, panel_letter
from engine.figures.tuning import ORIENTATION_CONVENTION, shown_orientation


def has_tuning(data: FigureData) -> bool:
    return "tuning_neuron" in data.arrays and bool(np.isfinite(data.array("tuning_neuron")).sum() > 1)


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if has_tuning(data):
        if options.width_mm < NARROW_MM:
            return options.width_in * 1.05 + 1.0  # a and b side by side over the tuning panel
        return min(options.width_in * 0.32, 3.0) + 0.7
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.4 + 0.6  # two panels, each a little wider than tall
    return min(options.width_in * 0.45, 4.0) + 0.7


def _axes(fig, data: FigureData, options: FigureOptions) -> list:
    if not has_tuning(data):
        return list(fig.subplots(2, 1) if options.width_mm < NARROW_MM else fig.subplots(1, 2))
    if options.width_mm >= NARROW_MM:
        return list(fig.subplots(1, 3))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.0, 1.0))
    return [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])]


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    axes = _axes(fig, data, options)
    narrow = options.width_mm < NARROW_MM and has_tuning(data)
    ax = axes[0]
    ax.scatter(data.array("unit"), data.array("neuron"), s=6, color=LINE_COLORS[0], lw=0)
    ax.set_xlabel("unit (a.u.)" if narrow else f"unit {data.meta.get('unit', '')} (a.u.)")
    ax.set_ylabel("neuron (mean)" if narrow else f"neuron {data.meta.get('neuron', '')} (mean response)")
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
    if len(axes) > 2:
        _draw_tuning(axes[2], data, options)
    for i, a in enumerate(axes):
        panel_letter(a, i, options)


def _draw_tuning(ax, data: FigureData, options: FigureOptions) -> None:
    theta = shown_orientation(data.array("orientations"), options)
    order = np.argsort(theta)
    neuron, sem, unit = (data.array(name)[order] for name in ("tuning_neuron", "tuning_sem", "tuning_unit_scaled"))
    theta = theta[order]
    ok = np.isfinite(neuron)
    bar = np.where(np.isfinite(sem[ok]), sem[ok], 0.0)
    shown = ax.errorbar(theta[ok], neuron[ok], yerr=bar, fmt="-o", ms=3, color=LINE_COLORS[0], capsize=2, lw=1.0,
                        label=f"neuron {data.meta.get('neuron', '')} (mean \u00b1 SEM)")
    lo, hi = float(np.min(neuron[ok] - bar)), float(np.max(neuron[ok] + bar))
    ok = np.isfinite(unit)
    scaled = ax.plot(theta[ok], unit[ok], "--s", ms=3, color=ACCENT, lw=1.0, label="unit, scaled to the neuron's range")
    span = hi - lo if hi > lo else 1.0
    ax.set_ylim(lo - 0.05 * span, hi + 0.35 * span)  # the key above the curves, never on them
    ax.set_xlim(-5, 185)
    ax.set_xticks([0, 45, 90, 135, 180])
    bars = options is not None and options.orientation == "bar"
    ax.set_xlabel("bar orientation (\u00b0)" if bars else "orientation \u03b8 (\u00b0)")
    ax.set_ylabel("neuron (mean response)")
    ax.legend([shown, scaled[0]], [shown.get_label(), scaled[0].get_label()], loc="upper left",
              fontsize=options.small, frameon=False)


def caption(data: FigureData, options: FigureOptions) -> str:
    m = data.meta
    text = (f"Neuron {m.get('neuron')} and its best single unit of {data.model_label()}, "
            f"{m.get('unit', '')} of {m.get('layer', '')}. (a) The neuron's mean response against "
            f"the unit's response, one point per stimulus; held-out r = {m.get('unit_r', float('nan')):.2f}. "
            "(b) Ridge predictivity (held-out r) of every neuron against its noise ceiling; the circle marks this "
            "neuron, the dashed line r = ceiling.")
    if has_tuning(data):
        bars = options is not None and options.orientation == "bar"
        shown = "the bars' orientation, \u03b8 + 90\u00b0" if bars else "\u03b8"
        sem = ("with its SEM over repeats (error bars)" if np.isfinite(data.array("tuning_sem")).any() else
               "without error bars (one repeat: no SEM)")
        text += (f" (c) Orientation tuning over the gratings named by their labels, at the neuron's preferred "
                 f"spatial frequency ({fmt(m.get('tuning_sf', float('nan')))} cycles per image) and contrast "
                 f"({fmt(m.get('tuning_contrast', float('nan')))}): the neuron's response, mean over repeats and "
                 f"phases, {sem}, and the unit's "
                 "response to the same gratings, mean over phases, scaled linearly so that its minimum and maximum "
                 f"meet the neuron's (one axis, the neuron's units; the unit's own range is "
                 f"{fmt(m.get('unit_min', float('nan')))} to {fmt(m.get('unit_max', float('nan')))} a.u.). "
                 f"{ORIENTATION_CONVENTION} The figure reports {shown}.")
    return text
