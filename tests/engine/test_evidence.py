"""A unit's evidence on an image: the gradient of a linear unit is its weights, gradient x
input adds up to its response, and guided backprop of a planted unit peaks in its RF box."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from planted_units import MEAN, STD, gabor, grey, one_thread, planted_conv, session_for  # noqa: F401
from torch import nn

from engine.analyses.evidence import METHODS, evidence, peak, saliency
from engine.analyses.units import Unit, unit_geometry
from engine.anatomy.tree import build_anatomy
from engine.errors import UnitscopeError
from engine.jobs.evidence import EvidenceMaps
from engine.stimuli.procedural import white_noise

SIZE = 48


def _normalised(pixels: np.ndarray) -> torch.Tensor:
    return ((torch.as_tensor(pixels).permute(2, 0, 1).double() - torch.tensor(MEAN).view(3, 1, 1))
            / torch.tensor(STD).view(3, 1, 1)).float()


def test_linear_unit_gradient_is_its_weights_and_gradient_x_input_adds_up_to_its_response():
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(3, 7, 7))
    conv = nn.Conv2d(3, 1, 7)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weights[None]))
        conv.bias.fill_(0.2)
    net = nn.Sequential(conv).eval()
    pixels = white_noise(SIZE, seed=3, color=True)
    unit = Unit("0", 0, 10, 20)
    found = evidence(net, unit, _normalised(pixels), MEAN, STD)
    grad = found.maps["gradient"]
    expected = np.zeros((SIZE, SIZE, 3))
    expected[10:17, 20:27] = (weights / STD[:, None, None]).transpose(1, 2, 0)  # d r / d pixel
    np.testing.assert_allclose(grad, expected, atol=1e-5)
    grey_pixels = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    with torch.no_grad():
        r, r_grey = (float(net(_normalised(p)[None])[0, 0, 10, 20]) for p in (pixels, grey_pixels))
    assert found.activation == pytest.approx(r, abs=1e-5)
    assert found.maps["gradient_x_input"].sum() == pytest.approx(r - r_grey, rel=1e-4)
    np.testing.assert_allclose(found.maps["guided_backprop"], grad, atol=1e-6)  # no ReLU: nothing to guide


def test_guided_backprop_of_a_planted_unit_peaks_inside_its_rf_box_and_hooks_are_removed():
    first = planted_conv([grey(gabor(0, 6, 2, k=9)), grey(gabor(90, 6, 2, k=9))])
    second = nn.Conv2d(2, 1, 3)
    with torch.no_grad():
        second.weight[0, 0] = 0.5
        second.weight[0, 1] = -0.2  # negative gradients for guided backprop to stop
        second.bias.zero_()
    net = nn.Sequential(first, nn.ReLU(inplace=True), nn.MaxPool2d(2), second, nn.ReLU()).eval()
    unit = Unit("4", 0, 3, 14)

    geometry = unit_geometry(build_anatomy(net, (SIZE, SIZE)), unit)
    top, left, bottom, right = geometry.box
    pixels = white_noise(SIZE, seed=0, color=False)
    found = evidence(net, unit, _normalised(pixels), MEAN, STD)
    assert found.activation > 0
    y, x = peak(found.maps["guided_backprop"])
    assert top <= y <= bottom and left <= x <= right
    guided = saliency(found.maps["guided_backprop"])
    inside = np.zeros_like(guided, bool)
    inside[int(max(top, 0)):int(bottom) + 1, int(max(left, 0)):int(right) + 1] = True
    assert guided[~inside].max() == 0 and guided[inside].max() > 0
    # guided backprop differs from the gradient: negative gradients were stopped at the ReLUs
    assert not np.allclose(found.maps["guided_backprop"], found.maps["gradient"])
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(UnitscopeError, match="Unknown evidence method 'deconv'"):
        evidence(net, unit, _normalised(pixels), MEAN, STD, methods=("deconv",))


class _FunctionalNet(nn.Module):
    """The planted net of the test above with its ReLUs written as calls inside forward."""

    def __init__(self, first, second, inplace_call):
        super().__init__()
        self.first, self.pool, self.second, self.inplace_call = first, nn.MaxPool2d(2), second, inplace_call

    def forward(self, x):
        x = self.first(x)
        x = F.relu(x, inplace=True) if self.inplace_call else torch.relu(x)
        x = self.second(self.pool(x))
        return x.relu()


@pytest.mark.parametrize("inplace_call", [True, False])
def test_guided_backprop_guides_relus_written_as_calls_like_relu_modules(inplace_call):
    """F.relu / torch.relu / Tensor.relu inside forward are guided as nn.ReLU modules are:
    the maps of the functional net equal those of the same weights in nn.ReLU modules."""
    first = planted_conv([grey(gabor(0, 6, 2, k=9)), grey(gabor(90, 6, 2, k=9))])
    second = nn.Conv2d(2, 1, 3)
    with torch.no_grad():
        second.weight[0, 0] = 0.5
        second.weight[0, 1] = -0.2
        second.bias.zero_()
    modules = nn.Sequential(first, nn.ReLU(inplace=True), nn.MaxPool2d(2), second, nn.ReLU()).eval()
    functional = _FunctionalNet(first, second, inplace_call).eval()
    pixels = _normalised(white_noise(SIZE, seed=0, color=False))
    by_modules = evidence(modules, Unit("4", 0, 3, 14), pixels, MEAN, STD)
    by_calls = evidence(functional, Unit("second", 0, 3, 14), pixels, MEAN, STD)
    assert by_calls.activation == pytest.approx(by_modules.activation, abs=1e-6)
    np.testing.assert_allclose(by_calls.maps["gradient"], by_modules.maps["gradient"], atol=1e-7)
    np.testing.assert_allclose(by_calls.maps["guided_backprop"], by_modules.maps["guided_backprop"], atol=1e-7)
    assert not np.allclose(by_calls.maps["guided_backprop"], by_calls.maps["gradient"])  # it was guided


def test_evidence_job_gives_the_maps_over_the_input_with_the_rf_box():
    net = nn.Sequential(planted_conv([grey(gabor(45, 6, 2, k=9))]), nn.ReLU())
    session = session_for(net, SIZE)
    (snap,) = session.run(EvidenceMaps("1", 0, 5, 7, ("procedural", "white noise")))
    assert set(snap.maps) == set(METHODS) and snap.input_image.shape == (SIZE, SIZE, 3)
    assert snap.input_image.dtype == np.uint8 and snap.rf_box == (5, 7, 13, 15)
    assert snap.unit_label == "1[0](5,7)" and snap.done == snap.total == 1
    assert session.hooks_left() == []
