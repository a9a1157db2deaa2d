"""The window, its menus, figures, Methods and sessions are built from the analysis registry.

Every registered analysis gets a dock, a View toggle that brings a closed dock back, an
Analyse action with a shortcut, a Figure entry (or a disabled one that says why not) and a
Methods text (or a stated reason).  A toy analysis defined only here, in the test, appears
in all of them by registering itself, runs through the window and ``unitscope run`` with
the same numbers, and survives a saved session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.cli import main as cli_main
from engine.figures.data import FigureData
from engine.figures.methods import MethodsEntry, methods_text
from engine.session.analysis import Analysis, analyses, register, unregister
from engine.session.job import JobFile, job_kind, to_json
from engine.session.results import read_result
from engine.session.values import Stimulus
from engine.stimuli.procedural import PROCEDURAL
from gui.window import figure_menu
from gui.window import file_menu
from gui.window.session_file import read_session
from job_examples import built_in_examples

STIMULI = tuple(list(PROCEDURAL)[:2])


@dataclass
class ToySnapshot:
    means: np.ndarray
    done: int
    total: int


@job_kind("test_toy_means")
@dataclass(frozen=True)
class ToyMeans:
    """A toy analysis: each channel's mean output of a layer, per procedural stimulus."""

    layer: str
    stimuli: tuple[str, ...]

    def describe(self) -> str:
        return f"Channel means of {self.layer}…"

    def run(self, session, cancelled):
        rows = []
        for name in self.stimuli:
            output = session.record(self.layer, Stimulus("procedural", name), cancelled).output
            rows.append(np.asarray(output, dtype=np.float32).mean(axis=(-2, -1)))
            yield ToySnapshot(np.stack(rows), len(rows), len(self.stimuli))


def toy_figure(result: dict, job: dict) -> FigureData:
    means = np.asarray(result["means"], dtype=float)[:, :3]
    return FigureData("probe", {"responses": means}, {"labels": [f"channel {c}" for c in range(means.shape[1])],
                                                      "stimulus_labels": list(job.get("stimuli", [])),
                                                      "sequence": "strip"})


def toy_methods(job: dict, extra: dict) -> str:
    return f"Toy channel means of {job['layer']} over {len(job['stimuli'])} procedural stimuli."


class ToyView(QWidget):
    """The toy analysis's view: one action, a label with the last snapshot's size."""

    job_requested = Signal(object)
    show_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.context = None
        self.final = None
        self.calls: list[str] = []
        self.run_action = QAction("Toy means", self)
        self.run_action.triggered.connect(self._request)
        self.label = QLabel("no means yet", self)
        QVBoxLayout(self).addWidget(self.label)

    def menu_actions(self):
        return [self.run_action]

    def context_changed(self):
        self.run_action.setEnabled(self.context is not None and self.context.layer is not None)

    def _request(self):
        self.job_requested.emit(ToyMeans(self.context.layer, STIMULI))

    def started(self, job):
        self.calls.append("started")

    def show_snapshot(self, snapshot):
        self.calls.append(f"snapshot {snapshot.done}/{snapshot.total}")

    def finish(self, snapshot):
        self.calls.append("finish")
        self.final = snapshot
        self.label.setText(f"{snapshot.means.shape[0]} stimuli × {snapshot.means.shape[1]} channels")

    def cancelled(self):
        self.calls.append("cancelled")

    def failed(self, text):
        self.calls.append(f"failed: {text}")

    def clear(self):
        self.final = None

    def figure_data(self):
        return None if self.final is None else toy_figure({"means": self.final.means}, {"stimuli": list(STIMULI)})


TOY = Analysis("test_toy", "Toy means", jobs=(ToyMeans,), snapshots=(ToySnapshot,), needs=frozenset({"layer"}),
               view=ToyView, shortcut="Ctrl+Alt+Y", figure=toy_figure, methods=toy_methods, order=99)


@pytest.fixture
def toy():
    register(TOY)
    yield TOY
    unregister(TOY.name)


def _menu(window, title: str):
    return next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == title)


def _actions(menu) -> list[QAction]:
    found = []
    for action in menu.actions():
        found += _actions(action.menu()) if action.menu() is not None else [action]
    return found


def test_every_analysis_has_a_dock_toggle_action_figure_entry_and_methods(open_window, qtbot, toy):
    window = open_window()
    view_menu, analyse_menu = _menu(window, "View"), _menu(window, "Analyse")
    figure_entries = {a.objectName(): a for a in _actions(_menu(window, "File")) if a.objectName()}
    with_views = [a for a in analyses() if a.view is not None]
    assert {"tuning", "population", "topk", "probe", "receptive_field", "visualize", "properties",
            "test_toy"} <= {a.name for a in with_views}
    shortcuts = []
    for analysis in with_views:
        dock, view = window.docks[analysis.name], window.views[analysis.name]
        assert dock.windowTitle() == analysis.title and dock.widget().widget() is view
        toggle = next(a for a in view_menu.actions() if a.text() == analysis.title)
        dock.close()
        assert not dock.isVisible()
        toggle.trigger()
        assert dock.isVisible(), f"View ▸ {analysis.title} did not bring the closed dock back"
        main = view.menu_actions()[0]
        assert main in analyse_menu.actions()
        assert main.shortcut() == QKeySequence(analysis.shortcut)
        shortcuts.append(main.shortcut().toString())
        entry = figure_entries[f"figure_of_{analysis.name}"]
        assert entry.isEnabled() == (analysis.figure is not None or hasattr(view, "figure_data"))
        if not entry.isEnabled():
            assert analysis.no_figure and analysis.no_figure in entry.toolTip()
        assert analysis.methods is not None or analysis.no_methods
    every = [a.shortcut().toString() for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert len(every) == len(set(every)), f"two actions share a shortcut: {sorted(every)}"
    assert len(shortcuts) == len(with_views)


def test_a_toy_analysis_registered_in_a_test_runs_everywhere(open_window, qtbot, reference, toy, tmp_path):
    window = open_window()
    window.record_layer("layer2")
    qtbot.waitUntil(lambda: window.recording is not None and window.recording.layer == "layer2", timeout=30000)
    view = window.views["test_toy"]
    action = next(a for a in _menu(window, "Analyse").actions() if a.text() == "Toy means")
    with qtbot.waitSignal(window.analysis_shown, timeout=30000, check_params_cb=lambda k: k == "test_toy_means"):
        action.trigger()
    assert view.calls == ["started", "snapshot 1/2", "snapshot 2/2", "finish"]
    expected = np.stack([reference.output("layer2", Stimulus("procedural", s)).numpy().mean(axis=(-2, -1))
                         for s in STIMULI])
    np.testing.assert_array_equal(view.final.means, expected)
    assert view.label.text() == f"2 stimuli × {expected.shape[1]} channels"

    # The Figure entry draws it, and the sidecar names the job.
    from engine.figures.style import FigureOptions

    out = figure_menu.save_figure(window, "test_toy", str(tmp_path / "toy.pdf"), FigureOptions(width_mm=89))
    assert out is not None and out.read_bytes().startswith(b"%PDF")
    assert '"test_toy_means"' in (tmp_path / "toy.pdf.json").read_text()

    # The Methods text has the toy's sentence.
    assert "Toy channel means of layer2 over 2 procedural stimuli." in figure_menu.methods_text(window)

    # The same job through `unitscope run` gives the same numbers.
    job_path = tmp_path / "toy.job.json"
    file_menu.save_job(window, str(job_path))
    assert JobFile.load(job_path).job == ToyMeans("layer2", STIMULI)
    assert cli_main(["run", str(job_path), "--out", str(tmp_path / "toy.npz")]) == 0
    np.testing.assert_array_equal(read_result(tmp_path / "toy.npz")[1]["means"], view.final.means)

    # A saved session runs it again in a fresh window.
    session = tmp_path / "toy.unitscope.json"
    file_menu.save_session(window, str(session))
    assert read_session(session).jobs["test_toy"] == ToyMeans("layer2", STIMULI)
    again = open_window(wait_for="layer2", session=str(session))
    qtbot.waitUntil(lambda: again.views["test_toy"].final is not None, timeout=60000)
    np.testing.assert_array_equal(again.views["test_toy"].final.means, view.final.means)


def test_every_analysis_writes_methods_with_its_parameters():
    """Each analysis's Methods function describes an example job of its own, with its layer."""
    seen = set()
    for job in built_in_examples():
        entry = MethodsEntry({"format": "unitscope-job/1", "model": {"spec": "resnet18"},
                              "job": {"kind": job.kind, **to_json(job)}})
        text = methods_text([entry])
        analysis = next(a for a in analyses() if type(job) in a.jobs)
        seen.add(analysis.name)
        assert " analysis." not in text and "job was run" not in text, text
        layer = getattr(job, "layer", None) or (getattr(job, "layers", None) or [None])[0]
        if layer:
            assert layer in text, (job.kind, text)
    assert seen >= {a.name for a in analyses() if a.name != "test_toy"}
