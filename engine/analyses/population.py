"""Population analyses of a layer over a stimulus set: PCA, RDM, dimensionality, sparseness,
and the comparison of two layers or models (RSA, linear CKA).

A stimulus's *population vector* is one of three views of a layer's output
(:func:`population_vectors`): ``flat`` (every unit), ``channels`` (each channel's mean over
space) or ``centre`` (every channel at one position, the map centre by default).

Streaming and memory
--------------------
* :class:`PopulationMoments` keeps the count, mean and the sum of centred outer products in
  float64, merged batch by batch with Chan et al.'s pairwise update.  This is exact (the
  same numbers as the full data matrix up to rounding) and its memory is ``D x D`` whatever
  the number of stimuli ``N``; PCA, explained variance, participation ratio and lifetime
  sparseness come from it.  It refuses ``D > max_dim`` (4096 by default).
* :class:`RDMBuilder` grows the ``N x N`` RDM (1 - Pearson r between stimuli) as batches
  arrive.  An RDM is ``N x N`` by nature, and each new row needs every earlier population
  vector, so it keeps them (``N x D`` float32); the PCA scatter is read from them too.
* :class:`StreamingCKA` keeps the cross-covariance of two views (``Dx x Dy``): flat in ``N``.

Definitions
-----------
* participation ratio ``(sum l)^2 / sum l^2`` over the covariance eigenvalues ``l``;
* sparseness (Treves-Rolls, normalised to [0, 1]): ``(1 - (mean r)^2 / mean(r^2)) /
  (1 - 1/n)`` on responses rectified at 0; *lifetime* sparseness is taken per unit over
  stimuli, *population* sparseness per stimulus over units; NaN when all responses are 0;
* RSA: the Spearman correlation of the two RDMs' upper triangles (diagonal excluded);
* linear CKA: ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred
  ``Xc``, ``Yc`` (Kornblith et al. 2019).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.analyses.similarity import _zscore_rows, linear_cka, rsa
from engine.analyses.units import channel_responses
from engine.errors import UnitscopeError
from engine.recording.recorder import Recorder
from engine.stimuli.protocols import record_stimuli

VIEWS = ("flat", "channels", "centre")
MAX_COVARIANCE_DIM = 4096


def population_vectors(output: torch.Tensor, view: str = "flat", y: int | None = None,
                       x: int | None = None) -> np.ndarray:
    """Population vectors ``(N, D)`` (float64) of one recorded output ``(N, C[, H, W])``."""
    if view == "flat":
        return output.reshape(output.shape[0], -1).double().cpu().numpy()
    if view == "channels":
        if output.dim() > 2:
            output = output.flatten(2).mean(dim=2)
        return output.double().cpu().numpy()
    if view == "centre":
        return channel_responses(output, y, x).double().cpu().numpy()
    raise UnitscopeError(f"Unknown population view '{view}'; choose from {', '.join(VIEWS)}.")


def participation_ratio(eigenvalues: np.ndarray) -> float:
    """``(sum l)^2 / sum l^2``: k for k equal eigenvalues (and zeros)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=float), 0.0, None)
    denom = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / denom) if denom > 0 else float("nan")


def _sparseness(total: np.ndarray, total_sq: np.ndarray, n: int) -> np.ndarray:
    out = np.full(np.shape(total), np.nan)
    ok = np.asarray(total_sq) > 0
    if n > 1:
        out[ok] = (1 - (total[ok] / n) ** 2 / (total_sq[ok] / n)) / (1 - 1 / n)
    return out


def sparseness(responses: np.ndarray, axis: int = 0) -> np.ndarray:
    """Treves-Rolls sparseness of rectified ``responses`` along ``axis`` (see module notes)."""
    r = np.maximum(np.asarray(responses, dtype=float), 0.0)
    return _sparseness(r.sum(axis=axis), (r**2).sum(axis=axis), r.shape[axis])


@dataclass(frozen=True)
class PCA:
    """Principal components of a population: ``components`` ``(k, D)``, rows unit length."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray  # eigenvalues of the covariance (ddof=1), descending
    total_variance: float

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return self.explained_variance / self.total_variance if self.total_variance > 0 else \
            np.full_like(self.explained_variance, np.nan)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Scores ``(N, k)`` of population vectors on the components."""
        return (np.asarray(vectors, dtype=float) - self.mean) @ self.components.T


def _sign_fixed(components: np.ndarray) -> np.ndarray:
    # Eigenvectors have no sign: make each one's largest entry positive, so results repeat.
    big = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), big])
    return components * np.where(signs == 0, 1, signs)[:, None]


def pca_of(vectors: np.ndarray, k: int | None = None) -> PCA:
    """PCA of a full ``(N, D)`` matrix by SVD (the non-streaming reference)."""
    x = np.asarray(vectors, dtype=float)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / max(len(x) - 1, 1)
    k = len(var) if k is None else min(k, len(var))
    return PCA(mean, _sign_fixed(vt[:k]), var[:k], float(var.sum()))


class PopulationMoments:
    """Running mean and covariance of population vectors, plus rectified sums for sparseness."""

    def __init__(self, n_features: int, max_dim: int = MAX_COVARIANCE_DIM):
        if n_features > max_dim:
            raise UnitscopeError(f"A population of {n_features} units is too large for a covariance "
                                 f"(at most {max_dim}); use the 'channels' or 'centre' view.")
        self.n = 0
        self.mean = np.zeros(n_features)
        self.scatter = np.zeros((n_features, n_features))  # sum of centred outer products
        self.rect_sum = np.zeros(n_features)
        self.rect_sq = np.zeros(n_features)

    def update(self, vectors: np.ndarray) -> None:
        """Merge a batch of population vectors ``(B, D)``."""
        x = np.asarray(vectors, dtype=float)
        nb = len(x)
        if nb == 0:
            return
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        delta = mean_b - self.mean
        n = self.n + nb
        self.scatter += centred.T @ centred + np.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n
        r = np.maximum(x, 0.0)
        self.rect_sum += r.sum(axis=0)
        self.rect_sq += (r**2).sum(axis=0)

    @property
    def covariance(self) -> np.ndarray:
        """Sample covariance (ddof=1)."""
        return self.scatter / max(self.n - 1, 1)

    def pca(self, k: int | None = None) -> PCA:
        """Components by eigen-decomposition of the covariance; at most ``min(N, D)`` of them."""
        lam, vecs = np.linalg.eigh(self.covariance)
        lam, vecs = np.clip(lam[::-1], 0.0, None), vecs[:, ::-1]
        rank = min(len(lam), self.n)
        k = rank if k is None else min(k, rank)
        return PCA(self.mean.copy(), _sign_fixed(vecs[:, :k].T), lam[:k], float(lam.sum()))

    def participation_ratio(self) -> float:
        return participation_ratio(np.linalg.eigvalsh(self.covariance))

    def lifetime_sparseness(self) -> np.ndarray:
        """Per-unit sparseness over the stimuli seen so far ``(D,)``."""
        return _sparseness(self.rect_sum, self.rect_sq, self.n)


class RDMBuilder:
    """The RDM ``1 - Pearson r`` between stimuli, grown batch by batch.

    Keeps every population vector (``N x D``, ``dtype``) because each new row of the
    RDM needs all earlier ones; rows are read back as :attr:`rows`.
    """

    def __init__(self, dtype=np.float32, chunk: int = 1024):
        self.dtype = dtype
        self.chunk = chunk
        self.n = 0
        self._rows: np.ndarray | None = None
        self._rdm = np.zeros((0, 0))

    @property
    def rows(self) -> np.ndarray:
        return self._rows[: self.n] if self._rows is not None else np.zeros((0, 0))

    @property
    def rdm(self) -> np.ndarray:
        return self._rdm[: self.n, : self.n]

    def _grow(self, n: int, d: int) -> None:
        capacity = 0 if self._rows is None else len(self._rows)
        if n <= capacity:
            return
        size = max(n, 2 * capacity, 16)
        rows = np.empty((size, d), dtype=self.dtype)
        rdm = np.zeros((size, size))
        if self._rows is not None:
            rows[: self.n] = self._rows[: self.n]
            rdm[: self.n, : self.n] = self.rdm
        self._rows, self._rdm = rows, rdm

    def update(self, vectors: np.ndarray) -> None:
        """Add a batch of population vectors ``(B, D)``."""
        x = np.asarray(vectors)
        old, nb = self.n, len(x)
        if nb == 0:
            return
        if self._rows is not None and x.shape[1] != self._rows.shape[1]:
            raise UnitscopeError(f"Population vectors changed size from {self._rows.shape[1]} "
                                 f"to {x.shape[1]}.")
        self._grow(old + nb, x.shape[1])
        self._rows[old:old + nb] = x
        z_new = _zscore_rows(self._rows[old:old + nb].astype(float))
        for lo in range(0, old + nb, self.chunk):  # old rows re-z-scored a chunk at a time
            hi = min(lo + self.chunk, old + nb)
            r = _zscore_rows(self._rows[lo:hi].astype(float)) @ z_new.T
            self._rdm[lo:hi, old:old + nb] = 1 - r
            self._rdm[old:old + nb, lo:hi] = 1 - r.T
        self.n = old + nb


class StreamingCKA:
    """Linear CKA from running (co)variances of two views: memory flat in ``N``."""

    def __init__(self, dx: int, dy: int, max_dim: int = MAX_COVARIANCE_DIM):
        self.x = PopulationMoments(dx, max_dim)
        self.y = PopulationMoments(dy, max_dim)
        self.cross = np.zeros((dx, dy))

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        n0, nb = self.x.n, len(x)
        if nb == 0:
            return
        dx, dy = x.mean(axis=0) - self.x.mean, y.mean(axis=0) - self.y.mean
        self.cross += (x - x.mean(axis=0)).T @ (y - y.mean(axis=0)) + np.outer(dx, dy) * (n0 * nb / (n0 + nb))
        self.x.update(x)
        self.y.update(y)

    @property
    def value(self) -> float:
        nx, ny = np.linalg.norm(self.x.scatter), np.linalg.norm(self.y.scatter)
        return float(np.linalg.norm(self.cross) ** 2 / (nx * ny)) if nx > 0 and ny > 0 else float("nan")


@dataclass
class PopulationState:
    """A layer's population analyses so far; updated in place after every batch."""

    layer: str
    view: str
    moments: PopulationMoments | None = None  # None when D is over the covariance limit
    rdm: RDMBuilder | None = None
    population_sparseness: list[float] = field(default_factory=list)  # one per stimulus

    @property
    def n(self) -> int:
        return self.moments.n if self.moments is not None else self.rdm.n if self.rdm else 0

    def pca(self, k: int | None = None) -> PCA:
        """From the running covariance, or from the kept rows when D is too large for it."""
        if self.moments is not None:
            return self.moments.pca(k)
        if self.rdm is not None and self.rdm.n:
            return pca_of(self.rdm.rows, k)
        raise UnitscopeError("No population responses have been recorded yet.")

    def scores(self, k: int = 2) -> np.ndarray:
        """Every stimulus's position ``(N, k)`` on the first ``k`` components (needs kept rows)."""
        if self.rdm is None:
            raise UnitscopeError("The stimulus scatter needs the population vectors kept (rdm=True).")
        return self.pca(k).transform(self.rdm.rows)

    def participation_ratio(self) -> float:
        return participation_ratio(self.pca().explained_variance)


def population_stream(recorder: Recorder, layer: str, stimuli, preprocess, view: str = "flat",
                      y: int | None = None, x: int | None = None, batch_size: int = 32,
                      cancelled: Callable[[], bool] = lambda: False, rdm: bool = True,
                      max_dim: int = MAX_COVARIANCE_DIM) -> Iterator[PopulationState]:
    """Record a stimulus set and yield the layer's :class:`PopulationState` after every batch.

    With ``rdm=False`` nothing per stimulus is kept but the population sparseness (memory
    flat in the number of stimuli, PCA needs ``D <= max_dim``).
    """
    state = PopulationState(layer, view, rdm=RDMBuilder() if rdm else None)
    for _, recorded in record_stimuli(recorder, [layer], stimuli, preprocess, batch_size, cancelled):
        vectors = population_vectors(recorded.outputs[layer], view, y, x)
        if state.moments is None and state.n == 0 and vectors.shape[1] <= max_dim:
            state.moments = PopulationMoments(vectors.shape[1], max_dim)
        if state.moments is None and state.rdm is None:
            raise UnitscopeError(f"Layer '{layer}' has {vectors.shape[1]} units in the '{view}' view, "
                                 f"too many for a covariance (at most {max_dim}) without kept rows.")
        if state.moments is not None:
            state.moments.update(vectors)
        if state.rdm is not None:
            state.rdm.update(vectors)
        state.population_sparseness.extend(sparseness(vectors, axis=1).tolist())
        yield state


@dataclass
class PopulationSource:
    """One side of a comparison: a layer of a model, seen through a view."""

    recorder: Recorder
    layer: str
    preprocess: object
    view: str = "flat"
    y: int | None = None
    x: int | None = None


@dataclass
class Comparison:
    """Two populations' RDMs (and running CKA where both fit) over the same stimuli."""

    rdm_a: RDMBuilder
    rdm_b: RDMBuilder
    cka_running: StreamingCKA | None = None

    def rsa(self) -> float:
        return rsa(self.rdm_a.rdm, self.rdm_b.rdm)

    def cka(self) -> float:
        if self.cka_running is not None:
            return self.cka_running.value
        return linear_cka(self.rdm_a.rows, self.rdm_b.rows)


def compare_stream(a: PopulationSource, b: PopulationSource, stimuli, batch_size: int = 32,
                   cancelled: Callable[[], bool] = lambda: False,
                   max_dim: int = MAX_COVARIANCE_DIM) -> Iterator[Comparison]:
    """Record two layers (one model: one pass; two models: two passes in step) and compare.

    Yields the same :class:`Comparison` after every batch.
    """
    result = Comparison(RDMBuilder(), RDMBuilder())
    if a.recorder is b.recorder and a.preprocess is b.preprocess:
        layers = list(dict.fromkeys([a.layer, b.layer]))
        pairs = ((rec.outputs, rec.outputs) for _, rec in
                 record_stimuli(a.recorder, layers, stimuli, a.preprocess, batch_size, cancelled))
    else:
        def stepped():
            for (ba, ra), (bb, rb) in zip(
                    record_stimuli(a.recorder, [a.layer], stimuli, a.preprocess, batch_size, cancelled),
                    record_stimuli(b.recorder, [b.layer], stimuli, b.preprocess, batch_size, cancelled)):
                if ba.start != bb.start or ba.size != bb.size:
                    raise UnitscopeError("The two models were shown different stimuli.")
                yield ra.outputs, rb.outputs
        pairs = stepped()
    for out_a, out_b in pairs:
        va = population_vectors(out_a[a.layer], a.view, a.y, a.x)
        vb = population_vectors(out_b[b.layer], b.view, b.y, b.x)
        if result.rdm_a.n == 0 and max(va.shape[1], vb.shape[1]) <= max_dim:
            result.cka_running = StreamingCKA(va.shape[1], vb.shape[1], max_dim)
        if result.cka_running is not None:
            result.cka_running.update(va, vb)
        result.rdm_a.update(va)
        result.rdm_b.update(vb)
        yield result
