"""Receptive-field mapping from the window, on a known-answer model.

The model is two 3x3 convolutions with positive weights and no nonlinearity: a linear
unit whose theoretical receptive field is 5x5 pixels and whose input gradient is
positive on every one of them, so the empirical box (gradient above 1% of its peak)
is the theoretical box.  Every map is checked against the engine run on its own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gui.window.main_window import MainWindow, StartupChoices

LINEAR_MODEL = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 1, 3))
    with torch.no_grad():
        for conv in model:
            conv.weight.uniform_(0.1, 1.0)
            conv.bias.fill_(0.1)
    return model
'''
LAYER = "1"
FRAMES, GRID = 96, 8  # 28-pixel noise cells, each lit about 12 times


@pytest.fixture
def window(qtbot, tmp_path):
    path = tmp_path / "linear_model.py"
    path.write_text(LINEAR_MODEL)
    window = MainWindow(StartupChoices(model=f"{path}:build", device="cpu", layer=LAYER))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == LAYER):
        window.show()
    window.panel.channel_clicked.emit(0)
    window.spec = f"{path}:build"
    yield window
    window.close()


def engine_maps(spec, stimuli, unit_yx):
    """Theoretical box, gradient map and ON/OFF maps computed with the engine alone."""
    from engine.analyses.unit_rf import gradient_rf, reverse_correlation
    from engine.analyses.units import Unit, unit_geometry
    from engine.anatomy.tree import build_anatomy
    from engine.models.preprocess import Preprocess
    from engine.models.sources import open_model
    from engine.recording.recorder import Recorder
    from engine.stimuli.images import load_image
    from engine.stimuli.procedural import PROCEDURAL
    from engine.stimuli.protocols import Protocol

    model = open_model(spec)
    preprocess = Preprocess(model)
    recorder = Recorder(model.module, "cpu")
    geometry = unit_geometry(build_anatomy(model.module, model.input_size), Unit(LAYER, 0, *unit_yx))
    inputs = torch.stack([preprocess.image(load_image(s.value)) if s.kind == "image"
                          else preprocess.array(PROCEDURAL[s.value](preprocess.crop_size)) for s in stimuli])
    grad = None
    for grad in gradient_rf(recorder, geometry.unit, [inputs]):
        pass
    protocol = Protocol("sparse_noise", preprocess.crop_size,
                        {"frames": FRAMES, "grid": GRID, "n_on": 8, "seed": 0})
    maps = None
    for maps in reverse_correlation(recorder, geometry.unit, protocol, preprocess):
        pass
    return geometry, grad, maps


def test_boxes_and_maps_match_the_engine(window, qtbot):
    view = window.views["receptive_field"]
    action = view.run_action
    assert action.isEnabled() and action.shortcut().toString() == "Ctrl+Shift+R"
    assert action in window.menuBar().actions()[2].menu().actions()  # Analyse
    view.frames_spin.setValue(FRAMES)
    view.grid_spin.setValue(GRID)
    view.position_combo.setCurrentIndex(view.position_combo.findData("centre"))  # the default is the clicked unit
    with qtbot.waitSignal(window.analysis_shown, timeout=30000,
                          check_params_cb=lambda kind: kind == "receptive_field"):
        action.trigger()
        assert window.status.is_busy_shown()
    assert window.docks["receptive_field"].isVisible()
    snap = view.last_snapshot
    stimuli = window.strip.stimuli()
    assert snap.n_images == len(stimuli) and snap.n_frames == FRAMES
    assert snap.done == snap.total == len(stimuli) + FRAMES

    geometry, grad, maps = engine_maps(window.spec, stimuli, (None, None))
    assert snap.unit_label == geometry.unit.label
    top, left, bottom, right = geometry.box
    assert (bottom - top + 1, right - left + 1) == (5, 5)  # two 3x3 convolutions
    assert snap.theoretical_box == geometry.box == view.shown_box("theoretical")
    assert snap.empirical_box == grad.box() == view.shown_box("empirical")
    assert snap.empirical_box == geometry.box  # linear, positive: every pixel of the field counts
    np.testing.assert_allclose(snap.gradient, grad.mean_abs, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(snap.on_map, maps.on_map, rtol=1e-6, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(snap.off_map, maps.off_map, rtol=1e-6, atol=1e-9, equal_nan=True)
    rc = snap.on_minus_off
    t, l_, b, r = (int(v) for v in geometry.box)
    assert np.nanmin(rc[t:b + 1, l_:r + 1]) > 0  # positive weights: bright drives the unit
    assert "5×5 px" in view.boxes_label.text() and "theoretical" in view.boxes_label.text()
    # Significance: the engine's test on its own (96 frames find no cell at FDR 0.01 here; the
    # engine's tests plant fields that are found, and the next test draws an outline).
    test = maps.significance()
    np.testing.assert_array_equal(snap.significant, test.significant)
    np.testing.assert_allclose(snap.p_value, test.p, rtol=1e-5, equal_nan=True)
    assert (snap.n_significant, snap.n_tests) == (test.n_significant, test.n_tests) and snap.n_tests > 50
    assert f"{snap.n_significant} of {snap.n_tests} noise cells significant" in view.ranges_label.text()
    # Few frames per cell: the view says why few cells pass and what finds more.
    lit = window.state.jobs_run["receptive_field"].n_on
    each = FRAMES * lit / snap.n_tests / 2
    assert each < 20 and (f"each cell was bright in about {each:.0f} frames and dark in as many: more noise "
                          "frames let more cells pass") in view.ranges_label.text()
    assert view.rc_plot.image.image is not None and view.gradient_plot.image.image.dtype == np.uint8
    assert "Done" in view.status_label.text()


def test_significant_cells_are_outlined_on_their_pixels_edges(qtbot):
    from engine.figures.receptive_field import outline_segments
    from engine.jobs.receptive_field import ReceptiveFieldSnapshot
    from gui.analyses.receptive_field_view import ReceptiveFieldView

    view = ReceptiveFieldView()
    qtbot.addWidget(view)
    significant = np.zeros((64, 64), dtype=bool)
    significant[16:24, 8:16] = significant[24:32, 16:24] = True  # two 8-pixel cells meeting at a corner
    on = np.where(significant, 1.0, 0.1)
    snap = ReceptiveFieldSnapshot("1[0](4,4)", None, (10, 6, 30, 26), None, None, on, -on, 0, 300, 300, 300,
                                  p_value=np.where(significant, 1e-6, 0.5), significant=significant, n_tests=64,
                                  n_significant=2)
    view.finish(snap)
    xs, ys = view.rc_plot.outlines["significant"].getData()
    assert len(xs) == 2 * len(outline_segments(significant)) == 12  # 6 runs of edges (the corner joins two)
    assert (min(xs), max(xs), min(ys), max(ys)) == (8, 24, 16, 32)  # pixel (r, c) spans [c, c + 1] x [r, r + 1]
    halo_xs, _ = view.rc_plot.outlines["significant halo"].getData()
    assert np.array_equal(halo_xs, xs)
    assert "outlined: 2 of 64 noise cells significant (Welch's t, ON vs OFF; FDR 0.01)" in view.ranges_label.text()
    assert "more noise frames" not in view.ranges_label.text()  # no job of this view: frames per cell unknown
    view.clear()
    cleared = view.rc_plot.outlines["significant"].getData()[0]
    assert cleared is None or len(cleared) == 0


def test_clicked_unit_and_cancel(window, qtbot):
    view = window.views["receptive_field"]
    window.unit_view.set_position(40, 60)
    view.position_combo.setCurrentIndex(view.position_combo.findData("box"))
    view.frames_spin.setValue(20000)
    snaps = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or snaps.append(snap))
    view.run_action.trigger()
    qtbot.waitUntil(lambda: any(s.n_frames > 0 for s in snaps), timeout=20000)
    window.status.cancel_requested.emit()
    qtbot.waitUntil(lambda: not window.status.is_busy_shown(), timeout=10000)
    assert view.status_label.text().startswith("Cancelled")
    last = view.last_snapshot
    assert last.unit_label == f"{LAYER}[0](40,60)" and last.done < last.total
    assert last.theoretical_box == (40.0, 60.0, 44.0, 64.0)
    # The engine is free again: a new recording comes through.
    with qtbot.waitSignal(window.layer_shown, timeout=10000):
        window.record_layer("0")
