"""One validation layer for job and model values, shared by the command line and files (torch-free).

:func:`engine.session.job.from_fields` checks every value it reads from a job, session or
result file here, and :meth:`engine.session.session.Session.run` checks every job before it
runs (the command line and the window build jobs from their own arguments), so a value
that the command line refuses is refused from a file too, with one line naming it:
whole numbers within their field's range (no ``k: 10**12`` reaching an allocation, no
seed beyond 64 bits), finite floats, layer names that are not empty, devices that hold
data, summaries of a size that fits in memory.
"""

from __future__ import annotations

import dataclasses
import math
import re

from engine.errors import UnitscopeError

DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,4})?")
MEMORY_FORMATS = ("contiguous", "channels_last", "auto")
SEED_MOST = 2**63 - 1
INT_MOST = 2**63 - 1  # any whole number in a job (JSON has no limit)

#: Whole-number fields and their range, by name (the same name means the same thing in every job).
INT_RANGES = {
    "k": (1, 100_000),
    "batch_size": (1, 65_536),
    "orientations": (1, 3_600),
    "phases": (1, 3_600),
    "size_phases": (1, 3_600),
    "chunk": (1, 1_000_000),
    "steps": (1, 10_000_000),
    "every": (1, 10_000_000),
    "images": (1, INT_MOST),  # visualize: its memory is estimated before anything is allocated
    "size": (1, 16_384),
    "noise_frames": (1, 1_000_000),
    "grid": (1, 4_096),
    "n_on": (1, 1_000_000),
    "units": (1, INT_MOST),
    "seed": (0, SEED_MOST),
    "workers": (0, 1_024),
    "channel": (0, INT_MOST),
    "y": (0, INT_MOST),
    "x": (0, INT_MOST),
    "start": (0, INT_MOST),
    "stop": (0, INT_MOST),
    "channels": (0, INT_MOST),
}
#: Float fields that may not be negative.
NON_NEGATIVE = ("diversity", "rel_threshold")
#: Float fields that are a probability strictly between 0 and 1.
PROBABILITIES = ("fdr",)
#: Fields that name a layer (a string, or a tuple of them).
LAYER_FIELDS = ("layer", "layer_b", "layers")
#: ``grid:G`` and ``project:D`` summaries: the largest G and D.
GRID_MOST = 1_024
PROJECT_MOST = 1_000_000


def device(text) -> str:
    """``text`` as a device name the engine can run on (auto, cpu, cuda, cuda:N, mps).

    Whether it exists on this machine is checked when the model is opened; ``meta`` and
    other torch devices that hold no data are refused here.
    """
    name = text.strip().lower() if isinstance(text, str) else ""
    if not _DEVICE.fullmatch(name):
        raise ValueError(f"'{text}' is not a device unitscope can run on; use {DEVICES}")
    return name


def layer(text, output: bool = False) -> str:
    """``text`` as a layer name: a string that is not empty (``NAME`` or ``NAME#k``); with
    ``output``, ``""`` too, the model's output (the window's root row)."""
    if not isinstance(text, str) or not (text.strip() or (output and text == "")):
        raise ValueError("a layer name cannot be empty")
    return text


def summary(text) -> str:
    """``text`` as a summary (``raw``, ``mean``, ``max``, ``centre``, ``grid:G``, ``project:D``)."""
    name, _, arg = str(text).strip().lower().partition(":")
    name = {"center": "centre", "projection": "project"}.get(name, name)
    if name in ("raw", "mean", "max", "centre") and not arg:
        return text
    most = {"grid": GRID_MOST, "project": PROJECT_MOST}.get(name)
    if most is not None and arg.isdigit():
        value = int(arg)
        if 1 <= value <= most:
            return text
        raise ValueError(f"summary '{text}': {name} takes {'G' if name == 'grid' else 'D'} from 1 to {most:,}, "
                         f"not {value:,}")
    raise ValueError(f"unknown summary '{text}'; use one of raw, mean, max, centre, grid:G, project:D")


def value(name: str, item, where: str, output: bool = False):
    """Check one field's value (already of its declared type); raise :class:`UnitscopeError` naming it.
    ``output``: an empty layer name is the model's output (see :func:`job`)."""
    try:
        _check(name, item, output)
    except ValueError as exc:
        raise UnitscopeError(f"{where}: {exc}.") from None
    return item


def _check(name: str, item, output: bool = False) -> None:
    if isinstance(item, (list, tuple)):
        if name in LAYER_FIELDS:
            for entry in item:
                layer(entry, output)
            return
        if name == "summaries":
            for entry in item:
                summary(entry)
            return
        for entry in item:
            _check(name, entry, output)
        return
    if isinstance(item, bool) or item is None:
        return
    if isinstance(item, int):
        least, most = INT_RANGES.get(name, (-INT_MOST, INT_MOST))
        if not least <= item <= most:
            raise ValueError(f"{item:,} is out of range ({least:,} to {most:,})" if abs(item) < 10**30
                             else f"{str(item)[:20]}… is out of range ({least:,} to {most:,})")
        return
    if isinstance(item, float):
        if not math.isfinite(item):
            raise ValueError(f"{item} is not a finite number")
        if name in NON_NEGATIVE and item < 0:
            raise ValueError(f"{item} must be 0 or more")
        if name in PROBABILITIES and not 0 < item < 1:
            raise ValueError(f"{item} must lie between 0 and 1")
        return
    if isinstance(item, str):
        if name in LAYER_FIELDS:
            layer(item, output)
        elif name == "device":
            device(item)
        elif name == "memory_format" and item not in MEMORY_FORMATS:
            raise ValueError(f"'{item}' is not one of {', '.join(MEMORY_FORMATS)}")
        elif name == "spec" and not item.strip():
            raise ValueError("a model cannot be empty")


def fields(obj, where: str, output: bool = False) -> None:
    """Check every field of dataclass ``obj`` (a job, a model spec, a unit), nested ones too."""
    for f in dataclasses.fields(obj):
        item = getattr(obj, f.name)
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            fields(item, f"{where}.{f.name}", output)
        elif isinstance(item, (list, tuple)) and any(dataclasses.is_dataclass(i) for i in item):
            for entry in item:
                if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
                    fields(entry, f"{where}.{f.name}", output)
        else:
            value(f.name, item, f"{where}.{f.name}", output)


def job(item, output: bool = False) -> None:
    """Check a job's values before it runs (see the module docstring).

    ``output``: an empty layer name is the model's output, as the window's root row names it
    (a job built in the window from the clicked row, not read from a file or typed)."""
    fields(item, f"job '{getattr(item, 'kind', type(item).__name__)}'", output)
