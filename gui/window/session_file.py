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
        return cls(model=from_fields(ModelSpec, data.get("model"), "model"),
                   layer=data.get("layer"),
                   inputs=[from_fields(Stimulus, s, "inputs") for s in data.get("inputs", [])],
                   shown_input=from_fields(Stimulus, shown, "shown_input") if shown else None,
                   display=dict(data.get("display") or {}),
                   pinned=[from_fields(Unit, u, "pinned") for u in data.get("pinned", [])],
                   jobs={name: job_from_dict(job) for name, job in (data.get("jobs") or {}).items()})


def save_session(path: str | Path, session: SavedSession) -> Path:
    """Write ``session`` as JSON, atomically (an older file stays whole if this fails)."""
    return atomic_write_text(path, json.dumps(session.to_dict(), indent=2) + "\n")


def read_session(path: str | Path) -> SavedSession:
    """Read a session file; :class:`UnitscopeError` names the file and what is wrong."""
    path = Path(path)
    try:
        return SavedSession.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise UnitscopeError(f"Session '{path.name}' could not be read: {exc.strerror or exc}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnitscopeError(f"Session '{path.name}' is not valid JSON: {exc}.") from None
    except UnitscopeError as exc:
        raise UnitscopeError(f"Session '{path.name}': {exc}") from None
