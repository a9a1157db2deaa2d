"""The open model with everything made for it, and the one place jobs run.

A :class:`Session` owns the model, its anatomy, the recorder on the chosen device and
memory format, the model's preprocessing and a cache of preprocessed inputs.  The window's
engine thread, every command of the command line and ``unitscope run`` open models through
:meth:`Session.open` and run jobs with :meth:`Session.run`, so the same job gives the same
numbers everywhere.
"""

from __future__ import annotations

import dataclasses

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from engine.anatomy.tree import Anatomy, build_anatomy
from engine.errors import UnitscopeError
from engine.models.device import describe, resolve_device
from engine.models.preprocess import Preprocess
from engine.models.provenance import provenance
from engine.models.sources import open_model
from engine.models.zoo import LoadedModel
from engine.recording.mosaic import display_values
from engine.recording.recorder import Recorder
from engine.recording.unit import LayerRef
from engine.session.values import ModelInfo, ModelSpec, Recording, Stimulus
from engine.stimuli.images import load_image
from engine.stimuli.procedural import PROCEDURAL

MAX_CACHED_INPUTS = 32
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def channels_last(memory_format: str, device: str | torch.device) -> bool:
    """Whether ``memory_format`` asks for NHWC convolutions on ``device`` (auto: on the CPU)."""
    if memory_format not in MEMORY_FORMATS:
        raise UnitscopeError(f"Unknown memory format '{memory_format}'; use {', '.join(MEMORY_FORMATS)}.")
    if memory_format == "auto":
        return resolve_device(device).type == "cpu"
    return memory_format == "channels_last"


class Session:
    """An open model and what is made for it; runs jobs.

    Parameters
    ----------
    model : ModelSpec
        How the model was opened (weights hash filled in).
    loaded, anatomy, recorder, preprocess
        The model, its measured anatomy, a recorder on the chosen device and the
        model's own preprocessing.
    hooks
        Forward pre-hook handles to remove when the session closes.
    """

    def __init__(self, model: ModelSpec, loaded: LoadedModel, anatomy: Anatomy, recorder: Recorder,
                 preprocess: Preprocess, hooks: list | None = None):
        self.model, self.loaded, self.anatomy, self.recorder = model, loaded, anatomy, recorder
        self.preprocess, self._hooks = preprocess, list(hooks or [])
        self._modules = dict(loaded.module.named_modules())
        self._inputs: dict[Stimulus, tuple[torch.Tensor, np.ndarray]] = {}

    @classmethod
    def open(cls, model: ModelSpec, interrupt_check: Callable[[nn.Module, tuple], None] | None = None,
             half: bool = False) -> Session:
        """Build or load ``model``, measure its anatomy and make its recorder.

        ``interrupt_check`` runs before every module's forward; raising there ends the
        forward pass, which is how the window stops a stale request between two modules.
        """
        model = model.resolved()
        loaded = open_model(model.spec, model.weights, trust_pickle=model.trust_pickle, seed=model.seed)
        anatomy = build_anatomy(loaded.module, loaded.input_size)
        recorder = Recorder(loaded.module, model.device, half,
                            channels_last=channels_last(model.memory_format, model.device))
        hooks = []
        if interrupt_check is not None:
            for module in loaded.module.modules():
                try:
                    hooks.append(module.register_forward_pre_hook(interrupt_check))
                except Exception:  # noqa: BLE001 - TorchScript modules take no Python hooks
                    break
        return cls(model, loaded, anatomy, recorder, Preprocess(loaded), hooks)

    def run(self, job, cancelled: Callable[[], bool] = lambda: False) -> Iterator:
        """Run ``job`` on this session: its snapshots, one per batch (the last is the result).

        Its values are checked first (:mod:`engine.session.checks`), wherever it came from."""
        from engine.session import checks

        if dataclasses.is_dataclass(job):
            checks.job(job)
        return job.run(self, cancelled)

    def result(self, job, cancelled: Callable[[], bool] = lambda: False, progress=None):
        """Run ``job`` to the end and return its last snapshot; ``progress(done, total)`` after each."""
        snapshot = None
        for snapshot in self.run(job, cancelled):
            if progress is not None:
                progress(snapshot.done, snapshot.total)
        if snapshot is None:
            raise UnitscopeError(f"The {job.kind} job produced no result.")
        return snapshot

    def provenance(self, **extra) -> dict:
        """Where a result made in this session comes from (model, weights, seed, device, layout)."""
        return provenance(self.loaded, self.preprocess.describe(), device=str(self.recorder.device),
                          memory_format="channels_last" if self.recorder.channels_last else "contiguous",
                          **extra)

    def hooks_left(self) -> list[str]:
        """Names of modules with forward hooks or pre-hooks other than the interrupt hooks."""
        own = {hook.id for hook in self._hooks}
        return [name for name, module in self._modules.items()
                if getattr(module, "_forward_hooks", None)
                or set(getattr(module, "_forward_pre_hooks", {})) - own]

    def close(self) -> None:
        """Remove the interrupt hooks, so the module is left as it was built."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def info(self) -> ModelInfo:
        """What the window needs to know about this model (plain Python, safe to pass on)."""
        m = self.loaded
        return ModelInfo(spec=self.model.spec, name=m.name, weights_label=m.weights_label,
                         has_random_weights=m.has_random_weights, source=m.source,
                         input_size=m.input_size, device=describe(self.recorder.device),
                         anatomy=self.anatomy, weights_file=self.model.weights,
                         provenance=self.provenance(), notes=[*m.notes, *self.anatomy.notes],
                         model=self.model, categories=self.categories())

    def categories(self) -> list[str] | None:
        """The class names of the model's output (its torchvision weights entry's
        ``meta["categories"]``), or None for a model without them."""
        meta = getattr(self.loaded.weights_entry, "meta", None) or {}
        names = meta.get("categories")
        return [str(n) for n in names] if names else None

    def stimulus(self, stimulus: Stimulus) -> tuple[torch.Tensor, np.ndarray]:
        """The normalised input tensor (3, S, S) and its display image, cached per model."""
        if stimulus not in self._inputs:
            if stimulus.kind == "image":
                tensor = self.preprocess.image(load_image(stimulus.value))
            elif stimulus.value in PROCEDURAL:
                tensor = self.preprocess.array(PROCEDURAL[stimulus.value](self.preprocess.crop_size))
            else:
                raise UnitscopeError(f"Unknown stimulus '{stimulus.value}'.")
            if len(self._inputs) >= MAX_CACHED_INPUTS:
                self._inputs.pop(next(iter(self._inputs)))
            self._inputs[stimulus] = (tensor, self.preprocess.to_display(tensor))
        return self._inputs[stimulus]

    def conv_weights(self, layer: str) -> np.ndarray | None:
        """A float32 copy of the kernels (out, in, kh, kw) of a ``Conv2d`` layer, else None.

        A copy, so that the window never reads the live module's parameters.
        """
        module = self._modules.get(LayerRef.parse(layer).name)
        if not isinstance(module, nn.Conv2d):
            return None
        return module.weight.detach().to("cpu", torch.float32, copy=True).numpy()

    def record(self, layer: str, stimulus: Stimulus, cancelled: Callable[[], bool]) -> Recording:
        """Record ``layer`` for one stimulus and make everything the window shows of it.

        The mosaics (every normalisation the panel offers), the channel with the largest
        mean and the display values are made here, on the model's device, by
        :func:`engine.recording.mosaic.display_values`; the :class:`Recording` holds only NumPy data.
        """
        tensor, display = self.stimulus(stimulus)
        return self._record_input(layer, tensor, display, stimulus, cancelled)

    def record_frame(self, layer: str, frame: np.ndarray, label: str, cancelled: Callable[[], bool]) -> Recording:
        """Record ``layer`` for one video frame ((H, W, 3) uint8), preprocessed like an image file.

        Frames are not cached (each is seen once); the recording's stimulus is
        ``Stimulus("frame", label)``.
        """
        from PIL import Image

        tensor = self.preprocess.image(Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8)).convert("RGB"))
        return self._record_input(layer, tensor, self.preprocess.to_display(tensor), Stimulus("frame", label),
                                  cancelled)

    def _record_input(self, layer: str, tensor, display: np.ndarray, stimulus: Stimulus,
                      cancelled: Callable[[], bool]) -> Recording:
        with torch.inference_mode():
            batches = self.recorder.record([layer], [tensor[None]], cancelled=cancelled, to_cpu=False)
            recorded = next(iter(batches))
            output = recorded.outputs[layer][0]
            host = output.cpu()
            shown = display_values(output, host=host)
        return Recording(layer=layer, output=host.numpy(), input_image=display,
                         forward_s=recorded.forward_s, stimulus=stimulus,
                         conv_weights=self.conv_weights(layer), kind=shown.kind, values=shown.values,
                         mosaics=shown.mosaics, top_channel=shown.top_channel)
