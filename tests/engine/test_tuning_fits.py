"""Fitted orientation (von Mises) and SF (log-Gaussian) tuning beside the grid's reading:
closed-form curves sampled as the battery samples them (15 degrees, octaves) are recovered
by the fits where the grid's interpolation is off; too little to fit gives NaN; the
tuning job's metrics carry the fitted values of a planted unit."""

import math

import numpy as np
import pytest
from planted_units import GratingReader, one_thread, session_for  # noqa: F401
from torch import nn

from engine.analyses.fits import fit_log_gaussian, fit_von_mises, log_gaussian, von_mises
from engine.analyses.tuning import orientation_metrics, sf_metrics
from engine.jobs.tuning import Tuning

THETA = np.arange(12) * 15.0
OCTAVES = np.array([0.5, 1.0, 2.0, 4.0, 8.0])


def half_width(kappa, baseline=0.0, amplitude=1.0, level=1 / math.sqrt(2)):
    """Closed form: where b + a exp(k (cos 2d - 1)) falls to ``level`` (b + a)."""
    return 0.5 * math.degrees(math.acos(1 + math.log((level * (baseline + amplitude) - baseline) / amplitude) / kappa))


@pytest.mark.parametrize("mu, kappa, baseline", [(37.5, 4.0, 0.0), (41.0, 10.0, 0.0), (172.0, 6.0, 0.3),
                                                 (95.0, 2.0, 0.1)])
def test_von_mises_fit_recovers_preferred_orientation_and_bandwidth_the_grid_misreads(mu, kappa, baseline):
    r = von_mises(THETA, baseline, 2.0, kappa, mu)
    m = orientation_metrics(THETA, r)
    truth = half_width(kappa, baseline, 2.0)
    assert (m.preferred_fit_deg - mu + 90) % 180 - 90 == pytest.approx(0, abs=1e-4)
    assert m.bandwidth_fit_deg == pytest.approx(truth, abs=1e-3)
    assert m.fit_kappa == pytest.approx(kappa, rel=1e-4) and m.fit_r_squared == pytest.approx(1, abs=1e-9)
    assert abs(m.bandwidth_deg - truth) > 0.3  # linear interpolation between 15-degree samples
    fit = fit_von_mises(THETA, r)
    assert fit["baseline"] == pytest.approx(baseline, abs=1e-4) and fit["amplitude"] == pytest.approx(2.0, rel=1e-4)


@pytest.mark.parametrize("sf0, fwhm, baseline", [(2**1.3, 0.9, 0.0), (1.5, 1.5, 0.0), (3.0, 1.2, 0.2)])
def test_log_gaussian_fit_recovers_peak_sf_and_octave_bandwidth_the_grid_misreads(sf0, fwhm, baseline):
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    r = log_gaussian(OCTAVES, baseline, 1.0, math.log2(sf0), sigma)
    m = sf_metrics(OCTAVES, r)
    # full width of the fitted curve at half its peak (baseline included), in closed form
    truth = 2 * sigma * math.sqrt(2 * math.log(2 / (1 - baseline)))
    assert m.preferred_fit == pytest.approx(sf0, rel=1e-5)
    assert m.bandwidth_fit_octaves == pytest.approx(truth, abs=1e-4)
    assert abs(m.bandwidth_octaves - truth) > 0.1  # octave steps: the grid reads it wider


def test_too_little_or_no_tuning_gives_nan_fits():
    few = orientation_metrics([0, 45, 90, 135], [1.0, 0.2, 0.0, 0.2])  # 4 samples for 4 parameters
    assert math.isfinite(few.bandwidth_deg) and math.isnan(few.preferred_fit_deg) and math.isnan(few.bandwidth_fit_deg)
    flat = orientation_metrics(THETA, np.ones(12))
    assert math.isnan(flat.preferred_fit_deg)
    silent = sf_metrics(OCTAVES, np.zeros(5))
    assert math.isnan(silent.preferred_fit) and math.isnan(silent.bandwidth_fit_octaves)
    rising = sf_metrics(OCTAVES, OCTAVES)  # peak beyond the sampled SFs: no fitted peak or width
    assert math.isnan(rising.preferred_fit) and math.isnan(rising.bandwidth_fit_octaves)
    no_fit = orientation_metrics(THETA, von_mises(THETA, 0, 1, 4, 30), fit=False)
    assert math.isnan(no_fit.preferred_fit_deg) and math.isfinite(no_fit.bandwidth_deg)
    assert math.isnan(fit_log_gaussian([1, 2, 4, 8], [0, 1, 0.5, 0])["preferred"])


def test_tuning_job_metrics_carry_the_fits_of_a_planted_unit():
    session = session_for(nn.Sequential(GratingReader([(52.5, 5.0, 3.0, 1.0)])), 64)
    final = list(session.run(Tuning("0", 0, orientations=12, sf=(3.0,), phases=2)))[-1]
    o = final.metrics["orientation"]
    assert o["preferred_fit_deg"] == pytest.approx(52.5, abs=1e-3)
    assert o["bandwidth_fit_deg"] == pytest.approx(half_width(5.0), abs=1e-3)
    assert abs(o["bandwidth_deg"] - half_width(5.0)) > 0.5
    sweep = list(session.run(Tuning("0", 0, param="sf", orientation=52.5, sf=tuple(OCTAVES), phases=2)))[-1]
    s = sweep.metrics["sf"]
    assert s["preferred_fit"] == pytest.approx(3.0, rel=1e-4)
    assert s["bandwidth_fit_octaves"] == pytest.approx(1.0, abs=1e-3)
