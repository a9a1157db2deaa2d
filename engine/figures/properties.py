"""The V1 property battery of a layer: one distribution per property, the reference's overlaid.

As Marques, Schrimpf & DiCarlo (2021) plot model against primate V1: for each property a
histogram of the units' values (filled) and, when a reference is given, the reference's
(outline) on the same bins, both as fractions of their units, with the KS similarity
``1 - D`` of the two distributions.

Arrays: ``model.<property>`` (one value per unit, NaN where undefined) and
``reference.<property>``.  Meta: ``layer``, ``n_units``, ``reference`` (its file name),
``similarity`` (property -> KS similarity), ``mean_similarity``.
"""

from __future__ import annotations

import math

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import LINE_COLORS, FigureOptions, fmt, panel_letter

#: Axis label and log scale of each property of :data:`engine.analyses.properties.PROPERTIES`.
LABELS = {
    "preferred_orientation_deg": ("preferred \u03b8 (\u00b0)", False),
    "circular_variance": ("circular variance", False),
    "orientation_bandwidth_deg": ("orientation\nbandwidth (\u00b0)", False),
    "orthogonal_preferred_ratio": ("orthogonal /\npreferred", False),
    "peak_sf": ("peak SF\n(cycles / RF)", True),
    "sf_bandwidth_octaves": ("SF bandwidth\n(octaves)", False),
    "surround_suppression_index": ("surround\nsuppression index", False),
    "modulation_ratio": ("modulation\nratio F1/F0", False),
    "response_magnitude": ("peak response\n(a.u.)", False),
}


def properties_of(data: FigureData) -> list[str]:
    return [name for name in LABELS if f"model.{name}" in data.arrays]


def _cols(n: int, options: FigureOptions) -> int:
    return min(n, 3 if options.width_mm < 150 else 5)


def figure_height(data: FigureData, options: FigureOptions) -> float:
    n = len(properties_of(data))
    cols = _cols(n, options)
    rows = math.ceil(n / cols)
    return rows * (options.width_in / cols * 0.72 + 0.42) + 0.3


def _bins(values: np.ndarray, log: bool) -> np.ndarray:
    if log:
        values = values[values > 0]
        lo, hi = (values.min(), values.max()) if values.size else (0.5, 8.0)
        if hi <= lo:
            lo, hi = lo / 2, hi * 2
        return np.geomspace(lo, hi, 13)
    lo, hi = (values.min(), values.max()) if values.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, 16)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    names = properties_of(data)
    cols = _cols(len(names), options)
    rows = math.ceil(len(names) / cols)
    axes = fig.subplots(rows, cols, squeeze=False)
    similarity = data.meta.get("similarity") or {}
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_axis_off()
            continue
        name = names[i]
        label, log = LABELS[name]
        model = data.array(f"model.{name}").astype(np.float64)
        model = model[np.isfinite(model)]
        ref = data.arrays.get(f"reference.{name}")
        ref = None if ref is None else np.asarray(ref, np.float64)[np.isfinite(ref)]
        both = model if ref is None else np.concatenate([model, ref])
        bins = _bins(both, log)
        if model.size:
            ax.hist(model, bins=bins, weights=np.full(model.size, 1 / model.size), color=LINE_COLORS[0],
                    edgecolor="none", label="model")
        if ref is not None and ref.size:
            ax.hist(ref, bins=bins, weights=np.full(ref.size, 1 / ref.size), histtype="step", color=LINE_COLORS[1],
                    lw=1.0, label="reference")
        if log:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=2))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt(v)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        from matplotlib.ticker import MaxNLocator

        if not log:
            ax.xaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_major_locator(MaxNLocator(3, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel(label)
        if i % cols == 0:
            ax.set_ylabel("fraction of units")
        score = (similarity.get(name) or {}).get("similarity") if isinstance(similarity.get(name), dict) \
            else similarity.get(name)
        ax.set_title(f"KS sim. {score:.2f}" if score is not None and np.isfinite(score) else
                     f"n = {model.size}")
        panel_letter(ax, i, options)
    if any(f"reference.{n}" in data.arrays for n in names):
        found: dict = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                found.setdefault(label, handle)
        fig.legend(list(found.values()), list(found), loc="outside lower center", ncol=2, handlelength=1.5)


def caption(data: FigureData, options: FigureOptions) -> str:
    names = properties_of(data)
    m = data.meta
    n_units = m.get("n_units") or (len(data.array(f"model.{names[0]}")) if names else 0)
    text = (f"V1 properties of {n_units} units of {m.get('layer', '')} (one per channel, at the centre of its "
            f"feature map) in {data.model_label()}: the distribution of each property over units (filled), as a "
            "fraction of the units where it is defined")
    has_reference = any(f"reference.{n}" in data.arrays for n in names)
    if has_reference:
        text += (f", and the reference distribution ({m.get('reference') or 'reference'}; outline) on the same bins."
                 " Panel titles: KS similarity 1 \u2212 D, D the two-sample Kolmogorov\u2013Smirnov statistic "
                 "(Marques et al. 2021)")
        if m.get("mean_similarity") is not None and np.isfinite(m["mean_similarity"]):
            text += f"; mean over properties {m['mean_similarity']:.3f}"
    if has_reference and m.get("reference_note"):
        text += ". " + m["reference_note"].rstrip(".")
    text += (". Orientation \u03b8 is the direction along which luminance varies (0\u00b0: vertical bars, clockwise on "
             "screen); spatial frequency in cycles per receptive field.")
    return text
