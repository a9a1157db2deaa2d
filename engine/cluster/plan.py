"""Shard planning: a deterministic, chunk-aligned slicing of a job's sorted stimulus list.

The stimulus list of a summaries job is fixed once: image files sorted by their absolute
path (duplicates removed), or a protocol's stimuli in protocol order; its SHA-256 is kept in
the store, so a resubmission with another list is refused.  The list is cut into chunks of
``batch_size`` stimuli (one batch = one zarr chunk) and shard ``s`` takes a contiguous run of
whole chunks: any shard can be rerun alone, and its rows never share a chunk with another's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from engine.analyses.summaries import Reduction
from engine.cluster.store import Layout
from engine.errors import UnitscopeError
from engine.jobs.summaries import StimulusList, Summaries
from engine.session.job import JobFile


def canonical_job(job_file: JobFile) -> JobFile:
    """The job with its stimulus list fixed: images sorted by absolute path, the whole list."""
    job = job_file.job
    if not isinstance(job, Summaries):
        raise UnitscopeError(f"Only summaries and predict jobs run sharded; this job is a '{job.kind}' job.")
    images = tuple(sorted({str(Path(p).absolute()) for p in job.images}))
    return JobFile(job_file.model, replace(job, images=images, start=0, stop=None))


def shard_ranges(n_stimuli: int, chunk: int, n_shards: int) -> list[tuple[int, int]]:
    """``n_shards`` contiguous ``[start, stop)`` ranges of whole chunks covering the list.

    The chunks are shared out as evenly as possible (the first shards get one more).
    """
    if n_stimuli < 1:
        raise UnitscopeError("The job has no stimuli to shard.")
    if n_shards < 1:
        raise UnitscopeError("--shards must be at least 1.")
    n_chunks = math.ceil(n_stimuli / chunk)
    if n_shards > n_chunks:
        raise UnitscopeError(f"--shards {n_shards} is more than the job's {n_chunks} batches of {chunk} "
                             "stimuli; use fewer shards or a smaller --batch-size.")
    base, extra = divmod(n_chunks, n_shards)
    ranges, first = [], 0
    for s in range(n_shards):
        count = base + (1 if s < extra else 0)
        ranges.append((first * chunk, min((first + count) * chunk, n_stimuli)))
        first += count
    return ranges


def stimulus_names(job: Summaries) -> list[str]:
    """The names the store keeps for the job's stimuli: image files one by one, or one line
    for a protocol's stimuli (named by the job itself)."""
    params = {name: list(values) for name, values in job.params}
    return list(job.images) or [f"{job.protocol} {params} x {job.phases} phase(s)"]


def count_stimuli(job: Summaries, session=None) -> int:
    """How many stimuli the job has: its image files, or (with ``session``, whose crop size
    sets a protocol's default grid) the protocol's conditions x phases."""
    if job.images and not job.protocol:
        return len(job.images)
    if session is None:
        raise UnitscopeError("Counting a protocol's stimuli needs the open model.")
    return len(StimulusList(job, session.preprocess))


def layout(session, job: Summaries, n_shards: int) -> Layout:
    """The store layout of ``job`` cut into ``n_shards`` shards (the model gives the shapes)."""
    from engine.analyses.units import recorded_shape

    session.recorder.resolve(list(job.layers))
    n_stimuli = count_stimuli(job, session)
    reductions, units = {}, {}
    for layer in job.layers:
        shape = recorded_shape(session.anatomy, layer)
        if not shape or len(shape) not in (2, 4):
            raise UnitscopeError(f"Layer '{layer}' has output shape {shape}; summaries need (N, C) or "
                                 "(N, C, H, W) outputs.")
        units[layer] = tuple(shape[1:])
        reductions[layer] = {str(r): r.shape(units[layer]) for r in map(Reduction.parse, job.summaries)}
    return Layout(n_stimuli, job.batch_size, tuple(shard_ranges(n_stimuli, job.batch_size, n_shards)),
                  reductions, units, job.k)


def prepare(job_dir: str | Path, job_file: JobFile, n_shards: int | None, session=None):
    """The store of ``job_file`` cut into ``n_shards`` in ``job_dir``: made, or reopened when
    it holds the same job (then ``n_shards`` None or equal); another job there is refused.

    Torch-free for a job over image files: the layers' arrays are laid out by the first
    task.  ``session`` (the open model) is needed for a protocol's stimulus count; given, it
    also checks the layers and lays them out now.
    """
    from engine.cluster.store import STORE, JobStore, stimuli_hash

    job_file = canonical_job(job_file)
    job_dir = Path(job_dir)
    if (job_dir / STORE).exists():
        return JobStore.reopen(job_dir, job_file.to_dict(), n_shards)
    if n_shards is None:
        raise UnitscopeError("--shards is needed for a new job.")
    job = job_file.job
    summaries = [str(Reduction.parse(s)) for s in job.summaries]
    plan = layout(session, job, n_shards) if session is not None else None
    n_stimuli = plan.n_stimuli if plan else count_stimuli(job)
    names = stimulus_names(job)
    store = JobStore.create(job_dir, {
        "job": job_file.to_dict(), "stimuli": names, "stimuli_sha256": stimuli_hash(names), "n_stimuli": n_stimuli,
        "chunk": job.batch_size, "shards": [list(s) for s in shard_ranges(n_stimuli, job.batch_size, n_shards)],
        "layers": list(job.layers), "summaries": summaries, "k": job.k})
    if plan is not None:
        store.lay_out_layers(plan)
    return store
