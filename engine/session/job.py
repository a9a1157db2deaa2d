"""Jobs: typed, serialisable values that run themselves on a session.

A job kind is a frozen dataclass registered with :func:`job_kind`.  It has

- ``describe() -> str``: what the status bar says while it runs;
- ``run(session, cancelled) -> Iterator[snapshot]``: the work, on an open
  :class:`engine.session.session.Session`; ``cancelled()`` is checked between batches.
  Every snapshot is a plain, torch-free value with ``done`` and ``total``; the last one
  is the result.

A :class:`JobFile` pairs a job with the :class:`~engine.session.values.ModelSpec` it runs
on: that is everything needed to reproduce it (``unitscope run JOB.json``).  This module
is torch-free, so the window can build and save jobs before torch has loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.errors import UnitscopeError
from engine.session.values import ModelSpec

#: Job kinds that come with Unitscope, and the module that defines each.
BUILT_IN = {
    "record": "engine.jobs.record",
    "tuning": "engine.jobs.tuning",
    "population": "engine.jobs.population",
    "comparison": "engine.jobs.comparison",
    "topk": "engine.jobs.topk",
    "probe": "engine.jobs.probe",
    "receptive_field": "engine.jobs.receptive_field",
    "protocol_responses": "engine.jobs.protocol_responses",
    "rdm": "engine.jobs.rdm",
    "record_images": "engine.jobs.record_images",
    "topk_ranking": "engine.jobs.topk_ranking",
    "summaries": "engine.jobs.summaries",
    "visualize": "engine.jobs.visualize",
    "evidence": "engine.jobs.evidence",
    "properties": "engine.jobs.properties",
    "predict": "engine.jobs.predict",
}
#: Job kinds defined outside ``engine/jobs`` (on top of a layer above it), and their module.
ELSEWHERE = {kind: "engine.cluster.results"
             for kind in ("cluster_topk", "cluster_tuning", "cluster_protocol", "cluster_population")}
FORMAT = "unitscope-job/1"

_KINDS: dict[str, type] = {}


class Job(Protocol):
    """What every job kind provides (see the module docstring)."""

    kind: typing.ClassVar[str]

    def describe(self) -> str: ...

    def run(self, session, cancelled) -> typing.Iterator[Any]: ...


def job_kind(name: str):
    """Class decorator: register a job dataclass under ``name`` (its ``kind``)."""
    def register(cls):
        cls.kind = name
        _KINDS[name] = cls
        return cls
    return register


def job_class(kind: str) -> type:
    """The job class registered as ``kind`` (built-in kinds are imported on first use)."""
    home = BUILT_IN.get(kind) or ELSEWHERE.get(kind)
    if kind not in _KINDS and home:
        importlib.import_module(home)
    if kind not in _KINDS:
        known = ", ".join(sorted(set(_KINDS) | set(BUILT_IN) | set(ELSEWHERE)))
        raise UnitscopeError(f"Unknown job kind '{kind}' (known: {known}).")
    return _KINDS[kind]


# --- JSON ---------------------------------------------------------------------------------

def to_json(value):
    """A dataclass, tuple, NumPy value ... as JSON-ready Python (fields marked unsaved left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("saved", True)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    return value


def from_json(tp, value, where: str):
    """``value`` (parsed JSON) as the type ``tp``; ``where`` names it in error messages."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return from_json(arg, value, where)
                except UnitscopeError:
                    continue
        raise UnitscopeError(f"{where}: {value!r} is not a {tp}.")
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise UnitscopeError(f"{where}: expected a list, got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v, where) for v in value)
        if args and len(args) != len(value):
            raise UnitscopeError(f"{where}: expected {len(args)} values, got {len(value)}.")
        return tuple(from_json(a, v, where) for a, v in zip(args, value)) if args else tuple(value)
    if origin is list or tp is list:
        return [from_json(args[0], v, where) for v in value] if args else list(value)
    if origin is dict or tp is dict:
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_fields(tp, value, where)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise UnitscopeError(f"{where}: {value!r} is not a {getattr(tp, '__name__', tp)}.")


def from_fields(cls, data, where: str):
    """Build dataclass ``cls`` from a dict of its saved fields, naming what is wrong."""
    if not isinstance(data, dict):
        raise UnitscopeError(f"{where}: expected an object, got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("saved", True)}
    unknown = sorted(set(data) - set(fields) - {"kind"})
    if unknown:
        raise UnitscopeError(f"{where}: unknown field(s) {', '.join(unknown)}.")
    values = {name: from_json(hints[name], data[name], f"{where}.{name}") for name in fields if name in data}
    try:
        return cls(**values)
    except TypeError as exc:
        raise UnitscopeError(f"{where}: {exc}.") from None


def job_to_dict(job) -> dict:
    """A job as a JSON-ready dict, its kind first."""
    return {"kind": job.kind, **to_json(job)}


def job_from_dict(data: dict):
    """The job a :func:`job_to_dict` dict describes."""
    if not isinstance(data, dict) or "kind" not in data:
        raise UnitscopeError("A job must be an object with a 'kind'.")
    cls = job_class(data["kind"])
    return from_fields(cls, data, f"job '{data['kind']}'")


@dataclass(frozen=True)
class JobFile:
    """A job with the model it runs on: all that is needed to reproduce its result."""

    model: ModelSpec
    job: Any

    def to_dict(self) -> dict:
        return {"format": FORMAT, "model": to_json(self.model), "job": job_to_dict(self.job)}

    @classmethod
    def from_dict(cls, data: dict) -> JobFile:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UnitscopeError(f"Not a Unitscope job (expected \"format\": \"{FORMAT}\").")
        return cls(from_fields(ModelSpec, data.get("model"), "model"), job_from_dict(data.get("job")))

    def save(self, path: str | Path) -> Path:
        """Write the job as JSON (atomically)."""
        from engine.files.atomic import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> JobFile:
        """Read a job file, or the job embedded in a ``.json`` result
        (:func:`engine.session.results.load_job` reads ``.npz`` results too)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UnitscopeError(f"Job file '{path}' could not be read: {exc.strerror or exc}.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnitscopeError(f"Job file '{path}' is not valid JSON: {exc}.") from None
        if isinstance(data, dict) and "job" in data and isinstance(data["job"], dict) and "format" in data["job"]:
            data = data["job"]  # a result file: its job is embedded
        try:
            return cls.from_dict(data)
        except UnitscopeError as exc:
            raise UnitscopeError(f"Job file '{path.name}': {exc}") from None
