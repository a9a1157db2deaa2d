"""File ▸ Open cluster results…: a finished two-shard job of resnet18 (known random weights)
shown in the Top images, Tuning and Population views, against responses recorded directly.

Stores are made in-process (``prepare`` and ``run_shard``); the window opens them through
:func:`gui.window.file_menu.open_cluster_results`, the function the menu entry calls.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QDialog

from engine.analyses.similarity import rdm_of
from engine.analyses.tuning import run_tuning
from engine.analyses.units import Unit
from engine.cluster.plan import canonical_job, prepare
from engine.cluster.shard import run_shard
from engine.jobs.summaries import Summaries
from engine.session.job import JobFile
from engine.session.values import ModelSpec, Stimulus
from engine.stimuli.protocols import Protocol
from gui.window import file_menu
from gui.analyses.topk_view import value_text

N_IMAGES = 10
ORIENTATIONS = tuple(180.0 * i / 8 for i in range(8))


def _finished(job_dir, job_file, shards=(0, 1)):
    from engine.session.session import Session

    prepare(job_dir, job_file, 2, Session.open(job_file.model))
    for s in shards:
        run_shard(job_dir, s)
    return job_dir


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, resnet18_weights):
    """An image job, a gratings job and an image job with shard 0 not run."""
    root = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(3)
    paths = []
    for i in range(N_IMAGES):
        path = root / "images" / f"photo{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    model = ModelSpec("resnet18", weights=str(resnet18_weights), device="cpu")
    images = canonical_job(JobFile(model, Summaries(("layer1", "layer2"), tuple(paths), summaries=("mean", "centre"),
                                                    k=3, batch_size=4)))
    gratings = JobFile(model, Summaries(("layer2",), protocol="gratings", phases=4, summaries=("centre", "mean"),
                                        params=(("orientation", ORIENTATIONS), ("sf", (16.0,))), k=3, batch_size=8))
    return {"paths": list(images.job.images), "images": _finished(root / "images_job", images),
            "gratings": _finished(root / "gratings_job", gratings),
            "half": _finished(root / "half_job", images, shards=(1,))}


def _open(qtbot, window, path, last_kind):
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda kind: kind == last_kind):
        dialog = file_menu.open_cluster_results(window, str(path))
    qtbot.waitUntil(lambda: window.state.running is None, timeout=10000)
    return dialog


def test_image_job_shows_top_images_and_population(open_window, qtbot, jobs, reference):
    window = open_window(wait_for="layer2", layer="layer2")
    dialog = _open(qtbot, window, jobs["images"], "cluster_topk")
    assert dialog.layer == "layer2" and not dialog.tuning_button.isEnabled()
    assert "image files, not a protocol" in dialog.tuning_button.toolTip()
    outputs = np.stack([reference.output("layer2", Stimulus("image", p)).numpy() for p in jobs["paths"]])
    names = [p.rsplit("/", 1)[1] for p in jobs["paths"]]
    channel = dialog.channel_spin.value()
    assert channel == window.state.unit_channel  # the channel the unit view shows
    centre = outputs[:, channel, outputs.shape[2] // 2, outputs.shape[3] // 2].astype(float)
    order = np.argsort(-centre, kind="stable")[:3]
    assert len(set(np.round(centre, 4))) == N_IMAGES  # the ranking is not decided by ties
    view = window.views["topk"]
    assert view.isVisible()  # its tab in front
    assert [t.toolTip().split("\n")[0] for t in view.top_grid.tiles] == [f"#{i + 1}: {names[j]}"
                                                                       for i, j in enumerate(order)]
    assert view.top_grid.shown_values() == [value_text(v) for v in centre[order]]
    assert view.bottom_grid.shown_values() == [value_text(v) for v in np.sort(centre)[:3]]
    assert "From the cluster job 'images_job'" in view.status_label.text()
    assert "layer2[" in view.crop_label.text() and "results of" not in view.crop_label.text()

    # another channel, chosen in the dialog
    dialog.channel_spin.setValue(7)
    with qtbot.waitSignal(window.analysis_shown, timeout=30000):
        dialog.topk_button.click()
    centre = outputs[:, 7, outputs.shape[2] // 2, outputs.shape[3] // 2].astype(float)
    assert view.top_grid.shown_values() == [value_text(v) for v in np.sort(centre)[::-1][:3]]

    # the population view's RDM: channel means, from the responses recorded here
    rdm = window.views["population"].rdm_image.image
    np.testing.assert_allclose(rdm, rdm_of(outputs.astype(float).mean(axis=(2, 3))), atol=1e-5)
    assert window.views["population"].header_text() == "Layer: layer2"

    # a saved session keeps the jobs, so reopening it reads the job's results again
    from gui.window.session_file import SavedSession

    jobs_run = SavedSession.from_dict(window.saved_session().to_dict()).jobs
    assert (jobs_run["topk"].kind, jobs_run["topk"].channel, jobs_run["topk"].job_dir) == (
        "cluster_topk", 7, str(jobs["images"]))
    assert (jobs_run["population"].kind, jobs_run["population"].reduction) == ("cluster_population", "mean")

    # another job's results replace the dialog: one is open at a time
    second = _open(qtbot, window, jobs["gratings"], "cluster_tuning")
    assert [d for d in window.findChildren(QDialog) if d.isVisible()] == [second]
    assert second.windowTitle() == "Cluster results: gratings_job"
    assert "From the cluster job 'gratings_job'" in window.views["tuning"].status_label.text()


def test_gratings_job_shows_the_tuning_curve_of_the_selected_channel(open_window, qtbot, jobs, reference):
    window = open_window(wait_for="layer2", layer="layer2")
    window.panel.channel_clicked.emit(11)  # the channel the user has selected
    dialog = _open(qtbot, window, jobs["gratings"], "cluster_tuning")
    assert dialog.channel_spin.value() == 11
    protocol = Protocol("gratings", 224, {"orientation": np.array(ORIENTATIONS), "sf": np.array([16.0])}, phases=4)
    table = run_tuning(reference.recorder, Unit("layer2", 11), protocol, reference.preprocess, 8)
    x, y = window.views["tuning"].f0_item.getData()
    assert np.array_equal(x, np.array(ORIENTATIONS))
    np.testing.assert_allclose(y, table.curve("orientation", "f0").responses, rtol=1e-5, atol=1e-6)
    assert np.ptp(y) > 1e-3  # a curve, not a flat line
    assert window.views["tuning"].isVisible()
    assert window.views["tuning"].metrics_label.text().startswith("Preferred orientation")
    assert window.views["tuning"].orientations_spin.value() == 8  # the controls show the job's settings
    assert window.views["tuning"].last_snapshot.unit_label == "layer2[11](14,14)"
    # the population of a protocol is coloured by orientation, named by condition
    snapshot = window.views["population"].last_snapshot
    assert snapshot.stimuli == "gratings" and snapshot.labels[0] == "orientation 0, phase 0"


def test_unfinished_job_and_other_folders_say_why_and_the_window_goes_on(open_window, qtbot, jobs, tmp_path):
    window = open_window(wait_for="layer2", layer="layer2")
    file_entries = window.menuBar().actions()[0].menu().actions()
    assert "Open cluster &results…" in [a.text() for a in file_entries]
    assert file_menu.open_cluster_results(window, str(jobs["half"])) is None
    text = window.message.text()
    assert "\n" not in text and "is not finished: shard(s) 0 of 2 not done" in text
    assert file_menu.open_cluster_results(window, str(tmp_path)) is None
    assert window.message.text() == f"'{tmp_path}' is not a sharded job folder (no store.zarr in it)."
    damaged = tmp_path / "damaged_job"
    shutil.copytree(jobs["images"], damaged)
    (damaged / "store.zarr" / "layer2" / "mean" / "c" / "2" / "0").unlink()  # rows 8-9: shard 1's
    assert file_menu.open_cluster_results(window, str(damaged)) is None
    text = window.message.text()
    assert "\n" not in text and "is damaged: shard(s) 1 of 2" in text and "layer2/mean/c/2/0 missing" in text
    assert window.views["topk"].last_snapshot is None and window.state.running is None
    # the window goes on: it records another layer, and opens a finished job
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == "layer1"):
        window.record_layer("layer1")
    _open(qtbot, window, jobs["images"], "cluster_topk")
    assert window.views["topk"].last_snapshot.unit_label.startswith("layer1[")  # the layer shown, in the job


def test_results_of_another_model_say_so(open_window, qtbot, jobs):
    window = open_window(model="alexnet", wait_for=None)
    qtbot.waitUntil(lambda: window.info is not None, timeout=60000)
    dialog = _open(qtbot, window, jobs["images"], "cluster_topk")
    assert dialog.other_model and "not the window's" in dialog.model_label.text()
    assert "results of resnet18 (resnet18_test.pth)" in window.views["topk"].crop_label.text()
    assert "not the window's" in window.views["population"].status_label.text()


def test_a_predict_job_shows_its_merged_layers_in_the_brain_view(open_window, qtbot, tmp_path):
    """A two-shard predict job (a small factory network, made in this process) opens in the
    Brain view: the sweep over the layers of both shards, the numbers the merge gives."""
    from planted_units import write_factory

    from engine.cluster.predict_merged import merged_result
    from engine.cluster.predict_plan import prepare as prepare_predict
    from engine.jobs.predict import Predict
    from engine.session.session import Session

    spec = write_factory(tmp_path, "torch.manual_seed(0)\nreturn nn.Sequential(nn.AvgPool2d(14), "
                                   "nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())")
    rng = np.random.default_rng(4)
    paths = []
    for i in range(20):
        paths.append(str(tmp_path / f"im{i:02d}.png"))
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(paths[-1])
    np.savez(tmp_path / "r.npz", responses=rng.normal(size=(20, 3, 2)), stimuli=np.array([f"im{i:02d}" for i in
                                                                                            range(20)]))
    job = JobFile(ModelSpec(spec, device="cpu"), Predict(str(tmp_path / "r.npz"), tuple(paths), ("0", "2", "4"),
                                                         folds=2, boots=5, splits=3))
    prepare_predict(tmp_path / "job", job, 2, Session.open(job.model))
    window = open_window(wait_for="layer1", layer="layer1")
    # shard 1 not run yet: refused in one line, nothing shown
    run_shard(tmp_path / "job", 0)
    assert file_menu.open_cluster_results(window, str(tmp_path / "job")) is None
    assert "is not finished: shard(s) 1 of 2 not done" in window.message.text()
    assert window.views["predict"]._last is None
    run_shard(tmp_path / "job", 1)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda kind: kind == "cluster_predict"):
        assert file_menu.open_cluster_results(window, str(tmp_path / "job")) is None
    qtbot.waitUntil(lambda: window.state.running is None, timeout=10000)
    view = window.views["predict"]
    merged = merged_result(tmp_path / "job")[1]
    assert view.isVisible() and view._last.finished == ["0", "2", "4"]
    np.testing.assert_array_equal(view._last.r, merged.r)
    np.testing.assert_allclose(view.sweep_curve.getData()[1], [np.median(v) for v in merged.r])
    assert "Done: 3 neurons, 3 layers from the cluster job 'job'." in view.status_label.text()
    from gui.window.session_file import SavedSession

    saved = SavedSession.from_dict(window.saved_session().to_dict()).jobs["predict"]
    assert (saved.kind, saved.job_dir, saved.layers) == ("cluster_predict", str(tmp_path / "job"), ("0", "2", "4"))
