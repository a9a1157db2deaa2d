"""A finished sharded predict job as one result: the layers of every shard, in the job's order.

The merged :class:`~engine.jobs.predict.PredictSnapshot` is the one the whole job yields
in one process: the trial means, noise ceilings and neurons' orientation tuning every shard
used (stored by the submitter), then each layer's row as its shard wrote it, in the job's layer order.  What
depends on all the layers (each neuron's best layer, the best layer by median score) is
computed from it by the same code as for a one-process result (:mod:`engine.commands.predict`).
A store with a shard not done or damaged is refused, naming the shards
(:func:`engine.cluster.merged.finished_store`).

:class:`ClusterPredict` (``cluster_predict``) reads it in the window's engine thread: it
extends the predict job, so the Brain view shows it as its own job's result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from engine.cluster.merged import finished_store
from engine.cluster.predict_plan import neurons_of
from engine.cluster.predict_shard import read_layer
from engine.errors import UnitscopeError
from engine.jobs.predict import Predict
from engine.session.job import JobFile, job_kind


def merged_result(job_dir: str | Path, verify: str = "full"):
    """The finished job's merged result.

    Returns
    -------
    job_file : JobFile
        The whole job (its layers named, images sorted).
    result : engine.jobs.predict.PredictSnapshot
        Every layer scored; ``seconds`` holds each layer's fit and the shards' recordings added up.
    provenance : dict
        The model's provenance as the first shard recorded it, with the job's inputs (the
        responses file and the SHA-256 of it and of the images) and its shards.
    """
    from engine.jobs.predict import LAYER_FIELDS, PredictSnapshot

    store = finished_store(job_dir, verify=verify)
    if store.kind != "predict":
        raise UnitscopeError(f"The job in '{store.dir}' is a {store.kind} job, not a predict job.")
    job_file = JobFile.from_dict(store.attrs["job"])
    job = job_file.job
    layers = store.layers
    result = PredictSnapshot(list(store.attrs["neurons"]), list(store.attrs["stimuli"]),
                             list(store.attrs["image_paths"]), list(layers), deg_per_image=float(job.deg_per_image),
                             window_ms=list(job.window_ms) if job.window_ms else None,
                             total=int(store.attrs["n_stimuli"]) + len(layers))
    result.set_neurons(neurons_of(store))
    try:
        for layer in layers:
            result.add_row(layer, read_layer(store, layer, LAYER_FIELDS))
    except UnitscopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file no record lists (damaged metadata): one line
        raise UnitscopeError(f"The job in '{store.dir}' could not be read ({' '.join(str(exc).split())[:160]}); "
                             f"unitscope status {store.dir} --verify names the damaged shards.") from None
    result.done = result.total
    infos = [store.info(s) for s in range(len(store.shards))]
    result.seconds = {"recording": sum(i["layer_seconds"]["recording"] for i in infos)}
    result.seconds.update({layer: info["layer_seconds"][layer] for info in infos for layer in info["layer_seconds"]
                           if layer != "recording"})
    provenance = {**infos[0].get("provenance", {}), "deg_per_image": job.deg_per_image,
                  **store.attrs["inputs"], "shards": store.attrs["shards"],
                  "shard_hosts": [info.get("host", "") for info in infos]}
    return job_file, result, provenance


@job_kind("cluster_predict")
@dataclass(frozen=True)
class ClusterPredict(Predict):
    """A finished sharded predict job's merged result, read from ``job_dir`` (its settings are the job's)."""

    job_dir: str = ""

    @classmethod
    def of(cls, store) -> ClusterPredict:
        """The job that reads the finished predict job of ``store`` (a
        :class:`~engine.cluster.store.JobStore` that :func:`~engine.cluster.merged.finished_store` gave)."""
        if store.kind != "predict":
            raise UnitscopeError(f"The job in '{store.dir}' is a {store.kind} job, not a predict job.")
        job = JobFile.from_dict(store.attrs["job"]).job
        return cls(**{f.name: getattr(job, f.name) for f in fields(Predict)}, job_dir=str(store.dir))

    def describe(self) -> str:
        return f"Reading the layers scored by the cluster job in {self.job_dir}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        yield merged_result(self.job_dir, verify="quick")[1]
