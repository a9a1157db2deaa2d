"""A unit, as a researcher names it: (layer, channel, y, x); a layer reference ``NAME#k``; an input box.

Plain Python with no torch import, so the window can name units before torch loads;
:mod:`engine.analyses.units` holds what is computed for units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import UnitscopeError


def token_grid(tokens: int) -> tuple[int, tuple[int, int]]:
    """Where a transformer's ``(N, T, D)`` tokens sit: ``(skip, (rows, cols))``.

    Its D channels are shown and addressed as maps over the patch grid: T tokens on an
    ``s x s`` grid when T is a square; else, when T - 1 is one, the leading class token is
    skipped; else the tokens in one row.  The feature-map panel, the unit view and every
    analysis of a unit use this one rule, so a unit clicked in a token layer is the unit
    measured.
    """
    for skip in (0, 1):
        n = tokens - skip
        side = math.isqrt(n) if n > 0 else 0
        if side and side * side == n:
            return skip, (side, side)
    return 0, (1, tokens)


def maps_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """An output shape as units address it: a 3-D ``(N, T, D)`` token output as
    ``(N, D, rows, cols)`` (:func:`token_grid`); any other shape as it is."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        return shape
    n, tokens, dim = shape
    return (n, dim, *token_grid(tokens)[1])


@dataclass(frozen=True)
class Unit:
    """One unit: a channel of a layer's output at one position (centre when None).

    Parameters
    ----------
    layer : str
        Dotted module name, optionally ``NAME#k`` for the k-th call.
    channel : int
        Channel index (dimension 1 of the output).
    y, x : int or None
        Row and column in the feature map; None means the centre of the map.
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None

    @property
    def label(self) -> str:
        """``layer[c]`` or ``layer[c](y,x)``, for legends and file names."""
        where = "" if self.y is None and self.x is None else f"({self.y},{self.x})"
        return f"{self.layer}[{self.channel}]{where}"

    def at(self, shape: Sequence[int]) -> Unit:
        """This unit with its position made concrete and checked for an output ``shape``.

        ``shape`` is the output shape with or without the batch dimension: ``(C, H, W)``,
        ``(N, C, H, W)``, ``(C,)`` or ``(N, C)``.  Raises :class:`UnitscopeError` when the
        channel or position is outside the output.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) in (2, 4):
            shape = shape[1:]
        if len(shape) not in (1, 3):
            raise UnitscopeError(f"Layer '{self.layer}' has output shape {shape}; a unit needs "
                                 "(channels,) or (channels, height, width).")
        channels = shape[0]
        if not 0 <= self.channel < channels:
            raise UnitscopeError(f"Channel {self.channel} is outside layer '{self.layer}', which "
                                 f"has channels 0 to {channels - 1}.")
        if len(shape) == 1:
            if self.y is not None or self.x is not None:
                raise UnitscopeError(f"Layer '{self.layer}' has no spatial map; give no y/x.")
            return self
        h, w = shape[1], shape[2]
        y = h // 2 if self.y is None else self.y
        x = w // 2 if self.x is None else self.x
        if not (0 <= y < h and 0 <= x < w):
            raise UnitscopeError(f"Position (y={y}, x={x}) is outside layer '{self.layer}', whose "
                                 f"map is {h} x {w}.")
        return Unit(self.layer, self.channel, y, x)


@dataclass(frozen=True)
class LayerRef:
    """A module's dotted name and which of its calls (1-based) to record."""

    name: str
    call: int = 1

    @classmethod
    def parse(cls, text: str) -> LayerRef:
        """``NAME`` or ``NAME#k`` (k from 1); :class:`UnitscopeError` for a bad ``k``."""
        name, sep, k = text.partition("#")
        if not sep:
            return cls(name)
        if not k.isdigit() or int(k) < 1:
            raise UnitscopeError(f"Layer '{text}': the call after '#' must be a number from 1 up.")
        return cls(name, int(k))

    def __str__(self) -> str:
        return self.name if self.call == 1 else f"{self.name}#{self.call}"


#: An input-pixel box: (top, left, bottom, right), inclusive.
Box = tuple[float, float, float, float]


def clip_box(box: Box, height: int, width: int) -> Box:
    """A box clipped to an image of ``height`` x ``width`` pixels."""
    top, left, bottom, right = box
    return (max(top, 0.0), max(left, 0.0), min(bottom, height - 1.0), min(right, width - 1.0))
