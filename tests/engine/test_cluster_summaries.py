"""Summaries that merge across shards: against one pass over all the data (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.analyses.summaries import Extremes, Moments, Reduction, SparseProjection, grid_positions
from engine.errors import UnitscopeError


def split_points(n: int, parts: int, rng) -> list[int]:
    return [0, *sorted(rng.choice(np.arange(1, n), parts - 1, replace=False)), n]


def test_moments_of_shards_merge_to_one_pass():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, (257, 4, 3)) * rng.uniform(0.1, 10, (1, 4, 3))
    cuts = split_points(len(data), 5, rng)
    shards = []
    for a, b in zip(cuts, cuts[1:]):
        m = Moments(data.shape[1:])
        for start in range(a, b, 16):  # batches inside each shard
            m.update(data[start:min(start + 16, b)])
        shards.append(m)
    merged = Moments(data.shape[1:])
    for m in shards:
        merged.merge(Moments.from_arrays(m.arrays()))  # through the arrays a store holds
    assert merged.count == len(data)
    np.testing.assert_allclose(merged.mean, data.mean(0), rtol=1e-13)
    np.testing.assert_allclose(merged.variance, data.var(0), rtol=1e-12)
    assert np.array_equal(merged.min, data.min(0)) and np.array_equal(merged.max, data.max(0))
    assert np.isnan(Moments((2,)).variance).all()


def full_ranking(values: np.ndarray, k: int, descending: bool) -> np.ndarray:
    rows = []
    for unit in values.T:
        ok = np.flatnonzero(~np.isnan(unit))
        key = -unit[ok] if descending else unit[ok]
        rows.append(np.pad(ok[np.lexsort((ok, key))][:k], (0, max(0, k - ok.size)), constant_values=-1))
    return np.array(rows)


@pytest.mark.parametrize("k", [1, 4, 30])
def test_extremes_of_shards_merge_to_the_full_ranking_ties_and_nans_included(k):
    rng = np.random.default_rng(k)
    values = rng.integers(0, 6, (23, 3)).astype(float)  # many ties
    values[rng.random(values.shape) < 0.15] = np.nan
    cuts = split_points(len(values), 4, rng)
    merged = Extremes(k, 3)
    for a, b in reversed(list(zip(cuts, cuts[1:]))):  # shards merged in any order
        shard = Extremes(k, 3)
        for start in range(a, b, 3):
            stop = min(start + 3, b)
            shard.update(values[start:stop], np.arange(start, stop))
        merged.merge(Extremes.from_arrays(shard.padded()))
    got = merged.padded()
    assert np.array_equal(got["top_indices"], full_ranking(values, k, True))
    assert np.array_equal(got["bottom_indices"], full_ranking(values, k, False))
    top = got["top_indices"]
    expected = np.where(top >= 0, values[np.maximum(top, 0), np.arange(3)[:, None]], np.nan)
    assert np.array_equal(got["top_values"], expected, equal_nan=True)


def test_reductions_against_plain_torch():
    out = torch.randn(5, 3, 7, 6)
    assert np.array_equal(Reduction.parse("raw").apply(out), out.numpy())
    assert np.allclose(Reduction.parse("mean").apply(out), out.mean((2, 3)).numpy())
    assert np.array_equal(Reduction.parse("max").apply(out), out.amax((2, 3)).numpy())
    assert np.array_equal(Reduction.parse("center").apply(out), out[:, :, 3, 3].numpy())
    grid = Reduction.parse("grid:3")
    assert grid_positions(7, 3) == [1, 3, 5] and grid_positions(6, 3) == [1, 3, 5]
    assert np.array_equal(grid.apply(out), out[:, :, [1, 3, 5]][:, :, :, [1, 3, 5]].numpy())
    assert grid.shape((3, 7, 6)) == (3, 3, 3) and Reduction.parse("project:8").shape((3, 7, 6)) == (8,)
    for bad in ("median", "grid:0", "project:x", "raw:2"):
        with pytest.raises(UnitscopeError, match=f"Unknown summary '{bad}'"):
            Reduction.parse(bad)


def test_sparse_projection_is_seeded_and_keeps_distances():
    p, again, other = SparseProjection(4096, 256, 5), SparseProjection(4096, 256, 5), SparseProjection(4096, 256, 6)
    assert (p.matrix != again.matrix).nnz == 0 and (p.matrix != other.matrix).nnz > 0
    assert 0.5 * 256 * 64 < p.matrix.nnz < 1.5 * 256 * 64  # density 1 / sqrt(4096)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4096)).astype(np.float32)
    y = Reduction.parse("project:256").apply(torch.from_numpy(x).reshape(20, 4, 32, 32), p)
    assert np.array_equal(y, p.apply(x))
    ratio = np.linalg.norm(y[1:] - y[0], axis=1) / np.linalg.norm(x[1:] - x[0], axis=1)
    assert np.all(np.abs(ratio - 1) < 0.25)  # Johnson–Lindenstrauss at D = 256
