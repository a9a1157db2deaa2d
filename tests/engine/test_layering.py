"""The engine never imports Qt: checked in the source and in a running interpreter."""

import ast
import pathlib
import re
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


def test_commands_that_only_read_and_write_files_load_without_torch():
    """Submitting a predict job (noise ceilings, shard plan), exporting a cluster job, writing
    files and measuring a lab's neurons (the Properties view does it in a thread of the window's
    process) start without torch's seconds of import."""
    code = ("import importlib, sys\n"
            "for m in ['engine.commands.submit', 'engine.commands.export', 'engine.commands.predict', "
            "'engine.cluster.predict_plan', 'engine.cluster.predict_merged', 'engine.analyses.predictivity', "
            "'engine.analyses.similarity', 'engine.files.writers', 'engine.analyses.tuning', "
            "'engine.analyses.neuron_tuning']: importlib.import_module(m)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


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


#: gui folders whose modules never see the window: they get values, callables and signals.
WINDOW_BLIND = ("engine_link", "widgets", "analyses", "dialogs")
#: names a window goes by: window, window_, _window, main_window, mainwindow.
WINDOW_NAME = re.compile(r"_?(main_?)?window_?", re.IGNORECASE)


def _window_uses(source: str) -> list[str]:
    """Where ``source`` takes a window or reads its attributes: a parameter named for a window,
    ``window.x``, ``self.window_.x``, ``self.window().x``, ``getattr(window, ...)`` (line: code)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            found += [f"{node.lineno}: parameter {a.arg}" for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                      if WINDOW_NAME.fullmatch(a.arg)]
            continue
        if isinstance(node, ast.Attribute):
            base = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr")):
            base = node.args[0]
        else:
            continue
        if isinstance(base, ast.Call):  # self.window().x
            base = base.func
        name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
        if WINDOW_NAME.fullmatch(name):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda use: int(use.split(":")[0]))


def test_no_module_outside_the_window_reads_the_window():
    """Views, dialogs, widgets and the engine link get what they need passed in (values,
    callables, the EngineLink's signals), never the window to read attributes from."""
    root = pathlib.Path(engine.__file__).parent.parent / "gui"
    offenders = [f"{path.relative_to(root)}:{use}" for folder in WINDOW_BLIND
                 for path in sorted((root / folder).rglob("*.py"))
                 for use in _window_uses(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_window_check_finds_a_window_read():
    source = ("def open_results(window, path):\n"
              "    window.show_problem(path)\n"
              "class Dialog:\n"
              "    def close(self):\n"
              "        self.window_.views['topk'].clear()\n"
              "        getattr(self.window_, 'cluster_results', None)\n"
              "        self.window().state\n"
              "        self.window_edit.text()\n"  # a widget named for a time window: not the window
              "        window = parse_window('50:200')\n")
    assert _window_uses(source) == ["1: parameter window", "2: window.show_problem",
                                    "5: self.window_.views", "6: getattr(self.window_, 'cluster_results', None)",
                                    "7: self.window().state"]
