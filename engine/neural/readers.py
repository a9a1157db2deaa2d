"""Reading neural responses from a file, chosen by its suffix.

``.npz``, ``.h5``/``.hdf5``, ``.mat``
    Arrays ``responses`` (stimuli x neurons, or stimuli x neurons x repeats; NaN for a
    missing trial) and ``stimuli`` (one name per row: image file names or protocol labels);
    optionally ``neurons`` (one name per neuron).
``.csv``
    Long form, one trial per line, with a header naming the columns ``stimulus``,
    ``neuron``, ``repeat``, ``response`` (in any order; ``repeat`` may be left out for
    one trial each).  Rows keep the order stimuli first appear in; an empty response or
    ``nan`` is a missing trial.
``.nwb``
    Neurodata Without Borders (:mod:`engine.neural.nwb`): spike counts of the units table
    in a window after each stimulus presentation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.neural.responses import NeuralResponses, checked

SUFFIXES = (".npz", ".h5", ".hdf5", ".mat", ".csv", ".nwb")
#: The window after stimulus onset (ms) NWB spikes are counted in when none is given.
DEFAULT_WINDOW_MS = (50.0, 200.0)


def parse_window(text: str) -> tuple[float, float]:
    """``"50:200"`` -> ``(50.0, 200.0)`` milliseconds after onset."""
    try:
        a, b = (float(x) for x in text.split(":"))
    except ValueError:
        raise UnitscopeError(f"Window '{text}' must be START:END in ms after onset, e.g. 50:200.") from None
    if not (np.isfinite(a) and np.isfinite(b)) or b <= a:
        raise UnitscopeError(f"Window '{text}' must end after it starts (START:END in ms, e.g. 50:200).")
    return a, b


def read_responses(path: str | Path, window_ms: tuple[float, float] | None = None) -> NeuralResponses:
    """The responses in ``path`` (see the module docstring); ``window_ms`` is for NWB files."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UnitscopeError(f"Responses file '{path.name}': unknown type '{suffix or '(none)'}' "
                             f"(use {', '.join(SUFFIXES)}).")
    if not path.is_file():
        raise UnitscopeError(f"Responses file '{path}' does not exist.")
    if window_ms is not None and suffix != ".nwb":
        raise UnitscopeError(f"--window counts spikes in NWB files; '{path.name}' holds responses already.")
    try:
        if suffix == ".nwb":
            from engine.neural.nwb import read_nwb

            return read_nwb(path, window_ms or DEFAULT_WINDOW_MS)
        if suffix == ".csv":
            return _read_csv(path)
        arrays = {".npz": _read_npz, ".mat": _read_mat}.get(suffix, _read_h5)(path)
    except UnitscopeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnitscopeError(f"Responses file '{path.name}' could not be read: {exc}.") from None
    for key in ("responses", "stimuli"):
        if key not in arrays:
            raise UnitscopeError(f"Responses file '{path.name}' has no array '{key}' "
                                 f"(found: {', '.join(sorted(arrays)) or 'none'}).")
    return checked(arrays["responses"], arrays["stimuli"], arrays.get("neurons"), str(path))


def _read_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _read_h5(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}


def _read_mat(path: Path) -> dict:
    from scipy.io import loadmat

    data = loadmat(path, squeeze_me=False)
    out = {k: v for k, v in data.items() if not k.startswith("__")}
    for key in ("stimuli", "neurons"):  # a cell array of names, a char matrix or numbers
        if key in out:
            v = out[key]
            if v.dtype.kind == "U" and v.ndim == 2 and v.shape[0] > 1:
                v = np.array([row.strip() for row in v])  # char matrix: one name per row
            elif v.dtype.kind == "U":
                v = np.array([str(x).strip() for x in v.reshape(-1)])
            out[key] = v.reshape(-1)
    return out


def _read_csv(path: Path) -> NeuralResponses:
    where = f"Responses file '{path.name}'"
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise UnitscopeError(f"{where} is not UTF-8 text.") from None
    if not rows:
        raise UnitscopeError(f"{where} is empty.")
    header = [h.strip().lower() for h in rows[0]]
    need = ("stimulus", "neuron", "response")
    missing = [c for c in need if c not in header]
    if missing:
        raise UnitscopeError(f"{where}: the header must name the columns stimulus, neuron, repeat, response "
                             f"(missing: {', '.join(missing)}).")
    col = {name: header.index(name) for name in (*need, "repeat") if name in header}
    stimuli: dict[str, int] = {}
    neurons: dict[str, int] = {}
    trials: dict[tuple[int, int], dict[str, float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise UnitscopeError(f"{where}, line {line}: {len(row)} columns, the header has {len(header)}.")
        s = stimuli.setdefault(row[col["stimulus"]].strip(), len(stimuli))
        n = neurons.setdefault(row[col["neuron"]].strip(), len(neurons))
        repeat = row[col["repeat"]].strip() if "repeat" in col else "0"
        text = row[col["response"]].strip()
        try:
            value = float(text) if text else float("nan")
        except ValueError:
            raise UnitscopeError(f"{where}, line {line}: response '{text}' is not a number.") from None
        cell = trials.setdefault((s, n), {})
        if repeat in cell:
            raise UnitscopeError(f"{where}, line {line}: stimulus '{row[col['stimulus']].strip()}', neuron "
                                 f"'{row[col['neuron']].strip()}', repeat '{repeat}' is given twice.")
        cell[repeat] = value
    if not trials:
        raise UnitscopeError(f"{where} has a header but no responses.")
    repeats = max(len(cell) for cell in trials.values())
    r = np.full((len(stimuli), len(neurons), repeats), np.nan)
    for (s, n), cell in trials.items():
        for k, key in enumerate(sorted(cell, key=_repeat_key)):
            r[s, n, k] = cell[key]
    return checked(r, list(stimuli), list(neurons), str(path))


def _repeat_key(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)
