"""Tuning curves of units over protocol parameters, streamed, with the standard metrics.

For each condition of a protocol the responses over its phases are reduced as they
arrive to running sums, so memory grows with the number of conditions, never with the
number of phases or batches:

* **F0** -- the mean response over phase;
* **F1** -- the amplitude of the first harmonic over phase, ``|sum_k r_k e^{-i phi_k}| *
  2 / n``, which for ``n`` evenly spaced phases ``phi_k = 2 pi k / n`` starting at 0 is
  ``|FFT(r)[1]| * 2 / n``.  It is exact for a response ``B + A cos(phi + psi)`` when
  ``n >= 3``; with 2 phases it is ``|r_0 - r_1|``, and it is NaN with 1 phase;
* **max** and **min** over phase.

Orientation metrics (:func:`orientation_metrics`) use responses *rectified at 0* (a
firing rate cannot be negative), orientations in degrees with period 180, and assume the
samples cover [0, 180) evenly for the circular variance:

* preferred orientation: the sampled peak, refined by a parabola through it and its two
  circular neighbours (so within half a step of the true peak of a smooth curve);
* OSI ``= (R_pref - R_orth) / (R_pref + R_orth)``, with ``R_pref`` the sampled peak and
  ``R_orth`` the response 90 degrees away (linear interpolation between samples);
* circular variance ``= 1 - |sum r e^{2 i theta}| / sum r``;
* bandwidth: the half-width of the peak at ``1/sqrt(2)`` of its height (Ringach et al.
  2002), the mean of the left and right crossings found by linear interpolation; NaN
  when the curve does not fall that low within 90 degrees on both sides.

Spatial-frequency metrics (:func:`sf_metrics`): preferred SF is the sampled peak refined
by a parabola in log2(SF); bandwidth in octaves is the full width at half height in
log2(SF), NaN when the curve does not fall to half height on both sides.

Both are read off the sampled grid, so with coarse samples (15 degree orientations, octave
SF steps) the bandwidths are biased: linear interpolation between samples widens a narrow
peak.  Each curve is therefore also **fitted** by least squares (``scipy.optimize``), on
the same rectified responses, and the fitted values are reported beside the grid ones:

* orientation: a von Mises function of period 180, ``b + a exp(kappa (cos 2(theta - mu)
  - 1))`` (:func:`engine.analyses.fits.fit_von_mises`); ``preferred_fit_deg`` is ``mu`` and
  ``bandwidth_fit_deg`` the half-width of the fitted curve at ``1/sqrt(2)`` of its peak
  ``b + a`` (the grid bandwidth's definition);
* spatial frequency: a log-Gaussian, ``b + a exp(-(log2 f - mu)^2 / (2 s^2))``
  (:func:`engine.analyses.fits.fit_log_gaussian`); ``preferred_fit`` is ``2^mu`` and ``bandwidth_fit_octaves``
  the full width of the fitted curve at half its peak.

A fit needs at least 5 sampled values (one more than its 4 parameters) and a response
that varies; a fitted SF peak or half-height crossing outside the sampled range is NaN
(as the grid's is), so is an orientation half-width the curve never falls to.
``fit_r_squared`` is the fraction of the variance the fit explains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.analyses.fits import fit_log_gaussian, fit_von_mises
from engine.errors import UnitscopeError
from engine.recording.unit import Unit

if TYPE_CHECKING:  # the metrics and the table are torch-free; recording a protocol loads torch
    from engine.recording.recorder import Recorder
    from engine.stimuli.protocols import Protocol, StimulusBatch

MEASURES = ("f0", "f1", "max", "min")
"""Response measures per condition; ``f0`` is the mean over phase."""

_SF_TWINS = {"sf": "sf_rf", "sf_rf": "sf"}


# --- metrics on one curve ------------------------------------------------------------


@dataclass(frozen=True)
class OrientationMetrics:
    """Standard orientation-tuning metrics (see the module docstring for definitions)."""

    preferred_deg: float
    osi: float
    circular_variance: float
    bandwidth_deg: float
    r_pref: float
    r_orth: float
    vector_angle_deg: float  # angle of sum r e^{2 i theta} / 2, in [0, 180)
    preferred_fit_deg: float = math.nan  # the von Mises fit's mu, in [0, 180)
    bandwidth_fit_deg: float = math.nan  # the fit's half-width at `level` of its peak
    fit_kappa: float = math.nan
    fit_r_squared: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


def _circular_interp(angles: np.ndarray, values: np.ndarray, at: float, period: float) -> float:
    order = np.argsort(angles % period)
    a, v = angles[order] % period, values[order]
    return float(np.interp(at % period, np.r_[a, a[0] + period], np.r_[v, v[0]]))


def _parabola_offset(left: float, mid: float, right: float) -> float:
    """Vertex offset (in steps, within [-0.5, 0.5]) of a parabola through three samples."""
    denom = left - 2 * mid + right
    if denom >= 0:  # not a peak (flat or convex): keep the sample
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


def half_width(angles: Sequence[float], responses: Sequence[float], level: float = 1 / math.sqrt(2),
               period: float = 180.0) -> float:
    """Half-width of the peak of a circular curve at ``level`` times its height (NaN if none).

    The curve is walked from its sampled peak to each side until it drops below
    ``level * peak``; the crossing is found by linear interpolation and the two sides'
    distances are averaged.
    """
    a = np.asarray(angles, dtype=float) % period
    r = np.asarray(responses, dtype=float)
    order = np.argsort(a)
    a, r = a[order], r[order]
    n = a.size
    peak = int(np.argmax(r))
    target = level * r[peak]
    if n < 3 or r[peak] <= 0:
        return math.nan
    sides = []
    for step in (1, -1):
        found = math.nan
        for j in range(1, n):
            i0, i1 = (peak + step * (j - 1)) % n, (peak + step * j) % n
            d0 = (a[i0] - a[peak]) * step % period
            d1 = (a[i1] - a[peak]) * step % period
            if d1 > period / 2 or d1 == 0:
                break
            if r[i1] < target:
                found = d0 + (d1 - d0) * (r[i0] - target) / (r[i0] - r[i1])
                break
        sides.append(found)
    return float(np.mean(sides)) if not any(math.isnan(s) for s in sides) else math.nan


def orientation_metrics(orientations_deg: Sequence[float], responses: Sequence[float],
                        level: float = 1 / math.sqrt(2), fit: bool = True) -> OrientationMetrics:
    """Preferred orientation, OSI, circular variance and bandwidth of a tuning curve.

    Parameters
    ----------
    orientations_deg : sequence of float
        Orientations (period 180), ideally evenly covering [0, 180).
    responses : sequence of float
        Response at each orientation; rectified at 0 before any metric.  NaN responses
        (conditions not recorded yet) are left out; with fewer than two left every
        metric is NaN.
    level : float
        Fraction of the peak at which the bandwidth (half-width) is measured.
    fit : bool
        Also fit a von Mises function (:func:`fit_von_mises`); the fitted fields are NaN without.

    Returns
    -------
    OrientationMetrics
    """
    theta = np.asarray(orientations_deg, dtype=float) % 180.0
    r = np.maximum(np.asarray(responses, dtype=float), 0.0)
    if theta.shape != r.shape or theta.ndim != 1:
        raise UnitscopeError("Orientation metrics need one response per orientation.")
    seen = ~np.isnan(r)
    theta, r = theta[seen], r[seen]
    if theta.size < 2:
        return OrientationMetrics(*[math.nan] * 7)
    order = np.argsort(theta)
    theta, r = theta[order], r[order]
    n = theta.size
    peak = int(np.argmax(r))
    preferred = theta[peak]
    steps = np.diff(np.r_[theta, theta[0] + 180.0])
    if n >= 3 and np.allclose(steps, steps[0]):
        preferred += _parabola_offset(r[peak - 1], r[peak], r[(peak + 1) % n]) * steps[0]
    r_pref = float(r[peak])
    r_orth = _circular_interp(theta, r, theta[peak] + 90.0, 180.0)
    total = r.sum()
    vector = np.sum(r * np.exp(2j * np.radians(theta)))
    osi = (r_pref - r_orth) / (r_pref + r_orth) if r_pref + r_orth > 0 else math.nan
    cv = 1.0 - abs(vector) / total if total > 0 else math.nan
    angle = (math.degrees(np.angle(vector)) / 2) % 180.0 if total > 0 else math.nan
    width = half_width(theta, r, level)
    fitted = fit_von_mises(theta, r, level, start=(float(preferred), width)) if fit else {}
    fitted = {k: fitted.get(k, math.nan) for k in ("preferred_deg", "bandwidth_deg", "kappa", "r_squared")}
    return OrientationMetrics(float(preferred % 180.0), float(osi), float(cv), width, r_pref, r_orth, float(angle),
                              *fitted.values())


@dataclass(frozen=True)
class SpatialFrequencyMetrics:
    """Preferred spatial frequency and full bandwidth at half height, in octaves."""

    preferred: float
    bandwidth_octaves: float
    r_pref: float
    preferred_fit: float = math.nan  # 2^mu of the log-Gaussian fit
    bandwidth_fit_octaves: float = math.nan  # the fit's full width at half its peak
    fit_r_squared: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


def sf_metrics(sfs: Sequence[float], responses: Sequence[float], fit: bool = True) -> SpatialFrequencyMetrics:
    """Preferred SF (peak refined in log2 SF) and bandwidth in octaves of a tuning curve,
    and (``fit``) the log-Gaussian fit's (:func:`fit_log_gaussian`).

    Responses are rectified at 0 and NaN ones left out; ``sfs`` must be positive.
    """
    f = np.asarray(sfs, dtype=float)
    r = np.maximum(np.asarray(responses, dtype=float), 0.0)
    if f.shape != r.shape or f.ndim != 1 or np.any(f <= 0):
        raise UnitscopeError("Spatial-frequency metrics need positive frequencies, one response each.")
    seen = ~np.isnan(r)
    f, r = f[seen], r[seen]
    if f.size < 1:
        return SpatialFrequencyMetrics(math.nan, math.nan, math.nan)
    order = np.argsort(f)
    logf, r = np.log2(f[order]), r[order]
    peak = int(np.argmax(r))
    preferred = logf[peak]
    if 0 < peak < r.size - 1:
        left, right = logf[peak] - logf[peak - 1], logf[peak + 1] - logf[peak]
        if np.isclose(left, right):
            preferred += _parabola_offset(r[peak - 1], r[peak], r[peak + 1]) * left
    target = r[peak] / 2
    edges = []
    for step in (-1, 1):
        edge = math.nan
        i = peak
        while 0 <= i + step < r.size:
            if r[i + step] < target:
                j = i + step
                edge = logf[i] + (logf[j] - logf[i]) * (r[i] - target) / (r[i] - r[j])
                break
            i += step
        edges.append(edge)
    width = edges[1] - edges[0] if r[peak] > 0 else math.nan
    fitted = fit_log_gaussian(2 ** logf, r, start=(float(preferred), float(width))) if fit else {}
    return SpatialFrequencyMetrics(float(2 ** preferred), float(width), float(r[peak]),
                                   *(fitted.get(k, math.nan) for k in ("preferred", "bandwidth_octaves", "r_squared")))


# --- streaming tuning table ----------------------------------------------------------


@dataclass(frozen=True)
class TuningCurve:
    """Responses of one unit along one parameter, the other parameters held fixed."""

    param: str
    values: np.ndarray
    responses: np.ndarray
    measure: str
    fixed: dict

    def orientation_metrics(self, level: float = 1 / math.sqrt(2)) -> OrientationMetrics:
        return orientation_metrics(self.values, self.responses, level)

    def sf_metrics(self) -> SpatialFrequencyMetrics:
        return sf_metrics(self.values, self.responses)


class TuningTable:
    """Running per-condition statistics of units' responses to a protocol.

    Parameters
    ----------
    conditions : list of dict
        Each condition's parameters (``Protocol.conditions``, or one per image).
    swept : sequence of str
        The parameters that vary across conditions.
    n_units : int
        Number of units whose responses arrive together, ``(B, n_units)``.
    phased : bool
        Whether stimuli come in phases (F1 is NaN otherwise).
    """

    def __init__(self, conditions: list[dict], swept: Sequence[str], n_units: int = 1,
                 phased: bool = True):
        self.conditions = conditions
        self.swept = list(swept)
        self.phased = phased
        c = len(conditions)
        self.count = np.zeros(c, dtype=np.int64)
        self._sum = np.zeros((c, n_units))
        self._harmonic = np.zeros((c, n_units), dtype=complex)
        self._max = np.full((c, n_units), -np.inf)
        self._min = np.full((c, n_units), np.inf)

    @classmethod
    def for_protocol(cls, protocol: Protocol, n_units: int = 1) -> TuningTable:
        return cls(protocol.conditions, protocol.swept, n_units, protocol.phased)

    @property
    def n_units(self) -> int:
        return self._sum.shape[1]

    def update(self, condition: np.ndarray, phase_deg: np.ndarray, responses: np.ndarray) -> None:
        """Add a batch: condition index ``(B,)``, phase ``(B,)`` and responses ``(B, U)``."""
        responses = np.asarray(responses, dtype=float).reshape(len(condition), self.n_units)
        condition = np.asarray(condition, dtype=np.int64)
        rotation = np.exp(-1j * np.radians(np.asarray(phase_deg, dtype=float)))[:, None]
        np.add.at(self.count, condition, 1)
        np.add.at(self._sum, condition, responses)
        np.add.at(self._harmonic, condition, responses * rotation)
        np.maximum.at(self._max, condition, responses)
        np.minimum.at(self._min, condition, responses)

    def measure(self, name: str) -> np.ndarray:
        """``(conditions, units)`` values of a measure; NaN for conditions not yet seen."""
        seen = self.count > 0
        out = np.full(self._sum.shape, np.nan)
        n = self.count[seen, None]
        if name == "f0":
            out[seen] = self._sum[seen] / n
        elif name == "f1":
            if self.phased:
                out[seen] = np.abs(self._harmonic[seen]) * 2 / n
                out[self.count < 2] = np.nan
        elif name == "max":
            out[seen] = self._max[seen]
        elif name == "min":
            out[seen] = self._min[seen]
        else:
            raise UnitscopeError(f"Unknown response measure '{name}'; choose from {', '.join(MEASURES)}.")
        return out

    def curve(self, param: str, measure: str = "f0", unit: int = 0,
              at: dict | None = None) -> TuningCurve:
        """The tuning curve of one unit along ``param``.

        The other swept parameters are held at ``at`` (default: their values in the
        condition with the largest response), so a sweep over orientation and spatial
        frequency gives the orientation curve at the preferred frequency.
        """
        if not self.conditions or param not in self.conditions[0]:
            names = ", ".join(self.conditions[0]) if self.conditions else "none"
            raise UnitscopeError(f"No parameter '{param}' in this stimulus set; it has {names}.")
        values = self.measure(measure)[:, unit]
        others = [p for p in self.swept if p not in (param, _SF_TWINS.get(param))]
        if at is None:
            if np.all(np.isnan(values)):
                raise UnitscopeError("No responses have been recorded yet.")
            best = self.conditions[int(np.nanargmax(values))]
            at = {p: best[p] for p in others}
        rows = [i for i, c in enumerate(self.conditions) if all(np.isclose(c[p], at[p]) for p in others)]
        xs = np.array([self.conditions[i][param] for i in rows], dtype=float)
        order = np.argsort(xs, kind="stable")
        return TuningCurve(param, xs[order], values[rows][order], measure, dict(at))

    def metrics(self, measure: str = "f0", unit: int = 0) -> dict:
        """Orientation and spatial-frequency metrics along the swept parameters, JSON-ready."""
        found: dict = {}
        if np.all(np.isnan(self.measure(measure)[:, unit])):
            return found
        if "orientation" in self.swept:
            c = self.curve("orientation", measure, unit)
            found["orientation"] = {**c.orientation_metrics().as_dict(), "at": c.fixed}
        for param in ("sf", "sf_rf"):
            if param in self.swept or (_SF_TWINS[param] in self.swept and param in self.conditions[0]):
                c = self.curve(param, measure, unit)
                found[param] = {**c.sf_metrics().as_dict(), "at": c.fixed}
        return found

    def table(self, unit: int = 0) -> tuple[list[str], list[list]]:
        """Header and rows (one per condition): parameters, then F0, F1, max, min, n."""
        params = list(self.conditions[0]) if self.conditions else []
        header = params + ["f0", "f1", "max", "min", "n"]
        measures = [self.measure(m)[:, unit] for m in MEASURES]
        rows = [[cond[p] for p in params] + [float(m[i]) for m in measures] + [int(self.count[i])]
                for i, cond in enumerate(self.conditions)]
        return header, rows


def tuning_stream(recorder: Recorder, units: Unit | Sequence[Unit], protocol: Protocol, preprocess,
                  batch_size: int = 32, cancelled: Callable[[], bool] = lambda: False,
                  ) -> Iterator[tuple[TuningTable, StimulusBatch]]:
    """Record a protocol and yield the updated :class:`TuningTable` after every batch.

    Parameters
    ----------
    recorder : Recorder
    units : Unit or sequence of Unit
        One unit, or several (a probe): column ``u`` of every measure is ``units[u]``.
    protocol : Protocol
    preprocess : engine.models.preprocess.Preprocess
    batch_size : int
    cancelled : callable
        Checked between batches; raises :class:`engine.recording.recorder.Cancelled`.

    Yields
    ------
    (TuningTable, StimulusBatch)
        The same table object, updated in place, and the batch just added.
    """
    from engine.analyses.units import Probe

    probe = Probe([units] if isinstance(units, Unit) else list(units))
    table = TuningTable.for_protocol(protocol, len(probe.units))
    for batch, responses in probe.stream(recorder, protocol, preprocess, batch_size, cancelled):
        table.update(batch.condition, batch.phase, responses)
        yield table, batch


def run_tuning(recorder: Recorder, units: Unit | Sequence[Unit], protocol: Protocol, preprocess,
               batch_size: int = 32, cancelled: Callable[[], bool] = lambda: False) -> TuningTable:
    """:func:`tuning_stream` run to the end; returns the finished table."""
    table = TuningTable.for_protocol(protocol, 1 if isinstance(units, Unit) else len(units))
    for table, _ in tuning_stream(recorder, units, protocol, preprocess, batch_size, cancelled):
        pass
    return table
