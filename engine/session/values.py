"""Values that cross between the engine thread and the window: no torch, no Qt.

A :class:`ModelSpec` names a model so that it can be opened again bit for bit (weights
file and its SHA-256, or random weights and their seed); a :class:`Stimulus` names one
input; :class:`ModelInfo` and :class:`Recording` are what the engine hands back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import UnitscopeError

#: Random weights are drawn from this seed unless the user names another.
DEFAULT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to open the same model again.

    Parameters
    ----------
    spec : str
        A torchvision model name, a TorchScript file or ``FILE.py:FACTORY``
        (:func:`engine.models.sources.open_model`).
    weights : str or None
        A state_dict file loaded into the model.
    weights_sha256 : str or None
        The weights file's SHA-256 when the job was made: a job whose file has changed
        since is refused with a message, never run on other weights.
    seed : int
        Random weights (no pretrained file, or a factory's own initialisation) are drawn
        from this seed: the same seed gives bit-identical weights.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU) or a torch device string.
    memory_format : {"contiguous", "channels_last", "auto"}
        Layout of convolution inputs.  ``contiguous`` (the default) gives activations
        bit-identical to a plain forward pass; ``channels_last`` is faster for batches on
        the CPU and equal up to float rounding; ``auto`` is channels-last on the CPU.
    trust_pickle : bool
        The user agreed to run the code in a pickled model file.  Never saved: a job file
        cannot grant it, only the person running the job can.
    """

    spec: str
    weights: str | None = None
    weights_sha256: str | None = None
    seed: int = DEFAULT_SEED
    device: str = "auto"
    memory_format: str = "contiguous"
    trust_pickle: bool = field(default=False, metadata={"saved": False})

    def with_absolute_paths(self) -> ModelSpec:
        """This spec with a ``FILE.py:FACTORY`` file and the weights file as absolute paths,
        so that a saved job or session never runs another folder's file of the same name."""
        spec, weights = self.spec, self.weights
        file, sep, factory = spec.rpartition(":")
        if sep and file.endswith(".py") and not Path(file).is_absolute():
            spec = f"{Path(file).resolve()}:{factory}"
        if weights is not None and not Path(weights).is_absolute():
            weights = str(Path(weights).resolve())
        return replace(self, spec=spec, weights=weights)

    def with_weights_hash(self) -> ModelSpec:
        """This spec with the weights file's current SHA-256 filled in (if there is a file)."""
        if self.weights is None or self.weights_sha256 or not Path(self.weights).is_file():
            return self
        from engine.files.hashing import sha256_of

        return replace(self, weights_sha256=sha256_of(Path(self.weights)))

    def resolved(self) -> ModelSpec:
        """This spec as a job saves it: absolute paths, the weights file checked (it exists and,
        when a hash was taken, is unchanged) and its SHA-256 filled in.  Torch-free."""
        model = self.with_absolute_paths()
        check_weights_file(model)
        return model.with_weights_hash()

    @property
    def label(self) -> str:
        """Short description for messages: the model and where its weights come from."""
        weights = Path(self.weights).name if self.weights else f"seed {self.seed} if random"
        return f"{self.spec} ({weights})"


@dataclass(frozen=True)
class Stimulus:
    """One input the user can choose: an image file or a procedural stimulus.

    Attributes
    ----------
    kind : {"image", "procedural"}
    value : str
        The image path, or a key of :data:`engine.stimuli.procedural.PROCEDURAL`.
    """

    kind: str
    value: str

    @property
    def label(self) -> str:
        """Short name for status messages and tooltips."""
        return Path(self.value).name if self.kind == "image" else self.value


@dataclass
class ModelInfo:
    """What the window needs to know about the model the engine has just opened."""

    spec: str
    name: str
    weights_label: str
    has_random_weights: bool
    source: str
    input_size: tuple[int, int]
    device: str
    anatomy: Any  # engine.anatomy.tree.Anatomy (plain Python)
    weights_file: str | None = None  # the weights file the user asked for, if any
    provenance: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model: ModelSpec | None = None  # how to open it again (weights hash filled in)
    categories: list[str] | None = None  # class names of the output, from torchvision's weights entry

    @property
    def seed(self) -> int | None:
        """The seed of random weights, None when the weights came from a file."""
        return self.model.seed if self.model is not None and self.has_random_weights else None


@dataclass
class Recording:
    """One layer's output for one stimulus, ready to display (what a ``record`` job yields).

    Everything here is plain NumPy and Python, made in the engine thread: the window
    paints the mosaics and reads the values, and runs no torch operator on them.

    Attributes
    ----------
    layer : str
        The layer reference as requested.
    output : ndarray
        The layer's raw output for the stimulus on the host, without the batch dimension,
        in its original shape (what "Save activations" writes).
    input_image : ndarray of uint8, shape (H, W, 3)
        The stimulus after the model's preprocessing, as it would look.
    forward_s : float
        Seconds spent in the (possibly truncated) forward pass.
    stimulus : Stimulus
    conv_weights : ndarray or None
        For a ``Conv2d`` layer a copy of its kernels, ``(out, in, kh, kw)``, float32.
    kind : {"maps", "tokens", "vector"}
        How the output is shown, decided once by :func:`engine.recording.mosaic.to_channels`:
        ``"maps"`` are spatial (C, H, W) maps, ``"tokens"`` a token grid, ``"vector"`` a
        (D,) vector of units.
    values : ndarray of float32
        The display channels on the host: (C, H, W) for maps and token grids, (D,) for a
        vector (hover read-out, unit view, histogram).
    mosaics : dict
        ``{(normalize, symmetric): engine.recording.mosaic.Mosaic}``, the uint8 mosaics for every
        normalisation the panel offers (:data:`engine.recording.mosaic.MOSAIC_VARIANTS`), made on
        the model's device; empty for a vector.
    top_channel : int or None
        The channel with the largest mean output (NaN as 0), shown first in the unit view.
    """

    layer: str
    output: Any
    input_image: Any
    forward_s: float
    stimulus: Stimulus
    conv_weights: Any = None
    done: int = 1
    total: int = 1
    kind: str = "maps"
    values: Any = None
    mosaics: dict = field(default_factory=dict, metadata={"saved": False})  # display only
    top_channel: int | None = None


def check_weights_file(model: ModelSpec) -> None:
    """Refuse a spec whose weights file is missing or has changed since its hash was taken."""
    if model.weights is None:
        return
    from engine.files.hashing import sha256_of

    try:
        digest = sha256_of(model.weights)
    except FileNotFoundError:
        raise UnitscopeError(f"Weights file '{model.weights}' does not exist (any more).") from None
    except OSError as exc:
        raise UnitscopeError(f"Weights file '{model.weights}' could not be read: {exc.strerror or exc}.") from None
    if model.weights_sha256 and digest != model.weights_sha256:
        raise UnitscopeError(
            f"Weights file '{model.weights}' has changed since the job was saved (SHA-256 "
            f"{digest[:12]}…, expected {model.weights_sha256[:12]}…); nothing was run on other weights.")
