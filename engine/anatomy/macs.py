"""Multiply-accumulates by the convention torchvision publishes, counted from the ops that run.

torchvision's weights entries give each model's cost as ``meta["_ops"]`` (GFLOPs in their
table, counted as multiply-accumulates): one MAC per weight use of every convolution and
matrix product that actually runs (``F.conv*``, ``F.linear``, ``matmul``/``bmm``/``einsum``,
the two products of ``scaled_dot_product_attention`` and those inside
``F.multi_head_attention_forward``), with biases, norms, activations, pooling and
element-wise ops free.  That is half of what :class:`torch.utils.flop_counter.FlopCounterMode`
counts (it counts a multiply and an add), and :class:`MacCounter` uses the same formulas
(``flop_registry``) on the ATen ops the dispatcher sees, so the numbers agree exactly; it
works on meta tensors (no arithmetic).

Each op's MACs go to the innermost module running when the op runs (``push``/``pop`` from
forward pre-hooks and hooks), so a module's MACs over its subtree are what that subtree
computes, including work done through a child's weights (``out_proj`` of
``nn.MultiheadAttention`` counts in the attention module).
"""

from __future__ import annotations

import re

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

CONVENTION = ("MACs: multiply-accumulates as torchvision publishes them (meta['_ops']): one per "
              "weight use of every convolution and matrix product that runs (linear layers, "
              "attention's matmuls included), for one input; biases, norms, activations and "
              "pooling count nothing")

_METADATA_OPS = {
    torch.ops.aten.is_contiguous.default, torch.ops.aten.is_contiguous.memory_format,
    torch.ops.aten.is_strides_like_format.default, torch.ops.aten.is_non_overlapping_and_dense.default,
    torch.ops.aten.size.default, torch.ops.aten.sym_size.default, torch.ops.aten.stride.default,
    torch.ops.aten.sym_stride.default, torch.ops.aten.storage_offset.default,
    torch.ops.aten.sym_storage_offset.default, torch.ops.aten.numel.default,
    torch.ops.aten.sym_numel.default, torch.ops.aten.dim.default, torch.ops.prim.layout.default,
}

# Ops that hold no matrix product: not decomposed in search of one (the decomposition of
# a batch norm costs more than the rest of the pass).  The all-models test keeps this exact.
_NO_PRODUCTS = {"norm", "relu", "gelu", "silu", "sigmoid", "hardswish", "hardsigmoid", "hardtanh", "softmax",
                "pool", "dropout", "upsample", "pad", "clamp", "tanh", "mean", "add", "mul", "sub", "div",
                "cat", "copy", "clone", "view", "reshape", "permute", "transpose", "expand", "slice",
                "select", "roll", "flatten", "stack", "split", "chunk", "unbind", "squeeze", "unsqueeze",
                "contiguous"}


def _may_hold_products(packet) -> bool:
    words = {re.sub(r"\d+d$", "", w) for w in packet.__name__.split(".")[-1].split("_") if w}
    return not words & _NO_PRODUCTS


class MacCounter(TorchDispatchMode):
    """Counts MACs of every ATen op run while active, per owner (the innermost pushed key).

    ``total`` is the running total; ``by_owner[key]`` what ran while ``key`` was innermost.
    """

    def __init__(self):
        super().__init__()
        self.total = 0
        self.by_owner: dict[object, int] = {}
        self._stack: list[object] = []

    def push(self, owner) -> None:
        self._stack.append(owner)

    def pop(self, owner) -> None:
        # Pop back to ``owner`` (a module that raised may have left its own entry behind).
        while self._stack:
            if self._stack.pop() == owner:
                break

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _METADATA_OPS:
            return NotImplemented
        if func is torch.ops.aten.batch_norm.default and args[0].device.type == "meta" \
                and not (args[5] if len(args) > 5 else kwargs.get("training", True)):
            # Shapes only (no products to count): torch's meta batch norm is a slow decomposition.
            return torch.empty_like(args[0])
        packet = func._overloadpacket
        if (packet not in flop_registry and func is not torch.ops.prim.device.default
                and _may_hold_products(packet)):
            with self:
                decomposed = func.decompose(*args, **kwargs)
                if decomposed is not NotImplemented:
                    return decomposed
        out = func(*args, **kwargs)
        if packet in flop_registry:
            macs = int(flop_registry[packet](*args, **kwargs, out_val=out)) // 2
            if macs:
                self.total += macs
                owner = self._stack[-1] if self._stack else None
                self.by_owner[owner] = self.by_owner.get(owner, 0) + macs
        return out
