"""A sharded job's store cannot lie: damaged chunks, markers and metadata, concurrent submits.

Each done shard records the SHA-256 of every chunk it wrote; ``status`` calls a shard whose
chunks are missing or changed ``damaged``, ``export`` and the window's cluster results refuse
the store naming the shards, and ``submit JOB_DIR`` redoes exactly those.  The reference is
the single-process run of ``test_cluster``'s lab (no shards, no zarr).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.engine import test_cluster
from tests.engine.test_cluster import N_IMAGES, check_against_references, summaries_job

from engine.cli import main
from engine.cluster.merged import finished_store
from engine.cluster.plan import prepare
from engine.cluster.results import open_results
from engine.cluster.shard import run_shard
from engine.cluster.status import job_status
from engine.cluster.store import JobStore
from engine.errors import UnitscopeError

REPO = Path(__file__).resolve().parents[2]
lab = test_cluster.lab  # the images, the job and its single-process reference (a fixture)


def finished(lab, job_dir: Path, n_shards: int = 4) -> JobStore:
    store = prepare(job_dir, lab["job_file"], n_shards, lab["session"])
    for shard in range(n_shards):
        run_shard(store.dir, shard, threads=1)
    return JobStore(job_dir)


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_removed_truncated_or_garbage_chunks_are_never_exported_and_resubmit_repairs_them(lab, tmp_path, capsys):
    job_dir = tmp_path / "job"
    store = finished(lab, job_dir)
    assert [s.state for s in job_status(job_dir)] == ["done"] * 4
    zarr_dir = job_dir / "store.zarr"
    # shards (0, 12) (12, 24) (24, 32) (32, 40) in chunks of 4 rows
    (zarr_dir / "conv/mean/c/1/0").unlink()  # shard 0: a chunk removed
    chunk = zarr_dir / "conv/raw/c/4/0/0/0"  # shard 1: a chunk truncated
    chunk.write_bytes(chunk.read_bytes()[:10])
    garbage = zarr_dir / "fc/moments/mean/c/2/0"  # shard 2: its moments' chunk, garbage of the same size
    garbage.write_bytes(os.urandom(garbage.stat().st_size))
    states = job_status(job_dir)
    assert [s.state for s in states] == ["damaged", "damaged", "damaged", "done"]
    assert "conv/mean/c/1/0" in states[0].error and "missing" in states[0].error
    assert "conv/raw/c/4/0/0/0" in states[1].error and "changed" in states[1].error

    assert main(["status", str(job_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 done" in out and "3 damaged" in out and "conv/mean/c/1/0" in out
    err = one_line_error(capsys, ["export", str(job_dir), "--out", str(tmp_path / "all.npz")])
    assert "damaged" in err and "shard(s) 0, 1, 2 of 4" in err and f"unitscope submit {job_dir}" in err
    assert not (tmp_path / "all.npz").exists()
    with pytest.raises(UnitscopeError, match=r"shard\(s\) 0, 1, 2 of 4") as info:
        open_results(job_dir)  # what File ▸ Open cluster results… shows, in one line
    assert "\n" not in str(info.value)

    before = {s: (job_dir / "shards" / f"{s:04d}.submitted.json").exists() for s in range(4)}
    assert not any(before.values())  # ran in this process: never submitted
    assert main(["submit", str(job_dir), "--executor", "local", "--wait"]) == 0
    assert "submitted 3 shard(s) of 4 (local" in capsys.readouterr().out
    assert [(job_dir / "shards" / f"{s:04d}.submitted.json").exists() for s in range(4)] == [True] * 3 + [False]
    assert [s.state for s in job_status(job_dir, verify="full")] == ["done"] * 4
    check_against_references(JobStore(job_dir), lab)
    assert main(["export", str(job_dir), "--out", str(tmp_path / "all.npz")]) == 0
    with np.load(tmp_path / "all.npz") as npz:
        for key, reference in lab["single"].items():
            layer, name = key.split(":", 1)
            assert np.array_equal(npz[f"{layer}/{name.replace(':', '_')}"], reference), key
    del store


def test_a_chunk_changed_with_its_size_and_time_kept_is_caught_by_export(lab, tmp_path, capsys):
    """``status`` trusts a chunk whose size and time are as written; export hashes every chunk."""
    job_dir = tmp_path / "job"
    finished(lab, job_dir, 2)
    chunk = job_dir / "store.zarr" / "fc" / "mean" / "c" / "7" / "0"
    stat = chunk.stat()
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit, as a failing disk would leave it
    chunk.write_bytes(bytes(data))
    os.utime(chunk, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert main(["status", str(job_dir), "--verify"]) == 0
    assert "1 done, 1 damaged" in capsys.readouterr().out
    err = one_line_error(capsys, ["export", str(job_dir), "--out", str(tmp_path / "all.h5")])
    assert "shard(s) 1 of 2" in err and "fc/mean/c/7/0" in err


@pytest.mark.parametrize("damage", ["marker", "store_json", "layer_json"])
def test_garbage_store_files_are_one_line_naming_the_file(lab, tmp_path, capsys, damage):
    job_dir = tmp_path / "job"
    finished(lab, job_dir, 2)
    zarr_dir = job_dir / "store.zarr"
    target = {"marker": zarr_dir / "shards/done/c/1", "store_json": zarr_dir / "zarr.json",
              "layer_json": zarr_dir / "conv/mean/zarr.json"}[damage]
    target.write_bytes(b"\x28\xb5\x2f\xfd garbage \x00\xff" * 3)
    name = str(target.relative_to(job_dir))
    export = ["export", str(job_dir), "--out", str(tmp_path / "all.npz")]
    if damage == "marker":
        assert main(["status", str(job_dir)]) == 0
        out = capsys.readouterr().out
        assert "1 done, 1 damaged" in out and name in out
        err = one_line_error(capsys, export)
        assert "shard(s) 1 of 2" in err and name in err
        assert main(["submit", str(job_dir), "--executor", "local", "--wait"]) == 0
        assert "submitted 1 shard(s) of 2" in capsys.readouterr().out
        assert main(export) == 0
        return
    err = one_line_error(capsys, export)
    assert name in err and "damaged" in err
    if damage == "store_json":  # the job's own description: nothing in the folder can be trusted
        for argv in (["status", str(job_dir)], ["submit", str(job_dir), "--executor", "local"]):
            err = one_line_error(capsys, argv)
            assert name in err and "submit the job file again into a new folder" in err
        with pytest.raises(UnitscopeError, match="zarr.json"):
            open_results(job_dir)
    else:  # what the line says to do repairs it: the layer laid out again, every shard redone
        assert f"remove '{zarr_dir / 'conv'}' and unitscope submit {job_dir}" in err
        shutil.rmtree(zarr_dir / "conv")
        assert [s.state for s in job_status(job_dir)] == ["damaged", "damaged"]
        assert main(["submit", str(job_dir), "--executor", "local", "--wait"]) == 0
        assert "submitted 2 shard(s) of 2" in capsys.readouterr().out
        check_against_references(finished_store(job_dir, verify="full"), lab)


def test_two_submits_into_one_folder_at_once_leave_one_whole_job(lab, tmp_path):
    """Two real ``unitscope submit`` processes start together into one folder with different
    jobs: exactly one makes the job; the other says the folder is in use or holds a job, and
    the winner's job finishes equal to the single-process run."""
    job_dir = tmp_path / "job"
    other = tmp_path / "other.json"
    summaries_job(lab["job_file"].model.spec, list(lab["job_file"].job.images), summaries=("mean",)).save(other)
    go = tmp_path / "go"
    script = ("import sys, time, os\nfrom engine.cli import main\n"
              f"while not os.path.exists({str(go)!r}): time.sleep(0.002)\n"
              "sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, "submit", str(job), "--out", str(job_dir),
                               "--shards", "2", "--executor", "local", "--trust-code", "--wait"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for job in (lab["job_path"], other)]
    time.sleep(3)  # both imported and waiting
    go.touch()
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    winner = next(n for n, (code, _, _) in enumerate(results) if code == 0)
    loser_err = results[1 - winner][2]
    assert loser_err.count("\n") == 1 and "Traceback" not in loser_err, loser_err
    assert "in use" in loser_err or "holds another job" in loser_err, loser_err
    store = finished_store(job_dir)
    assert store.attrs["summaries"] == (["raw", "mean", "max", "centre", "grid:2", "project:16"], ["mean"])[winner]
    assert [store.info(s)["attempts"] for s in range(2)] == [1, 1]
    if winner == 0:
        check_against_references(store, lab)
    assert sorted(p.name for p in job_dir.iterdir() if not p.name.startswith(".")) == ["logs", "shards",
                                                                                       "store.zarr"]
    assert not [p for p in (job_dir / "store.zarr").iterdir() if p.name.startswith(".")]


# --- results that say what they hold (run and export alike) -----------------------------------

EXPECTED = {f"{layer}/{name}" for layer in ("conv", "fc")
            for name in ("raw", "mean", "max", "centre", "grid_2", "project_16", "moments/count", "moments/mean",
                         "moments/var", "moments/min", "moments/max", "top/values", "top/indices",
                         "bottom/values", "bottom/indices")}


def h5_names(path: Path) -> dict[str, np.ndarray]:
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, node: found.__setitem__(name, node[()])
                     if isinstance(node, h5py.Dataset) and not name.startswith("__") else None)
    return found


def mat_names(path: Path) -> dict[str, np.ndarray]:
    import scipy.io

    mat = scipy.io.loadmat(path, simplify_cells=True)
    found = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}/{key}" if prefix else key, item)
        else:
            found[prefix] = value

    walk("", {k: v for k, v in mat.items() if not k.startswith("__") and k in ("conv", "fc")})
    return found


def test_run_result_and_export_name_their_arrays_alike_with_integer_indices(lab, tmp_path, capsys):
    from engine.session.results import read_result

    run = tmp_path / "whole.npz"
    assert main(["run", str(lab["job_path"]), "--out", str(run), "--trust-code"]) == 0
    with np.load(run) as npz:
        ran = {k: npz[k] for k in npz.files if not k.startswith("__")}
    assert set(ran) == EXPECTED
    job_dir = tmp_path / "job"
    finished(lab, job_dir, 2)
    exported = {}
    for suffix in ("npz", "h5", "mat"):
        out = tmp_path / f"all.{suffix}"
        assert main(["export", str(job_dir), "--out", str(out)]) == 0
        if suffix == "npz":
            with np.load(out) as npz:
                exported[suffix] = {k: npz[k] for k in npz.files if not k.startswith("__")}
        else:
            exported[suffix] = h5_names(out) if suffix == "h5" else mat_names(out)
        assert set(exported[suffix]) == EXPECTED, suffix
    capsys.readouterr()
    for name in EXPECTED:
        for suffix, arrays in exported.items():
            ours, theirs = np.asarray(arrays[name]), ran[name]
            assert ours.dtype == theirs.dtype, (suffix, name, ours.dtype, theirs.dtype)
            if suffix == "mat":
                ours = ours.reshape(theirs.shape)  # MATLAB keeps no 1-D arrays
            if "moments/mean" in name or "moments/var" in name:
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)  # merged vs one pass
            else:
                assert np.array_equal(ours, theirs, equal_nan=True), (suffix, name)
        if name.endswith("indices"):
            assert ran[name].dtype == np.int64
        elif "/moments/" in name:
            assert ran[name].dtype == (np.int64 if name.endswith("count") else np.float64)
        elif "/top/" in name or "/bottom/" in name:
            assert ran[name].dtype == np.float64
        else:
            assert ran[name].dtype == np.float32
    for layer, single in lab["last"].extremes.items():
        assert np.array_equal(ran[f"{layer}/top/indices"], single["top_indices"])
    assert ran["conv/moments/count"] == N_IMAGES
    # the result reads back as before, and runs again
    _, result, _ = read_result(run)
    assert np.array_equal(result["outputs"]["conv"]["project:16"], lab["single"]["conv:project:16"])
    assert np.array_equal(result["moments"]["fc"]["mean"], lab["last"].moments["fc"]["mean"])
    np.testing.assert_allclose(result["moments"]["fc"]["m2"], lab["last"].moments["fc"]["m2"], rtol=1e-12)
    assert np.array_equal(result["extremes"]["fc"]["bottom_indices"], lab["last"].extremes["fc"]["bottom_indices"])
    assert main(["run", str(run), "--out", str(tmp_path / "again.npz"), "--trust-code"]) == 0
    with np.load(tmp_path / "again.npz") as npz:
        assert all(np.array_equal(npz[name], ran[name], equal_nan=True) for name in EXPECTED)
    # the names are documented
    readme = (REPO / "README.md").read_text()
    assert "LAYER/top/indices" in readme and "LAYER/moments/var" in readme


def test_a_summaries_result_of_the_old_layout_still_reads(lab, tmp_path):
    """Results written before the arrays were named (``outputs.0`` … with their paths in
    ``__result__``) read back as they did."""
    import zipfile

    from engine.session.results import read_result

    last = lab["last"]
    arrays, paths = {}, {}
    for field in ("outputs", "moments", "extremes"):
        leaves = ([(["conv", "mean"], lab["single"]["conv:mean"])] if field == "outputs" else
                  [([layer, key], value) for layer, values in getattr(last, field).items()
                   for key, value in values.items()])
        arrays.update({f"{field}.{i}": value for i, (_, value) in enumerate(leaves)})
        paths[field] = {"array_paths": [path for path, _ in leaves]}
    entries = {**arrays, "__result__": np.array(json.dumps({**paths, "start": 0, "done": 40, "total": 40,
                                                              "skipped": []})),
               "__job__": np.array(json.dumps(lab["job_file"].to_dict())), "__provenance__": np.array("{}")}
    old = tmp_path / "old.npz"
    with zipfile.ZipFile(old, "w") as zf:
        for name, value in entries.items():
            with zf.open(name + ".npy", "w") as fh:
                np.lib.format.write_array(fh, value, allow_pickle=False)
    _, result, _ = read_result(old)
    assert np.array_equal(result["outputs"]["conv"]["mean"], lab["single"]["conv:mean"])
    assert np.array_equal(result["extremes"]["fc"]["top_indices"], last.extremes["fc"]["top_indices"])
    assert result["done"] == 40
