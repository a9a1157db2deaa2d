"""Two layers compared: their RDMs side by side on one colour scale, and RSA and CKA in the caption.

RSA is the Spearman correlation of the two RDMs' upper triangles; CKA is linear CKA of the
two populations (:mod:`engine.analyses.population`).
"""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.population import _view, rdm_panel, stimuli_text
from engine.figures.style import NARROW_MM, FigureOptions, colorbar, panel_letter


def figure_height(data: FigureData, options: FigureOptions) -> float:
    if options.width_mm < NARROW_MM:
        return options.width_in * 1.9 + 0.3
    return min(options.width_in * 0.5, 4.5) + 0.3


def _shared_max(data: FigureData) -> float:
    values = np.concatenate([data.array("rdm").ravel(), data.array("rdm_b").ravel()])
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size and values.max() > 0 else 1.0


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    narrow = options.width_mm < NARROW_MM
    axes = fig.subplots(2, 1) if narrow else fig.subplots(1, 2)
    labels = list(data.meta.get("labels", []))
    hi = _shared_max(data)
    image = None
    for i, (key, layer) in enumerate((("rdm", data.meta.get("layer", "")), ("rdm_b", data.meta.get("layer_b", "")))):
        image = rdm_panel(fig, axes[i], data.array(key), labels, layer, options, vmax=hi, bar=False)
        panel_letter(axes[i], i, options)
    colorbar(fig, image, list(axes), "dissimilarity (1 \u2212 Pearson r), both panels", options,
             shrink=0.6 if narrow else 0.8, aspect=25, pad=0.03)


def caption(data: FigureData, options: FigureOptions) -> str:
    n = data.array("rdm").shape[0]
    view = _view(data)
    text = (f"Representational dissimilarity matrices (1 \u2212 Pearson r) of a, {data.meta.get('layer', '')} and "
            f"b, {data.meta.get('layer_b', '')}" + (f" ({view})" if view else "") + f" in {data.model_label()}"
            + f" over {stimuli_text(data, n)}; both on one colour scale (0 to {_shared_max(data):.3g}).")
    numbers = []
    rsa, cka = data.meta.get("rsa"), data.meta.get("cka")
    if rsa is not None:
        numbers.append(f"RSA (Spearman \u03c1 between the RDMs' upper triangles) = {rsa:.3f}")
    if cka is not None:
        numbers.append(f"linear CKA = {cka:.3f}")
    return text + (" " + "; ".join(numbers)[0].upper() + "; ".join(numbers)[1:] + "." if numbers else "")
