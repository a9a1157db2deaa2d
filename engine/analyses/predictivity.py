"""How well a layer's units predict recorded neurons: encoding models, noise ceilings,
RSA, CKA and the best single unit per neuron.

Definitions (what the Methods text states)
------------------------------------------
* **Features.** A layer's output per stimulus, flattened; layers wider than ``size`` are
  reduced by a seeded sparse random projection (:class:`Projection`: every unit is added,
  with a random sign, to one of ``size`` outputs; a CountSketch, which keeps inner products
  in expectation and runs batch by batch, so memory is bounded by the projected features).
  Optionally the ridge sees only the first ``pca`` principal components of the
  (projected, z-scored) features, fitted on each training fold alone.
* **Encoding model.** For each neuron, ridge regression from the features to its
  trial-averaged response, in ``folds``-fold cross-validation over stimuli (seeded
  shuffle).  Inside each training fold the features are z-scored with that fold's means
  and deviations, and the regularisation ``alpha`` is chosen per neuron from a log grid
  (:data:`ALPHAS`) by scikit-learn's ``RidgeCV`` (exact leave-one-out error, computed on
  the training fold only); the held-out fold is then predicted.  ``r`` is the Pearson
  correlation of the pooled held-out predictions with the responses, ``ev`` the held-out
  explained variance ``1 - SSE/SST``; ``alpha`` is the median over folds.
* **Noise ceiling.** Per neuron, the repeats are split in two random halves (``splits``
  times, seeded); the Pearson correlation of the two half means across stimuli, averaged
  over splits, is Spearman-Brown corrected, ``rho = 2 r / (1 + r)``: the reliability of
  the mean over all repeats.  A perfect model correlates with that mean at ``sqrt(rho)``
  and explains ``rho`` of its variance, so the ceiling of ``r`` is ``sqrt(rho)`` and the
  normalised score is ``r / sqrt(rho)`` (Spearman's correction for attenuation;
  ``ev / rho`` for explained variance).  NaN where rho <= 0 or there is one repeat.
* **Bootstrap.** Stimuli are resampled with replacement (``boots`` times, seeded); the
  same resamples give the intervals of the ceiling, ``r`` and the normalised score
  (2.5th and 97.5th percentiles).
* **RSA.** The brain RDM (``1 - Pearson r`` between the stimuli's trial-averaged
  population vectors) against each layer's RDM (of its features): the Spearman
  correlation of their upper triangles.  Its ceiling is ``sqrt`` of the Spearman-Brown
  corrected split-half correlation of the brain RDM (RDMs of the two half means).
* **CKA.** Linear CKA of the features and the trial-averaged responses (Kornblith 2019).
* **Best unit.** For each neuron, in each training fold the unit (of the layer's raw
  units, all of them or a seeded sample of ``max_units``) with the highest correlation
  with the neuron; its held-out responses, mapped by a line fitted on the training fold,
  predict the held-out fold; ``unit_r`` is their pooled correlation, ``best_unit`` the unit
  chosen in most folds.

rsatoolbox is not used: it would be a further dependency (with pandas, matplotlib
versions and its own data classes) for two functions that are a few lines here and
already tested in :mod:`engine.analyses.population` (``rdm_of``, ``rsa``, ``linear_cka``);
its noise ceilings are for several subjects' RDMs, whereas a lab here brings one
population with repeats, whose split-half ceiling is computed below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analyses.similarity import linear_cka, rdm_of, rsa
from engine.errors import UnitscopeError

#: The ridge penalties tried inside each training fold (features z-scored).
ALPHAS = tuple(float(a) for a in np.logspace(-2, 7, 19))


class Projection:
    """A seeded sparse random projection of ``d`` inputs to ``size`` outputs (identity
    when ``d <= size``): input ``i`` is added with sign ``sign[i]`` to output ``bucket[i]``."""

    def __init__(self, d: int, size: int, seed: int = 0):
        self.d, self.size = int(d), int(size)
        self.identity = self.d <= self.size
        if not self.identity:
            rng = np.random.default_rng([seed, self.d, self.size])
            self.bucket = rng.integers(0, self.size, size=self.d)
            self.sign = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=self.d)
            from scipy.sparse import csr_matrix

            self.matrix = csr_matrix((self.sign, (np.arange(self.d), self.bucket)), shape=(self.d, self.size))

    @property
    def out_dim(self) -> int:
        return self.d if self.identity else self.size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != self.d:
            raise UnitscopeError(f"Projection expects {self.d} units, got {x.shape[1]}.")
        return x if self.identity else np.asarray(x @ self.matrix, dtype=np.float32)


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of matching columns of ``a`` and ``b`` (rows: observations); NaN for a constant column."""
    a = np.asarray(a, dtype=float) - np.mean(a, axis=0)
    b = np.asarray(b, dtype=float) - np.mean(b, axis=0)
    denom = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(a * b, axis=0) / np.where(denom > 0, denom, 1), np.nan)


def _batched_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along axis -2 of ``(..., S, N)`` arrays -> ``(..., N)``."""
    a = a - a.mean(axis=-2, keepdims=True)
    b = b - b.mean(axis=-2, keepdims=True)
    denom = np.sqrt(np.sum(a * a, axis=-2) * np.sum(b * b, axis=-2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(a * b, axis=-2) / np.where(denom > 0, denom, 1), np.nan)


def spearman_brown(r):
    """The reliability of twice the data from a split-half correlation ``r``."""
    r = np.asarray(r, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * r / (1 + r)


def split_halves(responses: np.ndarray, splits: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Means of two random halves of the repeats, ``splits`` times: two ``(splits, S, N)`` arrays.

    Each split permutes the repeat axis once (the same for every stimulus); missing trials
    (NaN) are left out of a half's mean; a half with no trial for a stimulus is NaN.
    """
    r = np.asarray(responses, dtype=float)
    k = r.shape[2]
    if k < 2:
        raise UnitscopeError("A noise ceiling needs at least 2 repeats of each stimulus.")
    rng = np.random.default_rng(seed)
    a = np.empty((splits, r.shape[0], r.shape[1]))
    b = np.empty_like(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(splits):
            order = rng.permutation(k)
            for out, half in ((a, order[: k // 2]), (b, order[k // 2:])):
                part = r[:, :, half]
                out[i] = np.nansum(part, axis=2) / np.sum(~np.isnan(part), axis=2)
    return a, b


def _reliability_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability ``(..., N)`` from half means ``(..., splits, S, N)``;
    stimuli where a half has no trial are left out."""
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.all():
        r = _batched_pearson(a, b)
    else:  # the same sums over the stimuli both halves have
        a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
        n = ok.sum(axis=-2)
        with np.errstate(invalid="ignore", divide="ignore"):
            sa, sb = a.sum(axis=-2), b.sum(axis=-2)
            cov = (a * b).sum(axis=-2) - sa * sb / n
            va = (a * a).sum(axis=-2) - sa * sa / n
            vb = (b * b).sum(axis=-2) - sb * sb / n
            good = (va > 1e-12 * np.maximum(1, (a * a).sum(axis=-2))) & (vb > 0) & (n > 2)
            r = np.where(good, cov / np.sqrt(np.where(good, va * vb, 1)), np.nan)
    return spearman_brown(_nanmean(r))


def _nanmean(r: np.ndarray) -> np.ndarray:
    """Mean over axis -2 leaving NaN out (NaN where nothing is left), without a warning."""
    ok = np.isfinite(r)
    count = ok.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(ok, r, 0).sum(axis=-2) / count, np.nan)


def _boot_reliability(a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """:func:`_reliability_of` for every bootstrap resample ``rows`` ``(boots, S)`` at once:
    ``(boots, N)``.

    A resample's sums over its stimuli are the counts of each stimulus in it (``W``,
    ``boots x S``) times the per-stimulus values, so each split takes a few matrix products
    instead of a pass over resampled copies.
    """
    boots, s = rows.shape
    weights = np.zeros((boots, s))
    np.add.at(weights, (np.repeat(np.arange(boots), s), rows.ravel()), 1.0)
    r = np.empty((a.shape[0], boots, a.shape[2]))
    for k in range(a.shape[0]):
        ok = ~(np.isnan(a[k]) | np.isnan(b[k]))
        x, y = np.where(ok, a[k], 0.0), np.where(ok, b[k], 0.0)
        n = weights @ ok
        sx, sy = weights @ x, weights @ y
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = weights @ (x * y) - sx * sy / n
            vx = weights @ (x * x) - sx * sx / n
            vy = weights @ (y * y) - sy * sy / n
            good = (vx > 1e-12 * np.maximum(1, weights @ (x * x))) & (vy > 1e-12 * np.maximum(1, weights @ (y * y))) \
                & (n > 2)
            r[k] = np.where(good, cov / np.sqrt(np.where(good, vx * vy, 1)), np.nan)
    return spearman_brown(_nanmean(np.moveaxis(r, 0, -2)))


@dataclass
class Ceiling:
    """The neurons' noise ceilings and the bootstrap resamples every layer shares.

    Attributes
    ----------
    reliability : ndarray (N,)
        Spearman-Brown corrected split-half reliability ``rho`` of the trial means.
    ceiling, ceiling_ci : ndarray (N,), (N, 2)
        ``sqrt(rho)`` (NaN where rho <= 0) and its bootstrap interval.
    rows : ndarray (boots, S)
        The bootstrap resamples of the stimuli.
    boot_ceiling : ndarray (boots, N)
        ``sqrt(rho)`` of each resample.
    rdm_reliability, rdm_ceiling : float
        The brain RDM's split-half reliability (Spearman, Spearman-Brown corrected) and ``sqrt`` of it.
    """

    reliability: np.ndarray
    ceiling: np.ndarray
    ceiling_ci: np.ndarray
    rows: np.ndarray
    boot_ceiling: np.ndarray
    rdm_reliability: float
    rdm_ceiling: float


def _sqrt_pos(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, np.sqrt(np.where(x > 0, x, 1)), np.nan)


def noise_ceiling(responses: np.ndarray, splits: int = 20, boots: int = 200, seed: int = 0,
                  rdm_splits: int = 5) -> Ceiling:
    """The noise ceilings of ``responses`` ``(S, N, repeats)`` (see the module docstring);
    with one repeat every ceiling is NaN."""
    r = np.asarray(responses, dtype=float)
    s, n, k = r.shape
    rows = np.random.default_rng([seed, 1]).integers(0, s, size=(boots, s))
    if k < 2:
        nan = np.full(n, np.nan)
        return Ceiling(nan, nan, np.full((n, 2), np.nan), rows, np.full((boots, n), np.nan), float("nan"),
                       float("nan"))
    a, b = split_halves(r, splits, seed)
    rho = _reliability_of(a, b)
    boot = _boot_reliability(a, b, rows)
    boot_ceiling = _sqrt_pos(boot)
    ci = _interval(boot_ceiling)
    rdm_r = []
    for i in range(min(rdm_splits, splits)):
        ha, hb = np.nan_to_num(a[i], nan=np.nanmean(a[i])), np.nan_to_num(b[i], nan=np.nanmean(b[i]))
        rdm_r.append(rsa(rdm_of(ha), rdm_of(hb)))
    rdm_rel = float(spearman_brown(np.nanmean(rdm_r)))
    return Ceiling(rho, _sqrt_pos(rho), ci, rows, boot_ceiling, rdm_rel, float(_sqrt_pos(rdm_rel)))


def folds_of(n: int, folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` stimulus indices of a seeded, shuffled ``folds``-fold split."""
    from sklearn.model_selection import KFold

    if folds < 2 or n < 2 * folds:
        raise UnitscopeError(f"{folds}-fold cross-validation needs at least {2 * max(folds, 2)} stimuli, got {n}.")
    return list(KFold(folds, shuffle=True, random_state=seed).split(np.arange(n)))


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z-score both with the training rows' means and deviations (a constant feature becomes 0)."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mean) / sd, (test - mean) / sd


def ridge_predictions(features: np.ndarray, y: np.ndarray, splits, alphas=ALPHAS,
                      pca: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out ridge predictions ``(S, N)`` and each neuron's alpha (median over folds).

    In every training fold: features z-scored, optionally reduced to their first ``pca``
    principal components (fitted on that fold only), responses centred, alpha chosen per
    neuron by ``RidgeCV``'s exact leave-one-out error on that fold alone.
    """
    from sklearn.linear_model import RidgeCV

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    pred = np.empty_like(y)
    chosen = []
    for train, test in splits:
        xtr, xte = standardise(x[train], x[test])
        if pca is not None and pca < min(xtr.shape):
            _, _, vt = np.linalg.svd(xtr, full_matrices=False)  # xtr is centred
            xtr, xte = xtr @ vt[:pca].T, xte @ vt[:pca].T
        mean = y[train].mean(axis=0)
        model = RidgeCV(alphas=alphas, fit_intercept=False, alpha_per_target=True).fit(xtr, y[train] - mean)
        pred[test] = model.predict(xte).reshape(len(test), -1) + mean
        chosen.append(np.broadcast_to(model.alpha_, (y.shape[1],)))
    return pred, np.median(np.array(chosen), axis=0)


def explained_variance(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per column, ``1 - SSE / SST`` of predictions against the responses."""
    sse = np.sum((y - pred) ** 2, axis=0)
    sst = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.nan)


def best_units(units: np.ndarray, y: np.ndarray, splits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron, the unit chosen (most often) on the training folds, its pooled held-out r,
    and the held-out predictions ``(S, N)`` of the units chosen."""
    u = np.asarray(units, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    pred = np.empty_like(y)
    picks = []
    for train, test in splits:
        ut = u[train] - u[train].mean(axis=0)
        yt = y[train] - y[train].mean(axis=0)
        norm_u = np.sqrt(np.sum(ut * ut, axis=0))
        norm_y = np.sqrt(np.sum(yt * yt, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (ut.T @ yt) / np.outer(np.where(norm_u > 0, norm_u, np.inf), np.where(norm_y > 0, norm_y, np.inf))
        best = np.argmax(corr, axis=0)  # a constant unit has corr 0
        picks.append(best)
        for n, unit in enumerate(best):
            x = u[train, unit]
            slope = np.dot(x - x.mean(), yt[:, n]) / max(np.dot(x - x.mean(), x - x.mean()), 1e-30)
            pred[test, n] = y[train, n].mean() + slope * (u[test, unit] - x.mean())
    picks = np.array(picks)
    mode = np.array([np.bincount(picks[:, n]).argmax() for n in range(y.shape[1])])
    return mode, pearson_columns(pred, y), pred


@dataclass
class LayerFit:
    """One layer against the neurons (arrays per neuron; see the module docstring)."""

    layer: str
    n_features: int
    n_units: int
    r: np.ndarray
    ev: np.ndarray
    alpha: np.ndarray
    normalised: np.ndarray
    normalised_ev: np.ndarray
    r_ci: np.ndarray
    normalised_ci: np.ndarray
    best_unit: np.ndarray
    unit_r: np.ndarray
    unit_predictions: np.ndarray
    predictions: np.ndarray
    rsa: float
    cka: float


def fit_layer(layer: str, features: np.ndarray, units: np.ndarray, mean: np.ndarray, ceiling: Ceiling,
              splits, alphas=ALPHAS, pca: int | None = None) -> LayerFit:
    """Score one layer: ``features`` ``(S, F)`` for the ridge, RSA and CKA; ``units``
    ``(S, U)`` the raw units searched for each neuron's best; ``mean`` ``(S, N)`` the trial means."""
    pred, alpha = ridge_predictions(features, mean, splits, alphas, pca)
    r = pearson_columns(pred, mean)
    ev = explained_variance(pred, mean)
    boot_r = np.stack([pearson_columns(pred[rows], mean[rows]) for rows in ceiling.rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = r / ceiling.ceiling
        normalised_ev = ev / ceiling.reliability
        boot_norm = boot_r / ceiling.boot_ceiling
    best, unit_r, unit_pred = best_units(units, mean, splits)
    return LayerFit(layer, int(features.shape[1]), int(units.shape[1]), r, ev, alpha, normalised, normalised_ev,
                    _interval(boot_r), _interval(boot_norm), best, unit_r, unit_pred, pred,
                    rsa(rdm_of(mean), rdm_of(features)), linear_cka(features, mean))


def _interval(samples: np.ndarray) -> np.ndarray:
    """2.5th and 97.5th percentiles per column ``(N, 2)``, NaN where no sample is finite."""
    out = np.full((samples.shape[1], 2), np.nan)
    ok = np.isfinite(samples).any(axis=0)
    if ok.any():
        with np.errstate(invalid="ignore"):
            out[ok] = np.nanpercentile(samples[:, ok], [2.5, 97.5], axis=0).T
    return out
