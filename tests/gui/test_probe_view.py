"""The probe from the window: units pinned from two layers of resnet18 (known random
weights), the strip's stimuli played to them, compared with the engine's own Probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.analyses.units import Probe, Unit
from engine.stimuli.images import load_image
from engine.stimuli.procedural import PROCEDURAL
from gui.window.main_window import MainWindow, StartupChoices


@pytest.fixture
def window(qtbot, resnet18_weights):
    window = MainWindow(StartupChoices(model="resnet18", weights=str(resnet18_weights), device="cpu",
                                       layer="layer1"))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == "layer1"):
        window.show()
    yield window
    window.close()


def pin(window, qtbot, layer, channel):
    """Show ``layer``, click ``channel`` and pin the unit shown (Ctrl+P)."""
    if window.recording.layer != layer:
        with qtbot.waitSignal(window.layer_shown, timeout=10000, check_params_cb=lambda name: name == layer):
            window.record_layer(layer)
    window.panel.channel_clicked.emit(channel)
    QTest.keySequence(window, window.views["probe"].pin_action.shortcut())
    y, x = window.unit_view.position
    return Unit(layer, channel, y, x)


def engine_responses(reference, units, stimuli):
    x = []
    for s in stimuli:
        if s.kind == "image":
            x.append(reference.preprocess.image(load_image(s.value)))
        else:
            x.append(reference.preprocess.array(PROCEDURAL[s.value](reference.preprocess.crop_size)))
    probe = Probe(units)
    return probe.responses(reference.recorder.record_one(probe.layers, torch.stack(x)).outputs)


def test_pinned_units_of_two_layers_hear_the_strip(window, qtbot, reference):
    view = window.views["probe"]
    assert not view.play_action.isEnabled()
    units = [pin(window, qtbot, "layer1", 3), pin(window, qtbot, "layer3", 7)]
    assert [view.units_list.item(i).text() for i in range(2)] == [u.label for u in units]
    assert view.play_action.isEnabled() and window.docks["probe"].isVisible()
    progress = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or progress.append(snap.done))
    with qtbot.waitSignal(window.analysis_shown, timeout=30000, check_params_cb=lambda k: k == "probe"):
        view.play_action.trigger()
    stimuli = window.strip.stimuli()
    assert progress == [8, len(stimuli)] and len(stimuli) == 10  # 4 photographs + 6 procedural
    expected = engine_responses(reference, units, stimuli)
    curves = view.curve_data()
    assert [label for label, _, _ in curves] == [u.label for u in units]
    assert [label.text for _, label in view.legend.items] == [u.label for u in units]
    for u, (_, x, y) in enumerate(curves):
        np.testing.assert_array_equal(x, np.arange(len(stimuli)))
        np.testing.assert_allclose(y, expected[:, u], rtol=1e-5, atol=1e-5)
    view.clear_action.trigger()
    assert view.units == [] and view.curve_data() == [] and not view.play_action.isEnabled()


def test_cancel_keeps_the_responses_recorded(window, qtbot, reference):
    view = window.views["probe"]
    units = [pin(window, qtbot, "layer1", 0)]
    view.sequence_combo.setCurrentIndex(view.sequence_combo.findData("orientations"))
    view.orientations_spin.setValue(64)  # 8 batches of 8

    def cancel_on_first(rid, snap, final):
        if not final and getattr(snap, "done", None) == 8:
            QTest.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)

    window.worker.snapshot_ready.connect(cancel_on_first)
    finished = []
    window.analysis_shown.connect(finished.append)
    with qtbot.waitSignal(window.worker.job_finished, timeout=30000,
                          check_params_cb=lambda rid: rid == window.worker._newest_analysis):
        view.play_action.trigger()
    qtbot.wait(200)
    (label, x, y), = view.curve_data()
    assert label == units[0].label and len(x) == 8 and np.all(np.isfinite(y))
    assert "Cancelled after 8 of 64 stimuli" in view.status_label.text()
    assert finished == [] and not window.status.is_busy_shown()
