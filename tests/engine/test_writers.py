"""Saving activations: round trips, provenance, MATLAB names and atomic failure."""

from __future__ import annotations

import csv
import errno
import json
import os

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from engine.errors import UnitscopeError
from engine.files.writers import (
    SUPPORTED_SUFFIXES,
    atomic_write,
    matlab_names,
    read_activations,
    read_provenance,
    write_activations,
    write_csv,
)

IMAGES = ["stimuli/grating_0.png", "Ünïcødé/猫 cat.png", "/abs/path with space.jpg"]
PROVENANCE = {"model": "resnet18", "weights": "IMAGENET1K_V1", "layer": "layer1.0.conv1",
              "images": IMAGES, "n_images": 3, "scale": 0.5, "transform": {"size": 224}}


def _arrays() -> dict:
    rng = np.random.default_rng(0)
    return {
        "layer1.0.conv1": rng.standard_normal((3, 4, 5, 5)).astype(np.float32),
        "fc": torch.arange(30, dtype=torch.float64).reshape(3, 10) / 7,
        "file": rng.standard_normal((3, 2)),  # a name np.savez would take as its own argument
    }


def _expected(arrays: dict) -> dict:
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else v).astype(np.float32)
            for k, v in arrays.items()}


def _assert_same(read: dict, expected: dict) -> None:
    assert list(read) == list(expected)
    for name, arr in expected.items():
        assert read[name].dtype == np.float32
        np.testing.assert_array_equal(read[name], arr)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".mat"])
def test_round_trip_many_layers(tmp_path, suffix):
    arrays = _arrays()
    path = write_activations(tmp_path / f"acts{suffix}", arrays, PROVENANCE)
    assert path == tmp_path / f"acts{suffix}"
    _assert_same(read_activations(path), _expected(arrays))
    assert read_provenance(path) == PROVENANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"acts{suffix}"]


def test_npy_round_trip_with_sidecar(tmp_path):
    tensor = torch.linspace(-1, 1, 24).reshape(2, 3, 4)
    path = write_activations(tmp_path / "one.npy", {"features.3": tensor}, PROVENANCE)
    _assert_same(read_activations(path), {"features.3": tensor.numpy()})
    sidecar = tmp_path / "one.npy.json"
    assert json.loads(sidecar.read_text(encoding="utf-8")) == {
        "layer_name": "features.3", "provenance": PROVENANCE}
    assert read_provenance(path) == PROVENANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.npy", "one.npy.json"]


def test_npy_refuses_several_layers(tmp_path):
    with pytest.raises(UnitscopeError, match=r"'two\.npy'.*one layer.*\.npz, \.h5 or \.mat"):
        write_activations(tmp_path / "two.npy", _arrays(), PROVENANCE)
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_lists_supported(tmp_path):
    with pytest.raises(UnitscopeError, match="'acts.csv'") as info:
        write_activations(tmp_path / "acts.csv", _arrays(), {})
    assert all(s in str(info.value) for s in SUPPORTED_SUFFIXES)


def test_npz_keys_and_provenance_entry(tmp_path):
    path = write_activations(tmp_path / "a.npz", _arrays(), PROVENANCE)
    with np.load(path, allow_pickle=False) as npz:
        assert npz.files == ["layer1.0.conv1", "fc", "file", "__provenance__"]
        assert json.loads(str(npz["__provenance__"])) == PROVENANCE


def test_h5_attributes_on_root_and_datasets(tmp_path):
    path = write_activations(tmp_path / "a.h5", _arrays(), PROVENANCE)
    with h5py.File(path, "r") as f:
        assert list(f) == ["layer1.0.conv1", "fc", "file"]
        for node in (f, *f.values()):
            assert node.attrs["model"] == "resnet18"
            assert node.attrs["layer"] == "layer1.0.conv1"
            assert node.attrs["n_images"] == 3
            images = node.attrs["images"]
            assert h5py.check_string_dtype(node.attrs.get_id("images").dtype).encoding == "utf-8"
            assert [str(s) for s in images] == IMAGES
            assert json.loads(node.attrs["transform"]) == {"size": 224}
        assert f["fc"].attrs["layer_name"] == "fc"
        assert f["fc"].dtype == np.float32


def test_matlab_names_mangling_and_collisions():
    long = "block." + "a" * 80
    names = ["features.0", "features_0", "features#0", "0conv", "_x", long, long + "b",
             "provenance", "ü"]
    out = matlab_names(names)
    assert out[:5] == ["features_0", "features_0_2", "features_0_3", "x0conv", "x_x"]
    assert out[5] == ("block_" + "a" * 80)[:63]
    assert out[6] == ("block_" + "a" * 80)[:61] + "_2"
    assert out[7] == "provenance_2"
    assert out[8] == "x_"
    assert len(set(out)) == len(out)
    for name in out:
        assert len(name) <= 63 and name[0].isalpha() and name.isascii()
        assert name.replace("_", "a").isalnum()


def test_mat_file_layout_and_mapping(tmp_path):
    arrays = {"features.0": np.ones((2, 3), np.float32), "features_0": np.zeros((2, 3)),
              "0#conv": np.full((1, 4), 2.0)}
    path = write_activations(tmp_path / "m.mat", arrays, PROVENANCE)
    mat = scipy.io.loadmat(path)
    assert {"features_0", "features_0_2", "x0_conv"} <= set(mat)
    np.testing.assert_array_equal(mat["features_0_2"], np.zeros((2, 3), np.float32))
    assert mat["features_0"].dtype == np.float32
    mapping = [[str(c.item()) for c in row] for row in mat["layer_names"]]
    assert mapping == [["features_0", "features.0"], ["features_0_2", "features_0"],
                       ["x0_conv", "0#conv"]]
    prov = mat["provenance"][0, 0]
    assert prov["model"].item() == "resnet18"
    assert json.loads(prov["images"].item()) == IMAGES
    _assert_same(read_activations(path), _expected(arrays))


def _partial_then_fail(exc: BaseException):
    def write(tmp):
        tmp.write_bytes(b"half a file")
        raise exc
    return write


def test_failing_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(UnitscopeError, match=r"Could not save 'out\.png': boom"):
        atomic_write(target, _partial_then_fail(RuntimeError("boom")))
    assert list(tmp_path.iterdir()) == []


def test_full_disk_message_and_cleanup(tmp_path):
    target = tmp_path / "acts.h5"
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(UnitscopeError, match=r"Could not save 'acts\.h5': the disk is full"):
        atomic_write(target, _partial_then_fail(full))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_target(tmp_path):
    target = write_activations(tmp_path / "acts.npz", _arrays(), PROVENANCE)
    before = target.read_bytes()
    with pytest.raises(UnitscopeError, match="acts.npz"):
        atomic_write(target, _partial_then_fail(OSError(errno.ENOSPC, "No space left")))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts.npz"]


def test_missing_folder(tmp_path):
    with pytest.raises(UnitscopeError, match=r"'a\.npz'.*folder does not exist"):
        write_activations(tmp_path / "nope" / "a.npz", _arrays(), {})


def test_folder_is_a_file(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(UnitscopeError, match=r"Could not save 'a\.h5'.*is a file"):
        write_activations(tmp_path / "plain" / "a.h5", _arrays(), {})


@pytest.mark.parametrize(("code", "reason"), [
    (errno.EACCES, "permission denied"), (errno.EROFS, "read-only"), (errno.EDQUOT, "quota")])
def test_os_errors_named_for_the_user(tmp_path, code, reason):
    with pytest.raises(UnitscopeError, match=rf"Could not save 'x\.csv': .*{reason}"):
        atomic_write(tmp_path / "x.csv", _partial_then_fail(PermissionError(code, "denied")))
    assert list(tmp_path.iterdir()) == []


def test_new_file_follows_umask(tmp_path):
    mask = os.umask(0o027)
    try:
        path = atomic_write(tmp_path / "t.txt", lambda tmp: tmp.write_text("hi"))
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o640


def test_write_csv_round_trip(tmp_path):
    rows = [[0, "grating_0.png", 1.5], [1, "猫.png", -2.25]]
    path = write_csv(tmp_path / "tuning.csv", ["index", "image", "rate"], rows)
    with open(path, newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [["index", "image", "rate"], ["0", "grating_0.png", "1.5"],
                                        ["1", "猫.png", "-2.25"]]


def test_write_csv_row_length_checked(tmp_path):
    with pytest.raises(UnitscopeError, match="row 1 has 1 values but there are 2 columns"):
        write_csv(tmp_path / "t.csv", ["a", "b"], [[1, 2], [3]])
    assert list(tmp_path.iterdir()) == []


def test_read_missing_and_corrupt(tmp_path):
    with pytest.raises(UnitscopeError, match=r"'gone\.h5'.*does not exist"):
        read_activations(tmp_path / "gone.h5")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UnitscopeError, match=r"Could not read 'bad\.npz'"):
        read_activations(tmp_path / "bad.npz")
