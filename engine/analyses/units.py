"""Single units and probes of several units: which number in a layer's output is a "cell".

A unit is ``(layer, channel, y, x)``: one channel of one layer's output at one spatial
position.  ``y``/``x`` left as None mean the centre of the feature map, ``(H // 2, W // 2)``
(the exact centre for odd sizes, the lower-right of the four central units for even
ones).  A layer whose output has no spatial grid (``(N, C)``, after global pooling or a
linear layer) has units ``(layer, channel)`` only.

The receptive-field geometry a stimulus protocol needs (where to centre a Gabor, how many
pixels one receptive field spans) comes from the anatomy's theoretical field, see
:func:`unit_geometry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.anatomy.receptive_field import Field
from engine.anatomy.tree import Anatomy
from engine.errors import UnitscopeError
from engine.recording.recorder import LayerRef, Recorder
from engine.recording.unit import Unit, maps_shape, token_grid
from engine.stimuli.protocols import record_stimuli


def default_position(height: int, width: int) -> tuple[int, int]:
    """The centre of a feature map, ``(height // 2, width // 2)``."""
    return height // 2, width // 2


def as_maps(output: torch.Tensor) -> torch.Tensor:
    """A recorded output as units address it: ``(N, T, D)`` tokens as ``(N, D, rows, cols)``
    maps over the patch grid (:func:`engine.recording.unit.token_grid`), anything else as it is."""
    if output.dim() != 3:
        return output
    n, tokens, dim = output.shape
    skip, grid = token_grid(tokens)
    return output[:, skip:].transpose(1, 2).reshape(n, dim, *grid)


def unit_response(output: torch.Tensor, unit: Unit) -> torch.Tensor:
    """The responses ``(N,)`` of ``unit`` in one recorded output ``(N, C[, H, W])`` or ``(N, T, D)``."""
    output = as_maps(output)
    unit = unit.at(tuple(output.shape))
    if output.dim() == 2:
        return output[:, unit.channel]
    return output[:, unit.channel, unit.y, unit.x]


def channel_responses(output: torch.Tensor, y: int | None = None, x: int | None = None,
                      channels: Sequence[int] | None = None, layer: str = "output") -> torch.Tensor:
    """Responses ``(N, U)`` of several channels (all if None) at one position.

    The position defaults to the map's centre; an ``(N, C)`` output has no position; an
    ``(N, T, D)`` token output is D channels over its patch grid (:func:`as_maps`).
    """
    output = as_maps(output)
    shape = tuple(output.shape)
    if output.dim() not in (2, 4):
        raise UnitscopeError(f"Cannot take units from an output of shape {shape}; "
                             "expected (N, C) or (N, C, H, W).")
    probe = Unit(layer, 0, y, x).at(shape)
    index = slice(None) if channels is None else [Unit(layer, c).at(shape[:2]).channel
                                                  for c in channels]
    if output.dim() == 2:
        return output[:, index]
    return output[:, index, probe.y, probe.x]


def recorded_shape(anatomy: Anatomy, layer: str) -> tuple[int, ...] | None:
    """Output shape of a layer's call as the anatomy measured it and a recording holds it,
    channels first (an ``(N, H, W, C)`` output as ``(N, C, H, W)``; tokens as ``(N, T, D)``)."""
    ref = LayerRef.parse(layer)
    node = anatomy.node(ref.name)
    if len(node.calls) < ref.call:
        raise UnitscopeError(f"Layer '{layer}' is called {len(node.calls)} time(s) per forward pass.")
    return node.calls[ref.call - 1].recorded_shape


def output_shape(anatomy: Anatomy, layer: str) -> tuple[int, ...] | None:
    """Output shape ``(1, C, ...)`` of a layer's call as units address it: as recorded
    (:func:`recorded_shape`), tokens ``(N, T, D)`` as ``(N, D, rows, cols)`` (:func:`as_maps`)."""
    shape = recorded_shape(anatomy, layer)
    return None if shape is None else maps_shape(shape)


def layer_field(anatomy: Anatomy, layer: str) -> Field | None:
    """Theoretical receptive field of a layer's call (None for non-spatial outputs)."""
    ref = LayerRef.parse(layer)
    node = anatomy.node(ref.name)
    if len(node.calls) < ref.call:
        raise UnitscopeError(f"Layer '{layer}' is called {len(node.calls)} time(s) per forward pass.")
    return node.calls[ref.call - 1].field


@dataclass(frozen=True)
class UnitGeometry:
    """Where a unit looks in the input image, from the anatomy's theoretical field.

    ``box`` is (top, left, bottom, right), inclusive input pixels, not clipped to the
    image; ``center`` is its centre ``(y, x)``; ``side`` is the smaller of its height and
    width in pixels.  All are None for a unit without a spatial receptive field.
    """

    unit: Unit
    box: tuple[float, float, float, float] | None
    center: tuple[float, float] | None
    side: float | None

    def as_dict(self) -> dict:
        return {"unit": self.unit.label, "layer": self.unit.layer, "channel": self.unit.channel,
                "y": self.unit.y, "x": self.unit.x,
                "rf_box": list(self.box) if self.box else None,
                "rf_center": list(self.center) if self.center else None, "rf_side": self.side}


def unit_geometry(anatomy: Anatomy, unit: Unit) -> UnitGeometry:
    """Resolve ``unit``'s position against the anatomy and give its theoretical RF box."""
    shape = output_shape(anatomy, unit.layer)
    if shape is None:
        raise UnitscopeError(f"The anatomy has no output shape for layer '{unit.layer}'.")
    unit = unit.at(shape)
    f = layer_field(anatomy, unit.layer)
    if f is None or unit.y is None:
        return UnitGeometry(unit, None, None, None)
    box = f.box(unit.y, unit.x)
    center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    side = float(min(box[2] - box[0] + 1, box[3] - box[1] + 1))
    return UnitGeometry(unit, box, center, side)


class Probe:
    """Several pinned units, from one or several layers, watched side by side.

    Parameters
    ----------
    units : sequence of Unit
        The pinned units, in display order.  Positions left as None are the map centre.
    """

    def __init__(self, units: Sequence[Unit]):
        if not units:
            raise UnitscopeError("A probe needs at least one unit.")
        self.units = list(units)

    @property
    def layers(self) -> list[str]:
        """The layers to record, each once, in order of first use."""
        return list(dict.fromkeys(u.layer for u in self.units))

    @property
    def labels(self) -> list[str]:
        return [u.label for u in self.units]

    def responses(self, outputs: dict[str, torch.Tensor]) -> np.ndarray:
        """Responses ``(N, U)`` (float64) of every pinned unit in one batch's outputs."""
        cols = [unit_response(outputs[u.layer], u).double().cpu().numpy() for u in self.units]
        return np.stack(cols, axis=1)

    def stream(self, recorder: Recorder, stimuli, preprocess, batch_size: int = 32,
               cancelled: Callable[[], bool] = lambda: False) -> Iterator[tuple[object, np.ndarray]]:
        """Record a stimulus set and yield ``(stimulus_batch, responses (B, U))`` per batch.

        ``stimuli`` is a :class:`engine.stimuli.protocols.Protocol` or
        :class:`engine.stimuli.protocols.ImageFolder`; the caller keeps what it wants to show, so
        the probe itself holds nothing per stimulus.
        """
        for batch, recorded in record_stimuli(recorder, self.layers, stimuli, preprocess,
                                              batch_size, cancelled):
            yield batch, self.responses(recorded.outputs)
