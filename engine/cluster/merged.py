"""A finished job's results, merged across shards: arrays, moments, extremes, one export file.

Per-stimulus reductions are already in place in the store (each shard wrote its rows);
moments and extremes are merged from the shards' rows in shard order
(:meth:`engine.analyses.summaries.Moments.merge`, :meth:`~engine.analyses.summaries.Extremes.merge`).
The export names its arrays as ``unitscope run`` names a summaries result's
(:func:`engine.jobs.summaries.named_arrays`: ``layer1/mean``, ``layer1/moments/var``,
``layer1/top/indices`` …) and keeps their types (indices int64, moments float64); a store
with a shard not done or damaged is refused, naming the shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analyses.summaries import Extremes, Moments
from engine.cluster.store import EXTREME_FIELDS, MOMENT_FIELDS, JobStore, array_key
from engine.errors import UnitscopeError


def _listed(shards: list[int]) -> str:
    return ", ".join(map(str, shards[:20])) + (" …" if len(shards) > 20 else "")


def finished_store(job_dir: str | Path, verify: str = "quick") -> JobStore:
    """The job's store, refusing a job with shards not done yet or damaged (naming them).

    ``verify``: ``quick`` hashes the chunks whose size or time changed since their shard
    wrote them, ``full`` every chunk (export reads them all anyway).
    """
    store = JobStore(job_dir)
    markers = store.markers()
    missing = [s for s, marker in enumerate(markers) if marker == 0]
    if missing:
        raise UnitscopeError(f"The job in '{store.dir}' is not finished: shard(s) {_listed(missing)} of "
                             f"{len(store.shards)} not done (see unitscope status; unitscope submit "
                             "runs the missing ones).")
    damage = {s: store.damage(s, store.info(s), marker, full=verify == "full") for s, marker in enumerate(markers)}
    damaged = [s for s, why in damage.items() if why]
    if damaged:
        raise UnitscopeError(f"The job in '{store.dir}' is damaged: shard(s) {_listed(damaged)} of "
                             f"{len(store.shards)} (shard {damaged[0]}: {damage[damaged[0]]}); its numbers are not "
                             f"exported; unitscope submit {store.dir} redoes those shards.")
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
    """Every merged result by the names ``unitscope run`` gives a summaries result
    (:func:`engine.jobs.summaries.named_arrays`): ``LAYER/REDUCTION`` per stimulus,
    ``LAYER/moments/{count,mean,var,min,max}`` per unit, ``LAYER/top/{values,indices}`` and
    ``LAYER/bottom/{values,indices}`` per channel."""
    return named_store_arrays(store)[0]


def named_store_arrays(store: JobStore) -> tuple[dict[str, np.ndarray], dict]:
    """:func:`merged_arrays` and the table of what each array is (``[layer, field, key]``)."""
    from engine.jobs.summaries import named_arrays

    try:
        outputs = {layer: {name: reduction(store, layer, name) for name in store.reductions(layer)}
                   for layer in store.layers}
        states = {layer: moments(store, layer).arrays() for layer in store.layers}
        ends = {layer: extremes(store, layer).padded() for layer in store.layers}
    except UnitscopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a chunk no record lists (an old store): one line
        raise UnitscopeError(f"The job in '{store.dir}' could not be read ({' '.join(str(exc).split())[:160]}); "
                             f"unitscope status {store.dir} --verify names the damaged shards.") from None
    return named_arrays(outputs, states, ends)


def export(job_dir: str | Path, out: str | Path, names: list[str] | None = None) -> tuple[Path, list[str]]:
    """Write the merged results of a finished job to one ``.h5``, ``.npz``, ``.mat`` or ``.npy`` file.

    ``names`` picks arrays of :func:`merged_arrays` (a ``.npy`` file holds exactly one).
    Each array keeps its type: per-stimulus summaries float32, moments float64, stimulus
    indices int64 (:mod:`engine.cluster.export_file`).  Every chunk is checked against its
    shard's record first.
    """
    from engine.cluster.export_file import write_named
    from engine.files.writers import output_suffix

    output_suffix(out)
    store = finished_store(job_dir, verify="full")
    arrays, table = named_store_arrays(store)
    if names:
        unknown = [n for n in names if n not in arrays]
        if unknown:
            raise UnitscopeError(f"The job has no array {', '.join(unknown)}; it has {', '.join(arrays)}.")
        arrays = {n: arrays[n] for n in names}
    provenance = {"job": store.attrs["job"], "stimuli": store.attrs["stimuli"],
                  "stimuli_sha256": store.attrs["stimuli_sha256"], "shards": store.attrs["shards"],
                  "arrays": {n: table[n] for n in arrays}}
    return write_named(out, arrays, provenance), list(arrays)
