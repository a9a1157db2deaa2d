"""The gradient reference for receptive fields: the support of d unit / d input.

The network is made positive and additive (convolutions and linear layers average their
inputs, batch norms are identities, max pooling becomes average pooling), so that every
input pixel a unit can see has a non-zero gradient and no other pixel does.
"""

import copy

import numpy as np
import torch
from torch import nn


def make_additive(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).double().eval()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                         ceil_mode=child.ceil_mode))
    with torch.no_grad():
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


def gradient_box(model: nn.Module, layer: str, size: int, unit=None):
    """Bounding box (top, left, bottom, right) of the input pixels that the unit at ``unit``
    (default: the centre) of ``layer``, summed over channels, depends on; and the output grid."""
    additive = make_additive(model)
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
    h, w = out.shape[-2:]
    y0, x0 = unit if unit is not None else (h // 2, w // 2)
    out[0, :, y0, x0].sum().backward()
    support = np.argwhere(x.grad[0].abs().sum(0).numpy() > 0)
    (top, left), (bottom, right) = support.min(0), support.max(0)
    return (int(top), int(left), int(bottom), int(right)), (h, w), (y0, x0)


def clipped(box, size):
    top, left, bottom, right = box
    return (max(0, int(top)), max(0, int(left)), min(size - 1, int(bottom)), min(size - 1, int(right)))
