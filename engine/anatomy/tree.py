"""A model's anatomy: its module tree, measured by one real forward pass.

The tree is plain Python (the GUI wraps it in a Qt item model).  One forward pass at
the model's own input size, on the meta device where the model allows it (no memory,
no arithmetic) and else on the CPU, gives for every module how often it is called, the
output shape of every call, its MACs and the receptive field of its output.
"""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn
from torch.func import functional_call

from engine.anatomy.receptive_field import Field, FieldTracker
from engine.errors import UnitscopeError
from engine.models.zoo import suggest

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One call of a module during the forward pass."""

    output_shape: tuple[int, ...] | None
    field: Field | None


@dataclass
class AnatomyNode:
    """One module of the model, with what one forward pass showed about it."""

    name: str  # dotted path; "" for the model itself
    type: str
    params: int  # parameters the module owns directly
    params_total: int  # parameters in its subtree
    nbytes: int  # bytes of parameters and buffers in its subtree
    module: nn.Module = field(repr=False)
    parent: AnatomyNode | None = field(default=None, repr=False)
    children: list[AnatomyNode] = field(default_factory=list, repr=False)
    calls: list[Call] = field(default_factory=list, repr=False)
    macs: int = 0

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1] if self.name else "(model)"

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.calls[0].output_shape if self.calls else None

    @property
    def field(self) -> Field | None:
        """Receptive field of the first call's output (plain ``NAME`` means the first call)."""
        return self.calls[0].field if self.calls else None

    @cached_property
    def module_repr(self) -> str:
        """The module as PyTorch prints it (made once: see :meth:`Anatomy.cache_texts`)."""
        return repr(self.module)

    @cached_property
    def forward_source(self) -> str:
        """Source code of the ``forward`` of this module's class, where Python has it."""
        try:
            return inspect.getsource(type(self.module).forward)
        except (OSError, TypeError):
            return f"# source of {self.type}.forward is not available"

    def walk(self):
        """This node and all below it, depth first, in module order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def as_dict(self) -> dict:
        f = self.field
        return {
            "name": self.name,
            "type": self.type,
            "params": self.params,
            "params_total": self.params_total,
            "bytes": self.nbytes,
            "calls": len(self.calls),
            "output_shapes": [list(c.output_shape) if c.output_shape else None for c in self.calls],
            "macs": self.macs,
            **(f.as_dict() if f else {"rf": None, "jump": None, "start": None}),
        }


@dataclass
class Anatomy:
    """The module tree of a model, indexed by dotted name."""

    root: AnatomyNode
    input_shape: tuple[int, ...]
    device: str  # where the measuring pass ran: "meta" or "cpu"; "" if it could not run
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.by_name = {node.name: node for node in self.root.walk()}

    @property
    def total_params(self) -> int:
        return self.root.params_total

    def node(self, name: str) -> AnatomyNode:
        """The node of a dotted module name; a clear error with suggestions if unknown."""
        if name in self.by_name:
            return self.by_name[name]
        raise UnitscopeError(f"Unknown layer '{name}'.{suggest(name, self.by_name)}")

    def cache_texts(self) -> None:
        """Make every node's ``module_repr`` and ``forward_source`` now, in this thread.

        The engine calls it before handing the anatomy to the window, so the window
        reads strings and never touches a live module.
        """
        for node in self.nodes():
            node.module_repr, node.forward_source  # noqa: B018 - filling the cached properties

    def nodes(self):
        return self.root.walk()


def _count(tensors) -> int:
    return sum(t.numel() for t in tensors)


def _nbytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _tree(module: nn.Module, name: str, parent: AnatomyNode | None) -> AnatomyNode:
    node = AnatomyNode(
        name=name,
        type=type(module).__name__,
        params=_count(module.parameters(recurse=False)),
        params_total=_count(module.parameters()),
        nbytes=_nbytes(module),
        module=module,
        parent=parent,
    )
    for child_name, child in module.named_children():
        node.children.append(_tree(child, f"{name}.{child_name}" if name else child_name, node))
    return node


def first_tensor(output):
    """The first tensor in a module's output (tensors, tuples, lists, dicts, named tuples)."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, dict) else output
    if isinstance(values, (list, tuple)) or isinstance(output, dict):
        for item in values:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def macs_of(module: nn.Module, inputs, output: torch.Tensor | None) -> int:
    """Multiply-accumulates of a convolution or linear layer's own computation."""
    if output is None:
        return 0
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, nn.modules.conv._ConvNd):  # transposed: each input element scatters
        x = first_tensor(inputs)
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return 0 if x is None else x.numel() * per_input
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def _measure(model: nn.Module, root: AnatomyNode, image: torch.Tensor, state) -> None:
    tracker = FieldTracker()
    handles = []

    def hook_for(node: AnatomyNode):
        def hook(module, inputs, output):
            out = first_tensor(output)
            shape = tuple(out.shape) if out is not None else None
            node.calls.append(Call(shape, tracker.field_of(out)))
            node.macs += macs_of(module, inputs, out)

        return hook

    try:
        for node in root.walk():
            handles.append(node.module.register_forward_hook(hook_for(node)))
        with torch.inference_mode(), tracker:
            tracker.seed(image)
            if state is None:
                model(image)
            else:
                functional_call(model, state, (image,), strict=False)
    finally:
        for h in handles:
            h.remove()


def build_anatomy(model: nn.Module, input_size: tuple[int, int] = (224, 224)) -> Anatomy:
    """Measure the anatomy of ``model`` with one forward pass of a (1, 3, H, W) input.

    The pass runs on the meta device (parameters replaced by shape-only tensors) where the
    model allows it, else on the CPU with the real weights.  A model that cannot run at
    all still gets its tree and parameter counts; ``notes`` says why shapes are missing.
    """
    root = _tree(model, "", None)
    shape = (1, 3, *input_size)
    notes: list[str] = []
    was_training = model.training
    model.eval()
    device = ""
    try:
        for attempt in ("meta", "cpu"):
            for node in root.walk():
                node.calls.clear()
                node.macs = 0
            try:
                if attempt == "meta":
                    state = {k: torch.empty_like(v, device="meta")
                             for k, v in (*model.named_parameters(), *model.named_buffers())}
                    _measure(model, root, torch.zeros(shape, device="meta"), state)
                else:
                    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
                    _measure(model, root, torch.zeros(shape, device=dev), None)
                device = attempt
                break
            except Exception as exc:  # any model code may fail on meta tensors
                log.debug("anatomy pass on %s failed: %s", attempt, exc)
                notes.append(f"forward pass on {attempt} failed: {type(exc).__name__}: {exc}")
    finally:
        model.train(was_training)
    if device:
        notes.clear()
    return Anatomy(root=root, input_shape=shape, device=device, notes=notes)


def format_table(anatomy: Anatomy, model_label: str) -> str:
    """The anatomy as an aligned text table: name, type, output shape, params, RF, jump."""

    def fmt_pair(v):
        if v is None:
            return "-"
        a, b = v
        return f"{a:g}" if a == b else f"{a:g}x{b:g}"

    rows = [("name", "type", "output shape", "params", "RF", "jump")]
    for node in anatomy.nodes():
        f = node.field
        shape = "x".join(str(s) for s in node.output_shape) if node.output_shape else "-"
        if len(node.calls) > 1:
            shape += f" (x{len(node.calls)} calls)"
        label = "  " * node.depth + (node.short_name if node.name else model_label)
        rows.append((label, node.type, shape, f"{node.params_total:,}",
                     fmt_pair(f.size if f else None), fmt_pair(f.jump if f else None)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5}
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
