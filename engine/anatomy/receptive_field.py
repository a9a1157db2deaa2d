"""Receptive fields of every tensor in a forward pass, correct for multi-path graphs.

Each spatial tensor carries, per spatial axis, the interval of input pixels that its
first unit (index 0) can see, and the jump (effective stride) between neighbouring
units.  A ``TorchFunctionMode`` propagates this through every torch call of a forward
pass: convolutions and pooling grow and stride the interval, padding shifts it, and
every op that combines tensors of the same grid (shortcut additions, DenseNet and
Inception concatenations, element-wise ops) takes the union of its inputs' intervals,
so that the result is the union over all paths and all channels.  Sizes are not
clipped to the image.  A tensor that is no longer a spatial grid (after global
pooling, flatten or a linear layer) has no receptive field (``None``).

Tensors whose own receptive field is ``None`` (a squeeze-and-excitation scale, say)
are left out of unions: the reported field is that of the convolutional path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class Field:
    """Receptive field of a spatial tensor: the first unit's input interval per axis.

    ``lo``/``hi`` are inclusive input-pixel coordinates (may be negative or beyond the
    image: the field is not clipped), ``jump`` the input-pixel distance between
    neighbouring units, ``axes`` the tensor dimensions that are (height, width).
    """

    lo: tuple[float, float]
    hi: tuple[float, float]
    jump: tuple[float, float]
    axes: tuple[int, int] = (2, 3)

    @property
    def size(self) -> tuple[float, float]:
        return (self.hi[0] - self.lo[0] + 1, self.hi[1] - self.lo[1] + 1)

    @property
    def start(self) -> tuple[float, float]:
        """Centre of the first unit's field, in input pixels."""
        return ((self.lo[0] + self.hi[0]) / 2, (self.lo[1] + self.hi[1]) / 2)

    def box(self, y: int, x: int) -> tuple[float, float, float, float]:
        """Input-pixel box (top, left, bottom, right; inclusive) of the unit at (y, x)."""
        return (self.lo[0] + y * self.jump[0], self.lo[1] + x * self.jump[1],
                self.hi[0] + y * self.jump[0], self.hi[1] + x * self.jump[1])

    def as_dict(self) -> dict:
        return {"rf": [_num(s) for s in self.size], "jump": [_num(j) for j in self.jump],
                "start": [_num(s) for s in self.start]}


def _num(v: float):
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


def _grow(f: Field, kernel, stride, padding, dilation) -> Field:
    """Field after a sliding window (conv or pool) with the given geometry."""
    k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    lo = tuple(f.lo[i] - p[i] * f.jump[i] for i in range(2))
    hi = tuple(f.hi[i] + (d[i] * (k[i] - 1) - p[i]) * f.jump[i] for i in range(2))
    jump = tuple(f.jump[i] * s[i] for i in range(2))
    return Field(lo, hi, jump, f.axes)


def _union(fields: list[Field]) -> Field:
    lo = tuple(min(f.lo[i] for f in fields) for i in range(2))
    hi = tuple(max(f.hi[i] for f in fields) for i in range(2))
    jump = tuple(max(f.jump[i] for f in fields) for i in range(2))
    return Field(lo, hi, jump, fields[0].axes)


def _arg(args, kwargs, index, name, default):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _spatial_size(t: torch.Tensor, f: Field) -> tuple[int, int]:
    return (t.shape[f.axes[0]], t.shape[f.axes[1]])


class FieldTracker(TorchFunctionMode):
    """Propagates :class:`Field` through every torch call made while the mode is active.

    Use ``tracker.field_of(tensor)`` (e.g. in a forward hook) to read a tensor's field.
    """

    def __init__(self):
        super().__init__()
        self._fields: dict[int, Field | None] = {}
        self._alive: list[torch.Tensor] = []  # keeps ids unique during the pass

    def seed(self, image: torch.Tensor) -> None:
        """Mark ``image`` (N, C, H, W) as the input: each unit sees one pixel."""
        self._set(image, Field((0.0, 0.0), (0.0, 0.0), (1.0, 1.0), (image.dim() - 2, image.dim() - 1)))

    def field_of(self, t) -> Field | None:
        return self._fields.get(id(t)) if isinstance(t, torch.Tensor) else None

    def _set(self, t: torch.Tensor, f: Field | None) -> None:
        self._fields[id(t)] = f
        self._alive.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self._propagate(func, args, kwargs, out)
        except Exception:  # never let bookkeeping break the user's forward pass
            for t in _tensors(out):
                self._set(t, None)
        return out

    def _propagate(self, func, args, kwargs, out) -> None:
        name = getattr(func, "__name__", "")
        outs = _tensors(out)
        if not outs:
            return
        ins = [t for t in _tensors((args, kwargs)) if id(t) in self._fields]
        in_fields = [self._fields[id(t)] for t in ins if self._fields[id(t)] is not None]
        if not in_fields:
            if ins:
                for t in outs:
                    if id(t) not in self._fields:
                        self._set(t, None)
            return
        first = ins[0]
        f0 = self._fields.get(id(first))
        new = self._rule(name, args, kwargs, first, f0, outs[0])
        if new is _GENERIC:
            new = self._generic(ins, outs[0])
        for t in outs:
            if t is outs[0] or t.dim() == outs[0].dim():
                self._set(t, new if t.shape == outs[0].shape else self._generic(ins, t))

    def _generic(self, ins, out: torch.Tensor) -> Field | None:
        """Same grid as some input: union of those inputs' fields; otherwise none."""
        same = []
        for t in ins:
            f = self._fields.get(id(t))
            if f is None or t.dim() != out.dim():
                continue
            if _spatial_size(t, f) == _spatial_size(out, f):
                same.append(f)
        return _union(same) if same else None

    def _rule(self, name, args, kwargs, x, f, out):
        if f is None:
            return _GENERIC
        if name == "conv2d":
            padding = _arg(args, kwargs, 4, "padding", 0)
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            k = tuple(weight.shape[-2:])
            d = _pair(_arg(args, kwargs, 5, "dilation", 1))
            if padding == "valid":
                padding = 0
            elif padding == "same":
                padding = tuple((d[i] * (k[i] - 1)) // 2 for i in range(2))
            return _grow(f, k, _arg(args, kwargs, 3, "stride", 1), padding, d)
        if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            k = _arg(args, kwargs, 1, "kernel_size", None)
            s = _arg(args, kwargs, 2, "stride", None) or k
            p = _arg(args, kwargs, 3, "padding", 0)
            d = _arg(args, kwargs, 4, "dilation", 1) if "max" in name else 1
            return _grow(f, k, s, p, d)
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d",
                    "adaptive_max_pool2d_with_indices"):
            hin, win = _spatial_size(x, f)
            hout, wout = out.shape[-2], out.shape[-1]
            if (hout, wout) == (hin, win):
                return f
            if hout == 1 and wout == 1:
                return None  # global pooling: no longer a spatial grid
            if hin % hout == 0 and win % wout == 0:
                k = (hin // hout, win // wout)
                return _grow(f, k, k, 0, 1)
            return None
        if name in ("pad", "constant_pad_nd"):
            # pad[2i] is the padding before dimension -(i + 1): (left, right, top, bottom, ...);
            # a 2-value pad touches the width only.  Negative values crop.
            pad = _arg(args, kwargs, 1, "pad", ())
            before = []
            for axis in f.axes:
                k = 2 * (x.dim() - 1 - axis)
                before.append(int(pad[k]) if k < len(pad) else 0)
            return Field(tuple(f.lo[i] - before[i] * f.jump[i] for i in range(2)),
                         tuple(f.hi[i] - before[i] * f.jump[i] for i in range(2)), f.jump, f.axes)
        if name in ("interpolate", "upsample"):
            hin, win = _spatial_size(x, f)
            sh, sw = out.shape[f.axes[0]] / hin, out.shape[f.axes[1]] / win
            return Field(f.lo, f.hi, (f.jump[0] / sh, f.jump[1] / sw), f.axes)
        if name == "permute":
            dims = _arg(args, kwargs, 1, "dims", None)
            dims = list(args[1:]) if dims is not None and not isinstance(dims, (list, tuple)) else dims
            dims = [d % x.dim() for d in dims]
            return Field(f.lo, f.hi, f.jump, (dims.index(f.axes[0]), dims.index(f.axes[1])))
        if name in ("flatten", "view", "reshape", "linear", "mean", "sum", "amax", "max",
                    "squeeze", "unsqueeze", "transpose", "matmul", "bmm", "softmax"):
            same_grid = out.dim() == x.dim() and _spatial_size(out, f) == _spatial_size(x, f)
            return f if same_grid else None
        return _GENERIC


_GENERIC = object()


def _tensors(obj) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []

    def walk(o):
        if isinstance(o, torch.Tensor):
            found.append(o)
        elif isinstance(o, (list, tuple)):
            for item in o:
                walk(item)
        elif isinstance(o, dict):
            for item in o.values():
                walk(item)

    walk(obj)
    return found
