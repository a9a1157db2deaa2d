"""Receptive fields of randomly composed small networks against the gradient support.

Hypothesis builds networks from the pieces real CNNs are made of: plain stacks of
convolutions (strided, dilated, with symmetric, asymmetric or ``'same'`` padding),
explicit ``F.pad``/``nn.ZeroPad2d`` padding and cropping, max and average pooling with
``ceil_mode``, adaptive pooling, residual blocks joined by addition (with 1x1 strided
shortcuts) and Inception/DenseNet blocks joined by channel concatenation.  Units of the
last layer and of one layer drawn at random (the centre, the first, the last and one
drawn at random) are compared with the input pixels that have a non-zero gradient in
the additive version of the network (:mod:`rf_reference`), in two ways:

* far from the borders, exactly: the same network run on the image with a wide margin
  around it (a multiple of the jump), so that the twin of each unit never touches
  padding; its gradient's bounding box must be the field's box moved by the margin.
  This checks ``lo``, ``hi`` and ``jump`` of every layer, corners included.
* at the borders: on the image itself, the field clipped to the image must hold the
  gradient support, and every edge of the field that lies inside the image must be the
  gradient's edge; a field that lies inside the image equals the support.  An edge cut
  by the image may overstate it (see ``test_border_field_may_hold_pixels_no_unit_samples``).

Every network keeps each unit's window on at least one real pixel (padding never
exceeds a window's reach), so that every unit has a gradient support to compare with.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rf_reference import clipped, gradient_box, make_additive
from torch import nn

from engine.anatomy.tree import build_anatomy

# torch warns (once per process) that an even 'same' kernel pads a copy of the input.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Hundreds of tiny forward passes run far faster on one thread of a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Pad(nn.Module):
    """``F.pad`` in a forward: 2 values pad (or, negative, crop) the width only, 4 both axes."""

    def __init__(self, pad: tuple[int, ...]):
        super().__init__()
        self.pad = tuple(pad)

    def forward(self, x):
        return F.pad(x, self.pad)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class Residual(nn.Module):
    """ResNet-like: ``body(x) + shortcut(x)``, the shortcut an identity or a 1x1 strided conv."""

    def __init__(self, body: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Concat(nn.Module):
    """Inception-like (branches only) or DenseNet-like (the input too) channel concatenation."""

    def __init__(self, branches: list[nn.Module], keep_input: bool):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.keep_input = keep_input

    def forward(self, x):
        parts = [x] if self.keep_input else []
        return torch.cat(parts + [branch(x) for branch in self.branches], dim=1)


def _out_shape(module: nn.Module, c: int, h: int, w: int) -> tuple[int, int, int]:
    with torch.no_grad():
        out = module(torch.zeros(1, c, h, w))
    return tuple(out.shape[1:])


CHANNELS = st.integers(1, 3)


def _strides(h: int, w: int, most: int = 3):
    """Strides above 1 only while the map is big enough, so fields stay a few hundred pixels."""
    return st.integers(1, most if min(h, w) >= 6 else 1)


@st.composite
def conv(draw, c, h, w):
    """A convolution with explicit (per-axis) or 'same' padding; its windows touch real pixels."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # window extent in pixels
    if draw(st.booleans()) and draw(st.booleans()):
        return nn.Conv2d(c, draw(CHANNELS), (kh, kw), padding="same", dilation=(dh, dw))
    ph, pw = draw(st.integers(0, eh - 1)), draw(st.integers(0, ew - 1))
    if eh > h + 2 * ph or ew > w + 2 * pw:  # window larger than the padded map: shrink it
        kh, kw, dh, dw, ph, pw = 1, 1, 1, 1, 0, 0
    stride = (draw(_strides(h, w)), draw(_strides(h, w)))
    return nn.Conv2d(c, draw(CHANNELS), (kh, kw), stride, (ph, pw), (dh, dw))


@st.composite
def pad_conv(draw, c, h, w):
    """Asymmetric padding (``nn.ZeroPad2d`` or ``F.pad``, maybe a crop) then an unpadded conv."""
    k, d = draw(st.integers(1, 5)), draw(st.integers(1, 2))
    reach = d * (k - 1)
    width_only = draw(st.booleans())
    pads = [draw(st.integers(-1 if n > 2 else 0, reach)) for n in ((w,) * 2 if width_only else (w, w, h, h))]
    if width_only:
        pad = Pad(tuple(pads))
        kernel, dilation = (1, k), (1, d)
    else:
        pad = nn.ZeroPad2d(tuple(pads)) if draw(st.booleans()) else Pad(tuple(pads))
        kernel, dilation = (k, k), (d, d)
    _, ph, pw = _out_shape(pad, c, h, w)
    if (kernel[0] - 1) * dilation[0] + 1 > ph or (kernel[1] - 1) * dilation[1] + 1 > pw:
        # The map is too small for this window: no padding (a unit seeing only padding
        # has no gradient to compare with) and a 1x1 kernel.
        pad = Pad(tuple(min(p, 0) for p in pads))
        kernel, dilation = (1, 1), (1, 1)
    return nn.Sequential(pad, nn.Conv2d(c, draw(CHANNELS), kernel, draw(_strides(h, w, 2)),
                                        dilation=dilation))


@st.composite
def pool(draw, c, h, w):
    """Max or average pooling, with padding up to half the window and maybe ceil_mode."""
    k = draw(st.integers(1, 4))
    stride = draw(_strides(h, w))
    padding = draw(st.integers(0, k // 2))
    if k > min(h, w) + 2 * padding:
        k, padding = 1, 0
    ceil_mode = draw(st.booleans())
    if draw(st.booleans()):
        return nn.MaxPool2d(k, stride, padding, ceil_mode=ceil_mode)
    return nn.AvgPool2d(k, stride, padding, ceil_mode=ceil_mode,
                        count_include_pad=draw(st.booleans()))


@st.composite
def adaptive(draw, c, h, w):
    """Adaptive pooling that keeps the grid, or (average) that divides it evenly."""
    if draw(st.booleans()):
        pool = draw(st.sampled_from([nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d]))((h, w))
        fh = fw = 1
    else:
        fh = draw(st.sampled_from([f for f in (1, 2, 3) if h % f == 0 and h // f > 1] or [1]))
        fw = draw(st.sampled_from([f for f in (1, 2, 3) if w % f == 0 and w // f > 1] or [1]))
        pool = nn.AdaptiveAvgPool2d((h // fh, w // fw))
    pool.fixed_kernel = (fh, fw)  # the same pooling on any input size, for _big_input_twin
    return pool


@st.composite
def same_grid(draw, c, stride):
    """A branch start that maps an n-pixel axis to floor((n - 1) / stride) + 1 units."""
    out = draw(CHANNELS)
    choice = draw(st.sampled_from(["conv", "pool", "pad"] + (["same"] if stride == 1 else [])))
    if choice == "conv":
        k, d = draw(st.sampled_from([1, 3, 5])), draw(st.integers(1, 2))
        return nn.Conv2d(c, out, k, stride, d * (k - 1) // 2, d), out
    if choice == "pool":
        return nn.MaxPool2d(3, stride, 1), c
    if choice == "same":
        k, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        return nn.Conv2d(c, out, k, padding="same", dilation=d), out
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    top, left = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    return nn.Sequential(nn.ZeroPad2d((left, kw - 1 - left, top, kh - 1 - top)),
                         nn.Conv2d(c, out, (kh, kw), stride)), out


@st.composite
def residual(draw, c, h, w):
    stride = draw(_strides(h, w))
    first, mid = draw(same_grid(c, stride))
    layers = [first]
    if draw(st.booleans()):
        layers += [nn.BatchNorm2d(mid), nn.ReLU()]
        second, mid = draw(same_grid(mid, 1))
        layers.append(second)
    body = nn.Sequential(*layers)
    shortcut = nn.Identity() if stride == 1 and mid == c else nn.Conv2d(c, mid, 1, stride, bias=False)
    return Residual(body, shortcut)


@st.composite
def concat(draw, c, h, w):
    keep_input = draw(st.booleans())
    stride = 1 if keep_input else draw(_strides(h, w, 2))
    branches = []
    for _ in range(draw(st.integers(1 if keep_input else 2, 3))):
        first, mid = draw(same_grid(c, stride))
        if draw(st.booleans()):
            second, _ = draw(same_grid(mid, 1))
            first = nn.Sequential(first, second)
        branches.append(first)
    return Concat(branches, keep_input)


BLOCKS = {"conv": conv, "pad_conv": pad_conv, "pool": pool, "adaptive": adaptive,
          "residual": residual, "concat": concat}


@st.composite
def networks(draw):
    """(network, input side, its layer names): 1 to 5 blocks in an ``nn.Sequential``."""
    size = draw(st.integers(16, 48))
    c, h, w = 3, size, size
    blocks = []
    for _ in range(draw(st.integers(1, 5))):
        block = draw(BLOCKS[draw(st.sampled_from(sorted(BLOCKS)))](c, h, w))
        c, h, w = _out_shape(block, c, h, w)
        assert h >= 1 and w >= 1, block
        blocks.append(block)
    net = nn.Sequential(*blocks).eval()
    net.crops = any(min(m.pad if isinstance(m, Pad) else m.padding) < 0
                    for m in net.modules() if isinstance(m, (Pad, nn.ZeroPad2d)))
    return net, size


def _big_input_twin(net: nn.Module) -> nn.Module:
    """The network with its adaptive pools made fixed, so that it runs on a larger input."""
    twin = copy.deepcopy(net)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if hasattr(child, "fixed_kernel"):
                setattr(module, name, nn.AvgPool2d(child.fixed_kernel))
    return twin


def _supports(net: nn.Module, layer: str, size: int, units):
    """``rf_reference.gradient_box`` of several units at once (one input copy per unit),
    and the layer's output grid."""
    additive = make_additive(net)
    captured = {}
    handle = dict(additive.named_modules())[layer].register_forward_hook(
        lambda module, inputs, output: captured.setdefault("out", output))
    x = torch.ones(len(units), 3, size, size, dtype=torch.float64, requires_grad=True)
    try:
        additive(x)
    finally:
        handle.remove()
    out = captured["out"]
    sum(out[i, :, y, x_].sum() for i, (y, x_) in enumerate(units)).backward()
    boxes = []
    for grad in x.grad:
        support = torch.nonzero(grad.abs().sum(0) > 0)
        (top, left), (bottom, right) = support.min(0).values.tolist(), support.max(0).values.tolist()
        boxes.append((top, left, bottom, right))
    return boxes, tuple(out.shape[-2:])


def _check_far_from_borders(net, size, anatomy, layer, units) -> None:
    """Exact: on an input with a wide margin, the twin unit's support is the whole field."""
    node = anatomy.node(layer)
    f = node.field
    jump = math.lcm(*(int(j) for j in f.jump))
    h, w = node.output_shape[-2:]
    reach = max(-f.lo[0], -f.lo[1], f.hi[0] + h * f.jump[0] - size, f.hi[1] + w * f.jump[1] - size, 0)
    margin = jump * (int(reach) // jump + 2)
    moved = [(y + margin // int(f.jump[0]), x + margin // int(f.jump[1])) for y, x in units]
    references, _ = _supports(_big_input_twin(net), layer, size + 2 * margin, moved)
    for (y, x), reference in zip(units, references):
        expected = tuple(int(v) + margin for v in f.box(y, x))
        assert reference == expected, f"unit {(y, x)} of '{layer}' ({f}), margin {margin}, in\n{net}"


def _check_at_borders(net, size, anatomy, layer, units) -> None:
    """The field clipped to the image holds the gradient support; edges it does not clip are exact.

    A clipped edge may overstate the support: pixels at the image border that no unit of
    some intermediate map samples (strided windows that stop short, dilation holes, a
    crop followed by padding) lie inside the interval but never reach the unit.  Fields
    are per-layer intervals and cannot show that; after a crop the unclipped edges of
    border units can overstate it the same way, so there only containment is checked.
    """
    node = anatomy.node(layer)
    exact_edges = not getattr(net, "crops", False)
    references, grid = _supports(net, layer, size, units)
    assert node.output_shape[-2:] == grid
    for (y, x), reference in zip(units, references):
        box = node.field.box(y, x)
        inside = clipped(box, size)
        message = f"unit {(y, x)} of '{layer}' ({node.field}, box {box}, gradient {reference}) in\n{net}"
        assert inside[0] <= reference[0] and inside[1] <= reference[1], message
        assert reference[2] <= inside[2] and reference[3] <= inside[3], message
        if exact_edges:
            for i, edge in enumerate(box):
                if 0 <= edge <= size - 1:
                    assert reference[i] == edge, message


@FUZZ
@given(data=st.data(), case=networks())
def test_field_of_random_network_is_gradient_support(data, case):
    net, size = case
    anatomy = build_anatomy(net, (size, size))
    assert anatomy.device == "meta", anatomy.notes
    last = str(len(net) - 1)
    inner = str(data.draw(st.integers(0, len(net) - 1), label="inner layer"))
    for layer in dict.fromkeys([last, inner]):
        assert anatomy.node(layer).field is not None, f"'{layer}' has no field in\n{net}"
        h, w = anatomy.node(layer).output_shape[-2:]
        drawn = (data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1)))
        corners = [(h // 2, w // 2), (0, 0), (h - 1, w - 1), drawn]
        _check_far_from_borders(net, size, anatomy, layer, corners)
        _check_at_borders(net, size, anatomy, layer, corners)


# --- regressions found by the fuzzer ---------------------------------------------------


def test_width_only_f_pad_shifts_the_field():
    """``F.pad(x, (left, right))`` pads the width only; it used to lose the field (None)."""
    net = nn.Sequential(nn.Sequential(Pad((1, 2)), nn.Conv2d(3, 2, (1, 3))))
    anatomy = build_anatomy(net, (16, 16))
    assert anatomy.node("0.0").field.lo == (0, -1)
    assert anatomy.node("0").field.box(0, 0) == (0, -1, 0, 1)
    reference, _, _ = gradient_box(net, "0", 16, (15, 15))
    assert clipped(anatomy.node("0").field.box(15, 15), 16) == reference == (15, 14, 15, 15)


def test_border_field_may_hold_pixels_no_unit_samples():
    """Fields are per-layer intervals: at the image border they are not cut to what is seen.

    A 3x3 stride-2 convolution of 16 pixels has 7 units, on pixels 0 to 14: pixel 15 is
    never sampled.  The next padded convolution's last unit reaches the padding beyond
    unit 6, whose interval (14..16) covers pixel 15, so the clipped field ends at 15
    while the unit depends on pixels up to 14 only.
    """
    net = nn.Sequential(nn.Conv2d(3, 1, 3, stride=2), nn.Conv2d(1, 1, 3, padding=1))
    field = build_anatomy(net, (16, 16)).node("1").field
    reference, grid, unit = gradient_box(net, "1", 16, (6, 6))
    assert grid == (7, 7)
    assert field.box(*unit) == (10, 10, 16, 16)
    assert clipped(field.box(*unit), 16) == (10, 10, 15, 15)
    assert reference == (10, 10, 14, 14)
