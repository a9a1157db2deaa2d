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

The battery (:func:`property_battery`) measures, for units at the receptive-field centre
of a layer's map, the orientation and spatial-frequency properties from one grid of
full-field gratings (orientation x SF x phase), recorded as two protocols (the orientation
sweep at the middle SF, then the other SFs), then surround suppression from gratings in
apertures (orientation x radius x phase) at the units' median preferred SF.  Every stimulus
is recorded once for all the units (one forward pass per batch, stopped at the layer), and
a progress report follows every protocol, so the first properties are seen after the
orientation sweep.  Beside the grid's preferred orientation, SF and bandwidths stand the
values of a von Mises and a log-Gaussian fit (:data:`FITTED`; :mod:`engine.analyses.tuning`).

KS similarity (:func:`ks_similarity`, as Marques, Schrimpf & DiCarlo 2021 define it) is
``1 - D`` with ``D`` the two-sample Kolmogorov-Smirnov statistic between the model's and
the reference's values of a property.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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
"""The fitted values beside the grid's (:mod:`engine.analyses.tuning`: a von Mises over
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


# --- the battery ---------------------------------------------------------------------

ORIENTATION, SPATIAL_FREQUENCY, SIZE = "orientation", "spatial frequency", "size"
STAGES = (ORIENTATION, SPATIAL_FREQUENCY, SIZE)
"""The battery's protocols, in the order they are recorded."""


@dataclass
class BatteryProgress:
    """How far the battery is.

    Attributes
    ----------
    rows : list of list
        Finished units (``COLUMNS`` order): empty until the last protocol is measured, then all.
    done, total : int
        Stimuli recorded / to record.
    rf : dict
        The RF centre unit's geometry.
    preview : list of list
        Every unit's row with the properties of the protocols measured so far, NaN for the
        others (empty before the first protocol is measured; equal to ``rows`` at the end).
    stages : list of [str, int, int]
        Each protocol (:data:`STAGES`) with its stimuli recorded and to record.
    stage : str
        The protocol being recorded ("" once all are).
    """

    rows: list[list]
    done: int
    total: int
    rf: dict
    preview: list[list] = field(default_factory=list)
    stages: list[list] = field(default_factory=list)
    stage: str = ""


def choose_channels(n_channels: int, units: int | None) -> list[int]:
    """All channels (``units`` None) or ``units`` channels spread evenly over the layer."""
    if units is None or units >= n_channels:
        return list(range(n_channels))
    if units < 1:
        raise UnitscopeError("--units must be at least 1, or 'all'.")
    return sorted({int(round(i)) for i in np.linspace(0, n_channels - 1, units)})


class ProtocolStimuli:
    """Some stimuli of a :class:`engine.stimuli.protocols.Protocol`, in a given order: what
    :func:`engine.stimuli.protocols.record_stimuli` takes (``batch.start`` counts within them).

    Parameters
    ----------
    protocol : Protocol
    indices : sequence of int
        Stimulus indices of the protocol (``condition * n_phases + phase``).
    channels_last : bool
        Hand the batches over channels-last (as a channels-last recorder runs them).

    A batch is normalised at once in NumPy (the same float32 operations as
    :meth:`engine.models.preprocess.Preprocess.array`, so the same values): per image in
    torch, small operations on a shared CPU cost more than the forward pass.
    """

    def __init__(self, protocol, indices: Sequence[int], channels_last: bool = False):
        self.protocol = protocol
        self.indices = np.asarray(indices, dtype=np.int64)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return int(self.indices.size)

    def batches(self, preprocess, batch_size: int = 32):
        import torch

        from engine.stimuli.protocols import StimulusBatch

        mean = preprocess.mean.reshape(-1).numpy().astype(np.float32)
        std = preprocess.std.reshape(-1).numpy().astype(np.float32)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        n_phases = len(self.protocol.phases)
        for start in range(0, len(self), batch_size):
            chosen = self.indices[start:start + batch_size]
            made = [self.protocol.stimulus(i) for i in chosen]
            images = np.stack([image for _, image in made]).astype(np.float32, copy=False)
            inputs = torch.from_numpy((images - mean) / std).permute(0, 3, 1, 2).contiguous(memory_format=layout)
            yield StimulusBatch(start=start, inputs=inputs, params=[p for p, _ in made], condition=chosen // n_phases,
                                phase=np.asarray(self.protocol.phases, float)[chosen % n_phases], images=images)


def aperture_covers_image(protocol, radius: float) -> bool:
    """Whether a circular aperture of ``radius`` around the protocol's centre holds every pixel
    (the test :func:`engine.stimuli.procedural.sine_grating` makes), so that the grating in it
    is the full-field grating."""
    h, w = protocol.size
    cy, cx = protocol.center
    y, x = np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx
    return bool(np.all(x**2 + y**2 <= radius**2))


def grid_twins(sizes, grid) -> np.ndarray:
    """For every stimulus of the ``size`` protocol, the index of the full-field ``gratings``
    stimulus with the same image (the aperture holds every pixel; same orientation, SF,
    contrast and phase), or -1."""
    twins = np.full(len(sizes), -1, dtype=np.int64)
    by_params = {(c["orientation"], c["sf"], c["contrast"]): i for i, c in enumerate(grid.conditions)}
    grid_phase = {float(p): k for k, p in enumerate(grid.phases)}
    n_size, n_grid = len(sizes.phases), len(grid.phases)
    covering: dict[float, bool] = {}
    for c, cond in enumerate(sizes.conditions):
        radius = cond["radius"]
        if radius not in covering:
            covering[radius] = aperture_covers_image(sizes, radius)
        twin = by_params.get((cond["orientation"], cond["sf"], cond["contrast"]))
        if not covering[radius] or twin is None:
            continue
        for k, phase in enumerate(sizes.phases):
            if float(phase) in grid_phase:
                twins[c * n_size + k] = twin * n_grid + grid_phase[float(phase)]
    return twins


def size_sweep_sf(peak_sfs: Sequence[float], sfs: Sequence[float]) -> float:
    """The SF of the size sweep: of ``sfs``, the nearest (in octaves) to the median of the units'
    finite peak SFs; the middle one when none is finite."""
    sfs = np.asarray(sfs, float)
    peaks = [p for p in peak_sfs if math.isfinite(p)]
    if not peaks:
        return float(sfs[len(sfs) // 2])
    return float(sfs[int(np.argmin(np.abs(np.log2(sfs) - np.log2(np.median(peaks)))))])


def property_battery(recorder, anatomy, preprocess, layer: str, channels: Sequence[int],
                     orientations: int = 12, sfs: Sequence[float] = BATTERY_SF, phases: int = 8,
                     size_phases: int = 4, batch_size: int = 32,
                     cancelled: Callable[[], bool] = lambda: False) -> Iterator[BatteryProgress]:
    """Measure :data:`PROPERTIES` of ``channels`` at the RF centre of ``layer``; yield after every
    batch and after every protocol.

    Every stimulus is recorded once for all the units (one forward pass per batch, stopped
    at the layer, every unit read from it).  Three protocols, in order:

    1. **orientation**: full-field gratings at every orientation, at the middle SF of ``sfs``;
       then the preview has the orientation properties, the modulation ratio and the
       response (of the conditions so far) of every unit;
    2. **spatial frequency**: the same gratings at the other SFs, completing the orientation
       x SF grid that the orientation sweep is part of; then the orientation and SF
       properties and their fits are final (the orientation curve is taken at the unit's
       preferred SF, the SF curve at its preferred orientation);
    3. **size**: gratings in apertures (every orientation x radii from 1/16 of the RF side to
       the side x ``size_phases`` phases) at the units' median preferred SF; a stimulus
       whose aperture holds the whole image is the grid's full-field grating, whose
       responses are reused rather than recorded again.

    Parameters
    ----------
    recorder, anatomy, preprocess
        Of the open session.
    layer : str
    channels : sequence of int
    orientations, sfs, phases
        The grating grid: ``orientations`` from 0 to 180 degrees, ``sfs`` in cycles per RF
        (per image for a layer without spatial maps), ``phases`` per condition.
    size_phases : int
        Phases per condition of the size sweep.
    batch_size : int
    cancelled : callable
        Checked before every batch (raises :class:`engine.recording.recorder.Cancelled`).
    """
    from engine.analyses.tuning import TuningTable
    from engine.analyses.units import Unit, unit_geometry
    from engine.stimuli.protocols import Protocol

    if not len(channels):
        raise UnitscopeError("No units to measure.")
    recorder.resolve([layer])
    channels = [int(c) for c in channels]
    geometry = unit_geometry(anatomy, Unit(layer, channels[0]))
    unit, rf = geometry.unit, geometry.as_dict()
    size = preprocess.crop_size
    sfs = np.asarray(sfs, float)
    sf_key = "sf_rf" if geometry.side else "sf"
    grid = Protocol("gratings", size, {"orientation": 180.0 * np.arange(orientations) / orientations, sf_key: sfs},
                    center=geometry.center, rf_side=geometry.side, phases=phases)

    def size_protocol(sf: float):
        return Protocol("size", size, {"orientation": grid.axes["orientation"], sf_key: sf},
                        center=geometry.center, rf_side=geometry.side, phases=size_phases)

    first_sf = float(sfs[len(sfs) // 2])
    condition = np.arange(len(grid)) // len(grid.phases)
    on_first = np.array([c[sf_key] == first_sf for c in grid.conditions])[condition]
    parts = [np.flatnonzero(on_first), np.flatnonzero(~on_first)]
    n_size = int(np.sum(grid_twins(size_protocol(first_sf), grid) < 0))  # which are reused does not depend on SF
    stages = [[ORIENTATION, 0, int(parts[0].size)], [SPATIAL_FREQUENCY, 0, int(parts[1].size)], [SIZE, 0, n_size]]
    total = sum(n for _, _, n in stages)
    done = 0
    table = TuningTable.for_protocol(grid, len(channels))
    kept = np.full((len(grid), len(channels)), np.nan) if n_size < len(size_protocol(first_sf)) else None
    preview: list[list] = []

    def progress(rows=(), stage=""):
        return BatteryProgress(list(rows), done, total, rf, list(preview), [list(s) for s in stages], stage)

    def row(u: int, props: dict) -> list:
        return [layer, channels[u], unit.y, unit.x] + [props[p] for p in PROPERTIES + FITTED]

    for k, part in enumerate(parts):
        for batch, indices, responses in _responses(recorder, layer, unit, channels, grid, part, preprocess,
                                                    batch_size, cancelled):
            table.update(batch.condition, batch.phase, responses)
            if kept is not None:
                kept[indices] = responses
            stages[k][1] += batch.size
            done += batch.size
            yield progress(stage=stages[k][0])
        grating = [_grating_properties(table, u, complete=k == 1) for u in range(len(channels))]
        preview = [row(u, props) for u, props in enumerate(grating)]
        yield progress(stage=stages[k + 1][0])

    sizes = size_protocol(size_sweep_sf([p["peak_sf"] for p in grating], sfs))
    size_table = TuningTable.for_protocol(sizes, len(channels))
    twins = grid_twins(sizes, grid)
    reused = np.flatnonzero(twins >= 0)
    if reused.size:
        size_table.update(reused // len(sizes.phases), np.asarray(sizes.phases, float)[reused % len(sizes.phases)],
                          kept[twins[reused]])
    for batch, _, responses in _responses(recorder, layer, unit, channels, sizes, np.flatnonzero(twins < 0),
                                          preprocess, batch_size, cancelled):
        size_table.update(batch.condition, batch.phase, responses)
        stages[2][1] += batch.size
        done += batch.size
        yield progress(stage=SIZE)
    for u, props in enumerate(grating):
        header, table_rows = size_table.table(u)
        props["surround_suppression_index"] = size_metrics(*curve(header, table_rows, "radius")[:2])[
            "surround_suppression_index"]
    preview = [row(u, props) for u, props in enumerate(grating)]
    yield progress(preview)


def _responses(recorder, layer, unit, channels, protocol, indices, preprocess, batch_size, cancelled):
    """Record some stimuli of a protocol: each batch, the protocol's stimulus indices in it and
    the channels' responses at the unit's position ``(B, U)`` (float64)."""
    from engine.analyses.units import channel_responses
    from engine.stimuli.protocols import record_stimuli

    stimuli = ProtocolStimuli(protocol, indices, getattr(recorder, "channels_last", False))
    for batch, recorded in record_stimuli(recorder, [layer], stimuli, preprocess, batch_size, cancelled):
        responses = channel_responses(recorded.outputs[layer], unit.y, unit.x, channels, layer)
        yield batch, stimuli.indices[batch.start:batch.start + batch.size], responses.double().cpu().numpy()


def _grating_properties(table, u: int, complete: bool = True) -> dict:
    """The orientation x SF grid's properties of unit ``u``; with ``complete`` False (only the
    orientation sweep recorded) the SF properties and the fits are NaN."""
    from engine.analyses.tuning import orientation_metrics, sf_metrics

    props = _nan_dict(*PROPERTIES, *FITTED)
    f0 = table.measure("f0")[:, u]
    if np.all(np.isnan(f0)):
        return props
    sf_key = "sf_rf" if "sf_rf" in table.swept or "sf_rf" in table.conditions[0] else "sf"
    ori = table.curve("orientation", "f0", u)
    o = orientation_metrics(ori.values, ori.responses, fit=complete)
    header, rows = table.table(u)
    props.update({"preferred_orientation_deg": o.preferred_deg, "circular_variance": o.circular_variance,
                  "orientation_bandwidth_deg": o.bandwidth_deg,
                  "orthogonal_preferred_ratio": o.r_orth / o.r_pref if o.r_pref > 0 else math.nan,
                  "modulation_ratio": modulation_ratio(header, rows),
                  "response_magnitude": float(np.nanmax(f0))})
    if complete:
        sf_curve = table.curve(sf_key, "f0", u)
        s = sf_metrics(sf_curve.values, sf_curve.responses)
        props.update({"peak_sf": s.preferred, "sf_bandwidth_octaves": s.bandwidth_octaves,
                      "preferred_orientation_fit_deg": o.preferred_fit_deg,
                      "orientation_bandwidth_fit_deg": o.bandwidth_fit_deg,
                      "peak_sf_fit": s.preferred_fit, "sf_bandwidth_fit_octaves": s.bandwidth_fit_octaves})
    return props


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
    path = Path(path)
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
