"""The engine never imports Qt: checked in the source and in a running interpreter."""

import ast
import pathlib
import subprocess
import sys

import engine

QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "shiboken6", "gui")


def test_no_engine_module_imports_qt_or_the_gui():
    root = pathlib.Path(engine.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT]
    assert offenders == []


def test_importing_every_engine_module_loads_no_qt():
    root = pathlib.Path(engine.__file__).parent
    modules = [".".join(p.relative_to(root.parent).with_suffix("").parts) for p in root.rglob("*.py")
               if p.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _project_imports(root: pathlib.Path) -> dict[str, set[str]]:
    """Every module of engine/ and gui/ -> the project modules it imports (at any level)."""
    modules = {}
    for package in ("engine", "gui"):
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    found.add(target)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycles():
    graph = _project_imports(pathlib.Path(engine.__file__).parent.parent)
    assert "engine.session.session" in graph["gui.engine_link.worker"] or "engine.session.values" in graph["gui.engine_link.worker"]
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_gui_never_imports_torch_itself():
    root = pathlib.Path(engine.__file__).parent.parent / "gui"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name.split(".")[0] == "torch"]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
                offenders.append(f"{path.name}: {node.module}")
    assert offenders == []


def test_jobs_values_and_sessions_load_without_torch():
    """The window names models, stimuli and jobs, and reads sessions, before torch has loaded."""
    jobs = sorted(p.stem for p in (pathlib.Path(engine.__file__).parent / "jobs").glob("*.py")
                  if p.stem != "__init__")
    code = ("import importlib, sys\n"
            "for m in ['engine.session.values', 'engine.session.job', 'gui.window.session_file', "
            "'gui.engine_link.app_state', 'gui.analyses.job_view']: importlib.import_module(m)\n"
            f"for m in {jobs!r}: importlib.import_module('engine.jobs.' + m)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from engine.session.analysis import analyses

    declared = {cls.__module__ for analysis in analyses() for cls in analysis.jobs}
    assert {f"engine.jobs.{m}" for m in jobs} <= declared  # every job module declares its analysis


#: engine's subpackages from the bottom up: each imports only those before it.
ENGINE_LAYERS = ["errors", "files", "models", "anatomy", "recording", "stimuli", "neural", "analyses", "session",
                 "jobs", "cluster", "figures", "cli", "commands", "doctor", "__main__"]


def test_engine_subpackages_import_only_the_layers_below_them():
    graph = _project_imports(pathlib.Path(engine.__file__).parent.parent)
    rank = {name: i for i, name in enumerate(ENGINE_LAYERS)}
    upward = []
    for module, imports in graph.items():
        if not module.startswith("engine."):
            continue
        here = module.split(".")[1]
        assert here in rank, f"{module}: add its subpackage to ENGINE_LAYERS"
        for target in imports:
            there = target.split(".")[1] if target.startswith("engine.") else None
            if there is not None and there != here and rank[there] > rank[here]:
                if (here, there) != ("cli", "commands"):  # cli loads the command modules by name
                    upward.append(f"{module} -> {target}")
    assert upward == []


#: gui's folders from the bottom up: each imports only those before it (gui/main.py, the entry point, any).
GUI_LAYERS = ["engine_link", "widgets", "analyses", "dialogs", "window", "app"]


def test_gui_folders_import_only_the_folders_below_them():
    graph = _project_imports(pathlib.Path(engine.__file__).parent.parent)
    rank = {name: i for i, name in enumerate(GUI_LAYERS)}
    upward, loose = [], []
    for module, imports in graph.items():
        parts = module.split(".")
        if parts[0] != "gui" or len(parts) < 3:
            if parts[0] == "gui" and len(parts) == 2 and parts[1] not in (*GUI_LAYERS, "main", "__main__"):
                loose.append(module)
            continue
        here = parts[1]
        assert here in rank, f"{module}: add its folder to GUI_LAYERS"
        for target in imports:
            there = target.split(".")[1] if target.startswith("gui.") and target.count(".") >= 1 else None
            if there in rank and there != here and rank[there] > rank[here]:
                upward.append(f"{module} -> {target}")
    assert loose == [], "gui/ keeps only its entry points at the top; put modules in a folder"
    assert upward == []
