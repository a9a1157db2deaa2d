"""File ▸ Figure: figures for papers drawn from the data the views show, and the Methods text.

Every view gives its data (:meth:`figure_data` of the analysis views; the recording on show
for the feature maps and the unit view) to :mod:`engine.figures`, which draws it with
matplotlib at the width, font and format the dialog asks for and writes the sidecar that
draws it again (``unitscope figure FIG.json``).  Nothing is grabbed from the screen except
by "Copy screenshot", which says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDialog

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

#: The window's own views with a figure: menu label, and the name :func:`figure_data` knows them by.
WINDOW_VIEWS = (("Feature maps", "feature maps"), ("Unit", "unit"))


def figure_views(window) -> list[tuple[str, str, str]]:
    """(menu label, view name, why there is no figure or "") of every view: the window's own, then
    each analysis of the registry with a view, in its order."""
    from engine.session.analysis import analyses, resolve

    rows = [(label, name, "") for label, name in WINDOW_VIEWS]
    for analysis in analyses():
        if analysis.view is not None:  # the view's class: the views are built after the first maps
            drawn = hasattr(resolve(analysis.view), "figure_data") or analysis.figure is not None
            rows.append((analysis.title, analysis.name, "" if drawn else analysis.no_figure))
            if analysis.neuron_figure is not None:
                rows.append((f"{analysis.title}, chosen neuron", analysis.name + NEURON, ""))
    return rows


#: The suffix of a view's name in :func:`figure_views` for the figure of the neuron chosen in it
#: (views of analyses with a one-neuron figure have ``chosen_neuron() -> (index, layer) or None``).
NEURON = ":neuron"

#: The window's colour maps and the matplotlib maps that draw them on paper.
CMAPS = {"CET-D1": "RdBu_r", "CET-D3": "RdBu_r", "gray": "gray"}


def add_figure_actions(window, menu) -> None:
    """Add Figure…, Figure of ▸ (one entry per view), Copy methods text and Copy screenshot to ``menu``."""
    menu.addSeparator()
    figure = QAction("&Figure…", window, shortcut=QKeySequence("Ctrl+Shift+E"),
                     statusTip="A figure for a paper of the view in use, drawn from its data (PDF, SVG, PNG, TIFF)")
    figure.triggered.connect(lambda: save_figure(window, current_view(window)))
    menu.addAction(figure)
    window.figure_action = figure
    each = menu.addMenu("Figure &of")
    for label, name, why in figure_views(window):
        action = each.addAction(f"{label}…")
        action.setObjectName(f"figure_of_{name.replace(' ', '_').replace(':', '_')}")
        if why:
            action.setEnabled(False)
            action.setStatusTip(f"No figure: {why}")
            action.setToolTip(f"No figure: {why}")
        action.triggered.connect(lambda _checked=False, n=name: save_figure(window, n))
    methods = QAction("Copy &methods text", window,
                      statusTip="Copy a Methods paragraph for the model and analyses run (BibTeX: 'unitscope methods')")
    methods.triggered.connect(lambda: copy_methods(window))
    menu.addAction(methods)
    shot = QAction("Copy &screenshot", window, statusTip="Copy the feature-map panel as it looks on screen")
    shot.triggered.connect(lambda: copy_screenshot(window))
    menu.addAction(shot)


def current_view(window) -> str:
    """The view the keyboard focus is in (the feature maps when it is in none)."""
    widget = QApplication.focusWidget()
    views = {"unit": window.unit_view, **{name: view for name, (view, _dock) in window.job_views.items()}}
    while widget is not None:
        for name, view in views.items():
            if widget is view:
                return name
        widget = widget.parentWidget()
    return "feature maps"


def _job_file(window, job) -> dict | None:
    from engine.session.job import JobFile

    info = window.state.info
    if info is None or info.model is None or job is None:
        return None
    return JobFile(info.model, job).to_dict()


def figure_data(window, name: str):
    """The :class:`engine.figures.data.FigureData` of view ``name``, or None when it shows nothing yet."""
    from engine.figures.sources import from_snapshot, unit_data

    provenance = dict(window.state.info.provenance) if window.state.info is not None else {}
    recording = window.recording
    if name in ("feature maps", "unit"):
        if recording is None or recording.values is None:
            return None
        from engine.jobs.record import Record

        job = _job_file(window, Record(recording.layer, recording.stimulus))
        if name == "feature maps":
            return from_snapshot(recording, job, provenance)
        channel = next((c for c in (window.state.unit_channel, window.panel.selected_channel,
                                    recording.top_channel) if c is not None), 0)
        data = unit_data(recording, channel, window.unit_view.position, window.unit_view.rf_box())
        data.jobs, data.provenance = [job] if job else [], provenance
        return data
    if name.endswith(NEURON):
        name = name[:-len(NEURON)]
        chosen = window.views[name].chosen_neuron()
        snapshot = window.state.results.get(name)
        if chosen is None or snapshot is None:
            return None
        return from_snapshot(snapshot, _job_file(window, window.state.jobs_run.get(name)), provenance, *chosen)
    view = window.job_views[name][0]
    job = _job_file(window, window.state.jobs_run.get(name))
    if not hasattr(view, "figure_data"):
        # The analysis's own figure builder (the registry's), from the last result the view showed.
        why = next(why for _l, n, why in figure_views(window) if n == name)
        if why:
            raise UnitscopeError(why)
        snapshot = window.state.results.get(name)
        return None if snapshot is None else from_snapshot(snapshot, job, provenance)
    data = view.figure_data()
    if data is not None:
        data.jobs, data.provenance = [job] if job else [], provenance
    return data


def _remembered_options(window, name: str):
    from engine.figures.style import FigureOptions

    try:
        options = FigureOptions.from_dict(json.loads(window.settings.value("figure/options", "{}", type=str)))
    except (UnitscopeError, ValueError, TypeError):
        options = FigureOptions()
    changes = {"channels": (), "top_n": 0}
    if name == "feature maps" and window.panel is not None:
        cmap = window.panel.colormap_name
        changes.update(scale=window.panel.normalization, cmap=CMAPS.get(cmap, cmap))
    return FigureOptions.from_dict({**options.to_dict(), **changes})


def save_figure(window, name: str, path: str | None = None, options=None) -> Path | None:
    """Draw view ``name``'s figure from its data; ask for the file and options unless both are given."""
    from engine.figures.render import write_figure

    label = {n: lbl for lbl, n, _why in figure_views(window)}.get(name, name).lower()
    try:
        data = figure_data(window, name)
    except UnitscopeError as exc:
        window.show_problem(f"No figure of the {label}: {exc}")
        return None
    if data is None:
        window.show_problem(f"The {label} view shows nothing yet: record a layer or run its analysis first.")
        return None
    if path is None or options is None:
        from engine.figures.tuning import reports_orientation
        from gui.dialogs.figure_dialog import FigureDialog

        folder = window.settings.value("last/folder", str(Path.home()), type=str)
        suggested = str(Path(folder) / f"{data.meta.get('layer') or name}_{name.replace(' ', '_')}.pdf")
        dialog = FigureDialog(window, label, suggested, mosaic=data.kind == "mosaic",
                              options=_remembered_options(window, name), orientation=reports_orientation(data))
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        try:
            options, path = dialog.options(), dialog.path()
        except UnitscopeError as exc:
            window.show_problem(str(exc))
            return None
        window.settings.setValue("last/folder", str(Path(path).parent))
        window.settings.setValue("figure/options", json.dumps({**options.to_dict(), "channels": [], "top_n": 0}))
    try:
        out = write_figure(data, options, path)
    except UnitscopeError as exc:
        window.show_problem(f"The figure was not saved: {exc}")
        return None
    window.status.showMessage(f"Saved {out.name} ({options.width_mm:g} mm wide) and {out.name}.json, "
                              "which draws it again", 8000)
    return out


def methods_text(window) -> str:
    """The Methods paragraph for the model open and every analysis run in this window."""
    from engine.figures.methods import MethodsEntry, result_extra
    from engine.figures.methods import methods_text as paragraph
    from engine.jobs.record import Record

    provenance = dict(window.state.info.provenance) if window.state.info is not None else {}
    jobs = []  # (job, what its result adds: the stimuli it was shown)
    if window.recording is not None:
        jobs.append((Record(window.recording.layer, window.recording.stimulus), {}))
    jobs += [(job, result_extra(window.state.results.get(name))) for name, job in window.state.jobs_run.items()]
    entries = [MethodsEntry(j, provenance, extra) for j, extra in ((_job_file(window, job), extra)
                                                                    for job, extra in jobs) if j]
    return paragraph(entries)


def copy_methods(window) -> None:
    try:
        text = methods_text(window)
    except UnitscopeError as exc:
        window.show_problem(f"No methods text yet: {exc}")
        return
    QApplication.clipboard().setText(text)
    window.status.showMessage("Methods text copied; 'unitscope methods SESSION --bib refs.bib' writes its BibTeX",
                              8000)


def copy_screenshot(window) -> None:
    """Copy the feature-map panel as it looks on screen (for slides; papers use Figure…)."""
    if window.state.recording is None:
        window.show_problem("There is nothing on screen to copy yet: no feature maps are shown.")
        return
    QApplication.clipboard().setPixmap(window.panel.grab())
    window.status.showMessage("Screenshot of the feature maps copied", 4000)
