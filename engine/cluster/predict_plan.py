"""A predict job cut by layers: its layer list fixed once, the split, and what every shard shares.

The job is made canonical once, at submit time: its image files sorted by absolute path
(duplicates removed), the responses file by its absolute path, and its layers fixed (the
model's main stages when it names none, :func:`engine.analyses.stages.main_stages`).  Shard
``s`` takes a contiguous run of that list (:func:`layer_shards`).  The submitter reads the
responses, matches every stimulus row to its image (or reads its grating label) and computes
what every layer's scores depend on but no layer changes: the trial means, the noise ceilings
with their bootstrap resamples and the neurons' orientation tuning
(:meth:`engine.jobs.predict.Predict.neurons`).  They go into the store's ``neurons/`` group
with the SHA-256 of each of its files, so every shard, and the merge, use the very same
numbers.  The store's ``stimuli`` and ``image_paths`` (each row's name and image file, "" for
a grating) are what a shard rebuilds its inputs from
(:meth:`engine.neural.stimulus_rows.StimulusRows.of_rows`): the same images and gratings, in
the same order, as one process records.

The store also keeps the SHA-256 of the inputs (:func:`inputs_of`): the responses file and
the image files' contents.  A resubmission whose responses file or images changed is
refused (:func:`check_inputs`), and a shard whose images changed since the submit fails
before it scores anything: the layers of one job are never scored on different data.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.cluster.store import LAYERS, STORE, JobStore, changed_files, file_sums, files_under
from engine.errors import UnitscopeError
from engine.session.job import JobFile

#: The store's group of what every shard shares.
NEURONS = "neurons"
#: Its arrays: name -> the attribute of :class:`engine.analyses.predictivity.Ceiling` (or the trial means).
CEILING_ARRAYS = {"reliability": "reliability", "ceiling": "ceiling", "ceiling_ci": "ceiling_ci",
                  "boot_rows": "rows", "boot_ceiling": "boot_ceiling"}
#: name -> the attribute of :class:`engine.analyses.neuron_tuning.OrientationTuning`.
TUNING_ARRAYS = {"orientations": "orientations", "tuning_mean": "mean", "tuning_sem": "sem",
                 "tuning_sf": "sf", "tuning_contrast": "contrast"}


def canonical_job(job_file: JobFile, session=None) -> JobFile:
    """The predict job with its inputs fixed: images sorted by absolute path, the responses
    file absolute, and its layers named (``session``, the open model, gives the main stages
    of a job that names none)."""
    from engine.analyses.stages import main_stages

    job = job_file.job
    layers = tuple(job.layers)
    if not layers:
        if session is None:
            raise UnitscopeError("A predict job that names no layers needs the model to choose its main stages.")
        layers = tuple(main_stages(session.anatomy))
        if not layers:
            raise UnitscopeError("The model has no layers to sweep; name some in the job's 'layers'.")
    images = tuple(sorted({str(Path(p).absolute()) for p in job.images}))
    return JobFile(job_file.model, replace(job, responses=str(Path(job.responses).absolute()), images=images,
                                           layers=layers))


def layer_shards(layers: list[str], n_shards: int) -> list[tuple[str, ...]]:
    """``n_shards`` contiguous runs of ``layers``, in order, as even as possible (the first
    shards get one more): shallow layers together, so a shard's forward pass stops early."""
    if n_shards < 1:
        raise UnitscopeError("--shards must be at least 1.")
    if n_shards > len(layers):
        raise UnitscopeError(f"--shards {n_shards} is more than the job's {len(layers)} layers "
                             f"({', '.join(layers)}); a predict job is cut by layers: use at most {len(layers)}.")
    base, extra = divmod(len(layers), n_shards)
    shards, first = [], 0
    for s in range(n_shards):
        count = base + (1 if s < extra else 0)
        shards.append(tuple(layers[first:first + count]))
        first += count
    return shards


def _sha256(path: str | Path, what: str) -> str:
    from engine.files.hashing import sha256_of

    try:
        return sha256_of(path)
    except OSError as exc:
        raise UnitscopeError(f"{what} '{path}' could not be read: {exc.strerror or exc}.") from None


def images_sha256(job) -> str:
    """The SHA-256 of the job's image files: each one's path and the SHA-256 of its contents, in order."""
    digest = hashlib.sha256()
    for path in job.images:
        digest.update(f"{path}\0{_sha256(path, 'Image')}\n".encode())
    return digest.hexdigest()


def inputs_of(job) -> dict:
    """What the store keeps of the job's inputs: the responses file and its SHA-256, and the
    SHA-256 of the images (:func:`images_sha256`)."""
    return {"responses": job.responses, "responses_sha256": _sha256(job.responses, "Responses file"),
            "images_sha256": images_sha256(job)}


def check_inputs(store: JobStore, images_only: bool = False) -> None:
    """Refuse, in one line, a job whose responses file or images changed since it was submitted.

    ``images_only``: what a shard checks (it reads the images, never the responses: the
    store holds the means and ceilings it needs).
    """
    job = JobFile.from_dict(store.attrs["job"]).job
    then = store.attrs["inputs"]
    if not images_only:
        now = _sha256(job.responses, "Responses file")
        if now != then["responses_sha256"]:
            raise UnitscopeError(f"The responses file '{job.responses}' has changed since the job in '{store.dir}' "
                                 f"was submitted (SHA-256 {then['responses_sha256'][:12]}… then, {now[:12]}… now): "
                                 "its layers would be scored against other responses; submit the job file into a "
                                 "new folder.")
    if images_sha256(job) != then["images_sha256"]:
        raise UnitscopeError(f"The images of the job in '{store.dir}' have changed since it was submitted (their "
                             "SHA-256 differs): its layers would be scored on other images; submit the job file "
                             "into a new folder.")


def prepare(job_dir: str | Path, job_file: JobFile, n_shards: int | None, session=None) -> JobStore:
    """The store of predict job ``job_file`` cut into ``n_shards`` in ``job_dir``: made, or
    reopened when it holds the same job on the same inputs (then ``n_shards`` None or equal);
    another job, or the same one on changed inputs, is refused.

    ``session`` (the open model) names the main stages of a job that names no layers and
    checks the layers exist (without it, the shards do).
    """
    job_file = canonical_job(job_file, session)
    job_dir = Path(job_dir)
    if session is not None:
        session.recorder.resolve(list(job_file.job.layers))
    if (job_dir / STORE).exists():
        store = JobStore.reopen(job_dir, job_file.to_dict(), n_shards)
        check_inputs(store)
        return store
    if n_shards is None:
        raise UnitscopeError("--shards is needed for a new job.")
    job = job_file.job
    shards = layer_shards(list(job.layers), n_shards)
    inputs = inputs_of(job)  # hashed before they are read: a file changed meanwhile is refused later, never kept
    data, stimuli, _ = job.checked_inputs()  # the responses read, every stimulus matched to its image or grating
    neurons = job.neurons(data, stimuli)
    ceiling = neurons.ceiling

    def fill(root, folder: Path) -> dict:
        arrays = {"mean": neurons.mean, "rdm": np.array([ceiling.rdm_reliability, ceiling.rdm_ceiling])}
        arrays.update({name: getattr(ceiling, field) for name, field in CEILING_ARRAYS.items()})
        arrays.update({name: getattr(neurons.tuning, field) for name, field in TUNING_ARRAYS.items()})
        for name, value in arrays.items():
            value = np.asarray(value)
            root.create_array(f"{NEURONS}/{name}", data=value, chunks=value.shape)
        root.create_group(LAYERS)
        keys = [f"{NEURONS}/{key}" for key in files_under(folder / NEURONS)]
        return {"neurons_files": file_sums(folder, keys)}

    return JobStore.create(job_dir, {
        "job": job_file.to_dict(), "stimuli": list(data.stimuli), "n_stimuli": data.n_stimuli,
        "neurons": list(data.neurons), "image_paths": stimuli.image_paths(), "shards": [list(s) for s in shards],
        "layers": list(job.layers), "inputs": inputs}, fill)


def neurons_of(store: JobStore):
    """The :class:`~engine.jobs.predict.Neurons` the submitter stored (the trial means, the
    :class:`~engine.analyses.predictivity.Ceiling` and the orientation tuning), each file
    checked against its SHA-256 first; the rows' grating table from their stored names."""
    from engine.analyses.neuron_tuning import OrientationTuning
    from engine.analyses.predictivity import Ceiling
    from engine.jobs.predict import Neurons
    from engine.neural.gratings import grating_table, gratings_of

    damage = changed_files(store.dir / STORE, store.attrs["neurons_files"], full=True)
    if damage:
        raise UnitscopeError(f"The job in '{store.dir}' is damaged: what its shards share ({STORE}/{NEURONS}) "
                             f"changed since it was submitted ({damage}); submit the job file into a new folder.")
    arrays = {name: store.array(f"{NEURONS}/{name}")[...]
              for name in ("mean", "rdm", *CEILING_ARRAYS, *TUNING_ARRAYS)}
    rdm = arrays.pop("rdm")
    ceiling = Ceiling(**{field: arrays[name] for name, field in CEILING_ARRAYS.items()},
                      rdm_reliability=float(rdm[0]), rdm_ceiling=float(rdm[1]))
    tuning = OrientationTuning(**{field: arrays[name] for name, field in TUNING_ARRAYS.items()})
    return Neurons(arrays["mean"], ceiling, grating_table(gratings_of(store.attrs["stimuli"])), tuning)
