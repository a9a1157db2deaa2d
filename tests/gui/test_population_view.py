"""Population analyses from the window: resnet18 with known random weights, compared with
the engine's own population stream over the same stimuli."""

from __future__ import annotations

import numpy as np
import pytest

import resources
from engine.analyses.population import participation_ratio, population_stream
from engine.session.stimulus_sets import GRATING_SET_ORIENTATIONS, GRATING_SET_SF
from engine.stimuli.protocols import ImageFolder, Protocol
from gui.window.main_window import MainWindow, StartupChoices
from gui.analyses.population_view import explained_variance_text


@pytest.fixture
def window(qtbot, resnet18_weights):
    window = MainWindow(StartupChoices(model="resnet18", weights=str(resnet18_weights), device="cpu",
                                       layer="layer2"))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=30000,
                          check_params_cb=lambda layer: layer == "layer2"):
        window.show()
    yield window
    window.close()


def engine_state(reference, layer, stimuli, view):
    state = None
    for state in population_stream(reference.recorder, layer, stimuli, reference.preprocess, view):
        pass
    return state


def run(window, qtbot, stimuli: str, view: str) -> list[int]:
    pv = window.views["population"]
    pv.set_combo.setCurrentIndex(pv.set_combo.findData(stimuli))
    pv.view_combo.setCurrentIndex(pv.view_combo.findData(view))
    progress = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or progress.append(snap.done))
    with qtbot.waitSignal(window.analysis_shown, timeout=30000,
                          check_params_cb=lambda kind: kind == "population"):
        assert pv.run_action.isEnabled()
        pv.run_action.trigger()
    assert window.docks["population"].isVisible()
    return progress


def test_images_in_the_strip(window, qtbot, reference):
    pv = window.views["population"]
    run(window, qtbot, "images", "flat")
    paths = [str(p.resolve()) for p in resources.sample_images()]
    state = engine_state(reference, "layer2", ImageFolder(paths, workers=0), "flat")
    assert len(pv.scatter.data) == state.n == len(paths)
    np.testing.assert_allclose(pv.rdm_image.image, state.rdm.rdm, atol=1e-6)
    pca = state.pca()
    np.testing.assert_allclose(pv.scatter.data["x"], pca.transform(state.rdm.rows)[:, 0], atol=1e-6)
    text = pv.summary_label.text()
    assert f"explained variance: {explained_variance_text(pca.explained_variance_ratio)}" in text
    assert f"Participation ratio {participation_ratio(pca.explained_variance):.2f}" in text
    assert "PC1 (" in pv.scatter_plot.getAxis("bottom").labelText
    assert "Done: 4 stimuli" in pv.status_label.text()


def test_grating_set_streams_and_matches_the_engine(window, qtbot, reference):
    pv = window.views["population"]
    progress = run(window, qtbot, "gratings", "channels")
    n = GRATING_SET_ORIENTATIONS * len(GRATING_SET_SF)
    assert progress == [16, 32, 48] and n == 48
    protocol = Protocol("gratings", 224, {"orientation": 180.0 * np.arange(12) / 12,
                                          "sf": GRATING_SET_SF, "phase": [0.0]})
    state = engine_state(reference, "layer2", protocol, "channels")
    assert state.moments is not None  # 128 channels: the streaming covariance path
    assert len(pv.scatter.data) == n
    np.testing.assert_allclose(pv.rdm_image.image, state.rdm.rdm, atol=1e-6)
    ratio = state.pca().explained_variance_ratio
    assert f"explained variance: {explained_variance_text(ratio)}" in pv.summary_label.text()
    lifetime = np.nanmean(state.moments.lifetime_sparseness())
    assert f"lifetime sparseness {lifetime:.2f}" in pv.summary_label.text()
