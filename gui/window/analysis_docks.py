"""One dock per analysis of the registry (:mod:`engine.session.analysis`), its view built
after the first feature maps are painted.

Every dock is made with the window, so a saved layout is restored and the View menu toggles
them; the views (a few hundred milliseconds of plots together) are built once the first maps
are on screen, one per turn of the event loop, or at once when a dock is shown after that,
when the Analyse menu opens, or when :attr:`AnalysisDocks.views` is asked for.  A view asks
for a job with ``job_requested(job)``; the docks pass it on with the view that asked.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel

from engine.session.analysis import analyses, resolve
from gui.analyses.job_view import JobView
from gui.window import file_menu, window_settings


class AnalysisDocks(QObject):
    """The analyses' docks and views of ``window``.

    Parameters
    ----------
    window : MainWindow
        Makes the docks (``window.new_dock``) and holds the Analyse menu and the shortcuts filter.
    context : gui.analyses.job_view.ViewContext
        What every view reads of the window.
    below : QDockWidget
        The unit view's dock: the analyses go under it, or (``compact``) tabbed with it.

    Signals
    -------
    job_requested(object, object)
        A view asked for a job: the job, and the view that draws it.
    """

    job_requested = Signal(object, object)

    def __init__(self, window, context, below: QDockWidget, compact: bool):
        super().__init__(window)
        self.window, self.context = window, context
        self.docks: dict[str, QDockWidget] = {}  # analysis name -> its dock, in the registry's order
        self.built: dict[str, JobView] = {}  # analysis name -> its view, once built
        self.unbuilt: dict[str, object] = {}  # analysis name -> its Analysis, view not built yet
        self._building = False
        previous = below if compact else None
        for analysis in analyses():
            if analysis.view is None:
                continue
            waiting = QLabel(" ", alignment=Qt.AlignmentFlag.AlignCenter)  # the view comes after the first maps
            dock = window.new_dock(analysis.title, f"{analysis.name}_dock", waiting)
            if previous is None:
                window.splitDockWidget(below, dock, Qt.Orientation.Vertical)
            else:
                window.tabifyDockWidget(previous, dock)
            previous = dock
            self.docks[analysis.name], self.unbuilt[analysis.name] = dock, analysis
            dock.visibilityChanged.connect(self._dock_visible)  # bound method: no cycle through a closure

    @property
    def views(self) -> dict[str, JobView]:
        """Every analysis's view by name; asking builds the views not built yet."""
        self.build_all()
        return self.built

    def build_all(self) -> None:
        """Build every view not built yet (in the registry's order)."""
        for name in list(self.unbuilt):
            self.build(name)

    def build(self, name: str) -> None:
        """Build one analysis's view into its dock, its actions into the Analyse menu."""
        analysis = self.unbuilt.pop(name, None)
        if analysis is None:
            return
        view = resolve(analysis.view)(self.window)
        if not isinstance(view, JobView):
            raise TypeError(f"{type(view).__name__} lacks the JobView methods")
        view.context = self.context
        window_settings.put_in_dock(self.docks[name], view)
        self.built[name] = view
        # Bound methods, not closures over the window: no reference cycle through a signal.
        view.job_requested.connect(self._job_requested)
        view.show_requested.connect(self._show_requested)
        file_menu.add_analysis_actions(self.window, analysis, view)
        view.context_changed()
        self.window.shortcuts.watch(view)

    def build_after_first_maps(self) -> None:
        """The first maps are on screen: build the views, one per turn of the event loop."""
        if self.unbuilt and not self._building:
            self._building = True
            QTimer.singleShot(0, self, self._build_next)

    def _build_next(self) -> None:
        if self.unbuilt:
            self.build(next(iter(self.unbuilt)))
            QTimer.singleShot(0, self, self._build_next)

    def _dock_visible(self, visible: bool) -> None:
        """A dock came on screen after the first maps: its view is built now."""
        name = next((n for n, dock in self.docks.items() if dock is self.sender()), None)
        if visible and name in self.unbuilt and self._building:
            self.build(name)

    def name_of(self, view) -> str | None:
        """The analysis ``view`` belongs to."""
        return next((name for name, v in self.built.items() if v is view), None)

    def show(self, name: str | None) -> None:
        """Bring the analysis's dock to the front."""
        if name in self.docks:
            self.docks[name].show()
            self.docks[name].raise_()

    def _job_requested(self, job) -> None:
        self.job_requested.emit(job, self.sender())

    def _show_requested(self) -> None:
        self.show(self.name_of(self.sender()))

    def context_changed(self) -> None:
        """Tell every view built so far that the model, recording, clicked unit or inputs changed."""
        for view in self.built.values():
            view.context_changed()

    def clear(self) -> None:
        """A new model: every view built so far forgets its results."""
        for view in self.built.values():
            view.clear()
