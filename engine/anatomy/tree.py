"""A model's anatomy: its module tree, measured by one real forward pass.

The tree is plain Python (the GUI wraps it in a Qt item model).  One forward pass at
the model's own input size, on the meta device where the model allows it (no memory,
no arithmetic) and else on the CPU, gives for every module how often it is called, the
output shape, MACs and receptive field of every call.

MACs follow torchvision's published convention (:mod:`engine.anatomy.macs`): counted from
the ops that run, each op to the innermost module running it.  A parameter shared by
several modules counts once in every total and is flagged on each module that holds it.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn
from torch.func import functional_call

from engine.anatomy.macs import MacCounter
from engine.anatomy.receptive_field import Field, FieldTracker, has_module_rule
from engine.errors import UnitscopeError
from engine.models.torchscript import ScriptTaps, is_script_module
from engine.models.zoo import suggest

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One call of a module during the forward pass."""

    output_shape: tuple[int, ...] | None
    field: Field | None
    macs: int = 0  # multiply-accumulates of this call, the module's whole subtree
    lost: bool = False  # the output is derived from the image but its grid could not be followed
    kind: str = ""  # rf_kind: box, gated, window, global; none (no grid), unknown, partitioned

    @property
    def grid_last(self) -> bool:
        """The output is ``(N, H, W, C)`` (its grid in dimensions 1 and 2, as in Swin's stages):
        recorded channels first, ``(N, C, H, W)``, like every other layer."""
        f = self.field
        return (f is not None and f.tokens is None and f.axes == (1, 2) and self.output_shape is not None
                and len(self.output_shape) == 4)

    @property
    def recorded_shape(self) -> tuple[int, ...] | None:
        """The output shape as recordings give it: channels first (see :attr:`grid_last`)."""
        if self.grid_last:
            n, h, w, c = self.output_shape
            return (n, c, h, w)
        return self.output_shape

    def as_dict(self) -> dict:
        f = self.field
        return {"output_shape": list(self.output_shape) if self.output_shape else None, "macs": self.macs,
                **(f.as_dict() if f else {"rf": None, "jump": None, "start": None,
                                          "rf_kind": self.kind or "none", "rf_note": ""})}


@dataclass
class AnatomyNode:
    """One module of the model, with what one forward pass showed about it."""

    name: str  # dotted path; "" for the model itself
    type: str
    params: int  # parameters the module owns directly
    params_total: int  # parameters in its subtree
    nbytes: int  # bytes of parameters and buffers in its subtree
    module: nn.Module = field(repr=False)
    parent_ref: weakref.ref | None = field(default=None, repr=False, compare=False)
    children: list[AnatomyNode] = field(default_factory=list, repr=False)
    calls: list[Call] = field(default_factory=list, repr=False)
    macs: int = 0  # MACs of ops this module ran itself (not in a child), over all calls
    shared_with: list[str] = field(default_factory=list)  # modules holding some of the same parameters
    hint: str = ""  # why a module was not called, where the pass ran

    @property
    def parent(self) -> AnatomyNode | None:
        """The node whose module holds this one (None for the model).  Held weakly, so that the
        tree has no reference cycle: a closed model's modules are freed as soon as its last
        reference goes, not at the next full garbage collection."""
        return self.parent_ref() if self.parent_ref is not None else None

    @property
    def macs_total(self) -> int:
        """MACs of the module's whole subtree, over all calls (for one input)."""
        return sum(node.macs for node in self.walk())

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
        if is_script_module(self.module):  # TorchScript keeps its own code
            try:
                return self.module.code
            except (RuntimeError, AttributeError):
                return f"# {self.type} has no TorchScript code of its own"
        try:
            return inspect.getsource(type(self.module).forward)
        except (OSError, TypeError):
            return f"# source of {self.type}.forward is not available"

    def walk(self):
        """This node and all below it, depth first, in module order."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def rf_kind(self) -> str:
        return self.calls[0].kind if self.calls else ""

    def as_dict(self) -> dict:
        """Plain ``rf``/``jump``/``start``/``rf_kind`` are the first call's; ``per_call`` has all."""
        first = self.calls[0].as_dict() if self.calls else {
            "rf": None, "jump": None, "start": None, "rf_kind": "none", "rf_note": ""}
        return {
            "name": self.name,
            "type": self.type,
            "params": self.params,
            "params_total": self.params_total,
            "shared_with": self.shared_with,
            "bytes": self.nbytes,
            "calls": len(self.calls),
            "output_shapes": [list(c.output_shape) if c.output_shape else None for c in self.calls],
            "macs": self.macs,
            "macs_total": self.macs_total,
            **{k: first[k] for k in ("rf", "jump", "start", "rf_kind", "rf_note")},
            "per_call": [c.as_dict() for c in self.calls],
            "hint": self.hint,
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

    @property
    def total_macs(self) -> int:
        """MACs of one forward pass of one input, torchvision's convention."""
        return self.root.macs_total

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
        sources: dict[type, str] = {}  # one class's forward read once, not once per module using it
        for node in self.nodes():
            node.module_repr  # noqa: B018 - filling the cached property
            cls = type(node.module)
            if "forward_source" in node.__dict__ or is_script_module(node.module):
                node.forward_source  # noqa: B018 - TorchScript modules have code of their own
            elif cls in sources:
                node.__dict__["forward_source"] = sources[cls]  # what the cached property would store
            else:
                sources[cls] = node.forward_source

    def nodes(self):
        return self.root.walk()


def _count(tensors) -> int:
    return sum(t.numel() for t in tensors)


def _nbytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _type_name(module: nn.Module) -> str:
    if is_script_module(module):  # RecursiveScriptModule: the class it was made from
        return getattr(module, "original_name", None) or type(module).__name__
    return type(module).__name__


def _tree(module: nn.Module, name: str, parent: AnatomyNode | None) -> AnatomyNode:
    node = AnatomyNode(
        name=name,
        type=_type_name(module),
        params=_count(module.parameters(recurse=False)),
        params_total=_count(module.parameters()),
        nbytes=_nbytes(module),
        module=module,
        parent_ref=weakref.ref(parent) if parent is not None else None,
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


def _kind(field: Field | None, lost: bool) -> str:
    if field is not None:
        return field.kind
    return "unknown" if lost else "none"


def _measure(model: nn.Module, root: AnatomyNode, image: torch.Tensor, state) -> None:
    tracker = FieldTracker()
    counter = MacCounter()
    handles = []
    starts: dict[int, list[int]] = {}

    def pre_for(node: AnatomyNode):
        def pre(module, inputs):
            counter.push(id(node))
            starts.setdefault(id(node), []).append(counter.total)

        return pre

    def hook_for(node: AnatomyNode):
        def hook(module, inputs, output):
            counter.pop(id(node))
            began = starts[id(node)].pop() if starts.get(id(node)) else counter.total
            tracker.module_output(module, inputs, output)
            out = first_tensor(output)
            shape = tuple(out.shape) if out is not None else None
            field, lost = tracker.field_of(out), tracker.is_lost(out)
            node.calls.append(Call(shape, field, counter.total - began, lost, _kind(field, lost)))

        return hook

    seen: set[int] = set()
    try:
        for node in root.walk():
            if id(node.module) in seen:  # the same module object under a second name
                continue
            seen.add(id(node.module))
            handles.append(node.module.register_forward_pre_hook(pre_for(node)))
            handles.append(node.module.register_forward_hook(hook_for(node)))
        with torch.inference_mode(), tracker, counter:
            tracker.seed(image)
            if state is None:
                model(image)
            else:
                functional_call(model, state, (image,), strict=False)
    finally:
        for h in handles:
            h.remove()
    for node in root.walk():
        node.macs = counter.by_owner.get(id(node), 0)
    _explain(model, root, tracker, state)


def _explain(model: nn.Module, root: AnatomyNode, tracker: FieldTracker, state) -> None:
    """Hints for modules that were not called, and kinds for grids regrouped inside a
    module whose field is given as a whole (window attention)."""
    tensors = dict(model.named_parameters(remove_duplicate=False))
    if state is not None:
        tensors.update(state)
    used = {name for name, t in tensors.items() if id(t) in tracker.used}
    for node in root.walk():
        if not node.calls:
            own = [n for n, _ in node.module.named_parameters(prefix=node.name, remove_duplicate=False)]
            if any(n in used for n in own):
                parent = node.parent.name if node.parent is not None and node.parent.name else "the model"
                node.hint = (f"never called: its weights are used directly by an enclosing module "
                             f"(e.g. F.linear in {node.parent.type if node.parent else 'the model'}.forward), "
                             f"so it has no output of its own to record; record '{parent}' instead")
            else:
                node.hint = ("not run in this forward pass (e.g. an auxiliary head used only in training, "
                             "or dropout that a fused attention op does itself), so it cannot be recorded")
            continue
        ancestor = node.parent
        while ancestor is not None and not has_module_rule(ancestor.module):
            ancestor = ancestor.parent
        if ancestor is not None:
            for call in node.calls:
                if call.field is None and call.lost:
                    call.kind = "partitioned"


def _shared(model: nn.Module, root: AnatomyNode) -> None:
    """Flag modules that hold a parameter another module holds too (tied weights)."""
    owners: dict[int, list[str]] = {}
    for node in root.walk():
        for p in node.module.parameters(recurse=False):
            owners.setdefault(id(p), []).append(node.name)
    for node in root.walk():
        names = {n for p in node.module.parameters(recurse=False) for n in owners[id(p)] if n != node.name}
        node.shared_with = sorted(names)


def _measure_script(model: torch.jit.ScriptModule, root: AnatomyNode, image: torch.Tensor) -> None:
    """A TorchScript model takes no hooks: shapes and calls from its graph's module calls,
    MACs of the whole model (ops do not say which module ran them once inlined), and no
    receptive fields (they are followed through Python operators)."""
    nodes = [node for node in root.walk() if node.name]
    counter = MacCounter()
    with torch.inference_mode(), counter:
        out = first_tensor(model(image))
    outputs = ScriptTaps(model).every_call([node.name for node in nodes], image)
    for node in nodes:
        node.calls = [Call(tuple(out.shape), None, 0, False, "unknown") for out in outputs[node.name]]
        if not node.calls:
            node.hint = "not called in the TorchScript model's forward graph"
    root.calls = [Call(tuple(out.shape) if out is not None else None, None, counter.total, False, "unknown")]
    root.macs = counter.total


def build_anatomy(model: nn.Module, input_size: tuple[int, int] = (224, 224)) -> Anatomy:
    """Measure the anatomy of ``model`` with one forward pass of a (1, 3, H, W) input.

    The pass runs on the meta device (parameters replaced by shape-only tensors) where the
    model allows it, else on the CPU with the real weights.  A model that cannot run at
    all still gets its tree and parameter counts; ``notes`` says why shapes are missing.
    """
    root = _tree(model, "", None)
    _shared(model, root)
    shape = (1, 3, *input_size)
    notes: list[str] = []
    was_training = model.training
    model.eval()
    device = ""
    if is_script_module(model):
        try:
            dev = next((p.device for p in model.parameters()), torch.device("cpu"))
            _measure_script(model, root, torch.zeros(shape, device=dev))
            return Anatomy(root=root, input_shape=shape, device="cpu",
                           notes=["TorchScript model: output shapes and calls from its graph, MACs of the "
                                  "whole model only, no receptive fields (they need the Python model)"])
        except Exception as exc:  # noqa: BLE001 - any graph may fail to run
            notes.append(f"forward pass of the TorchScript model failed: {type(exc).__name__}: {exc}")
            return Anatomy(root=root, input_shape=shape, device="", notes=notes)
    try:
        for attempt in ("meta", "cpu"):
            for node in root.walk():
                node.calls.clear()
                node.macs, node.hint = 0, ""
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
    mark_grid_last(model, {(node.name, k + 1) for node in root.walk() for k, call in enumerate(node.calls)
                           if call.grid_last})
    return Anatomy(root=root, input_shape=shape, device=device, notes=notes)


#: model -> the (module name, call number) outputs whose grid sits last (NHWC), as measured.
_GRID_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def mark_grid_last(model: nn.Module, calls: set[tuple[str, int]]) -> None:
    """Remember which calls of ``model`` give ``(N, H, W, C)`` outputs (see :func:`channels_first`)."""
    _GRID_LAST[model] = frozenset(calls)


def channels_first(model: nn.Module, name: str, call: int, output: torch.Tensor) -> torch.Tensor:
    """A recorded output with its channels in dimension 1: an ``(N, H, W, C)`` output of a call
    the anatomy measured as grid-last is permuted to ``(N, C, H, W)`` (a view); others unchanged."""
    if output.dim() == 4 and (name, call) in _GRID_LAST.get(model, ()):
        return output.permute(0, 3, 1, 2)
    return output


def format_macs(n: int) -> str:
    """MACs the way papers give them: 4.09 G, 301.5 M, 12.3 k, 0 as "-"."""
    if not n:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.{2 if unit == 'G' else 1}f} {unit}"
    return str(n)


def format_table(anatomy: Anatomy, model_label: str) -> str:
    """The anatomy as an aligned text table: name, type, output shape, params, MACs (the
    subtree's, all calls), RF, jump and the field's kind where it is not a plain box."""

    def fmt_pair(v):
        if v is None:
            return "-"
        a, b = v
        return f"{a:g}" if a == b else f"{a:g}x{b:g}"

    rows = [("name", "type", "output shape", "params", "MACs", "RF", "jump", "kind")]
    for node in anatomy.nodes():
        f = node.field
        shape = "x".join(str(s) for s in node.output_shape) if node.output_shape else "-"
        if len(node.calls) > 1:
            shape += f" (x{len(node.calls)} calls)"
        label = "  " * node.depth + (node.short_name if node.name else model_label)
        params = f"{node.params_total:,}" + (" (shared)" if node.shared_with else "")
        kind = node.rf_kind if node.rf_kind not in ("box", "none", "") else ""
        if not node.calls and anatomy.device:
            kind = "not called"
        rows.append((label, node.type, shape, params, format_macs(node.macs_total),
                     fmt_pair(f.size if f else None), fmt_pair(f.jump if f else None), kind))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5, 6}
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
