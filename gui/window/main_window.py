"""The main window: model picker, anatomy tree and card, feature maps, unit view, inputs,
tuning and population analyses.

The window only asks and shows: every model build and forward pass happens in the
:class:`gui.engine_link.worker.EngineThread`.  Results carry request ids and the window drops any
that is not the newest it asked for.  No module the window imports loads torch, so the
window appears at once; the engine thread starts loading torch once it is shown.

Start-up does only what the first feature maps need before they are painted: the
feature-map panel and unit view are built with the window (before torch loads, while the
engine thread does not yet compete for the GIL); each analysis gets its dock at once (so a
saved layout is restored) and its view once the first maps are on screen
(:class:`gui.window.analysis_docks.AnalysisDocks`).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from engine.errors import UnitscopeError
from engine.jobs.record import Record
from engine.session.values import ModelInfo, ModelSpec, Recording, Stimulus
from gui.window import file_menu
from gui.window import window_settings
from gui.widgets.anatomy_card import AnatomyCard
from gui.widgets.anatomy_tree import AnatomyTree
from gui.engine_link.app_state import AppState
from gui.widgets.feature_map_panel import FeatureMapPanel
from gui.widgets.input_strip import InputStrip
from gui.analyses.job_view import JobView, ViewContext
from gui.widgets.live_input import INSTALL_HINT, LiveInput, camera_source, have_pyav
from gui.widgets.model_picker import ModelPicker
from gui.window import window_session
from gui.window.analysis_docks import AnalysisDocks
from gui.window.session_file import SavedSession, read_session
from gui.window.shortcuts import ShortcutsThroughTextBoxes
from gui.widgets.status_bar import EngineStatusBar
from gui.widgets.unit_view import UnitView, unit_view_arguments
from gui.window.window_settings import StartupChoices
from gui.engine_link.controller import EngineLink

log = logging.getLogger(__name__)



#: Screens less tall than this (available pixels) get the laptop layout: analyses tabbed with the unit view.
COMPACT_HEIGHT = 900
WAITING_TEXT = "Starting the engine (loading PyTorch)…"


def first_layer(anatomy) -> str:
    """A layer that shows a newcomer feature maps at once: ``layer1`` or the first conv."""
    if "layer1" in anatomy.by_name:
        return "layer1"
    for node in anatomy.nodes():
        if node.type.startswith("Conv"):
            return node.name
    return ""


class MainWindow(QMainWindow):
    """The Unitscope window.

    Signals
    -------
    layer_shown(str)
        A recording of this layer is shown: feature maps, unit view and input preview.
    feature_maps_painted(str, float)
        The panel finished drawing a layer (layer, render milliseconds).
    message_shown(str)
        A problem was shown to the user.
    engine_failed(str)
        The engine could not do what the window last asked (also shown as a problem).
    analysis_shown(str)
        An analysis ("tuning" or "population") finished and its last snapshot is drawn.
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
        self._choices, self._last_layer, self._last_input = window_settings.startup_choices(
            self.settings, choices or StartupChoices())
        self.state = AppState(seed=self._choices.seed)
        self.link = EngineLink(self.state, self._choices.device, self)  # requests out, answers routed back
        self.worker = self.link.worker
        self._details_timer = QTimer(self, singleShot=True, interval=0)
        self._details_timer.timeout.connect(self._show_details)

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
        (self.unit_dock if compact else self.analysis_docks[0]).raise_()
        self._build_status_bar()
        self._build_feature_views()
        file_menu.build_menus(self)
        self._own_about_box()
        self.shortcuts = ShortcutsThroughTextBoxes(self)  # Ctrl+E... work in a focused text box too
        self._connect()
        window_settings.scroll_every_dock(self)
        # The unit (laptop) or the first analysis in front, whatever was tabbed in after it.
        (self.unit_dock if self.tabifiedDockWidgets(self.unit_dock) else self.analysis_docks[0]).raise_()
        for dock in self.findChildren(QDockWidget):
            dock.dockLocationChanged.connect(self._dock_moved)
        self._default_layout = not window_settings.restore_window(self)
        self._select_start_input()

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
        waiting = QLabel(WAITING_TEXT, alignment=Qt.AlignmentFlag.AlignCenter)
        self.centre_stack.addWidget(waiting)
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

    def build_views(self) -> None:
        """Build every analysis view not built yet (:class:`AnalysisDocks`)."""
        self.analyses.build_all()

    def _dock_moved(self, _area) -> None:
        QTimer.singleShot(0, self, self._tidy_tab_bars)

    @property
    def analysis_docks(self) -> list[QDockWidget]:
        """The analyses' docks in menu order."""
        return list(self.docks.values())

    def _live_fps(self, fps: float) -> None:
        self.status.set_live(fps, self.live.source.name if self.live.source else "")

    def _unit_clicked(self, _channel: int, y: int, x: int) -> None:
        self.unit_view.pin(y, x)

    def _stimulus_selected(self, _stimulus) -> None:
        self._request_record()

    def _open_model_file(self) -> None:
        file_menu.open_model_file(self)

    def _load_weights(self) -> None:
        file_menu.load_weights(self)

    def _unit_position(self):
        return self.unit_view.position

    def _pinned_units(self) -> list:
        return list(getattr(self.analyses.built.get("probe"), "units", []))

    def _context_changed(self) -> None:
        self.analyses.context_changed()

    def _build_status_bar(self) -> None:
        self.status = EngineStatusBar(self)
        self.setStatusBar(self.status)

    def _connect(self) -> None:
        self.analyses.job_requested.connect(self.start_job)
        self.worker.engine_ready.connect(self._engine_ready)
        link = self.link
        link.model_opened.connect(self._model_ready)
        link.recording_ready.connect(self._recording_finished)
        link.open_failed.connect(self._show_open_model)
        link.record_failed.connect(self._show_recorded_input)
        link.problem.connect(self._engine_problem)
        link.busy.connect(self.status.work_started)
        link.idle.connect(self._work_finished)
        link.progress.connect(self.status.set_progress)
        link.analysis_finished.connect(self.analysis_shown)
        link.job_ended.connect(self._replay_next)
        self.tree.layer_selected.connect(self._layer_selected)
        self.strip.stimulus_selected.connect(self._stimulus_selected)
        self.strip.problem.connect(self.show_problem)
        self.strip.live_requested.connect(self.start_live)
        self.live.fps_changed.connect(self._live_fps)
        self.live.stopped.connect(self._live_stopped)
        self.picker.model_chosen.connect(self.open_model)
        self.picker.problem.connect(self.show_problem)
        self.picker.open_file_requested.connect(self._open_model_file)
        self.picker.load_weights_requested.connect(self._load_weights)
        self.status.cancel_requested.connect(self.cancel)

    def _build_feature_views(self) -> None:
        """The feature-map panel and the unit view, built with the window (neither module
        imports torch: the engine makes the mosaics and values they show, so the window thread
        runs no torch operator and never starts an OpenMP pool).  They take the place of the
        waiting text and the unit placeholder once the engine has loaded torch."""
        self.panel = FeatureMapPanel(self)
        self.panel.render_finished.connect(self._render_finished)
        self.panel.channel_clicked.connect(self.show_unit)
        self.panel.unit_clicked.connect(self._unit_clicked)
        self.panel.hovered.connect(self._hovered)
        self.centre_stack.addWidget(self.panel)  # behind the waiting text
        self.unit_view = UnitView(self)
        self.unit_view.hide()  # until it takes the placeholder's place in its dock
        window_settings.restore_panel_settings(self)

    def _show_feature_views(self) -> None:
        if self.centre_stack.currentWidget() is not self.panel:
            self.centre_stack.setCurrentWidget(self.panel)
            window_settings.put_in_dock(self.unit_dock, self.unit_view)

    # --- starting and stopping ---------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._default_layout:
            self._default_layout = False
            self._size_docks()
        self._tidy_tab_bars()
        if not self.worker.isRunning() and self.state.info is None and not self.state.opening:
            # Start after the first paint, so the window is up before torch loads.
            QTimer.singleShot(0, self, self.start_engine)

    def start_engine(self) -> None:
        """Start the engine thread and open the first model (once)."""
        if self.worker.isRunning() or self.state.opening or self.state.info is not None:
            return
        self.worker.start()
        c = self._choices
        if c.session:
            try:
                if self.restore_session(read_session(c.session)):
                    return
            except UnitscopeError as exc:
                self.show_problem(str(exc))
        spec, weights, trust = window_settings.first_model(self, c)  # a remembered model's code is asked about
        self._open(spec, weights, (c.layer, True) if c.layer else (self._last_layer, False), trust)

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

    # --- requests ----------------------------------------------------------------------

    def open_model(self, spec: str, weights: str | None = None, layer: str | None = None,
                   trust_pickle: bool = False) -> None:
        """Ask the engine to open ``spec`` (zoo name, file or ``file.py:factory``).

        ``layer`` is recorded first even if the model lacks it (the engine then says
        why); without it the current layer is kept where the new model has it.
        ``trust_pickle`` lets a pickled model file run its code (the user agreed to it).
        """
        self._open(spec, weights, (layer, True) if layer else (self.tree.current_layer(), False),
                   trust_pickle)

    def _open(self, spec: str, weights: str | None, wanted: tuple[str | None, bool],
              trust_pickle: bool = False) -> None:
        self._open_spec(ModelSpec(spec, weights, seed=self.state.seed, device=self._choices.device,
                                  trust_pickle=trust_pickle), wanted)

    def open_saved_model(self, model: ModelSpec, layer: str | None) -> None:
        """Open a session's model (its code agreed to) and record ``layer`` first."""
        self._open_spec(model, (layer, True) if layer else (None, False))

    def _open_spec(self, model: ModelSpec, wanted: tuple[str | None, bool]) -> None:
        spec = model.spec
        self.state.wanted_layer = wanted
        stopped = self.link.open(model)  # a running job stops; its view says so
        self.picker.set_current(spec, "opening…")
        self.status.showMessage(f"Opening {spec}…" + (f" (stopped: {stopped.status.rstrip('…')})"
                                                      if stopped is not None else ""))

    def start_live(self, source: str, realtime: bool = True) -> None:
        """Stream live input through the selected layer: a video file, ``"camera"``, or ``""`` to stop."""
        if not source:
            self.live.stop()
            return
        if not have_pyav():
            self.show_problem(INSTALL_HINT)
            return
        if source == "camera":
            device, input_format = camera_source()
            self.live.start(device, input_format, realtime)
        else:
            self.live.start(source, None, realtime)
        self.strip.set_live(True)
        self.status.set_live(0.0, self.live.source.name)

    def _live_stopped(self, reason: str) -> None:
        self.strip.set_live(False)
        self.status.set_live(None)
        if reason:
            self.show_problem(reason)
        elif self.live.frames_shown:
            self.status.showMessage(f"Live input ended: {self.live.frames_shown} frames shown", 5000)

    def record_layer(self, layer: str) -> None:
        """Select ``layer`` in the tree and record it; a layer not in the tree is recorded as asked."""
        if not self.tree.select_layer(layer):
            self._request_record(layer)

    def cancel(self) -> None:
        """Abandon the work in progress; the open model stays."""
        if self.link.cancel():
            self._show_open_model()
        self.status.showMessage("Cancelled", 3000)

    def show_problem(self, text: str) -> None:
        """Show a problem in the banner above the feature maps (never a blocking dialog)."""
        log.info("shown to user: %s", text)
        self.message.setText(text)
        self.message.show()
        self.status.showMessage(text, 10000)
        self.message_shown.emit(text)

    def _request_record(self, layer: str | None = None) -> None:
        layer = self.tree.current_layer() if layer is None else layer
        stimulus = self.strip.current()
        if self.state.opening or self.state.info is None or layer is None or stimulus is None:
            return
        self.link.record(Record(layer, stimulus))

    def _select_start_input(self) -> None:
        image = self._choices.image
        if image:
            if not self.strip.select(Stimulus("image", image)):
                self.show_problem(f"Image '{image}' does not exist.")
        elif not (self._last_input and self.strip.select(self._last_input)) and self.strip.list.count():
            self.strip.list.setCurrentRow(0)

    # --- engine results ----------------------------------------------------------------

    @Slot(object)
    def _engine_ready(self, catalogue) -> None:
        self._show_feature_views()
        self.picker.set_catalogue(catalogue)
        if self.state.info is not None:
            self.picker.set_current(self.state.info.spec, self.state.info.weights_label)

    @Slot(object)
    def _model_ready(self, info: ModelInfo) -> None:
        self.message.hide()
        self.setWindowTitle(f"{info.name} ({info.weights_label})")  # Qt adds " — Unitscope"
        self.picker.set_current(info.spec, info.weights_label)
        self.status.set_model(info.device, info.weights_label, info.has_random_weights, info.seed)
        for note in info.notes:
            self.show_problem(note)
        self.panel.clear()
        self.panel.set_model_name(info.name)
        self.panel.set_class_names(getattr(info, "categories", None))
        self.unit_view.clear()
        self.analyses.clear()  # views not built yet have nothing to clear
        self._context_changed()  # no unit clicked yet; pinned units belong to the old model
        (layer, explicit), self.state.wanted_layer = self.state.wanted_layer, (None, False)
        self.tree.set_anatomy(info.anatomy, info.name)
        self.status.showMessage(f"Opened {info.name}", 3000)
        if not layer or not (explicit or self.tree.model.index_of(layer).isValid()):
            layer = first_layer(info.anatomy)
        self.record_layer(layer)

    @Slot(object)
    def _recording_finished(self, recording: Recording) -> None:
        self.message.hide()
        self.panel.show_recording(recording)
        # The feature maps first; the views around them once that frame is on screen.
        self._details_timer.start()

    def _show_details(self) -> None:
        """Fill the views around the feature maps for the recording just shown.

        Runs from a zero timer after the mosaic is drawn, so that a click paints its feature
        maps without waiting for the unit view, and several recordings in one turn of the
        event loop fill these views once.
        """
        recording = self.state.recording
        if recording is None:
            return
        self.status.set_time("forward", recording.forward_s * 1000)
        size = "×".join(str(s) for s in recording.input_image.shape[:2])
        self.strip.set_preview(recording.input_image, size)
        # The unit the user clicked stays while only the input changes; a new layer
        # starts on its most active channel.
        # A vector (logits, say) has no map to show over the input until one is clicked.
        clicked = self.state.unit_channel if self.state.unit_layer == recording.layer else None
        if clicked is None and recording.kind == "vector":
            self.unit_view.clear()
            self.state.unit_channel = None
            self._context_changed()
        else:
            self.show_unit(clicked, quiet=True)
        self.layer_shown.emit(recording.layer)
        if self._choices.notice:  # why the remembered model was not opened, over the first maps
            self.show_problem(self._choices.notice)
            self._choices.notice = None
        if self.state.running is None:
            self._replay_next()

    def _show_open_model(self) -> None:
        """The model box names the open model again (an open was cancelled or failed)."""
        if self.state.info is not None:
            self.picker.set_current(self.state.info.spec, self.state.info.weights_label)

    def _show_recorded_input(self) -> None:
        """The input that failed is not left selected under another input's maps."""
        self.strip.show_stimulus(self.state.recording.stimulus)

    def _engine_problem(self, text: str) -> None:
        self.show_problem(text)
        self.engine_failed.emit(text)

    def _work_finished(self, clear_message: bool) -> None:
        self.status.work_finished()
        if clear_message and self.status.currentMessage():
            self.status.clearMessage()

    # --- sessions (gui.window.window_session) ---------------------------------------------

    def saved_session(self) -> SavedSession | None:
        """The window as a :class:`gui.window.session_file.SavedSession` (None before a model is open)."""
        return window_session.saved_session(self)

    def restore_session(self, saved: SavedSession, source: str = "The session") -> bool:
        """Open a saved session; False (nothing changed) when its model runs code the person
        did not agree to run (:func:`gui.window.window_session.restore_session`)."""
        return window_session.restore_session(self, saved, source)

    def _replay_next(self) -> None:
        window_session.replay_next(self)

    # --- analyses ----------------------------------------------------------------------

    def view_name(self, view) -> str | None:
        """The name ``view`` was registered under."""
        return self.analyses.name_of(view)

    def start_job(self, job, view: JobView) -> int:
        """Submit ``job`` to the engine thread; ``view`` draws its snapshots.

        A running job is replaced (its view keeps what it drew).  Returns the request id.
        """
        name = self.view_name(view)
        rid = self.link.start(job, view, name)
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()
        return rid

    def _render_finished(self, ms: float) -> None:
        self.analyses.build_after_first_maps()
        self.status.set_time("render", ms)
        self.feature_maps_painted.emit(self.state.recording.layer if self.state.recording else "", ms)

    # --- selections --------------------------------------------------------------------

    def _layer_selected(self, layer: str) -> None:
        # Ask the engine first: the card is laid out while the forward pass runs.
        self._request_record(layer)
        node, call = self.tree.current_node()
        total = self.state.info.anatomy.total_params if self.state.info else 0
        self.card.show_node(node, call, total, layer)

    def show_unit(self, channel: int | None, quiet: bool = False) -> None:
        """Show ``channel`` (None: the most active one) of the recording in the unit view."""
        if self.state.recording is None:
            return
        args = unit_view_arguments(self.state.recording, self.state.info.anatomy if self.state.info else None, channel)
        if args is None:
            return
        self.unit_view.show_unit(**args)
        self.panel.select_channel(args["channel"])
        self.state.unit_channel = args["channel"]
        self._context_changed()
        if not quiet:
            self.state.unit_layer = self.state.recording.layer
            self.unit_dock.show()
            self.unit_dock.raise_()

    def _hovered(self, channel: int, y: int, x: int) -> None:
        if channel == self.state.unit_channel:
            self.unit_view.set_position(y, x)

    # --- help -------------------------------------------------------------------------

    def _own_about_box(self) -> None:
        """Help ▸ About shows the version and how to cite (:func:`gui.dialogs.about.about_text`)."""
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            for action in menu.actions() if menu is not None else ():
                if action.text().replace("&", "").startswith("About"):
                    action.triggered.disconnect()
                    action.triggered.connect(self.show_about)

    def show_about(self) -> None:
        """The About box: version, what it is, how to cite."""
        from gui.dialogs.about import about_text

        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Unitscope", about_text(), QMessageBox.StandardButton.Ok,
                          self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setObjectName("about_box")
        box.open()

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

