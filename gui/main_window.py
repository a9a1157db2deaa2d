"""The main window: model picker, anatomy tree and card, feature maps, unit view, inputs,
tuning and population analyses.

The window only asks and shows: every model build and forward pass happens in the
:class:`gui.worker.EngineThread`.  Results carry request ids and the window drops any
that is not the newest it asked for.  Modules that import torch are imported only once
the engine thread has loaded torch, so the window appears at once.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QStackedWidget, QToolBar,
                               QVBoxLayout, QWidget)

from gui import file_menu, window_settings
from gui.anatomy_card import AnatomyCard
from gui.anatomy_tree import AnatomyTree
from gui.input_strip import InputStrip
from gui.model_picker import ModelPicker
from gui.population_view import PopulationView
from gui.probe_view import ProbeView
from gui.receptive_field_view import ReceptiveFieldView
from gui.status_bar import EngineStatusBar
from gui.topk_view import TopImagesView
from gui.tuning_view import TuningView
from gui.window_settings import StartupChoices
from gui.worker import EngineThread, ModelInfo, OpenModel, Record, Recording, Stimulus

log = logging.getLogger(__name__)


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
        self.setWindowTitle("Unitscope")
        self.settings = QSettings()
        self._choices, self._last_layer, self._last_input = window_settings.startup_choices(
            self.settings, choices or StartupChoices())
        self.worker = EngineThread(self._choices.device, self)
        self.info: ModelInfo | None = None
        self.recording: Recording | None = None
        self.panel = self.unit_view = None  # built once torch is loaded (see _build_views)
        self._open_id = self._record_id = self._busy_id = 0
        self._opening = False
        self._details_timer = QTimer(self, singleShot=True, interval=0)
        self._details_timer.timeout.connect(self._show_details)
        self._wanted_layer: tuple[str | None, bool] = (None, False)  # see open_model
        self._unit_channel: int | None = None  # shown in the unit view
        self._unit_layer: str | None = None  # layer whose channel the user clicked

        self.picker = ModelPicker(self)
        self.tree = AnatomyTree(self)
        self.card = AnatomyCard(self)
        self.strip = InputStrip(self)
        self.tuning_view = TuningView(self)
        self.population_view = PopulationView(self)
        self.topk_view = TopImagesView(self)
        self.probe_view = ProbeView(self)
        self.rf_view = ReceptiveFieldView(self)
        self._analysis_id = 0  # the analysis whose snapshots are drawn (0: none)
        self._analysis_view: TuningView | PopulationView | None = None
        self._analysis_status: tuple[str, tuple[int, int] | None] = ("", None)
        self._build_centre()
        self._build_docks()
        self._build_status_bar()
        file_menu.build_menus(self)
        self._connect()
        self._default_layout = not window_settings.restore_window(self)
        self._select_start_input()

    # --- layout ------------------------------------------------------------------------

    def _build_centre(self) -> None:
        self.message = QLabel(self, wordWrap=True)
        self.message.setObjectName("problem")
        self.message.setStyleSheet("QLabel#problem { background: #fff3cd; color: #5c4400; "
                                   "border: 1px solid #e0b000; padding: 6px; }")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.centre_stack = QStackedWidget(self)
        waiting = QLabel("Starting the engine (loading PyTorch)…",
                         alignment=Qt.AlignmentFlag.AlignCenter)
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

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self, objectName=name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        area = Qt.DockWidgetArea
        self.tree_dock = self._dock("Layers", "layers_dock", self.tree, area.LeftDockWidgetArea)
        self.card_dock = self._dock("Layer details", "card_dock", self.card, area.LeftDockWidgetArea)
        self.unit_placeholder = QLabel("Click a channel in the feature maps to see that unit.",
                                       alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.unit_dock = self._dock("Unit", "unit_dock", self.unit_placeholder, area.RightDockWidgetArea)
        self.strip_dock = self._dock("Inputs", "inputs_dock", self.strip, area.BottomDockWidgetArea)
        self.tuning_dock = self._dock("Tuning", "tuning_dock", self.tuning_view, area.RightDockWidgetArea)
        self.population_dock = self._dock("Population", "population_dock", self.population_view,
                                          area.RightDockWidgetArea)
        self.splitDockWidget(self.unit_dock, self.tuning_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.tuning_dock, self.population_dock)
        self.topk_dock = self._dock("Top images", "topk_dock", self.topk_view, area.RightDockWidgetArea)
        self.probe_dock = self._dock("Probe", "probe_dock", self.probe_view, area.RightDockWidgetArea)
        self.tabifyDockWidget(self.population_dock, self.topk_dock)
        self.tabifyDockWidget(self.topk_dock, self.probe_dock)
        self.rf_dock = self._dock("Receptive field", "rf_dock", self.rf_view, area.RightDockWidgetArea)
        self.tabifyDockWidget(self.probe_dock, self.rf_dock)
        self.tuning_dock.raise_()

    def _build_status_bar(self) -> None:
        self.status = EngineStatusBar(self)
        self.setStatusBar(self.status)

    def _connect(self) -> None:
        w = self.worker
        w.engine_ready.connect(self._engine_ready)
        w.model_ready.connect(self._model_ready)
        w.recording_finished.connect(self._recording_finished)
        w.failed.connect(self._failed)
        w.job_started.connect(self._job_started)
        w.job_finished.connect(self._job_finished)
        w.analysis_progress.connect(self._analysis_progress)
        w.analysis_finished.connect(self._analysis_finished)
        self.tuning_view.tuning_requested.connect(self.start_tuning)
        self.population_view.population_requested.connect(self.start_population)
        self.population_view.compare_requested.connect(self.start_comparison)
        self.topk_view.topk_requested.connect(self.start_topk)
        self.probe_view.pin_requested.connect(self.pin_unit)
        self.probe_view.play_requested.connect(self.start_probe)
        self.rf_view.receptive_field_requested.connect(self.start_receptive_field)
        self.tree.layer_selected.connect(self._layer_selected)
        self.strip.stimulus_selected.connect(lambda _s: self._request_record())
        self.strip.problem.connect(self.show_problem)
        self.picker.model_chosen.connect(lambda spec: self.open_model(spec))
        self.picker.open_file_requested.connect(lambda: file_menu.open_model_file(self))
        self.picker.load_weights_requested.connect(lambda: file_menu.load_weights(self))
        self.status.cancel_requested.connect(self.cancel)

    def _build_views(self) -> None:
        # These modules import torch: only now, after the engine thread has loaded it.
        from engine.cpu_threads import stay_single_threaded
        from gui.feature_map_panel import FeatureMapPanel
        from gui.unit_view import UnitView

        stay_single_threaded()  # one OpenMP pool, the engine's (engine/cpu_threads.py)

        self.panel = FeatureMapPanel(self)
        self.panel.render_finished.connect(self._render_finished)
        self.panel.channel_clicked.connect(self.show_unit)
        self.centre_stack.addWidget(self.panel)
        self.centre_stack.setCurrentWidget(self.panel)
        self.unit_view = UnitView(self)
        self.unit_dock.setWidget(self.unit_view)
        self.panel.hovered.connect(self._hovered)
        window_settings.restore_panel_settings(self)

    # --- starting and stopping ---------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._default_layout:
            self._default_layout = False
            self._size_docks()
        if not self.worker.isRunning() and self.info is None and not self._opening:
            # Start after the first paint, so the window is up before torch loads.
            QTimer.singleShot(0, self.start_engine)

    def start_engine(self) -> None:
        """Start the engine thread and open the first model (once)."""
        if self.worker.isRunning() or self._opening or self.info is not None:
            return
        self.worker.start()
        c = self._choices
        self._open(c.model, c.weights, (c.layer, True) if c.layer else (self._last_layer, False))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        window_settings.save_settings(self)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the engine thread and wait for it (it stops at the next module)."""
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
        self._opening = True
        self._wanted_layer = wanted
        self._open_id = self.worker.submit(OpenModel(spec, weights, trust_pickle))
        self.picker.set_current(spec, "opening…")
        self.status.showMessage(f"Opening {spec}…")

    def record_layer(self, layer: str) -> None:
        """Select ``layer`` in the tree and record it; a layer not in the tree is recorded as asked."""
        if not self.tree.select_layer(layer):
            self._request_record(layer)

    def cancel(self) -> None:
        """Abandon the work in progress; the open model stays."""
        self.worker.cancel()
        self._record_id = self._busy_id = 0
        if self._analysis_id and self._analysis_view is not None:
            self._analysis_view.mark_cancelled()  # its partial results stay on show
        self._analysis_id, self._analysis_view = 0, None
        if self._opening:
            self._opening = False
            if self.info is not None:
                self.picker.set_current(self.info.spec, self.info.weights_label)
        self.status.work_finished()
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
        if self._opening or self.info is None or layer is None or stimulus is None:
            return
        self._record_id = self.worker.submit(Record(layer, stimulus))

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
        try:
            self._build_views()
        except ImportError as exc:  # torch itself failed to load; the engine said why
            log.exception("could not build the feature-map views")
            self.show_problem(f"The feature-map views could not start: {exc}")
            return
        self.picker.set_catalogue(catalogue)
        if self.info is not None:
            self.picker.set_current(self.info.spec, self.info.weights_label)

    @Slot(int, object)
    def _model_ready(self, rid: int, info: ModelInfo) -> None:
        if rid != self._open_id:
            return
        self._opening, self.info, self.recording = False, info, None
        self.message.hide()
        self.setWindowTitle(f"Unitscope — {info.name} ({info.weights_label})")
        self.picker.set_current(info.spec, info.weights_label)
        self.status.set_model(info.device, info.weights_label, info.has_random_weights)
        for note in info.notes:
            self.show_problem(note)
        if self.panel is not None:
            self.panel.clear()
            self.unit_view.clear()
        self._unit_channel = self._unit_layer = None
        self._analysis_id, self._analysis_view = 0, None  # the engine dropped it with the old model
        self.tuning_view.clear_curves()
        self.tuning_view.set_unit(None)
        self.population_view.clear_plots()
        self.population_view.set_layer(None)
        self.population_view.set_layers([node.name for node in info.anatomy.nodes()])
        self.topk_view.clear_grids()
        self.probe_view.clear_units()  # pinned units belong to the old model
        self.rf_view.clear_maps()
        self._set_unit_label(None)
        (layer, explicit), self._wanted_layer = self._wanted_layer, (None, False)
        self.tree.set_anatomy(info.anatomy, info.name)
        self.status.showMessage(f"Opened {info.name}", 3000)
        if not layer or not (explicit or self.tree.model.index_of(layer).isValid()):
            layer = first_layer(info.anatomy)
        self.record_layer(layer)

    @Slot(int, object)
    def _recording_finished(self, rid: int, recording: Recording) -> None:
        if rid != self._record_id or self.panel is None:
            log.debug("dropped stale recording %d of %s", rid, recording.layer)
            return
        self.recording = recording
        self.message.hide()
        self.panel.show_output(recording.output, recording.layer)
        # The feature maps first; the views around them once that frame is on screen.
        self._details_timer.start()

    def _show_details(self) -> None:
        """Fill the views around the feature maps for the recording just shown.

        Runs from a zero timer after the mosaic is drawn, so that a click paints its feature
        maps without waiting for the unit view, and several recordings in one turn of the
        event loop fill these views once.
        """
        recording = self.recording
        if recording is None or self.unit_view is None:
            return
        self.status.set_time("forward", recording.forward_s * 1000)
        size = "×".join(str(s) for s in recording.input_image.shape[:2])
        self.strip.set_preview(recording.input_image, size)
        self.population_view.set_layer(recording.layer)
        # The unit the user clicked stays while only the input changes; a new layer
        # starts on its most active channel.
        # A vector (logits, say) has no map to show over the input until one is clicked.
        clicked = self._unit_channel if self._unit_layer == recording.layer else None
        if clicked is None and recording.output.ndim < 2:
            self.unit_view.clear()
            self._unit_channel = None
            self._set_unit_label(None)
        else:
            self.show_unit(clicked, quiet=True)
        self.layer_shown.emit(recording.layer)

    @Slot(int, str)
    def _failed(self, rid: int, text: str) -> None:
        if rid and rid not in (self._open_id, self._record_id, self._analysis_id):
            return
        if rid and rid == self._analysis_id and self._analysis_view is not None:
            self._analysis_view.mark_failed(text)
        if rid == self._open_id and self._opening:
            self._opening = False
            if self.info is not None:
                self.picker.set_current(self.info.spec, self.info.weights_label)
        self.show_problem(text)
        self.engine_failed.emit(text)

    @Slot(int, str)
    def _job_started(self, rid: int, text: str) -> None:
        if rid and rid == self._analysis_id:
            self._analysis_status = (text, None)
            self.status.work_started(text, at_once=True)
            return
        if rid not in (self._open_id, self._record_id):
            return
        self._busy_id = rid
        # A model build takes seconds: say so at once; a recording only if it is slow.
        self.status.work_started(text, at_once=rid == self._open_id)

    @Slot(int)
    def _job_finished(self, rid: int) -> None:
        if rid and rid == self._analysis_id:
            self._analysis_id, self._analysis_view = 0, None
            self.status.work_finished()
            self.status.clearMessage()  # the view says how it ended
            return
        if rid == self._busy_id:
            self.status.work_finished()
            if rid == self._record_id and self.status.currentMessage():
                self.status.clearMessage()
        if self._analysis_id:  # a recording made between two batches of the analysis
            text, progress = self._analysis_status
            self.status.work_started(text, at_once=True)
            if progress is not None:
                self.status.set_progress(*progress)

    # --- analyses ----------------------------------------------------------------------

    def start_tuning(self, param: str = "orientation") -> None:
        """Sweep ``param`` ("orientation" or "sf") for the unit shown in the unit view."""
        if self.recording is None or self._unit_channel is None or self._opening:
            return
        spatial = self.recording.output.ndim == 3
        position = self.unit_view.position if spatial else None
        request = self.tuning_view.make_request(self.recording.layer, self._unit_channel, position, param)
        self._start_analysis(request, self.tuning_view, self.tuning_dock)

    def start_population(self) -> None:
        """Run the population analyses of the recorded layer with the population view's settings."""
        if self.recording is None or self._opening:
            return
        paths = [s.value for s in self.strip.stimuli() if s.kind == "image"]
        request = self.population_view.make_request(self.recording.layer, paths)
        self._start_analysis(request, self.population_view, self.population_dock)

    def start_comparison(self) -> None:
        """Compare the recorded layer with the one chosen in the population view (RSA, CKA)."""
        if self.recording is None or self._opening:
            return
        paths = [s.value for s in self.strip.stimuli() if s.kind == "image"]
        request = self.population_view.make_compare_request(self.recording.layer, paths)
        self._start_analysis(request, self.population_view, self.population_dock)

    def start_topk(self) -> None:
        """Rank the strip's images by the unit shown in the unit view; show the top and bottom k."""
        if self.recording is None or self._unit_channel is None or self._opening:
            return
        position = self.unit_view.position if self.recording.output.ndim == 3 else None
        paths = [s.value for s in self.strip.stimuli() if s.kind == "image"]
        request = self.topk_view.make_request(self.recording.layer, self._unit_channel, position, paths)
        self._start_analysis(request, self.topk_view, self.topk_dock)

    def pin_unit(self) -> None:
        """Pin the unit shown in the unit view (at its RF box's position) to the probe."""
        from engine.unit import Unit

        if self.recording is None or self._unit_channel is None:
            return
        y, x = (self.unit_view.position or (None, None)) if self.recording.output.ndim == 3 else (None, None)
        self.probe_view.pin(Unit(self.recording.layer, self._unit_channel, y, x))
        self.probe_dock.show()
        self.probe_dock.raise_()

    def start_probe(self) -> None:
        """Play the probe view's stimulus sequence to every pinned unit."""
        if self.info is None or self._opening or not self.probe_view.units:
            return
        request = self.probe_view.make_request(self.strip.stimuli())
        self._start_analysis(request, self.probe_view, self.probe_dock)

    def start_receptive_field(self) -> None:
        """Map the receptive field of the unit shown in the unit view over the strip's inputs and noise."""
        if self.recording is None or self._unit_channel is None or self._opening:
            return
        position = self.unit_view.position if self.recording.output.ndim == 3 else None
        request = self.rf_view.make_request(self.recording.layer, self._unit_channel, position,
                                            self.strip.stimuli(), self.recording.stimulus)
        self._start_analysis(request, self.rf_view, self.rf_dock)

    def _set_unit_label(self, label: str | None) -> None:
        for view in (self.tuning_view, self.topk_view, self.probe_view):
            view.set_unit(label)
        self.rf_view.set_unit(label)

    def _start_analysis(self, request, view, dock: QDockWidget) -> None:
        if self._analysis_id and self._analysis_view is not None:
            self._analysis_view.mark_cancelled()  # the engine drops it for the new one
        self._analysis_id = self.worker.submit(request)
        self._analysis_view = view
        self._analysis_status = (request.describe(), None)
        self.status.work_started(request.describe(), at_once=True)  # Cancel at once: it is long
        view.started(request)
        dock.show()
        dock.raise_()

    @Slot(int, str, object, int, int)
    def _analysis_progress(self, rid: int, kind: str, snapshot, done: int, total: int) -> None:
        if rid != self._analysis_id or self._analysis_view is None:
            return
        self._analysis_view.show_snapshot(snapshot)
        self._analysis_status = (self._analysis_status[0], (done, total))
        self.status.set_progress(done, total)

    @Slot(int, str, object)
    def _analysis_finished(self, rid: int, kind: str, snapshot) -> None:
        if rid != self._analysis_id or self._analysis_view is None:
            return
        self._analysis_view.finish(snapshot)
        self.analysis_shown.emit(kind)

    def _render_finished(self, ms: float) -> None:
        self.status.set_time("render", ms)
        self.feature_maps_painted.emit(self.recording.layer if self.recording else "", ms)

    # --- selections --------------------------------------------------------------------

    def _layer_selected(self, layer: str) -> None:
        # Ask the engine first: the card is laid out while the forward pass runs.
        self._request_record(layer)
        node, call = self.tree.current_node()
        total = self.info.anatomy.total_params if self.info else 0
        self.card.show_node(node, call, total, layer)

    def show_unit(self, channel: int | None, quiet: bool = False) -> None:
        """Show ``channel`` (None: the most active one) of the recording in the unit view."""
        if self.recording is None or self.unit_view is None:
            return
        args = unit_arguments(self.recording, self.info.anatomy if self.info else None, channel)
        if args is None:
            return
        self.unit_view.show_unit(**args)
        self.panel.select_channel(args["channel"])
        self._unit_channel = args["channel"]
        self._set_unit_label(f"{self.recording.layer or 'output'}, channel {args['channel']}")
        if not quiet:
            self._unit_layer = self.recording.layer
            self.unit_dock.show()
            self.unit_dock.raise_()

    def _hovered(self, channel: int, y: int, x: int) -> None:
        if channel == self._unit_channel:
            self.unit_view.set_position(y, x)

    def _size_docks(self) -> None:
        """First-run layout: room for the tree's columns, the rest to the feature maps."""
        self.resizeDocks([self.tree_dock, self.unit_dock], [520, 400], Qt.Orientation.Horizontal)
        self.resizeDocks([self.tree_dock, self.card_dock], [520, 300], Qt.Orientation.Vertical)
        self.resizeDocks([self.unit_dock, self.tuning_dock], [540, 460], Qt.Orientation.Vertical)


def unit_arguments(recording: Recording, anatomy, channel: int | None) -> dict | None:
    """What :meth:`UnitView.show_unit` needs for ``channel`` of a recording, or None.

    ``channel=None`` picks the channel with the largest mean output.
    """
    from engine.mosaic import to_channels

    kind, maps = to_channels(recording.output[None], layout="nchw")
    if channel is None:
        channel = int(maps.reshape(maps.shape[0], -1).float().nan_to_num().mean(dim=1).argmax())
    if not 0 <= channel < maps.shape[0]:
        return None
    channel_map = maps[channel].reshape(1, 1) if kind == "vector" else maps[channel]
    field = None
    name, _, call = recording.layer.partition("#")
    node = anatomy.by_name.get(name) if anatomy is not None and kind == "maps" else None
    k = int(call) if call.isdigit() else 1
    if node is not None and k <= len(node.calls):
        field = node.calls[k - 1].field
    weights = recording.conv_weights
    return {"channel_map": channel_map.cpu().numpy(), "input_image": recording.input_image,
            "field": field, "channel": channel, "layer": recording.layer,
            "weights": weights[channel].numpy() if weights is not None and channel < len(weights) else None}
