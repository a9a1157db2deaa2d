"""The engine's half of ``unitscope doctor``: versions, devices, the weights cache."""

import sys

import pytest
import torch
import torchvision

from engine.doctor import engine_report, format_report


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _values(rows, label):
    return [value for name, value in rows if name == label]


def test_the_report_names_versions_devices_and_the_cache(hub):
    rows = engine_report()
    assert _values(rows, "Python")[0].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert _values(rows, "torch")[0].startswith(torch.__version__)
    assert _values(rows, "torchvision") == [torchvision.__version__]
    assert _values(rows, "device cpu")[0].endswith(f"{torch.get_num_threads()} torch threads, "
                                                   f"{__import__('os').cpu_count()} logical cores")
    assert _values(rows, "device mps") and _values(rows, "device cuda") or _values(rows, "device cuda:0")
    assert _values(rows, "torch hub cache") == [f"{hub} (does not exist yet)"]
    assert _values(rows, "weights") == ["none (every model runs with random weights)"]


def test_the_report_says_which_weights_are_in_the_cache(hub):
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x" * 2000)
    (hub / "resnet101-63fe2227.pth").write_bytes(b"x")
    (hub / "mine.pth").write_bytes(b"x")
    weights = _values(engine_report(), "weights")
    assert weights == ["mine.pth (1 B): unknown file",
                       "resnet101-63fe2227.pth (1 B): resnet101 (ResNet101_Weights.IMAGENET1K_V1, not loaded)",
                       "resnet18-f37072fd.pth (2.0 kB): resnet18"]


def test_the_report_is_one_aligned_screen():
    rows = engine_report()
    lines = format_report(rows).splitlines()
    assert len(lines) == len(rows) < 40
    start = max(len(label) for label, _ in rows) + 2  # "label:" padded, then one space
    for (label, value), line in zip(rows, lines):
        assert line.startswith(f"{label}:") and line[start:] == value
