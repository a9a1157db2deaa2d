"""The sidecar of a figure: how to draw it again, headless and bit for bit.

``fig.pdf`` gets ``fig.pdf.json``::

    {"format": "unitscope-figure/1", "figure": "fig.pdf", "kind": "mosaic",
     "options": {...}, "meta": {...}, "jobs": [job files], "provenance": {...},
     "data": "fig.pdf.data.npz", "caption": "..."}

and ``fig.pdf.data.npz`` with the arrays drawn (no pickle).  ``jobs`` are the job files
that made the data: ``unitscope run`` reproduces the numbers, ``unitscope methods``
describes them, ``unitscope figure fig.pdf.json --out again.png`` draws the figure again.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.files.reading import RESULT_LIMIT, check_regular
from engine.figures.style import FigureOptions

FORMAT = "unitscope-figure/1"


def sidecar_path(figure: str | Path) -> Path:
    figure = Path(figure)
    return figure.with_name(figure.name + ".json")


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_sidecar(figure: str | Path, data: FigureData, options: FigureOptions, caption: str = "") -> Path:
    """Write ``figure``'s sidecar JSON (with its caption) and its data file; return the JSON's path."""
    from engine.files.atomic import atomic_write, atomic_write_text

    figure = Path(figure)
    side = sidecar_path(figure)
    data_file = figure.with_name(figure.name + ".data.npz")

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, arr in data.arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)

    atomic_write(data_file, write)
    record = {"format": FORMAT, "figure": figure.name, "kind": data.kind, "options": options.to_dict(),
              "meta": _plain(data.meta), "jobs": _plain(data.jobs), "provenance": _plain(data.provenance),
              "data": data_file.name, "caption": caption}
    return atomic_write_text(side, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def is_sidecar(path: str | Path) -> bool:
    """Whether ``path`` is a figure sidecar (a JSON file whose format is ``unitscope-figure/1``)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and head.get("format") == FORMAT


def read_sidecar(path: str | Path) -> tuple[FigureData, FigureOptions]:
    """The data and options a sidecar describes."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        check_regular(path.with_name(str(record["data"])), "The sidecar's data file", RESULT_LIMIT)
        with np.load(path.with_name(record["data"]), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise UnitscopeError(f"Figure sidecar '{path.name}' could not be read: {exc}.") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UnitscopeError(f"'{path.name}' is not a figure sidecar (expected \"format\": \"{FORMAT}\").")
    for key, kind in (("options", dict), ("meta", dict), ("jobs", list), ("provenance", dict)):
        if not isinstance(record.get(key, kind()), kind):
            raise UnitscopeError(f"Figure sidecar '{path.name}': \"{key}\" must be "
                                 f"{'an object' if kind is dict else 'a list'}, not {json.dumps(record[key])[:40]}.")
    check_arrays(path.name, str(record.get("kind")), arrays)
    data = FigureData(record["kind"], arrays, record.get("meta", {}), record.get("jobs", []),
                      record.get("provenance", {}))
    return data, FigureOptions.from_dict(record.get("options", {}))


#: The dimensions of the arrays each figure kind draws (the others are only checked to be finite).
SHAPES = {"mosaic": {"values": (1, 2, 3)}, "tuning": {"x": (1,), "f0": (1,), "f1": (1,)},
          "population": {"rdm": (2,), "scores": (2,)}, "unit": {"map": (2,)}, "rdm": {"rdm": (2,)}}


#: Kinds whose data mark a missing value as NaN (a unit without that property, a layer not scored).
MISSING_AS_NAN = {"properties", "layer_sweep", "neuron_unit", "unit_card", "tuning"}


def check_arrays(name: str, kind: str, arrays: dict) -> None:
    """Refuse a sidecar's arrays that are not real, finite numbers of the dimensions its kind draws."""
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise UnitscopeError(f"Figure sidecar '{name}': array '{key}' holds {array.dtype} values, "
                                 "not real numbers.")
        if array.dtype.kind == "f" and not np.isfinite(array).all() and not (
                kind in MISSING_AS_NAN and not np.isinf(array).any()):
            raise UnitscopeError(f"Figure sidecar '{name}': array '{key}' holds NaN or infinite values.")
    for key, dims in SHAPES.get(kind, {}).items():
        if key in arrays and arrays[key].ndim not in dims:
            raise UnitscopeError(f"Figure sidecar '{name}': array '{key}' of a {kind} figure has shape "
                                 f"{arrays[key].shape}; expected {' or '.join(f'{d}-D' for d in dims)}.")
    if kind == "tuning" and all(k in arrays for k in ("x", "f0", "f1")):
        if not len(arrays["x"]) == len(arrays["f0"]) == len(arrays["f1"]):
            raise UnitscopeError(f"Figure sidecar '{name}': the tuning curve's x, f0 and f1 differ in length.")
    for key in ("rdm",):
        if key in arrays and arrays[key].ndim == 2 and arrays[key].shape[0] != arrays[key].shape[1]:
            raise UnitscopeError(f"Figure sidecar '{name}': the RDM has shape {arrays[key].shape}; it must be square.")
