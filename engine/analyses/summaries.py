"""Dataset-scale summaries of a layer's outputs that are small and merge exactly across shards.

Raw feature maps do not fit anywhere at dataset scale (ResNet-50 ``layer1`` is ~3.2 MB per
image), so a sharded job keeps, per stimulus, one of these *reductions* of each output
``(N, C, H, W)`` (or ``(N, C)``):

- ``raw``: the whole output;
- ``mean`` / ``max``: the global spatial mean / maximum of every channel, ``(N, C)``;
- ``centre``: the centre unit of every channel (:func:`engine.analyses.units.default_position`),
  ``(N, C)``: the responses a tuning table is made of;
- ``grid:G``: a fixed ``G x G`` grid of units per channel, ``(N, C, G, G)``;
- ``project:D``: a seeded sparse random projection of the flattened output to ``D`` numbers.

and, over the stimuli, two running states that merge across shards:

- :class:`Moments`: count, mean, variance (as M2), min and max of every unit, merged
  with Chan et al.'s pairwise update: the merged moments equal one pass up to float rounding;
- :class:`Extremes`: the ``k`` highest and lowest responses of every channel's centre unit
  with their global stimulus indices, ties broken by the index (earlier first): the merge
  of the shards' extremes equals the extremes of one run, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UnitscopeError

if TYPE_CHECKING:  # torch-free to import: the submitter names reductions without torch
    import torch

REDUCTIONS = ("raw", "mean", "max", "centre", "grid:G", "project:D")


@dataclass(frozen=True)
class Reduction:
    """A per-stimulus reduction of a layer output: ``name`` and its size parameter (G or D)."""

    name: str
    size: int = 0

    @classmethod
    def parse(cls, text: str) -> Reduction:
        name, _, arg = text.strip().lower().partition(":")
        name = {"center": "centre", "projection": "project"}.get(name, name)
        if name in ("raw", "mean", "max", "centre") and not arg:
            return cls(name)
        if name in ("grid", "project") and arg.isdigit() and int(arg) >= 1:
            return cls(name, int(arg))
        raise UnitscopeError(f"Unknown summary '{text}'; use one of {', '.join(REDUCTIONS)} "
                             "(G and D whole numbers from 1 up).")

    def __str__(self) -> str:
        return f"{self.name}:{self.size}" if self.size else self.name

    def shape(self, output_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-stimulus shape of the reduction of outputs shaped ``(N, *output_shape)``."""
        c = output_shape[0]
        if self.name == "raw":
            return tuple(output_shape)
        if self.name == "project":
            return (self.size,)
        if self.name == "grid":
            return (c, self.size, self.size) if len(output_shape) == 3 else (c,)
        return (c,)

    def apply(self, output: torch.Tensor, projection: SparseProjection | None = None) -> np.ndarray:
        """The reduction of one batch of outputs ``(N, C[, H, W])`` as float32 NumPy."""
        spatial = output.dim() == 4
        if self.name == "raw":
            out = output
        elif self.name == "mean":
            out = output.float().mean(dim=(2, 3)) if spatial else output
        elif self.name == "max":
            out = output.amax(dim=(2, 3)) if spatial else output
        elif self.name == "centre":
            out = output[:, :, output.shape[2] // 2, output.shape[3] // 2] if spatial else output
        elif self.name == "grid":
            if not spatial:
                out = output
            else:
                ys, xs = grid_positions(output.shape[2], self.size), grid_positions(output.shape[3], self.size)
                out = output[:, :, ys][:, :, :, xs]
        else:
            if projection is None:
                raise UnitscopeError("A projection summary needs its projection matrix.")
            return projection.apply(output.reshape(output.shape[0], -1).float().cpu().numpy())
        return out.float().cpu().numpy()


def grid_positions(side: int, count: int) -> list[int]:
    """``count`` positions spread evenly over ``side`` units: the centres of equal strips."""
    return [min(side - 1, int((2 * i + 1) * side // (2 * count))) for i in range(count)]


class SparseProjection:
    """A seeded very sparse random projection (Li, Hastie & Church 2006) of ``n_features`` to ``dim``.

    Each entry of the ``(n_features, dim)`` matrix is ``+-sqrt(s / dim)`` with probability
    ``1 / (2 s)`` and 0 otherwise, ``s = sqrt(n_features)``.  The matrix depends only on
    ``(n_features, dim, seed)``, so every shard of a job draws the same one.
    """

    def __init__(self, n_features: int, dim: int, seed: int = 0):
        from scipy import sparse

        if n_features < 1 or dim < 1:
            raise UnitscopeError("A random projection needs at least one feature and one dimension.")
        s = math.sqrt(n_features)
        rng = np.random.default_rng([int(seed), int(n_features), int(dim)])
        counts = rng.binomial(n_features, 1.0 / s, size=dim)
        rows = np.concatenate([np.sort(rng.choice(n_features, size=int(m), replace=False)) for m in counts])
        cols = np.repeat(np.arange(dim), counts)
        signs = np.where(rng.random(rows.size) < 0.5, -1.0, 1.0) * math.sqrt(s / dim)
        self.n_features, self.dim, self.seed = n_features, dim, seed
        self.matrix = sparse.csc_matrix((signs.astype(np.float64), (rows, cols)), shape=(n_features, dim))

    def apply(self, flat: np.ndarray) -> np.ndarray:
        """Project rows ``(N, n_features)`` to ``(N, dim)`` (float32; accumulated in float64)."""
        if flat.shape[1] != self.n_features:
            raise UnitscopeError(f"The projection takes {self.n_features} features, got {flat.shape[1]}.")
        return np.asarray(self.matrix.T @ flat.astype(np.float64).T).T.astype(np.float32)


class Moments:
    """Running count, mean, M2 (sum of squared deviations), min and max of every unit.

    ``update`` takes a batch ``(B, *shape)``; ``merge`` combines two states (Chan, Golub &
    LeVeque's pairwise formula), so shards summarised apart merge to one pass's moments.
    """

    FIELDS = ("count", "mean", "m2", "min", "max")

    def __init__(self, shape: tuple[int, ...]):
        self.count = 0
        self.mean = np.zeros(shape)
        self.m2 = np.zeros(shape)
        self.min = np.full(shape, np.inf)
        self.max = np.full(shape, -np.inf)

    @property
    def variance(self) -> np.ndarray:
        """Population variance (divided by the count); NaN before any stimulus."""
        return self.m2 / self.count if self.count else np.full(self.mean.shape, np.nan)

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64)
        if batch.shape[0] == 0:
            return
        other = Moments(batch.shape[1:])
        other.count = batch.shape[0]
        other.mean = batch.mean(axis=0)
        other.m2 = ((batch - other.mean) ** 2).sum(axis=0)
        other.min, other.max = batch.min(axis=0), batch.max(axis=0)
        self.merge(other)

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into this state (in place); returns self."""
        n = self.count + other.count
        if other.count == 0:
            return self
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.count / n)
        self.m2 = self.m2 + other.m2 + delta ** 2 * (self.count * other.count / n)
        self.min, self.max = np.minimum(self.min, other.min), np.maximum(self.max, other.max)
        self.count = n
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        return {"count": np.full(self.mean.shape, self.count, dtype=np.int64), "mean": self.mean,
                "m2": self.m2, "min": self.min, "max": self.max}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Moments:
        state = cls(arrays["mean"].shape)
        state.count = int(np.asarray(arrays["count"]).flat[0]) if np.asarray(arrays["count"]).size else 0
        state.mean, state.m2 = np.asarray(arrays["mean"], float), np.asarray(arrays["m2"], float)
        state.min, state.max = np.asarray(arrays["min"], float), np.asarray(arrays["max"], float)
        return state


class Extremes:
    """The ``k`` highest (``top``) and lowest (``bottom``) responses of ``n_units`` units.

    Values ``(n_units, k)`` sorted from the extreme inwards, with global stimulus indices
    (-1 and NaN where fewer than ``k`` stimuli were seen).  Ties go to the earlier stimulus
    and NaN responses are never ranked, so merging shards equals ranking all stimuli at once.
    """

    def __init__(self, k: int, n_units: int):
        if k < 1:
            raise UnitscopeError("k must be at least 1.")
        self.k = int(k)
        self.top_values = np.full((n_units, 0), np.nan)
        self.top_indices = np.zeros((n_units, 0), dtype=np.int64)
        self.bottom_values, self.bottom_indices = self.top_values.copy(), self.top_indices.copy()

    def _keep(self, values, indices, descending: bool):
        valid = ~np.isnan(values) & (indices >= 0)
        key = np.where(valid, -values if descending else values, 0.0)
        order = np.lexsort((indices, key, ~valid), axis=-1)[:, : self.k]
        v, i = np.take_along_axis(values, order, 1), np.take_along_axis(indices, order, 1)
        ok = np.take_along_axis(valid, order, 1)
        return np.where(ok, v, np.nan), np.where(ok, i, -1)

    def _add(self, values: np.ndarray, indices: np.ndarray, bottom_values=None, bottom_indices=None) -> None:
        bv = values if bottom_values is None else bottom_values
        bi = indices if bottom_indices is None else bottom_indices
        self.top_values, self.top_indices = self._keep(
            np.concatenate([self.top_values, values], 1), np.concatenate([self.top_indices, indices], 1), True)
        self.bottom_values, self.bottom_indices = self._keep(
            np.concatenate([self.bottom_values, bv], 1), np.concatenate([self.bottom_indices, bi], 1), False)

    def update(self, responses: np.ndarray, indices) -> None:
        """Merge a batch: responses ``(B, n_units)`` of the stimuli ``indices`` ``(B,)``."""
        values = np.asarray(responses, dtype=np.float64).T
        idx = np.broadcast_to(np.asarray(indices, dtype=np.int64), values.shape)
        self._add(values, idx)

    def merge(self, other: Extremes) -> Extremes:
        """Fold ``other`` into this state (in place); returns self."""
        self._add(other.top_values, other.top_indices, other.bottom_values, other.bottom_indices)
        return self

    def padded(self) -> dict[str, np.ndarray]:
        """The four arrays, each ``(n_units, k)`` (NaN and -1 where fewer than ``k`` were seen)."""
        def pad(a, fill):
            extra = self.k - a.shape[1]
            return np.pad(a, ((0, 0), (0, extra)), constant_values=fill) if extra else a
        return {"top_values": pad(self.top_values, np.nan), "top_indices": pad(self.top_indices, -1),
                "bottom_values": pad(self.bottom_values, np.nan),
                "bottom_indices": pad(self.bottom_indices, -1)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Extremes:
        k = arrays["top_values"].shape[1]
        state = cls(k, arrays["top_values"].shape[0])
        state.top_values, state.top_indices = state._keep(np.asarray(arrays["top_values"], float),
                                                          np.asarray(arrays["top_indices"], np.int64), True)
        state.bottom_values, state.bottom_indices = state._keep(
            np.asarray(arrays["bottom_values"], float), np.asarray(arrays["bottom_indices"], np.int64), False)
        return state


def centre_responses(output: torch.Tensor) -> np.ndarray:
    """Responses ``(N, C)`` of every channel's centre unit (float64), the unit top-k ranks."""
    if output.dim() == 4:
        from engine.analyses.units import default_position

        y, x = default_position(output.shape[2], output.shape[3])
        output = output[:, :, y, x]
    return output.reshape(output.shape[0], -1).double().cpu().numpy()
