"""Weights offline: listing the torch hub cache and importing files with torchvision's hash check.

torchvision's real hash prefixes cannot be forged, so the happy path uses names like
``tiny-<prefix>.pth`` made from a file's own SHA-256; real zoo names are used to check
that a file whose hash does not fit is refused.
"""

import hashlib
import json
import os

import pytest
import torch
from torch import nn

from engine.cli import main
from engine.errors import UnitscopeError
from engine.models import zoo
from engine.models.weights import (
    HASH_REGEX,
    all_entries,
    hash_prefix,
    import_file,
    import_files,
    list_weights,
    sha256_of,
)


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own; returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def weights_file(tmp_path):
    """A small real state_dict file (a tiny conv net), as a user would bring one."""
    torch.manual_seed(0)
    path = tmp_path / "drive" / "my weights.pth"
    path.parent.mkdir()
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1)).state_dict(), path)
    return path


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


def test_every_zoo_entry_is_listed_with_the_file_name_torch_hub_checks():
    entries = all_entries()
    assert len({e.model for e in entries}) == len(zoo.model_names())
    assert sum(e.is_default for e in entries) == len(zoo.model_names())
    for entry in entries:
        assert hash_prefix(entry.file_name) == torch.hub.HASH_REGEX.search(entry.file_name).group(1)
        assert len(hash_prefix(entry.file_name)) >= 8
    assert HASH_REGEX.pattern == torch.hub.HASH_REGEX.pattern
    r101 = {e.entry_name: e for e in entries if e.model == "resnet101"}
    assert r101["ResNet101_Weights.IMAGENET1K_V1"].file_name == "resnet101-63fe2227.pth"
    assert not r101["ResNet101_Weights.IMAGENET1K_V1"].is_default
    assert r101["ResNet101_Weights.IMAGENET1K_V2"].is_default


def test_an_empty_cache_lists_every_model_as_random():
    rows = list_weights()
    assert [r.entry.model for r in rows] == list(zoo.model_names())
    assert all(not r.found and r.state == "random" for r in rows)


def test_a_file_in_the_cache_is_found_with_its_size_as_the_zoo_sees_it(hub):
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x" * 46_800)
    (hub / "resnet101-63fe2227.pth").write_bytes(b"y")
    rows = {r.entry.file_name: r for r in list_weights(include_all_entries=True)}
    assert rows["resnet18-f37072fd.pth"].found and rows["resnet18-f37072fd.pth"].size == 46_800
    assert rows["resnet18-f37072fd.pth"].state == "found (46.8 kB)"
    assert rows["resnet101-63fe2227.pth"].found and not rows["resnet101-63fe2227.pth"].entry.is_default
    assert not rows["resnet101-cd907fc2.pth"].found
    assert zoo.weights_state("resnet18").found and not zoo.weights_state("resnet101").found


def test_import_copies_a_file_under_the_name_its_hash_fits(weights_file, hub):
    name = f"tiny-{_sha(weights_file)[:8]}.pth"
    result = import_file(weights_file, expected_name=name)
    assert result.ok and result.action == "copied" and result.target == hub / name
    assert (hub / name).read_bytes() == weights_file.read_bytes()
    assert _leftovers(hub) == []
    loaded = torch.load(hub / name, weights_only=True)
    assert set(loaded) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    again = import_file(weights_file, expected_name=name)
    assert again.action == "already in the cache"


def test_a_zoo_name_with_the_wrong_hash_is_refused_with_both_prefixes(weights_file, hub):
    wrong = weights_file.with_name("resnet101-63fe2227.pth")
    weights_file.rename(wrong)
    with pytest.raises(UnitscopeError) as err:
        import_file(wrong)
    assert str(err.value) == (f"'resnet101-63fe2227.pth': sha256 begins {_sha(wrong)[:8]} but "
                              f"resnet101-63fe2227.pth needs 63fe2227.")
    assert not hub.exists() or list(hub.iterdir()) == []


def test_an_expected_name_with_the_wrong_hash_is_refused(weights_file, hub):
    sha = _sha(weights_file)
    bad = "0" * 8 if not sha.startswith("0" * 8) else "1" * 8
    with pytest.raises(UnitscopeError, match=rf"^'my weights.pth': sha256 begins {sha[:8]} but "
                                             rf"tiny-{bad}.pth needs {bad}\.$"):
        import_file(weights_file, expected_name=f"tiny-{bad}.pth")


def test_a_file_matching_no_entry_is_refused(weights_file):
    with pytest.raises(UnitscopeError, match=r"^'my weights.pth': matches no weights entry of torchvision "
                                             rf".* \(sha256 begins {_sha(weights_file)[:8]}, "):
        import_file(weights_file)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UnitscopeError, match="no such file"):
        import_file(tmp_path / "gone.pth")


def _two_files_with_the_same_first_hex_digit(folder):
    """Different contents whose SHA-256 share the first digit (a one-digit prefix is easy to match)."""
    seen = {}
    for i in range(200):
        data = f"weights {i}".encode()
        digit = hashlib.sha256(data).hexdigest()[0]
        if digit in seen:
            a, b = folder / "a.pth", folder / "b.pth"
            a.write_bytes(seen[digit])
            b.write_bytes(data)
            return a, b, digit
        seen[digit] = data
    raise AssertionError("no two hashes share a first digit")  # pigeonhole: not reached


def test_a_different_file_that_also_fits_the_name_is_never_overwritten(tmp_path, hub):
    a, b, digit = _two_files_with_the_same_first_hex_digit(tmp_path)
    import_file(a, expected_name=f"tiny-{digit}.pth")
    with pytest.raises(UnitscopeError, match=rf"^'b.pth': a different tiny-{digit}.pth is already in"):
        import_file(b, expected_name=f"tiny-{digit}.pth")
    assert (hub / f"tiny-{digit}.pth").read_bytes() == a.read_bytes()


def test_a_damaged_cached_copy_is_replaced_and_said_so(weights_file, hub):
    name = f"tiny-{_sha(weights_file)[:8]}.pth"
    hub.mkdir(parents=True)
    (hub / name).write_bytes(b"half a download")
    result = import_file(weights_file, expected_name=name)
    assert result.action == "replaced a damaged copy"
    assert (hub / name).read_bytes() == weights_file.read_bytes()


def test_the_cache_folder_is_created_and_a_failure_to_is_explained(weights_file, tmp_path, monkeypatch):
    name = f"tiny-{_sha(weights_file)[:8]}.pth"
    blocker = tmp_path / "not a folder"
    blocker.write_text("")
    monkeypatch.setenv("TORCH_HOME", str(blocker))
    with pytest.raises(UnitscopeError, match="^'my weights.pth': could not create the torch hub cache folder"):
        import_file(weights_file, expected_name=name)


def test_import_files_reports_each_file_and_goes_on(weights_file, tmp_path):
    seen = []
    results = import_files([tmp_path / "gone.pth", weights_file], on_result=seen.append)
    assert seen == results and [r.ok for r in results] == [False, False]
    assert "no such file" in results[0].error and "matches no weights entry" in results[1].describe()


def test_weights_list_command_prints_a_table_and_json(capsys, hub):
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x" * 100)
    (hub / "notes.pth").write_bytes(b"y")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"torch hub cache: {hub}"
    line = next(x for x in out.splitlines() if x.startswith("resnet18 "))
    assert line.split()[1:] == ["IMAGENET1K_V1", "resnet18-f37072fd.pth", "found", "(100", "B)"]
    assert f"1 of {len(zoo.model_names())} models have their pretrained weights" in out
    assert "notes.pth (1 B): not a torchvision weights file" in out
    assert main(["weights", "list", "--all-entries", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hub_checkpoint_dir"] == str(hub)
    assert len(doc["weights"]) == len(all_entries())
    r18 = next(w for w in doc["weights"] if w["file_name"] == "resnet18-f37072fd.pth")
    assert r18 == {"model": "resnet18", "entry": "ResNet18_Weights.IMAGENET1K_V1", "default": True,
                   "file_name": "resnet18-f37072fd.pth", "found": True,
                   "url": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
                   "path": str(hub / "resnet18-f37072fd.pth"), "size": 100}


def test_weights_import_command_refuses_with_one_line_and_status_2(weights_file, capsys):
    wrong = weights_file.with_name("resnet101-63fe2227.pth")
    os.replace(weights_file, wrong)
    assert main(["weights", "import", str(wrong)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"unitscope: error: 'resnet101-63fe2227.pth': sha256 begins {sha256_of(wrong)[:8]} "
                   f"but resnet101-63fe2227.pth needs 63fe2227."]
