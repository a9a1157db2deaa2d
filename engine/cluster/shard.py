"""One shard of a sharded job: run its part of the job and write its regions.

:func:`run_shard` is what every task runs, on SLURM, in a local process or in this
process.  It clears the shard's ``done`` marker, removes the chunk files an earlier attempt
wrote, does the shard's work, records the SHA-256 of every chunk file it wrote in its record,
and sets the marker last: a shard killed at any point is simply not done, and running it
again rewrites the same chunks.  The work of a ``summaries`` shard (:func:`summarise`) writes
each batch's reductions of its stimuli into the batch's own chunk as it comes (memory stays
flat), then its moments and extremes into its row; a ``predict`` shard scores its layers
(:func:`engine.cluster.predict_shard.score_layers`).

:class:`ShardTask` wraps it for submitit: it is ``Checkpointable``, so on preemption or
timeout submitit requeues the same call (the shard then starts again from its first batch).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import replace
from pathlib import Path

import submitit

from engine.cluster.store import EXTREME_FIELDS, MOMENT_FIELDS, JobStore, array_key
from engine.errors import UnitscopeError
from engine.session.job import JobFile

log = logging.getLogger(__name__)


def run_shard(job_dir: str | Path, shard: int, threads: int | None = None, trust_pickle: bool = False) -> dict:
    """Run shard ``shard`` of the job in ``job_dir``; returns its record.

    ``threads``: torch CPU threads of this process (None: torch's default).
    ``trust_pickle``: the submitting user allowed a pickled model file (never saved in the job).
    """
    from engine.cluster.predict_shard import score_layers
    from engine.recording.cpu_threads import run_models_here

    store = JobStore(job_dir)
    shards = store.shards
    if not 0 <= shard < len(shards):
        raise UnitscopeError(f"The job in '{job_dir}' has shards 0–{len(shards) - 1}, not {shard}.")
    store.mark_done(shard, False)
    store.started(shard)
    try:
        run_models_here(threads)
        work = score_layers if store.kind == "predict" else summarise
        record = work(store, shard, trust_pickle)
        # what it wrote, then the marker naming that record: status checks one against the other
        marker = time.time_ns()
        info = store.update_info(shard, state="done", finished=time.time(), **record, marker=marker,
                                 chunks=store.checksums(shard))
        store.array("shards/done")[shard] = marker
        return info
    except BaseException as exc:  # noqa: BLE001 - recorded, then raised again for the scheduler
        store.update_info(shard, state="failed", finished=time.time(),
                          error="".join(traceback.format_exception_only(type(exc), exc)).strip())
        raise


def summarise(store: JobStore, shard: int, trust_pickle: bool = False) -> dict:
    """Run the summaries job on the shard's stimuli and write its regions; returns what its
    record adds (``seconds``, ``skipped``).  The first task to open the model lays out the
    layers' arrays (:meth:`JobStore.lay_out_layers`)."""
    from engine.cluster.plan import layout
    from engine.session.session import Session

    start, stop = store.shards[shard]
    job_file = JobFile.from_dict(store.attrs["job"])
    job = replace(job_file.job, start=start, stop=stop)
    session = Session.open(replace(job_file.model, trust_pickle=trust_pickle))
    plan = layout(session, job_file.job, len(store.shards))
    if plan.n_stimuli != store.attrs["n_stimuli"]:
        raise UnitscopeError(f"The job's stimuli now count {plan.n_stimuli}, the store was made for "
                             f"{store.attrs['n_stimuli']}; submit it as a new job.")
    store.lay_out_layers(plan)
    store.clear_chunks(shard)  # what an earlier attempt left (damaged or not) is never read
    t0, skipped = time.perf_counter(), []
    for snapshot in session.run(job):
        for layer, reductions in snapshot.outputs.items():
            rows = slice(snapshot.start, snapshot.start + next(iter(reductions.values())).shape[0])
            for name, values in reductions.items():
                store.array(f"{array_key(layer)}/{name}")[rows] = values
        for layer, moments in snapshot.moments.items():
            group = store.array(array_key(layer))
            group["moments/count"][shard] = int(moments["count"].flat[0]) if moments["count"].size else 0
            for name in MOMENT_FIELDS:
                group[f"moments/{name}"][shard] = moments[name]
            for name in EXTREME_FIELDS:
                group[f"extremes/{name}"][shard] = snapshot.extremes[layer][name]
        skipped = snapshot.skipped
    return {"seconds": time.perf_counter() - t0, "skipped": [list(s) for s in skipped]}


class ShardTask(submitit.helpers.Checkpointable):
    """The callable submitit runs for each shard: ``ShardTask(job_dir, threads)(shard)``.

    Requeued by submitit with the same arguments on preemption or timeout
    (``Checkpointable.checkpoint``): a shard restarts from its first batch.
    """

    def __init__(self, job_dir: str, threads: int | None = None, trust_pickle: bool = False):
        self.job_dir, self.threads, self.trust_pickle = str(job_dir), threads, trust_pickle

    def __call__(self, shard: int) -> dict:
        return run_shard(self.job_dir, shard, self.threads, self.trust_pickle)
