"""A battery protocol from the window's Tuning view: a centre-minus-surround unit's size
tuning, whose surround suppression index shown must be the engine's own."""

from __future__ import annotations

import re

import pytest

from engine.analyses.properties import protocol_metrics
from engine.jobs.protocol_responses import ProtocolResponses
from engine.session.session import Session
from engine.session.values import ModelSpec
from gui.window.main_window import MainWindow, StartupChoices
from tests.planted_units import write_factory

# A 31x31 Gabor centre minus a wide Gabor surround (as in the battery's test), then a ReLU:
# larger gratings reach the surround and the response falls.
SURROUND_MODEL = """
k = 31
y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
def gabor(sigma):
    return np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * math.pi * x / 8.0)
centre, surround = gabor(3.0), gabor(8.0)
kernel = centre - 0.6 * surround * np.abs(centre).sum() / np.abs(surround).sum()
conv = nn.Conv2d(3, 1, k, bias=False)
with torch.no_grad():
    conv.weight.copy_(torch.as_tensor(np.stack([kernel * s for s in (0.229, 0.224, 0.225)]))[None].float())
return nn.Sequential(conv, nn.ReLU())
"""
LAYER = "1"


@pytest.fixture
def spec(tmp_path):
    return write_factory(tmp_path, SURROUND_MODEL)


@pytest.fixture
def window(qtbot, spec):
    window = MainWindow(StartupChoices(model=spec, device="cpu", layer=LAYER))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=60000, check_params_cb=lambda layer: layer == LAYER):
        window.show()
    window.panel.channel_clicked.emit(0)
    yield window
    window.close()


def test_size_protocol_shows_the_engines_surround_suppression_index(window, qtbot, spec):
    view = window.views["tuning"]
    view.position_combo.setCurrentIndex(view.position_combo.findData("centre"))
    view.sf_orientation_spin.setValue(0.0)
    view.phases_spin.setValue(4)
    view.sf_spin.setValue(31 / 8)  # the kernel's 8 px wavelength, in cycles per 31 px RF
    assert view.protocol_button.isEnabled() and view.protocol_actions["size"].isEnabled()
    with qtbot.waitSignal(window.analysis_shown, timeout=90000,
                          check_params_cb=lambda kind: kind == "protocol_responses"):
        view.protocol_actions["size"].trigger()
    job = window.state.jobs_run["tuning"]
    assert isinstance(job, ProtocolResponses) and job.protocol == "size"

    # The engine alone, on its own session, with the job the window built.
    snapshot = list(job.run(Session.open(ModelSpec(spec, device="cpu"))))[-1]
    engine = protocol_metrics("size", snapshot.columns, snapshot.rows)["size"]
    shown = re.search(r"Surround suppression index (-?[\d.]+) · preferred radius ([\d.]+) px",
                      view.metrics_label.text())
    assert shown, view.metrics_label.text()
    assert float(shown.group(1)) == pytest.approx(round(engine["surround_suppression_index"], 3), abs=1e-9)
    assert float(shown.group(2)) == pytest.approx(round(engine["preferred_radius"], 1), abs=1e-9)
    assert engine["surround_suppression_index"] > 0.3  # the planted surround is found at all
    assert "F1/F0" in view.metrics_label.text()
    # The curve drawn is the engine's: one point per radius, peak at the preferred radius.
    xs, ys = view.f0_item.getData()
    assert len(xs) == len([r for r in snapshot.rows]) and ys.max() == pytest.approx(engine["r_peak"], rel=1e-6)


def _legend(view) -> list[str]:
    return [label.text for _sample, label in view.legend.items]


def test_the_legend_names_f1_only_for_protocols_that_have_phases(window, qtbot):
    """Hue discs have no phase: no F1 curve, and no F1 in the legend; a phased protocol
    (size gratings) afterwards lists it again with its curve."""
    view = window.views["tuning"]
    view.phases_spin.setValue(4)
    for kind, listed in (("hue", False), ("size", True)):
        with qtbot.waitSignal(window.analysis_shown, timeout=90000,
                              check_params_cb=lambda shown: shown == "protocol_responses"):
            view.protocol_actions[kind].trigger()
        assert window.state.jobs_run["tuning"].protocol == kind
        assert ("F1 (first harmonic)" in _legend(view)) is listed, (kind, _legend(view))
        assert "F0 (mean over phase)" in _legend(view)
        assert (len(view.f1_item.getData()[0] if view.f1_item.getData()[0] is not None else []) > 0) is listed
