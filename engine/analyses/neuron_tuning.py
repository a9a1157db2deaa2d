"""Orientation tuning and V1 properties of recorded neurons shown gratings (rows named by
grating labels, :mod:`engine.neural.gratings`), by the battery's own definitions.

A *condition* is a grating's orientation, SF and contrast; its phases are averaged (F0, as
:class:`engine.analyses.tuning.TuningTable` does for units).  A neuron's **orientation
tuning curve** (:func:`orientation_tuning`) is its F0 at every orientation, the SF and
contrast held at those of its condition with the largest F0 (its preferred SF), as the
battery takes a unit's orientation curve; the SEM at each orientation is over repeats
(each repeat's mean over the phases, sample s.d. / sqrt(repeats)).  A matched unit's curve
(:func:`unit_tuning`) is taken over the same stimuli.  This module loads without torch (the
window draws these curves); :func:`neuron_properties` imports the battery's metrics when run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import UnitscopeError


@dataclass(frozen=True)
class OrientationTuning:
    """Every neuron's orientation tuning curve at its preferred SF.

    Attributes
    ----------
    orientations : ndarray (O,)
        Every orientation shown, in [0, 180), ascending.
    mean, sem : ndarray (N, O)
        F0 (mean over repeats and phases) and its SEM over repeats; NaN where the neuron's
        preferred SF and contrast were not shown at an orientation (SEM: with one repeat).
    sf, contrast : ndarray (N,)
        The SF (cycles per image) and contrast the curve is taken at.
    """

    orientations: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    sf: np.ndarray
    contrast: np.ndarray


def _key(values: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(values, float), 9)  # 30 and 30.0000000001 are one orientation


def conditions(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct conditions ``(C, 3)`` (orientation, sf, contrast) of a
    :func:`engine.neural.gratings.grating_table` and each row's condition (-1 for an image)."""
    rows = np.flatnonzero(np.isfinite(table[:, 0]))
    index = np.full(len(table), -1)
    if rows.size == 0:
        return np.zeros((0, 3)), index
    keys, inverse = np.unique(_key(table[rows][:, [0, 1, 3]]), axis=0, return_inverse=True)
    index[rows] = inverse.reshape(-1)
    return keys, index


def _phase_mean(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Mean over the rows of each condition, ``(C, ...)``; NaN where a condition has no finite value."""
    finite = np.isfinite(values)
    sums = np.zeros((n, *values.shape[1:]))
    counts = np.zeros((n, *values.shape[1:]))
    np.add.at(sums, index, np.where(finite, values, 0.0))
    np.add.at(counts, index, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def orientation_tuning(table: np.ndarray, responses: np.ndarray) -> OrientationTuning:
    """Every neuron's orientation curve and its SEM (see the module docstring).

    Parameters
    ----------
    table : ndarray (S, 4)
        :func:`engine.neural.gratings.grating_table` of the stimulus rows.
    responses : ndarray (S, N, R)
        Responses with NaN for missing trials (rows that are images are ignored).
    """
    keys, index = conditions(table)
    n_neurons = responses.shape[1]
    if len(keys) == 0:
        empty = np.zeros((n_neurons, 0))
        return OrientationTuning(np.zeros(0), empty, empty, np.full(n_neurons, np.nan), np.full(n_neurons, np.nan))
    rows = index >= 0
    r = responses[rows]
    counts = np.sum(np.isfinite(r), axis=2)
    trial_mean = np.where(counts > 0, np.nansum(r, axis=2) / np.maximum(counts, 1), np.nan)
    f0 = _phase_mean(trial_mean, index[rows], len(keys))  # (C, N)
    per_repeat = _phase_mean(r, index[rows], len(keys))  # (C, N, R): each repeat's mean over phases
    orientations = np.unique(keys[:, 0])
    mean = np.full((n_neurons, orientations.size), np.nan)
    sem = np.full_like(mean, np.nan)
    best = np.array([int(np.nanargmax(f0[:, n])) if np.isfinite(f0[:, n]).any() else -1 for n in range(n_neurons)])
    sf = np.where(best >= 0, keys[best, 1], np.nan)
    contrast = np.where(best >= 0, keys[best, 2], np.nan)
    for n in range(n_neurons):
        at = np.flatnonzero((keys[:, 1] == sf[n]) & (keys[:, 2] == contrast[n]))
        o = np.searchsorted(orientations, keys[at, 0])
        mean[n, o] = f0[at, n]
        for c, j in zip(at, o):
            v = per_repeat[c, n][np.isfinite(per_repeat[c, n])]
            if v.size > 1:
                sem[n, j] = np.std(v, ddof=1) / math.sqrt(v.size)
    return OrientationTuning(orientations, mean, sem, sf, contrast)


def unit_tuning(table: np.ndarray, unit_response: np.ndarray, tuning: OrientationTuning) -> np.ndarray:
    """``(N, O)``: each neuron's matched unit's mean over phases at every orientation, at the
    neuron's preferred SF and contrast (``unit_response`` is ``(S, N)``, one unit per neuron)."""
    keys, index = conditions(table)
    out = np.full(tuning.mean.shape, np.nan)
    if len(keys) == 0:
        return out
    rows = index >= 0
    f0 = _phase_mean(np.asarray(unit_response, float)[rows], index[rows], len(keys))
    for n in range(out.shape[0]):
        at = np.flatnonzero((keys[:, 1] == tuning.sf[n]) & (keys[:, 2] == tuning.contrast[n]))
        out[n, np.searchsorted(tuning.orientations, keys[at, 0])] = f0[at, n]
    return out


def scaled_to(curve, target) -> np.ndarray:
    """``curve`` mapped linearly so that its finite minimum and maximum meet ``target``'s (a flat
    curve is drawn at the middle of ``target``'s range)."""
    curve, target = np.asarray(curve, float), np.asarray(target, float)
    c, t = curve[np.isfinite(curve)], target[np.isfinite(target)]
    if c.size == 0 or t.size == 0:
        return np.full(curve.shape, np.nan)
    if np.ptp(c) == 0:
        return np.where(np.isfinite(curve), (t.min() + t.max()) / 2, np.nan)
    return t.min() + (curve - c.min()) * (np.ptp(t) / np.ptp(c))


# --- properties of the neurons -----------------------------------------------------------

ORIENTATION = ("preferred_orientation_deg", "circular_variance", "orientation_bandwidth_deg",
               "orthogonal_preferred_ratio")
ORIENTATION_FIT = ("preferred_orientation_fit_deg", "orientation_bandwidth_fit_deg")
SF = ("peak_sf", "sf_bandwidth_octaves")
SF_FIT = ("peak_sf_fit", "sf_bandwidth_fit_octaves")
SF_PROPERTIES = ("peak_sf", "peak_sf_fit")
"""Properties in cycles per image for the neurons (the battery gives them per receptive field)."""
NEVER = {"surround_suppression_index": "grating labels are full-field gratings, with no aperture sweep",
         "response_magnitude": "the neurons' responses and the units' activations have no common scale"}


def _evenly_spaced(values: np.ndarray, period: float) -> bool:
    values = np.sort(values)
    steps = np.diff(np.r_[values, values[0] + period])
    return values.size > 1 and bool(np.allclose(steps, period / values.size))


def computable(keys: np.ndarray, phases: list[np.ndarray]) -> dict[str, str]:
    """For every property of the battery that this grating set cannot give, why (empty: all can).

    ``keys`` are the conditions (:func:`conditions`); ``phases[c]`` the phases condition ``c`` was shown at.
    """
    from engine.analyses.properties import FITTED, PROPERTIES

    oris, sfs = np.unique(keys[:, 0]), np.unique(keys[:, 1])
    missing: dict[str, str] = dict(NEVER)
    shown = ", ".join(f"{v:g}\u00b0" for v in oris[:8]) + (" \u2026" if oris.size > 8 else "")
    if oris.size < 4 or not _evenly_spaced(oris, 180.0):
        missing.update(dict.fromkeys(ORIENTATION + ORIENTATION_FIT, "needs at least 4 orientations evenly spaced "
                                     f"over 0\u2013180\u00b0 (the labels have {shown})"))
    elif oris.size < 5:
        missing.update(dict.fromkeys(ORIENTATION_FIT, "a von Mises fit needs at least 5 orientations"))
    if sfs.size < 3:
        missing.update(dict.fromkeys(SF + SF_FIT, f"needs at least 3 spatial frequencies (the labels have "
                                                  f"{', '.join(f'{v:g}' for v in sfs)})"))
    elif sfs.size < 5:
        missing.update(dict.fromkeys(SF_FIT, "a log-Gaussian fit needs at least 5 spatial frequencies"))
    first = np.sort(phases[0])
    if first.size < 3 or not _evenly_spaced(first, 360.0) or \
            any(p.size != first.size or not np.allclose(np.sort(p), first) for p in phases):
        missing["modulation_ratio"] = ("F1 needs every condition shown at the same 3 or more phases evenly "
                                       "spaced over 360\u00b0")
    return {name: missing[name] for name in PROPERTIES + FITTED if name in missing}


def neuron_properties(table: np.ndarray, responses: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The battery's properties (:func:`engine.analyses.battery.grating_properties`) of every neuron
    from its trial-averaged responses to the grating rows of ``table``.

    Returns
    -------
    values : dict of str to ndarray (N,)
        Each property this grating set gives (``peak_sf`` and ``peak_sf_fit`` in cycles per image).
    not_computed : dict of str to str
        Every other property of the battery, with why.
    """
    from engine.analyses.battery import grating_properties
    from engine.analyses.properties import FITTED, PROPERTIES
    from engine.analyses.tuning import TuningTable

    keys, index = conditions(table)
    rows = np.flatnonzero(index >= 0)
    if rows.size == 0:
        raise UnitscopeError("No stimulus row is a grating label (e.g. 'grating orientation=30 sf=4 phase=0').")
    sizes = [np.unique(keys[:, i]).size for i in range(3)]
    if math.prod(sizes) != len(keys):
        have = {tuple(k) for k in keys}
        gap = next((o, f, c) for o in np.unique(keys[:, 0]) for f in np.unique(keys[:, 1])
                   for c in np.unique(keys[:, 2]) if (o, f, c) not in have)
        raise UnitscopeError(f"The gratings are not a full grid of orientation \u00d7 sf \u00d7 contrast (as the "
                             f"battery's are): none is at orientation={gap[0]:g} sf={gap[1]:g} contrast={gap[2]:g}.")
    phases = [table[rows[index[rows] == c], 2] for c in range(len(keys))]
    missing = computable(keys, phases)
    names = ("orientation", "sf", "contrast")
    grid = TuningTable([dict(zip(names, map(float, k))) for k in keys],
                       [name for name, size in zip(names, sizes) if size > 1], responses.shape[1], phased=True)
    r = responses[rows]
    counts = np.sum(np.isfinite(r), axis=2)
    grid.update(index[rows], table[rows, 2], np.where(counts > 0, np.nansum(r, axis=2) / np.maximum(counts, 1),
                                                      np.nan))
    found = [grating_properties(grid, n) for n in range(responses.shape[1])]
    values = {name: np.array([p[name] for p in found], float) for name in PROPERTIES + FITTED if name not in missing}
    return values, missing


# --- a lab's grating responses as the reference of the property battery ------------------------


@dataclass(frozen=True)
class NeuronReference:
    """The battery's properties of a lab's neurons, from their responses to labelled gratings.

    Attributes
    ----------
    values : dict of str to ndarray (N,)
        Each property the gratings give (``peak_sf``, ``peak_sf_fit`` in cycles per image).
    not_computed : dict of str to str
        Every other property, with why.
    n_neurons, n_gratings : int
        Neurons, and stimulus rows that are grating labels.
    left_out : list of str
        Rows that are not grating labels (images, a blank), which the properties leave out.
    """

    values: dict
    not_computed: dict
    n_neurons: int
    n_gratings: int
    left_out: list


def is_responses_file(path) -> bool:
    """Whether a reference file holds responses (NWB, ``.npz``/``.h5``/``.mat``, or a CSV whose
    header names ``stimulus``, ``neuron`` and ``response``) rather than a CSV of properties."""
    from pathlib import Path

    from engine.neural.readers import SUFFIXES

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".csv":
        return suffix in SUFFIXES
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            header = {h.strip().lower() for h in fh.readline().split(",")}
    except OSError:
        return False
    return {"stimulus", "neuron", "response"} <= header


def reference_from_responses(path, window_ms=None) -> NeuronReference:
    """Read a responses file (:func:`engine.neural.readers.read_responses`) and measure every
    neuron's properties from its grating rows (:func:`neuron_properties`)."""
    from pathlib import Path

    from engine.neural.gratings import grating_table, gratings_of
    from engine.neural.readers import read_responses

    data = read_responses(path, window_ms)
    table = grating_table(gratings_of(data.stimuli))
    rows = np.isfinite(table[:, 0])
    if not rows.any():
        raise UnitscopeError(f"Reference '{Path(path).name}' has no grating rows: name each stimulus by its "
                             "parameters, e.g. 'grating orientation=30 sf=4 phase=0' (or give a CSV of properties).")
    try:
        values, missing = neuron_properties(table, data.responses)
    except UnitscopeError as exc:
        raise UnitscopeError(f"Reference '{Path(path).name}': {exc}") from None
    left_out = [name for name, g in zip(data.stimuli, rows) if not g]
    return NeuronReference(values, missing, data.n_neurons, int(rows.sum()), left_out)


def in_battery_units(reference: dict, rf_side: float | None, image_side: float) -> dict:
    """The neurons' spatial frequencies (cycles per image) in the battery's unit: cycles per RF of
    the layer (per image where its units have no spatial RF)."""
    scale = float(rf_side) / float(image_side) if rf_side else 1.0
    return {name: values * scale if name in SF_PROPERTIES else values for name, values in reference.items()}
