"""Population figures: an RDM with stimulus labels and its colour bar, and the PCA scatter.

The RDM is ``1 - Pearson r`` between the stimuli's population vectors
(:mod:`engine.analyses.population`); it is embedded as an image, one pixel per stimulus
pair (repeated to 300 pixels per inch when printed).  The RDM of a grating protocol is
labelled in groups: one tick per orientation block, spatial frequency rising within each
block (said in the caption).  Points of the PCA scatter are coloured by orientation for
gratings (one marker per spatial frequency) or by stimulus, on equal axes.
"""

from __future__ import annotations

import re

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import NARROW_MM, FigureOptions, colorbar, fmt, label_of, panel_letter

MAX_LABELS = 24
GRATING = re.compile(r"^\s*([-\d.eE+]+) deg, ([-\d.eE+]+) c/img\s*$")
MARKERS = "os^Dvp<>"


def grating_grid(labels: list[str]) -> tuple[list[float], list[float]] | None:
    """(orientation, spatial frequency) of every label of a grating protocol, or None."""
    parsed = [GRATING.match(label) for label in labels]
    if not labels or not all(parsed):
        return None
    return [float(m.group(1)) for m in parsed], [float(m.group(2)) for m in parsed]


def _blocks(values: list[float]) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal values."""
    out, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            out.append((start, i))
            start = i
    return out


def _label_axes(ax, labels: list[str], n: int, options: FigureOptions) -> None:
    grid = grating_grid(labels) if len(labels) == n else None
    if grid is not None and len(_blocks(grid[0])) < n:
        blocks = _blocks(grid[0])
        centres = [(a + b - 1) / 2 for a, b in blocks]
        names = [f"{fmt(grid[0][a])}\u00b0" for a, _ in blocks]
        step = max(1, int(np.ceil(len(blocks) / MAX_LABELS)))
        ax.set_xticks(centres[::step], names[::step], rotation=90)
        ax.set_yticks(centres[::step], names[::step])
        ax.set_xticks(np.arange(n), minor=True)
        ax.set_yticks(np.arange(n), minor=True)
        ax.tick_params(which="minor", length=1.0, width=0.4)
        ax.tick_params(which="major", length=0)
        for a, _ in blocks[1:]:
            ax.axhline(a - 0.5, color="white", lw=0.5)
            ax.axvline(a - 0.5, color="white", lw=0.5)
        ax.set_xlabel("orientation \u03b8 (blocks)")
        return
    if not labels or len(labels) != n:
        step = max(1, n // 8)
        ticks, names = list(range(0, n, step)), [str(i + 1) for i in range(0, n, step)]
        ax.set_xlabel("stimulus")
    else:
        step = max(1, int(np.ceil(n / MAX_LABELS)))
        short = [label_of(label) for label in labels]
        short = [s if len(s) <= 16 else s[:15] + "\u2026" for s in short]
        ticks, names = list(range(0, n, step)), short[::step]
    ax.set_xticks(ticks, names, rotation=90)
    ax.set_yticks(ticks, names)
    ax.tick_params(length=1.5, pad=1)


def rdm_panel(fig, ax, rdm: np.ndarray, labels: list[str], title: str, options: FigureOptions,
              vmax: float | None = None, bar: bool = True):
    """One RDM with stimulus labels on both axes (in groups for a grating protocol) and a colour bar."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from engine.figures.style import DIVERGING

    rdm = np.asarray(rdm, dtype=np.float64)
    n = rdm.shape[0]
    finite = rdm[np.isfinite(rdm)]
    hi = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    hi = hi if hi > 0 else 1.0
    cmap = options.cmap if options.cmap not in DIVERGING else "viridis"  # dissimilarity is not signed
    image = ax.imshow(rdm, cmap=colormaps[cmap], norm=Normalize(0.0, hi), interpolation="none", resample=False)
    _label_axes(ax, labels, n, options)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    for spine in ax.spines.values():
        spine.set_linewidth(0.4)
    if title:
        ax.set_title(title)
    if bar:
        colorbar(fig, image, ax, "dissimilarity (1 \u2212 Pearson r)", options, shrink=0.8, aspect=20, pad=0.03)
    return image


def _view(data: FigureData) -> str:
    view = data.meta.get("view", "")
    return {"flat": "all units", "channels": "the spatial mean of each channel",
            "centre": "every channel at the centre of the map"}.get(view, view)


def stimuli_text(data: FigureData, n: int) -> str:
    """The stimuli of an RDM, as the caption names them."""
    labels = list(data.meta.get("labels", []))
    grid = grating_grid(labels)
    if grid is not None:
        oris, sfs = sorted(set(grid[0])), sorted(set(grid[1]))
        return (f"{n} full-field sine gratings ({len(oris)} orientations \u00d7 {len(sfs)} spatial frequencies: "
                f"\u03b8 = {fmt(oris[0])}\u2013{fmt(oris[-1])}\u00b0 in steps of "
                f"{fmt(oris[1] - oris[0]) if len(oris) > 1 else '0'}\u00b0, "
                f"{', '.join(fmt(s) for s in sfs)} cycles per image); the matrix is ordered by orientation "
                "(labelled blocks) and, within a block, by rising spatial frequency")
    if labels:
        return f"{n} images ({', '.join(label_of(label) for label in labels[:12])}" + (
            ", \u2026)" if len(labels) > 12 else ")")
    return f"{n} stimuli"


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if data.kind == "rdm":
        return min(options.width_in * 0.85, 7.0) + 0.1
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.9 + 0.3
    return min(options.width_in * 0.45, 4.0) + 0.5


def draw_rdm(fig, data: FigureData, options: FigureOptions) -> None:
    ax = fig.add_subplot()
    rdm_panel(fig, ax, data.array("rdm"), data.meta.get("labels", []), "", options)


def caption(data: FigureData, options: FigureOptions) -> str:
    rdm = data.array("rdm")
    n = rdm.shape[0]
    measure = (data.meta.get("measure") or "1 \u2212 Pearson r").replace("1 - ", "1 \u2212 ")
    view = _view(data)
    text = (f"Representational dissimilarity matrix (RDM, {measure}) of {data.meta.get('layer', '')}"
            + (f" ({view})" if view else "") + f" in {data.model_label()} over {stimuli_text(data, n)}.")
    if data.kind == "population":
        explained = data.array("explained") if "explained" in data.arrays else np.zeros(0)
        text += (" b, The stimuli on the first two principal components of the population responses"
                 + (f" ({100 * explained[0]:.0f}% and {100 * explained[1]:.0f}% of the variance)"
                    if len(explained) >= 2 else "") + ", equal axes")
        if grating_grid(list(data.meta.get("labels", []))) is not None:
            text += "; colour: orientation \u03b8, marker: spatial frequency"
        text += "."
        facts = []
        if data.meta.get("n_units"):
            facts.append(f"{data.meta['n_units']} units")
        for key, name in (("participation_ratio", "participation ratio"),
                          ("lifetime_sparseness", "mean lifetime sparseness"),
                          ("population_sparseness", "mean population sparseness")):
            value = data.meta.get(key)
            if value is not None and np.isfinite(value):
                facts.append(f"{name} {value:.2f}")
        if facts:
            text += " " + "; ".join(facts).capitalize() + "."
        text = "a, " + text
    return text


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    from matplotlib import colormaps

    if options.width_mm < NARROW_MM:
        ax_rdm, ax_pca = fig.subplots(2, 1)
    else:
        ax_rdm, ax_pca = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    rdm, scores = data.array("rdm"), data.array("scores")
    labels = list(data.meta.get("labels", []))
    rdm_panel(fig, ax_rdm, rdm, labels, "RDM", options)
    panel_letter(ax_rdm, 0, options)
    explained = data.array("explained") if "explained" in data.arrays else np.zeros(2)
    groups = data.array("groups") if "groups" in data.arrays else np.arange(len(scores), dtype=float)
    grid = grating_grid(labels)
    if data.meta.get("stimuli") == "gratings" or grid is not None:
        sfs = grid[1] if grid is not None else [0.0] * len(scores)
        points = None
        for k, sf in enumerate(sorted(set(sfs))):
            mine = np.array([s == sf for s in sfs])
            points = ax_pca.scatter(scores[mine, 0], scores[mine, 1], c=groups[mine] % 180,
                                    cmap=colormaps["twilight"], vmin=0, vmax=180, s=10, linewidths=0.3,
                                    edgecolors="0.35",  # the cyclic map is near white at 0 and 180 degrees
                                    marker=MARKERS[k % len(MARKERS)],
                                    label=f"{fmt(sf)} c/img" if grid is not None else None)
        bar = colorbar(fig, points, ax_pca, "orientation \u03b8 (\u00b0)", options, shrink=0.8, aspect=20, pad=0.03)
        bar.set_ticks([0, 45, 90, 135, 180], labels=["0", "45", "90", "135", "180"])
        if grid is not None and len(set(sfs)) > 1:
            from matplotlib.lines import Line2D

            values = sorted(set(sfs))
            handles = [Line2D([], [], ls="none", marker=MARKERS[k % len(MARKERS)], color="0.3", markersize=3)
                       for k in range(len(values))]
            fig.legend(handles, [f"{fmt(sf)} c/img" for sf in values], loc="outside lower center",
                       ncol=min(4, len(values)), handletextpad=0.1, columnspacing=0.8, title="spatial frequency",
                       title_fontsize=options.small)
    else:
        from engine.figures.style import LINE_COLORS

        for i, (x, y) in enumerate(scores[:, :2]):
            name = label_of(labels[i]) if i < len(labels) else str(i + 1)
            ax_pca.scatter([x], [y], color=LINE_COLORS[i % len(LINE_COLORS)], marker=MARKERS[(i // 8) % 8], s=10,
                           linewidths=0, label=name if len(scores) <= 8 else None)
        if len(scores) <= 8:
            ax_pca.legend(loc="best", handletextpad=0.2, borderaxespad=0.2)
    pc = [f"PC{i + 1} ({100 * explained[i]:.0f}%)" if i < len(explained) else f"PC{i + 1}" for i in range(2)]
    ax_pca.set_xlabel(pc[0])
    ax_pca.set_ylabel(pc[1])
    ax_pca.set_title("PCA")
    ax_pca.set_aspect("equal", adjustable="datalim")
    ax_pca.set_box_aspect(1)
    panel_letter(ax_pca, 1, options)
