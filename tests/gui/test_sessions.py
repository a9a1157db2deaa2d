"""Jobs in the window, saved sessions, and the same numbers from ``unitscope run``.

A job kind defined here, in the test, goes through the window's mailbox and through
``unitscope run`` with no other module knowing it; a session saved from one window and
opened in a fresh one shows the same results; a changed weights file is reported.
"""

import json
import shutil
from dataclasses import dataclass

import numpy as np
import torch
import torchvision

from engine.cli import main as cli_main
from engine.session.job import JobFile, job_kind
from engine.session.results import read_result
from engine.session.values import Stimulus
from engine.stimuli.procedural import PROCEDURAL
from gui import file_menu
from gui.session_file import read_session

STIMULI = tuple(list(PROCEDURAL)[:2])


@dataclass
class MeansSnapshot:
    means: np.ndarray
    done: int
    total: int


@job_kind("test_window_means")
@dataclass(frozen=True)
class WindowMeans:
    """A toy job kind: each channel's mean output of a layer, per procedural stimulus."""

    layer: str
    stimuli: tuple[str, ...]

    def describe(self) -> str:
        return f"Channel means of {self.layer}…"

    def run(self, session, cancelled):
        rows = []
        for name in self.stimuli:
            output = session.record(self.layer, Stimulus("procedural", name), cancelled).output
            rows.append(np.asarray(output, dtype=np.float32).mean(axis=(-2, -1)))
            yield MeansSnapshot(np.stack(rows), len(rows), len(self.stimuli))


class MeansView:
    """A toy view with the :class:`gui.job_view.JobView` methods; it keeps what it was shown."""

    def __init__(self):
        self.calls, self.final = [], None

    def started(self, job):
        self.calls.append("started")

    def show_snapshot(self, snapshot):
        self.calls.append(f"snapshot {snapshot.done}/{snapshot.total}")

    def finish(self, snapshot):
        self.calls.append("finish")
        self.final = snapshot

    def cancelled(self):
        self.calls.append("cancelled")

    def failed(self, text):
        self.calls.append(f"failed: {text}")

    def clear(self):
        self.calls.append("clear")


def test_a_toy_job_kind_runs_through_the_window_and_through_unitscope_run(open_window, qtbot, reference,
                                                                          tmp_path):
    window = open_window()
    view = MeansView()
    window.add_job_view("means", view)
    job = WindowMeans("layer2", STIMULI)
    with qtbot.waitSignal(window.analysis_shown, timeout=30000,
                          check_params_cb=lambda kind: kind == "test_window_means"):
        window.start_job(job, view)
    assert view.calls == ["started", "snapshot 1/2", "snapshot 2/2", "finish"]
    expected = np.stack([reference.output("layer2", Stimulus("procedural", s)).numpy().mean(axis=(-2, -1))
                         for s in STIMULI])
    np.testing.assert_array_equal(view.final.means, expected)

    job_path = tmp_path / "means.job.json"
    file_menu.save_job(window, str(job_path))
    saved = JobFile.load(job_path)
    assert saved.job == job and saved.model.weights_sha256 and saved.model.memory_format == "contiguous"
    assert cli_main(["run", str(job_path), "--out", str(tmp_path / "means.npz")]) == 0
    np.testing.assert_array_equal(read_result(tmp_path / "means.npz")[1]["means"], view.final.means)


def test_a_session_reopens_in_a_fresh_window_with_the_same_numbers(open_window, qtbot, tmp_path):
    window = open_window()
    window.record_layer("layer2")
    qtbot.waitUntil(lambda: window.recording is not None and window.recording.layer == "layer2", timeout=30000)
    window.show_unit(5)
    window.tuning_view.orientations_spin.setValue(6)
    window.tuning_view.phases_spin.setValue(2)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda k: k == "tuning"):
        window.start_tuning("orientation")
    window.pin_unit()
    window.panel.set_colormap("magma")
    first = window.tuning_view.last_snapshot
    path = tmp_path / "study.unitscope.json"
    file_menu.save_session(window, str(path))

    saved = read_session(path)
    assert saved.layer == "layer2" and saved.model.spec == "resnet18" and saved.display["colormap"] == "magma"
    assert saved.jobs["tuning"].channel == 5 and saved.jobs["tuning"].orientations == 6
    assert [u.label for u in saved.pinned] == [u.label for u in window.probe_view.units]

    again = open_window(wait_for="layer2", session=str(path))
    qtbot.waitUntil(lambda: again.tuning_view.last_snapshot is not None
                    and again.tuning_view.last_snapshot.done == first.total, timeout=60000)
    second = again.tuning_view.last_snapshot
    assert second.unit_label == first.unit_label
    np.testing.assert_array_equal(second.f0, first.f0)
    np.testing.assert_array_equal(second.f1, first.f1)
    assert again.panel.colormap_name == "magma" and again.strip.current() == window.strip.current()
    assert again.tuning_view.orientations_spin.value() == 6 and again.tuning_view.phases_spin.value() == 2
    assert [u.label for u in again.probe_view.units] == [u.label for u in window.probe_view.units]

    job_path = tmp_path / "tuning.job.json"
    JobFile(saved.model, saved.jobs["tuning"]).save(job_path)
    assert cli_main(["run", str(job_path), "--out", str(tmp_path / "tuning.json")]) == 0
    result = json.loads((tmp_path / "tuning.json").read_text())["result"]
    np.testing.assert_array_equal(np.array(result["f0"], dtype=float), first.f0)


def test_a_session_whose_weights_file_changed_says_so(open_window, qtbot, tmp_path, resnet18_weights):
    weights = tmp_path / "mine.pth"
    shutil.copy(resnet18_weights, weights)
    window = open_window(weights=str(weights))
    path = tmp_path / "s.unitscope.json"
    file_menu.save_session(window, str(path))
    torch.manual_seed(99)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)

    again = open_window(wait_for=None, session=str(path))
    with qtbot.waitSignal(again.message_shown, timeout=30000,
                          check_params_cb=lambda text: "has changed since" in text):
        pass
    assert again.info is None  # nothing was opened on other weights
    assert "mine.pth" in again.message.text()


def test_a_broken_session_file_is_one_message_and_the_window_goes_on(open_window, qtbot, tmp_path):
    window = open_window()
    path = tmp_path / "broken.unitscope.json"
    path.write_text('{"format": "unitscope-session/1", "model": {"spec": "resnet18", "seed": "zero"}}')
    with qtbot.waitSignal(window.message_shown, timeout=5000) as shown:
        file_menu.open_session(window, str(path))
    assert "broken.unitscope.json" in shown.args[0] and "seed" in shown.args[0]
    assert window.info.name == "resnet18" and window.recording is not None  # what was open stays


def test_random_weights_come_from_the_seed_the_window_shows(open_window):
    window = open_window(weights=None, seed=5)
    assert window.status.weights_label.text() == "weights: random, seed 5"
    assert window.info.seed == 5 and window.info.provenance["random_seed"] == 5
    torch.manual_seed(5)
    model = torchvision.models.resnet18(weights=None).eval()
    got = []
    model.layer1.register_forward_hook(lambda m, i, o: got.append(o.detach().clone()))
    from engine.models.preprocess import Preprocess
    from engine.models.sources import open_model
    from engine.stimuli.images import load_image

    preprocess = Preprocess(open_model("resnet18", seed=5))
    with torch.inference_mode():
        model(preprocess.image(load_image(window.recording.stimulus.value))[None])
    np.testing.assert_array_equal(window.recording.output, got[0][0].numpy())


def test_the_file_menu_offers_sessions_and_jobs(open_window):
    window = open_window()
    file_menu_actions = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    for text in ("Open sessio&n…", "Save sessi&on…", "Save last analysis as &job…"):
        assert text in file_menu_actions


def test_views_show_the_settings_of_the_job_they_run(qtbot):
    from engine.jobs.population import Population
    from engine.jobs.topk import TopImages
    from gui.population_view import PopulationView
    from gui.topk_view import TopImagesView

    population = PopulationView()
    qtbot.addWidget(population)
    assert (population.set_combo.currentData(), population.view_combo.currentData()) != ("gratings", "centre")
    population.started(Population("layer1", "gratings", (), "centre"))
    assert (population.set_combo.currentData(), population.view_combo.currentData()) == ("gratings", "centre")
    topk = TopImagesView()
    qtbot.addWidget(topk)
    assert topk.k_spin.value() != 4
    topk.started(TopImages("layer1", 0, k=4))
    assert topk.k_spin.value() == 4
