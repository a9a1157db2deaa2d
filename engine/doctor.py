"""What ``unitscope doctor`` reports about the engine: versions, devices, the weights cache.

The Qt half (Qt and pyqtgraph versions, the platform plugin, the settings file) lives in
``gui/app/doctor.py``; this module stays Qt-free so it also answers when Qt cannot start.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy
import torch
import torchvision

from engine.models.weights import (
    cache_folder_problem,
    cached_files,
    file_problem,
    format_size,
    list_weights,
)
from engine.models.zoo import hub_checkpoint_dir


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed as a package"


def _torch_build() -> str:
    cuda = torch.version.cuda
    return f"{torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU-only build'})"


def _cudnn() -> str:
    version = torch.backends.cudnn.version()  # 92400 for 9.24.0, 8902 for 8.9.2
    if version >= 90000:
        return f"{version // 10000}.{version // 100 % 100}.{version % 100}"
    return f"{version // 1000}.{version // 100 % 10}.{version % 100}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + ", "
    except OSError:
        pass
    return platform.processor() + ", " if platform.processor() else ""


def devices() -> list[tuple[str, str]]:
    """The compute devices torch finds: each CUDA GPU, MPS, and the CPU threads."""
    rows = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            rows.append((f"cuda:{i}", f"{props.name}, {props.total_memory / 2**30:.1f} GiB, "
                                      f"compute capability {props.major}.{props.minor}"))
    elif torch.version.cuda:
        rows.append(("cuda", "none found (CUDA build, but no usable GPU or driver)"))
    else:
        rows.append(("cuda", "none (this torch is a CPU-only build)"))
    mps = getattr(torch.backends, "mps", None)
    rows.append(("mps", "available" if mps is not None and mps.is_available() else "not available"))
    rows.append(("cpu", f"{_cpu_name()}{torch.get_num_threads()} torch threads, {os.cpu_count()} logical cores"))
    return rows


def weights_found() -> list[str]:
    """One line per file in the hub cache: name, size, and the model it is for."""
    by_file = {r.entry.file_name: r.entry for r in list_weights(include_all_entries=True)}
    lines = []
    for name, size in cached_files():
        entry = by_file.get(name)
        what = entry.model + ("" if entry.is_default else f" ({entry.entry_name}, not loaded)") if entry \
            else "unknown file"
        lines.append(f"{name} ({format_size(size)}): {what}")
    return lines or ["none (every model runs with random weights)"]


def weights_damaged() -> list[str]:
    """One line per cached file that would not load as its name promises, and one if the
    cache folder cannot be read."""
    problem = cache_folder_problem()
    if problem:
        return [problem]
    known = {e.file_name for e in (r.entry for r in list_weights(include_all_entries=True))}
    lines = []
    for name, _ in cached_files():
        if name in known:
            why = file_problem(hub_checkpoint_dir() / name, name)
            if why:
                lines.append(f"{name}: damaged, {why}; remove it or re-import a good copy with "
                             "unitscope weights import FILE")
    return lines


def engine_report() -> list[tuple[str, str]]:
    """The engine's half of the doctor's report as (label, value) rows.

    Returns
    -------
    list of (str, str)
        Versions, devices, the torch hub cache and the weights in it.  A label may repeat
        (one row per device or weights file).
    """
    rows = [
        ("Unitscope", f"{_version('unitscope')} ({Path(__file__).resolve().parent.parent})"),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("Platform", f"{platform.platform()} ({platform.machine()})"),
        ("torch", _torch_build()),
        ("torchvision", torchvision.__version__),
        ("numpy", numpy.__version__),
    ]
    if torch.backends.cudnn.is_available():
        rows.append(("cuDNN", _cudnn()))
    rows += [(f"device {name}", value) for name, value in devices()]
    folder = hub_checkpoint_dir()
    try:
        exists = folder.is_dir()
    except OSError:
        exists = True  # there, but not readable: said in the "damaged weights" row
    rows.append(("torch hub cache", f"{folder}{'' if exists else ' (does not exist yet)'}"))
    if os.environ.get("TORCH_HOME"):
        rows.append(("TORCH_HOME", os.environ["TORCH_HOME"]))
    rows += [("weights", line) for line in weights_found()]
    rows += [("damaged weights", line) for line in weights_damaged()]
    return rows


def format_report(rows: list[tuple[str, str]]) -> str:
    """Rows as aligned ``label: value`` lines, fit to paste into a bug report."""
    width = max(len(label) for label, _ in rows) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)
