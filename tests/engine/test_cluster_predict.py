"""A predict job sharded by layers: ``unitscope submit predict.json --shards N``, status, export.

The reference is the same job run in one process (``Session.result``, what ``unitscope
run`` does): the merged result must equal it exactly, field by field and type by type, for
the same seed.  Neurons are planted in layer '4' (the middle shard's) of a seeded network
(:func:`planted_neurons.plant`), so each neuron's best layer, which the merge decides among
the layers of every shard, is known.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from planted_neurons import plant
from tests.engine import test_cluster
from tests.engine.test_cluster import require_slurm
from tests.engine.test_predict import noise_images
from tests.engine.test_store_integrity import one_line_error

from engine.cli import main
from engine.cluster.merged import finished_store
from engine.cluster.predict_merged import merged_result
from engine.cluster.predict_plan import canonical_job, layer_shards, prepare
from engine.cluster.shard import run_shard
from engine.cluster.status import job_status
from engine.cluster.store import JobStore
from engine.commands.predict import save_result
from engine.errors import UnitscopeError
from engine.jobs.predict import Predict
from engine.jobs.record_images import RecordImages
from engine.session.job import JobFile
from engine.session.results import read_result
from engine.session.session import Session
from engine.session.values import ModelSpec

# planted_net's four conv + ReLU stages behind a 14 x 14 average pooling: the 224-pixel input
# becomes 16 x 16, so the stages' maps are 8, 4, 2 and 1 pixels wide and the main stages are
# '0' (the pooled image), '2', '4' and '6'.  Its forward pass SIGKILLs its own process once, at
# its third call in a process (the anatomy's pass, batch 1, then batch 2: a shard killed
# mid-recording), if the file ``armed`` next to it exists and this process removes it.
FACTORY = '''
import os, signal
from pathlib import Path
import torch
from torch import nn

ARMED = Path(__file__).with_name("armed")


class Net(nn.Sequential):
    def __init__(self):
        torch.manual_seed(0)
        super().__init__(nn.AvgPool2d(14),
                         nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU())
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            try:
                ARMED.unlink()
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(x)


def build():
    return Net()
'''

N_IMAGES = 120
STAGES = ["0", "2", "4", "6"]
PLANTED = "4"


def predict_job(spec: str, responses: Path, images: list[str]) -> JobFile:
    """The job the user writes: no layers named (the main stages, fixed at submit time)."""
    job = Predict(str(responses), tuple(images), (), boots=20, splits=5, batch_size=32)
    return JobFile(ModelSpec(spec, device="cpu"), job)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The network, the images, planted neurons, the job file and its one-process result."""
    import torch

    root = tmp_path_factory.mktemp("predict_lab")
    (root / "net.py").write_text(FACTORY)
    spec = f"{root / 'net.py'}:build"
    paths = [str(p) for p in noise_images(root / "images", N_IMAGES, size=16)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each shard process runs on this 2-core machine
    try:
        session = Session.open(ModelSpec(spec, device="cpu"))
        units = session.result(RecordImages((PLANTED,), tuple(paths), 32, 0)).outputs[PLANTED]
        responses, support, _ = plant(units.reshape(N_IMAGES, -1).astype(np.float64), neurons=8, reliability=0.8)
        order = np.random.default_rng(5).permutation(N_IMAGES)  # rows in another order than the files
        np.savez(root / "r.npz", responses=responses[order],
                 stimuli=np.array([Path(p).stem for p in np.array(paths)[order]]))
        job_file = predict_job(spec, root / "r.npz", paths)
        job_file.save(root / "predict.json")
        reference = session.result(job_file.job)
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "spec": spec, "paths": paths, "job_file": job_file, "job_path": root / "predict.json",
            "session": session, "reference": reference}


def assert_same_result(got, want) -> None:
    """Every field of two predict results equal, arrays exactly and of the same type
    (the wall times aside)."""
    for field in dataclasses.fields(want):
        if field.name == "seconds":
            continue
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        elif isinstance(b, float) and np.isnan(b):
            assert isinstance(a, float) and np.isnan(a), field.name
        else:
            assert a == b and type(a) is type(b), (field.name, a, b)


def test_the_reference_peaks_at_the_planted_layer(lab):
    """The one-process result the shards are held to: the main stages, the sweep peaking at
    the planted layer for every neuron."""
    result = lab["reference"]
    assert result.finished == STAGES
    best = np.argmax(np.where(np.isfinite(result.normalised), result.normalised, -np.inf), axis=0)
    assert [result.finished[i] for i in best] == [PLANTED] * 8
    assert abs(np.median(result.ceiling) - np.sqrt(0.8)) < 0.1


def test_layers_are_split_in_order_and_evenly():
    assert layer_shards(STAGES, 3) == [("0", "2"), ("4",), ("6",)]
    assert layer_shards(STAGES, 4) == [("0",), ("2",), ("4",), ("6",)]
    assert layer_shards(["a", "b", "c", "d", "e"], 2) == [("a", "b", "c"), ("d", "e")]
    with pytest.raises(UnitscopeError, match="--shards 5 is more than the job's 4 layers"):
        layer_shards(STAGES, 5)


def test_three_local_shards_equal_one_process_exactly(lab, tmp_path, capsys):
    job_dir = tmp_path / "job"
    assert main(["submit", str(lab["job_path"]), "--out", str(job_dir), "--shards", "3", "--executor", "local",
                 "--wait", "--trust-code"]) == 0
    assert "3 done" in capsys.readouterr().out
    store = JobStore(job_dir)
    assert store.kind == "predict" and store.layers == STAGES  # the main stages, fixed when it was submitted
    assert store.shards == [("0", "2"), ("4",), ("6",)]
    for s, layers in enumerate(store.shards):  # each shard wrote its own layers' files, and only those
        chunks = store.info(s)["chunks"]
        assert chunks and {key.split("/")[1] for key in chunks} == set(layers), (s, sorted(chunks))
        assert store.info(s)["host"] == os.uname().nodename and store.info(s)["pid"] != os.getpid()
    assert main(["status", str(job_dir)]) == 0
    out = capsys.readouterr().out
    assert "3 done" in out and "shard    0  layers 0, 2  done" in out and "shard    2  layers 6  done" in out

    job_file, result, provenance = merged_result(job_dir)
    assert_same_result(result, lab["reference"])
    assert job_file.job.layers == tuple(STAGES) and provenance["responses_sha256"]
    assert set(result.seconds) == {"recording", *STAGES}

    # the export writes what `unitscope predict` writes for the one-process result, byte for byte
    assert main(["export", str(job_dir), "--out", str(tmp_path / "R.csv")]) == 0
    assert f"best layer by median normalised r: {PLANTED}" in capsys.readouterr().out
    save_result(tmp_path / "one.csv", job_file, lab["reference"], provenance)
    assert (tmp_path / "R.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    with (tmp_path / "R.csv").open(newline="") as f:
        table = list(csv.DictReader(f))
    best = {row["neuron"]: row["layer"] for row in table if row["best_layer"] == "1"}
    assert len(best) == 8 and set(best.values()) == {PLANTED}  # decided among the layers of all shards
    side = json.loads((tmp_path / "R.csv.json").read_text())
    assert side["job"] == store.attrs["job"] and side["provenance"]["shards"] == [["0", "2"], ["4"], ["6"]]
    # .npz: the job's whole result, read back as `unitscope predict --out R.npz` writes it
    assert main(["export", str(job_dir), "--out", str(tmp_path / "R.npz")]) == 0
    job, fields, _ = read_result(tmp_path / "R.npz")
    assert job.job == job_file.job
    for name in ("r", "normalised", "ceiling", "best_unit", "unit_response", "rsa"):
        np.testing.assert_array_equal(fields[name], getattr(lab["reference"], name))
    # exporting reads the store and writes files: it does not load torch (seconds on a login node)
    code = ("import sys\nfrom engine.cli import main\n"
            f"assert main(['export', {str(job_dir)!r}, '--out', {str(tmp_path / 'again.csv')!r}]) == 0\n"
            "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    assert done.returncode == 0 and done.stdout.strip().endswith("torch not loaded"), done.stderr
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    capsys.readouterr()
    assert main(["submit", str(job_dir), "--executor", "local"]) == 0
    assert "nothing to submit: 3 shard(s) done" in capsys.readouterr().out


def kill_one_shard_then_resubmit(lab, job_dir: Path, capsys, executor: str, *options: str) -> list:
    """:func:`tests.engine.test_cluster.kill_one_shard_then_resubmit` for the 3-shard predict job:
    one shard SIGKILLed mid-recording, rerun alone, and the merge exactly the one-process result."""
    return test_cluster.kill_one_shard_then_resubmit(
        lab, job_dir, capsys, executor, *options, shards=3,
        check=lambda job_dir: assert_same_result(merged_result(job_dir)[1], lab["reference"]))


def test_a_killed_local_shard_is_rerun_alone(lab, tmp_path, capsys):
    kill_one_shard_then_resubmit(lab, tmp_path / "job", capsys, "local")


@pytest.fixture
def own_inputs(lab, tmp_path):
    """The lab's job with a responses file and images of its own (the test changes them), saved
    as ``predict.json``."""
    shutil.copy(lab["root"] / "r.npz", tmp_path / "r.npz")
    shutil.copytree(lab["root"] / "images", tmp_path / "images")
    paths = [str(tmp_path / "images" / Path(p).name) for p in lab["paths"]]
    job_file = predict_job(lab["spec"], tmp_path / "r.npz", paths)
    job_file.save(tmp_path / "predict.json")
    return JobFile(lab["session"].model, job_file.job)  # the model as submit writes it: resolved


def test_a_resubmission_with_a_changed_responses_file_is_refused(lab, tmp_path, capsys, own_inputs):
    job_dir = tmp_path / "job"
    store = prepare(job_dir, own_inputs, 3, lab["session"])
    run_shard(job_dir, 0, threads=1)
    original = (tmp_path / "r.npz").read_bytes()
    data = dict(np.load(tmp_path / "r.npz"))
    data["responses"] = data["responses"] + 1.0  # the lab re-exported its spike counts
    np.savez(tmp_path / "r.npz", **data)
    for argv in (["submit", str(job_dir), "--executor", "local"],
                 ["submit", str(tmp_path / "predict.json"), "--out", str(job_dir), "--executor", "local",
                  "--trust-code"]):
        err = one_line_error(capsys, argv)
        assert f"The responses file '{tmp_path / 'r.npz'}' has changed since the job in '{job_dir}' was " \
               "submitted" in err and "submit the job file into a new folder" in err, err
    assert not list((job_dir / "shards").glob("*.submitted.json"))  # nothing was submitted
    assert [s.state for s in job_status(job_dir)] == ["done", "not submitted", "not submitted"]
    # an image changed: refused likewise, and a shard started anyway fails before scoring anything
    (tmp_path / "r.npz").write_bytes(original)
    image = tmp_path / "images" / "img007.png"
    image.write_bytes(image.read_bytes() + b"\0")
    err = one_line_error(capsys, ["submit", str(job_dir), "--executor", "local"])
    assert f"The images of the job in '{job_dir}' have changed since it was submitted" in err
    with pytest.raises(UnitscopeError, match="have changed since it was submitted"):
        run_shard(job_dir, 1, threads=1)
    assert store.info(1)["state"] == "failed" and not list((job_dir / "store.zarr" / "layers").glob("4*"))


def test_in_process_shards_a_damaged_layer_and_bad_submissions(lab, tmp_path, capsys, own_inputs):
    """Shards run in this process equal the one-process run (not exported before both are
    done); a changed chunk of a layer makes
    its shard damaged (status, export, merge) and resubmitting redoes that shard alone; what
    every shard shares, damaged, refuses the merge; bad submissions are one line."""
    job_dir = tmp_path / "job"
    store = prepare(job_dir, canonical_job(own_inputs, lab["session"]), 2, lab["session"])
    assert store.shards == [("0", "2"), ("4", "6")]
    assert run_shard(job_dir, 0, threads=1)["state"] == "done"
    err = one_line_error(capsys, ["export", str(job_dir), "--out", str(tmp_path / "R.csv")])
    assert "is not finished: shard(s) 1 of 2 not done" in err and not (tmp_path / "R.csv").exists()
    assert run_shard(job_dir, 1, threads=1)["state"] == "done"
    want = lab["reference"]
    got = merged_result(job_dir)[1]
    # the same job on copies of the lab's files: only the image paths differ
    assert got.image_paths == [str(tmp_path / "images" / Path(p).name) for p in want.image_paths]
    assert_same_result(dataclasses.replace(got, image_paths=want.image_paths), want)

    chunk = job_dir / "store.zarr" / "layers" / "6" / "r" / "c" / "0"
    chunk.write_bytes(bytes(len(chunk.read_bytes())))  # garbage of the same size
    os.utime(chunk, ns=(store.info(1)["chunks"]["layers/6/r/c/0"][1],) * 2)  # and the same time
    assert [s.state for s in job_status(job_dir, verify="full")] == ["done", "damaged"]
    err = one_line_error(capsys, ["export", str(job_dir), "--out", str(tmp_path / "R.csv")])
    assert "is damaged: shard(s) 1 of 2" in err and "store.zarr/layers/6/r/c/0 changed" in err
    with pytest.raises(UnitscopeError, match="is damaged"):
        finished_store(job_dir, verify="full")
    run_shard(job_dir, 1, threads=1)  # what `submit JOB_DIR` runs for it
    assert [store.info(s)["attempts"] for s in range(2)] == [1, 2]
    assert_same_result(dataclasses.replace(merged_result(job_dir)[1], image_paths=want.image_paths), want)

    ceiling = job_dir / "store.zarr" / "neurons" / "ceiling" / "c" / "0"
    ceiling.write_bytes(ceiling.read_bytes()[:-1] + b"\1")
    with pytest.raises(UnitscopeError, match=r"what its shards share \(store.zarr/neurons\) changed"):
        merged_result(job_dir)
    # a shard between its record ("done") and its marker, written last: running while its process
    # lives (`submit --wait` waits for it), failed once that process is gone
    store.mark_done(1, False)
    assert store.info(1)["state"] == "done" and store.info(1)["pid"] == os.getpid()
    assert job_status(job_dir)[1].state == "running"
    gone = subprocess.Popen(["true"])
    gone.wait()
    store.update_info(1, pid=gone.pid)
    assert job_status(job_dir)[1].state == "failed"

    job = str(tmp_path / "predict.json")
    assert "more than the job's 4 layers" in one_line_error(
        capsys, ["submit", job, "--out", str(tmp_path / "o"), "--shards", "5", "--executor", "local",
                 "--trust-code"])
    assert not (tmp_path / "o").exists()
    assert main(["submit", job, "--out", str(tmp_path / "o"), "--shards", "3", "--dry-run", "--trust-code"]) == 0
    out = capsys.readouterr().out
    assert "layers: 4 in 3 shard(s)" in out and "shard 0: 0, 2" in out and "shard 2: 6" in out
    assert not (tmp_path / "o").exists()
    assert "--array picks arrays of a summaries job" in one_line_error(
        capsys, ["export", str(job_dir), "--out", str(tmp_path / "x.npz"), "--array", "r"])


def test_grating_rows_sharded_equal_one_process_exactly(lab, tmp_path):
    """Rows named by grating labels among image rows, in a shuffled order: the submitter stores
    the neurons' tuning curves, each shard draws the gratings after its images as one process
    does, and the merge, the best units' tuning curves included, equals the one-process run."""
    import torch
    from planted_gratings import label

    images = lab["paths"][:40]
    orientations, sfs, phases = (0.0, 45.0, 90.0, 135.0), (2.0, 4.0), (0.0, 180.0)
    gratings = [label(o, f, p) for o in orientations for f in sfs for p in phases]
    names = np.array([Path(p).stem for p in images] + gratings)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(names))
    np.savez(tmp_path / "r.npz", responses=rng.gamma(2.0, size=(len(names), 5, 4))[order], stimuli=names[order])
    job = Predict(str(tmp_path / "r.npz"), tuple(images), ("2", "4", "6"), boots=20, splits=5, batch_size=16)
    job_file = JobFile(lab["session"].model, job)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the shards run
    try:
        want = lab["session"].result(job)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(want.orientations, orientations)
    assert want.unit_tuning.shape == (3, 5, 4) and np.isfinite(want.unit_tuning).all()
    assert [p == "" for p in want.image_paths] == [n.startswith("grating") for n in names[order]]

    job_dir = tmp_path / "job"
    store = prepare(job_dir, job_file, 2, lab["session"])
    assert store.shards == [("2", "4"), ("6",)]
    assert [run_shard(job_dir, s, threads=1)["state"] for s in range(2)] == ["done", "done"]
    got = merged_result(job_dir)[1]
    assert_same_result(got, want)
    # the curves are the best units' responses to the gratings the shards drew, averaged over phases
    is_grating = np.array([n.startswith("grating") for n in names[order]])
    table = np.array([[float(w.split("=")[1]) for w in n.split()[1:]] for n in names[order][is_grating]])
    for layer in range(3):
        for n in range(5):
            at = table[:, 1] == got.tuning_sf[n]
            response = got.unit_response[layer, is_grating, n].astype(np.float64)
            by_hand = [response[at & (table[:, 0] == o)].mean() for o in orientations]
            np.testing.assert_allclose(got.unit_tuning[layer, n], by_hand, rtol=1e-12)


def test_slurm_array_shard_killed_mid_run_is_rerun_alone(lab, tmp_path, capsys):
    require_slurm()
    states = kill_one_shard_then_resubmit(lab, tmp_path / "job", capsys, "slurm", "--cpus-per-task", "1",
                                          "--time", "3")
    array = states[0].job_id.split("_")[0]
    assert [s.job_id for s in states] == [f"{array}_{s}" for s in range(3)]  # one array of 3 tasks
