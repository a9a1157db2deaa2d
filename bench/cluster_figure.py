"""Figure 9: sharded jobs on local processes against one ``unitscope record``; memory per task.

Throughput: the same images and layer recorded raw (a) by ``unitscope record`` in one
process and (b) by ``unitscope submit --executor local --wait`` with 1 shard and with 2
shards (each process gets half the cores), every command timed end to end from a fresh
interpreter (start, model, images, writing). Memory: one shard of a summaries job (mean,
centre, a 64-d random projection, moments and top-k of a layer) run alone in a fresh
interpreter (``python -m bench.cluster_figure N``) over N grating stimuli, its peak RSS.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.timing import Figure, Sample

FACTORY = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 7, stride=4), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
'''


def _unitscope(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def throughput(repeats: int, n_images: int) -> tuple[dict[str, Sample], int]:
    from bench.engine_figures import _write_images
    from engine.jobs.summaries import Summaries
    from engine.session.job import JobFile
    from engine.session.values import ModelSpec

    folder = Path(tempfile.mkdtemp(prefix="unitscope-bench-cluster-"))
    try:
        paths = _write_images(folder, n_images)
        batch = max(1, min(16, n_images // 4))  # at least 2 batches per shard
        job = folder / "job.json"
        JobFile(ModelSpec("resnet18", device="cpu"),
                Summaries(("layer2",), tuple(map(str, paths)), summaries=("raw",), batch_size=batch)).save(job)
        times: dict[str, list[float]] = {"record": [], "1 shard": [], "2 shards": []}
        for r in range(repeats):
            times["record"].append(_unitscope("record", "resnet18", "--layer", "layer2", "--images", str(folder),
                                              "--out", str(folder / f"r{r}.h5"), "--memory-format", "contiguous",
                                              "--device", "cpu", "--workers", "0", "--batch-size", str(batch)))
            for shards in (1, 2):
                times[f"{shards} shard{'s' if shards > 1 else ''}"].append(_unitscope(
                    "submit", str(job), "--out", str(folder / f"j{r}_{shards}"), "--shards", str(shards),
                    "--executor", "local", "--wait"))
        return {k: Sample(v) for k, v in times.items()}, len(paths)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def shard_memory(n_stimuli: int) -> dict:
    """Run one shard over ``n_stimuli`` gratings in this process; its peak RSS and time."""
    from engine.cluster.plan import prepare
    from engine.cluster.shard import run_shard
    from engine.jobs.summaries import Summaries
    from engine.session.job import JobFile
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    folder = Path(tempfile.mkdtemp(prefix="unitscope-bench-shard-"))
    try:
        (folder / "net.py").write_text(FACTORY)
        orientations = n_stimuli // 10
        job = Summaries(("2",), protocol="gratings", params=(("orientation", tuple(
            180 * i / orientations for i in range(orientations))), ("sf", (8.0,))), phases=10,
            summaries=("mean", "centre", "project:64"), k=9, batch_size=100)
        job_file = JobFile(ModelSpec(f"{folder / 'net.py'}:build", device="cpu"), job)
        store = prepare(folder / "job", job_file, 1, Session.open(job_file.model))
        t0 = time.perf_counter()
        run_shard(store.dir, 0)
        return {"n": n_stimuli, "seconds": time.perf_counter() - t0,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


IMAGENET = 1_281_167  # ImageNet-1k training images
PLAN_LAYERS = ("layer1", "layer2", "layer3", "layer4", "avgpool")


def imagenet_plan(batch: int, gpus: int = 64) -> list[str]:
    """The plan of ResNet-50 x 5 layers over ImageNet on ``gpus`` tasks, from a batch measured here."""
    from bench.engine_figures import _write_images
    from engine.cluster.dry_run import estimate, output_bytes
    from engine.cluster.plan import layout, shard_ranges
    from engine.cluster.store import Layout
    from engine.jobs.summaries import Summaries
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    folder = Path(tempfile.mkdtemp(prefix="unitscope-bench-plan-"))
    try:
        paths = _write_images(folder, 3 * batch)
        session = Session.open(ModelSpec("resnet50", device="cpu"))
        job = Summaries(PLAN_LAYERS, tuple(map(str, paths)), summaries=("mean", "centre", "project:1024"), k=16,
                        batch_size=batch)
        small = layout(session, job, 1)
        measured = estimate(session, job, small, free_bytes=0)
        big = Layout(IMAGENET, batch, tuple(shard_ranges(IMAGENET, batch, gpus)), small.reductions, small.units,
                     job.k)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    n_batches = -(-IMAGENET // batch)
    files = n_batches * sum(len(r) for r in big.reductions.values()) + gpus * (1 + 9 * len(PLAN_LAYERS))
    per_task_batches = max(-(-(stop - start) // batch) for start, stop in big.shards)
    return [f"Plan on paper: ResNet-50, {', '.join(PLAN_LAYERS)} (mean, centre, project:1024, moments, top/bottom "
            f"16) over ImageNet's {IMAGENET:,} images in {gpus} shards, batches of {batch}: output "
            f"{output_bytes(big) / 1024 ** 3:.0f} GiB in {files:,} files (one per chunk); {per_task_batches:,} "
            f"batches per task. Measured here (CPU, this run): {measured.seconds_per_batch:.2f} s per batch, "
            f"peak {measured.task_memory_bytes / 1024 ** 3:.1f} GiB per task, i.e. "
            f"{measured.seconds_per_batch * per_task_batches / 3600:.1f} h per task on such a CPU; "
            "a GPU's figure comes from `unitscope submit --dry-run` run on a GPU node (the same calibration)."]


def cluster(repeats: int = 3, n_images: int = 256, small: int = 1_000, large: int = 100_000,
            plan_batch: int = 32) -> Figure:
    fig = Figure("9", "Sharded jobs: local shard processes vs one `unitscope record`; memory per shard task")
    samples, n = throughput(repeats, n_images)
    record = samples["record"].median
    for name in ("1 shard", "2 shards"):
        overhead = samples[name].median / record - 1
        fig.add(f"submit --executor local, {name} ({n} images, ResNet-18 layer2 raw)", samples[name].s(),
                f"record {samples['record'].s()}; overhead {overhead:+.1%}", overhead <= 0.05)
    runs = {}
    for count in (small, large):
        done = subprocess.run([sys.executable, "-m", "bench.cluster_figure", str(count)], capture_output=True,
                              text=True, check=True)
        runs[count] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = runs[large]["peak_rss_mib"] / runs[small]["peak_rss_mib"]
    fig.add(f"peak RSS of a shard task, {large:,} stimuli",
            f"{runs[large]['peak_rss_mib']:.0f} MiB ({runs[large]['seconds']:.0f} s)",
            f"{small:,} stimuli: {runs[small]['peak_rss_mib']:.0f} MiB", ratio <= 1.2)
    fig.add("ratio", f"{ratio:.3f}", "target ≤ 1.2", ratio <= 1.2)
    fig.notes.extend(imagenet_plan(plan_batch))
    fig.notes.append("Every time is a whole command from a fresh interpreter (start, model, images, writing), "
                     "median of the repeats. The submitter of a local job over image files opens no model and "
                     "imports no torch (only zarr and submitit): the shard processes open the model, and the "
                     "first of them lays out the layers' arrays. Each local shard process gets cores / shards "
                     "torch threads; submitit starts it through a small controller process. Each shard records "
                     "its own working time in `JOB_DIR/shards/NNNN.json` (`seconds`).")
    fig.notes.append("The memory task keeps mean, centre and a 64-d sparse random projection per stimulus "
                     "(written to zarr batch by batch), the moments of every unit and the top/bottom 9 per "
                     "channel of a small conv net's second conv layer, over gratings (224 px, batches of 100).")
    return fig


if __name__ == "__main__":
    print(json.dumps(shard_memory(int(sys.argv[1]))))
