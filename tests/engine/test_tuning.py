"""Tuning curves: metrics against closed forms, streaming against batch computation, and
units whose answer is known because their weights were set by hand."""

import math

import numpy as np
import pytest
import torch
from scipy.special import i0, i1
from torch import nn

from engine.analyses.tuning import TuningTable, half_width, orientation_metrics, run_tuning, sf_metrics, tuning_stream
from engine.analyses.units import Unit, unit_geometry
from engine.anatomy.tree import build_anatomy
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Recorder
from engine.stimuli.protocols import Protocol

SIZE = 32
KERNEL = 15


# --- metrics on curves with closed-form answers -----------------------------------------


def test_cosine_curve_gives_closed_form_osi_and_circular_variance():
    theta = np.arange(0, 180, 5.0)
    a, b, pref = 3.0, 1.0, 40.0
    m = orientation_metrics(theta, a + b * np.cos(2 * np.radians(theta - pref)))
    assert m.preferred_deg == pytest.approx(pref)
    assert m.osi == pytest.approx(b / a)  # (a + b - (a - b)) / (a + b + a - b)
    assert m.circular_variance == pytest.approx(1 - b / (2 * a))
    assert m.vector_angle_deg == pytest.approx(pref)
    expected = 0.5 * math.degrees(math.acos(((a + b) / math.sqrt(2) - a) / b))
    assert m.bandwidth_deg == pytest.approx(expected, abs=0.2)


@pytest.mark.parametrize("kappa", [1.0, 4.0, 12.0])
def test_von_mises_curve_gives_closed_form_variance_and_bandwidth(kappa):
    theta = np.arange(0, 180, 0.5)
    r = np.exp(kappa * (np.cos(2 * np.radians(theta - 100)) - 1))
    m = orientation_metrics(theta, r)
    assert m.preferred_deg == pytest.approx(100)
    assert m.circular_variance == pytest.approx(1 - i1(kappa) / i0(kappa), abs=1e-9)
    level = 1 / math.sqrt(2)
    expected = 0.5 * math.degrees(math.acos(1 + math.log(level) / kappa))
    assert m.bandwidth_deg == pytest.approx(expected, abs=0.05)
    assert half_width(theta, r, 0.5) == pytest.approx(0.5 * math.degrees(math.acos(1 + math.log(0.5) / kappa)),
                                                      abs=0.05)


def test_peak_between_samples_is_found_within_half_a_step():
    theta = np.arange(0, 180, 22.5)
    m = orientation_metrics(theta, np.exp(3 * np.cos(2 * np.radians(theta - 30))))
    assert abs(m.preferred_deg - 30) < 11.25


def test_negative_responses_are_rectified_and_untuned_curves_have_no_bandwidth():
    theta = np.arange(0, 180, 45.0)
    m = orientation_metrics(theta, [2.0, 0.5, -1.0, 0.5])
    assert m.r_orth == 0 and m.osi == 1
    flat = orientation_metrics(theta, np.ones(4))
    assert flat.osi == 0 and flat.circular_variance == pytest.approx(1)
    assert math.isnan(flat.bandwidth_deg)
    silent = orientation_metrics(theta, np.zeros(4))
    assert math.isnan(silent.osi) and math.isnan(silent.circular_variance)


def test_log_gaussian_sf_curve_gives_preferred_sf_and_octave_bandwidth():
    sfs = 2 ** np.arange(-2, 6, 0.05)
    width = 0.8  # standard deviation in octaves
    r = np.exp(-((np.log2(sfs) - np.log2(6.0)) ** 2) / (2 * width**2))
    m = sf_metrics(sfs, r)
    assert m.preferred == pytest.approx(6.0, rel=1e-3)
    assert m.bandwidth_octaves == pytest.approx(2 * width * math.sqrt(2 * math.log(2)), abs=0.01)


# --- streaming F0 / F1 ----------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3, 8, 40])
def test_streamed_f0_f1_equal_the_fft_of_the_whole_table(batch):
    rng = np.random.default_rng(0)
    n_cond, n_phase, n_units = 5, 8, 2
    responses = rng.normal(size=(n_cond, n_phase, n_units))
    phases = 360 * np.arange(n_phase) / n_phase
    conditions = [{"orientation": 36.0 * c} for c in range(n_cond)]
    table = TuningTable(conditions, ["orientation"], n_units)
    flat = responses.reshape(-1, n_units)
    cond = np.repeat(np.arange(n_cond), n_phase)
    phase = np.tile(phases, n_cond)
    for start in range(0, len(flat), batch):
        s = slice(start, start + batch)
        table.update(cond[s], phase[s], flat[s])
    spectrum = np.fft.fft(responses, axis=1)
    np.testing.assert_allclose(table.measure("f0"), responses.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(table.measure("f1"), np.abs(spectrum[:, 1]) * 2 / n_phase, atol=1e-12)
    np.testing.assert_allclose(table.measure("max"), responses.max(axis=1))
    np.testing.assert_allclose(table.measure("min"), responses.min(axis=1))


def test_conditions_not_yet_seen_are_nan():
    table = TuningTable([{"orientation": 0.0}, {"orientation": 90.0}], ["orientation"])
    table.update(np.array([0, 0]), np.array([0.0, 180.0]), np.array([[1.0], [3.0]]))
    assert table.measure("f0")[0, 0] == 2 and math.isnan(table.measure("f0")[1, 0])
    assert table.measure("f1")[0, 0] == pytest.approx(2.0)  # |1 - 3| with 2 phases


# --- units with known answers ---------------------------------------------------------


def _gabor(theta_deg, wavelength=8.0, sigma=4.0, k=KERNEL):
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    u = x * math.cos(math.radians(theta_deg)) + y * math.sin(math.radians(theta_deg))
    g = np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * math.pi * u / wavelength)
    return g - g.mean()  # zero mean: no response to the mean grey


def _dog(k=KERNEL, s1=1.5, s2=3.0):
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    d = np.exp(-(x**2 + y**2) / (2 * s1**2)) / s1**2 - np.exp(-(x**2 + y**2) / (2 * s2**2)) / s2**2
    return d - d.mean()


def _unit(kernel, relu=True, bias=0.0):
    conv = nn.Conv2d(3, 1, kernel.shape[-1])
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(np.broadcast_to(kernel, (1, 3, *kernel.shape[-2:])).copy()))
        conv.bias.fill_(bias)
    net = nn.Sequential(conv, nn.ReLU()) if relu else nn.Sequential(conv)
    model = LoadedModel("toy", net, "set by the test", source="python", input_size=(SIZE, SIZE))
    layer = "1" if relu else "0"
    geometry = unit_geometry(build_anatomy(net, (SIZE, SIZE)), Unit(layer, 0))
    return Recorder(net, "cpu"), Preprocess(model), geometry


@pytest.mark.parametrize("orientations, tolerance", [(np.arange(0, 180, 5.0), 2.5),
                                                      (np.arange(0, 180, 180 / 16), 180 / 32)])
def test_gabor_weighted_unit_prefers_its_orientation(orientations, tolerance):
    rec, pp, geo = _unit(_gabor(30))
    protocol = Protocol("gratings", SIZE, {"orientation": orientations, "sf": [SIZE / 8]},
                        center=geo.center, rf_side=geo.side)
    m = run_tuning(rec, geo.unit, protocol, pp, batch_size=64).curve("orientation").orientation_metrics()
    assert abs(m.preferred_deg - 30) <= tolerance
    assert m.circular_variance < 0.35 and m.osi > 0.9


def test_isotropic_difference_of_gaussians_unit_is_untuned():
    rec, pp, geo = _unit(_dog())
    protocol = Protocol("gratings", SIZE, {"orientation": np.arange(0, 180, 15.0), "sf": [4]},
                        center=geo.center, rf_side=geo.side)
    table = run_tuning(rec, geo.unit, protocol, pp, batch_size=64)
    m = table.curve("orientation").orientation_metrics()
    assert table.measure("f0").min() > 0
    assert abs(m.osi) < 0.05 and m.circular_variance > 0.95


def test_linear_unit_f0_and_f1_match_the_closed_form():
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 9, 9)) * 0.1 + 0.05  # not zero-mean: a real F0
    bias, contrast, sf = 0.3, 0.8, 5.0
    rec, pp, geo = _unit(kernel[None], relu=False, bias=bias)
    orientations = np.array([0.0, 30.0, 75.0, 120.0])
    protocol = Protocol("gratings", SIZE, {"orientation": orientations, "sf": [sf], "contrast": [contrast]},
                        center=geo.center, rf_side=geo.side)
    table = run_tuning(rec, geo.unit, protocol, pp, batch_size=7)
    mean, std = pp.mean.numpy().ravel(), pp.std.numpy().ravel()
    # r(phase) = sum_c w_c * (s - m_c) / s_c + b with s = 0.5 + 0.5 C cos(2 pi sf u / SIZE + phase)
    f0 = sum(kernel[c].sum() * (0.5 - mean[c]) / std[c] for c in range(3)) + bias
    top, left = int(geo.box[0]), int(geo.box[1])
    ys, xs = np.mgrid[top:top + 9, left:left + 9]
    ys, xs = ys - geo.center[0], xs - geo.center[1]
    for i, theta in enumerate(orientations):
        u = xs * math.cos(math.radians(theta)) + ys * math.sin(math.radians(theta))
        carrier = np.exp(1j * 2 * math.pi * sf * u / SIZE)
        f1 = 0.5 * contrast * abs(sum((kernel[c] * carrier).sum() / std[c] for c in range(3)))
        assert table.measure("f0")[i, 0] == pytest.approx(f0, abs=1e-4)
        assert table.measure("f1")[i, 0] == pytest.approx(f1, rel=1e-4)
        assert table.measure("f1")[i, 0] / table.measure("f0")[i, 0] == pytest.approx(f1 / f0, rel=1e-3)
        # the best of 8 phases is at most 22.5 degrees from the peak of the cosine
        assert f0 + f1 * math.cos(math.pi / 8) - 1e-4 <= table.measure("max")[i, 0] <= f0 + f1 + 1e-4


def test_curve_holds_other_parameters_at_the_best_condition_and_streams():
    rec, pp, geo = _unit(_gabor(90))
    protocol = Protocol("gratings", SIZE, {"orientation": [0, 45, 90, 135], "sf": [1, 4, 12]},
                        center=geo.center, rf_side=geo.side, phases=4)
    seen = []
    for table, batch in tuning_stream(rec, geo.unit, protocol, pp, batch_size=5):
        seen.append(int(table.count.sum()))
    assert seen == [5, 10, 15, 20, 25, 30, 35, 40, 45, 48]
    ori = table.curve("orientation")
    assert ori.fixed == {"sf": 4.0} and ori.values.tolist() == [0, 45, 90, 135]
    assert ori.values[np.argmax(ori.responses)] == 90
    sf = table.curve("sf")
    assert sf.fixed == {"orientation": 90.0} and sf.values[np.argmax(sf.responses)] == 4
    per_rf = table.curve("sf_rf")
    np.testing.assert_allclose(per_rf.values, sf.values * geo.side / SIZE)
    metrics = table.metrics()
    assert metrics["orientation"]["preferred_deg"] == pytest.approx(90, abs=22.5)
    assert metrics["sf"]["preferred"] == pytest.approx(4, rel=0.5)


def test_a_probe_of_two_units_fills_two_columns():
    rec, pp, geo = _unit(_gabor(0))
    protocol = Protocol("gratings", SIZE, {"orientation": [0, 90], "sf": [4]}, center=geo.center, phases=2)
    other = Unit(geo.unit.layer, 0, 0, 0)
    table = run_tuning(rec, [geo.unit, other], protocol, pp)
    single = run_tuning(rec, other, protocol, pp)
    np.testing.assert_allclose(table.measure("f0")[:, 1], single.measure("f0")[:, 0])
    header, rows = table.table(unit=1)
    assert header == ["orientation", "sf", "contrast", "aperture", "f0", "f1", "max", "min", "n"]
    assert len(rows) == 2 and rows[0][-1] == 2


def test_metrics_of_a_partly_recorded_curve_ignore_missing_conditions():
    theta = np.arange(0, 180, 30.0)
    r = np.array([1.0, 3.0, np.nan, 1.0, np.nan, 0.5])
    m = orientation_metrics(theta, r)
    assert m.preferred_deg == 30 and m.r_pref == 3
    assert math.isnan(orientation_metrics(theta, np.full(6, np.nan)).osi)
    assert sf_metrics([1, 2, 4], [np.nan, 2.0, 1.0]).preferred == 2
