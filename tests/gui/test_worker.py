"""The engine thread: one mailbox slot, newest request wins, errors reported, clean stop."""

from __future__ import annotations

import time

import pytest
import torch

import resources
from engine.jobs.record import Record
from engine.session.values import ModelSpec, Stimulus
from gui.engine_link.worker import EngineThread, OpenModel

SAMPLE = Stimulus("image", str(resources.sample_images()[0]))


@pytest.fixture
def engine(qtbot):
    thread = EngineThread("cpu")
    thread.start()
    yield thread
    thread.stop()


def open_model(qtbot, engine, spec, weights=None):
    with qtbot.waitSignal(engine.model_ready, timeout=30000) as ready:
        rid = engine.submit(OpenModel(ModelSpec(spec, weights)))
    assert ready.args[0] == rid
    return ready.args[1]


def test_records_exactly_what_the_recorder_gives(qtbot, engine, resnet18_weights, reference):
    info = open_model(qtbot, engine, "resnet18", str(resnet18_weights))
    assert info.name == "resnet18" and info.weights_label == resnet18_weights.name
    assert info.anatomy.node("layer1.0.relu").calls[1].output_shape == (1, 64, 56, 56)
    with qtbot.waitSignal(engine.snapshot_ready, timeout=10000) as done:
        rid = engine.submit(Record("layer2.0.relu#2", SAMPLE))
    got_id, recording, final = done.args
    assert final
    assert got_id == rid and recording.layer == "layer2.0.relu#2"

    expected = reference.output("layer2.0.relu#2", SAMPLE)
    torch.testing.assert_close(torch.from_numpy(recording.output), expected, rtol=0, atol=0)
    assert recording.input_image.shape == (224, 224, 3)
    assert recording.conv_weights is None


def test_newest_request_wins(qtbot, engine):
    open_model(qtbot, engine, "resnet18")
    got = []
    engine.snapshot_ready.connect(lambda rid, rec, final: got.append((rid, rec.layer)))
    layers = ["conv1", "layer1", "layer2", "layer3", "layer4", "layer1.0.conv2", "fc"]
    ids = [engine.submit(Record(layer, SAMPLE)) for layer in layers]
    qtbot.waitUntil(lambda: bool(got) and got[-1][0] == ids[-1], timeout=10000)
    qtbot.wait(100)
    assert got[-1] == (ids[-1], "fc")
    assert len(got) <= 2, got  # the first may have finished before the rest arrived


def test_errors_are_reported_and_the_thread_survives(qtbot, engine, model_file):
    with qtbot.waitSignal(engine.failed, timeout=10000) as failed:
        rid = engine.submit(OpenModel(ModelSpec("no_such_model")))
    assert failed.args == [rid, failed.args[1]] and "Unknown model 'no_such_model'" in failed.args[1]

    open_model(qtbot, engine, f"{model_file}:boom")
    with qtbot.waitSignal(engine.failed, timeout=10000) as failed:
        engine.submit(Record("2", SAMPLE))
    assert "ValueError: boom: this layer always fails" in failed.args[1]
    with qtbot.waitSignal(engine.failed, timeout=10000) as failed:
        engine.submit(Record("nope", SAMPLE))
    assert failed.args[1].startswith("Unknown layer 'nope'")
    with qtbot.waitSignal(engine.snapshot_ready, timeout=10000) as done:
        engine.submit(Record("0", SAMPLE))
    assert tuple(done.args[1].output.shape) == (4, 222, 222)
    assert done.args[1].conv_weights.shape == (4, 3, 3, 3)


def test_stop_interrupts_a_forward_pass_within_a_second(qtbot, engine, model_file):
    open_model(qtbot, engine, f"{model_file}:slow")
    with qtbot.waitSignal(engine.job_started, timeout=5000):
        engine.submit(Record("61", SAMPLE))  # 60 modules of 50 ms before it
    qtbot.wait(200)
    start = time.perf_counter()
    engine.stop()
    assert time.perf_counter() - start < 1.0
    assert not engine.isRunning()


def test_cancel_drops_the_running_request_and_keeps_the_model(qtbot, engine, model_file):
    open_model(qtbot, engine, f"{model_file}:slow")
    got = []
    engine.snapshot_ready.connect(lambda rid, rec, final: got.append(rec.layer))
    with qtbot.waitSignal(engine.job_started, timeout=5000):
        rid = engine.submit(Record("61", SAMPLE))
    with qtbot.waitSignal(engine.job_finished, timeout=1000, check_params_cb=lambda r: r == rid):
        engine.cancel()
    assert got == []
    with qtbot.waitSignal(engine.snapshot_ready, timeout=5000):
        engine.submit(Record("0", SAMPLE))
    assert got == ["0"]


def test_staleness_rules():
    engine = EngineThread("cpu")  # never started: only the mailbox is used
    first_model = engine.submit(OpenModel(ModelSpec("resnet18")))
    record = engine.submit(Record("layer1", SAMPLE))
    assert not engine.is_stale(first_model)  # a recording does not make a model stale
    newer_record = engine.submit(Record("layer2", SAMPLE))
    assert engine.is_stale(record) and not engine.is_stale(newer_record)
    second_model = engine.submit(OpenModel(ModelSpec("alexnet")))
    assert engine.is_stale(first_model) and engine.is_stale(newer_record)
    assert not engine.is_stale(second_model)
    engine.cancel()
    assert engine.is_stale(second_model)


class _EndlessJob:
    """A job that never ends by itself and never looks at ``cancelled``; its generator sits in a
    reference cycle, so only an explicit close (not reference counting) finishes it in time."""

    kind = "endless_test"
    slot = "analysis"

    def __init__(self):
        self.started, self.finished = [], []

    def describe(self) -> str:
        return "Endless…"

    def run(self, session, cancelled):
        holder = []
        snapshots = self._snapshots(holder)
        holder.append(snapshots)  # the generator refers to itself through its frame's ``holder``
        return snapshots

    def _snapshots(self, holder):
        import threading
        from types import SimpleNamespace

        self.started.append(threading.get_ident())
        try:
            n = 0
            while True:
                n += 1
                yield SimpleNamespace(done=n, total=0)
                time.sleep(0.01)
        finally:
            self.finished.append(threading.get_ident())


def test_an_abandoned_job_is_finished_in_the_engine_thread_at_once(qtbot, engine):
    """A job made stale (cancelled, or a newer request won) is closed by the engine thread
    itself: its ``finally`` blocks and ``with`` exits (torch modes, grad settings: per-thread
    state) never run later, in whichever thread the garbage collector happens to run."""
    import threading

    open_model(qtbot, engine, "resnet18")
    job = _EndlessJob()
    with qtbot.waitSignal(engine.snapshot_ready, timeout=10000):
        engine.submit(job)
    engine.cancel()
    qtbot.waitUntil(lambda: bool(job.finished), timeout=5000)
    assert job.finished == job.started and job.started[0] != threading.get_ident()
