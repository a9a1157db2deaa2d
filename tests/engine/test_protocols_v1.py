"""The V1 battery's protocols recover properties planted in hand-built units: surround
suppression, contrast saturation (c50, exponent), hue, end-stopping and F1/F0."""

import math

import numpy as np
import pytest
import torch
from planted_units import STD, gabor, grey, grey_bias, one_thread, planted_conv, write_factory  # noqa: F401
from torch import nn

from engine.analyses.properties import (
    contrast_metrics,
    hue_metrics,
    ks_similarity,
    length_metrics,
    naka_rushton,
    protocol_metrics,
    size_metrics,
)
from engine.analyses.tuning import run_tuning
from engine.analyses.units import Unit, unit_geometry
from engine.anatomy.tree import build_anatomy
from engine.errors import UnitscopeError
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Recorder
from engine.stimuli import procedural
from engine.stimuli.protocols import KINDS, Protocol, kind_name

SIZE = 64
K = 31


def _grid(k=K):
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    return y, x


def _conv(weights: np.ndarray) -> nn.Conv2d:
    return planted_conv([weights])


def _session_parts(net: nn.Module, layer: str):
    model = LoadedModel("toy", net.eval(), "set by the test", source="python", input_size=(SIZE, SIZE))
    geometry = unit_geometry(build_anatomy(net, (SIZE, SIZE)), Unit(layer, 0))
    return Recorder(net, "cpu"), Preprocess(model), geometry


def _run(net, layer, kind, params, phases=8):
    rec, pp, geo = _session_parts(net, layer)
    protocol = Protocol(kind, SIZE, params, center=geo.center, rf_side=geo.side, phases=phases)
    table = run_tuning(rec, geo.unit, protocol, pp, batch_size=64)
    return protocol_metrics(kind, *table.table()), table, geo


class Energy(nn.Module):
    """A complex cell: the amplitude sqrt(a^2 + b^2) of a quadrature pair of channels."""

    def forward(self, x):
        return torch.sqrt(x[:, :1] ** 2 + x[:, 1:2] ** 2 + 1e-12)


class NakaRushton(nn.Module):
    """``x^n / (x^n + s^n)``: a saturating contrast response."""

    def __init__(self, s: float, n: float):
        super().__init__()
        self.s, self.n = s, n

    def forward(self, x):
        return x**self.n / (x**self.n + self.s**self.n)


def _quadrature(theta=0.0, wavelength=8.0, sigma=4.0) -> nn.Conv2d:
    return planted_conv([grey(gabor(theta, wavelength, sigma, 0.0)), grey(gabor(theta, wavelength, sigma, -math.pi / 2))])


# --- the protocols exist and are sized to the RF ------------------------------------


def test_new_kinds_are_known_by_name_and_sized_to_the_receptive_field():
    for text, name in [("size", "size"), ("contrast", "contrast"), ("hue", "hue"), ("bar-length", "bar_length"),
                       ("phase", "phase"), ("colour", "hue")]:
        assert kind_name(text) == name and name in KINDS
    size = Protocol("size", SIZE, center=(30, 30), rf_side=32)
    np.testing.assert_allclose(size.axes["radius"], 32 * 2.0 ** np.arange(-4, 0.25, 0.5))
    assert size.conditions[0]["sf"] == pytest.approx(2.0 * SIZE / 32)  # 2 cycles per RF by default
    contrast = Protocol("contrast", SIZE)
    assert contrast.axes["contrast"][0] == pytest.approx(1 / 64) and contrast.axes["contrast"][-1] == 1.0
    lengths = Protocol("bar_length", SIZE, rf_side=16).axes["length"]
    assert lengths.min() == pytest.approx(1.0) and lengths.max() == pytest.approx(32.0)
    with pytest.raises(UnitscopeError, match="has no parameter 'length'"):
        Protocol("size", SIZE, {"length": [3.0]})


def test_hue_discs_have_the_same_mean_for_every_hue_and_the_primaries_where_expected():
    for hue in np.arange(0, 360, 15.0):
        disc = procedural.hue_disc(16, hue, 1.0)
        assert disc.mean(axis=-1) == pytest.approx(np.full((16, 16), 0.5), abs=1e-6)
        assert disc.min() >= 0 and disc.max() <= 1
    red, green, blue = (procedural.hue_disc(4, h)[0, 0] for h in (0, 120, 240))
    assert np.argmax(red) == 0 and np.argmax(green) == 1 and np.argmax(blue) == 2
    assert red.max() == pytest.approx(1.0)
    half = procedural.hue_disc(21, 0, 1.0, radius_px=5)
    assert (half[10, 10] == red).all() and (half[0, 0] == 0.5).all()


# --- metrics on curves with known answers -------------------------------------------


def test_naka_rushton_fit_recovers_its_parameters():
    c = 2.0 ** np.arange(-6, 0.25, 0.5)
    fit = contrast_metrics(c, naka_rushton(c, 3.0, 0.12, 2.5, 0.4))
    assert fit["c50"] == pytest.approx(0.12, rel=1e-3) and fit["exponent"] == pytest.approx(2.5, rel=1e-3)
    assert fit["r_max"] == pytest.approx(3.0, rel=1e-3) and fit["r_squared"] > 0.9999


def test_curve_metrics_on_closed_forms():
    radii = np.array([1, 2, 4, 8, 16.0])
    assert size_metrics(radii, [1, 3, 4, 2, 1])["surround_suppression_index"] == pytest.approx(0.75)
    assert size_metrics(radii, [1, 2, 3, 4, 5])["surround_suppression_index"] == 0
    lengths = length_metrics(radii, [1, 4, 2, 1, 1])
    assert lengths["optimal_length"] == 2 and lengths["end_stopping_index"] == pytest.approx(0.75)
    hues = np.arange(0, 360, 15.0)
    h = hue_metrics(hues, np.cos(np.radians(hues - 200)))
    assert h["preferred_hue_deg"] == pytest.approx(200, abs=0.1) and h["vector_hue_deg"] == pytest.approx(200)
    assert ks_similarity([1, 2, 3], [1, 2, 3]) == 1.0 and ks_similarity([0, 1], [5, 6]) == 0.0


# --- planted units ------------------------------------------------------------------


def _amplitude(kernel: np.ndarray, radius: float, geo, sf: float) -> float:
    """Closed form: the amplitude over phase of a grey linear unit's response to a grating in an aperture."""
    top, left = int(geo.box[0]), int(geo.box[1])
    ys, xs = np.mgrid[top:top + K, left:left + K]
    ys, xs = ys - geo.center[0], xs - geo.center[1]
    inside = xs**2 + ys**2 <= radius**2
    return 0.5 * abs(np.sum(kernel * inside * np.exp(1j * 2 * math.pi * sf * xs / SIZE)))


def test_centre_minus_surround_unit_shows_surround_suppression_and_a_plain_gabor_does_not():
    centre = gabor(0, 8, 3)
    surround = gabor(0, 8, 8)
    cs = centre - 0.6 * surround * np.abs(centre).sum() / np.abs(surround).sum()
    radii = np.arange(1.0, 17.0, 1.0)
    found = {}
    for name, kernel in [("cs", cs), ("plain", centre)]:
        net = nn.Sequential(_conv(grey(kernel)), nn.ReLU())
        metrics, table, geo = _run(net, "1", "size", {"orientation": 0.0, "sf": SIZE / 8, "radius": radii})
        found[name] = metrics["size"]
        amplitudes = np.array([_amplitude(kernel, r, geo, SIZE / 8) for r in radii])
        expected = 1 - amplitudes[-1] / amplitudes.max()
        # F0 of a half-wave rectified cosine is proportional to its amplitude
        assert found[name]["surround_suppression_index"] == pytest.approx(expected, abs=0.03)
        assert found[name]["preferred_radius"] == radii[np.argmax(amplitudes)]
    assert found["cs"]["surround_suppression_index"] > 0.3
    assert found["plain"]["surround_suppression_index"] < 0.05


def test_saturating_complex_unit_gives_the_planted_c50_and_exponent():
    c50, n = 0.2, 2.0
    conv = _quadrature()
    probe = nn.Sequential(conv, Energy())
    rec, pp, geo = _session_parts(probe, "1")
    full = Protocol("gratings", SIZE, {"orientation": 0.0, "sf": SIZE / 8}, center=geo.center, rf_side=geo.side)
    unit_at_full_contrast = run_tuning(rec, geo.unit, full, pp).measure("f0")[0, 0]
    net = nn.Sequential(conv, Energy(), NakaRushton(c50 * unit_at_full_contrast, n))
    metrics, table, _ = _run(net, "2", "contrast", {"orientation": 0.0, "sf": SIZE / 8})
    assert metrics["contrast"]["c50"] == pytest.approx(c50, rel=0.03)
    assert metrics["contrast"]["exponent"] == pytest.approx(n, rel=0.03)


def test_hue_selective_unit_prefers_its_hue():
    planted = 100.0
    direction = procedural.hue_direction(planted)
    weights = np.stack([np.full((5, 5), direction[c] * STD[c]) for c in range(3)])
    net = nn.Sequential(_conv(weights), nn.ReLU())
    metrics, _, _ = _run(net, "1", "hue", {"hue": np.arange(0, 360, 15.0), "radius": 0.0})
    assert metrics["hue"]["preferred_hue_deg"] == pytest.approx(planted, abs=3)
    assert metrics["hue"]["vector_hue_deg"] == pytest.approx(planted, abs=1)
    assert metrics["hue"]["hue_selectivity"] > 0.5
    assert "modulation_ratio" not in metrics  # hue discs have no phase


def test_end_stopped_unit_has_its_optimal_length():
    planted = 9  # rows of the excitatory centre
    y, x = _grid()
    excitatory = (np.abs(x) <= 1) & (np.abs(y) <= planted // 2)
    inhibitory = (np.abs(x) <= 1) & (np.abs(y) > planted // 2) & (np.abs(y) <= planted // 2 + 6)
    kernel = excitatory * 1.0 - inhibitory * 1.0
    net = nn.Sequential(_conv(grey(kernel)), nn.ReLU())
    lengths = np.arange(1.0, 30.0, 2.0)
    metrics, table, _ = _run(net, "1", "bar_length", {"orientation": 0.0, "width": 3.0, "length": lengths})
    assert metrics["bar_length"]["optimal_length"] == pytest.approx(planted, abs=1)
    assert metrics["bar_length"]["end_stopping_index"] > 0.9
    plain = nn.Sequential(_conv(grey(excitatory * 1.0)), nn.ReLU())
    assert _run(plain, "1", "bar_length", {"orientation": 0.0, "width": 3.0, "length": lengths}
                )[0]["bar_length"]["end_stopping_index"] == pytest.approx(0, abs=1e-6)


def test_energy_unit_is_complex_and_linear_gabor_unit_is_simple():
    params = {"orientation": 0.0, "sf": SIZE / 8}
    energy, _, _ = _run(nn.Sequential(_quadrature(), Energy()), "1", "phase", params, phases=16)
    linear, _, _ = _run(nn.Sequential(_conv(grey(gabor(0, 8, 4))), nn.ReLU()), "1", "phase", params, phases=16)
    assert energy["modulation_ratio"] < 0.05
    # a half-wave rectified cosine: F1 / F0 = (A / 2) / (A / pi) = pi / 2
    assert linear["modulation_ratio"] == pytest.approx(math.pi / 2, rel=0.02)


def test_tuning_command_reports_the_battery_metrics_of_the_new_protocols(tmp_path, capsys):
    import json

    from engine.cli import main

    spec = write_factory(tmp_path, """
        k = 15
        y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
        g = np.exp(-(x**2 + y**2) / 18.0) * np.cos(2 * math.pi * x / 7.5)
        conv = nn.Conv2d(3, 1, k, stride=8)
        with torch.no_grad():
            conv.weight[0] = torch.as_tensor(np.stack([g * s for s in (0.229, 0.224, 0.225)]))
            conv.bias.zero_()
        return nn.Sequential(conv, nn.ReLU())
        """)
    out = tmp_path / "phase.csv"
    assert main(["tuning", spec, "--layer", "1", "--channel", "0", "--protocol", "phase", "--phases", "16",
                 "--param", "sf_rf=2", "--device", "cpu", "--out", str(out)]) == 0
    battery = json.loads((tmp_path / "phase.csv.json").read_text())["metrics"]["battery"]
    assert battery["modulation_ratio"] == pytest.approx(math.pi / 2, rel=0.05)
    assert "F1/F0 1.5" in capsys.readouterr().out
    assert main(["tuning", spec, "--layer", "1", "--channel", "0", "--protocol", "bar-length", "--device", "cpu",
                 "--out", str(tmp_path / "length.csv")]) == 0
    battery = json.loads((tmp_path / "length.csv.json").read_text())["metrics"]["battery"]
    assert set(battery["bar_length"]) >= {"optimal_length", "end_stopping_index"}
    assert "optimal length" in capsys.readouterr().out
