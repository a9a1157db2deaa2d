"""Bad input and engine faults through the real window: one readable line, and the session goes on.

Every case uses the window's own entry points (the input strip, the File menu's functions
with a path instead of a file dialog, ``open_model``, ``record_layer``).  After each
failure the engine must be idle with no hook left on its model, and the next request
must work.
"""

from __future__ import annotations

import errno
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QMessageBox

import resources
from engine.errors import UnitscopeError
from engine.session.values import Stimulus
from gui.window import file_menu

GRATING = Stimulus("procedural", "grating")

FAULTY_MODELS = '''
import torch
from torch import nn


class OutOfMemory(nn.Module):
    def forward(self, x):
        if x.device.type != "meta":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x


def oom():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), OutOfMemory(), nn.Conv2d(4, 4, 3))
'''


class Jobs:
    """The ids the window submits and those the worker finished, to wait until it is idle."""

    def __init__(self, window):
        self.window, self.submitted, self.finished = window, [], []
        submit = window.worker.submit

        def tracked(request):
            rid = submit(request)
            self.submitted.append(rid)
            return rid

        window.worker.submit = tracked
        window.worker.job_finished.connect(self.finished.append)

    def hooks_when_idle(self, qtbot) -> list[str]:
        """Wait until the last request has finished, then list modules with leaked hooks."""
        qtbot.waitUntil(lambda: not self.submitted or self.submitted[-1] in self.finished, timeout=30000)
        return self.window.worker.hooks_left()


def one_line(text: str, *words: str) -> str:
    assert "\n" not in text and len(text) < 400, text
    for word in words:
        assert word in text, (word, text)
    return text


def fails(qtbot, window, action) -> str:
    """Run ``action``; return the one message the window shows for it."""
    with qtbot.waitSignal(window.message_shown, timeout=20000) as shown:
        action()
    assert window.message.isVisible()
    return shown.args[0]


def records(qtbot, window, layer, action=None) -> None:
    """Run ``action`` (by default: select ``layer``) and wait until ``layer`` is painted."""
    with qtbot.waitSignal(window.layer_shown, timeout=20000, check_params_cb=lambda got: got == layer):
        (action or (lambda: window.record_layer(layer)))()
    assert not window.message.isVisible()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


BAD_IMAGES = {  # file name -> (bytes, a word of the reason)
    "truncated photo.jpg": (lambda: _jpeg()[:600], "truncated"),
    "notes ü.png": (lambda: b"these are my notes, not an image\n", "not an image"),
    "empty.png": (lambda: b"", "empty"),
}


def test_bad_images_show_one_line_and_the_next_input_records(open_window, qtbot, tmp_path):
    window = open_window()
    jobs = Jobs(window)
    for name, (make, reason) in BAD_IMAGES.items():
        path = tmp_path / name
        path.write_bytes(make())
        text = fails(qtbot, window, lambda: window.strip.add_paths([str(path)]))
        one_line(text, f"'{name}'", reason)
        assert jobs.hooks_when_idle(qtbot) == []
        # The broken input is not left selected under the maps of the input still shown.
        assert window.strip.current() == window.recording.stimulus
        following = GRATING if window.recording.stimulus != GRATING else Stimulus("procedural", "gabor")
        records(qtbot, window, "layer1", lambda: window.strip.select(following))
        assert window.recording.stimulus == following


def test_bad_weights_files_leave_the_model_working(open_window, qtbot, tmp_path, resnet18_weights):
    import torchvision

    window = open_window()
    jobs = Jobs(window)
    other = tmp_path / "squeezenet weights.pth"
    torch.save(torchvision.models.squeezenet1_0(weights=None).state_dict(), other)
    cut = tmp_path / "cut short.pth"
    cut.write_bytes(resnet18_weights.read_bytes()[:700])
    cases = {other: ("missing keys: ", "unexpected keys: classifier.1.bias"), cut: ("truncated",)}
    for layer, (path, words) in zip(("layer2", "layer3"), cases.items()):
        text = fails(qtbot, window, lambda: file_menu.load_weights(window, str(path)))
        one_line(text, f"'{path.name}'", *words)
        assert jobs.hooks_when_idle(qtbot) == []
        assert window.info.name == "resnet18" and window.info.weights_file == str(resnet18_weights)
        assert "resnet18" in window.picker.combo.currentText()
        records(qtbot, window, layer)


class _RunsCode:
    """Unpickling this creates the marker file: proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickled_model_opens_only_if_the_user_trusts_it(open_window, qtbot, tmp_path, monkeypatch):
    window = open_window()
    jobs = Jobs(window)
    marker = tmp_path / "code ran"
    untrusted = tmp_path / "from a stranger.pt"
    torch.save(_RunsCode(marker), untrusted)
    asked = []

    def answer(button):
        def question(parent, title, text, *args):
            asked.append(text)
            assert args[-1] == QMessageBox.StandardButton.No  # the default
            return button
        return question

    monkeypatch.setattr(file_menu.QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    text = fails(qtbot, window, lambda: file_menu.open_model_file(window, str(untrusted)))
    one_line(text, "'from a stranger.pt'", "pickled model", "run code")
    assert file_menu.TRUST_QUESTION in asked[-1] and "from a stranger.pt" in asked[-1]
    # Opened without the menu (a typed path): the engine refuses it without asking.
    text = fails(qtbot, window, lambda: window.open_model(str(untrusted)))
    one_line(text, "'from a stranger.pt'", "runs code")
    assert not marker.exists()
    assert jobs.hooks_when_idle(qtbot) == []
    records(qtbot, window, "layer2")

    trusted = tmp_path / "my own net.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), trusted)
    monkeypatch.setattr(file_menu.QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    records(qtbot, window, "0", lambda: file_menu.open_model_file(window, str(trusted)))
    assert window.info.name == "my own net" and len(asked) == 2
    assert jobs.hooks_when_idle(qtbot) == []


def _torchscript_bytes() -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 2, 1)), buffer)
    return buffer.getvalue()


def test_a_torchscript_file_that_fails_to_load(open_window, qtbot, tmp_path):
    window = open_window()
    path = tmp_path / "cut short.ts"
    good = _torchscript_bytes()
    path.write_bytes(good[: len(good) // 2])
    text = fails(qtbot, window, lambda: file_menu.open_model_file(window, str(path)))
    one_line(text, "TorchScript file 'cut short.ts' could not be loaded")
    assert window.info.name == "resnet18"
    records(qtbot, window, "layer4")


def test_unknown_layer_and_forward_that_raises_leave_no_hooks(open_window, qtbot, model_file):
    window = open_window(model=f"{model_file}:boom", wait_for="0")
    jobs = Jobs(window)
    one_line(fails(qtbot, window, lambda: window.record_layer("2")), "ValueError: boom")
    assert jobs.hooks_when_idle(qtbot) == []
    one_line(fails(qtbot, window, lambda: window.record_layer("features.9")), "'features.9'")
    assert jobs.hooks_when_idle(qtbot) == []
    records(qtbot, window, "1")


def test_out_of_memory_is_readable_and_the_next_request_works(open_window, qtbot, tmp_path):
    factories = tmp_path / "faulty models.py"
    factories.write_text(FAULTY_MODELS)
    window = open_window(model=f"{factories}:oom", wait_for="0")
    jobs = Jobs(window)
    text = one_line(fails(qtbot, window, lambda: window.record_layer("3")), "smaller batch size")
    assert "out of memory" in text.lower()
    assert jobs.hooks_when_idle(qtbot) == []
    records(qtbot, window, "1")
    assert jobs.hooks_when_idle(qtbot) == []


def test_a_model_switch_during_a_slow_record_shows_only_the_new_model(open_window, qtbot, model_file):
    window = open_window(model=f"{model_file}:slow", wait_for="0")
    jobs = Jobs(window)
    assert jobs.hooks_when_idle(qtbot) == []
    slow = window.worker._session.loaded.module  # test-only: to check it is left unhooked
    painted = []
    window.layer_shown.connect(painted.append)
    with qtbot.waitSignal(window.worker.job_started, timeout=5000):
        window.record_layer("61")  # three seconds of work
    qtbot.wait(100)
    records(qtbot, window, "0", lambda: window.open_model(f"{model_file}:boom"))
    assert window.info.name.endswith(":boom") and window.tree.model.index(0, 0).data().endswith(":boom")
    qtbot.wait(300)  # a stale frame of the slow model would have arrived by now
    assert painted == ["0"] and window.recording.layer == "0"
    assert jobs.hooks_when_idle(qtbot) == []
    assert [n for n, m in slow.named_modules() if m._forward_hooks or m._forward_pre_hooks] == []


# --- saving ------------------------------------------------------------------------------


@pytest.fixture
def save_dialogs(monkeypatch):
    """Answer the save dialog with ``answers["path"]`` and any question with ``answers["replace"]``."""
    answers = {"questions": []}

    def question(parent, title, text, *args):
        answers["questions"].append(text)
        return answers["replace"]

    monkeypatch.setattr(file_menu.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(answers["path"]), ""))
    monkeypatch.setattr(file_menu.QMessageBox, "question", question)
    monkeypatch.setattr(file_menu.QInputDialog, "getInt", lambda *a, **k: (300, True))
    return answers


def test_an_existing_file_is_replaced_only_after_confirmation(open_window, qtbot, tmp_path, save_dialogs):
    from engine.files.writers import read_activations

    window = open_window()
    saves = {"acts.npz": lambda: file_menu.save_activations(window),
             "maps.png": lambda: file_menu.export_view(window, "feature maps")}
    for name, save in saves.items():
        path = tmp_path / name
        path.write_bytes(b"the user's own file")
        save_dialogs["path"] = path
        save_dialogs["replace"] = QMessageBox.StandardButton.No
        save()
        assert save_dialogs["questions"][-1].startswith(f"Replace '{name}'?")
        assert path.read_bytes() == b"the user's own file"
        save_dialogs["replace"] = QMessageBox.StandardButton.Yes
        save()
        assert path.read_bytes() != b"the user's own file"
        assert len(save_dialogs["questions"]) == 2 * (list(saves).index(name) + 1)
    assert "layer1" in read_activations(tmp_path / "acts.npz")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["acts.npz", "maps.png"]
    save_dialogs["path"] = tmp_path / "new.npz"  # a new file: no question
    file_menu.save_activations(window)
    assert (tmp_path / "new.npz").exists() and len(save_dialogs["questions"]) == 4


def test_a_failed_save_is_one_message_and_leaves_no_partial_file(open_window, qtbot, tmp_path,
                                                                  save_dialogs, monkeypatch):
    import engine.files.atomic

    window = open_window()
    save_dialogs["path"] = tmp_path / "no such folder" / "acts.npz"
    text = fails(qtbot, window, lambda: file_menu.save_activations(window))
    one_line(text, "Could not save 'acts.npz'", "folder does not exist")
    assert not (tmp_path / "no such folder").exists()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.files.atomic, "_fsync_path", disk_full)
    folder = tmp_path / "full disk"
    folder.mkdir()
    for name, save in {"acts.npz": lambda: file_menu.save_activations(window),
                       "maps.png": lambda: file_menu.export_view(window, "feature maps")}.items():
        save_dialogs["path"] = folder / name
        one_line(fails(qtbot, window, save), f"Could not save '{name}'", "disk is full")
        assert list(folder.iterdir()) == []  # neither the file nor its temporary file
    records(qtbot, window, "layer2")  # the session goes on


# --- weights dialog ----------------------------------------------------------------------


def test_the_file_menu_opens_the_weights_dialog(open_window, qtbot, tmp_path, monkeypatch):
    from gui.dialogs.weights_dialog import WeightsDialog

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    window = open_window()
    action = next(a for a in window.findChildren(file_menu.QAction) if a.text() == "&Pretrained weights…")
    action.trigger()
    dialog = window.findChild(WeightsDialog)
    assert dialog is not None and dialog.isVisible()
    before = window.picker.combo.count()
    dialog.import_finished.emit([])  # an import ended: the picker's list is read again
    assert window.picker.combo.count() == before
    assert "resnet18" in window.picker.combo.currentText()
    dialog.close()


def test_a_job_the_window_builds_is_checked_like_one_read_from_a_file(open_window, qtbot):
    """A job handed to the window (a script, a view) passes the same checks as the command line
    and files: a k far beyond its range is refused by name before anything is allocated, the
    view says so, and the next job runs."""
    from engine.jobs.topk import TopImages
    from engine.session import checks

    window = open_window()
    view = window.views["topk"]
    samples = tuple(str(p) for p in resources.sample_images())
    bad = TopImages("layer1", 0, paths=samples, k=10**12)
    with pytest.raises(UnitscopeError) as refused:
        checks.job(bad)
    with qtbot.waitSignal(window.engine_failed, timeout=20000) as failed:
        window.start_job(bad, view)
    assert failed.args[0] == str(refused.value) and "k" in failed.args[0] and "\n" not in failed.args[0]
    assert view.status_label.text() == f"Failed: {refused.value}"
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda name: name == "topk"):
        window.start_job(TopImages("layer1", 0, paths=samples, k=2), view)
    assert len(view.top_grid.shown_values()) == 2 and view.last_snapshot.done == len(samples)
    # The tree's root row is the model's output, layer "": a job on it is not refused (a class
    # logit's top images), though a file or the command line may not leave a layer empty.
    with pytest.raises(UnitscopeError, match="a layer name cannot be empty"):
        checks.job(TopImages("", 281, paths=samples, k=2))
    with qtbot.waitSignal(window.analysis_shown, timeout=60000, check_params_cb=lambda name: name == "topk"):
        window.start_job(TopImages("", 281, paths=samples, k=2), view)
    assert view.last_snapshot.unit_label == "[281]" and len(view.top_grid.shown_values()) == 2
