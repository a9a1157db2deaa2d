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
from torch.overrides import TorchFunctionMode

from engine.errors import UnitscopeError
from engine.files.hashing import sha256_of

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random weights"

# The same pattern torch.hub uses to find the hash prefix in a checkpoint's file name.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")

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


def architecture_kwargs(name: str) -> dict:
    """The builder arguments torchvision's DEFAULT weights imply for model ``name``.

    Built with random weights, a model gets the same architecture as with its pretrained
    file, so its anatomy does not change when the file arrives: GoogLeNet and Inception-v3
    get ``transform_input=True`` (and GoogLeNet drops its auxiliary heads after loading,
    Inception-v3 keeps its own), ViTs the DEFAULT entry's image size (518 px for
    ``vit_h_14``), MaxViT its input size; each with the entry's number of classes.
    ``init_weights=True`` replaces the builder's ``False`` (it skips initialisation only
    because the file overwrites it).
    """
    meta = default_weights_entry(name).meta
    kwargs: dict = {"num_classes": len(meta["categories"])}
    if name == "googlenet":
        kwargs.update(transform_input=True, aux_logits=False, init_weights=True)
    elif name == "inception_v3":
        kwargs.update(transform_input=True, aux_logits=True, init_weights=True)
    elif name.startswith("vit_"):
        kwargs["image_size"] = meta["min_size"][0]
    elif name.startswith("maxvit"):
        kwargs["input_size"] = tuple(meta["min_size"])
    return kwargs


_META_FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}


class _ParametersOnMeta(TorchFunctionMode):
    """Tensors made by factories without a device go to the meta device (no memory, no init).

    Unlike ``torch.device("meta")`` it leaves ``arange``/``tensor`` on the CPU, which
    builders use for arithmetic they read back (RegNet's widths).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _META_FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def build_architecture(name: str, meta: bool = False) -> nn.Module:
    """Model ``name`` as its DEFAULT weights build it, with random weights (or, with
    ``meta``, shapes only: fast, for counting), in eval mode."""
    kwargs = architecture_kwargs(name)
    if not meta:
        return torchvision.models.get_model(name, weights=None, **kwargs).eval()
    with _ParametersOnMeta():
        module = torchvision.models.get_model(name, weights=None, **kwargs)
    return module.to("meta").eval()


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
    """Look for a zoo model's default weights file in the torch hub cache (never downloads).

    A cache folder that cannot be read counts as holding nothing (logged, never raised).
    """
    entry = default_weights_entry(name)
    file_name = weights_file_name(entry)
    path = hub_checkpoint_dir() / file_name
    try:
        found = path.is_file()
    except OSError as exc:
        log.warning("could not look for %s: %s", path, exc)
        found = False
    return WeightsState(
        model=name,
        entry_name=f"{type(entry).__name__}.{entry.name}",
        file_name=file_name,
        path=path if found else None,
    )


def hash_prefix(file_name: str) -> str | None:
    """The hash prefix a checkpoint's file name carries, as ``torch.hub`` reads it (or None)."""
    match = HASH_REGEX.search(file_name)
    return match.group(1) if match else None


@lru_cache(maxsize=256)
def _sha_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def file_problem(path: str | Path, file_name: str | None = None) -> str | None:
    """Why a weights file in the hub cache would not load, or None when it looks sound.

    Cheap checks only: the file can be read, is not empty, and its SHA-256 starts with
    the hash prefix its (torchvision) file name carries, as ``torch.hub`` checks after a
    download.  The hash is remembered per path, size and modification time.
    """
    path = Path(path)
    file_name = file_name or path.name
    try:
        info = path.stat()
        if info.st_size == 0:
            return "the file is empty"
        with open(path, "rb"):
            pass
        prefix = hash_prefix(file_name)
        if not prefix:
            return None
        sha = _sha_of(str(path), info.st_size, info.st_mtime_ns)
    except OSError as exc:
        return f"it could not be read ({exc.strerror or exc})"
    if not sha.startswith(prefix):
        return (f"its sha256 begins {sha[:len(prefix)]} but its name needs {prefix} "
                f"(a truncated copy or another file under this name)")
    return None


def short_reason(exc: BaseException, most: int = 200) -> str:
    """An exception's text as one short line: no terminal colour codes or pleas for bug
    reports, the first sentence only if the line is long."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    first = re.sub(r"\s*\(Could this error message be improved\?.*$", "", first) or type(exc).__name__
    if len(first) > most:
        end = first.find(". ")
        first = first[: end + 1] if 0 < end < most else first[:most].rstrip() + "..."
    return first


@dataclass
class LoadedModel:
    """A model ready for recording, with what is known about where it came from."""

    name: str
    module: nn.Module
    weights_label: str  # e.g. "ResNet101_Weights.IMAGENET1K_V2", "random weights", a file name
    weights_path: Path | None = None
    source: str = "torchvision"  # torchvision, timm, torchscript, python, pickle
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


def _damaged_cache_file(state: WeightsState, exc: BaseException) -> UnitscopeError:
    """The one-line error for a cached pretrained file that torchvision could not load."""
    reason = file_problem(state.path, state.file_name)
    if reason is None and "Error(s) in loading state_dict" in str(exc):
        reason = "its weights do not fit the model (another model's file under this name?)"
    reason = reason or short_reason(exc)
    return UnitscopeError(
        f"The pretrained weights file '{state.path}' for {state.model} is damaged: {reason}. "
        f"Remove it, or replace it with a good copy: unitscope weights import FILE."
    )


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
        try:
            module = torchvision.models.get_model(name, weights=entry)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
            raise _damaged_cache_file(state, exc) from None
        label, path = state.entry_name, state.path
    else:
        module = build_architecture(name)
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
