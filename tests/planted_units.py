"""Hand-built units whose answers are known, shared by the feature-visualisation, evidence
and property-battery tests: Gabor kernels, a bias that silences mean grey, sessions on
tiny networks and factory files for the command line."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.anatomy.tree import build_anatomy
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Recorder
from engine.session.session import Session
from engine.session.values import ModelSpec

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def gabor(theta=0.0, wavelength=8.0, sigma=3.0, phase=0.0, k=31):
    """A Gabor kernel ``(k, k)``; ``theta`` as the procedural stimuli's orientation."""
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    u = x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta))
    return np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * math.pi * u / wavelength + phase)


def grey(kernel: np.ndarray) -> np.ndarray:
    """The kernel on every colour channel, times its std: it acts on pixels in [0, 1]."""
    return np.stack([kernel * STD[c] for c in range(3)])


def grey_bias(weights: np.ndarray) -> float:
    """The bias that makes a conv filter ``(3, k, k)`` answer 0 to mean grey."""
    return -float(sum(weights[c].sum() * (0.5 - MEAN[c]) / STD[c] for c in range(3)))


def planted_conv(filters: list[np.ndarray]) -> nn.Conv2d:
    """A conv with these filters ``(3, k, k)`` and biases that silence mean grey."""
    k = filters[0].shape[-1]
    conv = nn.Conv2d(3, len(filters), k)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(np.stack(filters), dtype=torch.float32))
        conv.bias.copy_(torch.tensor([grey_bias(w) for w in filters], dtype=torch.float32))
    return conv


def session_for(net: nn.Module, size: int) -> Session:
    """A :class:`Session` on a hand-built network, CPU, input ``size`` pixels."""
    net = net.eval()
    loaded = LoadedModel("planted", net, "set by the test", source="python", input_size=(size, size))
    return Session(ModelSpec("planted", device="cpu"), loaded, build_anatomy(net, (size, size)),
                   Recorder(net, "cpu"), Preprocess(loaded))


#: A factory body (:func:`write_factory`): three 15 x 15 Gabor filters at 0, 60 and 120 degrees
#: (stride 8, a ReLU), whose units have known preferred orientations.
GABOR_FACTORY = """
    k = 15
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    conv = nn.Conv2d(3, 3, k, stride=8)
    with torch.no_grad():
        for c, theta in enumerate((0.0, 60.0, 120.0)):
            u = x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta))
            g = np.exp(-(x**2 + y**2) / 18.0) * np.cos(2 * math.pi * u / 7.5)
            conv.weight[c] = torch.as_tensor(np.stack([g * s for s in (0.229, 0.224, 0.225)]))
        conv.bias.zero_()
    return nn.Sequential(conv, nn.ReLU())
    """


def write_factory(folder: Path, body: str) -> str:
    """Write ``net.py`` with ``def build():`` made of ``body``; return the ``FILE.py:build`` spec."""
    source = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\n\n\ndef build():\n"
    (folder / "net.py").write_text(source + textwrap.indent(textwrap.dedent(body), "    "))
    return f"{folder / 'net.py'}:build"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a CPU shared by many processes a team of threads mostly waits for
    each other (these tests take 10 times longer with two), and results stay identical."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def von_mises_deg(theta_deg, mu_deg: float, kappa: float):
    """``exp(kappa (cos 2(theta - mu) - 1))``: peak 1 at ``mu``, period 180 degrees."""
    return torch.exp(kappa * (torch.cos(2 * torch.deg2rad(theta_deg - mu_deg)) - 1))


class GratingReader(nn.Module):
    """Units whose tuning to full-field gratings is exactly ``vonMises(theta) * logGaussian(sf)``.

    A grating minus grey is ``s(p) = A cos(w . p + phi)``, and for any step ``e``
    ``s(p + e) + s(p - e) = 2 cos(w . e) s(p)`` exactly, so ``cos w_x``, ``cos w_y`` and
    ``cos(w_x + w_y)`` are read from the image (float64, from the red channel) and give its
    orientation and SF (cycles per image side) to float precision.  Each unit ``(mu_deg,
    kappa, sf0, fwhm_octaves)`` answers ``exp(kappa (cos 2(theta - mu) - 1)) *
    exp(-(log2 sf - log2 sf0)^2 / (2 s^2))`` with ``s = fwhm / (2 sqrt(2 ln 2))``.  The output
    is ``(N, units)``: the units have no map, so SF is in cycles per image.
    """

    def __init__(self, units: list[tuple[float, float, float, float]]):
        super().__init__()
        self.units = units

    def forward(self, x):
        g = x[:, 0].double() * STD[0] + MEAN[0] - 0.5
        h, w = g.shape[-2:]
        centre = g[:, 1:-1, 1:-1]
        power = 2 * (centre * centre).sum((1, 2)).clamp_min(1e-300)

        def cos_step(dy, dx):
            plus = g[:, 1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
            minus = g[:, 1 - dy:h - 1 - dy, 1 - dx:w - 1 - dx]
            return ((centre * (plus + minus)).sum((1, 2)) / power).clamp(-1, 1)

        wx, wy = torch.arccos(cos_step(0, 1)), torch.arccos(cos_step(1, 0))
        diagonal = cos_step(1, 1)
        wy = torch.where((torch.cos(wx + wy) - diagonal).abs() > (torch.cos(wx - wy) - diagonal).abs(), -wy, wy)
        theta = torch.rad2deg(torch.atan2(wy, wx)) % 180
        sf = torch.sqrt(wx**2 + wy**2) * min(h, w) / (2 * math.pi)
        out = []
        for mu, kappa, sf0, fwhm in self.units:
            s = fwhm / (2 * math.sqrt(2 * math.log(2)))
            log_gauss = torch.exp(-((torch.log2(sf.clamp_min(1e-12)) - math.log2(sf0)) ** 2) / (2 * s * s))
            out.append(von_mises_deg(theta, mu, kappa) * log_gauss)
        return torch.stack(out, 1).float()
