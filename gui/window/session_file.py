"""Saved sessions (``.unitscope.json``): reopen the window as it was, from plain JSON.

A session holds the model (:class:`engine.session.values.ModelSpec`: weights path with
its SHA-256, or the random-weights seed), the layer, the inputs in the strip and the one
shown, the feature-map display, the pinned units and the last job of every analysis view.
Reopening it opens the same model (a weights file that is missing or changed is reported,
never silently replaced), records the same layer for the same input and runs every saved
job again, so the views show the same numbers.  Torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_text
from engine.recording.unit import Unit
from engine.session.job import from_fields, job_from_dict, job_to_dict, to_json
from engine.session.values import ModelSpec, Stimulus

FORMAT = "unitscope-session/1"
SUFFIX = ".unitscope.json"


@dataclass
class SavedSession:
    """What a session file holds, parsed and checked."""

    model: ModelSpec
    layer: str | None = None
    inputs: list[Stimulus] = field(default_factory=list)
    shown_input: Stimulus | None = None
    display: dict = field(default_factory=dict)
    pinned: list[Unit] = field(default_factory=list)
    jobs: dict = field(default_factory=dict)  # view name -> job

    def to_dict(self) -> dict:
        return {"format": FORMAT, "model": to_json(self.model), "layer": self.layer,
                "inputs": to_json(self.inputs),
                "shown_input": to_json(self.shown_input) if self.shown_input else None,
                "display": dict(self.display), "pinned": to_json(self.pinned),
                "jobs": {name: job_to_dict(job) for name, job in self.jobs.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> SavedSession:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UnitscopeError(f"not a Unitscope session (expected \"format\": \"{FORMAT}\")")
        shown = data.get("shown_input")
        layer = data.get("layer")
        if layer is not None and (not isinstance(layer, str) or not layer.strip()):
            raise UnitscopeError(f"layer: {json.dumps(layer)[:60]} is not a layer name")
        inputs, pinned, jobs = (_of_type(data, "inputs", list, []), _of_type(data, "pinned", list, []),
                                _of_type(data, "jobs", dict, {}))
        for name, job in jobs.items():
            if not isinstance(job, dict):
                raise UnitscopeError(f"jobs.{name}: expected a job (an object with a 'kind'), got "
                                     f"{json.dumps(job)[:60]}")
        return cls(model=from_fields(ModelSpec, data.get("model"), "model"),
                   layer=layer,
                   inputs=[from_fields(Stimulus, s, "inputs") for s in inputs],
                   shown_input=from_fields(Stimulus, shown, "shown_input") if shown else None,
                   display=_of_type(data, "display", dict, {}),
                   pinned=[from_fields(Unit, u, "pinned") for u in pinned],
                   jobs={name: job_from_dict(job) for name, job in jobs.items()})


def _of_type(data: dict, key: str, kind: type, empty):
    """``data[key]`` if it is a ``kind`` (None or missing: ``empty``), else one line naming it."""
    found = data.get(key)
    if found is None:
        return type(empty)()
    if not isinstance(found, kind):
        want = "a list" if kind is list else "an object"
        raise UnitscopeError(f"{key}: expected {want}, got {json.dumps(found)[:60]}")
    return kind(found)


def save_session(path: str | Path, session: SavedSession) -> Path:
    """Write ``session`` as JSON, atomically (an older file stays whole if this fails)."""
    return atomic_write_text(path, json.dumps(session.to_dict(), indent=2) + "\n")


def read_session(path: str | Path) -> SavedSession:
    """Read a session file; :class:`UnitscopeError` names the file and what is wrong."""
    from engine.files.reading import read_json

    path = Path(path)
    data = read_json(path, "Session")  # a regular file (never a FIFO) of bounded size
    try:
        return SavedSession.from_dict(data)
    except UnitscopeError as exc:
        raise UnitscopeError(f"Session '{path.name}': {exc}") from None
