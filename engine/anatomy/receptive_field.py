"""Receptive fields of every tensor in a forward pass, correct for multi-path graphs.

Each spatial tensor carries, per spatial axis, the interval of input pixels that its
first unit (index 0) can see, and the jump (effective stride) between neighbouring
units.  A ``TorchFunctionMode`` propagates this through every torch call of a forward
pass: convolutions and pooling grow and stride the interval, padding shifts it, and
every op that combines tensors of the same grid (shortcut additions, DenseNet and
Inception concatenations, element-wise ops) takes the union of its inputs' intervals,
so that the result is the union over all paths and all channels.  Sizes are not
clipped to the image.

Where tokens mix, a field can depend on the unit's position; then it keeps one interval
per position and axis (``table``).  ``kind`` says which case applies:

* ``box``: every unit sees a box of the same size, ``jump`` apart (convolutions, pooling).
* ``window``: attention within windows (Swin, MaxViT blocks and grids): each unit sees
  the union of its window's fields, which depends on where the unit is; ``size`` is the
  largest and ``largest_at`` says where it applies.
* ``global``: attention over all tokens (ViT) or a window holding the whole grid: every
  unit sees the hull of all units' fields (the whole image).
* ``gated``: a box field scaled by a global signal (squeeze-and-excitation): the box is
  the field of the convolutional path and ``notes`` says that a gate that sees the whole
  image scales it.

The grid may sit in two tensor dimensions (NCHW ``axes=(2, 3)``, NHWC ``(1, 2)``) or be
flattened into one token dimension (``tokens=(h, w, offset)``, e.g. ViT's 14x14 patches
after its class token).  Views, reshapes, permutes, channel shuffles, slices, class
tokens and channel concatenations keep the grid.  A tensor that is no longer a grid
(after global pooling, flatten into features or a linear layer on them) has no field
(``None``); one whose grid could not be followed is recorded as lost (``kind`` unknown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

KINDS = ("box", "gated", "window", "global")  # in order of precedence when fields merge

GATED_NOTE = "gated by a global squeeze-excitation (the gate sees the whole image)"
WINDOW_NOTE = "depends on the unit's position (attention windows): the largest field is given"
GLOBAL_NOTE = "attention over all tokens: every unit sees the whole input"


@dataclass(frozen=True)
class Field:
    """Receptive field of a spatial tensor.

    ``lo``/``hi`` are the first unit's inclusive input-pixel coordinates per axis (may be
    negative or beyond the image: the field is not clipped), ``jump`` the input-pixel
    distance between neighbouring units, ``axes`` the tensor dimensions that are
    (height, width); for a token layout both name the token dimension and ``tokens`` is
    ``(h, w, offset)``: ``offset`` leading tokens (class tokens) then the ``h x w`` grid
    row by row.  ``table`` holds, for position-dependent fields, ``((lo_y, hi_y),
    (lo_x, hi_x))``: one interval per position along each axis.
    """

    lo: tuple[float, float]
    hi: tuple[float, float]
    jump: tuple[float, float]
    axes: tuple[int, int] = (2, 3)
    kind: str = "box"
    notes: tuple[str, ...] = ()
    table: tuple | None = None
    tokens: tuple[int, int, int] | None = None

    @property
    def size(self) -> tuple[float, float]:
        """Height and width in input pixels (the largest over positions, see ``largest_at``)."""
        if self.table is None:
            return (self.hi[0] - self.lo[0] + 1, self.hi[1] - self.lo[1] + 1)
        return tuple(float(max(h - lo for lo, h in zip(*self.table[i]))) + 1 for i in range(2))

    @property
    def largest_at(self) -> tuple[int, int]:
        """The first unit (y, x) whose field has the largest size."""
        if self.table is None:
            return (0, 0)
        return tuple(int(np.argmax(np.subtract(self.table[i][1], self.table[i][0]))) for i in range(2))

    @property
    def start(self) -> tuple[float, float]:
        """Centre of the first unit's field, in input pixels."""
        return ((self.lo[0] + self.hi[0]) / 2, (self.lo[1] + self.hi[1]) / 2)

    def interval(self, axis: int, i: int) -> tuple[float, float]:
        """Input interval of the units at index ``i`` along ``axis`` (0: height, 1: width)."""
        if self.table is None:
            return (self.lo[axis] + i * self.jump[axis], self.hi[axis] + i * self.jump[axis])
        lo, hi = self.table[axis]
        n = len(lo)
        if i < 0:
            return (lo[0] + i * self.jump[axis], hi[0] + i * self.jump[axis])
        if i >= n:
            return (lo[-1] + (i - n + 1) * self.jump[axis], hi[-1] + (i - n + 1) * self.jump[axis])
        return (lo[i], hi[i])

    def box(self, y: int, x: int) -> tuple[float, float, float, float]:
        """Input-pixel box (top, left, bottom, right; inclusive) of the unit at (y, x)."""
        (top, bottom), (left, right) = self.interval(0, y), self.interval(1, x)
        return (top, left, bottom, right)

    @property
    def note(self) -> str:
        notes = list(self.notes)
        if self.table is not None and self.kind == "window":
            y, x = self.largest_at
            notes.append(f"largest at unit ({y}, {x})")
        return "; ".join(notes)

    def as_dict(self) -> dict:
        return {"rf": [_num(s) for s in self.size], "jump": [_num(j) for j in self.jump],
                "start": [_num(s) for s in self.start], "rf_kind": self.kind, "rf_note": self.note}


def _num(v: float):
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


# --- fields as arrays of intervals ---------------------------------------------------


def _arrays(f: Field, axis: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of the ``n`` positions along ``axis``, as two float arrays."""
    if f.table is not None and len(f.table[axis][0]) == n:
        return np.asarray(f.table[axis][0], float), np.asarray(f.table[axis][1], float)
    i = np.arange(n, dtype=float)
    if f.table is not None:  # another length (should not happen): extend from the ends
        lo = np.array([f.interval(axis, int(k))[0] for k in range(n)])
        return lo, np.array([f.interval(axis, int(k))[1] for k in range(n)])
    return f.lo[axis] + i * f.jump[axis], f.hi[axis] + i * f.jump[axis]


def _from_arrays(f: Field, arrays, jump, axes=None, tokens=None, kind=None, notes=None) -> Field:
    """A field from per-position intervals; linear ones (the same size, ``jump`` apart)
    keep no table."""
    linear = all(len(lo) <= 1 or (np.allclose(np.diff(lo), jump[i]) and np.allclose(np.diff(hi), jump[i]))
                 for i, (lo, hi) in enumerate(arrays))
    kind = kind or f.kind
    table = None if linear and kind not in ("global",) else tuple(
        (tuple(float(v) for v in lo), tuple(float(v) for v in hi)) for lo, hi in arrays)
    if kind == "window" and table is None:
        kind = "box"
    return Field(lo=tuple(float(a[0][0]) for a in arrays), hi=tuple(float(a[1][0]) for a in arrays),
                 jump=tuple(float(j) for j in jump), axes=axes if axes is not None else f.axes,
                 kind=kind, notes=f.notes if notes is None else notes,
                 table=table, tokens=tokens if tokens is not None else f.tokens)


def _merge_kind(fields) -> tuple[str, tuple[str, ...]]:
    kind = max((f.kind for f in fields), key=KINDS.index)
    notes = tuple(dict.fromkeys(n for f in fields for n in f.notes))
    return kind, notes


def _grow(f: Field, kernel, stride, padding, dilation, n_in=None, n_out=None) -> Field:
    """Field after a sliding window (conv or pool) with the given geometry."""
    k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    jump = tuple(f.jump[i] * s[i] for i in range(2))
    if f.table is None or n_in is None:
        lo = tuple(f.lo[i] - p[i] * f.jump[i] for i in range(2))
        hi = tuple(f.hi[i] + (d[i] * (k[i] - 1) - p[i]) * f.jump[i] for i in range(2))
        return replace(f, lo=lo, hi=hi, jump=jump, table=None)
    arrays = []
    for i in range(2):
        first = np.arange(n_out[i]) * s[i] - p[i]
        taps = [first + t * d[i] for t in range(k[i])]
        lo = np.min([[f.interval(i, int(j))[0] for j in tap] for tap in taps], axis=0)
        hi = np.max([[f.interval(i, int(j))[1] for j in tap] for tap in taps], axis=0)
        arrays.append((lo, hi))
    if f.kind == "global":
        arrays = [(np.full_like(lo, lo.min()), np.full_like(hi, hi.max())) for lo, hi in arrays]
    return _from_arrays(f, arrays, jump)


def _union(fields: list[Field], sizes=None) -> Field:
    kind, notes = _merge_kind(fields)
    if all(f.table is None for f in fields) or sizes is None:
        lo = tuple(min(f.lo[i] for f in fields) for i in range(2))
        hi = tuple(max(f.hi[i] for f in fields) for i in range(2))
        jump = tuple(max(f.jump[i] for f in fields) for i in range(2))
        return replace(fields[0], lo=lo, hi=hi, jump=jump, kind=kind, notes=notes, table=None)
    arrays = []
    for i in range(2):
        each = [_arrays(f, i, sizes[i]) for f in fields]
        arrays.append((np.min([a[0] for a in each], axis=0), np.max([a[1] for a in each], axis=0)))
    jump = tuple(max(f.jump[i] for f in fields) for i in range(2))
    return _from_arrays(fields[0], arrays, jump, kind=kind, notes=notes)


def mix(f: Field, groups: tuple[np.ndarray, np.ndarray], note: str | None = None) -> Field:
    """Field after attention among the units of the same group along each axis.

    ``groups[i][k]`` is the group of position ``k`` along axis ``i`` (groups are products
    of per-axis groups: windows, dilated grids, or one group for global attention);
    positions with a negative group (padding) add nothing.
    """
    arrays = []
    for i in range(2):
        g = np.asarray(groups[i])
        lo, hi = _arrays(f, i, len(g))
        new_lo, new_hi = lo.copy(), hi.copy()
        for label in np.unique(g[g >= 0]):
            members = g == label
            new_lo[members], new_hi[members] = lo[members].min(), hi[members].max()
        arrays.append((new_lo, new_hi))
    one_group = all(len(np.unique(np.asarray(g)[np.asarray(g) >= 0])) <= 1 for g in groups)
    kind = "global" if one_group else "window"
    if KINDS.index(f.kind) > KINDS.index(kind):
        kind = f.kind
    notes = tuple(dict.fromkeys((*f.notes, note or (GLOBAL_NOTE if kind == "global" else WINDOW_NOTE))))
    if kind == "global":
        notes = tuple(n for n in notes if n != WINDOW_NOTE)
    return _from_arrays(f, arrays, f.jump, kind=kind, notes=notes)


def mix_all(f: Field, sizes: tuple[int, int]) -> Field:
    """Field after global attention: every unit sees the hull of all units' fields."""
    return mix(f, (np.zeros(sizes[0], int), np.zeros(sizes[1], int)))


def window_groups(n: int, window: int, shift: int = 0) -> np.ndarray:
    """Group of each of ``n`` positions for windows of ``window`` positions, cyclically
    shifted by ``shift`` with the wrapped part masked off (Swin): windows begin at
    ``shift + k * window`` and at 0."""
    return (np.arange(n) - shift) // window + 1


def _arg(args, kwargs, index, name, default):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _grid_size(t: torch.Tensor, f: Field) -> tuple[int, int] | None:
    """The (h, w) grid of ``t`` in ``f``'s layout, or None if ``t`` does not have it."""
    a, b = f.axes
    if max(a, b) >= t.dim():
        return None
    if f.tokens is not None:
        h, w, offset = f.tokens
        return (h, w) if t.shape[a] == offset + h * w else None
    return (t.shape[a], t.shape[b])



# Rules answer a Field, ``NOT_SPATIAL`` (the result is no grid: global pooling, a class
# token, features), ``LOST`` (the grid could not be followed) or ``_GENERIC``.
NOT_SPATIAL = object()
LOST = object()
_GENERIC = object()

_REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min", "std", "var", "norm", "logsumexp",
               "linear", "softmax", "log_softmax", "layer_norm"}
_VIEWS = {"view", "reshape", "flatten", "unflatten", "contiguous", "view_as", "reshape_as", "squeeze",
          "unsqueeze"}


class FieldTracker(TorchFunctionMode):
    """Propagates :class:`Field` through every torch call made while the mode is active.

    Use ``tracker.field_of(tensor)`` (e.g. in a forward hook) to read a tensor's field,
    ``tracker.is_lost(tensor)`` to ask whether its grid was lost on the way, and
    ``tracker.module_output(module, inputs, output)`` in a forward hook to apply what a
    module is known to do as a whole (window attention).
    """

    def __init__(self):
        super().__init__()
        self._fields: dict[int, Field | None] = {}
        self._lost: set[int] = set()
        self._alive: list[torch.Tensor] = []  # keeps ids unique during the pass
        self.used: set[int] = set()  # ids of every tensor passed to an op (weights used directly)

    def seed(self, image: torch.Tensor) -> None:
        """Mark ``image`` (N, C, H, W) as the input: each unit sees one pixel."""
        self._set(image, Field((0.0, 0.0), (0.0, 0.0), (1.0, 1.0), (image.dim() - 2, image.dim() - 1)))

    def field_of(self, t) -> Field | None:
        return self._fields.get(id(t)) if isinstance(t, torch.Tensor) else None

    def is_lost(self, t) -> bool:
        return isinstance(t, torch.Tensor) and id(t) in self._lost

    def _set(self, t: torch.Tensor, f) -> None:
        if f is LOST:
            self._lost.add(id(t))
            f = None
        elif f is NOT_SPATIAL:
            f = None
        self._fields[id(t)] = f
        self._alive.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self._propagate(func, args, kwargs, out)
        except Exception:  # never let bookkeeping break the user's forward pass
            for t in _tensors(out):
                self._set(t, LOST if t.dim() >= 3 else None)
        return out

    # --- modules whose effect is known as a whole ----------------------------------

    def module_output(self, module, inputs, output) -> None:
        """Give the output of a window-attention module the field of its windows."""
        rule = _module_rule(module)
        if rule is None:
            return
        x, out = _first(inputs), _first(output)
        f = self.field_of(x)
        if f is None or out is None or _grid_size(out, f) is None:
            return
        new = rule(module, f, _grid_size(x, f))
        if new is not None:
            self._lost.discard(id(out))
            self._set(out, new)

    # --- ops ----------------------------------------------------------------------

    def _propagate(self, func, args, kwargs, out) -> None:
        name = getattr(func, "__name__", "")
        all_in = _tensors((args, kwargs))
        self.used.update(id(t) for t in all_in)
        outs = _tensors(out)
        if not outs:
            return
        ins = [t for t in all_in if id(t) in self._fields]
        in_fields = [self._fields[id(t)] for t in ins if self._fields[id(t)] is not None]
        if not in_fields:
            if ins:
                lost = any(id(t) in self._lost for t in ins)
                for t in outs:
                    if id(t) not in self._fields:
                        self._set(t, LOST if lost and t.dim() >= 3 else None)
            return
        first = next(t for t in ins if self._fields[id(t)] is not None)
        f0 = self._fields[id(first)]
        new = self._rule(name, args, kwargs, first, f0, outs[0])
        if new is _GENERIC:
            new = self._generic(ins, outs[0], name)
        for t in outs:
            if t is outs[0] or t.dim() == outs[0].dim():
                self._set(t, new if t.shape == outs[0].shape else self._generic(ins, t, name))

    def _generic(self, ins, out: torch.Tensor, name: str = ""):
        """Same grid as some input: union of those inputs' fields; otherwise lost.

        Inputs derived from the image that are no grid (a squeeze-excitation's scale)
        and broadcast over the grid gate the result: its kind becomes ``gated``.
        """
        same, gates = [], False
        for t in ins:
            f = self._fields.get(id(t))
            if f is None:
                gates |= id(t) not in self._lost and t.dim() == out.dim() and t.numel() > 1
                continue
            if t.dim() == out.dim() and _grid_size(t, f) == _grid_size(out, f):
                same.append(f)
        if not same:
            return LOST if out.dim() >= 3 else NOT_SPATIAL
        field = _union(same, _grid_size(out, same[0]))
        if gates and name in ("mul", "__mul__", "__rmul__", "mul_"):
            field = replace(field, kind=max(field.kind, "gated", key=KINDS.index),
                            notes=tuple(dict.fromkeys((*field.notes, GATED_NOTE))))
        return field

    def _rule(self, name, args, kwargs, x, f, out):
        if name in ("conv2d", "max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d") \
                and f.tokens is None and f.axes != (x.dim() - 2, x.dim() - 1):
            return LOST  # a 2-D window over dimensions that are not the grid
        if name == "conv2d":
            padding = _arg(args, kwargs, 4, "padding", 0)
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            k = tuple(weight.shape[-2:])
            d = _pair(_arg(args, kwargs, 5, "dilation", 1))
            if padding == "valid":
                padding = 0
            elif padding == "same":
                padding = tuple((d[i] * (k[i] - 1)) // 2 for i in range(2))
            return _grow(f, k, _arg(args, kwargs, 3, "stride", 1), padding, d,
                         _grid_size(x, f), out.shape[-2:])
        if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            k = _arg(args, kwargs, 1, "kernel_size", None)
            s = _arg(args, kwargs, 2, "stride", None) or k
            p = _arg(args, kwargs, 3, "padding", 0)
            d = _arg(args, kwargs, 4, "dilation", 1) if "max" in name else 1
            return _grow(f, k, s, p, d, _grid_size(x, f), out.shape[-2:])
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d",
                    "adaptive_max_pool2d_with_indices"):
            hin, win = _grid_size(x, f)
            hout, wout = out.shape[-2], out.shape[-1]
            if (hout, wout) == (hin, win):
                return f
            if hout == 1 and wout == 1:
                return NOT_SPATIAL  # global pooling: no longer a spatial grid
            if hin % hout == 0 and win % wout == 0:
                k = (hin // hout, win // wout)
                return _grow(f, k, k, 0, 1, (hin, win), (hout, wout))
            return LOST
        if name in ("pad", "constant_pad_nd"):
            return self._pad(args, kwargs, x, f, out)
        if name in ("interpolate", "upsample"):
            hin, win = _grid_size(x, f)
            sh, sw = out.shape[f.axes[0]] / hin, out.shape[f.axes[1]] / win
            return replace(f, jump=(f.jump[0] / sh, f.jump[1] / sw), table=None)
        if name == "permute":
            dims = _arg(args, kwargs, 1, "dims", None)
            dims = list(args[1:]) if dims is not None and not isinstance(dims, (list, tuple)) else dims
            dims = [d % x.dim() for d in dims]
            return replace(f, axes=(dims.index(f.axes[0]), dims.index(f.axes[1])))
        if name in ("transpose", "swapaxes", "swapdims"):
            d0, d1 = (int(_arg(args, kwargs, 1, "dim0", 0)) % x.dim(), int(_arg(args, kwargs, 2, "dim1", 1)) % x.dim())
            swap = {d0: d1, d1: d0}
            return replace(f, axes=tuple(swap.get(a, a) for a in f.axes))
        if name in _VIEWS and x.dim() >= 1:
            return _reshape(f, tuple(x.shape), tuple(out.shape))
        if name in ("unbind", "select"):
            dim = int(_arg(args, kwargs, 1, "dim", 0)) % x.dim()
            if dim in f.axes:
                return LOST
            return replace(f, axes=tuple(a - 1 if a > dim else a for a in f.axes))
        if name == "__getitem__":
            return _getitem(f, x, args[1] if len(args) > 1 else None, out)
        if name in ("cat", "concat", "concatenate"):
            return self._cat(args, kwargs, f, out)
        if name == "roll":
            return self._roll(args, kwargs, x, f)
        if name == "multi_head_attention_forward":
            return self._attention(args[0], [args[1], args[2]], axis_of=0)
        if name == "scaled_dot_product_attention":
            return self._attention(args[0], [args[1], args[2]], axis_of=-2)
        if name in ("matmul", "bmm", "__matmul__"):
            return self._matmul(args[0], args[1], out)
        if name in _REDUCTIONS:
            grid = _grid_size(out, f)
            same_grid = out.dim() == x.dim() and grid is not None and grid == _grid_size(x, f)
            return f if same_grid else NOT_SPATIAL
        return _GENERIC

    def _pad(self, args, kwargs, x, f, out):
        # pad[2i] is the padding before dimension -(i + 1): (left, right, top, bottom, ...);
        # a 2-value pad touches the width only.  Negative values crop.
        if f.tokens is not None:
            return LOST
        pad = _arg(args, kwargs, 1, "pad", ())
        before = []
        for axis in f.axes:
            k = 2 * (x.dim() - 1 - axis)
            before.append(int(pad[k]) if k < len(pad) else 0)
        if f.table is None:
            return replace(f, lo=tuple(f.lo[i] - before[i] * f.jump[i] for i in range(2)),
                           hi=tuple(f.hi[i] - before[i] * f.jump[i] for i in range(2)))
        sizes = _grid_size(out, f)
        arrays = []
        for i in range(2):
            pos = [f.interval(i, k - before[i]) for k in range(sizes[i])]
            arrays.append((np.array([p[0] for p in pos]), np.array([p[1] for p in pos])))
        return _from_arrays(f, arrays, f.jump)

    def _roll(self, args, kwargs, x, f):
        shifts = _arg(args, kwargs, 1, "shifts", 0)
        dims = _arg(args, kwargs, 2, "dims", None)
        if dims is None or f.tokens is not None:
            return LOST
        shifts = shifts if isinstance(shifts, (list, tuple)) else (shifts,)
        dims = dims if isinstance(dims, (list, tuple)) else (dims,)
        sizes = _grid_size(x, f)
        arrays = [_arrays(f, i, sizes[i]) for i in range(2)]
        for s, d in zip(shifts, dims):
            d = d % x.dim()
            if d in f.axes:
                i = f.axes.index(d)
                arrays[i] = (np.roll(arrays[i][0], int(s)), np.roll(arrays[i][1], int(s)))
        new = _from_arrays(f, arrays, f.jump)
        return new if new.table is None else replace(new, kind=max(new.kind, "window", key=KINDS.index))

    def _cat(self, args, kwargs, f, out):
        tensors = list(_arg(args, kwargs, 0, "tensors", []))
        dim = int(_arg(args, kwargs, 1, "dim", 0)) % out.dim()
        carriers = [t for t in tensors if self.field_of(t) is not None]
        if dim not in f.axes:
            return _GENERIC
        if f.tokens is None or len(carriers) != 1:
            return LOST
        carrier = carriers[0]
        before = 0
        for t in tensors:
            if t is carrier:
                break
            before += t.shape[dim]
        cf = self.field_of(carrier)
        h, w, offset = cf.tokens
        return replace(cf, tokens=(h, w, offset + before))

    def _attention(self, query, keys, axis_of):
        """Global attention: each query token sees the hull of all key and value tokens."""
        fields = [self.field_of(t) for t in (query, *keys) if self.field_of(t) is not None]
        if not fields:
            return LOST
        layout = self.field_of(query) or fields[0]
        hull = [mix_all(g, _grid_size(t, g)) for t, g in ((t, self.field_of(t)) for t in (query, *keys))
                if g is not None and _grid_size(t, g) is not None]
        if not hull:
            return LOST
        merged = _union(hull, (len(hull[0].table[0][0]), len(hull[0].table[1][0])))
        return replace(merged, axes=layout.axes, tokens=layout.tokens)

    def _matmul(self, a, b, out):
        """``a @ b``: rows keep ``a``'s layout (or columns ``b``'s); what is contracted or
        indexes the other side mixes in as a hull (attention's scores and weighted sums)."""
        fa, fb = self.field_of(a), self.field_of(b)
        keep = None
        if fa is not None and fa.tokens is not None and fa.axes[0] == a.dim() - 2:
            keep = (fa, out.dim() - 2)
        elif fb is not None and fb.tokens is not None and fb.axes[0] == b.dim() - 1:
            keep = (fb, out.dim() - 1)
        if keep is None:
            return LOST if out.dim() >= 3 else NOT_SPATIAL
        kept, axis = keep
        other = [(t, g) for t, g in ((a, fa), (b, fb)) if g is not None and g is not kept]
        fields = [replace(kept, axes=(axis, axis))]
        for t, g in other:
            sizes = _grid_size(t, g)
            if sizes is not None:
                fields.append(replace(mix_all(g, sizes), axes=(axis, axis), tokens=kept.tokens))
        sizes = kept.tokens[:2]
        return _union(fields, sizes) if len(fields) > 1 else fields[0]


def _reshape(f: Field, before: tuple[int, ...], after: tuple[int, ...]):
    """Where a reshape puts the grid: kept in two dimensions, flattened into tokens,
    tokens unflattened into a grid, or mixed with channels (no longer a grid)."""
    def prefix(shape, i):
        return math.prod(shape[:i])

    if f.tokens is None:
        a, b = f.axes
        if b != a + 1:
            return LOST
        h, w = before[a], before[b]
        p, q = prefix(before, a), math.prod(before[b + 1:])
        for i in range(len(after) - 1):
            if prefix(after, i) == p and after[i] == h and after[i + 1] == w and math.prod(after[i + 2:]) == q:
                return replace(f, axes=(i, i + 1))
        for i in range(len(after)):
            if prefix(after, i) == p and after[i] == h * w and math.prod(after[i + 1:]) == q:
                return replace(f, axes=(i, i), tokens=(h, w, 0))
        for i in range(len(after) - 3):  # space to depth: (h, w) -> (h/k, k, w/l, l)
            k, m = after[i + 1], after[i + 3]
            if prefix(after, i) == p and after[i] * k == h and after[i + 2] * m == w and k * m > 1 \
                    and math.prod(after[i + 4:]) == q:
                grown = _grow(f, (k, m), (k, m), 0, 1, (h, w), (after[i], after[i + 2]))
                return replace(grown, axes=(i, i + 2))
        return LOST if len(after) >= 3 else NOT_SPATIAL
    t = f.axes[0]
    h, w, offset = f.tokens
    p, q = prefix(before, t), math.prod(before[t + 1:])
    for i in range(len(after)):
        if prefix(after, i) == p and after[i] == before[t] and math.prod(after[i + 1:]) == q:
            return replace(f, axes=(i, i))
    if offset == 0:
        for i in range(len(after) - 1):
            if prefix(after, i) == p and after[i] == h and after[i + 1] == w and math.prod(after[i + 2:]) == q:
                return replace(f, axes=(i, i + 1), tokens=None)
    return LOST if len(after) >= 3 else NOT_SPATIAL


def _getitem(f: Field, x: torch.Tensor, index, out: torch.Tensor):
    """Indexing: integers drop dimensions, ``None`` adds them, slices crop or subsample."""
    index = index if isinstance(index, tuple) else (index,)
    if any(not (i is None or i is Ellipsis or isinstance(i, (int, slice))) for i in index):
        return LOST if out.dim() >= 3 else NOT_SPATIAL
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    full = []
    for i in index:
        if i is Ellipsis:
            full.extend([slice(None)] * (x.dim() - consumed))
        else:
            full.append(i)
    if Ellipsis not in index:
        full.extend([slice(None)] * (x.dim() - consumed))
    where, slices, d_in, d_out = {}, {}, 0, 0
    for i in full:
        if i is None:
            d_out += 1
            continue
        if isinstance(i, slice):
            where[d_in], slices[d_in] = d_out, i
            d_out += 1
        d_in += 1
    if any(a not in where for a in f.axes):
        return NOT_SPATIAL if out.dim() <= 2 or f.tokens is not None else LOST
    axes = (where[f.axes[0]], where[f.axes[1]])
    if f.tokens is not None:
        h, w, offset = f.tokens
        start, stop, step = slices[f.axes[0]].indices(x.shape[f.axes[0]])
        if (start, stop, step) == (0, x.shape[f.axes[0]], 1):
            return replace(f, axes=axes)
        if step == 1 and start == offset and stop == x.shape[f.axes[0]]:
            return replace(f, axes=axes, tokens=(h, w, 0))
        return NOT_SPATIAL if start >= offset + h * w or stop <= offset else LOST
    sizes = (x.shape[f.axes[0]], x.shape[f.axes[1]])
    arrays, jump = [], []
    for i, a in enumerate(f.axes):
        start, stop, step = slices[a].indices(sizes[i])
        lo, hi = _arrays(f, i, sizes[i])
        arrays.append((lo[start:stop:step], hi[start:stop:step]))
        jump.append(f.jump[i] * step)
    if any(len(lo) == 0 for lo, _ in arrays):
        return NOT_SPATIAL
    return _from_arrays(f, arrays, jump, axes=axes)


# --- modules known as a whole --------------------------------------------------------


def _swin_rule(module, f: Field, sizes) -> Field:
    """Swin's (shifted) window attention, as ``shifted_window_attention`` computes it."""
    groups = []
    for i in range(2):
        window, shift = int(module.window_size[i]), int(module.shift_size[i])
        padded = sizes[i] + (window - sizes[i] % window) % window
        if window >= padded:
            shift = 0
        groups.append(window_groups(sizes[i], window, shift))
    return mix(f, tuple(groups))


def _maxvit_rule(module, f: Field, sizes) -> Field:
    """MaxViT's block (window) or grid attention, then its MLP (pointwise)."""
    p = int(module.p)
    if module.partition_type == "window":
        groups = tuple(np.arange(n) // p for n in sizes)
    else:
        groups = tuple(np.arange(n) % p for n in sizes)
    return mix(f, groups)


def _module_rule(module):
    name = type(module).__name__
    if name in ("ShiftedWindowAttention", "ShiftedWindowAttentionV2") and hasattr(module, "shift_size"):
        return _swin_rule
    if name in ("SwinTransformerBlock", "SwinTransformerV2Block") and hasattr(module, "shift_size") \
            and hasattr(module, "attn") and not hasattr(module, "stochastic_depth"):
        return _swin_rule  # timm's block: window attention and its MLP, on NHWC
    if name == "PartitionAttentionLayer" and hasattr(module, "partition_type"):
        return _maxvit_rule
    return None


def has_module_rule(module) -> bool:
    """Whether the module's output field is given by a rule for the module as a whole."""
    return _module_rule(module) is not None


def _first(obj):
    found = _tensors(obj)
    return found[0] if found else None


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
