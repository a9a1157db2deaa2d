"""A layer sweep against recorded neurons: held-out r per layer (median over neurons, with
the median bootstrap interval) under the neurons' noise ceiling (band: its interval), the
ceiling-normalised score, and RSA and CKA per layer (:mod:`engine.figures.predictivity`)."""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import LINE_COLORS, NARROW_MM, FigureOptions, panel_letter


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.3 + 0.8  # two panels, each a little wider than tall
    return min(options.width_in * 0.45, 4.0) + 0.9


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    layers = list(data.meta.get("layers", []))
    x = np.arange(len(layers))
    axes = fig.subplots(2, 1) if options.width_mm < NARROW_MM else fig.subplots(1, 2)
    ax = axes[0]
    ceiling = data.array("ceiling")
    if np.isfinite(ceiling).all():
        ax.axhspan(ceiling[1], ceiling[2], color="0.85", lw=0, label="noise ceiling (95% CI)")
        ax.axhline(ceiling[0], color="0.4", lw=0.8, ls="--")
    r = data.array("r")
    ax.errorbar(x, r, yerr=[r - data.array("r_low"), data.array("r_high") - r], fmt="-o", color=LINE_COLORS[0],
                capsize=2, label="ridge r (median, 95% CI)")
    if np.isfinite(data.array("normalised")).any():
        ax.plot(x, data.array("normalised"), "-s", color=LINE_COLORS[1], label="r / ceiling")
    ax.set_ylabel("held-out r")
    ax2 = axes[1]
    ax2.plot(x, data.array("rsa"), "-o", color=LINE_COLORS[2], label="RSA (Spearman)")
    ax2.plot(x, data.array("cka"), "-s", color=LINE_COLORS[4], label="linear CKA")
    rdm_ceiling = data.meta.get("rdm_ceiling")
    if rdm_ceiling is not None and np.isfinite(rdm_ceiling):
        ax2.axhline(rdm_ceiling, color="0.4", lw=0.8, ls="--", label="RSA ceiling")
    ax2.set_ylabel("similarity")
    for i, a in enumerate((ax, ax2)):
        a.set_xticks(x)
        long = len(layers) > 3 or max((len(n) for n in layers), default=0) > 8
        a.set_xticklabels(layers, rotation=90 if long else 0, ha="center")
        a.set_xlabel("layer")
        a.legend(loc="best", fontsize=options.small, frameon=True, framealpha=0.85, edgecolor="none")
        panel_letter(a, i, options)


def caption(data: FigureData, options: FigureOptions) -> str:
    layers = list(data.meta.get("layers", []))
    return (f"Predictivity of {data.meta.get('n_neurons')} recorded neurons from {len(layers)} layers of "
            f"{data.model_label()} ({', '.join(layers)}), {data.meta.get('n_stimuli')} stimuli shown at "
            f"{data.meta.get('deg_per_image', 8):g}\u00b0 per image. (a) Held-out Pearson r of cross-validated ridge "
            "regression (median over neurons, 95% bootstrap interval over stimuli), the same divided by each "
            "neuron's noise ceiling, and the ceiling (split-half reliability, Spearman\u2013Brown corrected; band: "
            "95% interval). (b) RSA (Spearman correlation of the brain and layer RDMs) and linear CKA"
            + (", with the brain RDM's noise ceiling" if data.meta.get("rdm_ceiling") is not None else "") + ".")
