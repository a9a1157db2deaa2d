"""The window as a session: saved from what it shows, restored into it, its jobs run again.

:mod:`gui.window.session_file` reads and writes the file; this module fills it from the
window (model, layer, inputs, display, pinned units, the last job of every analysis) and
puts a read one back: the model is opened only once the person agreed to any code it runs,
then the jobs are started one after the other as the model and a layer are on show.
"""

from __future__ import annotations

from pathlib import Path

from gui.dialogs import code_trust
from gui.window import window_settings
from gui.window.session_file import SavedSession


def saved_session(window) -> SavedSession | None:
    """The window as a :class:`SavedSession` (None before a model is open)."""
    info = window.state.info
    if info is None or info.model is None:
        return None
    display = {"normalization": window.panel.normalization}
    if window.panel.colormap_chosen:
        display["colormap"] = window.panel.colormap_name
    return SavedSession(model=info.model, layer=window.tree.current_layer(), inputs=window.strip.stimuli(),
                        shown_input=window.strip.current(), display=display,
                        pinned=window.context.pinned, jobs=dict(window.state.jobs_run))


def restore_session(window, saved: SavedSession, source: str = "The session") -> bool:
    """Open a saved session: its model, inputs, layer and display; then run its jobs again.

    False (nothing changed) when its model runs code the person did not agree to run."""
    model = code_trust.trusted_session_model(saved, source, window_settings.trust_answers(window))  # asks first
    if model is None:
        return False
    strip = window.strip
    missing = [s.value for s in saved.inputs if s.kind == "image" and not Path(s.value).is_file()]
    known = set(strip.stimuli())
    images = [s.value for s in saved.inputs if s.kind == "image" and s not in known and Path(s.value).is_file()]
    if images:
        strip.add_paths(images)
    if saved.shown_input is not None and not strip.select(saved.shown_input):
        missing.append(saved.shown_input.value)
    window.state.display = dict(saved.display)
    apply_display(window)
    window.open_saved_model(model, saved.layer)
    window.state.replay = list(saved.jobs.items())
    window.state.pins = list(saved.pinned)
    if missing:
        window.show_problem("The session's input(s) " + ", ".join(Path(m).name for m in sorted(set(missing)))
                            + " no longer exist; the others are shown.")
    return True


def apply_display(window) -> None:
    """Give the feature-map panel a restored session's colormap and scaling."""
    display, window.state.display = window.state.display, {}
    try:
        if "colormap" in display:
            window.panel.set_colormap(display["colormap"])
        if "normalization" in display:
            window.panel.set_normalization(display["normalization"])
    except ValueError as exc:
        window.show_problem(f"The session's display setting was not applied: {exc}")


def replay_next(window) -> None:
    """Start the next job of a restored session, once its model is open and a layer is shown."""
    state = window.state
    if state.info is None or state.opening:
        return
    if state.pins:
        for unit in state.pins:
            window.views["probe"].pin(unit)
        state.pins = []
    while state.replay:
        name, job = state.replay.pop(0)
        if name in window.views:
            window.start_job(job, window.views[name])
            return
        window.show_problem(f"The session's '{name}' analysis has no view here; it was not run.")
