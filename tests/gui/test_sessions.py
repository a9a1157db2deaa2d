"""Jobs in the window, saved sessions, and the same numbers from ``unitscope run``.

A job kind defined here, in the test, goes through the window's mailbox and through
``unitscope run`` with no other module knowing it; a session saved from one window and
opened in a fresh one shows the same results; a changed weights file is reported.
"""

import json
import shutil

import numpy as np
import torch
import torchvision

from engine.cli import main as cli_main
from engine.session.job import JobFile
from engine.stimuli.procedural import PROCEDURAL
from gui.window import file_menu
from gui.window.session_file import read_session

STIMULI = tuple(list(PROCEDURAL)[:2])


def test_a_session_reopens_in_a_fresh_window_with_the_same_numbers(open_window, qtbot, tmp_path):
    window = open_window()
    window.record_layer("layer2")
    qtbot.waitUntil(lambda: window.recording is not None and window.recording.layer == "layer2", timeout=30000)
    window.show_unit(5)
    window.views["tuning"].orientations_spin.setValue(6)
    window.views["tuning"].phases_spin.setValue(2)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda k: k == "tuning"):
        window.views["tuning"].orientation_action.trigger()
    window.views["probe"].pin_action.trigger()
    window.panel.set_colormap("magma")
    first = window.views["tuning"].last_snapshot
    path = tmp_path / "study.unitscope.json"
    file_menu.save_session(window, str(path))

    saved = read_session(path)
    assert saved.layer == "layer2" and saved.model.spec == "resnet18" and saved.display["colormap"] == "magma"
    assert saved.jobs["tuning"].channel == 5 and saved.jobs["tuning"].orientations == 6
    assert [u.label for u in saved.pinned] == [u.label for u in window.views["probe"].units]

    again = open_window(wait_for="layer2", session=str(path))
    qtbot.waitUntil(lambda: again.views["tuning"].last_snapshot is not None
                    and again.views["tuning"].last_snapshot.done == first.total, timeout=60000)
    second = again.views["tuning"].last_snapshot
    assert second.unit_label == first.unit_label
    np.testing.assert_array_equal(second.f0, first.f0)
    np.testing.assert_array_equal(second.f1, first.f1)
    assert again.panel.colormap_name == "magma" and again.strip.current() == window.strip.current()
    assert again.views["tuning"].orientations_spin.value() == 6 and again.views["tuning"].phases_spin.value() == 2
    assert [u.label for u in again.views["probe"].units] == [u.label for u in window.views["probe"].units]

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
    from gui.analyses.population_view import PopulationView
    from gui.analyses.topk_view import TopImagesView

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
