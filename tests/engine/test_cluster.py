"""Sharded jobs: shard planning, the zarr store, local processes through submitit, merging.

The references are independent of the store: the same summaries job run in one process
(no shards, no zarr), ``record_images`` (the recorder alone) for raw outputs, a full
``np.lexsort`` of all responses for the rankings and NumPy's one-pass moments.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.cluster.merged import extremes, merged_arrays, moments
from engine.cluster.plan import canonical_job, prepare, shard_ranges
from engine.cluster.shard import run_shard
from engine.cluster.status import job_status
from engine.cluster.store import JobStore
from engine.errors import UnitscopeError
from engine.jobs.record_images import RecordImages
from engine.session.session import Session

# A network small enough that a shard's run is dominated by starting Python.  Its forward
# pass SIGKILLs its own process once, on its third call in a process (the anatomy's pass,
# then batch 1, then batch 2: a shard killed mid-run), if the file ``armed`` next to it
# exists and this process is the one that removes it.  Likewise with the file ``hold``: the
# process that removes it writes its SLURM task id into ``holding`` and waits there (up to a
# minute) for the scheduler to preempt it.
FACTORY = '''
import os, signal, time
from pathlib import Path
import torch
from torch import nn

ARMED = Path(__file__).with_name("armed")
HOLD = Path(__file__).with_name("hold")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 7, stride=8)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(6 * 16, 5)
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
            try:
                HOLD.unlink()
            except FileNotFoundError:
                pass
            else:
                task = f"{os.environ.get('SLURM_ARRAY_JOB_ID')}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
                HOLD.with_name("holding.tmp").write_text(task)
                HOLD.with_name("holding.tmp").rename(HOLD.with_name("holding"))  # never seen empty
                for _ in range(600):
                    time.sleep(0.1)  # a signal handler runs between these sleeps
        x = self.pool(self.relu(self.conv(x)))
        return self.fc(x.flatten(1))


def build():
    torch.manual_seed(3)
    return Net()
'''

N_IMAGES = 40
BATCH = 4  # 10 chunks: shards of 3, 3, 2 and 2 chunks


def make_lab(root: Path) -> tuple[str, list[str]]:
    """Write the factory and ``N_IMAGES`` generated images under ``root``; returns (spec, paths)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "net.py").write_text(FACTORY)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(N_IMAGES):
        path = root / "images" / f"img{(i * 37) % N_IMAGES:03d}.png"  # written out of order
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return f"{root / 'net.py'}:build", paths


def summaries_job(spec: str, paths: list[str], summaries=("raw", "mean", "max", "centre", "grid:2", "project:16")):
    from engine.jobs.summaries import Summaries
    from engine.session.job import JobFile
    from engine.session.values import ModelSpec

    job = Summaries(layers=("conv", "fc"), images=tuple(paths), summaries=tuple(summaries), k=5, seed=11,
                    batch_size=BATCH)
    return JobFile(ModelSpec(spec, device="cpu"), job)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The factory, the images, the job and its single-process reference results."""
    root = tmp_path_factory.mktemp("lab")
    spec, paths = make_lab(root)
    job_file = canonical_job(summaries_job(spec, paths))
    session = Session.open(job_file.model)
    reference: dict[str, list] = {}
    last = None
    for last in session.run(job_file.job):
        for layer, reductions in last.outputs.items():
            for name, values in reductions.items():
                reference.setdefault(f"{layer}:{name}", []).append(values)
    single = {k: np.concatenate(v) for k, v in reference.items()}
    recorded = session.result(RecordImages(("conv", "fc"), job_file.job.images, BATCH))
    job_path = root / "job.json"
    job_file.save(job_path)
    return {"root": root, "job_file": job_file, "job_path": job_path, "single": single, "last": last,
            "recorded": recorded, "session": session}


def ranking(values: np.ndarray, k: int, descending: bool):
    """Top (or bottom) ``k`` stimulus indices per column by a full sort; ties to the earlier index."""
    n = values.shape[0]
    out = []
    for unit in range(values.shape[1]):
        key = -values[:, unit] if descending else values[:, unit]
        out.append(np.lexsort((np.arange(n), key))[:k])
    return np.array(out)


def named(key: str) -> str:
    """A reference's ``LAYER:REDUCTION`` key as the store's array name (``conv/project_16``)."""
    layer, name = key.split(":", 1)
    return f"{layer}/{name.replace(':', '_')}"


def check_against_references(store: JobStore, lab) -> None:
    arrays = merged_arrays(store)
    for name, values in lab["single"].items():  # every reduction, bit for bit
        assert np.array_equal(arrays[named(name)], values), name
    for layer in ("conv", "fc"):
        raw = lab["recorded"].outputs[layer]
        assert np.array_equal(arrays[f"{layer}/raw"], raw)  # the recorder alone
        centre = raw[:, :, raw.shape[2] // 2, raw.shape[3] // 2] if raw.ndim == 4 else raw
        centre = centre.astype(np.float64)
        assert np.array_equal(arrays[f"{layer}/top/indices"], ranking(centre, 5, True))
        assert np.array_equal(arrays[f"{layer}/bottom/indices"], ranking(centre, 5, False))
        assert np.array_equal(arrays[f"{layer}/top/values"],
                              np.take_along_axis(centre.T, ranking(centre, 5, True), 1))
        as64 = raw.astype(np.float64)
        np.testing.assert_allclose(arrays[f"{layer}/moments/mean"], as64.mean(0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(arrays[f"{layer}/moments/var"], as64.var(0), rtol=1e-9, atol=1e-12)
        assert np.array_equal(arrays[f"{layer}/moments/min"], as64.min(0))
        assert np.array_equal(arrays[f"{layer}/moments/max"], as64.max(0))
        assert moments(store, layer).count == N_IMAGES
        # the single-process job's own states merge to the same ranking
        single = lab["last"].extremes[layer]
        assert np.array_equal(extremes(store, layer).padded()["top_indices"], single["top_indices"])


def test_shard_ranges_are_whole_chunks_covering_the_list():
    assert shard_ranges(40, 4, 4) == [(0, 12), (12, 24), (24, 32), (32, 40)]
    assert shard_ranges(10, 4, 3) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(7, 32, 1) == [(0, 7)]
    with pytest.raises(UnitscopeError, match="more than the job's 3 batches"):
        shard_ranges(10, 4, 4)


def test_stimulus_list_is_sorted_whatever_the_job_file_order(lab):
    job = lab["job_file"].job
    assert list(job.images) == sorted(job.images)
    shuffled = summaries_job(lab["job_file"].model.spec, list(reversed(job.images)))
    assert canonical_job(shuffled).job.images == job.images


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_four_shards_in_process_equal_one_run_and_never_share_a_chunk(lab, tmp_path):
    store = prepare(tmp_path / "job", lab["job_file"], 4, lab["session"])
    zarr_dir = tmp_path / "job" / "store.zarr"
    touched = []
    for shard in range(4):
        before = snapshot(zarr_dir)
        assert run_shard(store.dir, shard, threads=1)["state"] == "done"
        after = snapshot(zarr_dir)
        touched.append({path for path, mtime in after.items() if before.get(path) != mtime})
    for a in range(4):
        for b in range(a + 1, 4):
            assert touched[a].isdisjoint(touched[b]), (a, b, touched[a] & touched[b])
    # each shard wrote exactly its own chunks: rows [start, stop) in chunks of BATCH, row `shard` of the states
    for shard, (start, stop) in enumerate(store.shards):
        rows = {f"conv/raw/c/{c}/0/0/0" for c in range(start // BATCH, -(-stop // BATCH))}
        assert {p for p in touched[shard] if p.startswith("conv/raw/")} == rows
        assert {p for p in touched[shard] if p.startswith("shards/done/")} == {f"shards/done/c/{shard}"}
        assert {p for p in touched[shard] if p.startswith("fc/moments/mean/")} == {f"fc/moments/mean/c/{shard}/0"}
    assert all(s.state == "done" for s in job_status(store.dir))
    check_against_references(JobStore(store.dir), lab)


def kill_one_shard_then_resubmit(lab, job_dir: Path, capsys, executor: str, *options: str, shards: int = 4,
                                 check=None) -> list:
    """Submit the ``shards``-shard job of ``lab`` with one shard SIGKILLed mid-run, check what is
    reported, submit the folder again, and check that only that shard ran again and the result
    is exact (``check(job_dir)``; by default against the summaries job's references)."""
    from engine.cluster.merged import finished_store

    armed = lab["root"] / "armed"
    armed.touch()  # the first shard process to reach its second batch SIGKILLs itself
    try:
        code = main(["submit", str(lab["job_path"]), "--out", str(job_dir), "--shards", str(shards), "--executor",
                     executor, *options, "--wait", "--trust-code"])
    finally:
        consumed = not armed.exists()
        armed.unlink(missing_ok=True)
    assert consumed  # one shard process consumed it
    captured = capsys.readouterr()
    assert code == 2 and "1 shard(s) failed" in captured.err, captured
    states = job_status(job_dir)
    killed = [s.shard for s in states if s.state == "failed"]
    assert len(killed) == 1 and sum(s.state == "done" for s in states) == shards - 1
    store = JobStore(job_dir)
    assert store.info(killed[0])["state"] == "running" and not store.done()[killed[0]]  # died without a word
    before = {s: json.loads((job_dir / "shards" / f"{s:04d}.submitted.json").read_text()) for s in range(shards)}
    assert main(["status", str(job_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{shards - 1} done, 1 failed" in out and "log: " in out
    with pytest.raises(UnitscopeError, match=rf"shard\(s\) {killed[0]} of {shards} not done"):
        finished_store(job_dir)

    assert main(["submit", str(job_dir), "--executor", executor, *options, "--wait"]) == 0
    assert f"submitted 1 shard(s) of {shards} ({executor}" in capsys.readouterr().out
    for s in range(shards):
        after = json.loads((job_dir / "shards" / f"{s:04d}.submitted.json").read_text())
        assert (after == before[s]) == (s != killed[0])  # only the killed shard was submitted again
        assert store.info(s)["attempts"] == (2 if s == killed[0] else 1)
        assert store.info(s)["host"] == os.uname().nodename and store.info(s)["pid"] != os.getpid()
    if check is None:
        check_against_references(JobStore(job_dir), lab)
    else:
        check(job_dir)
    assert main(["submit", str(job_dir), "--executor", executor]) == 0
    assert f"nothing to submit: {shards} shard(s) done" in capsys.readouterr().out
    return states


def test_local_executor_shard_killed_mid_run_is_rerun_alone(lab, tmp_path, capsys):
    kill_one_shard_then_resubmit(lab, tmp_path / "job", capsys, "local")


def test_local_submitter_opens_no_model_and_the_first_shard_lays_out_the_layers(lab, tmp_path, capsys):
    """``submit --executor local`` over image files never imports torch in the submitting
    process (its start would be most of a small job's overhead): the 4 shard processes, started
    together, open the model and lay the layers' arrays out, one of them winning each layer."""
    import subprocess
    import sys

    from engine.session.job import JobFile

    job_dir = tmp_path / "job"
    script = ("import sys\nfrom engine.cli import main\n"
              f"code = main(['submit', {str(lab['job_path'])!r}, '--out', {str(job_dir)!r}, '--shards', '4', "
              "'--executor', 'local', '--wait', '--trust-code'])\n"
              "print('torch imported:', 'torch' in sys.modules, 'exit', code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert "torch imported: False exit 0" in done.stdout, done.stdout + done.stderr
    zarr_dir = job_dir / "store.zarr"
    assert sorted(p.name for p in zarr_dir.iterdir() if p.is_dir()) == ["conv", "fc", "shards"]  # no half layouts
    store = JobStore(job_dir)
    assert store.units("conv") == lab["single"]["conv:raw"].shape[1:] and store.units("fc") == (5,)
    check_against_references(store, lab)
    # a layer the model lacks: the submitter cannot tell without torch; every shard says so, and submit repeats it
    wrong = tmp_path / "wrong.json"
    JobFile(lab["job_file"].model, replace(lab["job_file"].job, layers=("conv", "nope"))).save(wrong)
    assert main(["submit", str(wrong), "--out", str(tmp_path / "w"), "--shards", "2", "--executor", "local",
                 "--wait", "--trust-code"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 shard(s) failed (0, 1), first: " in err and "'nope'" in err, err
    assert not (tmp_path / "w" / "store.zarr" / "nope").exists()


def test_unitscope_run_of_a_summaries_job_keeps_every_stimulus(lab, tmp_path, capsys):
    """One process over the whole list: the result holds all 40 rows of every reduction (not
    the last batch's), equal to the batches joined, with the moments and top-k of the list."""
    from engine.session.results import read_result

    out = tmp_path / "whole.npz"
    assert main(["run", str(lab["job_path"]), "--out", str(out), "--trust-code"]) == 0
    assert "40 of 40 done" in capsys.readouterr().out
    _, result, _ = read_result(out)
    for key, reference in lab["single"].items():
        layer, name = key.split(":", 1)  # e.g. conv:project:16
        assert result["outputs"][layer][name].shape[0] == 40
        assert np.array_equal(result["outputs"][layer][name], reference), key
    for layer in ("conv", "fc"):
        assert np.array_equal(result["extremes"][layer]["top_indices"], lab["last"].extremes[layer]["top_indices"])
        assert np.array_equal(result["moments"][layer]["mean"], lab["last"].moments[layer]["mean"])
    assert result["start"] == 0 and result["done"] == result["total"] == 40


def test_export_writes_the_merged_arrays(lab, tmp_path, capsys):
    store = prepare(tmp_path / "job", lab["job_file"], 2, lab["session"])
    for shard in range(2):
        run_shard(store.dir, shard, threads=1)
    import h5py
    import scipy.io

    for name in ("all.h5", "all.mat"):
        assert main(["export", str(store.dir), "--out", str(tmp_path / name)]) == 0
    with h5py.File(tmp_path / "all.h5", "r") as f:
        assert np.array_equal(f["conv/raw"][()], lab["single"]["conv:raw"])
        assert np.array_equal(f["fc/top/indices"][()], lab["last"].extremes["fc"]["top_indices"])
        assert f["fc/top/indices"].dtype == np.int64 and f["fc/moments/mean"].dtype == np.float64
    mat = scipy.io.loadmat(tmp_path / "all.mat", simplify_cells=True)
    assert np.array_equal(mat["conv"]["raw"], lab["single"]["conv:raw"])
    assert np.array_equal(mat["fc"]["top"]["indices"], lab["last"].extremes["fc"]["top_indices"])
    assert main(["export", str(store.dir), "--out", str(tmp_path / "x.npy"), "--array", "conv/mean"]) == 0
    assert np.array_equal(np.load(tmp_path / "x.npy"), lab["single"]["conv:mean"])
    capsys.readouterr()
    assert main(["export", str(store.dir), "--out", str(tmp_path / "y.npy"), "--array", "conv/nope"]) == 2
    assert "The job has no array conv/nope" in capsys.readouterr().err
    # the job file again, into its own folder: nothing to do; another job there: refused
    submit = ["submit", "--executor", "local", "--out", str(store.dir), "--trust-code"]
    assert main([*submit, str(lab["job_path"])]) == 0
    assert "nothing to submit: 2 shard(s) done" in capsys.readouterr().out
    other = tmp_path / "other.json"
    summaries_job(lab["job_file"].model.spec, list(lab["job_file"].job.images)[:8]).save(other)
    assert main([*submit, str(other)]) == 2
    assert "holds another job; choose a new folder" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_refuses_what_does_not_fit(lab, tmp_path, capsys):
    from engine.jobs.summaries import Summaries
    from engine.session.job import JobFile
    from engine.session.values import ModelSpec

    assert main(["submit", str(lab["job_path"]), "--out", str(tmp_path / "j"), "--shards", "4",
                 "--dry-run", "--trust-code"]) == 0
    out = capsys.readouterr().out
    # raw conv 6x28x28 and fc 5, mean/max/centre 6+5 each, grid 6x2x2 and 5, project 16 twice: float32
    per_stimulus = 4 * (6 * 28 * 28 + 5 + 3 * (6 + 5) + 6 * 4 + 5 + 2 * 16)
    states = 4 * (8 + 32 * 6 * 28 * 28 + 32 * 6 * 5) + 4 * (8 + 32 * 5 + 32 * 5 * 5) + 8 * 4
    assert f"output: {(N_IMAGES * per_stimulus + states) / 1024 ** 3:.3f} GiB" in out
    assert "stimuli: 40 in 4 shard(s) of up to 10 (batches of 4)" in out and "s per batch measured here" in out
    assert not (tmp_path / "j").exists()  # nothing made
    # a million full-resolution maps of 64 channels (12.8 TB) fit on no test machine
    (tmp_path / "wide.py").write_text("from torch import nn\n\n\ndef build():\n"
                                      "    return nn.Sequential(nn.Conv2d(3, 64, 1))\n")
    big = JobFile(ModelSpec(f"{tmp_path / 'wide.py'}:build", device="cpu"),
                  Summaries(layers=("0",), protocol="gratings", params=(("orientation", tuple(range(1000))),),
                            phases=1000, summaries=("raw",), batch_size=1000))
    path = tmp_path / "big.json"
    big.save(path)
    assert main(["submit", str(path), "--out", str(tmp_path / "big"), "--shards", "64", "--dry-run",
                 "--trust-code"]) == 2
    err = capsys.readouterr().err
    assert "larger than the free space" in err and err.count("\n") == 1


def test_bad_submissions_are_one_line(lab, tmp_path, capsys):
    from engine.jobs.record_images import RecordImages
    from engine.session.job import JobFile

    other = tmp_path / "other.json"
    JobFile(lab["job_file"].model, RecordImages(("conv",), ("a.png",))).save(other)
    submit = ["submit", "--executor", "local"]
    out = ["--out", str(tmp_path / "o")]
    cases = [
        ([*submit, str(other), *out, "--shards", "2", "--trust-code"],
         "Only summaries and predict jobs run sharded; this job is a 'record_images' job."),
        ([*submit, str(lab["job_path"]), *out, "--shards", "2"], "--trust-code"),
        ([*submit, str(lab["job_path"]), *out, "--shards", "11", "--trust-code"],
         "--shards 11 is more than the job's 10 batches"),
        ([*submit, str(lab["job_path"]), "--shards", "2"], "--out JOB_DIR is needed"),
        (["status", str(tmp_path)], "is not a sharded job folder"),
        (["export", str(tmp_path), "--out", str(tmp_path / "a.h5")], "is not a sharded job folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()  # a refused new job leaves no folder behind


def test_resources_from_a_profile_and_no_sbatch(lab, tmp_path, capsys, monkeypatch):
    from engine.cluster.executors import Resources

    profile = tmp_path / "gpu.json"
    profile.write_text(json.dumps({"partition": "gpu", "gpus_per_task": 1, "mem_gb": 32, "time_min": 120}))
    assert Resources.from_profile(profile, time_min=30, qos=None) == Resources(
        partition="gpu", gpus_per_task=1, mem_gb=32, time_min=30)
    profile.write_text(json.dumps({"partitions": "gpu"}))
    with pytest.raises(UnitscopeError, match=r"unknown field\(s\) \['partitions'\]"):
        Resources.from_profile(profile)
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without SLURM's commands
    assert main(["submit", str(lab["job_path"]), "--out", str(tmp_path / "j"), "--shards", "2",
                 "--trust-code"]) == 2
    assert "sbatch is not on the PATH" in capsys.readouterr().err and not (tmp_path / "j").exists()


def test_status_of_a_job_never_submitted(lab, tmp_path, capsys):
    store = prepare(tmp_path / "job", lab["job_file"], 2, lab["session"])
    assert [s.state for s in job_status(store.dir)] == ["not submitted"] * 2
    run_shard(store.dir, 1, threads=1)
    assert main(["status", str(store.dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["done"] == 1 and data["counts"]["not submitted"] == 1
    assert os.getpid() == JobStore(store.dir).info(1)["pid"]


# --- a real one-node SLURM ------------------------------------------------------------------

#: Written by packaging/slurm/local_slurm.sh once its node is idle: SLURM is expected here.
SLURM_MARKER = Path("/etc/slurm/unitscope-local-slurm")


def require_slurm() -> None:
    """Skip without SLURM, unless it is expected (the start script's marker, or
    ``UNITSCOPE_REQUIRE_SLURM=1``): then its absence fails the test."""
    import shutil
    import subprocess

    expected = SLURM_MARKER.exists() or os.environ.get("UNITSCOPE_REQUIRE_SLURM") == "1"
    why = None
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        why = "sinfo/sbatch are not on the PATH"
    else:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30).stdout
        if not {"idle", "mix", "alloc"} & set(states.split()):
            why = f"no SLURM node is up (sinfo: {states.strip() or 'nothing'})"
    if why and expected:
        pytest.fail(f"SLURM is expected here ({SLURM_MARKER} or UNITSCOPE_REQUIRE_SLURM=1) but {why}")
    if why:
        pytest.skip(f"no SLURM: {why}; as root, packaging/slurm/local_slurm.sh start runs a one-node SLURM")


def test_slurm_array_shard_killed_mid_run_is_rerun_alone(lab, tmp_path, capsys):
    require_slurm()
    states = kill_one_shard_then_resubmit(lab, tmp_path / "job", capsys, "slurm", "--cpus-per-task", "1",
                                          "--time", "10")
    array = states[0].job_id.split("_")[0]
    assert [s.job_id for s in states] == [f"{array}_{s}" for s in range(4)]  # one array of 4 tasks


def squeue_state(task: str) -> str:
    """SLURM's state of one array task (``""`` once it left the queue)."""
    import subprocess

    return subprocess.run(["squeue", "-h", "-r", "-o", "%T", "-j", task], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_slurm_preempted_shard_is_requeued_and_the_result_is_exact(lab, tmp_path, capsys):
    """A running shard task gets the USR2 that ``--signal`` asks SLURM to send ahead of a
    timeout (and at preemption, with PreemptParameters=send_user_signal); submitit checkpoints
    it and ``scontrol requeue``s the same array task, which runs the shard again from its first
    batch."""
    import subprocess
    import time

    from engine.cluster.status import wait

    require_slurm()
    job_dir, hold, holding = tmp_path / "job", lab["root"] / "hold", lab["root"] / "holding"
    holding.unlink(missing_ok=True)
    hold.touch()  # the first shard process to reach its second batch waits there
    try:
        assert main(["submit", str(lab["job_path"]), "--out", str(job_dir), "--shards", "4", "--executor", "slurm",
                     "--cpus-per-task", "1", "--time", "3", "--trust-code"]) == 0
        deadline = time.monotonic() + 60
        while not holding.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holding.exists(), "no shard task reached its second batch within 60 s"
        task = holding.read_text()
    finally:
        hold.unlink(missing_ok=True)
        holding.unlink(missing_ok=True)
    shard = int(task.split("_")[1])
    assert squeue_state(task) == "RUNNING" and job_status(job_dir)[shard].state == "running"
    submission = json.loads((job_dir / "shards" / f"{shard:04d}.submitted.json").read_text())
    assert submission["job_id"] == task
    sbatch = next((job_dir / "logs").glob("*_submission.sh")).read_text()
    assert "#SBATCH --signal=USR2@45\n" in sbatch  # asked of SLURM a quarter of the 3 min before the limit
    # what --signal sends; scancel retries while the task changes state, so it is not waited for
    scancel = subprocess.Popen(["scancel", task, "--signal", "USR2"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while squeue_state(task) != "PENDING" and time.monotonic() < deadline:  # requeued
            time.sleep(0.2)
    finally:
        scancel.kill()
        scancel.wait()
    assert squeue_state(task) == "PENDING", "the signalled task was not requeued"
    # the interrupted attempt records its end a moment after SLURM lists the task as pending again
    deadline = time.monotonic() + 30
    while job_status(job_dir)[shard].state != "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_status(job_dir)[shard].state == "pending"
    # SLURM holds a requeued task back (BeginTime, 120 s here): start it now
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True, timeout=30)
    states = wait(job_dir, timeout_s=120)
    assert [s.state for s in states] == ["done"] * 4, states
    store = JobStore(job_dir)
    assert [store.info(s)["attempts"] for s in range(4)] == [2 if s == shard else 1 for s in range(4)]
    # requeued by SLURM under the same task id, not submitted again
    assert json.loads((job_dir / "shards" / f"{shard:04d}.submitted.json").read_text()) == submission
    log = Path(submission["stderr"]).read_text() + Path(submission["stdout"]).read_text()
    assert "Caught signal SIGUSR2" in log and f"Requeued job {task}" in log, log
    check_against_references(store, lab)
