"""Where each shard of a job stands: done, damaged, running, pending, failed or not submitted.

Read from the store's ``done`` markers, each shard's own record (written by the task) and
its last submission (written by the submitter); whether a task is still alive is asked of
SLURM (``squeue``) or, for local processes, of this machine's process table.  A shard whose
marker is set is checked against its record (:meth:`~engine.cluster.store.JobStore.damage`):
with a chunk file missing or changed, or its marker unreadable, it is ``damaged``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine.cluster.executors import submitted
from engine.cluster.store import JobStore

STATES = ("done", "damaged", "running", "pending", "failed", "not submitted")
#: How :func:`job_status` checks a done shard's files: ``quick`` hashes a chunk whose size or
#: time changed, ``full`` every chunk, None none (polling while tasks run).
VERIFY = ("quick", "full", None)


@dataclass(frozen=True)
class ShardState:
    """One shard: its index, stimulus range (a summaries job) or layers (a predict job), state,
    attempts and where its logs are."""

    shard: int
    start: int
    stop: int
    state: str
    attempts: int = 0
    job_id: str = ""
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    layers: tuple[str, ...] = ()


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` on this machine runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def slurm_states(job_ids: list[str]) -> dict[str, str] | None:
    """SLURM's state (``PENDING``, ``RUNNING``, …) of the ids among ``job_ids`` still queued
    or running; ids SLURM no longer lists are left out; None without squeue."""
    if not job_ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    import getpass

    # All of this user's jobs: squeue -j fails as a whole once one id is purged from SLURM's memory.
    result = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-u", getpass.getuser()],
                            check=False, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return None
    listed = dict(line.split(maxsplit=1) for line in result.stdout.splitlines() if len(line.split()) == 2)
    return {job_id: listed[job_id] for job_id in job_ids if job_id in listed}


#: SLURM states of a task that has not started its process yet.
SLURM_WAITING = ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "SUSPENDED")


def job_status(job_dir: str | Path, verify: str | None = "quick") -> list[ShardState]:
    """The state of every shard of the job in ``job_dir``; ``verify`` (:data:`VERIFY`): how the
    files of a done shard are checked."""
    store = JobStore(job_dir)
    markers = store.markers()
    done = [bool(m) for m in markers]
    infos = [store.info(s) for s in range(len(done))]
    subs = [submitted(store, s) for s in range(len(done))]
    slurm_ids = [sub["job_id"] for sub in subs if sub.get("executor") == "slurm"]
    in_slurm = slurm_states(slurm_ids)
    here = os.uname().nodename

    def job_alive(sub: dict) -> bool:
        """The submitted job is queued or runs (submitit's local job id is its controller's pid)."""
        if sub.get("executor") == "slurm":
            return in_slurm is None or sub["job_id"] in in_slurm
        return sub.get("host") == here and _process_alive(int(sub["job_id"]))

    def slurm_state(sub: dict) -> str:
        """SLURM's own word for the task: waiting in the queue or running ("" unknown or gone)."""
        if sub.get("executor") != "slurm" or not in_slurm or sub["job_id"] not in in_slurm:
            return ""
        return "pending" if in_slurm[sub["job_id"]] in SLURM_WAITING else "running"

    def task_alive(info: dict, sub: dict) -> bool:
        if sub.get("executor") == "slurm":  # a requeued task is SLURM's, whatever became of its last process
            return job_alive(sub)
        return info.get("host") == here and _process_alive(int(info["pid"]))

    states = []
    for s, part in enumerate(store.shards):
        (start, stop), layers = ((0, 0), tuple(part)) if store.kind == "predict" else (part, ())
        info, sub = infos[s], subs[s]
        resubmitted = sub and sub.get("submitted", 0) > (info.get("started") or 0)
        damage = ""
        if markers[s] is None and not (resubmitted and job_alive(sub)) and not (
                info.get("state") == "running" and task_alive(info, sub)):
            state, damage = "damaged", store.damage(s, info, None)
        elif done[s] and info.get("state") == "done" and not (resubmitted and job_alive(sub)):
            damage = store.damage(s, info, markers[s], full=verify == "full") if verify else ""
            state = "damaged" if damage else "done"
        elif not info and not sub:
            state = "not submitted"
        elif slurm_state(sub):
            state = slurm_state(sub)  # queued (also a requeued task, whatever its last process wrote) or running
        elif resubmitted:
            state = "pending" if job_alive(sub) else "failed"
        elif info.get("state") in ("running", "done"):  # "done" with no marker yet: the task sets it now, or died first
            state = "running" if task_alive(info, sub) else "failed"
        elif sub.get("executor") == "slurm" and job_alive(sub):
            state = "pending"  # its process ended but SLURM holds the task: requeued (preempted or timed out)
        else:
            state = "failed"
        error = damage or info.get("error") or ""
        if state == "failed" and not error:
            error = "the task ended without finishing (killed, out of memory or out of time?)"
        states.append(ShardState(s, start, stop, state, int(info.get("attempts", 0)), sub.get("job_id", ""),
                                 sub.get("stdout", ""), sub.get("stderr", ""),
                                 error if state in ("failed", "damaged") else "", layers))
    return states


def wait(job_dir: str | Path, timeout_s: float = 3600.0, poll_s: float = 0.2, jobs=()) -> list[ShardState]:
    """Wait until no shard is pending or running (or ``timeout_s`` passed); returns the states.

    The shards' own markers decide: a shard is over once it has written its end, not when
    submitit's controller notices its process has exited (it looks once a second).
    ``jobs``: submitit jobs of this process, polled so that finished local processes are reaped.
    """
    import submitit

    deadline = time.monotonic() + timeout_s
    local = [job for job in jobs if isinstance(job, submitit.LocalJob)]
    _EXITING[:] = [job for job in _EXITING if not job.done()]
    while True:
        for job in local:
            job.done()  # polls (reaps) the local process
        states = job_status(job_dir, verify=None)
        if not any(s.state in ("pending", "running") for s in states) or time.monotonic() > deadline:
            _EXITING.extend(job for job in local if not job.done())
            return job_status(job_dir)
        time.sleep(poll_s)


#: Local controllers whose shards have ended but which had not exited yet when :func:`wait`
#: returned: held (and reaped at the next wait) rather than dropped while running.
_EXITING: list = []


def counts(states: list[ShardState]) -> dict[str, int]:
    """How many shards are in each state (every state named, zero or not)."""
    return {name: sum(s.state == name for s in states) for name in STATES}
