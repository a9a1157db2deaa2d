"""Stimulus rows named by grating parameters instead of an image file.

A row named ``grating orientation=30 sf=4 phase=90 contrast=0.5`` is a full-field sine
grating of the ``gratings`` protocol (:mod:`engine.stimuli.protocols`), in its parameters'
own names and units:

``orientation`` (required)
    degrees; theta is the direction along which luminance varies (0 = vertical bars; y
    points down, so theta turns clockwise on screen), as every stimulus of Unitscope.
``sf`` (required)
    cycles per image, along its shorter side (above 0).  A grating of ``f`` cycles per
    degree on an image spanning ``D`` degrees (``--deg-per-image``) is ``sf = f * D``.
``phase``
    degrees (default 0: a bright peak at the image centre).
``contrast``
    Michelson contrast in [0, 1] (default 1).

The first word is ``grating`` (or ``gratings``); parameters are ``NAME=VALUE`` separated by
spaces or commas, in any order.  A name is a label when its first word is that and it holds
an ``=``; any other name is an image file's.  The predict job renders a label with the
protocol's own :func:`engine.stimuli.procedural.sine_grating` at the model's input size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import UnitscopeError

KIND_WORDS = ("grating", "gratings")
#: The parameters of a label, in the order a label is written back, with their defaults (None: required).
PARAMETERS = {"orientation": None, "sf": None, "phase": 0.0, "contrast": 1.0}
EXAMPLE = "grating orientation=30 sf=4 phase=0 contrast=1"
#: Columns of :func:`grating_table`.
COLUMNS = tuple(PARAMETERS)


@dataclass(frozen=True)
class Grating:
    """One full-field sine grating: orientation and phase in degrees, ``sf`` in cycles per image."""

    orientation: float
    sf: float
    phase: float = 0.0
    contrast: float = 1.0

    def image(self, size: int | tuple[int, int]) -> np.ndarray:
        """The grating at ``size`` pixels, ``(H, W, 3)`` float32 in [0, 1] (the protocol's own drawing)."""
        from engine.stimuli.procedural import sine_grating

        return sine_grating(size, self.orientation, self.sf, self.phase, self.contrast)


def is_label(name: str) -> bool:
    """Whether a stimulus name is a grating label (its first word ``grating``, and an ``=`` in it)."""
    words = name.split(None, 1)
    return bool(words) and words[0].lower() in KIND_WORDS and "=" in name


def parse_label(name: str) -> Grating:
    """The grating a label names; a bad label raises one line naming it and the reason."""
    where = f"Stimulus label '{name}'"
    words = name.split(None, 1)
    if not words or words[0].lower() not in KIND_WORDS:
        raise UnitscopeError(f"{where} must start with 'grating', e.g. '{EXAMPLE}'.")
    given: dict[str, float] = {}
    for token in re.split(r"[\s,]+", words[1].strip() if len(words) > 1 else ""):
        if not token:
            continue
        key, sep, text = token.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise UnitscopeError(f"{where}: '{token}' is not NAME=VALUE (e.g. '{EXAMPLE}').")
        if key not in PARAMETERS:
            raise UnitscopeError(f"{where}: unknown parameter '{key}'; a grating label has "
                                 f"{', '.join(PARAMETERS)}.")
        if key in given:
            raise UnitscopeError(f"{where} gives '{key}' twice.")
        try:
            value = float(text)
        except ValueError:
            raise UnitscopeError(f"{where}: {key} '{text}' is not a number.") from None
        if not math.isfinite(value):
            raise UnitscopeError(f"{where}: {key} must be a finite number, not '{text}'.")
        given[key] = value
    missing = [k for k, default in PARAMETERS.items() if default is None and k not in given]
    if missing:
        raise UnitscopeError(f"{where} has no {' and no '.join(missing)} (e.g. '{EXAMPLE}').")
    if given["sf"] <= 0:
        raise UnitscopeError(f"{where}: sf must be above 0 cycles per image, got {given['sf']:g}.")
    contrast = given.get("contrast", PARAMETERS["contrast"])
    if not 0 <= contrast <= 1:
        raise UnitscopeError(f"{where}: contrast must be from 0 to 1 (Michelson), got {contrast:g}.")
    return Grating(**{k: given.get(k, default) for k, default in PARAMETERS.items()})


def gratings_of(stimuli: Sequence[str]) -> list[Grating | None]:
    """The grating of every stimulus row that is a label (None for an image's name)."""
    return [parse_label(name) if is_label(name) else None for name in stimuli]


def grating_table(gratings: Sequence[Grating | None]) -> np.ndarray:
    """``(rows, 4)`` orientation, sf, phase and contrast of each row (:data:`COLUMNS`); NaN for images.

    Orientations are brought into [0, 180): theta + 180 at phase p draws the very image of
    theta at phase -p, so it is written so (phases in [0, 360)).
    """
    table = np.full((len(gratings), len(COLUMNS)), math.nan)
    for i, g in enumerate(gratings):
        if g is None:
            continue
        theta, phase = g.orientation % 360.0, g.phase
        if theta >= 180.0:
            theta, phase = theta - 180.0, -phase
        table[i] = (theta, g.sf, phase % 360.0, g.contrast)
    return table
