"""Population figures: an RDM with stimulus labels and its colour bar, and the PCA scatter.

The RDM is ``1 - Pearson r`` between the stimuli's population vectors
(:mod:`engine.analyses.population`); it is embedded as an image, one pixel per stimulus
pair.  Points of the PCA scatter are coloured by the stimulus (orientation for gratings)
with a legend or colour bar saying which.
"""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import NARROW_MM, FigureOptions, fmt, panel_letter, wrap

MAX_LABELS = 24


def _ticks(labels: list[str], n: int) -> tuple[list[int], list[str]]:
    if not labels or len(labels) != n:
        step = max(1, n // 8)
        return list(range(0, n, step)), [str(i) for i in range(0, n, step)]
    step = max(1, int(np.ceil(n / MAX_LABELS)))
    labels = [label.replace(" deg", "\u00b0").replace(" c/img", " c/i") for label in labels]
    short = [label if len(label) <= 16 else label[:15] + "\u2026" for label in labels]
    return list(range(0, n, step)), short[::step]


def rdm_panel(fig, ax, rdm: np.ndarray, labels: list[str], title: str, options: FigureOptions,
              vmax: float | None = None) -> None:
    """One RDM with stimulus labels on both axes and its own colour bar (range in its ticks)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    rdm = np.asarray(rdm, dtype=np.float64)
    n = rdm.shape[0]
    finite = rdm[np.isfinite(rdm)]
    hi = float(finite.max()) if vmax is None and finite.size else float(vmax or 1.0)
    hi = hi if hi > 0 else 1.0
    image = ax.imshow(rdm, cmap=colormaps[options.cmap if options.cmap != "RdBu_r" else "viridis"],
                      norm=Normalize(0.0, hi), interpolation="none", resample=False)
    ticks, names = _ticks(labels, n)
    small = options.font_size - 1.5
    ax.set_xticks(ticks, names, rotation=90, fontsize=small)
    ax.set_yticks(ticks, names, fontsize=small)
    ax.tick_params(length=1.5, pad=1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    ax.set_title(title, fontsize=options.font_size)
    bar = fig.colorbar(image, ax=ax, shrink=0.8, aspect=20, pad=0.03)
    bar.set_ticks([0.0, hi / 2, hi], labels=[fmt(0.0), fmt(hi / 2), fmt(hi)])
    bar.set_label("1 \u2212 Pearson r", fontsize=small)
    bar.ax.tick_params(labelsize=small, length=1.5)
    bar.outline.set_linewidth(0.5)


def _header(data: FigureData) -> str:
    view = data.meta.get("view", "")
    view = {"flat": "all units", "channels": "channel means", "centre": "centre units"}.get(view, view)
    return " \u00b7 ".join(t for t in (data.model_label(), data.meta.get("layer", ""), view) if t)


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if data.kind == "rdm":
        return min(options.width_in * 0.85, 7.0) + 0.3
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.9 + 0.6
    return min(options.width_in * 0.45, 4.0) + 0.8


def draw_rdm(fig, data: FigureData, options: FigureOptions) -> None:
    ax = fig.add_subplot()
    rdm = data.array("rdm")
    rdm_panel(fig, ax, rdm, data.meta.get("labels", []), f"RDM over {rdm.shape[0]} stimuli", options)
    fig.suptitle(wrap(_header(data), options), fontsize=options.font_size, x=0.01, ha="left")


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps

    if options.width_mm < NARROW_MM:
        ax_rdm, ax_pca = fig.subplots(2, 1)
    else:
        ax_rdm, ax_pca = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    rdm, scores = data.array("rdm"), data.array("scores")
    labels = list(data.meta.get("labels", []))
    rdm_panel(fig, ax_rdm, rdm, labels, f"RDM ({rdm.shape[0]} stimuli)", options)
    panel_letter(ax_rdm, 0, options)
    explained = data.array("explained") if "explained" in data.arrays else np.zeros(2)
    groups = data.array("groups") if "groups" in data.arrays else np.arange(len(scores), dtype=float)
    if data.meta.get("stimuli") == "gratings":
        points = ax_pca.scatter(scores[:, 0], scores[:, 1], c=groups % 180, cmap=colormaps["twilight"],
                                vmin=0, vmax=180, s=9, linewidths=0)
        bar = fig.colorbar(points, ax=ax_pca, shrink=0.8, aspect=20, pad=0.03)
        bar.set_ticks([0, 90, 180])
        bar.set_label("grating orientation (\u00b0)", fontsize=options.font_size - 1.5)
        bar.ax.tick_params(labelsize=options.font_size - 1.5, length=1.5)
    else:
        colors = colormaps["tab10"].colors
        for i, (x, y) in enumerate(scores[:, :2]):
            name = labels[i] if i < len(labels) else str(i)
            ax_pca.scatter([x], [y], color=colors[i % 10], s=10, linewidths=0,
                           label=name if len(scores) <= 10 else None)
        if len(scores) <= 10:
            ax_pca.legend(loc="outside right upper" if False else "best", fontsize=options.font_size - 2,
                          handletextpad=0.2, borderaxespad=0.2)
    pc = [f"PC{i + 1} ({100 * explained[i]:.0f}%)" if i < len(explained) else f"PC{i + 1}" for i in range(2)]
    ax_pca.set_xlabel(pc[0])
    ax_pca.set_ylabel(pc[1])
    ax_pca.set_title("PCA", fontsize=options.font_size)
    ax_pca.set_box_aspect(1)
    panel_letter(ax_pca, 1, options)
    facts = []
    for key, name in (("participation_ratio", "participation ratio"), ("lifetime_sparseness", "lifetime sparseness"),
                      ("population_sparseness", "population sparseness")):
        value = data.meta.get(key)
        if value is not None and np.isfinite(value):
            facts.append(f"{name} {value:.2f}")
    if data.meta.get("n_units"):
        facts.insert(0, f"{data.meta['n_units']} units")
    fig.suptitle(wrap(_header(data) + ("\n" + ", ".join(facts) if facts else ""), options),
                 fontsize=options.font_size, x=0.01, ha="left")
