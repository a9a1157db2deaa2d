"""The main window's menus and what they do: open, export, save activations, settings.

Dialogs appear only when the user picks a menu entry; whatever goes wrong afterwards is
shown in the window's problem banner, never in a dialog that blocks.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from engine.errors import UnitscopeError
from engine.session.analysis import analyses
from gui.dialogs.about import show_about
from gui.dialogs.cluster_dialog import open_cluster_dialog
from gui.window import window_settings
from gui.window.figure_menu import add_figure_actions

log = logging.getLogger(__name__)

EXPORT_FILTERS = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"
ACTIVATION_FILTERS = ("NumPy archive (*.npz);;NumPy array (*.npy);;HDF5 (*.h5);;"
                      "MATLAB (*.mat)")
MODEL_FILTERS = "Model files (*.pt *.pth *.ts *.jit *.py);;All files (*)"
WEIGHT_FILTERS = "Weights (*.pth *.pt *.bin *.ckpt *.safetensors);;All files (*)"


def _action(window, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setStatusTip(tip)
    action.setToolTip(tip)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window) -> None:
    """Add the File, View, Analyse and Help menus to ``window`` (a :class:`MainWindow`)."""
    bar = window.menuBar()
    file = bar.addMenu("&File")
    _action(window, file, "Open &images…", window.strip.open_images_dialog, QKeySequence.StandardKey.Open,
            "Add image files to the inputs")
    _action(window, file, "Open image &folder…", window.strip.open_folder_dialog, "Ctrl+Shift+O",
            "Add every image in a folder (and its subfolders) to the inputs")
    file.addSeparator()
    _action(window, file, "Open &model file…", lambda: open_model_file(window), "Ctrl+Shift+M",
            "Open a TorchScript archive or a Python file with a model factory")
    _action(window, file, "Load &weights…", lambda: load_weights(window), None,
            "Load a state_dict file into the current model")
    _action(window, file, "&Pretrained weights…", lambda: open_weights_dialog(window), None,
            "See which models have pretrained weights offline, and import weights files")
    file.addSeparator()
    _action(window, file, "Save screenshot of feature &maps…", lambda: export_view(window, "feature maps"),
            "Ctrl+E", "Save the feature-map panel as it looks on screen (PNG, SVG, PDF); for papers use Figure…")
    _action(window, file, "Save screenshot of &unit view…", lambda: export_view(window, "unit view"), None,
            "Save the unit view as it looks on screen (PNG, SVG, PDF); for papers use Figure…")
    _action(window, file, "&Save activations…", lambda: save_activations(window),
            QKeySequence.StandardKey.Save,
            "Save the shown layer's activations as .npz, .npy, .h5 or .mat, with provenance")
    add_figure_actions(window, file)
    file.addSeparator()
    _action(window, file, "Open sessio&n…", lambda: open_session(window), None,
            "Reopen a saved session: model, weights, layer, inputs, display, pinned units and analyses")
    _action(window, file, "Save sessi&on…", lambda: save_session(window), None,
            "Save the model, weights (with their hash) or seed, layer, inputs, display, pinned units "
            "and every analysis run, as .unitscope.json")
    _action(window, file, "Save last analysis as &job…", lambda: save_job(window), None,
            "Save the last analysis as a job file that 'unitscope run JOB.json' reproduces")
    _action(window, file, "Run on &cluster…", lambda: open_cluster_job(window), None,
            "Write the shown layer and input images as a sharded job for SLURM, and submit it")
    _action(window, file, "Open cluster &results…", lambda: open_cluster_results(window), None,
            "Show a finished cluster job's top images, tuning and population in the views")
    file.addSeparator()
    _action(window, file, "&Quit", window.close, QKeySequence.StandardKey.Quit, "Close Unitscope")

    view = bar.addMenu("&View")
    _action(window, view, "&Find layer", lambda: window.tree.filter_box.setFocus(),
            QKeySequence.StandardKey.Find, "Type in the layer filter")
    view.addSeparator()
    for dock in (window.tree_dock, window.card_dock, window.unit_dock, window.strip_dock, *window.analysis_docks):
        view.addAction(dock.toggleViewAction())

    analyse = bar.addMenu("&Analyse")
    window.analyse_menu = analyse
    analyse.aboutToShow.connect(window.build_views)  # the views are built after the first maps
    for analysis in analyses():  # where each view's actions go once it is built, in the registry's order
        if analysis.view is not None:
            anchor = analyse.addSeparator()
            anchor.setVisible(False)
            anchor.setObjectName(f"analyse_{analysis.name}")
    analyse.addSeparator()
    _action(window, analyse, "&Cancel analysis", window.cancel, None,
            "Stop the analysis running; what it has computed stays on show")

    help_menu = bar.addMenu("&Help")
    _action(window, help_menu, "&About Unitscope", lambda: show_about(window), None,
            "The version, what Unitscope is and how to cite it")


def add_analysis_actions(window, analysis, view) -> None:
    """An analysis's actions (its view's :meth:`menu_actions`) into the Analyse menu at the
    analysis's place in the registry's order, the main one with the analysis's shortcut."""
    menu = window.analyse_menu
    anchor = next(a for a in menu.actions() if a.objectName() == f"analyse_{analysis.name}")
    actions = view.menu_actions()
    if analysis.shortcut and actions and actions[0].shortcut().isEmpty():
        actions[0].setShortcut(QKeySequence(analysis.shortcut))
    for action in actions:
        key = action.shortcut().toString()
        action.setToolTip(f"{action.statusTip()} ({key})" if key else action.statusTip())
        menu.insertAction(anchor, action)


def _last_dir(window) -> str:
    return window.settings.value("last/folder", str(Path.home()), type=str)


def _remember_dir(window, path: str) -> None:
    window.settings.setValue("last/folder", str(Path(path).parent))


TRUST_QUESTION = "This file can run code when loaded. Open it only if you trust where it came from."


def open_model_file(window, path: str | None = None) -> None:
    """Open a model file, asking for it unless ``path`` is given.

    A ``.py`` file also needs its factory's name.  A pickled model runs code from the
    file when loaded: it is opened only if the user says they trust it (default No).
    """
    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Open model file", _last_dir(window), MODEL_FILTERS)
    if not path:
        return
    _remember_dir(window, path)
    spec, trust = path, False
    if path.endswith(".py"):
        factory, ok = QInputDialog.getText(window, "Model factory",
                                           f"Function in {Path(path).name} that builds the model:",
                                           text="build")
        if not ok or not factory.strip():
            return
        spec = f"{path}:{factory.strip()}"
    else:
        from engine.models.sources import is_pickled_model  # imports torch: only once a file is chosen

        if is_pickled_model(path):
            answer = QMessageBox.question(
                window, "Open a pickled model?", f"'{Path(path).name}' is a pickled model.\n\n{TRUST_QUESTION}",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                window.show_problem(f"'{Path(path).name}' was not opened: it is a pickled model, and "
                                    "loading it would run code from the file.")
                return
            trust = True
    window.open_model(spec, trust_pickle=trust)


def load_weights(window, path: str | None = None) -> None:
    """Reopen the current model with a state_dict file, asking for it unless ``path`` is given."""
    if window.info is None:
        window.show_problem("Open a model before loading weights into it.")
        return
    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Load weights", _last_dir(window), WEIGHT_FILTERS)
    if path:
        _remember_dir(window, path)
        window.open_model(window.info.spec, weights=path)


def open_weights_dialog(window):
    """Show the "Pretrained weights" dialog; after an import the model list is refreshed."""
    from gui.dialogs.weights_dialog import WeightsDialog

    dialog = getattr(window, "weights_dialog", None)
    if dialog is None:
        dialog = window.weights_dialog = WeightsDialog(window)
        dialog.import_finished.connect(lambda _results: refresh_catalogue(window))
    dialog.refresh()
    dialog.show()
    dialog.raise_()
    return dialog


def refresh_catalogue(window) -> None:
    """Read again which zoo models have weights offline, and show it in the model picker."""
    from engine.models import zoo  # torch is loaded: the dialog that asks for this imported it

    catalogue = {family: [(name, zoo.weights_state(name).found) for name in names]
                 for family, names in zoo.families().items()}
    window.picker.set_catalogue(catalogue)
    if window.info is not None:
        window.picker.set_current(window.info.spec, window.info.weights_label)


def may_replace(window, path: str | Path) -> bool:
    """True if ``path`` does not exist or the user agreed to replace it (default No)."""
    path = Path(path)
    if not path.exists():
        return True
    answer = QMessageBox.question(
        window, "Replace file?", f"Replace '{path.name}'?\n\nIt already exists in {path.parent}.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    if answer != QMessageBox.StandardButton.Yes:
        window.statusBar().showMessage(f"Not saved: '{path.name}' was kept as it was", 5000)
        return False
    return True


def _save_path(window, caption: str, name: str, filters: str) -> str:
    """Ask where to save; the window asks itself before replacing a file (see :func:`may_replace`)."""
    path, _ = QFileDialog.getSaveFileName(window, caption, str(Path(_last_dir(window)) / name), filters,
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    return path


def export_view(window, which: str) -> None:
    """Ask where to save the feature maps or the unit view, and in which format."""
    from gui.window import export

    if which == "feature maps":
        target = window.panel.export_target()
    else:
        view = window.unit_view
        target = view.export_target() if hasattr(view, "export_target") else view
    if target is None or window.recording is None:
        window.show_problem("There is nothing to export yet: record a layer first.")
        return
    name = f"{window.recording.layer or 'output'}_{which.replace(' ', '_')}.png"
    path = _save_path(window, f"Export {which}", name, EXPORT_FILTERS)
    if not path:
        return
    _remember_dir(window, path)
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".pdf", ".png"):
        path, suffix = path + ".png", ".png"
    if not may_replace(window, path):
        return
    try:
        if suffix == ".svg":
            export.export_svg(target, path)
        elif suffix == ".pdf":
            export.export_pdf(target, path)
        else:
            width = window.settings.value("export/width", 2000, type=int)
            width, ok = QInputDialog.getInt(window, "PNG width", "Width in pixels:", width, 64, 20000, 100)
            if not ok:
                return
            window.settings.setValue("export/width", width)
            export.export_png(target, path, width)
    except UnitscopeError as exc:  # names the file and the reason
        window.show_problem(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - shown to the user
        log.exception("export failed")
        window.show_problem(f"Could not export {which} to '{Path(path).name}': {exc}")
        return
    window.statusBar().showMessage(f"Exported {which} to {path}", 5000)


def save_activations(window) -> None:
    """Save the shown layer's output (one stimulus) with its provenance."""
    from engine.files.writers import write_activations

    rec = window.recording
    if rec is None or window.info is None:
        window.show_problem("There are no activations to save yet: record a layer first.")
        return
    name = f"{(rec.layer or 'output').replace('#', '_call')}.npz"
    path = _save_path(window, "Save activations", name, ACTIVATION_FILTERS)
    if not path:
        return
    _remember_dir(window, path)
    if Path(path).suffix.lower() not in (".npz", ".npy", ".h5", ".mat"):
        path += ".npz"
    if not may_replace(window, path):
        return
    stimulus = rec.stimulus
    provenance = {**window.info.provenance, "layers": [rec.layer],
                  "image_paths": [stimulus.value] if stimulus.kind == "image" else [],
                  "stimulus": f"{stimulus.kind}: {stimulus.value}"}
    try:
        out = write_activations(path, {rec.layer or "output": rec.output[None]}, provenance)
    except UnitscopeError as exc:  # names the file and the reason
        window.show_problem(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - shown to the user
        log.exception("saving activations failed")
        window.show_problem(str(exc))
        return
    window.statusBar().showMessage(f"Saved {rec.layer} {tuple(rec.output.shape)} to {out}", 5000)


SESSION_FILTERS = "Unitscope session (*.unitscope.json);;All files (*)"
JOB_FILTERS = "Unitscope job (*.json);;All files (*)"


def open_session(window, path: str | None = None) -> None:
    """Reopen a saved session (asks for the file unless ``path`` is given)."""
    from gui.window.session_file import read_session

    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Open session", _last_dir(window), SESSION_FILTERS)
        if not path:
            return
        _remember_dir(window, path)
    try:
        window.restore_session(read_session(path))
    except UnitscopeError as exc:
        window.show_problem(str(exc))


def save_session(window, path: str | None = None) -> None:
    """Save the window as a session file (asks for the file unless ``path`` is given)."""
    from gui.window.session_file import SUFFIX
    from gui.window.session_file import save_session as write

    saved = window.saved_session()
    if saved is None:
        window.show_problem("There is no session to save yet: wait until a model is open.")
        return
    if path is None:
        name = f"{window.info.name.replace(':', '_')}{SUFFIX}"
        path = _save_path(window, "Save session", name, SESSION_FILTERS)
        if not path:
            return
        _remember_dir(window, path)
        if not path.endswith(".json"):
            path += SUFFIX
        if not may_replace(window, path):
            return
    try:
        out = write(path, saved)
    except UnitscopeError as exc:
        window.show_problem(str(exc))
        return
    window.statusBar().showMessage(f"Saved the session to {out}", 5000)


def open_cluster_job(window) -> None:
    """The Run on cluster dialog for the open model, the selected layer and the input images."""
    info = window.state.info
    open_cluster_dialog(info.model if info is not None else None, window.tree.current_layer() or "",
                        window.context.image_paths, window.show_problem, window)


def open_cluster_results(window, path: str | None = None):
    """Open a finished ``unitscope submit`` job folder (asks for it unless ``path`` is given) in the
    views; returns its :class:`gui.dialogs.cluster_results.ClusterResultsDialog`, or None."""
    if path is None:
        path = QFileDialog.getExistingDirectory(window, "Open cluster results (a unitscope submit job folder)",
                                                _last_dir(window))
        if not path:
            return None
        window.settings.setValue("last/folder", str(path))
    from gui.dialogs.cluster_results import ResultViews, open_results_folder

    shown_in = ResultViews(window.context, window.views, window.start_job, window.show_problem,
                           window.link.analysis_finished, window.link.job_ended)
    return open_results_folder(path, shown_in, window_settings.trust_answers(window), window)


def save_job(window, path: str | None = None) -> None:
    """Save the last analysis run as a job file for ``unitscope run``."""
    from engine.session.job import JobFile

    running = window.state.running
    job = running.job if running is not None else next(reversed(window.state.jobs_run.values()), None)
    if job is None or window.info is None or window.info.model is None:
        window.show_problem("No analysis has been run yet: run one, then save it as a job.")
        return
    if path is None:
        path = _save_path(window, "Save job", f"{job.kind}.job.json", JOB_FILTERS)
        if not path:
            return
        _remember_dir(window, path)
        if not path.endswith(".json"):
            path += ".json"
        if not may_replace(window, path):
            return
    try:
        out = JobFile(window.info.model, job).save(path)
    except UnitscopeError as exc:
        window.show_problem(str(exc))
        return
    window.statusBar().showMessage(f"Saved the {job.kind} job to {out}: unitscope run {Path(out).name} "
                                   "--out result.npz reproduces it", 8000)
