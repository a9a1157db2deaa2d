"""Comparing two layers from the Population view: RSA and linear CKA equal the engine's
compare_stream over the same stimuli (resnet18 with known random weights)."""

from __future__ import annotations

import numpy as np
import pytest

import resources
from engine.analyses.population import PopulationSource, compare_stream
from engine.stimuli.protocols import ImageFolder


def compare(window, qtbot, layer_b: str) -> list[int]:
    pv = window.views["population"]
    assert pv.compare_combo.findText(layer_b) >= 0  # offered from the model's anatomy
    pv.compare_combo.setEditText(layer_b)
    progress = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or progress.append(snap.done))
    with qtbot.waitSignal(window.analysis_shown, timeout=30000,
                          check_params_cb=lambda kind: kind == "comparison"):
        assert pv.compare_action.isEnabled()
        pv.compare_action.trigger()
    return progress


def engine_comparison(reference, layer_a, layer_b):
    paths = [str(p.resolve()) for p in resources.sample_images()]
    a = PopulationSource(reference.recorder, layer_a, reference.preprocess, "flat")
    b = PopulationSource(reference.recorder, layer_b, reference.preprocess, "flat")
    result = None
    for result in compare_stream(a, b, ImageFolder(paths, workers=0)):
        pass
    return result


def test_layer2_vs_layer3_matches_compare_stream(open_window, qtbot, reference):
    window = open_window(wait_for="layer2", layer="layer2")
    pv = window.views["population"]
    assert not pv.compare_action.isEnabled()  # no layer chosen yet
    progress = compare(window, qtbot, "layer3")
    expected = engine_comparison(reference, "layer2", "layer3")
    snap = pv.last_snapshot
    assert progress[-1] == snap.done == expected.rdm_a.n == len(resources.sample_images())
    assert snap.rsa == pytest.approx(expected.rsa(), abs=1e-9)
    assert snap.cka == pytest.approx(expected.cka(), abs=1e-9)
    text = pv.compare_label.text()
    assert f"RSA (Spearman of RDMs) = {expected.rsa():.3f}" in text
    assert f"linear CKA = {expected.cka():.3f}" in text
    np.testing.assert_allclose(pv.rdm_image.image, expected.rdm_a.rdm, atol=1e-6)
    np.testing.assert_allclose(pv.rdm_b_image.image, expected.rdm_b.rdm, atol=1e-6)
    assert pv.rdm_b_plot in pv.canvas.ci.items and pv.compare_label.isVisible()
    assert "layer3" in pv.rdm_b_plot.titleLabel.text
    # a plain population analysis afterwards hides the second RDM again
    with qtbot.waitSignal(window.analysis_shown, timeout=30000):
        pv.run_action.trigger()
    assert pv.rdm_b_plot not in pv.canvas.ci.items and not pv.compare_label.isVisible()


def test_a_layer_with_itself_is_identical(open_window, qtbot):
    window = open_window(wait_for="layer2", layer="layer2")
    pv = window.views["population"]
    compare(window, qtbot, "layer2")
    assert "RSA (Spearman of RDMs) = 1.000, linear CKA = 1.000" in pv.compare_label.text()
    assert pv.last_snapshot.rsa == pytest.approx(1.0) and pv.last_snapshot.cka == pytest.approx(1.0)


def test_unknown_layer_is_refused_in_the_view(open_window, qtbot):
    window = open_window(wait_for="layer2", layer="layer2")
    pv = window.views["population"]
    pv.compare_combo.setEditText("layer9")
    with qtbot.assertNotEmitted(pv.compare_requested):
        pv.compare_action.trigger()
    assert "Unknown layer 'layer9'" in pv.status_label.text()
