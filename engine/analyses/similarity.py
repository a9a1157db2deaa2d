"""Representational similarity of two populations, torch-free: the RDM (``1 - Pearson r``
between stimuli), RSA (Spearman correlation of two RDMs' upper triangles) and linear CKA
(Kornblith et al. 2019).  :mod:`engine.analyses.population` streams them over a layer's
recordings; :mod:`engine.analyses.predictivity` compares a layer with recorded neurons, also
where no model is loaded (a cluster job's submitter)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from engine.errors import UnitscopeError


def _zscore_rows(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / norm  # a constant row has no correlation: NaN


def rdm_of(vectors: np.ndarray) -> np.ndarray:
    """The RDM ``1 - Pearson r`` of a full ``(N, D)`` matrix (non-streaming)."""
    z = _zscore_rows(np.asarray(vectors, dtype=float))
    return 1 - z @ z.T


def rsa(rdm_a: np.ndarray, rdm_b: np.ndarray) -> float:
    """Spearman correlation of two RDMs' upper triangles; pairs with NaN are left out."""
    a, b = np.asarray(rdm_a, dtype=float), np.asarray(rdm_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise UnitscopeError(f"RDMs must be square and the same size, got {a.shape} and {b.shape}.")
    iu = np.triu_indices(a.shape[0], k=1)
    va, vb = a[iu], b[iu]
    ok = ~(np.isnan(va) | np.isnan(vb))
    ra, rb = rankdata(va[ok]), rankdata(vb[ok])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt(np.sum(ra**2) * np.sum(rb**2))
    return float(np.sum(ra * rb) / denom) if denom > 0 else float("nan")


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two ``(N, Dx)``, ``(N, Dy)`` matrices of the same stimuli."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise UnitscopeError(f"CKA needs the same stimuli in both: {len(x)} and {len(y)} rows.")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    if len(x) <= max(x.shape[1], y.shape[1]):  # Gram form: N x N is the smaller
        kx, ky = xc @ xc.T, yc @ yc.T
        hsic, nx, ny = np.sum(kx * ky), np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        hsic = np.linalg.norm(xc.T @ yc) ** 2
        nx, ny = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    return float(hsic / (nx * ny)) if nx > 0 and ny > 0 else float("nan")
