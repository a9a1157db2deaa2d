"""Recording inside TorchScript models, which take no Python forward hooks.

A TorchScript archive (``torch.jit.save``, traced or scripted) keeps its module tree, and
every operation of its inlined forward graph knows which module call it belongs to
(``Node.getModuleHierarchy``).  To record module ``M`` the graph is copied, the value
that each call of ``M`` returns (the last tensor computed inside that call) is cloned
right where it is made (so later in-place operations cannot change it) and returned
instead of the model's output; dead-code elimination then drops everything after it,
which is the hooks' early exit.  Values equal those of forward hooks on the eager model
bit for bit (tests/engine/test_torchscript.py).
"""

from __future__ import annotations

import torch

from engine.errors import LayerNotCalled

__all__ = ["ScriptTaps", "is_script_module"]


def is_script_module(module) -> bool:
    """Whether ``module`` is TorchScript (no Python hooks)."""
    return isinstance(module, torch.jit.ScriptModule)


def _module_path(hierarchy: str) -> list[str]:
    """``'SELF(ResNet).layer1(Sequential).0(BasicBlock)'`` -> ``['layer1', '0']``."""
    parts = []
    for part in hierarchy.split("."):
        name = part.split("(", 1)[0]
        if name and name not in ("SELF", "UNKNOWN_INSTANCE", "TOP"):
            parts.append(name)
    return parts


def _makes_tensor(node) -> bool:
    return any(out.type().kind() == "TensorType" for out in node.outputs())


def _call_runs(graph, name: str) -> list[list]:
    """The nodes of each call of module ``name``: maximal runs of tensor-making nodes inside it."""
    target = name.split(".") if name else []
    runs: list[list] = []
    current = None
    for node in graph.nodes():
        hierarchy = node.getModuleHierarchy()
        if not hierarchy or not _makes_tensor(node):
            continue
        if _module_path(hierarchy)[:len(target)] == target:
            if current is None:
                current = []
                runs.append(current)
            current.append(node)
        else:
            current = None
    return runs


class ScriptTaps:
    """The outputs of chosen module calls of a TorchScript model, from graph outputs.

    One compiled function per set of requested ``(module, call)`` pairs is kept.
    """

    def __init__(self, module: torch.jit.ScriptModule):
        self.module = module
        self._functions: dict[tuple, object] = {}
        self._calls: dict[str, int] = {}
        self._graph = None  # the inlined graph, for counting calls

    def calls(self, name: str) -> int:
        """How many times the forward graph calls module ``name`` (0: never, e.g. an unused head)."""
        if name not in self._calls:
            if self._graph is None:
                self._graph = self.module.inlined_graph
            self._calls[name] = len(_call_runs(self._graph, name))
        return self._calls[name]

    def _function(self, wanted: tuple[tuple[str, int], ...]):
        if wanted in self._functions:
            return self._functions[wanted]
        graph = self.module.inlined_graph  # a fresh copy each time
        none = graph.create("prim::Constant")
        none.output().setType(torch._C.NoneType.get())
        none.insertBefore(next(iter(graph.nodes())))
        clones = []
        for name, call in wanted:
            runs = _call_runs(graph, name)
            if call > len(runs):
                raise LayerNotCalled(
                    f"Layer '{name}{'' if call == 1 else f'#{call}'}' did not produce that call in a "
                    f"forward pass (called {len(runs)} times in the TorchScript graph).")
            value = [out for node in runs[call - 1] for out in node.outputs()
                     if out.type().kind() == "TensorType"][-1]
            clone = graph.create("aten::clone", [value, none.output()])
            clone.insertAfter(value.node())
            clone.output().setType(value.type())
            clones.append(clone.output())
        result = graph.create("prim::TupleConstruct", clones)
        result.output().setType(torch._C.TupleType([value.type() for value in clones]))
        graph.appendNode(result)
        graph.eraseOutput(0)
        graph.registerOutput(result.output())
        torch._C._jit_pass_dce(graph)  # what comes after the last requested call never runs
        function = torch._C._create_function_from_graph("unitscope_record", graph)
        self._functions[wanted] = function
        return function

    def outputs(self, wanted: list[tuple[str, int]], batch: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """Run the model on ``batch`` up to the last wanted call; ``(name, call) -> output copy``."""
        key = tuple(dict.fromkeys(wanted))
        values = self._function(key)(self.module._c, batch)
        return dict(zip(key, values))

    def every_call(self, names: list[str], batch: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """The outputs of every call of each module in ``names`` (its anatomy's shapes)."""
        wanted = [(name, call) for name in names for call in range(1, self.calls(name) + 1)]
        if not wanted:
            return {name: [] for name in names}
        with torch.inference_mode():
            found = self.outputs(wanted, batch)
        return {name: [found[(name, call)] for call in range(1, self.calls(name) + 1)] for name in names}
