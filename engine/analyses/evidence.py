"""A unit's evidence on one image: gradient, gradient x input and guided backpropagation.

The Deep Visualization Toolbox's "deconv" view, in the three forms used today:

* **gradient** -- ``d unit / d pixel``, the derivative with respect to the image in [0, 1]
  (the gradient with respect to the model's normalised input divided by the channel's std);
* **gradient x input** -- the gradient times the image's deviation from mean grey
  (``pixel - 0.5``), which for a linear unit adds up to its response to the image minus
  its response to grey;
* **guided backpropagation** (Springenberg et al. 2015) -- the gradient with every
  ReLU letting back only positive gradients where its input was positive: ``nn.ReLU``
  modules and ``F.relu``/``torch.relu`` calls written inside ``forward`` alike.

Each map is ``(H, W, 3)``; :func:`saliency` reduces one to ``(H, W)`` (largest absolute
value over colour).  The forward pass stops at the unit's layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from engine.analyses.feature_vis import frozen
from engine.analyses.unit_rf import _unit_output
from engine.analyses.units import Unit, unit_response
from engine.errors import UnitscopeError
from engine.recording.unit import LayerRef

METHODS = ("gradient", "gradient_x_input", "guided_backprop")
"""The evidence maps, in the order views show them."""


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()  # a view would break in-place ops that follow (ResNet's "out += identity")

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


class _Guided(TorchFunctionMode):
    """While active, every ReLU (an ``nn.ReLU`` module, ``F.relu``, ``torch.relu``, ``x.relu()``,
    in place or not) passes its output through :class:`_PositiveGradient`: ReLU's own backward
    masks where its input was <= 0, this adds "and the gradient > 0"."""

    RELUS = {torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return _PositiveGradient.apply(out) if func in self.RELUS and isinstance(out, torch.Tensor) else out


@dataclass
class Evidence:
    """Evidence maps of one unit on one image.

    Attributes
    ----------
    maps : dict of str to ndarray
        ``(H, W, 3)`` float32 maps by method (:data:`METHODS`).
    activation : float
        The unit's response to the image.
    """

    maps: dict[str, np.ndarray]
    activation: float


def _gradient(model: nn.Module, ref: LayerRef, unit: Unit, inputs: torch.Tensor) -> tuple[torch.Tensor, float]:
    x = inputs.clone().requires_grad_(True)
    response = unit_response(_unit_output(model, ref, x), unit)
    if not response.requires_grad:
        raise UnitscopeError(f"Unit {unit.label} does not depend on the input through operations with gradients.")
    (grad,) = torch.autograd.grad(response.sum(), x)
    return grad[0], float(response.detach()[0])


def evidence(model: nn.Module, unit: Unit, inputs: torch.Tensor, mean, std, methods=METHODS) -> Evidence:
    """Evidence maps of ``unit`` on one preprocessed input ``(3, H, W)`` (or ``(1, 3, H, W)``).

    Parameters
    ----------
    model : nn.Module
        In eval mode; ``inputs`` must be on its device.
    unit : Unit
        A position left as None is the map centre.
    inputs : torch.Tensor
        The model's normalised input.
    mean, std : sequence of float
        The model's input normalisation: maps are derivatives with respect to pixels in [0, 1].
    methods : sequence of str
        Which of :data:`METHODS` to make.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UnitscopeError(f"Unknown evidence method '{unknown[0]}'; choose from {', '.join(METHODS)}.")
    ref = LayerRef.parse(unit.layer)
    x = inputs[None] if inputs.dim() == 3 else inputs
    x = x.float()
    scale = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    centre = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    maps: dict[str, np.ndarray] = {}
    with torch.inference_mode(False), torch.enable_grad(), frozen(model):
        x = x.clone()
        grad, activation = _gradient(model, ref, unit, x)
        pixel_grad = grad / scale
        if "gradient" in methods:
            maps["gradient"] = pixel_grad
        if "gradient_x_input" in methods:
            maps["gradient_x_input"] = pixel_grad * (x[0] * scale + centre - 0.5)
        if "guided_backprop" in methods:
            with _Guided():
                guided, _ = _gradient(model, ref, unit, x)
            maps["guided_backprop"] = guided / scale
    return Evidence({k: v.detach().permute(1, 2, 0).float().cpu().numpy() for k, v in maps.items()}, activation)


def saliency(evidence_map: np.ndarray) -> np.ndarray:
    """A map ``(H, W, 3)`` as ``(H, W)``: the largest absolute value over colour channels."""
    return np.abs(np.asarray(evidence_map)).max(axis=-1)


def peak(evidence_map: np.ndarray) -> tuple[int, int]:
    """``(row, col)`` of the largest :func:`saliency`."""
    s = saliency(evidence_map)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(s)), s.shape))
