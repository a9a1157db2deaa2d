"""Start-up: the log lines the start-up benchmark (figure 7) times, in the order they come,
and the anatomy card's texts made once per class with the same text as per module."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch
import torchvision
from torch import nn

from bench.gui_figures import STARTUP_MARKS, _startup_marks
from engine.anatomy.tree import build_anatomy
from engine.session.values import ModelSpec
from gui.engine_link.worker import EngineThread, OpenModel

APP_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # gui.app.app.run_app's logging.basicConfig


def test_engine_logs_the_start_marks_the_benchmark_reads_in_order(qtbot, caplog):
    caplog.set_level(logging.INFO, logger="gui.engine_link.worker")
    engine = EngineThread("cpu")
    with qtbot.waitSignal(engine.engine_ready, timeout=60000):
        engine.start()
    try:
        with qtbot.waitSignal(engine.model_ready, timeout=60000):
            engine.submit(OpenModel(ModelSpec("resnet18")))
    finally:
        engine.stop()
    formatter = logging.Formatter(APP_LOG_FORMAT)
    lines = [formatter.format(r) for r in caplog.records if r.name == "gui.engine_link.worker"]
    ready = [i for i, line in enumerate(lines) if "engine ready" in line]
    opened = [i for i, line in enumerate(lines) if "gui.engine_link.worker: opened" in line]
    assert len(ready) == 1 and len(opened) == 1 and ready[0] < opened[0], lines
    assert "resnet18" in lines[opened[0]]
    # The benchmark finds both lines by the texts it looks for, and nothing else in them.
    marks = _startup_marks(lines, 0.0)
    assert {"ready", "opened"} <= set(marks) and marks["ready"] < marks["opened"]
    assert set(STARTUP_MARKS.values()) == {"shown", "ready", "opened", "painted"}


def test_startup_marks_take_the_first_line_of_each_kind():
    seen = _startup_marks(["INFO gui.app.app: window shown", "INFO gui.engine_link.worker: engine ready: torch loaded in 1.00 s",
                           "INFO gui.engine_link.worker: opened resnet18 in 0.50 s", "INFO gui.app.app: window shown",
                           "INFO gui.app.app: first feature map painted: layer1", "unrelated"], 0.0)
    assert list(seen) == ["shown", "ready", "opened", "painted"]
    assert seen["shown"] <= seen["ready"] <= seen["opened"] <= seen["painted"]


class _Twice(nn.Module):
    """Two modules of one class and one of another: the class's source is read once."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU()

    def forward(self, x):
        return self.c(self.b(self.a(x)))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_card_texts_made_once_per_class_equal_those_of_every_module():
    for model in (torchvision.models.resnet18(), _Twice(), torch.jit.script(_Twice())):
        anatomy = build_anatomy(model, (32, 32))
        anatomy.cache_texts()
        for node in anatomy.nodes():
            assert node.module_repr == repr(node.module), node.name
            if isinstance(node.module, torch.jit.ScriptModule):
                assert node.forward_source == node.module.code, node.name
            else:
                assert node.forward_source == inspect.getsource(type(node.module).forward), node.name
    anatomy = build_anatomy(_Twice(), (32, 32))
    anatomy.cache_texts()
    assert "self.c(self.b(self.a(x)))" in anatomy.node("").forward_source
    assert anatomy.node("a").forward_source is anatomy.node("b").forward_source  # one read, shared
