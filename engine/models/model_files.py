"""Models and weights from files the user chose: state_dicts, TorchScript, Python, pickles.

Loading code from a file runs it, so only the explicit, opt-in routes do that:
a Python file with a factory name (trusted code by choice), and a full pickle behind
``trust_pickle=True``.  Plain weight files are read with ``weights_only=True``.
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from engine.errors import UnitscopeError
from engine.models.zoo import LoadedModel

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


def _reason(exc: BaseException, most: int = 200) -> str:
    """torch's error as one short line: no terminal colour codes or pleas for bug reports,
    the first sentence only if the line is long."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    first = re.sub(r"\s*\(Could this error message be improved\?.*$", "", first) or type(exc).__name__
    if len(first) > most:
        end = first.find(". ")
        first = first[: end + 1] if 0 < end < most else first[:most].rstrip() + "..."
    return first


def _is_torchscript_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``.pth/.pt/.safetensors``-style file without running code.

    Checkpoints that wrap the weights (``{"state_dict": ...}`` or ``{"model": ...}``) are
    unwrapped, and a ``module.`` prefix left by DataParallel is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise UnitscopeError(f"Weights file '{path}' does not exist.")
    if _is_torchscript_archive(path):  # torch.load would warn and run torch.jit.load instead
        raise UnitscopeError(
            f"Weights file '{path.name}' is a TorchScript model, not a state_dict; open it as the model."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings():
                # A plain pickle of tensors is fine; torch warns about its protocol only.
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's text here is a page of advice with terminal colour codes; the reason is this.
        raise UnitscopeError(
            f"Weights file '{path.name}' holds more than tensors (it would run code when "
            "loaded), so it was not loaded."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UnitscopeError(
            f"Weights file '{path.name}' could not be read (truncated or not a weights file): "
            f"{_reason(exc)}"
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnitscopeError(f"Weights file '{path.name}' does not hold a state_dict of tensors.")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _short_list(keys, most: int = 5) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")


def apply_state_dict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` strictly, explaining any mismatch in one message."""
    own = module.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_short_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_short_list(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatch: {_short_list(wrong_shape, 3)}")
    if problems:
        raise UnitscopeError(
            f"Weights '{source}' do not fit this model ({'; '.join(problems)})."
        )
    module.load_state_dict(state, strict=True)


def load_weights_into(model: LoadedModel, path: str | Path) -> LoadedModel:
    """Load a user's weights file into an already built model, in place."""
    path = Path(path)
    apply_state_dict(model.module, read_state_dict(path), path.name)
    model.weights_label = path.name
    model.weights_path = path
    model.module.eval()
    return model


def load_torchscript(path: str | Path) -> LoadedModel:
    """Load a TorchScript archive (``torch.jit.save``) as a model."""
    path = Path(path)
    if not path.is_file():
        raise UnitscopeError(f"TorchScript file '{path}' does not exist.")
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream but many labs still have such files.
            warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated", category=FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch.jit raises many types for bad archives
        raise UnitscopeError(
            f"TorchScript file '{path.name}' could not be loaded: {_reason(exc)}"
        ) from None
    module.eval()
    return LoadedModel(name=path.stem, module=module, weights_label=path.name,
                       weights_path=path, source="torchscript")


def load_python_factory(spec: str) -> LoadedModel:
    """Build a model by running ``factory()`` from ``file.py:factory`` (trusted code, opt-in)."""
    file_part, sep, factory = spec.rpartition(":")
    if not sep or not file_part.endswith(".py") or not factory.isidentifier():
        raise UnitscopeError(f"Model '{spec}' should be written FILE.py:FACTORY, e.g. my_net.py:build.")
    path = Path(file_part)
    if not path.is_file():
        raise UnitscopeError(f"Python file '{path}' does not exist.")
    mod_name = f"unitscope_user_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    user = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = user
    try:
        module_spec.loader.exec_module(user)
        build = getattr(user, factory, None)
        if build is None:
            raise UnitscopeError(f"Python file '{path.name}' has no factory '{factory}'.")
        module = build()
    except UnitscopeError:
        raise
    except Exception as exc:  # an AttributeError inside build() is the factory's own failure
        raise UnitscopeError(
            f"Running {path.name}:{factory} failed: {type(exc).__name__}: {_reason(exc)}"
        ) from None
    if not isinstance(module, nn.Module):
        raise UnitscopeError(f"{path.name}:{factory} returned {type(module).__name__}, not a torch.nn.Module.")
    module.eval()
    return LoadedModel(name=f"{path.stem}:{factory}", module=module, weights_label="as built by factory",
                       weights_path=path, source="python")


def load_pickled_module(path: str | Path, trust_pickle: bool = False) -> LoadedModel:
    """Load a whole pickled ``nn.Module``; refused unless the user trusts the file."""
    path = Path(path)
    if not trust_pickle:
        raise UnitscopeError(
            f"'{path.name}' is a pickled model; loading it runs code from the file. "
            "Pass --trust-pickle only if you trust where it came from."
        )
    log.warning("loading pickled module %s: this runs code from the file", path)
    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UnitscopeError(f"Pickled model '{path.name}' could not be loaded: {_reason(exc)}") from None
    if not isinstance(module, nn.Module):
        raise UnitscopeError(f"'{path.name}' holds {type(module).__name__}, not a torch.nn.Module.")
    module.eval()
    return LoadedModel(name=path.stem, module=module, weights_label=path.name,
                       weights_path=path, source="pickle")
