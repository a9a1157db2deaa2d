"""One shard of a sharded predict job: its layers recorded in one pass and scored.

The shard runs the predict job's own recording (:meth:`engine.jobs.predict.Predict.record`)
of the stored rows (their images, then their gratings drawn from the labels,
:meth:`engine.neural.stimulus_rows.StimulusRows.of_rows`) on its layers alone and scores each
with the job's own fit (:meth:`engine.jobs.predict.LayerFeatures.score`), against the trial
means, noise ceilings and orientation tuning the submitter stored
(:func:`engine.cluster.predict_plan.neurons_of`): the same numbers, for the same seed, as the
whole job in one process.  Each finished layer's row is written whole,
as one group ``layers/<layer>`` made aside and renamed into place.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import replace

import numpy as np

from engine.cluster.store import LAYERS, STORE, JobStore, _zarr, array_key
from engine.session.job import JobFile, to_json


def score_layers(store: JobStore, shard: int, trust_pickle: bool = False) -> dict:
    """Record and score the shard's layers, writing each one's row; returns what the shard's
    record adds: ``seconds`` (all of it), ``layer_seconds`` (the recording and each layer's
    fit) and the ``provenance`` of the model it ran."""
    from engine.analyses.predictivity import folds_of
    from engine.cluster.predict_plan import check_inputs, neurons_of
    from engine.neural.stimulus_rows import StimulusRows
    from engine.session.session import Session

    layers = list(store.shards[shard])
    job_file = JobFile.from_dict(store.attrs["job"])
    job = job_file.job
    check_inputs(store, images_only=True)  # the images it is about to read are the job's
    neurons = neurons_of(store)
    session = Session.open(replace(job_file.model, trust_pickle=trust_pickle))
    session.recorder.resolve(layers)
    store.clear_chunks(shard)  # what an earlier attempt left (damaged or not) is never read
    stimuli = StimulusRows.of_rows(store.attrs["stimuli"], store.attrs["image_paths"])
    splits = folds_of(len(stimuli), job.folds, job.seed)
    rows = stimuli.row_of_recorded()
    t0 = time.perf_counter()
    recorded: dict = {}
    for _, recorded in job.record(session, stimuli, layers):
        pass
    seconds = {"recording": time.perf_counter() - t0}
    for layer in layers:
        started = time.perf_counter()
        write_layer(store, layer, recorded.pop(layer).score(layer, neurons, splits, rows, job.pca))
        seconds[layer] = time.perf_counter() - started
    return {"seconds": time.perf_counter() - t0, "layer_seconds": seconds,
            "provenance": to_json(session.provenance())}


def write_layer(store: JobStore, layer: str, row: dict) -> None:
    """Write one layer's row (name -> array, each one chunk, types kept) as the group
    ``layers/<layer>``: made aside, then renamed into place."""
    zarr = _zarr()
    root = store.dir / STORE
    target = root / LAYERS / array_key(layer)
    tmp = root / f".us-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        group = zarr.open_group(str(tmp), mode="w-")
        for name, value in row.items():
            value = np.asarray(value)
            group.create_array(name, data=value, chunks=value.shape)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_layer(store: JobStore, layer: str, fields) -> dict:
    """One finished layer's row as :func:`write_layer` wrote it."""
    group = store.array(f"{LAYERS}/{array_key(layer)}")
    return {name: group[name][...] for name in fields}
