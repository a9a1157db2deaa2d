"""Receptive fields of single units: theoretical box, gradient map, reverse correlation."""

import numpy as np
import pytest
import torch
from torch import nn

from engine.analyses.unit_rf import ReverseCorrelation, empirical_box, gradient_rf, reverse_correlation
from engine.analyses.units import Unit, unit_geometry
from engine.anatomy.tree import build_anatomy
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Cancelled, Recorder
from engine.recording.unit import clip_box
from engine.stimuli.protocols import Protocol

SIZE = 24


def _positive_net():
    """conv 5x5 -> tanh -> conv 3x3 stride 2 -> tanh: every path has a non-zero gradient."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 5), nn.Tanh(), nn.Conv2d(4, 2, 3, stride=2, padding=1), nn.Tanh())
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.2, 1.0).div_(m.weight[0].numel())  # small: tanh never saturates
                m.bias.zero_()
    return net.eval()


def _noise_batches(n=6, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, 3, SIZE, SIZE, generator=g) * 0.3
    return [data[i:i + batch] for i in range(0, n, batch)]


def test_theoretical_box_is_the_known_geometry():
    net = _positive_net()
    geo = unit_geometry(build_anatomy(net, (SIZE, SIZE)), Unit("3", 1, 4, 6))
    # conv 5 (field 0..4, jump 1) then conv 3, stride 2, padding 1: unit (y, x) sees
    # rows 2y - 1 .. 2y + 5
    assert geo.box == (7.0, 11.0, 13.0, 17.0) and geo.side == 7 and geo.center == (10.0, 14.0)
    centre = unit_geometry(build_anatomy(net, (SIZE, SIZE)), Unit("3", 0))
    assert (centre.unit.y, centre.unit.x) == (5, 5)  # the 10 x 10 map's centre


@pytest.mark.parametrize("y, x", [(4, 6), (0, 0), (9, 3)])
def test_gradient_support_equals_the_theoretical_box(y, x):
    net = _positive_net()
    unit = Unit("3", 1, y, x)
    geo = unit_geometry(build_anatomy(net, (SIZE, SIZE)), unit)
    for grad in gradient_rf(Recorder(net, "cpu"), unit, _noise_batches()):
        pass
    assert grad.n == 6
    assert grad.box(rel_threshold=0) == clip_box(geo.box, SIZE, SIZE)


def test_gradient_of_a_linear_unit_is_its_weights_over_the_input_scale():
    conv = nn.Conv2d(3, 1, 5)
    net = nn.Sequential(conv).eval()
    unit = Unit("0", 0, 3, 7)
    for grad in gradient_rf(Recorder(net, "cpu"), unit, _noise_batches(4, 4)):
        pass
    expected = np.zeros((3, SIZE, SIZE))
    expected[:, 3:8, 7:12] = conv.weight.detach().double().numpy()[0]
    np.testing.assert_allclose(grad.mean_signed, expected, atol=1e-6)
    np.testing.assert_allclose(grad.mean_abs, np.abs(expected).sum(axis=0), atol=1e-6)


def test_streamed_gradient_mean_equals_one_big_batch_and_works_under_inference_mode():
    net = _positive_net()
    unit = Unit("3", 0)
    batches = _noise_batches(6, 2)
    with torch.inference_mode():  # as a GUI worker thread runs
        for streamed in gradient_rf(Recorder(net, "cpu"), unit, batches):
            pass
    for whole in gradient_rf(Recorder(net, "cpu"), unit, [torch.cat(batches)]):
        pass
    np.testing.assert_allclose(streamed.mean_abs, whole.mean_abs, rtol=1e-6, atol=1e-12)
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(Cancelled):
        list(gradient_rf(Recorder(net, "cpu"), unit, batches, cancelled=lambda: True))


def test_empirical_box_thresholds_relative_to_the_peak():
    m = np.zeros((10, 10))
    m[2:5, 3:8] = 0.05
    m[3, 4] = 1.0
    assert empirical_box(m, 0.0) == (2.0, 3.0, 4.0, 7.0)
    assert empirical_box(m, 0.1) == (3.0, 4.0, 3.0, 4.0)
    assert empirical_box(np.zeros((3, 3))) is None


def test_sparse_noise_reverse_correlation_finds_the_one_pixel_a_unit_sees():
    size, pixel = 12, (4, 9)
    conv = nn.Conv2d(3, 1, size, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, :, pixel[0], pixel[1]] = torch.tensor([1.0, 0.5, 2.0])
    net = nn.Sequential(conv)
    pp = Preprocess(LoadedModel("toy", net, "set by the test", source="python", input_size=(size, size)))
    protocol = Protocol("sparse_noise", size, {"frames": [150], "grid": [size], "n_on": [12]})
    counts = []
    for maps in reverse_correlation(Recorder(net, "cpu"), Unit("0", 0), protocol, pp, batch_size=64):
        counts.append(maps.n)
    assert counts == [64, 128, 150]
    difference = maps.on_map - maps.off_map
    assert np.unravel_index(np.nanargmax(difference), difference.shape) == pixel
    # The unit sees only that pixel: bright minus dark is sum_c w_c (1 - 0) / std_c exactly.
    expected = sum(w / s for w, s in zip([1.0, 0.5, 2.0], pp.std.numpy().ravel()))
    assert difference[pixel] == pytest.approx(expected, rel=1e-5)
    assert np.unravel_index(np.argmax(maps.sta), maps.sta.shape) == pixel


def test_reverse_correlation_streams_exactly():
    rng = np.random.default_rng(1)
    frames = (rng.random((20, 6, 5, 3)) > 0.5).astype(float)
    responses = rng.normal(size=20)
    whole = ReverseCorrelation(6, 5)
    whole.update(frames, responses)
    parts = ReverseCorrelation(6, 5)
    for i in range(0, 20, 7):
        parts.update(frames[i:i + 7], responses[i:i + 7])
    np.testing.assert_allclose(parts.on_map, whole.on_map)
    np.testing.assert_allclose(parts.sta, whole.sta, atol=1e-12)
    np.testing.assert_allclose(parts.on_off_test()[0], whole.on_off_test()[0], rtol=1e-12)  # sums of squares too
    grey = frames.mean(axis=-1)
    expected = ((responses - responses.mean())[:, None, None] * (grey - grey.mean(axis=0))).mean(axis=0)
    np.testing.assert_allclose(whole.sta, expected, atol=1e-12)
