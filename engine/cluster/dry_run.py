"""Pricing a plan before spending: output size, memory per task and time, from a measured batch.

:func:`estimate` runs a short calibration on this machine (one warm-up batch, then
``batches`` timed batches of the job's first stimuli, no file written), and scales the
measured figures to the whole job: bytes of every array the store will hold, the peak
resident memory of the calibrating process plus the shard's running states, and the time
per task and in total.  :func:`check_space` refuses a plan larger than the target's free space (before calibrating).
"""

from __future__ import annotations

import math
import resource
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from engine.errors import UnitscopeError


@dataclass(frozen=True)
class Plan:
    """The figures ``unitscope submit --dry-run`` prints."""

    n_stimuli: int
    n_shards: int
    batch_size: int
    output_bytes: int
    task_memory_bytes: int
    seconds_per_batch: float
    task_seconds: float
    total_seconds: float
    free_bytes: int

    def lines(self) -> list[str]:
        gib = 1024 ** 3
        per_shard = math.ceil(self.n_stimuli / self.n_shards)
        return [
            f"stimuli: {self.n_stimuli:,} in {self.n_shards} shard(s) of up to {per_shard:,} "
            f"(batches of {self.batch_size})",
            f"output: {self.output_bytes / gib:.3f} GiB (free at the target: {self.free_bytes / gib:.1f} GiB)",
            f"memory per task: {self.task_memory_bytes / gib:.2f} GiB (measured peak of a calibration batch "
            "plus the shard's running moments)",
            f"time: {self.seconds_per_batch:.3f} s per batch measured here; {self.task_seconds / 60:.1f} min "
            f"per task, {self.total_seconds / 3600:.2f} task-hours in all",
        ]


def output_bytes(layout) -> int:
    """Bytes of every array of a store with ``layout`` (uncompressed)."""
    n_shards = len(layout.shards)
    total = 8 * n_shards  # done markers
    for layer, reductions in layout.reductions.items():
        total += sum(4 * layout.n_stimuli * math.prod(shape) for shape in reductions.values())
        units = math.prod(layout.units[layer])
        total += n_shards * (8 + 4 * 8 * units + 4 * 8 * layout.units[layer][0] * layout.k)
    return total


def estimate(session, job, layout, free_bytes: int, batches: int = 2) -> Plan:
    """Measure ``batches`` batches of ``job`` on ``session`` and scale them to ``layout``."""
    n_batches = math.ceil(layout.n_stimuli / job.batch_size)
    take = max(1, min(batches, n_batches - 1)) if n_batches > 1 else 1
    warm = replace(job, start=0, stop=min(layout.n_stimuli, job.batch_size))
    for _ in session.run(warm):
        pass
    timed = replace(job, start=0, stop=min(layout.n_stimuli, take * job.batch_size))
    t0 = time.perf_counter()
    for _ in session.run(timed):
        pass
    per_batch = (time.perf_counter() - t0) / take
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    states = sum(4 * 8 * math.prod(units) for units in layout.units.values())
    biggest = max(math.ceil((stop - start) / job.batch_size) for start, stop in layout.shards)
    return Plan(layout.n_stimuli, len(layout.shards), job.batch_size, output_bytes(layout), int(peak + states),
                per_batch, per_batch * biggest, per_batch * n_batches, free_bytes)


def free_space(path: str | Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_space(output: int, target: str | Path) -> int:
    """The free bytes at ``target``; refused when ``output`` bytes would not fit there."""
    free = free_space(target)
    if output > free:
        raise UnitscopeError(f"The job's output ({output / 1024 ** 3:.2f} GiB) is larger than the free space at "
                             f"'{target}' ({free / 1024 ** 3:.2f} GiB); choose other summaries (mean, centre, "
                             "project:D instead of raw), fewer layers or another folder.")
    return free
