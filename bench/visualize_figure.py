"""Figure 10: feature-visualisation steps per second against a hand-written torch loop.

Both optimise the same thing the same way: a decorrelated Fourier-space image (the
spectrum scaled by 1/|f|, colours mixed by the ImageNet colour square root, a sigmoid),
one random shift/scale/rotation per step, the mean of one channel of ResNet-18's
``layer3`` maximised with Adam (lr 0.05), the model's parameters frozen.  The hand loop
is what one writes with Lucent's recipe in plain torch: a forward hook keeps the layer's
output and the whole network runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from bench.timing import Figure, repeat

LAYER, CHANNEL = "layer3", 7
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def hand_loop(model, size: int, steps: int, device: str) -> None:
    """Feature visualisation written out in torch, as a user would."""
    gen = torch.Generator().manual_seed(0)
    spectrum = (torch.randn(1, 3, size, size // 2 + 1, 2, generator=gen) * 0.01).to(device).requires_grad_(True)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    scale = torch.tensor(1 / np.maximum(np.sqrt(fx**2 + fy**2), 1 / size), dtype=torch.float32,
                         device=device)[None, None, :, :, None]
    svd = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
    mix = torch.tensor((svd / np.max(np.linalg.norm(svd, axis=0))).T.copy(), device=device)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    rng = np.random.default_rng(0)
    kept = {}
    handle = dict(model.named_modules())[LAYER].register_forward_hook(lambda m, i, o: kept.update(out=o))
    optimiser = torch.optim.Adam([spectrum], lr=0.05)
    try:
        for _ in range(steps):
            optimiser.zero_grad()
            image = torch.fft.irfft2(torch.view_as_complex(scale * spectrum), s=(size, size), norm="ortho") / 4
            image = torch.sigmoid(torch.einsum("nchw,cd->ndhw", image, mix))
            s = 1 + (rng.integers(11) - 5) / 50
            a = math.radians(rng.integers(-10, 11))
            dy, dx = rng.uniform(-size / 28, size / 28, 2)
            theta = torch.tensor([[math.cos(a) / s, -math.sin(a) / s, -2 * dx / size],
                                  [math.sin(a) / s, math.cos(a) / s, -2 * dy / size]], device=device,
                                 dtype=torch.float32)
            grid = F.affine_grid(theta[None], [1, 3, size, size], align_corners=False)
            image = F.grid_sample(image - 0.5, grid, align_corners=False) + 0.5
            model((image - mean) / std)
            loss = -kept["out"][:, CHANNEL].mean()
            loss.backward()
            optimiser.step()
    finally:
        handle.remove()
    if device == "cuda":
        torch.cuda.synchronize()


def unitscope_loop(model, size: int, steps: int, device: str) -> None:
    from engine.analyses.feature_vis import Objective, visualize

    for _ in visualize(model, Objective(LAYER, CHANNEL), (size, size), MEAN, STD, steps=steps, every=steps,
                       device=device):
        pass
    if device == "cuda":
        torch.cuda.synchronize()


def visualisation(repeats: int, steps: int, size: int = 224, devices: tuple[str, ...] | None = None) -> Figure:
    devices = devices or (("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    fig = Figure("10", f"Feature visualisation: steps per second, ResNet-18 `{LAYER}` channel {CHANNEL}, "
                       f"{size} px, {steps} steps (target ≥ 0.9× a hand-written torch loop)")
    for device in devices:
        torch.manual_seed(0)
        model = torchvision.models.resnet18().eval().to(device).requires_grad_(False)
        hand = repeat(lambda: hand_loop(model, size, steps, device), repeats)
        ours = repeat(lambda: unitscope_loop(model, size, steps, device), repeats)
        ratio = hand.median / ours.median
        fig.add(f"unitscope visualize ({device})", f"{steps / ours.median:.1f} steps/s ({ours.s()})",
                f"hand loop {steps / hand.median:.1f} steps/s ({hand.s()})", ratio >= 0.9)
        fig.add(f"speed ratio ({device})", f"{ratio:.2f}×", "target ≥ 0.9×", ratio >= 0.9)
    fig.notes.append("Unitscope stops the forward pass at the layer (a hook raises once its output exists); "
                     "the hand loop runs the whole network, as Lucent does.")
    if "cuda" not in devices:
        fig.notes.append("CUDA rows are added on a machine with an NVIDIA GPU.")
    return fig
