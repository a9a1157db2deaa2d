"""What the window asks the engine for and shows of it: the open model, the selected
layer's recording for the selected input, the clicked unit, live input.

:class:`LayerViewer` turns the widgets' requests (a model chosen, a layer or input selected,
a channel clicked, a video started) into requests to the :class:`gui.engine_link.controller.EngineLink`,
and the engine's answers into what the widgets show.  The window lays the widgets out and
hands them to it; nothing here builds a widget.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.errors import UnitscopeError
from engine.jobs.record import Record
from engine.session.values import ModelInfo, ModelSpec, Recording, Stimulus
from gui.widgets.live_input import INSTALL_HINT, camera_source, have_pyav
from gui.widgets.unit_view import unit_view_arguments
from gui.window import window_settings
from gui.window.session_file import read_session


def first_layer(anatomy) -> str:
    """A layer that shows a newcomer feature maps at once: ``layer1`` or the first conv."""
    if "layer1" in anatomy.by_name:
        return "layer1"
    for node in anatomy.nodes():
        if node.type.startswith("Conv"):
            return node.name
    return ""


class LayerViewer(QObject):
    """Opens models, records the selected layer for the selected input and shows it.

    Signals
    -------
    layer_shown(str)
        A recording of this layer is shown: feature maps, unit view and input preview.
    feature_maps_painted(str, float)
        The panel finished drawing a layer (layer, render milliseconds).
    engine_failed(str)
        The engine could not do what was last asked (also shown as a problem).
    """

    layer_shown = Signal(str)
    feature_maps_painted = Signal(str, float)
    engine_failed = Signal(str)

    def __init__(self, window, last_layer: str | None, last_input: Stimulus | None):
        super().__init__(window)
        self.window = window  # for sessions and the remembered model, which ask about code in a dialog
        self.state, self.link, self.choices = window.state, window.link, window.choices
        self.picker, self.tree, self.card, self.strip = window.picker, window.tree, window.card, window.strip
        self.panel, self.unit_view, self.unit_dock = window.panel, window.unit_view, window.unit_dock
        self.status, self.live, self.analyses = window.status, window.live, window.analyses
        self.show_problem, self.hide_problem = window.show_problem, window.message.hide
        self.last_layer, self.last_input = last_layer, last_input
        self._details = QTimer(self, singleShot=True, interval=0)
        self._details.timeout.connect(self._show_details)
        self._connect()

    def _connect(self) -> None:
        link = self.link
        link.worker.engine_ready.connect(self._engine_ready)
        link.model_opened.connect(self._model_ready)
        link.recording_ready.connect(self._recording_finished)
        link.open_failed.connect(self.show_open_model)
        link.record_failed.connect(self._show_recorded_input)
        link.problem.connect(self._engine_problem)
        link.busy.connect(self.status.work_started)
        link.idle.connect(self._work_finished)
        link.progress.connect(self.status.set_progress)
        self.tree.layer_selected.connect(self._layer_selected)
        self.strip.stimulus_selected.connect(self._stimulus_selected)
        self.strip.problem.connect(self.show_problem)
        self.strip.live_requested.connect(self.start_live)
        self.live.fps_changed.connect(self._live_fps)
        self.live.stopped.connect(self._live_stopped)
        self.picker.model_chosen.connect(self.open_model)
        self.picker.problem.connect(self.show_problem)
        self.panel.render_finished.connect(self._render_finished)
        self.panel.channel_clicked.connect(self.show_unit)
        self.panel.unit_clicked.connect(self._unit_clicked)
        self.panel.hovered.connect(self._hovered)
        self.status.cancel_requested.connect(self.cancel)

    # --- models ------------------------------------------------------------------------

    def start_engine(self) -> None:
        """Start the engine thread and open the first model (once): the session asked for on
        the command line, else the model asked for, remembered or the default."""
        if self.link.worker.isRunning() or self.state.opening or self.state.info is not None:
            return
        self.link.worker.start()
        c = self.choices
        if c.session:
            try:
                if self.window.restore_session(read_session(c.session)):
                    return
            except UnitscopeError as exc:
                self.show_problem(str(exc))
        spec, weights, trust = window_settings.first_model(self.window, c)  # a remembered model's code is asked about
        wanted = (c.layer, True) if c.layer else (self.last_layer, False)
        self.open_spec(ModelSpec(spec, weights, seed=self.state.seed, device=c.device, trust_pickle=trust), wanted)

    def open_model(self, spec: str, weights: str | None = None, layer: str | None = None,
                   trust_pickle: bool = False) -> None:
        """Ask the engine to open ``spec`` (zoo name, file or ``file.py:factory``); see
        :meth:`gui.window.main_window.MainWindow.open_model`."""
        wanted = (layer, True) if layer else (self.tree.current_layer(), False)
        self.open_spec(ModelSpec(spec, weights, seed=self.state.seed, device=self.choices.device,
                                 trust_pickle=trust_pickle), wanted)

    def open_spec(self, model: ModelSpec, wanted: tuple[str | None, bool]) -> None:
        """Open ``model``; ``wanted`` is the layer to record first and whether it was asked for
        (an asked-for layer the model lacks is recorded anyway, so the engine says why)."""
        self.state.wanted_layer = wanted
        stopped = self.link.open(model)  # a running job stops; its view says so
        self.picker.set_current(model.spec, "opening…")
        self.status.showMessage(f"Opening {model.spec}…" + (f" (stopped: {stopped.status.rstrip('…')})"
                                                            if stopped is not None else ""))

    def cancel(self) -> None:
        """Abandon the work in progress; the open model stays."""
        if self.link.cancel():
            self.show_open_model()
        self.status.showMessage("Cancelled", 3000)

    def show_open_model(self) -> None:
        """The model box names the open model again (an open was cancelled or failed)."""
        if self.state.info is not None:
            self.picker.set_current(self.state.info.spec, self.state.info.weights_label)

    @Slot(object)
    def _engine_ready(self, catalogue) -> None:
        self.window.show_feature_views()
        self.picker.set_catalogue(catalogue)
        self.show_open_model()

    @Slot(object)
    def _model_ready(self, info: ModelInfo) -> None:
        self.hide_problem()
        self.window.setWindowTitle(f"{info.name} ({info.weights_label})")  # Qt adds " — Unitscope"
        self.picker.set_current(info.spec, info.weights_label)
        self.status.set_model(info.device, info.weights_label, info.has_random_weights, info.seed)
        for note in info.notes:
            self.show_problem(note)
        self.panel.clear()
        self.panel.set_model_name(info.name)
        self.panel.set_class_names(getattr(info, "categories", None))
        self.unit_view.clear()
        self.analyses.clear()  # views not built yet have nothing to clear
        self.analyses.context_changed()  # no unit clicked yet; pinned units belong to the old model
        (layer, explicit), self.state.wanted_layer = self.state.wanted_layer, (None, False)
        self.tree.set_anatomy(info.anatomy, info.name)
        self.status.showMessage(f"Opened {info.name}", 3000)
        if not layer or not (explicit or self.tree.model.index_of(layer).isValid()):
            layer = first_layer(info.anatomy)
        self.record_layer(layer)

    # --- recordings --------------------------------------------------------------------

    def select_start_input(self) -> None:
        """The input asked for on the command line, else the last one used, else the first."""
        image = self.choices.image
        if image:
            if not self.strip.select(Stimulus("image", image)):
                self.show_problem(f"Image '{image}' does not exist.")
        elif not (self.last_input and self.strip.select(self.last_input)) and self.strip.list.count():
            self.strip.list.setCurrentRow(0)

    def record_layer(self, layer: str) -> None:
        """Select ``layer`` in the tree and record it; a layer not in the tree is recorded as asked."""
        if not self.tree.select_layer(layer):
            self.request_record(layer)

    def request_record(self, layer: str | None = None) -> None:
        """Record ``layer`` (the selected one) for the selected input."""
        layer = self.tree.current_layer() if layer is None else layer
        stimulus = self.strip.current()
        if self.state.opening or self.state.info is None or layer is None or stimulus is None:
            return
        self.link.record(Record(layer, stimulus))

    def _stimulus_selected(self, _stimulus) -> None:
        self.request_record()

    def _layer_selected(self, layer: str) -> None:
        # Ask the engine first: the card is laid out while the forward pass runs.
        self.request_record(layer)
        node, call = self.tree.current_node()
        total = self.state.info.anatomy.total_params if self.state.info else 0
        self.card.show_node(node, call, total, layer)

    @Slot(object)
    def _recording_finished(self, recording: Recording) -> None:
        self.hide_problem()
        self.panel.show_recording(recording)
        # The feature maps first; the views around them once that frame is on screen.
        self._details.start()

    def _render_finished(self, ms: float) -> None:
        self.analyses.build_after_first_maps()
        self.status.set_time("render", ms)
        self.feature_maps_painted.emit(self.state.recording.layer if self.state.recording else "", ms)

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
        # The unit the user clicked stays while only the input changes; a new layer starts on
        # its most active channel.  A vector (logits, say) has no map to show over the input
        # until one is clicked.
        clicked = self.state.unit_channel if self.state.unit_layer == recording.layer else None
        if clicked is None and recording.kind == "vector":
            self.unit_view.clear()
            self.state.unit_channel = None
            self.analyses.context_changed()
        else:
            self.show_unit(clicked, quiet=True)
        self.layer_shown.emit(recording.layer)
        if self.choices.notice:  # why the remembered model was not opened, over the first maps
            self.show_problem(self.choices.notice)
            self.choices.notice = None
        if self.state.running is None:
            self.window.replay_next()

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

    # --- the unit ----------------------------------------------------------------------

    def show_unit(self, channel: int | None, quiet: bool = False) -> None:
        """Show ``channel`` (None: the most active one) of the recording in the unit view;
        unless ``quiet``, it becomes the clicked unit and its dock comes to the front."""
        if self.state.recording is None:
            return
        args = unit_view_arguments(self.state.recording, self.state.info.anatomy if self.state.info else None, channel)
        if args is None:
            return
        self.unit_view.show_unit(**args)
        self.panel.select_channel(args["channel"])
        self.state.unit_channel = args["channel"]
        self.analyses.context_changed()
        if not quiet:
            self.state.unit_layer = self.state.recording.layer
            self.unit_dock.show()
            self.unit_dock.raise_()

    def _unit_clicked(self, _channel: int, y: int, x: int) -> None:
        self.unit_view.pin(y, x)

    def _hovered(self, channel: int, y: int, x: int) -> None:
        if channel == self.state.unit_channel:
            self.unit_view.set_position(y, x)

    # --- live input --------------------------------------------------------------------

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

    def _live_fps(self, fps: float) -> None:
        self.status.set_live(fps, self.live.source.name if self.live.source else "")

    def _live_stopped(self, reason: str) -> None:
        self.strip.set_live(False)
        self.status.set_live(None)
        if reason:
            self.show_problem(reason)
        elif self.live.frames_shown:
            self.status.showMessage(f"Live input ended: {self.live.frames_shown} frames shown", 5000)
