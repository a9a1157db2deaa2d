"""Neural responses: ``stimuli x neurons x repeats`` with every stimulus row named.

``NaN`` marks a missing trial (a stimulus shown fewer times than others); any other
non-finite value, a neuron with no response at all, names that do not fit the array or
stimuli that match no image file are refused with one line naming the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError


@dataclass(frozen=True)
class NeuralResponses:
    """Responses of recorded neurons to named stimuli.

    Attributes
    ----------
    responses : ndarray, float64, ``(stimuli, neurons, repeats)``
        NaN where a trial is missing.
    stimuli : list of str
        The stimulus of each row: an image file name (with or without its suffix, or a
        path ending in it) or a protocol parameter label.
    neurons : list of str
        A name per neuron (``"0"``, ``"1"``, ... where the file gives none).
    source : str
        The file they were read from (for messages and provenance).
    """

    responses: np.ndarray
    stimuli: list[str]
    neurons: list[str]
    source: str = ""

    @property
    def n_stimuli(self) -> int:
        return self.responses.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.responses.shape[1]

    @property
    def n_repeats(self) -> int:
        return self.responses.shape[2]

    def mean(self) -> np.ndarray:
        """The trial-averaged responses ``(stimuli, neurons)`` (missing trials left out)."""
        counts = np.sum(~np.isnan(self.responses), axis=2)
        return np.nansum(self.responses, axis=2) / np.maximum(counts, 1)

    def subset(self, rows: Sequence[int]) -> NeuralResponses:
        """The same neurons for the stimulus rows ``rows``, in that order."""
        rows = list(rows)
        return NeuralResponses(self.responses[rows], [self.stimuli[i] for i in rows], self.neurons, self.source)


def checked(responses, stimuli, neurons=None, source: str = "") -> NeuralResponses:
    """Validate arrays read from a file and make a :class:`NeuralResponses`.

    ``responses`` is ``(stimuli, neurons)`` or ``(stimuli, neurons, repeats)``.
    """
    where = f"Responses in '{Path(source).name}'" if source else "Responses"
    try:
        r = np.asarray(responses, dtype=np.float64)
    except (TypeError, ValueError):
        raise UnitscopeError(f"{where}: 'responses' is not a numeric array.") from None
    if r.ndim == 2:
        r = r[:, :, None]
    if r.ndim != 3:
        raise UnitscopeError(f"{where}: 'responses' must be stimuli x neurons (x repeats), got shape {r.shape}.")
    names = [_text(s) for s in np.asarray(stimuli, dtype=object).reshape(-1)]
    if len(names) != r.shape[0]:
        raise UnitscopeError(f"{where}: {len(names)} stimulus names for {r.shape[0]} response rows "
                             f"(shape {r.shape}); they must match.")
    if r.shape[0] < 1 or r.shape[1] < 1 or r.shape[2] < 1:
        raise UnitscopeError(f"{where}: no responses (shape {r.shape}).")
    if neurons is None:
        neurons = [str(i) for i in range(r.shape[1])]
    neurons = [_text(n) for n in np.asarray(neurons, dtype=object).reshape(-1)]
    if len(neurons) != r.shape[1]:
        raise UnitscopeError(f"{where}: {len(neurons)} neuron names for {r.shape[1]} neurons; they must match.")
    bad = np.isinf(r)
    if bad.any():
        s, n, k = np.argwhere(bad)[0]
        raise UnitscopeError(f"{where}: non-finite value {r[s, n, k]} at stimulus '{names[s]}', neuron "
                             f"'{neurons[n]}', repeat {k} ({int(bad.sum())} in all); only NaN (a missing "
                             "trial) is allowed.")
    empty = np.all(np.isnan(r), axis=(0, 2))
    if empty.any():
        which = [neurons[i] for i in np.flatnonzero(empty)]
        raise UnitscopeError(f"{where}: neuron(s) {some_names(which)} have no response (all NaN).")
    unseen = np.all(np.isnan(r), axis=(1, 2))
    if unseen.any():
        which = [names[i] for i in np.flatnonzero(unseen)]
        raise UnitscopeError(f"{where}: stimulus(es) {some_names(which)} have no response (all NaN).")
    seen: dict[str, int] = {}
    for name in names:
        if name in seen:
            raise UnitscopeError(f"{where}: stimulus '{name}' names two rows; give each row its own name.")
        seen[name] = 1
    return NeuralResponses(r, names, neurons, str(source))


def match_images(data: NeuralResponses, paths: Sequence[str | Path]) -> list[Path]:
    """The image file of every stimulus row, in row order.

    A stimulus matches a file by its name (``cat.png``), its stem (``cat``) or a path
    ending in it (``set1/cat.png``); a name matching no file, or several, is refused.
    """
    paths = [Path(p) for p in paths]
    by_name: dict[str, list[Path]] = {}
    for p in paths:
        for key in {p.name, p.stem}:
            by_name.setdefault(key, []).append(p)
    out, missing = [], []
    for name in data.stimuli:
        key = Path(name.replace("\\", "/"))
        found = by_name.get(key.name, [])
        if len(key.parts) > 1:  # a relative path: its tail must match
            found = [p for p in found if p.as_posix().endswith(key.as_posix())]
        if not found:
            missing.append(name)
        elif len(found) > 1:
            raise UnitscopeError(f"Stimulus '{name}' matches {len(found)} images ({found[0].name}, "
                                 f"{found[1].name}...); name it by its path.")
        else:
            out.append(found[0])
    if missing:
        raise UnitscopeError(f"{len(missing)} stimulus(es) match no image: {some_names(missing)} (from "
                             f"'{Path(data.source).name or 'the responses'}'; {len(paths)} images given).")
    return out


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):  # MATLAB cells hold 1-element arrays
        return _text(value.reshape(-1)[0]) if value.size else ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def some_names(names: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(f"'{x}'" for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")
