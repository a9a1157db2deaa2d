"""The main window: model picker, anatomy tree and card, feature maps, unit view, inputs and
one dock per analysis, laid out.

The window lays the widgets out; :class:`gui.window.layer_viewer.LayerViewer` turns what the
user asks for into requests to the engine thread (:class:`gui.engine_link.controller.EngineLink`)
and its answers into what the widgets show, and :class:`gui.window.analysis_docks.AnalysisDocks`
holds the analyses' docks and views.  No module the window imports loads torch, so the window
appears at once; the engine thread starts loading torch once it is shown.

Start-up does only what the first feature maps need before they are painted: the
feature-map panel and unit view are built with the window (before torch loads, while the
engine thread does not yet compete for the GIL); each analysis gets its dock at once (so a
saved layout is restored) and its view once the first maps are on screen.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTabBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from engine.session.values import ModelInfo, ModelSpec, Recording
from gui.analyses.job_view import JobView, ViewContext
from gui.engine_link.app_state import AppState
from gui.engine_link.controller import EngineLink
from gui.widgets.anatomy_card import AnatomyCard
from gui.widgets.anatomy_tree import AnatomyTree
from gui.widgets.feature_map_panel import FeatureMapPanel
from gui.widgets.input_strip import InputStrip
from gui.widgets.live_input import LiveInput
from gui.widgets.model_picker import ModelPicker
from gui.widgets.status_bar import EngineStatusBar
from gui.widgets.unit_view import UnitView
from gui.window import file_menu, window_session, window_settings
from gui.window.analysis_docks import AnalysisDocks
from gui.window.layer_viewer import LayerViewer
from gui.window.session_file import SavedSession
from gui.window.shortcuts import ShortcutsThroughTextBoxes
from gui.window.window_settings import StartupChoices

log = logging.getLogger(__name__)

#: Screens less tall than this (available pixels) get the laptop layout: analyses tabbed with the unit view.
COMPACT_HEIGHT = 900
WAITING_TEXT = "Starting the engine (loading PyTorch)…"


class MainWindow(QMainWindow):
    """The Unitscope window.

    Signals
    -------
    layer_shown(str), feature_maps_painted(str, float), engine_failed(str)
        Passed on from :class:`gui.window.layer_viewer.LayerViewer` (see there).
    message_shown(str)
        A problem was shown to the user.
    analysis_shown(str)
        An analysis finished and its last snapshot is drawn (its name).
    """

    layer_shown = Signal(str)
    feature_maps_painted = Signal(str, float)
    message_shown = Signal(str)
    engine_failed = Signal(str)
    analysis_shown = Signal(str)

    def __init__(self, choices: StartupChoices | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowTitle("")  # Qt shows the application's name; a model's name is put before it
        self.settings = QSettings()
        self.choices, last_layer, last_input = window_settings.startup_choices(
            self.settings, choices or StartupChoices())
        self.state = AppState(seed=self.choices.seed)
        self.link = EngineLink(self.state, self.choices.device, self)  # requests out, answers routed back
        self.worker = self.link.worker

        self.picker = ModelPicker(self)
        self.tree = AnatomyTree(self)
        self.card = AnatomyCard(self)
        self.strip = InputStrip(self)
        self.context = ViewContext(self.state, self.strip.stimuli, self._unit_position, self._pinned_units)
        self.live = LiveInput(self.link, self.tree.current_layer, self)
        self._build_centre()
        self._build_docks()
        # On a short screen (a laptop) every analysis shares the unit view's full-height column
        # as a tab, so each plot gets the height of the window; on a tall one they sit under it.
        compact = window_settings.available_geometry(self).height() < COMPACT_HEIGHT
        self.analyses = AnalysisDocks(self, self.context, self.unit_dock, compact)
        self.status = EngineStatusBar(self)
        self.setStatusBar(self.status)
        self._build_feature_views()
        self.viewer = LayerViewer(self, last_layer, last_input)
        file_menu.build_menus(self)
        self.shortcuts = ShortcutsThroughTextBoxes(self)  # Ctrl+E... work in a focused text box too
        self._connect()
        window_settings.scroll_every_dock(self)
        # The unit (laptop) or the first analysis in front, whatever was tabbed in after it.
        (self.unit_dock if self.tabifiedDockWidgets(self.unit_dock) else self.analysis_docks[0]).raise_()
        self._default_layout = not window_settings.restore_window(self)
        self.viewer.select_start_input()

    def _connect(self) -> None:
        self.analyses.job_requested.connect(self.start_job)
        self.link.analysis_finished.connect(self.analysis_shown)
        self.link.job_ended.connect(self.replay_next)
        for ours, theirs in ((self.layer_shown, self.viewer.layer_shown),
                             (self.feature_maps_painted, self.viewer.feature_maps_painted),
                             (self.engine_failed, self.viewer.engine_failed)):
            theirs.connect(ours)
        self.picker.open_file_requested.connect(self._open_model_file)
        self.picker.load_weights_requested.connect(self._load_weights)
        for dock in self.findChildren(QDockWidget):
            dock.dockLocationChanged.connect(self._dock_moved)

    # Bound methods rather than closures, so that nothing the window's widgets hold keeps it alive.
    def _open_model_file(self) -> None:
        file_menu.open_model_file(self)

    def _load_weights(self) -> None:
        file_menu.load_weights(self)

    def _dock_moved(self, _area) -> None:
        QTimer.singleShot(0, self, self._tidy_tab_bars)

    def _unit_position(self):
        return self.unit_view.position

    def _pinned_units(self) -> list:
        return list(getattr(self.analyses.built.get("probe"), "units", []))

    @property
    def info(self) -> ModelInfo | None:
        """The open model (:attr:`AppState.info`)."""
        return self.state.info

    @property
    def recording(self) -> Recording | None:
        """The recording on show (:attr:`AppState.recording`)."""
        return self.state.recording

    # --- layout ------------------------------------------------------------------------

    def _build_centre(self) -> None:
        self.message = QLabel(self, wordWrap=True)
        self.message.setObjectName("problem")
        self.message.setStyleSheet("QLabel#problem { background: #fff3cd; color: #5c4400; "
                                   "border: 1px solid #e0b000; padding: 6px; }")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.centre_stack = QStackedWidget(self)
        self.centre_stack.addWidget(QLabel(WAITING_TEXT, alignment=Qt.AlignmentFlag.AlignCenter))
        centre = QWidget(self)
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.centre_stack, 1)
        self.setCentralWidget(centre)
        bar = QToolBar("Model", self, objectName="model_toolbar", movable=False)
        bar.addWidget(QLabel(" Model: "))
        bar.addWidget(self.picker)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def new_dock(self, title: str, name: str, widget: QWidget,
                 area=Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """A dock of this window showing ``widget`` in a scroll area."""
        dock = QDockWidget(title, self, objectName=name)
        dock.setWidget(window_settings.scrolling(widget))
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        area = Qt.DockWidgetArea
        # The side columns run the full height; the inputs sit under the feature maps only.
        self.setCorner(Qt.Corner.BottomLeftCorner, area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, area.RightDockWidgetArea)
        self.tree_dock = self.new_dock("Layers", "layers_dock", self.tree, area.LeftDockWidgetArea)
        self.card_dock = self.new_dock("Layer details", "card_dock", self.card, area.LeftDockWidgetArea)
        self.unit_placeholder = QLabel("Click a channel in the feature maps to see that unit.",
                                       alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.unit_dock = self.new_dock("Unit", "unit_dock", self.unit_placeholder, area.RightDockWidgetArea)
        self.strip_dock = self.new_dock("Inputs", "inputs_dock", self.strip, area.BottomDockWidgetArea)

    def _build_feature_views(self) -> None:
        """The feature-map panel and the unit view, built with the window (neither module
        imports torch: the engine makes the mosaics and values they show, so the window thread
        runs no torch operator and never starts an OpenMP pool).  They take the place of the
        waiting text and the unit placeholder once the engine has loaded torch."""
        self.panel = FeatureMapPanel(self)
        self.centre_stack.addWidget(self.panel)  # behind the waiting text
        self.unit_view = UnitView(self)
        self.unit_view.hide()  # until it takes the placeholder's place in its dock
        window_settings.restore_panel_settings(self)

    def show_feature_views(self) -> None:
        """The panel and unit view in place of the waiting text and the unit placeholder."""
        if self.centre_stack.currentWidget() is not self.panel:
            self.centre_stack.setCurrentWidget(self.panel)
            window_settings.put_in_dock(self.unit_dock, self.unit_view)

    def _tidy_tab_bars(self) -> None:
        """Tabs of docked panels show their whole titles and scroll, rather than shrinking
        every title to a letter and an ellipsis in a narrow column."""
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self:
                bar.setElideMode(Qt.TextElideMode.ElideNone)
                bar.setUsesScrollButtons(True)

    def _size_docks(self) -> None:
        """First-run layout: the feature maps get the most room, at any screen size.

        Of the window's width the layer tree takes three tenths (its five columns fit) and
        the unit and its analyses a little less, up to 440 and 500 px; the inputs a strip of
        thumbnails under the maps.
        """
        width, height = self.width(), self.height()
        tree = min(max(300, width * 30 // 100), 440)
        unit = min(max(300, width * 28 // 100), 500)  # wider screens give the rest to the maps
        self.resizeDocks([self.tree_dock, self.unit_dock], [tree, unit], Qt.Orientation.Horizontal)
        self.resizeDocks([self.tree_dock, self.card_dock], [height * 58 // 100, height * 42 // 100],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.unit_dock, self.analysis_docks[0]], [height // 2, height // 2],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.strip_dock], [165], Qt.Orientation.Vertical)

    def show_problem(self, text: str) -> None:
        """Show a problem in the banner above the feature maps (never a blocking dialog)."""
        log.info("shown to user: %s", text)
        self.message.setText(text)
        self.message.show()
        self.status.showMessage(text, 10000)
        self.message_shown.emit(text)

    # --- the analyses' docks and views (gui.window.analysis_docks) -----------------------

    @property
    def views(self) -> dict[str, JobView]:
        """Every analysis's view by name; asking builds the views not built yet."""
        return self.analyses.views

    @property
    def docks(self) -> dict[str, QDockWidget]:
        """Every analysis's dock by name."""
        return self.analyses.docks

    @property
    def job_views(self) -> dict[str, tuple[JobView, QDockWidget]]:
        """Every analysis's view with its dock, by name (builds the views not built yet)."""
        return {name: (view, self.docks[name]) for name, view in self.views.items()}

    @property
    def analysis_docks(self) -> list[QDockWidget]:
        """The analyses' docks in menu order."""
        return list(self.docks.values())

    def build_views(self) -> None:
        """Build every analysis view not built yet (:class:`AnalysisDocks`)."""
        self.analyses.build_all()

    def view_name(self, view) -> str | None:
        """The name ``view`` was registered under."""
        return self.analyses.name_of(view)

    def start_job(self, job, view: JobView) -> int:
        """Submit ``job`` to the engine thread; ``view`` draws its snapshots; its dock comes to
        the front.  A running job is replaced (its view keeps what it drew).  Returns the request id."""
        name = self.view_name(view)
        rid = self.link.start(job, view, name)
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()
        return rid

    # --- starting and stopping ---------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._default_layout:
            self._default_layout = False
            self._size_docks()
        self._tidy_tab_bars()
        if not self.worker.isRunning() and self.state.info is None and not self.state.opening:
            # Start after the first paint, so the window is up before torch loads.
            QTimer.singleShot(0, self, self.viewer.start_engine)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        window_settings.save_settings(self)
        self.shutdown()
        for dialog in self.findChildren(QDialog):  # tool windows (cluster results, figures) go with it
            dialog.close()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the engine thread and wait for it (it stops at the next module)."""
        self.live.stop()
        self.status.work_finished()
        if self.worker.isRunning():
            self.worker.stop()

    # --- what menus, sessions and scripts ask for (gui.window.layer_viewer) --------------

    def open_model(self, spec: str, weights: str | None = None, layer: str | None = None,
                   trust_pickle: bool = False) -> None:
        """Ask the engine to open ``spec`` (zoo name, file or ``file.py:factory``).

        ``layer`` is recorded first even if the model lacks it (the engine then says
        why); without it the current layer is kept where the new model has it.
        ``trust_pickle`` lets a pickled model file run its code (the user agreed to it).
        """
        self.viewer.open_model(spec, weights, layer, trust_pickle)

    def open_saved_model(self, model: ModelSpec, layer: str | None) -> None:
        """Open a session's model (its code agreed to) and record ``layer`` first."""
        self.viewer.open_spec(model, (layer, True) if layer else (None, False))

    def record_layer(self, layer: str) -> None:
        """Select ``layer`` in the tree and record it; a layer not in the tree is recorded as asked."""
        self.viewer.record_layer(layer)

    def show_unit(self, channel: int | None, quiet: bool = False) -> None:
        """Show ``channel`` (None: the most active one) of the recording in the unit view."""
        self.viewer.show_unit(channel, quiet)

    def start_live(self, source: str, realtime: bool = True) -> None:
        """Stream live input through the selected layer: a video file, ``"camera"``, or ``""`` to stop."""
        self.viewer.start_live(source, realtime)

    def cancel(self) -> None:
        """Abandon the work in progress; the open model stays."""
        self.viewer.cancel()

    def saved_session(self) -> SavedSession | None:
        """The window as a :class:`gui.window.session_file.SavedSession` (None before a model is open)."""
        return window_session.saved_session(self)

    def restore_session(self, saved: SavedSession, source: str = "The session") -> bool:
        """Open a saved session; False (nothing changed) when its model runs code the person
        did not agree to run (:func:`gui.window.window_session.restore_session`)."""
        return window_session.restore_session(self, saved, source)

    def replay_next(self) -> None:
        """Run the next of a restored session's jobs, if any is left."""
        window_session.replay_next(self)
