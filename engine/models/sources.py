"""Opening a model from whatever the user named: a zoo name or a file.

``MODEL`` may be a torchvision model name (``resnet101``), a timm model
(``timm:convnext_tiny``, with the optional ``timm`` extra), a TorchScript archive, a
Python file with a factory (``my_net.py:build``, trusted code the user chose to run), or
a whole pickled module (only with ``trust_pickle``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.errors import UnitscopeError
from engine.models import model_files, zoo
from engine.models.zoo import RANDOM_WEIGHTS, LoadedModel, suggest

TIMM_PREFIX = "timm:"
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class _TimmEntry:
    """What the preprocessing needs of a weights entry, from a timm model's pretrained config."""

    cfg: dict
    meta: dict = field(default_factory=dict)

    def transforms(self):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms._presets import ImageClassification

        size = int(self.cfg.get("input_size", (3, 224, 224))[-1])
        crop_pct = float(self.cfg.get("crop_pct") or 0.875)
        interpolation = {"bicubic": InterpolationMode.BICUBIC}.get(self.cfg.get("interpolation"),
                                                                   InterpolationMode.BILINEAR)
        return ImageClassification(crop_size=size, resize_size=int(size / crop_pct),
                                   mean=tuple(self.cfg.get("mean", (0.485, 0.456, 0.406))),
                                   std=tuple(self.cfg.get("std", (0.229, 0.224, 0.225))),
                                   interpolation=interpolation)


def hf_cached_weights(cfg: dict) -> Path | None:
    """The weights file of a timm pretrained config already in the Hugging Face cache, or None.

    Looks in the cache only (never the network)."""
    repo = cfg.get("hf_hub_id")
    if not repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")
    for name in _HF_WEIGHT_FILES:
        found = try_to_load_from_cache(repo, name, cache_dir=cache)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def load_timm(spec: str, weights_given: bool = False) -> LoadedModel:
    """Build ``timm:NAME`` offline: random weights, or the pretrained file when it already
    lies in the Hugging Face cache (``HF_HUB_OFFLINE=1``: nothing is ever downloaded).

    With ``weights_given`` the cache is not looked at (the caller loads its own file).
    """
    name = spec[len(TIMM_PREFIX):]
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import timm
    except ImportError:
        raise UnitscopeError(f"'{spec}' needs timm, which is not installed: pip install 'unitscope[timm]'.") from None
    if not timm.is_model(name):
        raise UnitscopeError(f"Unknown timm model '{name}'.{suggest(name, timm.list_models())}")
    module = timm.create_model(name, pretrained=False)
    cfg = dict(module.pretrained_cfg or {})
    label, path = RANDOM_WEIGHTS, None
    cached = None if weights_given else hf_cached_weights(cfg)
    if cached is not None:
        try:
            module = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(cached)})
        except Exception as exc:  # noqa: BLE001 - a damaged cache file
            raise UnitscopeError(f"The cached timm weights '{cached}' for {name} could not be loaded: "
                                 f"{zoo.short_reason(exc)}") from None
        label, path = f"timm {cfg['hf_hub_id']}", cached
    module.eval()
    size = tuple(int(v) for v in cfg.get("input_size", (3, 224, 224))[-2:])
    return LoadedModel(name=spec, module=module, weights_label=label, weights_path=path, source="timm",
                       weights_entry=_TimmEntry(cfg), input_size=size)


def _refuse_untrusted(path: Path) -> None:
    """Explain why a non-TorchScript model file was not opened (it never runs its code)."""
    try:
        model_files.read_state_dict(path)
    except UnitscopeError as exc:
        if "holds more than tensors" in str(exc):
            model_files.load_pickled_module(path, trust_pickle=False)  # raises the trust message
        raise
    raise UnitscopeError(
        f"'{path.name}' holds weights only (a state_dict); open the architecture (a model name "
        "or FILE.py:FACTORY) and pass this file as its weights."
    )


def is_pickled_model(path: str | Path) -> bool:
    """Whether opening ``path`` as a model would run code from it (a whole pickled module).

    Nothing in the file is run to find out: it is read as weights with
    ``weights_only=True``, which stops at the first object that is not a tensor.
    TorchScript archives and Python files are not pickled models.
    """
    path = Path(path)
    if path.suffix in (".py", ".ts", ".jit") or not path.is_file():
        return False
    try:
        if model_files.file_kind(path) not in ("pickle", "torch-zip"):
            return False
    except OSError:
        return False
    try:
        model_files.read_state_dict(path)
    except UnitscopeError as exc:
        return "holds more than tensors" in str(exc)
    return False


def open_model(spec: str, weights: str | Path | None = None, trust_pickle: bool = False,
               seed: int = 0) -> LoadedModel:
    """Build or load the model ``spec`` names, then load ``weights`` into it if given.

    Whatever the model draws at random while it is built (a zoo model without a
    pretrained file, a factory's initialisation) is drawn from ``seed``, so the same seed
    gives bit-identical weights in every process; the global random state is left as it was.

    Raises
    ------
    UnitscopeError
        With one line naming the model or file and the reason.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build(spec, trust_pickle, weights is not None)
    if model.has_random_weights or model.source == "python":
        model.seed = seed
    if weights is not None:
        model_files.load_weights_into(model, weights)
        model.seed = None
    return model


def _build(spec: str, trust_pickle: bool, weights_given: bool = False) -> LoadedModel:
    if spec.startswith(TIMM_PREFIX):
        return load_timm(spec, weights_given)
    if ".py:" in spec:
        model = model_files.load_python_factory(spec)
    elif Path(spec).suffix in (".pt", ".pth", ".ts", ".jit", ".pkl") or Path(spec).is_file():
        path = Path(spec)
        if path.suffix in (".ts", ".jit"):
            return model_files.load_torchscript(path)
        kind = model_files._kind_or_error(path, "Model file")  # an image or text file is named so
        if kind == "torchscript":
            model = model_files.load_torchscript(path)
        elif trust_pickle:
            model = model_files.load_pickled_module(path, trust_pickle=True)
        else:
            _refuse_untrusted(path)
    else:
        model = zoo.build_zoo_model(spec)
    return model
