"""A finished job's results, merged across shards: arrays, moments, extremes, one export file.

Per-stimulus reductions are already in place in the store (each shard wrote its rows);
moments and extremes are merged from the shards' rows in shard order
(:meth:`engine.analyses.summaries.Moments.merge`, :meth:`~engine.analyses.summaries.Extremes.merge`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analyses.summaries import Extremes, Moments
from engine.cluster.store import EXTREME_FIELDS, MOMENT_FIELDS, JobStore, array_key
from engine.errors import UnitscopeError


def finished_store(job_dir: str | Path) -> JobStore:
    """The job's store, refusing a job with shards not done yet (naming them)."""
    store = JobStore(job_dir)
    missing = [s for s, done in enumerate(store.done()) if not done]
    if missing:
        listed = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        raise UnitscopeError(f"The job in '{store.dir}' is not finished: shard(s) {listed} of "
                             f"{len(store.shards)} not done (see unitscope status; unitscope submit "
                             "runs the missing ones).")
    return store


def reduction(store: JobStore, layer: str, name: str) -> np.ndarray:
    """The per-stimulus array ``(N, ...)`` of one reduction of ``layer``."""
    return store.array(f"{array_key(layer)}/{name}")[:]


def moments(store: JobStore, layer: str) -> Moments:
    """The moments of every unit of ``layer`` over all stimuli (the shards' merged)."""
    group = store.array(array_key(layer))
    counts = group["moments/count"][:]
    rows = {name: group[f"moments/{name}"][:] for name in MOMENT_FIELDS}
    merged = Moments(rows["mean"].shape[1:])
    for s, count in enumerate(counts):
        merged.merge(Moments.from_arrays({"count": np.array([count]), **{n: rows[n][s] for n in MOMENT_FIELDS}}))
    return merged


def extremes(store: JobStore, layer: str) -> Extremes:
    """The ``k`` highest and lowest centre-unit responses of every channel over all stimuli."""
    group = store.array(array_key(layer))
    rows = {name: group[f"extremes/{name}"][:] for name in EXTREME_FIELDS}
    merged = None
    for s in range(rows["top_values"].shape[0]):
        shard = Extremes.from_arrays({n: rows[n][s] for n in EXTREME_FIELDS})
        merged = shard if merged is None else merged.merge(shard)
    return merged


def merged_arrays(store: JobStore) -> dict[str, np.ndarray]:
    """Every merged result as ``NAME -> array``: ``LAYER:REDUCTION`` per stimulus,
    ``LAYER:moments.{mean,var,min,max}`` per unit, ``LAYER:top.{values,indices}`` and
    ``LAYER:bottom.{values,indices}`` per channel."""
    arrays: dict[str, np.ndarray] = {}
    for layer in store.layers:
        for name in store.reductions(layer):
            arrays[f"{layer}:{name}"] = reduction(store, layer, name)
        m = moments(store, layer)
        arrays.update({f"{layer}:moments.mean": m.mean, f"{layer}:moments.var": m.variance,
                       f"{layer}:moments.min": m.min, f"{layer}:moments.max": m.max})
        e = extremes(store, layer).padded()
        for end in ("top", "bottom"):
            arrays[f"{layer}:{end}.values"] = e[f"{end}_values"]
            arrays[f"{layer}:{end}.indices"] = e[f"{end}_indices"]
    return arrays


def export(job_dir: str | Path, out: str | Path, names: list[str] | None = None) -> tuple[Path, list[str]]:
    """Write the merged results of a finished job to one ``.h5``, ``.npz``, ``.mat`` or ``.npy`` file.

    ``names`` picks arrays of :func:`merged_arrays` (a ``.npy`` file holds exactly one).
    Arrays are written as float32 (stimulus indices are exact up to 2**24).
    """
    from engine.files.writers import write_activations

    store = finished_store(job_dir)
    arrays = merged_arrays(store)
    if names:
        unknown = [n for n in names if n not in arrays]
        if unknown:
            raise UnitscopeError(f"The job has no array {', '.join(unknown)}; it has {', '.join(arrays)}.")
        arrays = {n: arrays[n] for n in names}
    provenance = {"job": store.attrs["job"], "stimuli": store.attrs["stimuli"],
                  "stimuli_sha256": store.attrs["stimuli_sha256"], "shards": store.attrs["shards"]}
    return write_activations(out, arrays, provenance), list(arrays)
