"""The Brain view fed the real snapshots of a real predict run: the layer sweep, its ceiling
band, the per-neuron scatter and the matched unit show exactly the engine's numbers, layer
after layer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QAction

from engine.errors import UnitscopeError
from engine.jobs.predict import Predict
from gui.analyses.brain_view import BrainView


@pytest.fixture(scope="module")
def predict_run(tmp_path_factory):
    """The snapshots of a predict job on neurons planted in layer '5' of a seeded network."""
    from planted_neurons import LAYERS, plant, planted_net
    from planted_units import session_for

    from engine.jobs.record_images import RecordImages

    tmp = tmp_path_factory.mktemp("brain")
    rng = np.random.default_rng(0)
    folder = tmp / "images"
    folder.mkdir()
    paths = []
    for i in range(80):
        paths.append(folder / f"im{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(paths[-1])
    session = session_for(planted_net(), 16)
    units = session.result(RecordImages(("5",), tuple(map(str, paths)), 64, 0)).outputs["5"].reshape(80, -1)
    responses, _, _ = plant(units.astype(float), neurons=8)
    np.savez(tmp / "r.npz", responses=responses, stimuli=np.array([p.stem for p in paths]))
    job = Predict(str(tmp / "r.npz"), tuple(map(str, paths)), LAYERS, boots=20, splits=5, batch_size=32)
    return job, list(session.run(job)), tmp


@pytest.fixture(scope="module")
def grating_run(tmp_path_factory):
    """A predict job on neurons planted in layer '5', shown gratings named by their labels (no images)."""
    from planted_gratings import SIZE, grating_by_hand, grid, hooked, label
    from planted_neurons import LAYERS, plant, planted_net
    from planted_units import session_for

    tmp = tmp_path_factory.mktemp("brain_gratings")
    net = planted_net()
    images = np.stack([grating_by_hand(*s) for s in grid()])
    responses, _, _ = plant(hooked(net, "5", images), neurons=5, repeats=3)
    np.savez(tmp / "r.npz", responses=responses, stimuli=np.array([label(*s) for s in grid()]))
    job = Predict(str(tmp / "r.npz"), (), LAYERS, boots=10, splits=5)
    return job, list(session_for(planted_net(), SIZE).run(job)), net, images, responses


def medians(values):
    return np.array([np.median(v) for v in values])


def test_the_sweep_grows_layer_by_layer_with_the_ceiling_band(qtbot, predict_run):
    job, snapshots, _ = predict_run
    view = BrainView()
    qtbot.addWidget(view)
    view.resize(520, 700)
    view.show()
    view.started(job)
    assert view.sweep_curve.getData()[1] is None or len(view.sweep_curve.getData()[1]) == 0
    seen = []
    for snap in snapshots[:-1]:
        view.show_snapshot(snap)
        x, y = view.sweep_curve.getData()
        n = len(snap.finished)
        assert (0 if y is None else len(y)) == n
        if n:
            np.testing.assert_allclose(y, medians(snap.r))
            np.testing.assert_allclose(view.normalised_curve.getData()[1], medians(snap.normalised))
            low, high = view.ceiling_band.getRegion()
            assert low == pytest.approx(np.median(snap.ceiling_ci[:, 0]))
            assert high == pytest.approx(np.median(snap.ceiling_ci[:, 1]))
            assert view.ceiling_band.isVisible()
        seen.append(n)
        assert view.progress.value() == snap.done and view.progress.maximum() == snap.total
    assert seen[-3:] == [1, 2, 3]
    last = snapshots[-1]
    view.finish(last)
    np.testing.assert_allclose(view.sweep_curve.getData()[1], medians(last.r))
    ticks = view.sweep_plot.getAxis("bottom")._tickLevels[0]
    assert [name for _, name in ticks] == list(last.finished)
    assert "Done: 8 neurons, 4 layers." in view.status_label.text()
    assert f"Best layer {last.finished[int(np.argmax(medians(last.r)))]}" in view.summary_label.text()


def test_the_scatter_and_the_matched_unit_are_the_engines_numbers(qtbot, predict_run):
    _, snapshots, _ = predict_run
    last = snapshots[-1]
    view = BrainView()
    qtbot.addWidget(view)
    view.finish(last)
    best = np.argmax(last.normalised, axis=0)  # "best per neuron"
    x, y = view.neuron_points.getData()
    np.testing.assert_allclose(x, last.ceiling)
    np.testing.assert_allclose(y, last.r[best, np.arange(8)])
    ux, uy = view.unit_points.getData()
    np.testing.assert_allclose(ux, last.unit_response[best[0], :, 0])
    np.testing.assert_allclose(uy, last.mean[:, 0])
    view.choose_neuron(5)
    assert view.neuron_combo.currentIndex() == 5
    ux, uy = view.unit_points.getData()
    np.testing.assert_allclose(ux, last.unit_response[best[5], :, 5])
    np.testing.assert_allclose(uy, last.mean[:, 5])
    np.testing.assert_allclose(view.chosen_point.getData()[0], [last.ceiling[5]])
    view.layer_combo.setCurrentIndex(1)  # the first layer for every neuron
    np.testing.assert_allclose(view.neuron_points.getData()[1], last.r[0])
    np.testing.assert_allclose(view.unit_points.getData()[0], last.unit_response[0, :, 5])
    assert view.unit_plot.getAxis("bottom").labelText.startswith(f"unit 1[{last.best_channel[0, 5]}]")
    view.clear()
    assert len(view.neuron_points.getData()[0]) == 0 and view.layer_combo.count() == 0


def test_cancel_and_failure_keep_what_was_drawn(qtbot, predict_run):
    job, snapshots, _ = predict_run
    view = BrainView()
    qtbot.addWidget(view)
    view.started(job)
    two = next(s for s in snapshots if len(s.finished) == 2)
    view.show_snapshot(two)
    view.cancelled()
    assert "2 layer(s) finished" in view.status_label.text()
    assert len(view.sweep_curve.getData()[1]) == 2
    view.failed("Responses in 'r.npz': neuron(s) '3' have no response (all NaN).")
    assert view.status_label.text().startswith("Failed: Responses in 'r.npz'")


def test_make_job_from_the_controls(qtbot, predict_run, tmp_path):
    job, _, tmp = predict_run
    view = BrainView()
    qtbot.addWidget(view)
    with pytest.raises(UnitscopeError, match="Choose the responses file first"):
        view.make_job()
    view.set_files(tmp / "r.npz", tmp / "images")
    view.layers_edit.setText("3, 5")
    view.deg_spin.setValue(4.0)
    made = view.make_job()
    assert made.layers == ("3", "5") and made.window_ms is None and made.deg_per_image == 4.0
    assert sorted(made.images) == sorted(job.images)
    assert not view.window_edit.isEnabled()  # the window is for NWB only
    view.set_files(tmp_path / "s.nwb", tmp / "images")
    view.window_edit.setText("30:120")
    view.layers_edit.setText("")
    made = view.make_job()
    assert made.window_ms == (30.0, 120.0) and made.layers == ()
    view.window_edit.setText("120:30")
    with pytest.raises(UnitscopeError, match="must end after it starts"):
        view.make_job()


FACTORY = '''
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, stride=4, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
'''


def test_in_the_window_the_sweep_updates_live_through_the_engine_thread(qtbot, tmp_path):
    from gui.window.main_window import MainWindow, StartupChoices

    (tmp_path / "net.py").write_text(FACTORY)
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    np.savez(tmp_path / "r.npz", responses=rng.normal(size=(30, 5, 1)) + rng.normal(size=(30, 5, 3)),
             stimuli=np.array([f"p{i:02d}" for i in range(30)]))
    window = MainWindow(StartupChoices(model=f"{tmp_path / 'net.py'}:build", device="cpu", layer="1"))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=60000):
        window.show()
    view = window.views["predict"]  # built from the analysis registry, with its dock and menu entry
    assert window.docks["predict"].windowTitle() == "Brain"
    window.resize(1366, 768)
    view.set_files(tmp_path / "r.npz", folder)
    drawn = []
    window.worker.snapshot_ready.connect(lambda rid, snap, final: final or drawn.append(len(snap.finished)))
    with qtbot.waitSignal(window.analysis_shown, timeout=120000, check_params_cb=lambda kind: kind == "predict"):
        view.run_action.trigger()
    assert drawn[-2:] == [1, 2] or drawn[-3:-1] == [1, 2]  # a redraw per finished layer, before the result
    last = view._last
    assert last.finished == ["1", "3", "5"]  # the factory's main stages: one module per map size
    np.testing.assert_allclose(view.sweep_curve.getData()[1], medians(last.r))
    assert view.ceiling_band.isVisible() and "Done: 5 neurons, 3 layers." in view.status_label.text()
    assert window.state.jobs_run["predict"].responses == str(tmp_path / "r.npz")
    # Figure of ▸ Brain draws the layer sweep from the result through the registry's builder.
    from engine.figures.style import FigureOptions
    from gui.window import figure_menu

    out = figure_menu.save_figure(window, "predict", str(tmp_path / "sweep.pdf"), FigureOptions(width_mm=89))
    assert out is not None and out.read_bytes().startswith(b"%PDF")
    assert "recorded neurons' responses to 30 images, the model's input" in figure_menu.methods_text(window)
    # Figure of ▸ Brain, chosen neuron: the neuron picked in the view beside the unit it shows.
    entry = window.findChild(QAction, "figure_of_predict_neuron")
    assert entry is not None and entry.isEnabled() and entry.text() == "Brain, chosen neuron…"
    view.choose_neuron(2)
    view.layer_combo.setCurrentIndex(2)  # the second layer, not the neuron's best
    out = figure_menu.save_figure(window, "predict:neuron", str(tmp_path / "n2.pdf"), FigureOptions(width_mm=89))
    from engine.figures.sidecar import read_sidecar

    data, _ = read_sidecar(str(out) + ".json")
    assert data.kind == "neuron_unit" and data.meta["neuron"] == last.neurons[2] and data.meta["layer"] == "3"
    np.testing.assert_array_equal(data.arrays["neuron"], last.mean[:, 2])
    np.testing.assert_array_equal(data.arrays["unit"], last.unit_response[1, :, 2])
    x, y = view.unit_points.getData()  # what the view shows is what the figure draws
    np.testing.assert_array_equal(x, data.arrays["unit"])
    assert data.meta["unit"] == f"3[{last.best_channel[1, 2]}]({last.best_y[1, 2]},{last.best_x[1, 2]})"
    window.grab().save(str(tmp_path / "window.png"))
    window.close()


def test_the_matched_unit_panel_overlays_the_neurons_and_the_units_tuning_curves(qtbot, grating_run):
    from planted_gratings import ORIENTATIONS, PHASES, SFS, hooked, tuning_by_hand
    from planted_neurons import LAYERS

    job, snapshots, net, images, responses = grating_run
    last = snapshots[-1]
    view = BrainView()
    qtbot.addWidget(view)
    view.started(job)
    view.show_snapshot(snapshots[0])  # recording: no curves yet
    assert view.tuning_plot.scene() is None and not view.tuning_label.isVisibleTo(view)
    view.finish(last)
    curve, sem, sf = tuning_by_hand(responses.reshape(len(ORIENTATIONS), len(SFS), len(PHASES), *responses.shape[1:]))

    def unit_by_hook(layer_row, n):
        units = hooked(net, LAYERS[layer_row], images).reshape(len(ORIENTATIONS), len(SFS), len(PHASES), -1)
        unit = units[:, SFS.index(sf[n]), :, last.best_unit[layer_row, n]].mean(axis=1)
        return unit, curve[n].min() + (unit - unit.min()) / np.ptp(unit) * np.ptp(curve[n])

    for n, layer_row in ((0, None), (3, None), (3, 0)):
        if layer_row is None:
            view.layer_combo.setCurrentIndex(0)  # each neuron's best layer
            layer_row = int(np.argmax(last.normalised[:, n]))
        else:
            view.layer_combo.setCurrentIndex(layer_row + 1)
        view.choose_neuron(n)
        assert view.tuning_plot.scene() is view.graphics.scene()  # in the matched-unit panel's layout
        x, y = view.tuning_neuron.getData()
        np.testing.assert_allclose(x, ORIENTATIONS)
        np.testing.assert_allclose(y, curve[n], rtol=1e-12)
        np.testing.assert_allclose(view.tuning_errors.opts["top"], sem[n], rtol=1e-12)
        np.testing.assert_allclose(view.tuning_errors.opts["bottom"], sem[n], rtol=1e-12)
        unit, scaled = unit_by_hook(layer_row, n)
        np.testing.assert_allclose(view.tuning()["unit"], unit, rtol=1e-5, atol=1e-6)
        x, y = view.tuning_unit.getData()
        np.testing.assert_allclose(x, ORIENTATIONS)
        np.testing.assert_allclose(y, scaled, rtol=1e-4, atol=1e-6)
        assert f"SF {sf[n]:g} cycles/image" in view.tuning_plot.titleLabel.text
        assert "0° = vertical bars" in view.tuning_label.text() and "scaled to the neuron's range" in \
            view.tuning_label.text()
    view.clear()
    assert view.tuning_plot.scene() is None


def test_without_gratings_there_is_no_tuning_panel(qtbot, predict_run):
    _, snapshots, _ = predict_run
    view = BrainView()
    qtbot.addWidget(view)
    view.finish(snapshots[-1])
    assert view.tuning() == {} and view.tuning_plot.scene() is None


def test_no_image_folder_is_needed_for_labelled_gratings(qtbot, grating_run):
    job, _, _, _, _ = grating_run
    view = BrainView()
    qtbot.addWidget(view)
    view.set_files(job.responses)
    made = view.make_job()
    assert made.images == () and made.responses == job.responses
    assert "needed unless every stimulus is a grating label" in view.files_label.text()
