"""The predict job and ``unitscope predict``: planted neurons through the whole pipeline
(image files, a responses file, the recorder), the CSV/NPZ outputs and ``unitscope run``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from planted_neurons import LAYERS, plant, planted_net, write_nwb
from planted_units import one_thread, session_for, write_factory  # noqa: F401

from engine.analyses.predictivity import Projection, fit_layer, folds_of, noise_ceiling
from engine.cli import main
from engine.errors import UnitscopeError
from engine.files.writers import read_activations
from engine.jobs.predict import Predict
from engine.jobs.record_images import RecordImages
from engine.session.results import read_result

FACTORY = """\
return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(),
                     nn.Conv2d(4, 8, 3, stride=8, padding=1), nn.ReLU(),
                     nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
"""


def noise_images(folder, n, size=16, seed=0):
    """``n`` random-noise PNG files, named ``img000.png`` ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """Neurons planted in layer '5' of the recorded network, scored by the predict job."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("planted")
    session = session_for(planted_net(), 16)
    paths = noise_images(tmp / "images", 300)
    recorded = session.result(RecordImages(("5",), tuple(str(p) for p in paths), 64, 0)).outputs["5"]
    responses, support, _ = plant(recorded.reshape(300, -1).astype(np.float64), neurons=12, reliability=0.8)
    order = np.random.default_rng(5).permutation(300)  # rows in another order than the files
    np.savez(tmp / "r.npz", responses=responses[order], stimuli=np.array([p.stem for p in np.array(paths)[order]]))
    job = Predict(str(tmp / "r.npz"), tuple(str(p) for p in paths), LAYERS, boots=50, splits=10)
    snapshots = list(session.run(job))
    return snapshots, responses[order], support


def test_the_predict_job_sweep_peaks_at_the_planted_layer(planted_run):
    snapshots, _, _ = planted_run
    result = snapshots[-1]
    assert result.finished == list(LAYERS) and result.done == result.total == 300 + len(LAYERS)
    medians = np.median(result.normalised, axis=1)
    assert int(np.argmax(medians)) == LAYERS.index("5"), medians
    assert medians[LAYERS.index("5")] > 0.85
    assert abs(np.median(result.ceiling) - np.sqrt(0.8)) < 0.05


def test_one_snapshot_per_finished_layer_and_progress_while_recording(planted_run):
    snapshots, _, _ = planted_run
    finished = [len(s.finished) for s in snapshots]
    assert finished[-len(LAYERS) - 1:] == [0, 1, 2, 3, 4]
    assert [s.done for s in snapshots] == sorted(s.done for s in snapshots)
    assert snapshots[0].done < 300 and snapshots[0].finished == []  # recording progress (batches of 32)
    first = snapshots[-4]
    assert first.r.shape == (1, 12) and first.normalised_ci.shape == (1, 12, 2)
    assert first.unit_response.shape == (1, 300, 12)


def test_the_matched_unit_is_a_planted_one_and_its_responses_are_reported(planted_run):
    snapshots, _, support = planted_run
    result = snapshots[-1]
    i = LAYERS.index("5")
    assert np.mean([u in s for u, s in zip(result.best_unit[i], support)]) > 0.7
    c, y, x = result.best_channel[i], result.best_y[i], result.best_x[i]
    np.testing.assert_array_equal(np.ravel_multi_index((c, y, x), (32, 2, 2)), result.best_unit[i])


def test_stimuli_without_an_image_are_one_line(tmp_path):
    paths = noise_images(tmp_path / "images", 12)
    np.savez(tmp_path / "r.npz", responses=np.ones((13, 2, 2)), stimuli=np.array([p.name for p in paths] + ["x.png"]))
    session = session_for(planted_net(), 16)
    with pytest.raises(UnitscopeError, match="1 stimulus\\(es\\) match no image: 'x.png'"):
        session.result(Predict(str(tmp_path / "r.npz"), tuple(str(p) for p in paths), ("1",)))


def test_the_command_writes_a_row_per_neuron_and_layer_the_same_as_record_then_fit(tmp_path, capsys):
    spec = write_factory(tmp_path, FACTORY)
    paths = noise_images(tmp_path / "images", 40, size=32)
    rng = np.random.default_rng(1)
    responses = rng.normal(size=(40, 3, 1)) + rng.normal(size=(40, 3, 4))
    with (tmp_path / "r.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["stimulus", "neuron", "repeat", "response"])
        for s, p in enumerate(paths):
            for n in range(3):
                for k in range(4):
                    w.writerow([p.name, f"cell{n}", k, responses[s, n, k]])
    out = tmp_path / "R.csv"
    args = [spec, "--seed", "3", "--responses", str(tmp_path / "r.csv"), "--images", str(tmp_path / "images"),
            "--layers", "1", "3", "--features", "300", "--boots", "20", "--device", "cpu"]
    assert main(["predict", *args, "--out", str(out)]) == 0
    with out.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["neuron"], r["layer"]) for r in table] == [(f"cell{n}", layer) for n in range(3) for layer in "13"]
    side = json.loads((tmp_path / "R.csv.json").read_text())
    assert side["provenance"]["deg_per_image"] == 8.0 and side["job"]["job"]["kind"] == "predict"
    # the same numbers from `unitscope record` and the analysis functions
    assert main(["record", spec, "--seed", "3", "--layer", "1", "--layer", "3", "--images",
                 str(tmp_path / "images"), "--device", "cpu", "--workers", "0", "--out",
                 str(tmp_path / "a.npz")]) == 0
    acts = read_activations(tmp_path / "a.npz")
    ceiling = noise_ceiling(responses, boots=20)
    splits = folds_of(40)
    for layer in "13":
        x = acts[layer].reshape(40, -1)
        fit = fit_layer(layer, Projection(x.shape[1], 300)(x), x[:, np.sort(np.random.default_rng(
            [0, 2, x.shape[1]]).choice(x.shape[1], 16384, replace=False))] if x.shape[1] > 16384 else x,
            responses.mean(axis=2), ceiling, splits)
        got = [float(r["r"]) for r in table if r["layer"] == layer]
        np.testing.assert_allclose(got, fit.r, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose([float(r["ceiling"]) for r in table if r["layer"] == layer], ceiling.ceiling,
                                   rtol=1e-10)
    assert side["layers"][0]["n_features"] == 300 and side["layers"][0]["n_units"] == 16384
    # .npz: the job's result, which `unitscope run` runs again
    assert main(["predict", *args, "--out", str(tmp_path / "R.npz")]) == 0
    job, fields, provenance = read_result(tmp_path / "R.npz")
    assert job.job.deg_per_image == 8.0 and provenance["deg_per_image"] == 8.0
    np.testing.assert_allclose(fields["r"][:, 0], [float(table[0]["r"]), float(table[1]["r"])], rtol=1e-6)
    assert main(["run", str(tmp_path / "R.npz"), "--trust-code", "--out", str(tmp_path / "again.npz")]) == 0
    np.testing.assert_array_equal(read_result(tmp_path / "again.npz")[1]["r"], fields["r"])


def test_command_input_problems_are_one_line(tmp_path, capsys):
    spec = write_factory(tmp_path, FACTORY)
    noise_images(tmp_path / "images", 4)
    np.savez(tmp_path / "r.npz", responses=np.ones((4, 2)), stimuli=np.array(["a", "b", "c", "d"]))
    code = main(["predict", spec, "--responses", str(tmp_path / "r.npz"), "--images", str(tmp_path / "images"),
                 "--device", "cpu", "--out", str(tmp_path / "R.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "4 stimulus(es) match no image: 'a', 'b', 'c', 'd'" in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["predict", spec, "--responses", "x.nwb", "--images", "i", "--window", "9:3", "--out", "R.csv"])
    assert "must end after it starts" in capsys.readouterr().err


def test_one_repeat_ranks_layers_by_r_and_leaves_the_ceiling_empty(tmp_path, capsys):
    spec = write_factory(tmp_path, FACTORY)
    paths = noise_images(tmp_path / "images", 20, size=32)
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "r.npz", responses=rng.normal(size=(20, 2)), stimuli=np.array([p.name for p in paths]))
    out = tmp_path / "R.csv"
    assert main(["predict", spec, "--responses", str(tmp_path / "r.npz"), "--images", str(tmp_path / "images"),
                 "--layers", "1", "3", "--features", "50", "--boots", "5", "--device", "cpu", "--workers", "0",
                 "--out", str(out)]) == 0
    assert "best layer by median r (no noise ceiling: one repeat)" in capsys.readouterr().out
    with out.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert all(r["ceiling"] == "" and r["normalised"] == "" for r in table)
    for neuron in ("0", "1"):
        mine = [r for r in table if r["neuron"] == neuron]
        best = max(mine, key=lambda r: float(r["r"]))
        assert [int(r["best_layer"]) for r in mine] == [int(r is best) for r in mine]


def test_a_cancelled_job_stops_between_batches(tmp_path):
    from engine.recording.recorder import Cancelled

    paths = noise_images(tmp_path / "images", 40)
    np.savez(tmp_path / "r.npz", responses=np.random.default_rng(0).normal(size=(40, 2, 2)),
             stimuli=np.array([p.name for p in paths]))
    session = session_for(planted_net(), 16)
    asked = []
    snapshots = session.run(Predict(str(tmp_path / "r.npz"), tuple(map(str, paths)), ("1",), batch_size=8),
                            lambda: len(asked) > 0)
    first = next(snapshots)
    assert first.done == 8 and first.total == 41
    asked.append(True)
    with pytest.raises(Cancelled):
        next(snapshots)


def test_the_command_counts_nwb_spikes_in_the_window(tmp_path, capsys):
    spec = write_factory(tmp_path, FACTORY)
    paths = noise_images(tmp_path / "images", 12, size=32)
    counts = np.random.default_rng(3).integers(0, 6, size=(12, 2, 3)).astype(float)
    write_nwb(tmp_path / "s.nwb", counts, [p.name for p in paths])
    out = tmp_path / "R.npz"
    assert main(["predict", spec, "--responses", str(tmp_path / "s.nwb"), "--images", str(tmp_path / "images"),
                 "--window", "50:200", "--layers", "3", "--folds", "3", "--boots", "5", "--deg-per-image", "4",
                 "--device", "cpu", "--workers", "0", "--out", str(out)]) == 0
    job, fields, provenance = read_result(out)
    assert job.job.window_ms == (50.0, 200.0) and provenance["deg_per_image"] == 4.0
    rows = [[p.name for p in paths].index(s) for s in fields["stimuli"]]
    np.testing.assert_allclose(fields["mean"], counts[rows].mean(axis=2))
    assert [Path(p).name for p in fields["image_paths"]] == list(fields["stimuli"])
