"""Gratings named by their labels, drawn here by hand, and the responses of a network's units to
them recorded by a forward hook: what the grating tests of the predict job, its figure and the
Brain view compare the engine with."""

from __future__ import annotations

import math

import numpy as np

SIZE = 16
ORIENTATIONS = 15.0 * np.arange(12)
SFS = (2.0, 4.0)
PHASES = (0.0, 90.0, 180.0, 270.0)
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def grating_by_hand(theta, sf, phase, contrast=1.0, size=SIZE):
    """0.5 + 0.5 c cos(2 pi sf u / size + phase), u = x cos(theta) + y sin(theta) from the image centre."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    u = x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta))
    g = 0.5 + 0.5 * contrast * np.cos(2 * math.pi * sf * u / size + math.radians(phase))
    return np.repeat(g[:, :, None], 3, axis=2)


def normalised(images: np.ndarray):
    """Images ``(S, H, W, 3)`` in [0, 1] as ImageNet-normalised model inputs ``(S, 3, H, W)``."""
    import torch

    return torch.as_tensor(((images - MEAN) / STD).transpose(0, 3, 1, 2), dtype=torch.float32)


def hooked(net, layer: str, images) -> np.ndarray:
    """The layer's output ``(S, units)`` for images ``(S, H, W, 3)`` in [0, 1] (or inputs ``(S, 3, H, W)``),
    by a forward hook."""
    import torch

    x = images if isinstance(images, torch.Tensor) else normalised(images)
    got = {}
    handle = dict(net.named_modules())[layer].register_forward_hook(lambda m, i, o: got.setdefault("y", o))
    try:
        with torch.no_grad():
            net(x)
    finally:
        handle.remove()
    return got["y"].reshape(len(images), -1).double().numpy()


def grid():
    """Every (orientation, sf, phase) of the grid, orientation slowest."""
    return [(o, f, p) for o in ORIENTATIONS for f in SFS for p in PHASES]


def label(o, f, p):
    return f"grating orientation={o:g} sf={f:g} phase={p:g}"


def tuning_by_hand(responses):
    """From responses ``(O, F, P, N, R)``: each neuron's F0 over orientation at its preferred SF and
    the SEM over repeats of each repeat's mean over phases."""
    f0 = responses.mean(axis=4).mean(axis=2)  # (O, F, N)
    n = responses.shape[3]
    best_sf = [np.unravel_index(np.argmax(f0[:, :, k]), f0.shape[:2])[1] for k in range(n)]
    curve = np.stack([f0[:, best_sf[k], k] for k in range(n)])
    per_repeat = responses.mean(axis=2)  # (O, F, N, R)
    sem = np.stack([per_repeat[:, best_sf[k], k].std(axis=1, ddof=1) / math.sqrt(responses.shape[4])
                    for k in range(n)])
    return curve, sem, np.array(SFS)[best_sf]
