"""The V1 property battery: metrics of the battery's protocols, per unit of a layer, and
a KS similarity to reference distributions.

Metrics of one tuning table (``columns``/``rows`` as :meth:`engine.analyses.tuning.TuningTable.table`
gives them), on F0 responses rectified at 0:

* **size** (:func:`size_metrics`): preferred aperture radius and the surround suppression
  index ``SSI = (R_peak - R_largest) / R_peak`` (Cavanaugh et al. 2002);
* **contrast** (:func:`contrast_metrics`): a Naka-Rushton fit ``R(c) = b + R_max c^n /
  (c^n + c50^n)`` by least squares, giving ``c50`` and the exponent ``n``;
* **hue** (:func:`hue_metrics`): preferred hue (sampled peak refined by a parabola) and
  the vector-average hue and selectivity ``|sum r e^{i h}| / sum r``;
* **bar length** (:func:`length_metrics`): optimal length and the end-stopping index
  ``1 - R_longest / R_peak``;
* **modulation ratio** ``F1 / F0`` at the condition with the largest F0 (De Valois et al.
  1982: above 1 a simple cell, below a complex one), for every phased protocol.

The battery that measures them for a layer's units is :mod:`engine.analyses.battery`; its
table's columns are :data:`COLUMNS`: the grid's values (:data:`PROPERTIES`) and, beside
them, those of a von Mises and a log-Gaussian fit (:data:`FITTED`; :mod:`engine.analyses.fits`).

KS similarity (:func:`ks_similarity`, as Marques, Schrimpf & DiCarlo 2021 define it) is
``1 - D`` with ``D`` the two-sample Kolmogorov-Smirnov statistic between the model's and
the reference's values of a property.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError

# The window reads reference files and scores similarity with this module, so it loads
# without torch: the battery imports the recording machinery when it runs.

PROPERTIES = ("preferred_orientation_deg", "circular_variance", "orientation_bandwidth_deg",
              "orthogonal_preferred_ratio", "peak_sf", "sf_bandwidth_octaves",
              "surround_suppression_index", "modulation_ratio", "response_magnitude")
"""The battery's properties, in column order."""

FITTED = ("preferred_orientation_fit_deg", "orientation_bandwidth_fit_deg", "peak_sf_fit",
          "sf_bandwidth_fit_octaves")
"""The fitted values beside the grid's (:mod:`engine.analyses.fits`: a von Mises over
orientation, a log-Gaussian over SF), in column order after :data:`PROPERTIES`."""

COLUMNS = ("layer", "channel", "y", "x") + PROPERTIES + FITTED

#: Spatial frequencies of the battery (cycles per RF, per image without one): 1/2 to 8, octaves.
BATTERY_SF = (0.5, 1.0, 2.0, 4.0, 8.0)


# --- one curve -----------------------------------------------------------------------


def _nan_dict(*names: str) -> dict:
    return {n: math.nan for n in names}


def curve(columns: Sequence[str], rows: Sequence[Sequence], param: str, measure: str = "f0"
          ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Values of ``param`` and responses along it, other varying parameters held at the best row.

    The best row is the one with the largest ``measure``; rows not recorded (NaN) are left out.
    """
    if param not in columns:
        raise UnitscopeError(f"The table has no parameter '{param}'; it has {', '.join(columns)}.")
    table = np.array([[float(v) for v in row] for row in rows], dtype=float).reshape(len(rows), len(columns))
    col = {name: i for i, name in enumerate(columns)}
    r = table[:, col[measure]]
    if np.all(np.isnan(r)):
        return np.array([]), np.array([]), {}
    best = table[int(np.nanargmax(r))]
    twin = {"sf": "sf_rf", "sf_rf": "sf"}.get(param)
    others = [c for c in columns[:col["f0"]] if c not in (param, twin) and np.unique(table[:, col[c]]).size > 1]
    keep = np.all([np.isclose(table[:, col[c]], best[col[c]]) for c in others], axis=0) if others else \
        np.ones(len(table), bool)
    keep &= ~np.isnan(r)
    x = table[keep, col[param]]
    order = np.argsort(x, kind="stable")
    return x[order], r[keep][order], {c: float(best[col[c]]) for c in others}


def _peak_and_end(values, responses, names: tuple[str, str, str, str]) -> dict:
    """The value at the peak, ``1 - R_end / R_peak`` with ``R_end`` at the largest value, and both
    responses (rectified at 0), under ``names``."""
    x, r = np.asarray(values, float), np.maximum(np.asarray(responses, float), 0.0)
    if x.size == 0 or r.max() <= 0:
        return _nan_dict(*names)
    peak, end = int(np.argmax(r)), int(np.argmax(x))
    return dict(zip(names, (float(x[peak]), float(1 - r[end] / r[peak]), float(r[peak]), float(r[end]))))


def size_metrics(radii: Sequence[float], responses: Sequence[float]) -> dict:
    """Preferred radius, the SSI, and the responses at the peak and at the largest radius."""
    return _peak_and_end(radii, responses, ("preferred_radius", "surround_suppression_index", "r_peak", "r_largest"))


def length_metrics(lengths: Sequence[float], responses: Sequence[float]) -> dict:
    """Optimal bar length, the end-stopping index ``1 - R_longest / R_peak`` and both responses."""
    return _peak_and_end(lengths, responses, ("optimal_length", "end_stopping_index", "r_peak", "r_longest"))


def naka_rushton(c, r_max: float, c50: float, n: float, baseline: float = 0.0):
    """``baseline + r_max * c^n / (c^n + c50^n)``."""
    c = np.asarray(c, dtype=float)
    return baseline + r_max * c**n / (c**n + c50**n)


def contrast_metrics(contrasts: Sequence[float], responses: Sequence[float]) -> dict:
    """Naka-Rushton fit (least squares): ``c50``, ``exponent``, ``r_max``, ``baseline`` and R^2."""
    from scipy.optimize import curve_fit

    c, r = np.asarray(contrasts, float), np.asarray(responses, float)
    names = ("c50", "exponent", "r_max", "baseline", "r_squared")
    if c.size < 4 or np.ptp(r) <= 0 or np.any(c <= 0):
        return _nan_dict(*names)
    order = np.argsort(c)
    c, r = c[order], r[order]
    half = r[0] + 0.5 * (r[-1] - r[0])
    c50_0 = float(np.exp(np.interp(half, np.maximum.accumulate(r), np.log(c)))) if r[-1] > r[0] else float(np.median(c))
    p0 = (max(r.max() - r.min(), 1e-12), c50_0, 2.0, r.min())
    bounds = ([0.0, c.min() / 100, 0.1, -np.inf], [np.inf, c.max() * 100, 20.0, np.inf])
    try:
        p, _ = curve_fit(naka_rushton, c, r, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError):
        return _nan_dict(*names)
    residual = r - naka_rushton(c, *p)
    r2 = 1 - float(np.sum(residual**2) / np.sum((r - r.mean()) ** 2))
    return {"c50": float(p[1]), "exponent": float(p[2]), "r_max": float(p[0]), "baseline": float(p[3]),
            "r_squared": r2}


def hue_metrics(hues: Sequence[float], responses: Sequence[float]) -> dict:
    """Preferred hue (sampled peak refined by a parabola), vector-average hue and selectivity."""
    from engine.analyses.tuning import _parabola_offset

    h, r = np.asarray(hues, float) % 360.0, np.maximum(np.asarray(responses, float), 0.0)
    if h.size == 0 or r.sum() <= 0:
        return _nan_dict("preferred_hue_deg", "vector_hue_deg", "hue_selectivity")
    order = np.argsort(h)
    h, r = h[order], r[order]
    peak = int(np.argmax(r))
    preferred = h[peak]
    steps = np.diff(np.r_[h, h[0] + 360.0])
    if h.size >= 3 and np.allclose(steps, steps[0]):
        preferred += _parabola_offset(r[peak - 1], r[peak], r[(peak + 1) % h.size]) * steps[0]
    vector = np.sum(r * np.exp(1j * np.radians(h)))
    return {"preferred_hue_deg": float(preferred % 360.0),
            "vector_hue_deg": float(math.degrees(np.angle(vector)) % 360.0),
            "hue_selectivity": float(abs(vector) / r.sum())}


def modulation_ratio(columns: Sequence[str], rows: Sequence[Sequence]) -> float:
    """``F1 / F0`` at the condition with the largest F0 (NaN when that F0 is not positive)."""
    f0 = np.array([float(row[columns.index("f0")]) for row in rows])
    f1 = np.array([float(row[columns.index("f1")]) for row in rows])
    if f0.size == 0 or np.all(np.isnan(f0)):
        return math.nan
    best = int(np.nanargmax(f0))
    return float(f1[best] / f0[best]) if f0[best] > 0 and np.isfinite(f1[best]) else math.nan


_KIND_METRICS = {"size": ("radius", size_metrics), "contrast": ("contrast", contrast_metrics),
                 "hue": ("hue", hue_metrics), "bar_length": ("length", length_metrics)}


def protocol_metrics(kind: str, columns: Sequence[str], rows: Sequence[Sequence]) -> dict:
    """The battery metrics of a protocol's table (F0): by kind, plus ``modulation_ratio`` when phased."""
    columns = list(columns)
    found: dict = {}
    if kind in _KIND_METRICS:
        param, fn = _KIND_METRICS[kind]
        x, r, fixed = curve(columns, rows, param)
        found[kind] = {**fn(x, r), "at": fixed}
    if "f1" in columns and any(np.isfinite(float(row[columns.index("f1")])) for row in rows):
        found["modulation_ratio"] = modulation_ratio(columns, rows)
    return found


# --- similarity to reference distributions -------------------------------------------


def ks_similarity(model_values: Sequence[float], reference_values: Sequence[float]) -> float:
    """``1 - D_KS`` between two samples (NaN values left out; NaN when either is empty)."""
    from scipy.stats import ks_2samp

    a = np.asarray(model_values, float)
    b = np.asarray(reference_values, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    return float(1.0 - ks_2samp(a, b).statistic)


def read_reference(path: str | Path) -> dict[str, np.ndarray]:
    """Reference distributions from a CSV: one column per property (names as :data:`PROPERTIES`
    or :data:`FITTED`), one value per row; empty cells are left out.  Columns with other names
    are ignored."""
    from engine.files.reading import check_regular

    path = Path(path)
    check_regular(path, "Reference", 1 << 30)  # never a FIFO or a device
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            found = [name for name in (reader.fieldnames or []) if name in PROPERTIES + FITTED]
            values: dict[str, list[float]] = {name: [] for name in found}
            for line, row in enumerate(reader, start=2):
                for name in found:
                    text = (row.get(name) or "").strip()
                    if not text:
                        continue
                    try:
                        values[name].append(float(text))
                    except ValueError:
                        raise UnitscopeError(f"Reference '{path.name}' line {line}: '{text}' in column "
                                             f"'{name}' is not a number.") from None
    except OSError as exc:
        raise UnitscopeError(f"Reference '{path}' could not be read: {exc.strerror or exc}.") from None
    if not found:
        raise UnitscopeError(f"Reference '{path.name}' has no column named as a property "
                             f"({', '.join(PROPERTIES)}).")
    return {name: np.asarray(v, float) for name, v in values.items()}


def similarity_to_reference(rows: Sequence[Sequence], reference: dict[str, np.ndarray]) -> dict:
    """KS similarity per property the reference has, and their mean, JSON-ready."""
    scores = {}
    for name, ref in reference.items():
        i = COLUMNS.index(name)
        model = [float(row[i]) for row in rows]
        scores[name] = {"similarity": ks_similarity(model, ref),
                        "n_model": int(np.isfinite(model).sum()), "n_reference": int(np.isfinite(ref).sum())}
    finite = [s["similarity"] for s in scores.values() if math.isfinite(s["similarity"])]
    return {"properties": scores, "mean": float(np.mean(finite)) if finite else math.nan}
