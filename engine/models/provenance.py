"""What a result was made from: model, weights, preprocessing, software versions."""

from __future__ import annotations

import datetime
import platform
from importlib import metadata

import torch
import torchvision

from engine.files.hashing import sha256_of
from engine.models.zoo import LoadedModel


def package_version() -> str:
    try:
        return metadata.version("unitscope")
    except metadata.PackageNotFoundError:
        return "unknown"


def provenance(model: LoadedModel, preprocessing: str, **extra) -> dict:
    """A flat dict of strings, numbers and string lists, fit for HDF5 attributes."""
    record = {
        "model": model.name,
        "model_source": model.source,
        "weights": model.weights_label,
        "weights_file": str(model.weights_path) if model.weights_path else "",
        "weights_sha256": sha256_of(model.weights_path) if model.weights_path and model.weights_path.is_file() else "",
        "random_seed": -1 if model.seed is None else int(model.seed),  # -1: no random weights
        "preprocessing": preprocessing,
        "unitscope_version": package_version(),
        "torch_version": str(torch.__version__),
        "torchvision_version": str(torchvision.__version__),
        "python_version": platform.python_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record
