"""Fits of tuning curves: a von Mises function over orientation, a log-Gaussian over spatial
frequency (least squares, ``scipy.optimize``), with the preferred value and bandwidth of
the fitted curve.

The grid's own metrics (:mod:`engine.analyses.tuning`) read the bandwidth off the samples by
linear interpolation, which widens a peak sampled coarsely (15 degree orientations, octave
SF steps); the fits are reported beside them.  Definitions match the grid's: the
orientation bandwidth is the half-width at ``1/sqrt(2)`` of the fitted peak (baseline
included), the SF bandwidth the full width at half the fitted peak, in octaves.  Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_FIT_SAMPLES = 5
"""Sampled values a fit needs: one more than its four parameters."""
GOOD_FIT = 0.9
"""R^2 above which a fit from the grid's estimates is kept without trying a broad start too."""


def von_mises(theta_deg, baseline: float, amplitude: float, kappa: float, mu_deg: float):
    """``baseline + amplitude * exp(kappa * (cos(2 (theta - mu)) - 1))`` (period 180 degrees)."""
    d = 2 * np.radians(np.asarray(theta_deg, dtype=float) - mu_deg)
    return baseline + amplitude * np.exp(kappa * (np.cos(d) - 1))


def log_gaussian(sf, baseline: float, amplitude: float, mu_log2: float, sigma_octaves: float):
    """``baseline + amplitude * exp(-(log2 sf - mu)^2 / (2 sigma^2))``."""
    z = (np.log2(np.asarray(sf, dtype=float)) - mu_log2) / sigma_octaves
    return baseline + amplitude * np.exp(-0.5 * z * z)


def _von_mises_jacobian(theta_deg, baseline, amplitude, kappa, mu_deg):
    d = 2 * np.radians(theta_deg - mu_deg)
    c = np.cos(d) - 1
    e = np.exp(kappa * c)
    return np.stack([np.ones_like(d), e, amplitude * c * e, amplitude * e * kappa * np.sin(d) * math.pi / 90], 1)


def _log_gaussian_jacobian(sf, baseline, amplitude, mu_log2, sigma_octaves):
    z = (np.log2(sf) - mu_log2) / sigma_octaves
    e = np.exp(-0.5 * z * z)
    return np.stack([np.ones_like(z), e, amplitude * e * z / sigma_octaves, amplitude * e * z * z / sigma_octaves], 1)


def _least_squares(model, jacobian, x: np.ndarray, r: np.ndarray, p0: list[float], lower: list[float],
                   upper: list[float]) -> tuple[np.ndarray, float] | None:
    """Parameters of ``model`` fitted to ``r`` (bounded least squares) and R^2; None if it fails."""
    from scipy.optimize import least_squares

    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    p0 = np.clip(p0, lower + 1e-9 * (1 + np.abs(lower)), upper - 1e-9 * (1 + np.abs(upper)))
    try:
        found = least_squares(lambda p: model(x, *p) - r, p0, jac=lambda p: jacobian(x, *p),
                              bounds=(lower, upper), max_nfev=500)
    except (ValueError, RuntimeError):
        return None
    if not np.all(np.isfinite(found.x)):
        return None
    total = float(np.sum((r - r.mean()) ** 2))
    return found.x, 1.0 - float(np.sum(found.fun**2)) / total if total > 0 else math.nan


def _usable(x, r) -> tuple[np.ndarray, np.ndarray] | None:
    x, r = np.asarray(x, dtype=float), np.maximum(np.asarray(r, dtype=float), 0.0)
    keep = np.isfinite(x) & np.isfinite(r)
    x, r = x[keep], r[keep]
    if x.size < MIN_FIT_SAMPLES or np.ptp(r) <= 0:
        return None
    return x, r


def fit_von_mises(orientations_deg: Sequence[float], responses: Sequence[float],
                  level: float = 1 / math.sqrt(2), start: tuple[float, float] | None = None) -> dict:
    """Fit :func:`von_mises` to an orientation curve (responses rectified at 0, NaN left out).

    Returns ``preferred_deg`` (mu in [0, 180)), ``bandwidth_deg`` (half-width of the fitted
    curve at ``level`` times its peak; NaN if it stays above), ``kappa``, ``baseline``,
    ``amplitude`` and ``r_squared``; all NaN when there is too little to fit.  ``start``:
    ``(preferred, half-width)`` from the grid, to start from (computed when None).
    """
    names = ("preferred_deg", "bandwidth_deg", "kappa", "baseline", "amplitude", "r_squared")
    usable = _usable(orientations_deg, responses)
    if usable is None:
        return dict.fromkeys(names, math.nan)
    theta, r = usable
    theta = theta % 180.0
    if start is None:
        start = (float(theta[int(np.argmax(r))]), math.nan)
    mu0, width0 = start
    top = float(r.max())
    best = None
    # kappa from the grid's half-width (the fit with no baseline meets it exactly), and a broad start
    kappas = ([math.log(1 / level) / (1 - math.cos(math.radians(2 * width0)))]
              if math.isfinite(width0) and width0 > 0 else [])
    for kappa0 in kappas + [1.0]:  # the second start only when the first fits badly
        if best is not None and best[1] > GOOD_FIT:
            break
        found = _least_squares(von_mises, _von_mises_jacobian, theta, r,
                               [float(r.min()), top - float(r.min()), kappa0, mu0],
                               [0.0, 0.0, 1e-3, mu0 - 90.0], [top, 2 * top, 1e3, mu0 + 90.0])
        if found is not None and (best is None or found[1] > best[1]):
            best = found
    if best is None:
        return dict.fromkeys(names, math.nan)
    (b, a, kappa, mu), r2 = best
    width = math.nan
    if a > 0:
        inside = (level * (b + a) - b) / a
        c = 1 + math.log(inside) / kappa if inside > 0 else -math.inf
        if c >= -1:
            width = 0.5 * math.degrees(math.acos(min(c, 1.0)))
    return dict(zip(names, (float(mu % 180.0), float(width), float(kappa), float(b), float(a), float(r2))))


def fit_log_gaussian(sfs: Sequence[float], responses: Sequence[float],
                     start: tuple[float, float] | None = None) -> dict:
    """Fit :func:`log_gaussian` to a spatial-frequency curve (responses rectified at 0).

    Returns ``preferred`` (2^mu; NaN outside the sampled SFs), ``bandwidth_octaves`` (full
    width of the fitted curve at half its peak; NaN when a crossing lies outside the sampled
    SFs), ``sigma_octaves``, ``baseline``, ``amplitude`` and ``r_squared``.  ``start``:
    ``(log2 of the grid's preferred SF, grid bandwidth)``.
    """
    names = ("preferred", "bandwidth_octaves", "sigma_octaves", "baseline", "amplitude", "r_squared")
    usable = _usable(sfs, responses)
    if usable is None or np.any(usable[0] <= 0):
        return dict.fromkeys(names, math.nan)
    f, r = usable
    logf = np.log2(f)
    lo, hi = float(logf.min()), float(logf.max())
    if start is None:
        start = (float(logf[int(np.argmax(r))]), math.nan)
    mu0, width0 = start
    sigma0 = width0 / (2 * math.sqrt(2 * math.log(2))) if math.isfinite(width0) and width0 > 0 else 1.0
    top = float(r.max())
    best = None
    for s0 in (sigma0, 1.0):
        if best is not None and best[1] > GOOD_FIT:
            break
        found = _least_squares(log_gaussian, _log_gaussian_jacobian, f, r,
                               [float(r.min()), top - float(r.min()), mu0, s0],
                               [0.0, 0.0, lo - 1.0, 0.05], [top, 4 * top, hi + 1.0, 8.0])
        if found is not None and (best is None or found[1] > best[1]):
            best = found
    if best is None:
        return dict.fromkeys(names, math.nan)
    (b, a, mu, sigma), r2 = best
    preferred = float(2**mu) if lo <= mu <= hi else math.nan
    width = math.nan
    if a > b and math.isfinite(preferred):
        half = sigma * math.sqrt(2 * math.log(2 * a / (a - b)))
        if lo <= mu - half and mu + half <= hi:
            width = 2 * half
    return dict(zip(names, (preferred, float(width), float(sigma), float(b), float(a), float(r2))))
