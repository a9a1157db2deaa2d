"""A job's result on disk, with the job that made it and its provenance.

``.npz``: every array field of the last snapshot as an array (a list or dict of arrays as
``name.0``, ``name.1`` ..., a dict's keys kept in ``__result__``), the other fields as JSON in ``__result__``, the job file in
``__job__`` and the provenance in ``__provenance__`` (0-d unicode arrays: no pickle).  A job
that names its arrays itself (``job.named_result(fields)``, e.g. the summaries job's
``layer1/mean``, ``layer1/top/indices``) has them under those names, its table in
``__result__["__named__"]``, read back by ``job.fields_from_named``.
``.json``: one object ``{"job": ..., "result": ..., "provenance": ...}``.
Either way ``unitscope run RESULT`` runs the embedded job again.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write, atomic_write_text
from engine.session.job import JobFile, to_json

RESULT_SUFFIXES = (".npz", ".json")


def _plain(value):
    """Tensors as NumPy arrays (a record job's output stays a tensor until written)."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def result_fields(snapshot) -> dict:
    """A snapshot's fields as plain values (arrays stay arrays; display-only fields left out)."""
    return {f.name: _plain(getattr(snapshot, f.name)) for f in dataclasses.fields(snapshot)
            if f.metadata.get("saved", True)}


def _array_leaves(value, path: tuple = ()) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """The arrays of a non-empty dict of dicts of arrays with their key paths ([] for anything else)."""
    if isinstance(value, np.ndarray) and path:
        return [(path, value)]
    if not isinstance(value, dict) or not value:
        return []
    leaves = []
    for key, item in value.items():
        below = _array_leaves(item, (*path, str(key)))
        if not below:
            return []
        leaves += below
    return leaves


def write_result(path: str | Path, job_file: JobFile, snapshot, provenance: dict) -> Path:
    """Write ``snapshot`` (a job's last one) with its job and provenance, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in RESULT_SUFFIXES:
        raise UnitscopeError(f"Output '{path}' must end in {' or '.join(RESULT_SUFFIXES)}.")
    fields = result_fields(snapshot)
    job_json = json.dumps(job_file.to_dict())
    if suffix == ".json":
        text = json.dumps({"job": job_file.to_dict(), "kind": job_file.job.kind, "result": to_json(fields),
                           "provenance": to_json(provenance)}, indent=1)
        return atomic_write_text(path, text + "\n")
    arrays: dict[str, np.ndarray] = {}
    rest = {}
    if hasattr(job_file.job, "named_result"):  # arrays that say what they hold, as the job names them
        arrays, table, fields = job_file.job.named_result(fields)
        rest["__named__"] = table
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            arrays.update({f"{name}.{i}": v for i, v in enumerate(value)})
            rest[name] = {"arrays": len(value)}
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            arrays.update({f"{name}.{i}": v for i, v in enumerate(value.values())})
            rest[name] = {"array_keys": [str(k) for k in value]}
        elif leaves := _array_leaves(value):  # e.g. layer -> reduction -> array
            arrays.update({f"{name}.{i}": v for i, (_, v) in enumerate(leaves)})
            rest[name] = {"array_paths": [list(path) for path, _ in leaves]}
        else:
            rest[name] = to_json(value)
    entries = {**arrays, "__result__": np.array(json.dumps(rest)), "__job__": np.array(job_json),
               "__provenance__": np.array(json.dumps(to_json(provenance)))}

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in entries.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)

    return atomic_write(path, write)


def load_job(path: str | Path) -> JobFile:
    """The job in a job file, or embedded in a result (``.npz`` or ``.json``)."""
    if Path(path).suffix.lower() == ".npz":
        return read_result(path)[0]
    return JobFile.load(path)


def read_result(path: str | Path) -> tuple[JobFile, dict, dict]:
    """The job, the result's fields and the provenance of a file :func:`write_result` wrote."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return JobFile.from_dict(data["job"]), data["result"], data.get("provenance", {})
        with np.load(path, allow_pickle=False) as npz:
            files = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise UnitscopeError(f"'{path.name}' is not a Unitscope result: {exc}.") from None
    if "__job__" not in files:
        raise UnitscopeError(f"'{path.name}' holds no job (was it written by 'unitscope run'?).")
    result = json.loads(str(files.pop("__result__")))
    job = JobFile.from_dict(json.loads(str(files.pop("__job__"))))
    provenance = json.loads(str(files.pop("__provenance__")))
    table = result.pop("__named__", None)
    if isinstance(table, dict) and hasattr(job.job, "fields_from_named"):
        try:
            result.update(job.job.fields_from_named(files, table))
        except (KeyError, TypeError, ValueError) as exc:
            raise UnitscopeError(f"'{path.name}' is not a whole Unitscope result: its arrays do not match their "
                                 f"table ({exc}).") from None
        for name in table:
            files.pop(name, None)
    for name, value in list(result.items()):
        if isinstance(value, dict) and set(value) == {"arrays"}:
            result[name] = [files.pop(f"{name}.{i}") for i in range(value["arrays"])]
        elif isinstance(value, dict) and set(value) == {"array_keys"}:
            result[name] = {key: files.pop(f"{name}.{i}") for i, key in enumerate(value["array_keys"])}
        elif isinstance(value, dict) and set(value) == {"array_paths"}:
            nested: dict = {}
            for i, keys in enumerate(value["array_paths"]):
                node = nested
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = files.pop(f"{name}.{i}")
            result[name] = nested
    result.update(files)
    return job, result, provenance
