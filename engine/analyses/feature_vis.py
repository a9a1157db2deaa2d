"""Feature visualisation: the image a unit wants, by activation maximisation.

The image is optimised in the parameterisation of Olah, Mordvintsev & Schubert (2017,
"Feature Visualization", Distill) as Lucid and Lucent implement it:

* **Decorrelated Fourier space.**  Each colour channel is the inverse real FFT of a
  learnt spectrum scaled by ``1 / max(|f|, 1 / max(H, W))`` (``|f|`` in cycles per pixel),
  so every spatial frequency starts with the same gradient step and the image does not
  fill with high-frequency noise.  The spectrum starts as N(0, 0.01^2) noise.
* **Decorrelated colour.**  The three channels are mixed by the square root of the
  ImageNet colour covariance (its SVD square root, columns scaled to unit max norm),
  then a sigmoid maps the result into [0, 1].
* **Transformation robustness.**  Before every step the image goes through a random
  affine map, one ``grid_sample`` the size of the image: a shift of up to ``jitter``
  pixels, a scale from ``scales``, a rotation from ``angles`` (degrees); pixels from
  outside the image are mean grey (Lucent pads with 0.5 too).  The unit therefore keeps
  its place in the map, so a single unit ``(channel, y, x)`` stays the same unit.

The objective is the mean of a channel over the map, one unit's value, or the mean dot
product of the layer's vectors with a direction; with several images an optional
diversity term (Lucent's: minus the summed cosine similarity of the images' Gram
matrices at the layer) pushes them apart.  Adam updates the spectrum.

All randomness comes from ``seed``: the spectrum from a ``torch.Generator`` on the CPU
and the transforms from a NumPy generator, so on the CPU the same seed gives the same
image bit for bit.  The forward pass stops at the unit's layer (a hook raises once its
output exists), and the model's parameters take no gradient while the image is optimised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.analyses.unit_rf import _unit_output
from engine.analyses.units import as_maps
from engine.errors import UnitscopeError
from engine.recording.recorder import Cancelled
from engine.recording.unit import LayerRef, maps_shape

#: Square root of the ImageNet colour covariance (Lucid's ``color_correlation_svd_sqrt``).
COLOR_SQRT = np.array([[0.26, 0.09, 0.02],
                       [0.27, 0.00, -0.05],
                       [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_MIX = COLOR_SQRT / np.max(np.linalg.norm(COLOR_SQRT, axis=0))
"""Colour mixing matrix: columns scaled so that the largest has unit norm."""

SPECTRUM_SD = 0.01
DECAY_POWER = 1.0
SCALES = tuple(1 + (i - 5) / 50 for i in range(11))
ANGLES = tuple(float(a) for a in range(-10, 11))


@dataclass(frozen=True)
class Objective:
    """What is maximised at one layer's output.

    ``channel`` alone: the channel's mean over the map (a vector output: its value).
    ``channel`` with ``y``/``x``: one unit.  ``direction`` (one weight per channel):
    the mean over the map of the dot product with the layer's vector at each position.
    """

    layer: str
    channel: int | None = None
    y: int | None = None
    x: int | None = None
    direction: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        if self.direction is not None:
            return f"{self.layer} direction"
        where = f"({self.y},{self.x})" if self.y is not None and self.x is not None else ""
        return f"{self.layer}[{self.channel}]{where}"

    def check(self, output_shape: Sequence[int]) -> None:
        """Fail with one line if the objective does not fit a layer output ``(N, C[, H, W])``
        (tokens ``(N, T, D)`` as D channels over their patch grid)."""
        shape = maps_shape(output_shape)
        if len(shape) not in (2, 4):
            raise UnitscopeError(f"Layer '{self.layer}' has output {shape}; feature visualisation needs "
                                 "(N, C) or (N, C, H, W).")
        channels = shape[1]
        if self.direction is not None:
            if len(self.direction) != channels:
                raise UnitscopeError(f"The direction has {len(self.direction)} values; layer "
                                     f"'{self.layer}' has {channels} channels.")
            return
        if self.channel is None or not 0 <= self.channel < channels:
            raise UnitscopeError(f"Channel {self.channel} is not in layer '{self.layer}' "
                                 f"(channels 0 to {channels - 1}).")
        if (self.y is None) != (self.x is None):
            raise UnitscopeError("Give both --y and --x for a single unit, or neither for the channel.")
        if self.y is not None:
            if len(shape) != 4:
                raise UnitscopeError(f"Layer '{self.layer}' has no spatial map; leave out --y and --x.")
            if not (0 <= self.y < shape[2] and 0 <= self.x < shape[3]):
                raise UnitscopeError(f"Unit ({self.y}, {self.x}) is outside the {shape[2]} x {shape[3]} "
                                     f"map of layer '{self.layer}'.")

    def values(self, output: torch.Tensor) -> torch.Tensor:
        """The objective of each image, ``(N,)``, from the layer's output."""
        output = as_maps(output)
        if self.direction is not None:
            d = torch.as_tensor(self.direction, dtype=output.dtype, device=output.device)
            vectors = output if output.dim() == 2 else output.flatten(2).transpose(1, 2)  # (N, HW, C)
            return (vectors @ d).reshape(output.shape[0], -1).mean(dim=1)
        if output.dim() == 2:
            return output[:, self.channel]
        if self.y is not None:
            return output[:, self.channel, self.y, self.x]
        return output[:, self.channel].mean(dim=(1, 2))


# --- the parameterisation -----------------------------------------------------------


def spectrum_scale(height: int, width: int, decay_power: float = DECAY_POWER) -> np.ndarray:
    """``1 / max(|f|, 1 / max(H, W)) ** decay_power`` on the real-FFT grid ``(H, W // 2 + 1)``."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    return (1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power).astype(np.float32)


class FourierImage:
    """Images ``(N, 3, H, W)`` in [0, 1] from a learnt, decorrelated spectrum.

    Parameters
    ----------
    n, height, width : int
    seed : int
        Seed of the spectrum's initial noise (drawn on the CPU, then moved).
    device : torch.device
    """

    def __init__(self, n: int, height: int, width: int, seed: int, device: torch.device | str = "cpu"):
        self.shape = (n, 3, height, width)
        gen = torch.Generator().manual_seed(int(seed))
        init = torch.randn((n, 3, height, width // 2 + 1, 2), generator=gen) * SPECTRUM_SD
        self.spectrum = init.to(device).requires_grad_(True)
        self.scale = torch.from_numpy(spectrum_scale(height, width)).to(device)[None, None, :, :, None]
        self.mix = torch.from_numpy(COLOR_MIX.T.copy()).to(device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def __call__(self) -> torch.Tensor:
        n, _, h, w = self.shape
        spectrum = torch.view_as_complex(self.scale * self.spectrum)
        image = torch.fft.irfft2(spectrum, s=(h, w), norm="ortho") / 4.0  # Lucid's "magic" 4
        mixed = torch.einsum("nchw,cd->ndhw", image, self.mix)
        return torch.sigmoid(mixed)


def random_affine(images: torch.Tensor, rng: np.random.Generator, jitter: float,
                  scales: Sequence[float] = SCALES, angles: Sequence[float] = ANGLES) -> torch.Tensor:
    """One random shift, scale and rotation of the batch; mean grey fills in from outside."""
    n, _, h, w = images.shape
    scale = float(scales[rng.integers(len(scales))]) if scales else 1.0
    angle = math.radians(float(angles[rng.integers(len(angles))])) if angles else 0.0
    dy, dx = (rng.uniform(-jitter, jitter, size=2) if jitter > 0 else (0.0, 0.0))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    # affine_grid works in [-1, 1] coordinates: a shift of d pixels is 2 d / size.
    theta = torch.tensor([[cos, -sin * h / w, -2 * dx / w],
                          [sin * w / h, cos, -2 * dy / h]], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, 3, h, w], align_corners=False)
    return F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


def diversity_penalty(output: torch.Tensor) -> torch.Tensor:
    """Summed cosine similarity between the Gram matrices of different images (Lucent's diversity)."""
    n = output.shape[0]
    flat = output.reshape(n, output.shape[1], -1)
    grams = flat @ flat.transpose(1, 2) / flat.shape[2]
    grams = F.normalize(grams.reshape(n, -1), dim=1)
    similarity = grams @ grams.T
    return (similarity.sum() - similarity.diagonal().sum()) / n


@contextmanager
def frozen(model: torch.nn.Module):
    """The model's parameters take no gradient inside the block (restored afterwards)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class VisualizationStep:
    """The image after ``step`` of ``steps`` optimiser steps.

    ``images`` is ``(N, H, W, 3)`` float32 in [0, 1]; ``activation`` ``(N,)`` the objective on
    each untransformed image (None between snapshots, where it is not measured).
    """

    step: int
    steps: int
    images: np.ndarray
    activation: np.ndarray | None
    loss: float


def objective_of(model: torch.nn.Module, objective: Objective, inputs: torch.Tensor) -> torch.Tensor:
    """The objective ``(N,)`` for the model's (normalised) inputs; the forward pass stops at the layer."""
    output = _unit_output(model, LayerRef.parse(objective.layer), inputs)
    objective.check(output.shape)
    return objective.values(output)


def visualize(model: torch.nn.Module, objective: Objective, size: tuple[int, int], mean: Sequence[float],
              std: Sequence[float], steps: int = 256, lr: float = 0.05, seed: int = 0, n_images: int = 1,
              diversity: float = 0.0, jitter: float | None = None, transforms: bool = True,
              every: int = 16, device: torch.device | str = "cpu",
              cancelled: Callable[[], bool] = lambda: False) -> Iterator[VisualizationStep]:
    """Maximise ``objective`` over an image; yield it every ``every`` steps and at the end.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode, on ``device``.
    objective : Objective
    size : (int, int)
        Image height and width in pixels.
    mean, std : sequence of float
        The model's input normalisation, applied to the image in [0, 1].
    steps, lr : int, float
        Adam steps and learning rate.
    seed : int
    n_images : int
        Images optimised together; ``diversity`` > 0 weights the diversity term.
    jitter : float or None
        Largest shift in pixels (default: 1/28 of the image side, 8 px at 224).
    transforms : bool
        False optimises the bare image (no shift, scale or rotation).
    every : int
        Steps between snapshots.
    cancelled : callable
        Checked before every step; raises :class:`engine.recording.recorder.Cancelled`.

    Yields
    ------
    VisualizationStep
        The last one (``step == steps``) carries the activation of the final images.
    """
    h, w = int(size[0]), int(size[1])
    if steps < 1 or n_images < 1 or every < 1:
        raise UnitscopeError("Steps, images and the snapshot interval must be at least 1.")
    if not (8 <= h <= 4096 and 8 <= w <= 4096):
        raise UnitscopeError(f"Image size {h} x {w} is outside 8 to 4096 pixels.")
    if not (lr > 0 and math.isfinite(lr)):
        raise UnitscopeError(f"The learning rate must be a positive number, got {lr}.")
    device = torch.device(device)
    m = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - m) / s

    rng = np.random.default_rng(int(seed))
    jitter = max(h, w) / 28 if jitter is None else float(jitter)
    image = FourierImage(n_images, h, w, seed, device)
    optimiser = torch.optim.Adam(image.parameters(), lr=lr)
    ref = LayerRef.parse(objective.layer)
    with torch.inference_mode(False), torch.enable_grad(), frozen(model):
        with torch.no_grad():
            objective.check(_unit_output(model, ref, normalise(image().detach())).shape)
        for step in range(1, steps + 1):
            if cancelled():
                raise Cancelled()
            optimiser.zero_grad(set_to_none=True)
            x = image()
            if transforms:
                x = random_affine(x, rng, jitter)
            output = _unit_output(model, ref, normalise(x))
            loss = -objective.values(output).sum()
            if diversity > 0 and n_images > 1:
                loss = loss + diversity * diversity_penalty(output)
            loss.backward()
            optimiser.step()
            if step % every == 0 or step == steps:
                with torch.no_grad():
                    final = image()
                    activation = None
                    if step == steps:
                        activation = objective.values(_unit_output(model, ref, normalise(final)))
                        activation = activation.double().cpu().numpy()
                    pixels = final.permute(0, 2, 3, 1).float().cpu().numpy()
                yield VisualizationStep(step, steps, pixels, activation, float(loss.detach()))


def dominant_orientation(image: np.ndarray) -> float:
    """Orientation (degrees in [0, 180), the procedural stimuli's convention) of the largest
    Fourier power of an image's grey level, the mean removed.

    Orientation ``theta`` is the direction along which luminance varies, so a grating of
    orientation ``theta`` has its power at spatial frequency ``(cos theta, sin theta)``
    with ``y`` pointing down.
    """
    grey = np.asarray(image, dtype=float)
    grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
    # A Hann window: the image's borders are not periodic, and their step would win otherwise.
    window = np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    power = np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2
    power[0, 0] = 0.0
    fy = np.fft.fftfreq(grey.shape[0])[:, None] * np.ones((1, grey.shape[1]))
    fx = np.fft.fftfreq(grey.shape[1])[None, :] * np.ones((grey.shape[0], 1))
    i = np.unravel_index(int(np.argmax(power)), power.shape)
    return float(math.degrees(math.atan2(fy[i], fx[i])) % 180.0)
