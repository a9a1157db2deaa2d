"""The Properties view draws the histograms after each protocol of the battery, from the
properties measured so far, and says how far each protocol is; it draws what the engine's
snapshots hold (a real battery on a planted layer)."""

from __future__ import annotations

import numpy as np
import pytest
from planted_units import gabor, grey, planted_conv, session_for

from engine.analyses.properties import COLUMNS
from engine.jobs.properties import Properties
from gui.analyses.properties_view import PropertiesView, progress_text


@pytest.fixture(scope="module")
def snapshots():
    from torch import nn

    layer = nn.Sequential(planted_conv([grey(gabor(45, 8, 4)), grey(gabor(120, 8, 4))]), nn.ReLU())
    return list(session_for(layer, 48).run(Properties("1", orientations=6, sfs=(2.0, 4.0, 8.0), phases=4,
                                                      size_phases=2, batch_size=8)))


def test_histograms_follow_the_protocols_and_the_status_line_names_them(qtbot, snapshots):
    view = PropertiesView()
    qtbot.addWidget(view)
    view.started(Properties("1"))
    drawn = {}  # the first stage each property's histogram has bars in
    texts = []
    for snap in snapshots[:-1]:
        view.show_snapshot(snap)
        texts.append(view.status_label.text())
        for name, bars in view.bars.items():
            xs, ys = bars.getData()
            if xs is not None and len(xs) and name not in drawn:
                drawn[name] = snap.stage
                values = view.values(name)
                assert ys.sum() == pytest.approx(1.0) and np.isfinite(values).sum() >= 1
                i = COLUMNS.index(name)
                np.testing.assert_array_equal(values, np.array([r[i] for r in snap.preview], float))
    assert drawn["preferred_orientation_deg"] == "spatial frequency"  # drawn once the orientation sweep is in
    assert drawn["modulation_ratio"] == "spatial frequency"
    assert drawn["peak_sf"] == "size" and "surround_suppression_index" not in drawn
    assert any(t.startswith("orientation 8 of 24 · spatial frequency · size") for t in texts)
    assert any(t.startswith("orientation ✓ · spatial frequency ✓ · size") for t in texts)
    final = snapshots[-1]
    view.finish(final)
    assert view.status_label.text() == "Done: 2 units of 1."
    xs, ys = view.bars["surround_suppression_index"].getData()
    assert ys.sum() == pytest.approx(1.0)
    assert view.values("preferred_orientation_deg") == pytest.approx([45, 120], abs=15)


def test_cancelled_after_the_orientation_sweep_keeps_its_histograms(qtbot, snapshots):
    view = PropertiesView()
    qtbot.addWidget(view)
    after_orientation = next(s for s in snapshots if s.preview)
    view.show_snapshot(after_orientation)
    view.cancelled()
    assert view.status_label.text() == "Cancelled: the histograms show what the orientation protocol(s) measured."
    assert np.isnan(view.values("peak_sf")).all() and np.isfinite(view.values("preferred_orientation_deg")).all()
    assert progress_text(after_orientation).startswith("orientation ✓ · spatial frequency 0 of 48 · size")


def test_a_labs_grating_responses_are_measured_as_the_reference_in_the_batterys_units(qtbot, snapshots, tmp_path):
    """Load reference… with a responses file: the neurons are measured in a thread of their own
    with the battery's definitions (what ``unitscope properties --reference`` does), compared
    without their spatial frequencies until the battery gives the layer's field, then with them
    per receptive field."""
    import math

    from engine.analyses.neuron_tuning import SF_PROPERTIES, reference_from_responses

    rng = np.random.default_rng(0)
    names = [f"grating orientation={o} sf={f} phase={p}" for o in range(0, 180, 30) for f in (2, 4, 8, 16)
             for p in (0, 90, 180, 270)]
    np.savez(tmp_path / "lab.npz", responses=rng.gamma(2.0, size=(len(names), 4, 3)), stimuli=np.array(names))
    view = PropertiesView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.reference_loaded, timeout=60000) as loaded:
        view.load_reference(tmp_path / "lab.npz")
        assert not view.reference_action.isEnabled()  # measuring; the window goes on meanwhile
    assert loaded.args == ["lab.npz"] and view.reference_action.isEnabled()
    expected = reference_from_responses(tmp_path / "lab.npz")
    assert set(view.reference) == set(expected.values) - set(SF_PROPERTIES) and "peak_sf" in expected.values
    for name, values in view.reference.items():
        np.testing.assert_array_equal(values, expected.values[name])
    text = view.status_label.text()
    assert text.startswith(f"Reference: lab.npz, 4 neurons measured on {len(names)} gratings")
    assert "spatial frequency compared once the battery has given the layer's receptive field" in text
    final = snapshots[-1]
    view.started(Properties("1"))
    view.finish(final)
    scale = final.rf["rf_side"] / final.rf["image_side"]
    assert final.rf["image_side"] == 48 and scale > 0
    np.testing.assert_allclose(view.reference["peak_sf"], expected.values["peak_sf"] * scale)
    assert math.isfinite(view.similarity("peak_sf")) and "KS" in view.plots["peak_sf"].titleLabel.text
    # A file without gratings: one line, and the reference drawn stays.
    np.savez(tmp_path / "images.npz", responses=np.ones((2, 3)), stimuli=np.array(["a.png", "b.png"]))
    with qtbot.waitSignal(view.reference_loaded, timeout=60000) as failed:
        view.load_reference(tmp_path / "images.npz")
    assert failed.args == [""] and "Reference 'images.npz' has no grating rows" in view.status_label.text()
    assert "peak_sf" in view.reference and view.reference_action.isEnabled()
