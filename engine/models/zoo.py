"""The model zoo: torchvision's classification models, grouped by family, built offline.

Weights are never downloaded.  A torchvision model gets its pretrained weights only
when the file its weights entry names already lies in the local torch hub cache;
otherwise it is built with random initialisation and says so in its ``weights_label``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random weights"

# Family name -> regular expression on torchvision's model names, in display order.
_FAMILIES: list[tuple[str, str]] = [
    ("AlexNet", r"^alexnet$"),
    ("VGG", r"^vgg"),
    ("ResNet", r"^resnet\d"),
    ("ResNeXt", r"^resnext"),
    ("Wide ResNet", r"^wide_resnet"),
    ("DenseNet", r"^densenet"),
    ("GoogLeNet / Inception", r"^(googlenet|inception)"),
    ("SqueezeNet", r"^squeezenet"),
    ("ShuffleNet", r"^shufflenet"),
    ("MobileNet", r"^mobilenet"),
    ("MNASNet", r"^mnasnet"),
    ("EfficientNet", r"^efficientnet"),
    ("RegNet", r"^regnet"),
    ("ConvNeXt", r"^convnext"),
    ("MaxViT", r"^maxvit"),
    ("ViT", r"^vit_"),
    ("Swin", r"^swin"),
]

# Models whose auxiliary classifiers torchvision drops once pretrained weights are loaded.
_AUX_MODELS = {"googlenet", "inception_v3"}


def family_of(name: str) -> str:
    """Return the family a torchvision model name belongs to ("Other" if none)."""
    for family, pattern in _FAMILIES:
        if re.search(pattern, name):
            return family
    return "Other"


@lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    """Every classification model that torchvision lists, sorted by family then name."""
    names = torchvision.models.list_models(module=torchvision.models)
    order = {family: i for i, (family, _) in enumerate(_FAMILIES)}
    return tuple(sorted(names, key=lambda n: (order.get(family_of(n), len(order)), n)))


def families() -> dict[str, list[str]]:
    """Model names grouped by family, in display order."""
    grouped: dict[str, list[str]] = {}
    for name in model_names():
        grouped.setdefault(family_of(name), []).append(name)
    return grouped


def hub_checkpoint_dir() -> Path:
    """The folder where torch hub keeps downloaded checkpoints (may not exist)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def default_weights_entry(name: str):
    """The default torchvision weights entry (``WeightsEnum`` member) of a model."""
    return torchvision.models.get_model_weights(name).DEFAULT


def weights_file_name(entry) -> str:
    """The file name torchvision would store a weights entry under in the hub cache."""
    return os.path.basename(urlparse(entry.url).path)


@dataclass(frozen=True)
class WeightsState:
    """Where a zoo model's pretrained weights are, if anywhere."""

    model: str
    entry_name: str
    file_name: str
    path: Path | None  # None when the file is not in the hub cache

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def label(self) -> str:
        return self.entry_name if self.found else RANDOM_WEIGHTS


def weights_state(name: str) -> WeightsState:
    """Look for a zoo model's default weights file in the torch hub cache (never downloads)."""
    entry = default_weights_entry(name)
    file_name = weights_file_name(entry)
    path = hub_checkpoint_dir() / file_name
    return WeightsState(
        model=name,
        entry_name=f"{type(entry).__name__}.{entry.name}",
        file_name=file_name,
        path=path if path.is_file() else None,
    )


@dataclass
class LoadedModel:
    """A model ready for recording, with what is known about where it came from."""

    name: str
    module: nn.Module
    weights_label: str  # e.g. "ResNet101_Weights.IMAGENET1K_V2", "random weights", a file name
    weights_path: Path | None = None
    source: str = "torchvision"  # torchvision, torchscript, python, pickle
    weights_entry: object | None = None  # torchvision WeightsEnum member used for transforms
    input_size: tuple[int, int] = (224, 224)
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # the seed random weights were drawn from (None: weights from a file)

    @property
    def has_random_weights(self) -> bool:
        return self.weights_label == RANDOM_WEIGHTS

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.weights_label})"


def _input_size(entry) -> tuple[int, int]:
    """The square crop the weights entry's transforms produce (the model's own input size)."""
    crop = getattr(entry.transforms(), "crop_size", [224])
    size = int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    return (size, size)


def suggest(name: str, choices) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def build_zoo_model(name: str) -> LoadedModel:
    """Build a torchvision model with cached pretrained weights, or random weights.

    Raises
    ------
    UnitscopeError
        If ``name`` is not a torchvision classification model.
    """
    if name not in model_names():
        raise UnitscopeError(f"Unknown model '{name}'.{suggest(name, model_names())}")
    state = weights_state(name)
    entry = default_weights_entry(name)
    if state.found:
        # The file is in the hub cache, so torchvision loads it from there without any
        # network access (load_state_dict_from_url only downloads a missing file).
        module = torchvision.models.get_model(name, weights=entry)
        label, path = state.entry_name, state.path
    else:
        kwargs = {"aux_logits": False, "init_weights": True} if name in _AUX_MODELS else {}
        module = torchvision.models.get_model(name, weights=None, **kwargs)
        label, path = RANDOM_WEIGHTS, None
    module.eval()
    log.info("built %s with %s", name, label)
    return LoadedModel(
        name=name,
        module=module,
        weights_label=label,
        weights_path=path,
        weights_entry=entry,
        input_size=_input_size(entry),
    )
