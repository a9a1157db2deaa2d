"""Feature visualisation, evidence maps and the property battery from the window, on a
model with a planted Gabor channel: the image improves live, Cancel keeps the last one,
and what is drawn is what the engine made."""

from __future__ import annotations

import numpy as np
import pytest

from gui.window.main_window import MainWindow, StartupChoices
from gui.analyses.visualize_view import signed_rgb, to_rgb8

PLANTED_MODEL = '''
import math

import numpy as np
import torch
from torch import nn


def build():
    k = 9
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    conv = nn.Conv2d(3, 2, k, stride=4)
    with torch.no_grad():
        for c, theta in enumerate((30.0, 120.0)):
            u = x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta))
            g = np.exp(-(x**2 + y**2) / 8.0) * np.cos(2 * math.pi * u / 6.0)
            conv.weight[c] = torch.as_tensor(np.stack([g * s for s in (0.229, 0.224, 0.225)]))
        conv.bias.zero_()
    return nn.Sequential(conv, nn.ReLU())
'''
LAYER = "1"


@pytest.fixture
def window(qtbot, tmp_path):
    path = tmp_path / "planted_model.py"
    path.write_text(PLANTED_MODEL)
    window = MainWindow(StartupChoices(model=f"{path}:build", device="cpu", layer=LAYER))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=60000, check_params_cb=lambda layer: layer == LAYER):
        window.show()
    window.panel.channel_clicked.emit(0)
    yield window
    window.close()


def _progress(window):
    seen = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or seen.append(snap.done))
    return seen


def test_visualisation_improves_live_and_ends_next_to_the_best_input(window, qtbot):
    view = window.job_views["visualize"][0]
    view.steps_spin.setValue(48)
    view.size_spin.setValue(64)
    seen = _progress(window)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda k: k == "visualize"):
        view.visualize_action.trigger()
    snap = view.last_snapshot
    assert snap.done == 48 and snap.images.shape == (1, 64, 64, 3) and len(seen) >= 3  # several redraws
    np.testing.assert_array_equal(view.image_plot.image.image, to_rgb8(snap.images[0]))
    assert snap.best_input is not None and snap.activation[0] > snap.best_input
    assert "best over the inputs" in view.activation_label.text() and snap.best_input_label in view.activation_label.text()
    assert window.state.jobs_run["visualize"].steps == 48


def test_cancel_keeps_the_last_image(window, qtbot):
    view = window.job_views["visualize"][0]
    view.steps_spin.setValue(2048)  # a snapshot every 64 steps
    view.size_spin.setValue(32)
    seen = _progress(window)
    view.visualize_action.trigger()
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=60000)
    window.cancel()
    qtbot.waitUntil(lambda: "Cancelled" in view.status_label.text(), timeout=10000)
    assert view.last_snapshot is not None and view.last_snapshot.done < 2048
    np.testing.assert_array_equal(view.image_plot.image.image, to_rgb8(view.last_snapshot.images[0]))


def test_evidence_maps_are_drawn_over_the_input_with_the_rf_box(window, qtbot):
    view = window.job_views["visualize"][0]
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda k: k == "evidence"):
        view.evidence_action.trigger()
    snap = view.last_evidence
    assert set(snap.maps) == {"gradient", "gradient_x_input", "guided_backprop"}
    np.testing.assert_array_equal(view.evidence_plots["input"].image.image, snap.input_image)
    np.testing.assert_array_equal(view.evidence_plots["guided_backprop"].image.image,
                                  signed_rgb(snap.maps["guided_backprop"]))
    top, left, bottom, right = snap.rf_box
    xs, ys = view.evidence_plots["gradient"].outlines["rf"].getData()
    assert (min(xs), min(ys), max(xs), max(ys)) == (max(left, 0), max(top, 0), right + 1, bottom + 1)
    assert bottom - top + 1 == 9  # the 9 x 9 kernel


def test_property_histograms_fill_and_score_against_a_reference(window, qtbot, tmp_path):
    view = window.job_views["properties"][0]
    view.units_spin.setValue(0)
    view.orientations_spin.setValue(6)
    view.phases_spin.setValue(2)
    with qtbot.waitSignal(window.analysis_shown, timeout=120000, check_params_cb=lambda k: k == "properties"):
        view.run_action.trigger()
    orientation = view.values("preferred_orientation_deg")
    assert orientation.size == 2 and abs(orientation[0] - 30) <= 15 and abs(orientation[1] - 120) <= 15
    xs, ys = view.bars["preferred_orientation_deg"].getData()
    assert ys.sum() == pytest.approx(1.0)  # fractions of the units
    reference = tmp_path / "v1.csv"
    reference.write_text("preferred_orientation_deg\n30\n120\n")
    view.load_reference(reference)
    assert view.similarity("preferred_orientation_deg") > 0.4
    assert "KS 0." in view.plots["preferred_orientation_deg"].titleLabel.text
    assert "mean KS similarity" in view.summary_label.text()
