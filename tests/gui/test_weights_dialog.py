"""The "Pretrained weights" dialog: what the cache holds, and "Import weights…" as a user uses it."""

import functools
import hashlib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

import gui.dialogs.weights_dialog as weights_dialog
from engine.models.weights import all_entries, import_file
from engine.models.zoo import model_names
from gui.dialogs.weights_dialog import WeightsDialog


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def dialog(qtbot):
    dialog = WeightsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _shown(dialog, column):
    """The texts the table shows in one column, top to bottom."""
    view = dialog.proxy
    return [view.index(row, column).data() for row in range(view.rowCount())]


def _state_of(dialog, model):
    return dict(zip(_shown(dialog, 0), _shown(dialog, 3)))[model]


def test_an_empty_cache_shows_every_model_with_random_weights(dialog, hub):
    assert _shown(dialog, 0) == list(model_names())
    assert set(_shown(dialog, 3)) == {"random"}
    assert str(hub) in dialog.cache_label.text()
    assert dialog.summary_label.text() == f"0 of {len(model_names())} models have their pretrained weights."


def test_a_cached_file_shows_as_found_and_the_filter_narrows_the_list(qtbot, hub):
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x" * 46_800)
    dialog = WeightsDialog()
    qtbot.addWidget(dialog)
    assert _state_of(dialog, "resnet18") == "found (46.8 kB)"
    assert _state_of(dialog, "resnet34") == "random"
    assert dialog.summary_label.text().endswith("models have their pretrained weights: resnet18.")
    qtbot.keyClicks(dialog.filter_box, "RESNET1")
    assert _shown(dialog, 0) == ["resnet101", "resnet152", "resnet18", "wide_resnet101_2"]


def test_every_entry_can_be_shown(dialog):
    dialog.all_entries_box.setChecked(True)
    assert dialog.proxy.rowCount() == len(all_entries())
    assert "IMAGENET1K_V1 (not loaded)" in [t for m, t in zip(_shown(dialog, 0), _shown(dialog, 1))
                                            if m == "resnet101"]


def test_import_button_refuses_a_file_whose_hash_does_not_fit(dialog, qtbot, tmp_path, hub, monkeypatch):
    bad = tmp_path / "resnet101-63fe2227.pth"
    bad.write_bytes(b"not the weights")
    prefix = hashlib.sha256(bad.read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(bad)], ""))
    with qtbot.waitSignal(dialog.import_finished, timeout=30_000) as finished:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        assert not dialog.import_button.isEnabled()
    (result,) = finished.args[0]
    assert not result.ok
    shown = dialog.results_box.toPlainText().splitlines()
    assert shown[-1] == (f"✗ 'resnet101-63fe2227.pth': sha256 begins {prefix} but "
                         f"resnet101-63fe2227.pth needs 63fe2227.")
    assert dialog.import_button.isEnabled() and not dialog.busy.isVisible()
    assert not hub.exists() or list(hub.iterdir()) == []


def test_an_imported_file_is_reported_and_lands_in_the_cache(dialog, qtbot, tmp_path, hub, monkeypatch):
    source = tmp_path / "from the drive.pth"
    source.write_bytes(b"tiny weights")
    name = f"tiny-{hashlib.sha256(source.read_bytes()).hexdigest()[:8]}.pth"
    # The zoo's hash prefixes cannot be forged: import under a name made from the file's own hash.
    monkeypatch.setattr(weights_dialog, "import_file", functools.partial(import_file, expected_name=name))
    with qtbot.waitSignal(dialog.import_finished, timeout=30_000) as finished:
        dialog.import_files([source])
    assert [r.ok for r in finished.args[0]] == [True]
    assert dialog.results_box.toPlainText().splitlines()[-1] == (
        f"✓ 'from the drive.pth': copied as {hub / name}")
    assert (hub / name).read_bytes() == b"tiny weights"
