"""Tuning sweeps from the window: a known-answer unit (a Gabor filter at 30 degrees).

The model is one 11x11 convolution whose kernel is the engine's own Gabor patch at 30
degrees, 2 cycles per kernel, followed by a ReLU: a simple cell whose F0 peaks at 30
degrees for gratings of 2 cycles per receptive field.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from gui.window.main_window import MainWindow, StartupChoices

GABOR_MODEL = '''
import numpy as np
import torch
from torch import nn

from engine.stimuli.procedural import gabor_patch


def build():
    patch = gabor_patch(11, 30.0, 2.0, 2.5)[..., 0] - 0.5
    patch = patch - patch.mean()
    conv = nn.Conv2d(3, 1, 11, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.stack([patch] * 3)).float()[None])
    return nn.Sequential(conv, nn.ReLU())
'''


@pytest.fixture
def gabor_spec(tmp_path):
    path = tmp_path / "gabor_model.py"
    path.write_text(GABOR_MODEL)
    return f"{path}:build"


@pytest.fixture
def window(qtbot, gabor_spec):
    """The window on the Gabor model, showing layer "1" (the ReLU), channel 0 clicked."""
    window = MainWindow(StartupChoices(model=gabor_spec, device="cpu", layer="1"))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == "1"):
        window.show()
    window.panel.channel_clicked.emit(0)
    yield window
    window.close()


def engine_table(spec, orientations=12, phases=8):
    """The same sweep run with the engine alone."""
    from engine.analyses.tuning import run_tuning
    from engine.analyses.units import Unit, unit_geometry
    from engine.anatomy.tree import build_anatomy
    from engine.models.preprocess import Preprocess
    from engine.models.sources import open_model
    from engine.recording.recorder import Recorder
    from engine.stimuli.protocols import Protocol

    model = open_model(spec)
    preprocess = Preprocess(model)
    geometry = unit_geometry(build_anatomy(model.module, model.input_size), Unit("1", 0))
    protocol = Protocol("gratings", preprocess.crop_size,
                        {"orientation": 180.0 * np.arange(orientations) / orientations, "sf_rf": [2.0]},
                        center=geometry.center, rf_side=geometry.side, phases=phases)
    return run_tuning(Recorder(model.module, "cpu"), geometry.unit, protocol, preprocess)


def test_orientation_tuning_draws_the_engines_curve_while_it_runs(window, qtbot, gabor_spec):
    view = window.views["tuning"]
    assert view.orientation_action.isEnabled() and "1, channel 0" in view.unit_label.text()
    drawn = []  # points on show after each batch (the window's slot runs first)
    window.worker.snapshot_ready.connect(
        lambda rid, snap, final: final or drawn.append((len(view.f0_item.getData()[0]), snap.done, snap.total)))
    with qtbot.waitSignal(window.analysis_shown, timeout=20000):
        view.orientation_action.trigger()
        assert window.status.is_busy_shown()  # progress and Cancel at once
    assert len(drawn) == 6 and drawn[0] == (2, 16, 96) and drawn[-1] == (12, 96, 96)
    # The engine says the job ended just after its last snapshot: the bar goes then.
    qtbot.waitUntil(lambda: not window.status.is_busy_shown(), timeout=2000)

    table = engine_table(gabor_spec)
    f0, f1 = table.curve("orientation", "f0"), table.curve("orientation", "f1")
    x, y = view.f0_item.getData()
    np.testing.assert_allclose(x, f0.values)
    np.testing.assert_allclose(y, f0.responses, rtol=1e-6)
    np.testing.assert_allclose(view.f1_item.getData()[1], f1.responses, rtol=1e-6)
    assert view.f1_item.opts["pen"].style() == Qt.PenStyle.DashLine
    assert view.f0_item.opts["symbol"] == "o"
    assert abs(x[np.argmax(y)] - 30.0) <= 7.5
    assert "Preferred orientation 30.0°" in view.metrics_label.text()
    assert f"OSI {table.metrics()['orientation']['osi']:.2f}" in view.metrics_label.text()
    assert view.sf_orientation_spin.value() == pytest.approx(30.0)  # ready for an SF sweep


def test_spatial_frequency_tuning_prefers_two_cycles_per_field(window, qtbot):
    view = window.views["tuning"]
    view.sf_orientation_spin.setValue(30.0)
    view.phases_spin.setValue(4)
    with qtbot.waitSignal(window.analysis_shown, timeout=20000):
        view.sf_action.trigger()
    x, y = view.f0_item.getData()
    assert len(x) == 11
    assert 10 ** x[np.argmax(y)] == pytest.approx(2.0)  # log axis: the item holds log10(SF)
    text = view.metrics_label.text()
    preferred = float(re.search(r"Preferred SF ([0-9.]+) cycles/RF", text).group(1))
    assert 2.0 / 2**0.25 <= preferred <= 2.0 * 2**0.25  # within half a step of the sweep


def test_cancel_keeps_the_partial_curve_and_the_next_record_works(window, qtbot):
    view = window.views["tuning"]
    view.orientations_spin.setValue(36)  # 18 batches
    finished = []
    window.analysis_shown.connect(finished.append)

    def cancel_on_first(rid, snap, final):
        if not final and getattr(snap, "done", None) == 16:
            QTest.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)

    window.worker.snapshot_ready.connect(cancel_on_first)
    with qtbot.waitSignal(window.worker.job_finished, timeout=20000,
                          check_params_cb=lambda rid: rid == window.worker._newest_analysis):
        view.orientation_action.trigger()
    qtbot.wait(200)
    assert len(view.f0_item.getData()[0]) == 2  # the first batch's two orientations stay
    assert "Cancelled after 16 of 288 stimuli" in view.status_label.text()
    assert not window.status.is_busy_shown() and finished == []
    with qtbot.waitSignal(window.layer_shown, timeout=10000, check_params_cb=lambda layer: layer == "0"):
        window.tree.select_layer("0")


def test_a_record_asked_for_during_a_sweep_is_served_between_batches(window, qtbot):
    view = window.views["tuning"]
    view.orientations_spin.setValue(36)  # 18 batches
    events = []
    window.layer_shown.connect(lambda layer: events.append(("layer", layer)))
    window.analysis_shown.connect(lambda kind: events.append(("done", kind)))

    def select_on_first(rid, snap, final):
        if not final and getattr(snap, "done", None) == 16:
            window.tree.select_layer("0")

    window.worker.snapshot_ready.connect(select_on_first)
    with qtbot.waitSignal(window.analysis_shown, timeout=30000):
        view.orientation_action.trigger()
    assert events == [("layer", "0"), ("done", "tuning")]
    assert len(view.f0_item.getData()[0]) == 36  # the sweep went on after the recording
    assert window.recording.layer == "0"


def test_the_metrics_name_the_fitted_preferred_orientation_beside_the_grid_value():
    """A planted von Mises unit at 37.5° sampled every 15°: the grid says 30 or 45, the fit says 37.5."""
    import dataclasses
    from types import SimpleNamespace

    from engine.analyses.fits import von_mises
    from engine.analyses.tuning import orientation_metrics
    from gui.analyses.tuning_view import metrics_text

    grid = np.arange(0, 180, 15.0)
    metrics = dataclasses.asdict(orientation_metrics(grid, von_mises(grid, 0.1, 1.0, 2.0, 37.5)))
    text = metrics_text(SimpleNamespace(param="orientation", metrics={"orientation": metrics}))
    fit_line = text.splitlines()[-1]
    assert fit_line.startswith("Fit (von Mises, R² 1.00): preferred 37.5°"), text
    assert f"Preferred orientation {metrics['preferred_deg']:.1f}°" in text
