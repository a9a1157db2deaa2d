"""Encoding models, noise ceilings, RSA/CKA and best units against planted neurons and
against independent references (a hand-written scikit-learn loop, scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from planted_neurons import LAYERS, layer_outputs, plant, planted_net
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict

from engine.analyses.predictivity import (
    ALPHAS,
    Projection,
    _reliability_of,
    fit_layer,
    folds_of,
    noise_ceiling,
    pearson_columns,
    ridge_predictions,
    split_halves,
)

RELIABILITY = 0.8


@pytest.fixture(scope="module")
def sweep():
    """Neurons planted in layer '5'; every layer fitted."""
    rng = np.random.default_rng(0)
    feats = layer_outputs(planted_net(), rng.normal(size=(500, 3, 16, 16)))
    responses, support, _ = plant(feats["5"], reliability=RELIABILITY)
    ceiling = noise_ceiling(responses, boots=100)
    splits = folds_of(len(responses), 5, 0)
    fits = {name: fit_layer(name, x, x, responses.mean(axis=2), ceiling, splits) for name, x in feats.items()}
    return responses, support, ceiling, fits


def test_the_layer_sweep_peaks_at_the_planted_layer(sweep):
    _, _, _, fits = sweep
    medians = {name: float(np.median(fit.normalised)) for name, fit in fits.items()}
    assert max(medians, key=medians.get) == "5", medians
    assert medians["5"] > 0.9  # a perfect model of the mean is at the ceiling
    assert all(medians[name] < medians["5"] - 0.1 for name in LAYERS if name != "5"), medians
    best = np.argmax(np.stack([fits[n].normalised for n in LAYERS]), axis=0)
    assert np.mean(best == LAYERS.index("5")) > 0.8  # per-neuron best layer
    rsa = {name: fit.rsa for name, fit in fits.items()}
    assert max(rsa, key=rsa.get) == "5", rsa


def test_the_noise_ceiling_is_the_one_the_noise_implies(sweep):
    _, _, ceiling, _ = sweep
    implied = np.sqrt(RELIABILITY)
    covered = (ceiling.ceiling_ci[:, 0] <= implied) & (implied <= ceiling.ceiling_ci[:, 1])
    assert covered.mean() >= 0.85
    assert abs(np.median(ceiling.ceiling) - implied) < 0.02
    assert np.all(ceiling.ceiling_ci[:, 1] - ceiling.ceiling_ci[:, 0] > 0)


def test_normalised_intervals_hold_the_score(sweep):
    _, _, _, fits = sweep
    fit = fits["5"]
    assert np.all(fit.r_ci[:, 0] <= fit.r) and np.all(fit.r <= fit.r_ci[:, 1])
    inside = (fit.normalised_ci[:, 0] <= fit.normalised) & (fit.normalised <= fit.normalised_ci[:, 1])
    assert inside.mean() > 0.9


def test_the_best_single_unit_is_one_the_neuron_reads_out(sweep):
    _, support, _, fits = sweep
    fit = fits["5"]
    assert np.mean([u in s for u, s in zip(fit.best_unit, support)]) > 0.8
    assert np.median(fit.unit_r) < np.median(fit.r)  # one unit explains less than five


def test_ridge_matches_a_hand_written_scikit_learn_loop():
    """Outer 5-fold; inside each training fold, features z-scored, responses centred, every
    alpha's leave-one-out error from sklearn's own Ridge refits, the best alpha per neuron."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 12))
    y = x[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(60, 4)) * 2
    alphas = ALPHAS[::3]
    splits = folds_of(60, 5, seed=7)
    pred, chosen = ridge_predictions(x, y, splits, alphas)
    ref = np.empty_like(y)
    ref_alpha = []
    for train, test in KFold(5, shuffle=True, random_state=7).split(x):
        mu, sd = x[train].mean(0), x[train].std(0)
        xtr, xte = (x[train] - mu) / sd, (x[test] - mu) / sd
        ytr = y[train] - y[train].mean(0)
        loo = [np.mean((cross_val_predict(Ridge(alpha=a, fit_intercept=False), xtr, ytr, cv=LeaveOneOut())
                        - ytr) ** 2, axis=0) for a in alphas]
        best = np.argmin(np.array(loo), axis=0)
        ref_alpha.append([alphas[b] for b in best])
        for n in range(y.shape[1]):
            model = Ridge(alpha=alphas[best[n]], fit_intercept=False).fit(xtr, ytr[:, n])
            ref[test, n] = model.predict(xte) + y[train, n].mean()
    np.testing.assert_allclose(pred, ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(chosen, np.median(ref_alpha, axis=0))
    r = pearson_columns(pred, y)
    np.testing.assert_allclose(r, [pearsonr(pred[:, n], y[:, n])[0] for n in range(4)], rtol=1e-10)


def test_split_half_reliability_with_missing_trials_matches_a_loop():
    rng = np.random.default_rng(3)
    r = rng.normal(size=(40, 3, 1)) + rng.normal(size=(40, 3, 4))
    r[5, 1, :2] = np.nan
    r[7, :, 3] = np.nan
    a, b = split_halves(r, splits=6, seed=1)
    got = _reliability_of(a, b)
    ref = []
    for n in range(3):
        rs = []
        for i in range(6):
            ok = ~(np.isnan(a[i, :, n]) | np.isnan(b[i, :, n]))
            rs.append(pearsonr(a[i, ok, n], b[i, ok, n])[0])
        m = np.mean(rs)
        ref.append(2 * m / (1 + m))
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_one_repeat_has_no_ceiling():
    ceiling = noise_ceiling(np.random.default_rng(0).normal(size=(20, 2, 1)), boots=5)
    assert np.isnan(ceiling.ceiling).all() and np.isnan(ceiling.rdm_ceiling)


def test_projection_is_seeded_and_keeps_inner_products():
    x = np.random.default_rng(4).normal(size=(20, 5000))
    p = Projection(5000, 2000, seed=1)
    y = p(x)
    assert y.shape == (20, 2000)
    np.testing.assert_array_equal(y, Projection(5000, 2000, seed=1)(x))
    assert not np.array_equal(y, Projection(5000, 2000, seed=2)(x))
    gram, approx = x @ x.T, y.astype(float) @ y.T.astype(float)
    assert np.corrcoef(gram.ravel(), approx.ravel())[0, 1] > 0.98
    np.testing.assert_array_equal(Projection(50, 100)(x[:, :50]), x[:, :50].astype(np.float32))


def test_pca_in_the_training_folds_matches_a_scikit_learn_pipeline():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 30)) @ rng.normal(size=(30, 30))
    y = x[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(size=(50, 3))
    splits = folds_of(50, 5, seed=1)
    pred, _ = ridge_predictions(x, y, splits, pca=6)
    ref = np.empty_like(y)
    for train, test in splits:  # the scores are centred: no intercept, the responses centred
        reduce = make_pipeline(StandardScaler(), PCA(6, svd_solver="full")).fit(x[train])
        mean = y[train].mean(axis=0)
        ridge = RidgeCV(alphas=ALPHAS, fit_intercept=False, alpha_per_target=True)
        ref[test] = ridge.fit(reduce.transform(x[train]), y[train] - mean).predict(reduce.transform(x[test])) + mean
    np.testing.assert_allclose(pred, ref, rtol=1e-6, atol=1e-8)


def test_bootstrap_reliability_by_weights_equals_resampled_copies():
    from engine.analyses.predictivity import _boot_reliability

    rng = np.random.default_rng(6)
    r = rng.normal(size=(60, 4, 1)) + rng.normal(size=(60, 4, 5))
    r[3, 1, :3] = np.nan  # a half can lose a stimulus
    r[7, :, 4] = np.nan
    a, b = split_halves(r, 6, seed=0)
    rows = rng.integers(0, 60, size=(30, 60))
    copies = np.stack([_reliability_of(a[:, rw], b[:, rw]) for rw in rows])
    np.testing.assert_allclose(_boot_reliability(a, b, rows), copies, rtol=1e-10, atol=1e-12)
