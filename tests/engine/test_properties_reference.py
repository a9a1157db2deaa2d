"""``unitscope properties --reference RESPONSES``: a lab's responses to labelled gratings as the
reference.  Planted neurons (von Mises in orientation, log-Gaussian in SF, a known modulation
over phase) must get their closed-form properties, and the KS similarity to the model's units
must be ``1 - scipy.stats.ks_2samp(...).statistic`` computed here."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from planted_units import GABOR_FACTORY, one_thread, write_factory  # noqa: F401
from scipy.special import iv
from scipy.stats import ks_2samp

from engine.analyses.neuron_tuning import neuron_properties, reference_from_responses
from engine.cli import main
from engine.errors import UnitscopeError
from engine.neural.gratings import grating_table, parse_label

ORIENTATIONS = 15.0 * np.arange(12)
SFS = 2.0 ** np.arange(1, 6)  # 2 to 32 cycles per image
PHASES = 45.0 * np.arange(8)
STEP = 15.0
#: Per neuron: preferred orientation (on a sample), kappa, baseline b and amplitude a of the von Mises,
#: log2 of the peak SF (on a sample), the log-Gaussian's s.d. in octaves, modulation F1/F0, its phase.
NEURONS = [(30.0, 1.5, 0.2, 4.0, 3.0, 1.2, 0.3, 10.0), (105.0, 3.0, 0.5, 2.0, 2.0, 0.8, 1.4, 200.0),
           (90.0, 0.7, 0.1, 6.0, 3.0, 1.5, 0.9, 0.0), (165.0, 2.2, 1.0, 3.0, 3.0, 1.0, 0.05, 77.0),
           (60.0, 4.0, 0.0, 5.0, 2.0, 0.7, 1.9, 300.0)]
def response(neuron, theta, sf, phase):
    mu, kappa, b, a, peak, s, m, psi = neuron
    orientation = b + a * math.exp(kappa * (math.cos(2 * math.radians(theta - mu)) - 1))
    frequency = math.exp(-(math.log2(sf) - peak) ** 2 / (2 * s**2))
    return orientation * frequency * (1 + m * math.cos(math.radians(phase - psi)))


def labels_and_responses(seed=0, orientations=ORIENTATIONS, sfs=SFS):
    """Every grating of the grid, shuffled, with three repeats that average to the planted response."""
    rng = np.random.default_rng(seed)
    stimuli = [(o, f, p) for o in orientations for f in sfs for p in PHASES]
    signal = np.array([[response(n, *s) for n in NEURONS] for s in stimuli])
    noise = rng.normal(scale=0.3, size=signal.shape)
    responses = np.stack([signal + noise, signal - noise, signal], axis=2)
    order = rng.permutation(len(stimuli))
    names = [f"grating orientation={o:g} sf={f:g} phase={p:g}" for o, f, p in stimuli]
    return [names[i] for i in order], responses[order]


def closed_form(neuron) -> dict:
    """The battery's definitions applied to the planted curves, by formula."""
    mu, kappa, b, a, peak, s, m, _ = neuron
    n = len(ORIENTATIONS)
    # Jacobi-Anger: sum_k exp(kappa cos(phi_k)) e^{i j phi_k} over n even samples = n sum_m I_{j + m n}(kappa)
    bessel = [sum(iv(j + q * n, kappa) for q in range(-3, 4)) for j in (0, 1)]
    vector = a * math.exp(-kappa) * bessel[1]
    total = b + a * math.exp(-kappa) * bessel[0]
    peak_r = b + a
    level = peak_r / math.sqrt(2)
    fit_half = math.degrees(0.5 * math.acos(1 + math.log((level - b) / a) / kappa))
    curve = [b + a * math.exp(kappa * (math.cos(2 * math.radians(d)) - 1)) for d in STEP * np.arange(7)]
    j = next(j for j, r in enumerate(curve) if r < level)  # the grid's crossing, by linear interpolation
    grid_half = STEP * (j - 1) + STEP * (curve[j - 1] - level) / (curve[j - 1] - curve[j])
    sf_curve = [math.exp(-d**2 / (2 * s**2)) for d in range(5)]
    k = next(k for k, r in enumerate(sf_curve) if r < 0.5)
    sf_half = (k - 1) + (sf_curve[k - 1] - 0.5) / (sf_curve[k - 1] - sf_curve[k])
    return {"preferred_orientation_deg": mu, "circular_variance": 1 - vector / total,
            "orientation_bandwidth_deg": grid_half, "orthogonal_preferred_ratio": (b + a * math.exp(-2 * kappa)) / peak_r,
            "peak_sf": 2.0**peak, "sf_bandwidth_octaves": 2 * sf_half, "modulation_ratio": m,
            "preferred_orientation_fit_deg": mu, "orientation_bandwidth_fit_deg": fit_half, "peak_sf_fit": 2.0**peak,
            "sf_bandwidth_fit_octaves": 2 * s * math.sqrt(2 * math.log(2))}


FIT_TOLERANCE = {"orientation_bandwidth_fit_deg": 1e-3, "preferred_orientation_fit_deg": 1e-3, "peak_sf_fit": 1e-4,
                 "sf_bandwidth_fit_octaves": 1e-4}


def test_planted_neurons_get_their_closed_form_properties():
    names, responses = labels_and_responses()
    table = grating_table([parse_label(name) for name in names])
    values, missing = neuron_properties(table, responses)
    assert set(missing) == {"surround_suppression_index", "response_magnitude"}
    assert "no aperture sweep" in missing["surround_suppression_index"] and "no common scale" in missing["response_magnitude"]
    for n, neuron in enumerate(NEURONS):
        expected = closed_form(neuron)
        assert set(values) == set(expected)
        for name, value in expected.items():
            got = values[name][n]
            if name.startswith("preferred_orientation"):  # on the circle of 180 degrees
                got = value + (got - value + 90.0) % 180.0 - 90.0
            assert got == pytest.approx(value, abs=FIT_TOLERANCE.get(name, 1e-9)), (n, name)


def test_what_a_grating_set_cannot_give_is_said_with_why():
    names, responses = labels_and_responses(orientations=(0.0, 45.0, 90.0, 135.0), sfs=(4.0, 8.0))
    table = grating_table([parse_label(name) for name in names])
    values, missing = neuron_properties(table, responses)
    assert set(values) == {"preferred_orientation_deg", "circular_variance", "orientation_bandwidth_deg",
                           "orthogonal_preferred_ratio", "modulation_ratio"}
    assert missing["preferred_orientation_fit_deg"] == "a von Mises fit needs at least 5 orientations"
    assert missing["peak_sf"].startswith("needs at least 3 spatial frequencies (the labels have 4, 8)")
    keep = [i for i, name in enumerate(names) if "phase=0" in name or "phase=180" in name]
    _, missing = neuron_properties(table[keep], responses[keep])
    assert "F1 needs every condition shown at the same 3 or more phases" in missing["modulation_ratio"]
    gap = [i for i, name in enumerate(names) if not ("orientation=45 " in name and "sf=8 " in name)]
    with pytest.raises(UnitscopeError, match="not a full grid .* none is at orientation=45 sf=8 contrast=1"):
        neuron_properties(table[gap], responses[gap])


def test_the_command_compares_the_units_with_the_neurons_by_ks(tmp_path, capsys):
    spec = write_factory(tmp_path, GABOR_FACTORY)
    names, responses = labels_and_responses()
    names[0:0], responses = ["blank"], np.concatenate([np.full((1, len(NEURONS), 3), 0.1), responses])
    with open(tmp_path / "v1.csv", "w", newline="") as fh:  # long form, as a lab would write it
        writer = csv.writer(fh)
        writer.writerow(["stimulus", "neuron", "repeat", "response"])
        for s, name in enumerate(names):
            for n in range(len(NEURONS)):
                for k in range(3):
                    writer.writerow([name, f"cell{n}", k, repr(float(responses[s, n, k]))])
    out = tmp_path / "props.csv"
    assert main(["properties", spec, "--layer", "1", "--units", "3", "--orientations", "6", "--phases", "4",
                 "--device", "cpu", "--reference", str(tmp_path / "v1.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reference: 5 neurons measured on 480 gratings (1 other rows left out)" in printed
    assert "not compared: surround_suppression_index: grating labels are full-field gratings" in printed
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    side = json.loads((tmp_path / "props.csv.json").read_text())
    assert side["reference"]["left_out"] == ["blank"] and side["reference"]["n_neurons"] == 5
    rf_side, image_side = side["rf"]["rf_side"], 224  # the factory's input: 224 x 224
    assert side["reference"]["image_side"] == image_side and side["reference"]["rf_side"] == rf_side
    scores = side["similarity"]["properties"]
    assert set(scores) == set(closed_form(NEURONS[0]))
    for name in scores:
        neurons = np.array([closed_form(n)[name] for n in NEURONS])
        model = np.array([float(r[name]) if r[name] else np.nan for r in rows])
        if name in ("peak_sf", "peak_sf_fit"):  # the units' cycles per RF, in cycles per image as the labels
            model = model * image_side / rf_side
        model = model[np.isfinite(model)]
        expected = 1 - ks_2samp(model, neurons).statistic if model.size else math.nan
        got = scores[name]["similarity"]
        assert (got is None and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12), name
    np.testing.assert_allclose(side["reference"]["properties"]["circular_variance"],
                               [closed_form(n)["circular_variance"] for n in NEURONS], atol=1e-9)
    # the figure of the table draws the neurons' measured values as the reference
    from engine.figures.sources import figure_data

    data = figure_data(out)
    np.testing.assert_allclose(data.arrays["reference.circular_variance"],
                               [closed_form(n)["circular_variance"] for n in NEURONS], atol=1e-9)
    assert data.meta["similarity"]["circular_variance"] == pytest.approx(scores["circular_variance"]["similarity"])
    from engine.figures.render import caption_text
    from engine.figures.style import FigureOptions

    caption = caption_text(data, FigureOptions())
    assert "measured from the neurons' responses to 480 gratings" in caption and f"\u00d7 {rf_side:g} / 224" in caption
    with pytest.raises(UnitscopeError, match="holds responses: its neurons' properties are measured by"):
        figure_data(out, reference=tmp_path / "v1.csv")
    (tmp_path / "cv.csv").write_text("circular_variance\n0.5\n")
    assert main(["properties", spec, "--layer", "1", "--reference", str(tmp_path / "cv.csv"), "--window", "50:200",
                 "--out", str(tmp_path / "p2.csv")]) == 2
    assert "--window counts the spikes of an NWB reference" in capsys.readouterr().err


def test_a_reference_without_gratings_is_one_line(tmp_path):
    np.savez(tmp_path / "r.npz", responses=np.ones((2, 3)), stimuli=np.array(["a.png", "b.png"]))
    with pytest.raises(UnitscopeError, match="Reference 'r.npz' has no grating rows"):
        reference_from_responses(tmp_path / "r.npz")
    np.savez(tmp_path / "bad.npz", responses=np.ones((2, 3)),
             stimuli=np.array(["grating orientation=0 sf=4", "grating orientation=90 sf=four"]))
    with pytest.raises(UnitscopeError, match="Stimulus label 'grating orientation=90 sf=four': sf 'four' is not"):
        reference_from_responses(tmp_path / "bad.npz")
