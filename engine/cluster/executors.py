"""Submitting shards through submitit: a SLURM job array, or local processes.

Nothing here schedules: SLURM (``sbatch --array``) or submitit's local executor (one
process per shard, each with its own share of the cores and, on a multi-GPU server, its own
``CUDA_VISIBLE_DEVICES``) runs the shards.  What was submitted is written next to the store
(``shards/NNNN.submitted.json``: executor, scheduler job id, log files), so ``unitscope
status`` can tell pending, running, failed and done shards apart from any process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from engine.cluster.shard import ShardTask
from engine.cluster.store import JobStore
from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_text

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class Resources:
    """What each task asks for (SLURM) or gets (local processes).

    Parameters
    ----------
    partition, account, qos : str or None
        SLURM's ``--partition``, ``--account``, ``--qos``.
    time_min : int
        Wall-time limit of a task in minutes; SLURM signals it ahead of the limit (``--signal``)
        and submitit requeues it (at most 3 times for timeouts).
    cpus_per_task : int or None
        Cores per task (local: the machine's cores shared between the shards).
    gpus_per_task : int
    mem_gb : float or None
        Memory per task (SLURM ``--mem``).
    array_parallelism : int
        At most this many tasks of the array run at once (SLURM ``--array=...%P``).
    """

    partition: str | None = None
    time_min: int = 60
    cpus_per_task: int | None = None
    gpus_per_task: int = 0
    mem_gb: float | None = None
    array_parallelism: int = 256
    account: str | None = None
    qos: str | None = None

    @classmethod
    def from_profile(cls, path: str | Path, **overrides) -> Resources:
        """Read a profile file (JSON object with any of the fields), then apply ``overrides``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UnitscopeError(f"Profile '{path}' could not be read: {exc}.") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            unknown = sorted(set(data) - known) if isinstance(data, dict) else data
            raise UnitscopeError(f"Profile '{path}': unknown field(s) {unknown}; known: {', '.join(sorted(known))}.")
        return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})


def submitted_path(store: JobStore, shard: int) -> Path:
    return store.dir / "shards" / f"{shard:04d}.submitted.json"


def submitted(store: JobStore, shard: int) -> dict:
    """The last submission of ``shard`` (``{}`` if it was never submitted)."""
    try:
        return json.loads(submitted_path(store, shard).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _record(store: JobStore, shard: int, executor: str, job) -> None:
    paths = job.paths
    atomic_write_text(submitted_path(store, shard), json.dumps({
        "executor": executor, "job_id": str(job.job_id), "submitted": time.time(),
        "stdout": str(paths.stdout), "stderr": str(paths.stderr),
        "host": os.uname().nodename}, indent=1) + "\n")


def visible_gpus() -> list[int]:
    """The NVIDIA GPUs this process may use, without importing torch: ``CUDA_VISIBLE_DEVICES``
    when set (indices; UUIDs are left to CUDA: none dealt out), else the driver's list
    (``/proc/driver/nvidia/gpus``); none without a driver."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        ids = [g.strip() for g in given.split(",") if g.strip()]
        ids = ids[:next((n for n, g in enumerate(ids) if g.startswith("-")), len(ids))]  # CUDA stops at -1
        return [int(g) for g in ids] if all(g.isdigit() for g in ids) else []
    try:
        return list(range(len(os.listdir("/proc/driver/nvidia/gpus"))))
    except OSError:
        return []


def submit(job_dir: str | Path, shards: list[int], executor: str = "local",
           resources: Resources = Resources(), trust_pickle: bool = False) -> list:
    """Submit ``shards`` of the job in ``job_dir``; returns submitit's job objects.

    ``local``: one process per shard, all at once; the cores are split between them and
    GPUs are dealt out one per process.  ``slurm``: one job array over the shards.
    ``trust_pickle``: the tasks may open a pickled model file (the submitting user agreed).
    """
    import submitit

    store = JobStore(job_dir)
    if not shards:
        return []
    if executor not in EXECUTORS:
        raise UnitscopeError(f"Unknown executor '{executor}'; use {' or '.join(EXECUTORS)}.")
    logs = store.dir / "logs"
    if executor == "local":
        cores = os.cpu_count() or 1
        threads = resources.cpus_per_task or max(1, cores // len(shards))
        local = submitit.LocalExecutor(folder=logs, python=sys.executable)
        gpus, jobs = visible_gpus(), []
        for n, shard in enumerate(shards):
            params = {"timeout_min": resources.time_min}
            if gpus:
                params.update(gpus_per_node=1, visible_gpus=(gpus[n % len(gpus)],))
            local.update_parameters(**params)
            job = local.submit(ShardTask(str(store.dir), threads, trust_pickle), shard)
            _record(store, shard, "local", job)
            jobs.append(job)
        return jobs
    if not _on_path("sbatch"):
        raise UnitscopeError("sbatch is not on the PATH: this machine cannot submit to SLURM "
                             "(use --executor local, or submit from the cluster's login node).")
    slurm = submitit.SlurmExecutor(folder=logs, python=sys.executable)
    # --signal=USR2@DELAY: SLURM warns a task DELAY s before its time limit (and at preemption where
    # the cluster sets PreemptParameters=send_user_signal); submitit then checkpoints the ShardTask and
    # requeues it with ``scontrol requeue``.  PreemptMode=REQUEUE requeues a preempted task without it.
    params = {"time": resources.time_min, "array_parallelism": resources.array_parallelism,
              "cpus_per_task": resources.cpus_per_task or 1, "job_name": f"unitscope-{store.dir.name}",
              "signal_delay_s": signal_delay_s(resources.time_min)}
    if resources.partition:
        params["partition"] = resources.partition
    if resources.gpus_per_task:
        params["gpus_per_task"] = resources.gpus_per_task
    if resources.mem_gb:
        params["mem"] = f"{int(resources.mem_gb * 1024)}M"
    if resources.account:
        params["account"] = resources.account
    if resources.qos:
        params["qos"] = resources.qos
    slurm.update_parameters(**params)
    task = ShardTask(str(store.dir), resources.cpus_per_task or 1, trust_pickle)
    try:
        jobs = slurm.map_array(task, shards)
    except Exception as exc:  # noqa: BLE001 - sbatch's refusal, in one line
        raise UnitscopeError(f"sbatch refused the job array: {str(exc).strip().splitlines()[-1]}") from None
    for shard, job in zip(shards, jobs):
        _record(store, shard, "slurm", job)
    return jobs


def signal_delay_s(time_min: int) -> int:
    """Seconds before the time limit at which SLURM signals a task (a quarter of it, at most 90 s):
    a shard restarts from its first batch, so the warning only has to let submitit requeue it."""
    return min(90, time_min * 60 // 4)


def _on_path(command: str) -> bool:
    import shutil

    return shutil.which(command) is not None
