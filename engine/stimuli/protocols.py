"""Stimulus sets: parametric protocols and image folders, with each stimulus's parameters.

A parametric :class:`Protocol` is a grid of *conditions* (every combination of the values
given for its parameters) and, for gratings and Gabors, a set of *phases* shown for each
condition ("drifting" phase: by default 8 phases from 0 to 360 degrees, 360 excluded),
over which tuning analyses average (F0) and take the first harmonic (F1).  Stimuli are
made lazily, batch by batch, at the model's input size; only one batch of images exists
at a time.

Kinds and their parameters (angles in degrees, lengths in input pixels):

``gratings``
    ``orientation``, ``sf`` (cycles per image, along the shorter side) or ``sf_rf``
    (cycles per receptive field: ``sf = sf_rf * image_side / rf_side``), ``contrast``,
    ``aperture`` (radius of a circular window around the RF centre; 0 = full field),
    ``phase``.
``gabors``
    ``orientation``, ``sf`` or ``sf_rf``, ``sigma`` (envelope s.d.), ``contrast``,
    ``phase``; centred on the unit's receptive field.
``bars``
    ``orientation`` (0 = vertical bar), ``length``, ``width``, ``polarity`` (+1 bright,
    -1 dark), ``offset`` (shift across the bar from the RF centre), ``contrast``.
``sparse_noise``
    ``frame`` (or ``frames=N`` for frames 0..N-1), ``grid`` (cells per side), ``n_on``
    (cells lit per frame), ``seed``; frame ``f`` uses seed ``seed + f``.
``white_noise``
    ``frame`` / ``frames``, ``seed``, ``block`` (pixels per noise block); binary noise.

Protocols of the V1 property battery (:mod:`engine.analyses.properties` gives their metrics):

``size``
    Gratings in a circular aperture of ``radius`` pixels around the RF centre (surround
    suppression): ``orientation``, ``sf``/``sf_rf``, ``contrast``, ``radius``, ``phase``.
    Default radii: 1/16 of the RF side to the side, half-octave steps.
``contrast``
    Gratings at ``contrast`` from 1/64 to 1, half-octave steps (a Naka-Rushton fit):
    ``orientation``, ``sf``/``sf_rf``, ``contrast``, ``aperture``, ``phase``.
``hue``
    A disc of one ``hue`` (degrees; 0 red, 120 green, 240 blue, equal mean over RGB) at
    ``saturation`` on mean grey, ``radius`` pixels (0 = full field; default half the RF
    side); 24 hues by default.
``bar_length``
    Bars of the ``bars`` kind with ``length`` from 1/16 of the RF side to twice it,
    half-octave steps (end-stopping).
``phase``
    Gratings at one orientation and frequency (full field) whose phases give the
    modulation ratio F1/F0 (simple vs complex cells).

Defaults are sized to the unit's receptive field when its side is known (``rf_side``):
Gabors have ``sigma = side / 6`` and 2 cycles per RF, bars are ``0.75 * side`` long and
``side / 8`` wide, where ``side`` is the RF side clipped to the image.  A value written
``start:stop:count`` is ``count`` values from ``start``, ``stop`` excluded
(``0:180:36`` is 36 orientations 5 degrees apart); ``a,b,c`` is a list.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import UnitscopeError
from engine.recording.recorder import RecordedBatch, Recorder
from engine.stimuli import procedural as stim
from engine.stimuli.image_set import ImageSet, good_batches
from engine.stimuli.images import find_images

DEFAULT_PHASES = 8


@dataclass
class StimulusBatch:
    """One batch of stimuli, ready for the model, with what each stimulus was.

    Attributes
    ----------
    start : int
        Index of the first stimulus in the whole set.
    inputs : torch.Tensor
        ``(B, 3, H, W)`` preprocessed model inputs.
    params : list of dict
        Each stimulus's parameters (for images: ``{"image": path}``).
    condition : numpy.ndarray
        ``(B,)`` condition index of each stimulus (for images: the stimulus index).
    phase : numpy.ndarray
        ``(B,)`` phase in degrees; 0 for kinds without a phase.
    images : numpy.ndarray or None
        ``(B, H, W, 3)`` float32 stimuli in [0, 1] for parametric protocols, else None.
    """

    start: int
    inputs: torch.Tensor
    params: list[dict]
    condition: np.ndarray
    phase: np.ndarray
    images: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.inputs.shape[0])


MAX_STIMULI = 1_000_000
"""Most stimuli (conditions x phases) a protocol may have: a larger grid is refused when it
is built, with one line, instead of exhausting memory."""


def _check_count(count: int, what: str) -> None:
    if count > MAX_STIMULI:
        raise UnitscopeError(f"{what} would be {count:,} stimuli; the limit is {MAX_STIMULI:,}. "
                             "Use fewer values.")


def parse_values(text: str) -> np.ndarray:
    """Values from ``start:stop:count`` (stop excluded), ``a,b,c`` or a single number."""
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            _check_count(count, f"Parameter values '{text}'")
            return start + (stop - start) * np.arange(count) / count
        values = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise UnitscopeError(f"Parameter values '{text}' must be start:stop:count (count >= 1), "
                             "a,b,c or one number.") from None
    if not np.all(np.isfinite(values)):
        raise UnitscopeError(f"Parameter values '{text}' must be finite numbers.")
    return values


def parse_param(text: str) -> tuple[str, np.ndarray]:
    """``name=values`` (see :func:`parse_values`) -> ``(name, values)``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise UnitscopeError(f"Parameter '{text}' must be NAME=VALUES, e.g. orientation=0:180:36.")
    return name.strip(), parse_values(values)


def _sweep(n: int, stop: float = 180.0) -> np.ndarray:
    return stop * np.arange(n) / n


def _sized(value: object) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float))


@dataclass(frozen=True)
class _Kind:
    params: tuple[str, ...]
    phased: bool
    defaults: Callable[[float, float | None], dict[str, np.ndarray]]
    make: Callable[[tuple[int, int], dict, float, tuple[float, float]], np.ndarray]


def _make_grating(size, p, phase, center):
    aperture = p["aperture"] if p["aperture"] > 0 else None
    return stim.sine_grating(size, p["orientation"], p["sf"], phase, p["contrast"], aperture, center)


def _make_gabor(size, p, phase, center):
    return stim.gabor_patch(size, p["orientation"], p["sf"], p["sigma"], phase, p["contrast"], center)


def _make_bar(size, p, phase, center):
    theta = math.radians(p["orientation"])
    shifted = (center[0] + p["offset"] * math.sin(theta), center[1] + p["offset"] * math.cos(theta))
    return stim.bar(size, p["orientation"], p["length"], p["width"], shifted,
                    int(p["polarity"]), p["contrast"])


def _make_sparse(size, p, phase, center):
    return stim.sparse_noise(size, int(p["grid"]), int(p["seed"] + p["frame"]), int(p["n_on"]))[0]


def _make_noise(size, p, phase, center):
    return stim.white_noise(size, int(p["seed"] + p["frame"]), kind="binary", block_px=int(p["block"]))


def _make_size(size, p, phase, center):
    return stim.sine_grating(size, p["orientation"], p["sf"], phase, p["contrast"], p["radius"], center)


def _make_hue(size, p, phase, center):
    return stim.hue_disc(size, p["hue"], p["saturation"], p["radius"], center)


def _octaves(side: float, lo: float, hi: float) -> np.ndarray:
    """``side * 2**e`` for ``e`` from ``lo`` to ``hi`` in half-octave steps (both included)."""
    return side * 2.0 ** np.arange(lo, hi + 0.25, 0.5)


def _sf_default(rf) -> dict[str, np.ndarray]:
    return {"sf_rf": _sized(2.0)} if rf else {"sf": _sized(8.0)}


KINDS: dict[str, _Kind] = {
    "gratings": _Kind(
        ("orientation", "sf", "sf_rf", "contrast", "aperture", "phase"), True,
        lambda side, rf: {"orientation": _sweep(12), "sf": _sized(8.0),
                          "contrast": _sized(1.0), "aperture": _sized(0.0)},
        _make_grating),
    "gabors": _Kind(
        ("orientation", "sf", "sf_rf", "sigma", "contrast", "phase"), True,
        lambda side, rf: {"orientation": _sweep(12),
                          **({"sf_rf": _sized(2.0)} if rf else {"sf": _sized(8.0)}),
                          "sigma": _sized(max(side / 6, 1.0)), "contrast": _sized(1.0)},
        _make_gabor),
    "bars": _Kind(
        ("orientation", "length", "width", "polarity", "offset", "contrast"), False,
        lambda side, rf: {"orientation": _sweep(12), "length": _sized(max(0.75 * side, 1.0)),
                          "width": _sized(max(side / 8, 1.0)), "polarity": _sized(1.0),
                          "offset": _sized(0.0), "contrast": _sized(1.0)},
        _make_bar),
    "sparse_noise": _Kind(
        ("frame", "frames", "grid", "n_on", "seed"), False,
        lambda side, rf: {"frame": np.arange(500.0), "grid": _sized(min(16, side)),
                          "n_on": _sized(8.0), "seed": _sized(0.0)},
        _make_sparse),
    "white_noise": _Kind(
        ("frame", "frames", "seed", "block"), False,
        lambda side, rf: {"frame": np.arange(200.0), "seed": _sized(0.0), "block": _sized(1.0)},
        _make_noise),
    "size": _Kind(
        ("orientation", "sf", "sf_rf", "contrast", "radius", "phase"), True,
        lambda side, rf: {"orientation": _sized(0.0), **_sf_default(rf), "contrast": _sized(1.0),
                          "radius": np.maximum(_octaves(side, -4, 0), 1.0)},
        _make_size),
    "contrast": _Kind(
        ("orientation", "sf", "sf_rf", "contrast", "aperture", "phase"), True,
        lambda side, rf: {"orientation": _sized(0.0), **_sf_default(rf),
                          "contrast": 2.0 ** np.arange(-6, 0.25, 0.5), "aperture": _sized(0.0)},
        _make_grating),
    "hue": _Kind(
        ("hue", "saturation", "radius"), False,
        lambda side, rf: {"hue": _sweep(24, 360.0), "saturation": _sized(1.0),
                          "radius": _sized(max(side / 2, 1.0) if rf else 0.0)},
        _make_hue),
    "bar_length": _Kind(
        ("orientation", "length", "width", "polarity", "offset", "contrast"), False,
        lambda side, rf: {"orientation": _sized(0.0), "length": np.maximum(_octaves(side, -4, 1), 1.0),
                          "width": _sized(max(side / 8, 1.0)), "polarity": _sized(1.0),
                          "offset": _sized(0.0), "contrast": _sized(1.0)},
        _make_bar),
    "phase": _Kind(
        ("orientation", "sf", "sf_rf", "contrast", "aperture", "phase"), True,
        lambda side, rf: {"orientation": _sized(0.0), **_sf_default(rf), "contrast": _sized(1.0),
                          "aperture": _sized(0.0)},
        _make_grating),
}


def kind_name(text: str) -> str:
    """Canonical protocol kind for a user's spelling (``sparse-noise`` -> ``sparse_noise``)."""
    name = text.strip().lower().replace("-", "_").replace(" ", "_")
    name = {"grating": "gratings", "gabor": "gabors", "bar": "bars", "length": "bar_length",
            "colour": "hue", "color": "hue"}.get(name, name)
    if name not in KINDS:
        raise UnitscopeError(f"Unknown protocol '{text}'; choose from {', '.join(KINDS)}.")
    return name


class Protocol:
    """A parametric stimulus protocol: conditions (a parameter grid) times phases.

    Parameters
    ----------
    kind : str
        One of ``KINDS`` (see the module docstring for each kind's parameters).
    size : int or (int, int)
        Stimulus size in pixels: the model's input size.
    params : mapping of str to values, optional
        Values of each parameter; a parameter not given takes its default.  For
        phased kinds, ``phase`` replaces the ``phases`` evenly spaced phases.
    center : (float, float), optional
        ``(y, x)`` input pixel where stimuli are centred (the unit's RF centre); the
        image centre if None.
    rf_side : float, optional
        The unit's theoretical receptive-field side in pixels, for ``sf_rf`` and the
        RF-sized defaults.
    phases : int
        Number of evenly spaced phases per condition for gratings and Gabors.

    Attributes
    ----------
    axes : dict of str to numpy.ndarray
        Every condition parameter with its values, in order; conditions are their product.
    swept : list of str
        The parameters with more than one value.
    phases : numpy.ndarray
        Phases in degrees shown for every condition (``[0.]`` for kinds without phase).
    """

    def __init__(self, kind: str, size, params: Mapping[str, Iterable[float] | float] | None = None,
                 center: tuple[float, float] | None = None, rf_side: float | None = None,
                 phases: int = DEFAULT_PHASES):
        self.kind = kind_name(kind)
        spec = KINDS[self.kind]
        self.size = stim._shape(size)
        image_side = float(min(self.size))
        self.rf_side = float(rf_side) if rf_side else None
        self.center = (tuple(float(c) for c in center) if center is not None
                       else ((self.size[0] - 1) / 2, (self.size[1] - 1) / 2))
        side = min(self.rf_side, image_side) if self.rf_side else image_side
        given = {name: _sized(values) for name, values in (params or {}).items()}
        for name, values in given.items():
            if name not in spec.params:
                raise UnitscopeError(f"Protocol '{self.kind}' has no parameter '{name}'; it has "
                                     f"{', '.join(spec.params)}.")
            if values.size == 0 or not np.all(np.isfinite(values)):
                raise UnitscopeError(f"Parameter '{name}' needs at least one finite value.")
        if "frames" in given:
            count = given.pop("frames")
            if count.size != 1 or count[0] < 1 or count[0] != int(count[0]):
                raise UnitscopeError("Parameter 'frames' must be one whole number from 1 up.")
            _check_count(int(count[0]), "Parameter 'frames'")
            given.setdefault("frame", np.arange(float(count[0])))
        if "sf" in given and "sf_rf" in given:
            raise UnitscopeError("Give the spatial frequency as 'sf' or as 'sf_rf', not both.")
        if "sf_rf" in given and not self.rf_side:
            raise UnitscopeError("'sf_rf' (cycles per receptive field) needs a unit with a "
                                 "spatial receptive field.")
        axes = spec.defaults(side, self.rf_side)
        if "sf" in given or "sf_rf" in given:
            axes.pop("sf", None)
            axes.pop("sf_rf", None)
        phase = given.pop("phase", None)
        axes.update(given)
        self.axes: dict[str, np.ndarray] = {p: axes[p] for p in spec.params if p in axes}
        # Count before building anything the size of the grid (math.prod: exact, no overflow).
        n_conditions = math.prod(int(values.size) for values in self.axes.values())
        n_phases = (int(phase.size) if phase is not None else max(int(phases), 1)) if spec.phased else 1
        _check_count(n_conditions * n_phases,
                     f"The {self.kind} protocol's {n_conditions:,} conditions x {n_phases:,} phase(s)")
        if spec.phased:
            self.phases = phase if phase is not None else _sweep(int(phases), 360.0)
            if self.phases.size < 1:
                raise UnitscopeError("A protocol needs at least one phase.")
        else:
            self.phases = np.zeros(1)
        self.phased = spec.phased
        self.swept = [name for name, values in self.axes.items() if values.size > 1]
        self._make = spec.make
        names = list(self.axes)
        self._conditions = [self._derive(dict(zip(names, map(float, combo))))
                            for combo in itertools.product(*self.axes.values())]
        self._check()

    def _derive(self, cond: dict) -> dict:
        """Add the twin spatial-frequency unit (cycles per image <-> per RF), sf first."""
        image_side = float(min(self.size))
        if "sf_rf" in cond:
            sf = {"sf": cond["sf_rf"] * image_side / self.rf_side, "sf_rf": cond["sf_rf"]}
        elif "sf" in cond and self.rf_side:
            sf = {"sf": cond["sf"], "sf_rf": cond["sf"] * self.rf_side / image_side}
        else:
            return cond
        out: dict = {}
        for key, value in cond.items():
            if key in sf:
                out.update(sf)
            else:
                out[key] = value
        return out

    def _check(self) -> None:
        # Make the first condition's stimulus now so that a bad value fails before recording.
        for cond in self._conditions[:1]:
            self._make(self.size, cond, float(self.phases[0]), self.center)

    @property
    def conditions(self) -> list[dict]:
        """Parameters of every condition (phase excluded), in stimulus order."""
        return self._conditions

    @property
    def n_conditions(self) -> int:
        return len(self._conditions)

    def __len__(self) -> int:
        return len(self._conditions) * len(self.phases)

    def stimulus(self, index: int) -> tuple[dict, np.ndarray]:
        """Parameters (phase included) and image of stimulus ``index``.

        Stimuli run through every phase of condition 0, then of condition 1, and so on.
        """
        cond, k = divmod(int(index), len(self.phases))
        params = dict(self._conditions[cond])
        phase = float(self.phases[k])
        if self.phased:
            params["phase"] = phase
        return params, self._make(self.size, params, phase, self.center)

    def batches(self, preprocess, batch_size: int = 32) -> Iterator[StimulusBatch]:
        """Yield the whole protocol as :class:`StimulusBatch` es of at most ``batch_size``."""
        if batch_size < 1:
            raise UnitscopeError("The batch size must be at least 1.")
        n_phases = len(self.phases)
        for start in range(0, len(self), batch_size):
            indices = range(start, min(start + batch_size, len(self)))
            made = [self.stimulus(i) for i in indices]
            images = np.stack([image for _, image in made])
            inputs = torch.stack([preprocess.array(image) for image in images])
            yield StimulusBatch(
                start=start, inputs=inputs, params=[p for p, _ in made],
                condition=np.array([i // n_phases for i in indices]),
                phase=np.array([float(self.phases[i % n_phases]) for i in indices]),
                images=images)

    def describe(self) -> dict:
        """The protocol's definition, JSON-ready, for provenance records."""
        return {"protocol": self.kind, "stimulus_size": list(self.size),
                "stimulus_center": list(self.center), "rf_side": self.rf_side,
                "parameters": {k: v.tolist() for k, v in self.axes.items()},
                "phases": self.phases.tolist() if self.phased else [],
                "n_conditions": self.n_conditions, "n_stimuli": len(self)}


class ImageFolder:
    """Image files (folders walked recursively) as a stimulus set; unreadable files skipped.

    Each image is its own condition.  ``kept`` lists, in stimulus order, the files that
    were read (so stimulus ``i`` is ``kept[i]``); ``skipped`` the ``(path, reason)`` of the
    others.  Each pass over :meth:`batches` starts new lists; ``on_error(path, reason)``,
    if set, hears of every skipped file as it happens.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path], workers: int | None = None):
        self.paths = find_images(paths)
        if not self.paths:
            raise UnitscopeError(f"No image files found in {paths}.")
        self.workers = workers
        self.kept: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []
        self.on_error: Callable[[Path, str], None] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def batches(self, preprocess, batch_size: int = 32) -> Iterator[StimulusBatch]:
        """Yield the readable images as :class:`StimulusBatch` es (``images`` is None)."""
        # Fresh lists per pass, so two passes in lockstep (two models) do not mix.
        kept: list[Path] = []
        skipped: list[tuple[Path, str]] = []
        self.kept, self.skipped = kept, skipped

        def on_error(path: Path, message: str) -> None:
            skipped.append((path, message))
            if self.on_error is not None:
                self.on_error(path, message)

        start = 0
        for inputs in good_batches(ImageSet(self.paths, preprocess), batch_size, on_error,
                                   kept, self.workers):
            n = int(inputs.shape[0])
            paths = kept[start:start + n]
            yield StimulusBatch(start=start, inputs=inputs,
                                params=[{"image": str(p)} for p in paths],
                                condition=np.arange(start, start + n), phase=np.zeros(n))
            start += n

    def describe(self) -> dict:
        return {"protocol": "images", "n_images": len(self.paths)}


def record_stimuli(recorder: Recorder, layers: Sequence[str], stimuli, preprocess,
                   batch_size: int = 32, cancelled: Callable[[], bool] = lambda: False,
                   ) -> Iterator[tuple[StimulusBatch, RecordedBatch]]:
    """Record ``layers`` for a stimulus set, yielding each batch with its outputs.

    Parameters
    ----------
    recorder : Recorder
        Holds the model and the device.
    layers : sequence of str
        Layers to record (``NAME`` or ``NAME#k``).
    stimuli : Protocol or ImageFolder
        Anything with ``batches(preprocess, batch_size)`` yielding :class:`StimulusBatch`.
    preprocess : engine.models.preprocess.Preprocess
        The model's preprocessing.
    batch_size : int
        Stimuli per forward pass.
    cancelled : callable
        Checked before every batch; raises :class:`engine.recording.recorder.Cancelled` when True.

    Yields
    ------
    (StimulusBatch, RecordedBatch)
        Only one batch of stimuli and outputs is alive at a time.
    """
    pending: list[StimulusBatch] = []

    def inputs() -> Iterator[torch.Tensor]:
        for batch in stimuli.batches(preprocess, batch_size):
            pending.append(batch)
            yield batch.inputs

    for recorded in recorder.record(list(layers), inputs(), cancelled):
        yield pending.pop(0), recorded
