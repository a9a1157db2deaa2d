"""The gradient reference for receptive fields: the support of d unit / d input.

The network is made positive and additive (convolutions and linear layers average their
inputs, batch and layer norms are identities, max pooling becomes average pooling, layer
scales are 1, position embeddings and attention biases 0), so that every input pixel a
unit can see has a non-zero gradient and no other pixel does.  A squeeze-and-excitation
gate is detached: the field of a gated layer is, by its stated convention, the field of
its convolutional path.
"""

import copy
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation


def _detached_gate(module: SqueezeExcitation):
    def forward(x):
        return module._scale(x).detach() * x

    return forward


def make_additive(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).double().eval()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                         ceil_mode=child.ceil_mode))
            elif isinstance(child, nn.LayerNorm):
                setattr(module, child_name, nn.Identity())
            elif isinstance(child, SqueezeExcitation):
                child.forward = _detached_gate(child)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.fill_(1.0)
            elif any(k in name for k in ("pos_embedding", "class_token", "relative_position_bias_table")):
                p.zero_()
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.fill_(1.0 / fan_in)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
                module.weight.fill_(1.0)
                module.bias.zero_()
    return model


@lru_cache(maxsize=2)
def _additive(model: nn.Module) -> nn.Module:
    """The additive twin of ``model``, made once for the units of one test."""
    return make_additive(model)


def gradient_box(model: nn.Module, layer: str, size: int, unit=None, layout="nchw", tiny=0.0):
    """Bounding box (top, left, bottom, right) of the input pixels that the unit at ``unit``
    (default: the centre) of ``layer``, summed over channels, depends on; and the output grid.

    ``layout`` is where the grid lies in the output: ``"nchw"``, ``"nhwc"`` or
    ``("tokens", h, w, offset)`` (a token dimension after the batch).  Gradients at most
    ``tiny`` times the largest count as zero (a masked attention logit's weight e^-100).
    """
    additive = _additive(model)
    target = dict(additive.named_modules())[layer]
    captured = {}

    def hook(module, inputs, output):
        captured["out"] = output

    handle = target.register_forward_hook(hook)
    x = torch.ones(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    try:
        additive(x)
    finally:
        handle.remove()
    out = captured["out"]
    if isinstance(out, tuple):
        out = out[0]
    if layout == "nchw":
        h, w = out.shape[-2:]
    elif layout == "nhwc":
        h, w = out.shape[1:3]
    else:
        h, w = layout[1:3]
    y0, x0 = unit if unit is not None else (h // 2, w // 2)
    if layout == "nchw":
        selected = out[0, :, y0, x0]
    elif layout == "nhwc":
        selected = out[0, y0, x0, :]
    else:
        selected = out[0, layout[3] + y0 * w + x0]
    selected.sum().backward()
    grad = x.grad[0].abs().sum(0).numpy()
    support = np.argwhere(grad > tiny * grad.max())
    (top, left), (bottom, right) = support.min(0), support.max(0)
    return (int(top), int(left), int(bottom), int(right)), (h, w), (y0, x0)


def clipped(box, size):
    top, left, bottom, right = box
    return (max(0, int(top)), max(0, int(left)), min(size - 1, int(bottom)), min(size - 1, int(right)))
