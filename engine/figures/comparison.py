"""Two layers compared: their RDMs side by side, each with its own colour bar, and RSA and CKA.

RSA is the Spearman correlation of the two RDMs' upper triangles; CKA is linear CKA of the
two populations (:mod:`engine.analyses.population`).
"""

from __future__ import annotations

from engine.figures.data import FigureData
from engine.figures.population import _header, rdm_panel
from engine.figures.style import NARROW_MM, FigureOptions, panel_letter, wrap


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.9 + 0.6
    return min(options.width_in * 0.5, 4.5) + 0.55


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    axes = fig.subplots(2, 1) if options.width_mm < NARROW_MM else fig.subplots(1, 2)
    labels = list(data.meta.get("labels", []))
    for i, (key, layer) in enumerate((("rdm", data.meta.get("layer", "")), ("rdm_b", data.meta.get("layer_b", "")))):
        rdm_panel(fig, axes[i], data.array(key), labels, layer, options)
        panel_letter(axes[i], i, options)
    rsa, cka = data.meta.get("rsa"), data.meta.get("cka")
    numbers = []
    if rsa is not None:
        numbers.append(f"RSA (Spearman \u03c1 of RDMs) = {rsa:.3f}")
    if cka is not None:
        numbers.append(f"linear CKA = {cka:.3f}")
    header = _header(FigureData(data.kind, meta={**data.meta, "layer": ""}, jobs=data.jobs,
                                provenance=data.provenance))
    fig.suptitle(wrap(header + f", {len(labels) or data.array('rdm').shape[0]} stimuli\n" + "; ".join(numbers),
                      options), fontsize=options.font_size, x=0.01, ha="left")
