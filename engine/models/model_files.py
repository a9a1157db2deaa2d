"""Models and weights from files the user chose: state_dicts, TorchScript, Python, pickles.

Loading code from a file runs it, so only the explicit, opt-in routes do that:
a Python file with a factory name (trusted code by choice), and a full pickle behind
``trust_pickle=True``.  Plain weight files are read with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
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
from engine.models.zoo import LoadedModel, short_reason

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


_reason = short_reason


# What a file is, by its first bytes (never by running it): kind -> how to name it.
KINDS = {
    "torchscript": "a TorchScript model",
    "torch-zip": "a PyTorch file (torch.save)",
    "zip": "a zip archive",
    "pickle": "a Python pickle (e.g. an old-format torch.save file)",
    "safetensors": "a safetensors file",
    "jpeg": "a JPEG image",
    "png": "a PNG image",
    "gif": "a GIF image",
    "python": "a Python source file",
    "text": "a text file",
    "empty": "an empty file",
    "unknown": "a file of unknown kind",
}
NOT_MODELS = ("jpeg", "png", "gif", "python", "text")  # kinds that are never models or weights


def file_kind(path: str | Path) -> str:
    """What ``path`` holds, judged by its first bytes: one of :data:`KINDS`' keys.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "torch-zip"  # a truncated zip: torch's loader names what is wrong
        if any("/code/" in name for name in names):
            return "torchscript"
        return "torch-zip" if any(n.endswith("data.pkl") for n in names) else "zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < 100 * 2**20:
        return "safetensors"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            python = path.suffix == ".py" or re.search(r"^(import |from \S+ import |def |class )", text, re.MULTILINE)
            return "python" if python else "text"
    return "unknown"


def _not_a_model(path: Path, kind: str) -> UnitscopeError:
    hint = f" (open it as {path.name}:FACTORY with its factory's name)" if kind == "python" else ""
    return UnitscopeError(f"'{path.name}' is {KINDS[kind]}, not a model or weights file{hint}.")


def _kind_or_error(path: Path, what: str) -> str:
    from engine.files.reading import check_regular

    check_regular(path, what)  # missing, a folder, a FIFO or a device: one line, never a hang
    try:
        kind = file_kind(path)
    except OSError as exc:
        raise UnitscopeError(f"{what} '{path.name}' could not be read ({exc.strerror or exc}).") from None
    if kind in NOT_MODELS:
        raise _not_a_model(path, kind)
    return kind


def _numpy_globals() -> list:
    """numpy's array and scalar rebuilders, which ``weights_only`` loading may allow.

    Under torch's restricted unpickler they only rebuild plain arrays, dtypes and scalars
    (anything inside them is unpickled under the same restrictions), so a checkpoint that
    keeps a numpy array next to its state_dict loads without running code.
    """
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    allowed = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar,
               (core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
               (core.multiarray.scalar, "numpy.core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles a dtype's class too
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def _what_is_inside(path: Path) -> str:
    """The classes and functions a pickle names, found without running it (or '')."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - only a hint for the message
        return ""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _describe(value) -> str:
    return type(value).__name__ + (f" {tuple(value.shape)}" if hasattr(value, "shape") else "")


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Read a state_dict without running code; also say what in the file was left out.

    Returns
    -------
    state : dict of str to Tensor
        The weights: a wrapped checkpoint (``{"state_dict": ...}``) is unwrapped and a
        ``module.`` prefix removed.
    ignored : list of str
        What else the file held (``"mean: ndarray (3,)"``), not loaded.
    """
    path = Path(path)
    kind = _kind_or_error(path, "Weights file")
    if kind == "torchscript":  # torch.load would warn and run torch.jit.load instead
        raise UnitscopeError(
            f"Weights file '{path.name}' is a TorchScript model, not a state_dict; open it as the model."
        )
    if path.suffix == ".safetensors" and kind not in ("safetensors", "unknown", "empty"):
        raise UnitscopeError(
            f"Weights file '{path.name}' is named .safetensors but is {KINDS[kind]}, not a safetensors "
            f"file; rename it to .pth to load it as one."
        )
    try:
        if kind == "safetensors" or (path.suffix == ".safetensors" and kind in ("unknown", "empty")):
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings(), torch.serialization.safe_globals(_numpy_globals()):
                # A plain pickle of tensors is fine; torch warns about its protocol only.
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if kind not in ("pickle", "torch-zip"):
            raise UnitscopeError(
                f"Weights file '{path.name}' could not be read ({KINDS[kind]}, not a weights file): "
                f"{_reason(exc)}") from None
        inside = _what_is_inside(path) if kind == "torch-zip" else ""
        # torch's text here is a page of advice with terminal colour codes; the reason is this.
        raise UnitscopeError(
            f"Weights file '{path.name}' holds more than tensors"
            + (f" ({inside})" if inside else "")
            + " (it would run code when loaded), so it was not loaded."
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch, zipfile and safetensors raise many types
        what = "a damaged safetensors file" if kind == "safetensors" or path.suffix == ".safetensors" \
            else "truncated or not a weights file"
        raise UnitscopeError(
            f"Weights file '{path.name}' could not be read ({what}): {_reason(exc)}"
        ) from None
    ignored = []
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            ignored = [f"{k}: {_describe(v)}" for k, v in state.items() if k != key]
            state = state[key]
            break
    if isinstance(state, dict) and any(isinstance(v, torch.Tensor) for v in state.values()):
        extra = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
        ignored += [f"{k}: {_describe(state[k])}" for k in extra]
        state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnitscopeError(f"Weights file '{path.name}' does not hold a state_dict of tensors.")
    if all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    if ignored:
        log.info("%s: loaded the state_dict, ignored %s", path.name, "; ".join(ignored))
    return state, ignored


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``.pth/.pt/.safetensors``-style file without running code.

    Checkpoints that wrap the weights (``{"state_dict": ...}`` or ``{"model": ...}``) are
    unwrapped, and a ``module.`` prefix left by DataParallel is removed; anything else in
    the file (an epoch number, a numpy array) is left out (see :func:`read_weights`).
    """
    return read_weights(path)[0]


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
    state, ignored = read_weights(path)
    apply_state_dict(model.module, state, path.name)
    if ignored:
        model.notes.append(f"{path.name}: loaded its state_dict; ignored what else it holds "
                           f"({_short_list(ignored, 4)})")
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
        kind = file_kind(path)
    except OSError as exc:
        raise UnitscopeError(f"TorchScript file '{path.name}' could not be read ({exc.strerror or exc}).") from None
    if kind in ("jpeg", "png", "gif", "python"):
        raise _not_a_model(path, kind)
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


def _exit_message(where: str, exc: SystemExit, printed: str) -> str:
    tb, from_argparse = exc.__traceback__, False
    while tb is not None:
        from_argparse |= Path(tb.tb_frame.f_code.co_filename).name == "argparse.py"
        tb = tb.tb_next
    if from_argparse or "usage:" in printed:
        said = next((line.split("error:", 1)[1].strip() for line in reversed(printed.splitlines())
                     if "error:" in line), "")
        return (f"'{where}' tried to parse command-line arguments while building the model"
                + (f" ({said})" if said else "") + "; a factory must build the model without them.")
    return f"'{where}' called sys.exit({exc.code!r}) while building the model."


def load_python_factory(spec: str) -> LoadedModel:
    """Build a model by running ``factory()`` from ``file.py:factory`` (trusted code, opt-in).

    The file's folder is first on ``sys.path`` while it is imported and built (so it can
    import modules next to it); what it prints goes to the log, and a ``sys.exit`` or an
    argparse error in it becomes a :class:`UnitscopeError`.
    """
    file_part, sep, factory = spec.rpartition(":")
    if not sep or not file_part.endswith(".py") or not factory.isidentifier():
        raise UnitscopeError(f"Model '{spec}' should be written FILE.py:FACTORY, e.g. my_net.py:build.")
    path = Path(file_part)
    if not path.is_file():
        raise UnitscopeError(f"Python file '{path}' does not exist.")
    where = f"{path.name}:{factory}"
    folder = str(path.resolve().parent)
    mod_name = f"unitscope_user_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    user = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = user
    before = set(sys.modules)
    printed = io.StringIO()
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            module_spec.loader.exec_module(user)
            build = getattr(user, factory, None)
            if build is None:
                raise UnitscopeError(f"Python file '{path.name}' has no factory '{factory}'.")
            module = build()
    except UnitscopeError:
        raise
    except SystemExit as exc:
        raise UnitscopeError(_exit_message(where, exc, printed.getvalue())) from None
    except Exception as exc:  # an AttributeError inside build() is the factory's own failure
        raise UnitscopeError(
            f"Running {where} failed: {type(exc).__name__}: {_reason(exc)}"
        ) from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
        # Modules it imported from its folder go too, so another factory's same-named helper is not
        # mistaken for this one's.
        for name in set(sys.modules) - before:
            if name.split(".")[0] in before:  # a submodule of a package loaded before (torch.*)
                continue
            file = getattr(sys.modules.get(name), "__file__", None) or ""
            if file and Path(file).resolve().is_relative_to(folder):
                sys.modules.pop(name, None)
        if printed.getvalue().strip():
            log.info("%s printed: %s", where, printed.getvalue().strip())
    if not isinstance(module, nn.Module):
        raise UnitscopeError(f"{path.name}:{factory} returned {type(module).__name__}, not a torch.nn.Module.")
    module.eval()
    return LoadedModel(name=f"{path.stem}:{factory}", module=module, weights_label="as built by factory",
                       weights_path=path, source="python")


def load_pickled_module(path: str | Path, trust_pickle: bool = False) -> LoadedModel:
    """Load a whole pickled ``nn.Module``; refused unless the user trusts the file."""
    path = Path(path)
    kind = _kind_or_error(path, "Model file")
    if kind not in ("pickle", "torch-zip"):
        raise UnitscopeError(f"'{path.name}' is {KINDS[kind]}, not a pickled model.")
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
