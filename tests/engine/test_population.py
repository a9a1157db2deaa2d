"""Population analyses: streaming equals the full-matrix computation; known answers."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group
from torch import nn

from engine.analyses.population import (
    PopulationMoments,
    PopulationSource,
    RDMBuilder,
    StreamingCKA,
    compare_stream,
    participation_ratio,
    pca_of,
    population_stream,
    population_vectors,
    sparseness,
)
from engine.analyses.similarity import linear_cka, rdm_of, rsa
from engine.errors import UnitscopeError
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Recorder
from engine.stimuli.protocols import Protocol


def _data(n=60, d=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 5.0  # correlated, off-centre


def _stream(cls_update, x, batch):
    for start in range(0, len(x), batch):
        cls_update(x[start:start + batch])


@pytest.mark.parametrize("batch", [1, 7, 60])
def test_streamed_pca_equals_svd_of_the_whole_matrix(batch):
    x = _data()
    moments = PopulationMoments(x.shape[1])
    _stream(moments.update, x, batch)
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(moments.covariance, np.cov(x, rowvar=False), atol=1e-10)
    streamed, full = moments.pca(3), pca_of(x, 3)
    np.testing.assert_allclose(streamed.explained_variance, full.explained_variance, rtol=1e-10)
    np.testing.assert_allclose(streamed.explained_variance_ratio, full.explained_variance_ratio, rtol=1e-10)
    np.testing.assert_allclose(streamed.components, full.components, atol=1e-8)
    np.testing.assert_allclose(streamed.transform(x), full.transform(x), atol=1e-8)
    # and the reference itself is numpy's SVD of the centred data
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(full.explained_variance, s[:3] ** 2 / (len(x) - 1))


@pytest.mark.parametrize("k, d", [(1, 5), (3, 8), (6, 6)])
def test_participation_ratio_of_an_isotropic_k_dimensional_population_is_k(k, d):
    assert participation_ratio(np.r_[np.full(k, 2.5), np.zeros(d - k)]) == pytest.approx(k)
    rng = np.random.default_rng(k)
    scores = np.linalg.qr(rng.normal(size=(40, k)) - 0)[0]
    scores -= scores.mean(axis=0)
    scores = np.linalg.qr(scores)[0] * np.sqrt(39)  # centred, orthogonal, equal variance
    basis = ortho_group.rvs(d, random_state=k)[:k]
    moments = PopulationMoments(d)
    moments.update(scores @ basis + 3.0)
    assert moments.participation_ratio() == pytest.approx(k, rel=1e-8)


def test_rdm_streams_to_one_minus_pearson():
    x = _data(23, 9, seed=2)
    exact = RDMBuilder(dtype=np.float64)
    _stream(exact.update, x, 5)
    np.testing.assert_allclose(exact.rdm, 1 - np.corrcoef(x), atol=1e-12)
    np.testing.assert_allclose(exact.rows, x)
    compact = RDMBuilder(chunk=4)  # float32 rows, small chunks
    _stream(compact.update, x, 3)
    np.testing.assert_allclose(compact.rdm, 1 - np.corrcoef(x.astype(np.float32).astype(float)), atol=1e-10)
    np.testing.assert_allclose(rdm_of(x), 1 - np.corrcoef(x), atol=1e-12)


def test_sparseness_known_values_and_lifetime_streaming():
    assert sparseness(np.array([0.0, 0.0, 5.0, 0.0]))[()] == pytest.approx(1.0)
    assert sparseness(np.array([2.0, 2.0, 2.0]))[()] == pytest.approx(0.0)
    assert sparseness(np.array([1.0, -3.0, 0.0, 0.0]))[()] == pytest.approx(1.0)  # rectified
    assert np.isnan(sparseness(np.zeros(4))[()])
    x = _data(30, 4, seed=5) - 5.0
    moments = PopulationMoments(4)
    _stream(moments.update, x, 8)
    np.testing.assert_allclose(moments.lifetime_sparseness(), sparseness(x, axis=0))


def test_cka_is_one_on_itself_and_invariant_to_rotation_and_scale():
    x = _data(40, 6, seed=3)
    q = ortho_group.rvs(6, random_state=1)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.7 * x @ q + 2.0) == pytest.approx(1.0)
    y = _data(40, 4, seed=4)
    assert linear_cka(x, y @ ortho_group.rvs(4, random_state=2) * 0.1) == pytest.approx(linear_cka(x, y))
    wide = _data(10, 30, seed=6)  # N < D: the Gram form
    assert linear_cka(wide, wide @ ortho_group.rvs(30, random_state=3)) == pytest.approx(1.0)
    assert linear_cka(wide, _data(10, 3, seed=7)) < 1
    streaming = StreamingCKA(6, 4)
    for start in range(0, 40, 9):
        streaming.update(x[start:start + 9], y[start:start + 9])
    assert streaming.value == pytest.approx(linear_cka(x, y), rel=1e-10)


def test_rsa_is_spearman_of_the_upper_triangles():
    x = _data(12, 5, seed=8)
    r = rdm_of(x)
    assert rsa(r, r) == pytest.approx(1.0)
    assert rsa(r, np.exp(3 * r)) == pytest.approx(1.0)  # ranks only
    assert rsa(r, -r) == pytest.approx(-1.0)
    with pytest.raises(UnitscopeError):
        rsa(r, r[:5, :5])


def test_covariance_refuses_a_population_too_large():
    with pytest.raises(UnitscopeError, match="channels"):
        PopulationMoments(5000)


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 5, stride=2), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.ReLU()).eval()
    pp = Preprocess(LoadedModel("toy", net, "random", source="python", input_size=(24, 24)))
    protocol = Protocol("gratings", 24, {"orientation": [0, 45, 90, 135], "sf": [2, 5]}, phases=2)
    return Recorder(net, "cpu"), pp, protocol


def _all_outputs(rec, pp, protocol, layer):
    inputs = torch.cat([b.inputs for b in protocol.batches(pp, 100)])
    return rec.record_one([layer], inputs).outputs[layer]


@pytest.mark.parametrize("view", ["flat", "channels", "centre"])
def test_population_stream_equals_the_whole_recording(toy, view):
    rec, pp, protocol = toy
    sizes = []
    for state in population_stream(rec, "3", protocol, pp, view, batch_size=5):
        sizes.append(state.n)
    assert sizes == [5, 10, 15, 16]
    x = population_vectors(_all_outputs(rec, pp, protocol, "3"), view)
    np.testing.assert_allclose(state.rdm.rows, x, atol=1e-5)
    with np.errstate(invalid="ignore"):  # a stimulus that silences the whole view has no r
        expected = 1 - np.corrcoef(state.rdm.rows.astype(float))
    np.testing.assert_allclose(state.rdm.rdm, expected, atol=1e-9)
    np.testing.assert_allclose(state.pca().explained_variance, pca_of(x).explained_variance, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(np.abs(state.scores(2)), np.abs(pca_of(x, 2).transform(x)), atol=1e-4)
    np.testing.assert_allclose(state.population_sparseness, sparseness(x, axis=1), atol=1e-5)


def test_flat_population_above_the_covariance_limit_uses_the_kept_rows(toy):
    rec, pp, protocol = toy
    for state in population_stream(rec, "3", protocol, pp, "flat", batch_size=8, max_dim=10):
        pass
    assert state.moments is None and state.n == 16
    x = state.rdm.rows.astype(float)
    np.testing.assert_allclose(state.pca(3).explained_variance, pca_of(x, 3).explained_variance)
    with pytest.raises(UnitscopeError, match="too many"):
        list(population_stream(rec, "3", protocol, pp, "flat", rdm=False, max_dim=10))


def test_comparing_two_layers_of_one_model_equals_the_whole_recording(toy):
    rec, pp, protocol = toy
    a = PopulationSource(rec, "1", pp, "channels")
    b = PopulationSource(rec, "3", pp, "centre")
    for comparison in compare_stream(a, b, protocol, batch_size=6):
        pass
    xa = population_vectors(_all_outputs(rec, pp, protocol, "1"), "channels")
    xb = population_vectors(_all_outputs(rec, pp, protocol, "3"), "centre")
    assert comparison.rsa() == pytest.approx(rsa(rdm_of(xa), rdm_of(xb)), abs=1e-6)
    assert comparison.cka() == pytest.approx(linear_cka(xa, xb), rel=1e-5)
    same = compare_stream(a, PopulationSource(Recorder(rec.model, "cpu"), "1", pp, "channels"), protocol, 6)
    for twin in same:  # a "second model" with the same weights: two passes in step
        pass
    assert twin.rsa() == pytest.approx(1.0) and twin.cka() == pytest.approx(1.0)
