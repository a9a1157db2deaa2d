"""The window runs no torch: no module of gui/ imports it, at the top or inside a function.

The engine thread turns every result into NumPy and plain Python before it reaches the
window (for a recording: :func:`engine.recording.mosaic.display_values`), so the GUI thread never
runs a torch operator and never starts an OpenMP pool of its own
(:mod:`engine.recording.cpu_threads`).
"""

import ast
import pathlib

import gui

TORCH = ("torch", "torchvision")


def _imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
              in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.append(node.args[0].value)
    return names


def test_no_gui_module_imports_torch():
    root = pathlib.Path(gui.__file__).parent
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 10  # the scan really reads the package
    offenders = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.name}: {name}" for name in _imported_modules(tree)
                      if name.split(".")[0] in TORCH]
    assert offenders == []


def test_the_scan_finds_every_way_of_importing_torch():
    code = ("import torch\nimport torch.nn as nn\nfrom torch import nn\n"
            "def f():\n    from torch.nn import functional\n    import torchvision\n"
            "import importlib\nimportlib.import_module('torch')\n__import__('torch')\n"
            "from . import torch_free\nimport torchaudio_like_name_is_not_torch\n")
    found = [name for name in _imported_modules(ast.parse(code)) if name.split(".")[0] in TORCH]
    assert found == ["torch", "torch.nn", "torch", "torch.nn", "torchvision", "torch", "torch"]


def test_the_window_thread_runs_no_torch_operator(open_window, qtbot, tmp_path, monkeypatch):
    """Open, record maps and a vector, pick units, switch scale and colormap, save: all
    without one torch call in the window's thread (torch's modes are per thread, so the
    engine thread's forward passes are not seen here)."""
    import threading

    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    from gui.window import file_menu

    calls = []

    class FunctionSpy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if threading.current_thread() is threading.main_thread():
                calls.append(getattr(func, "__name__", repr(func)))
            return func(*args, **(kwargs or {}))

    class DispatchSpy(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if threading.current_thread() is threading.main_thread():
                calls.append(str(func))
            return func(*args, **(kwargs or {}))

    target = tmp_path / "acts.npz"
    monkeypatch.setattr(file_menu.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with FunctionSpy(), DispatchSpy():
        window = open_window()
        for layer in ("layer2.0.relu#2", "fc"):
            with qtbot.waitSignal(window.layer_shown, timeout=20000,
                                  check_params_cb=lambda shown, want=layer: shown == want):
                window.record_layer(layer)
            window.show_unit(3)
        assert window.recording.kind == "vector" and window.unit_view.position == (0, 0)
        for mode in ("shared", "channel"):
            window.panel.set_normalization(mode)
            window.panel.set_colormap("CET-D1")
            window.panel.set_colormap("viridis")
        file_menu.save_activations(window)
        assert target.is_file()
        seen = list(calls)
        torch.zeros(1).sum()  # the spies do see the window thread's torch calls
        assert len(calls) > len(seen)
    assert seen == []
