"""Opening a model from whatever the user named: a zoo name or a file.

``MODEL`` may be a torchvision model name (``resnet101``), a TorchScript archive, a
Python file with a factory (``my_net.py:build``, trusted code the user chose to run), or
a whole pickled module (only with ``trust_pickle``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import UnitscopeError
from engine.models import model_files, zoo
from engine.models.zoo import LoadedModel


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
        model = _build(spec, trust_pickle)
    if model.has_random_weights or model.source == "python":
        model.seed = seed
    if weights is not None:
        model_files.load_weights_into(model, weights)
        model.seed = None
    return model


def _build(spec: str, trust_pickle: bool) -> LoadedModel:
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
