"""Responses from a Neurodata Without Borders file (pynwb, the ``neural`` extra).

The file's units table gives each neuron's spike times; a table of stimulus presentation
intervals (``intervals/<any>`` or ``trials``) gives each presentation's onset
(``start_time``) and its stimulus, in a column named ``stimulus``, ``stimulus_name``,
``image``, ``image_name`` or ``image_file``.  A neuron's response to a presentation is its
spike count in ``[onset + start, onset + end)`` (the window in ms); the presentations of a
stimulus are its repeats, in time order (NaN where a stimulus was shown fewer times).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.neural.responses import NeuralResponses, checked

STIMULUS_COLUMNS = ("stimulus", "stimulus_name", "image", "image_name", "image_file")


def read_nwb(path: str | Path, window_ms: tuple[float, float]) -> NeuralResponses:
    """Spike counts per stimulus presentation, as ``stimuli x units x presentations``."""
    path = Path(path)
    where = f"NWB file '{path.name}'"
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise UnitscopeError(f"{where}: reading NWB needs pynwb (pip install 'unitscope[neural]').") from None
    try:
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            if nwb.units is None or len(nwb.units) == 0:
                raise UnitscopeError(f"{where} has no units table (spike-sorted neurons) to count spikes from.")
            units = nwb.units
            ids = [str(i) for i in units.id[:]]
            spikes = [np.sort(np.asarray(units["spike_times"][i], dtype=float)) for i in range(len(ids))]
            onsets, names = _presentations(nwb, where)
    except UnitscopeError:
        raise
    except Exception as exc:  # pynwb/hdmf raise many kinds for a damaged or foreign file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnitscopeError(f"{where} could not be read: {first}.") from None
    a, b = window_ms[0] / 1000.0, window_ms[1] / 1000.0
    order: dict[str, list[int]] = {}
    for i in np.argsort(onsets, kind="stable"):
        order.setdefault(names[i], []).append(int(i))
    stimuli = sorted(order, key=lambda s: order[s][0])  # first shown first
    repeats = max(len(v) for v in order.values())
    counts = np.full((len(stimuli), len(ids), repeats), np.nan)
    for n, times in enumerate(spikes):
        lo = np.searchsorted(times, onsets + a, side="left")
        hi = np.searchsorted(times, onsets + b, side="left")
        per = (hi - lo).astype(float)
        for s, name in enumerate(stimuli):
            counts[s, n, :len(order[name])] = per[order[name]]
    return checked(counts, stimuli, ids, str(path))


def _presentations(nwb, where: str) -> tuple[np.ndarray, list[str]]:
    tables = dict(nwb.intervals or {})
    if nwb.trials is not None:
        tables.setdefault("trials", nwb.trials)
    for name, table in tables.items():
        column = next((c for c in STIMULUS_COLUMNS if c in table.colnames), None)
        if column is None:
            continue
        onsets = np.asarray(table["start_time"][:], dtype=float)
        labels = [_label(v) for v in table[column][:]]
        if len(onsets) == 0:
            raise UnitscopeError(f"{where}: the intervals table '{name}' has no presentations.")
        if not np.all(np.isfinite(onsets)):
            raise UnitscopeError(f"{where}: the intervals table '{name}' has non-finite start times.")
        return onsets, labels
    raise UnitscopeError(f"{where} has no stimulus presentation intervals: an intervals table with a "
                         f"start_time and one of the columns {', '.join(STIMULUS_COLUMNS)}.")


def _label(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
