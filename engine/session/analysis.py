"""The analyses Unitscope offers: one descriptor each, and the registry they are found in.

An :class:`Analysis` says everything the rest of Unitscope needs to offer it: the job
classes it runs and the snapshot classes they yield, what must be chosen before it can
run, the window view that shows it (named, never imported here: the engine stays
Qt-free), the Analyse-menu shortcut, how a result becomes a figure, the Methods text,
and the command line.  Each job module declares its analysis next to its job with
:func:`register`; the window, the figure command, the Methods text and sessions are
built by iterating :func:`analyses`, and find an analysis by the *class* of a job or of
a snapshot (never by a name or a class name).

Adding an analysis is one job module (the job, its snapshot, its ``register(...)``)
and one view module; nothing else changes.  A figure builder or Methods function may be
given as the object itself or as ``"module:name"``, resolved on first use, so that a job
module need not import the figure layer above it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.errors import UnitscopeError

#: Packages whose modules declare job kinds and analyses; each is imported on first need.
#: ``engine.cluster.results`` and ``engine.cluster.predict_merged`` add the window's views of a finished cluster job.
HOMES = ("engine.jobs", "engine.cluster.results", "engine.cluster.predict_merged")
#: What an analysis may need chosen before it runs, in the words the window uses.
NEEDS = {"model": "an open model", "layer": "a recorded layer", "unit": "a clicked unit",
         "images": "images in the inputs", "units": "pinned units"}


@dataclass(frozen=True)
class Analysis:
    """One analysis (see the module docstring).

    Attributes
    ----------
    name : str
        Its key in sessions and menus (``"tuning"``).
    title : str
        What the window calls it (dock title, View and Figure menu entries).
    jobs : tuple of type
        Job classes it runs (the first is its main job); a job is found by its class.
    snapshots : tuple of type
        Snapshot classes those jobs yield (the last one of a run is its result).
    needs : frozenset of str
        Keys of :data:`NEEDS` that must be chosen before it can run.
    view : str or None
        ``"module:Class"`` of the window view (a :class:`gui.analyses.base.AnalysisView`),
        or None for an analysis of the command line only.
    shortcut : str or None
        The key sequence of its main Analyse-menu action (``"Ctrl+T"``).
    figure : callable, str or None
        ``builder(result: dict, job: dict) -> FigureData`` (or ``"module:name"``), drawing a
        result or the final snapshot's fields.
    no_figure : str
        Why there is no figure, when ``figure`` is None.
    neuron_figure : callable, str or None
        ``builder(result: dict, job: dict, neuron: int | str, layer: str | None) -> FigureData``
        (or ``"module:name"``): one recorded neuron of a result beside the model
        (``unitscope figure R.npz --neuron N``), for analyses of recorded neurons.
    methods : callable, str or None
        ``text(job: dict, extra: dict) -> str``: its Methods sentences with definitions and
        citations (or ``"module:name"``).
    no_methods : str
        Why there is no Methods text, when ``methods`` is None.
    command : str or None
        The ``unitscope`` command that runs it from the shell, if any.
    """

    name: str
    title: str
    jobs: tuple[type, ...]
    snapshots: tuple[type, ...] = ()
    needs: frozenset[str] = frozenset()
    view: str | None = None
    shortcut: str | None = None
    figure: Callable | str | None = None
    no_figure: str = ""
    neuron_figure: Callable | str | None = None
    methods: Callable | str | None = None
    no_methods: str = ""
    command: str | None = None
    order: int = 100
    _resolved: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"Analysis '{self.name}' needs unknown things: {', '.join(sorted(unknown))}.")
        if not self.jobs:
            raise ValueError(f"Analysis '{self.name}' runs no job.")
        if self.figure is None and not self.no_figure:
            raise ValueError(f"Analysis '{self.name}' has no figure and does not say why (no_figure).")
        if self.methods is None and not self.no_methods:
            raise ValueError(f"Analysis '{self.name}' has no Methods text and does not say why (no_methods).")

    def figure_builder(self) -> Callable | None:
        """The figure builder, imported on first use."""
        return self._resolve("figure")

    def neuron_figure_builder(self) -> Callable | None:
        """The one-neuron figure builder, imported on first use (None: the analysis has none)."""
        return self._resolve("neuron_figure")

    def methods_text(self) -> Callable | None:
        """The Methods function, imported on first use."""
        return self._resolve("methods")

    def _resolve(self, attribute: str):
        if attribute not in self._resolved:
            self._resolved[attribute] = resolve(getattr(self, attribute))
        return self._resolved[attribute]


def resolve(reference):
    """``reference`` itself, or the object ``"module:name"`` names (None stays None)."""
    if reference is None or callable(reference):
        return reference
    module, _, name = str(reference).partition(":")
    return getattr(importlib.import_module(module), name)


_REGISTERED: dict[str, Analysis] = {}
_found = False


def register(analysis: Analysis) -> Analysis:
    """Add ``analysis`` to the registry (a later one of the same name replaces it)."""
    _REGISTERED[analysis.name] = analysis
    return analysis


def unregister(name: str) -> None:
    """Remove an analysis (for analyses defined by tests)."""
    _REGISTERED.pop(name, None)


def find_all() -> None:
    """Import every module of :data:`HOMES` once, so that every job kind and analysis is registered."""
    global _found
    if _found:
        return
    _found = True
    for home in HOMES:
        package = importlib.import_module(home)
        if hasattr(package, "__path__"):
            for info in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{home}.{info.name}")


def analyses() -> list[Analysis]:
    """Every registered analysis, in menu order."""
    find_all()
    return sorted(_REGISTERED.values(), key=lambda a: (a.order, a.title))


def analysis_named(name: str) -> Analysis:
    """The analysis registered as ``name``."""
    find_all()
    if name not in _REGISTERED:
        raise UnitscopeError(f"Unknown analysis '{name}' (known: {', '.join(a.name for a in analyses())}).")
    return _REGISTERED[name]


def _by_class(cls: type, attribute: str) -> Analysis | None:
    find_all()
    for klass in cls.__mro__:  # a subclass (a cluster job) is shown as its base is
        for analysis in _REGISTERED.values():
            if klass in getattr(analysis, attribute):
                return analysis
    return None


def analysis_of_job(job: Any) -> Analysis | None:
    """The analysis that runs ``job`` (an instance or a class), by class."""
    return _by_class(job if isinstance(job, type) else type(job), "jobs")


def analysis_of_snapshot(snapshot: Any) -> Analysis | None:
    """The analysis whose job yields ``snapshot`` (an instance or a class), by class."""
    return _by_class(snapshot if isinstance(snapshot, type) else type(snapshot), "snapshots")
