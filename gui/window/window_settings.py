"""What Unitscope remembers between sessions (QSettings): window layout and last choices.

The command line wins over what was remembered; a remembered layer or input is only
used where it still exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QRect, QSettings, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

from engine.files.hashing import sha256_of
from engine.session.values import DEFAULT_SEED, ModelSpec, Stimulus
from gui.dialogs import code_trust

log = logging.getLogger(__name__)

DEFAULT_MODEL = "resnet18"
PREFERRED_SIZE = QSize(1500, 950)
# Room the window manager's title bar and frame take around the window (estimated before
# the window is first shown, when Qt does not know them yet).
FRAME_ALLOWANCE = QSize(8, 36)


@dataclass
class StartupChoices:
    """What to open first; None means "the last choice, else the default"."""

    model: str | None = None
    weights: str | None = None
    layer: str | None = None
    image: str | None = None
    device: str = "auto"
    seed: int = DEFAULT_SEED  # random weights are drawn from it
    session: str | None = None  # a saved session to open instead
    notice: str | None = None  # why the remembered model was not opened (shown in the banner)
    trust_code: bool = False  # --trust-code: a session's or the remembered model's code may run unasked
    ask: bool = True  # a person is there to be asked (not --screenshot)
    remembered: bool = False  # the model is the remembered last one (code in it is asked about)


def _factory_file(spec: str) -> tuple[Path, str] | None:
    """``(file, factory)`` of a ``FILE.py:FACTORY`` spec, else None."""
    file_part, sep, factory = spec.rpartition(":")
    return (Path(file_part), factory) if sep and file_part.endswith(".py") else None


def _remembered_factory_problem(spec: str, sha: str) -> str | None:
    """Why a remembered ``FILE.py:FACTORY`` must not run again (None when it may).

    It runs only from the absolute path it was opened from and only while the file is
    byte for byte the one that ran then.
    """
    file, _ = _factory_file(spec)
    if not file.is_absolute() or not sha:
        return f"the last model, {spec}, was not opened again: it was remembered without its location and hash"
    try:
        now = sha256_of(file)
    except OSError:
        return f"the last model, {spec}, was not opened again: {file} is gone or cannot be read"
    if now != sha:
        return f"the last model, {spec}, was not opened again: {file.name} has changed since it last ran"
    return None


def startup_choices(settings: QSettings, choices: StartupChoices):
    """Fill what the command line left open with the last session's choices.

    Returns
    -------
    choices : StartupChoices
        Model (command line, else last, else :data:`DEFAULT_MODEL`), weights (the last
        ones only with the last model), the command line's layer and image, device.
    last_layer : str or None
        The last session's layer, if it was on the same model and none was asked for.
    last_input : Stimulus or None
        The last session's input.
    """
    s = settings
    last_model = s.value("last/model", "", type=str)
    model = choices.model or last_model or DEFAULT_MODEL
    restored = not choices.model and bool(last_model)
    notice = None
    if restored and _factory_file(last_model):
        notice = _remembered_factory_problem(last_model, s.value("last/model_sha256", "", type=str))
        if notice:
            log.warning("%s", notice)
            notice = f"Opened {DEFAULT_MODEL} instead: {notice}."
            model, last_model, restored = DEFAULT_MODEL, "", False
    weights = choices.weights or (s.value("last/weights", "", type=str) if restored else None)
    last_layer = None
    if model == last_model and not choices.layer:
        last_layer = s.value("last/layer", "", type=str) or None
    kind, value = s.value("last/input_kind", "", type=str), s.value("last/input", "", type=str)
    last_input = Stimulus(kind, value) if kind and value else None
    merged = StartupChoices(model, weights or None, choices.layer, choices.image, choices.device, choices.seed,
                            choices.session, notice, choices.trust_code, choices.ask, restored)
    return merged, last_layer, last_input


def available_geometry(window) -> QRect:
    """The usable part (without panels and task bars) of the screen ``window`` is on."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fitted_size(preferred: QSize, available: QRect) -> QSize:
    """``preferred`` shrunk so that the window with its frame fits in ``available``."""
    return QSize(min(preferred.width(), available.width() - FRAME_ALLOWANCE.width()),
                 min(preferred.height(), available.height() - FRAME_ALLOWANCE.height()))


def clamp_to_screen(window) -> None:
    """Shrink and move ``window`` so all of it lies on the screen it is on.

    A geometry saved on a larger screen (1920×1080, say) is restored partly off a smaller
    one (1366×768): here it is made to fit, and its top-left corner moved on screen.
    """
    available = available_geometry(window)
    size = fitted_size(window.size(), available)
    if size != window.size():
        window.resize(size)
    frame = window.frameGeometry()
    extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
    x = min(max(frame.x(), available.left()), available.right() + 1 - window.width() - max(extra_w, 0))
    y = min(max(frame.y(), available.top()), available.bottom() + 1 - window.height() - max(extra_h, 0))
    if (x, y) != (frame.x(), frame.y()):
        window.move(max(x, available.left()), max(y, available.top()))


class DockScrollArea(QScrollArea):
    """A frameless scroll area whose widget fills it down to the widget's minimum size.

    A dock may then be smaller than its view's minimum (it scrolls) instead of forcing a
    window larger than the screen.  Unlike ``setWidgetResizable``, a word-wrapped label
    does not make the widget as tall as its preferred height: it gets the room there is.
    """

    def __init__(self, widget: QWidget | None = None):
        super().__init__()
        self.setFrameShape(QFrame.Shape.NoFrame)
        if widget is not None:
            self.setWidget(widget)

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt override
        """Show ``widget`` (it replaces the one shown; that one is deleted, as Qt does)."""
        super().setWidget(widget)
        widget.installEventFilter(self)
        self._fit()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        widget = self.widget()
        if widget is None:
            return
        least = widget.minimumSizeHint().expandedTo(widget.minimumSize())
        room = self.viewport().size()
        widget.resize(max(room.width(), least.width()), max(room.height(), least.height()))


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a :class:`DockScrollArea`."""
    return DockScrollArea(widget)


def put_in_dock(dock, view: QWidget) -> None:
    """Show ``view`` in ``dock`` in place of what it shows (in its scroll area, if it has one)."""
    shown = dock.widget()
    if isinstance(shown, QScrollArea):
        old = shown.takeWidget()
        shown.setWidget(view)
        if old is not None:
            old.deleteLater()
    else:
        dock.setWidget(view)
    view.show()


def scroll_every_dock(window) -> None:
    """Put every dock's view that is not in a :class:`DockScrollArea` yet into one, so no
    view's minimum size can make the window larger than the screen."""
    from PySide6.QtWidgets import QDockWidget

    for dock in window.findChildren(QDockWidget):
        view = dock.widget()
        if view is not None and not isinstance(view, DockScrollArea):
            dock.setWidget(scrolling(view))
            view.show()  # the dock hid it when it let it go


def restore_window(window) -> bool:
    """Give ``window`` its last size and dock layout, fitted to the current screen.

    Returns False if there was no layout to restore (the window then has the default
    size: nine tenths of the screen, at least :data:`PREFERRED_SIZE` where that fits).
    """
    s = window.settings
    geometry = s.value("window/geometry")
    available = available_geometry(window)
    if isinstance(geometry, QByteArray) and not geometry.isEmpty() and window.restoreGeometry(geometry):
        clamp_to_screen(window)
    else:
        # Nine tenths of a large screen (the maps grow with it), all of a small one.
        preferred = QSize(max(PREFERRED_SIZE.width(), available.width() * 9 // 10),
                          max(PREFERRED_SIZE.height(), available.height() * 9 // 10))
        size = fitted_size(preferred, available)
        window.resize(size)
        window.move(available.left() + (available.width() - size.width()) // 2,
                    available.top() + max((available.height() - size.height() - FRAME_ALLOWANCE.height()) // 2, 0))
    state = s.value("window/state")
    return isinstance(state, QByteArray) and window.restoreState(state, LAYOUT_VERSION)


#: The dock layout's version: a layout saved by an older arrangement of the docks is not
#: restored (2: the analyses are docks built from the registry, tabbed with the unit view on laptops).
LAYOUT_VERSION = 2


def save_settings(window) -> None:
    """Remember the window layout and the last model, weights, layer, input and display."""
    s = window.settings
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/state", window.saveState(LAYOUT_VERSION))
    if window.info is not None:
        spec, sha = window.info.spec, ""
        factory = _factory_file(spec)
        if factory:  # remembered with its absolute path and hash: never re-run relative to another folder
            file = factory[0].resolve()
            spec = f"{file}:{factory[1]}"
            try:
                sha = sha256_of(file)
            except OSError as exc:
                log.info("could not hash %s: %s", file, exc)
        s.setValue("last/model", spec)
        s.setValue("last/model_sha256", sha)
        s.setValue("last/weights", window.info.weights_file or "")
    layer = window.tree.current_layer()
    if layer is not None:
        s.setValue("last/layer", layer)
    stimulus = window.strip.current()
    if stimulus is not None:
        s.setValue("last/input_kind", stimulus.kind)
        s.setValue("last/input", stimulus.value)
    if window.panel.colormap_chosen:  # else each layer's values choose it again next time
        s.setValue("display/colormap", window.panel.colormap_name)
    else:
        s.remove("display/colormap")
    s.setValue("display/normalization", window.panel.normalization)


def restore_panel_settings(window) -> None:
    """Give the feature-map panel the last colormap and normalisation."""
    s = window.settings
    try:
        if s.contains("display/colormap"):
            window.panel.set_colormap(s.value("display/colormap", type=str))
        if s.contains("display/normalization"):
            window.panel.set_normalization(s.value("display/normalization", type=str))
    except ValueError as exc:  # a name from an older version
        log.info("ignored a remembered display setting: %s", exc)


def trust_answers(window, choices=None) -> code_trust.CodeTrust:
    """How ``window`` answers a model that runs code: as its start-up ``choices`` say (the
    window's own by default: ``--trust-code``, a person to ask); a refusal is shown in its
    banner and reported as the engine's failure (``engine_failed``)."""
    choices = window.choices if choices is None else choices

    def refused(problem: str) -> None:
        window.show_problem(problem)
        window.engine_failed.emit(problem)

    return code_trust.CodeTrust(refused, trust_code=choices.trust_code, can_ask=choices.ask, parent=window)


def first_model(window, choices) -> tuple[str, str | None, bool]:
    """The model the window opens first: ``(spec, weights, trust_pickle)``.

    A remembered model that runs code is asked about; if the person says No, the default
    model opens instead.
    """
    if not getattr(choices, "remembered", False) or code_trust.code_file(choices.model) is None:
        return choices.model, choices.weights, False
    model = code_trust.trusted_model(ModelSpec(choices.model, choices.weights), "The last model you opened",
                                     trust_answers(window, choices))
    if model is None:
        return DEFAULT_MODEL, None, False
    return model.spec, model.weights, model.trust_pickle
