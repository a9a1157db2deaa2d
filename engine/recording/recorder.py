"""Recording the outputs of chosen modules, batch by batch, with early exit.

A layer is named by its dotted module path, optionally with ``#k`` for the k-th call
(1-based) of a module that is called more than once in a forward pass; a plain name
means the first call.  Outputs are copied at hook time, so in-place operations that
run later in the pass (``ReLU(inplace=True)``) cannot change what was recorded, and
the forward pass stops as soon as every requested output is in hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.anatomy.tree import channels_first, first_tensor
from engine.errors import LayerNotCalled, UnitscopeError
from engine.models.device import resolve_device, synchronize
from engine.models.torchscript import ScriptTaps, is_script_module
from engine.models.zoo import suggest
from engine.recording.unit import LayerRef  # noqa: F401 - the recorder's layer names

log = logging.getLogger(__name__)


class _EnoughRecorded(Exception):
    """Raised from a hook to end the forward pass once every output is recorded."""


class Cancelled(Exception):
    """The caller's cancel check said stop between two batches."""


@dataclass
class RecordedBatch:
    """The recorded outputs of one batch of stimuli."""

    index: int  # batch number, from 0
    start: int  # index of the batch's first stimulus in the whole set
    outputs: dict[str, torch.Tensor]  # layer (as the caller named it) -> output copy
    forward_s: float = 0.0  # time spent in the (possibly truncated) forward pass
    calls_seen: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return next(iter(self.outputs.values())).shape[0] if self.outputs else 0


class Recorder:
    """Records chosen module outputs of one model on one device.

    Parameters
    ----------
    model
        The network; it is moved to ``device`` and put in eval mode.
    device
        ``"auto"`` (CUDA, then MPS, then CPU), or any torch device string.
    half
        Run under float16 autocast on a GPU; outputs are returned as float32.
    channels_last
        Run convolutions on NHWC tensors (weights and inputs in ``torch.channels_last``),
        which oneDNN runs about 1.5 times faster on a CPU for batches. Values then differ
        from the NCHW pass by float rounding only; outputs are returned NCHW-contiguous.
        Ignored for TorchScript models and models without ``Conv2d``.

    TorchScript models take no Python hooks: their layers are recorded from outputs added
    to a copy of their forward graph (:mod:`engine.models.torchscript`).
    """

    def __init__(self, model: nn.Module, device: str = "auto", half: bool = False,
                 channels_last: bool = False):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.half = half and self.device.type in ("cuda", "mps")
        self._taps = ScriptTaps(self.model) if is_script_module(self.model) else None
        self.channels_last = (channels_last and self._taps is None
                              and any(isinstance(m, nn.Conv2d) for m in model.modules()))
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._modules = dict(model.named_modules())

    def resolve(self, layers: Iterable[str | LayerRef]) -> list[LayerRef]:
        """Parse and check layer names against the model; clear error for unknown ones."""
        refs = [layer if isinstance(layer, LayerRef) else LayerRef.parse(layer) for layer in layers]
        if not refs:
            raise UnitscopeError("No layer to record was given.")
        for ref in refs:
            if ref.name not in self._modules:
                raise UnitscopeError(f"Unknown layer '{ref.name}'.{suggest(ref.name, self._modules)}")
        return refs

    def record(
        self,
        layers: Iterable[str | LayerRef],
        batches: Iterable[torch.Tensor],
        cancelled: Callable[[], bool] = lambda: False,
        to_cpu: bool = True,
    ) -> Iterator[RecordedBatch]:
        """Yield the requested outputs for each batch of preprocessed stimuli.

        ``cancelled`` is checked before every batch; when it returns True the generator
        raises :class:`Cancelled`.  Hooks are removed whatever happens.  Only one batch's
        outputs are held at a time.
        """
        layers = [str(layer) for layer in layers]
        refs = self.resolve(layers)
        labelled = list(zip(layers, refs))
        start = 0
        for index, batch in enumerate(batches):
            if cancelled():
                raise Cancelled()
            outputs, calls_seen, seconds = self._record_batch(labelled, batch)
            if to_cpu:
                outputs = {k: v.cpu() for k, v in outputs.items()}
            yield RecordedBatch(index, start, outputs, seconds, calls_seen)
            start += batch.shape[0]

    def record_one(self, layers, batch: torch.Tensor) -> RecordedBatch:
        """Record one batch (a convenience over :meth:`record`)."""
        return next(self.record(layers, [batch]))

    def _record_batch(self, labelled: list[tuple[str, LayerRef]], batch: torch.Tensor):
        # module name -> call number -> the labels the caller asked for it under
        wanted: dict[str, dict[int, list[str]]] = {}
        for label, ref in labelled:
            wanted.setdefault(ref.name, {}).setdefault(ref.call, []).append(label)
        outputs: dict[str, torch.Tensor] = {}
        calls: dict[str, int] = {name: 0 for name in wanted}
        n_wanted = len({label for label, _ in labelled})

        def hook_for(name: str):
            def hook(module, inputs, output):
                calls[name] += 1
                labels = wanted[name].get(calls[name])
                if not labels:
                    return
                tensor = first_tensor(output)
                if tensor is None:
                    raise UnitscopeError(f"Layer '{labels[0]}' returned no tensor to record.")
                # Copy now: later in-place ops in the pass would change a mere reference.
                first = channels_first(self.model, name, calls[name], tensor)
                layout = memory_format if first is tensor else torch.contiguous_format
                copy = first.detach().float().clone(memory_format=layout)
                for label in labels:
                    outputs[label] = copy
                if len(outputs) == n_wanted:
                    raise _EnoughRecorded()

            return hook

        memory_format = torch.contiguous_format if self.channels_last else torch.preserve_format
        if self._taps is not None:
            def run(batch):
                taps = self._taps.outputs([(ref.name, ref.call) for _, ref in labelled], batch)
                for label, ref in labelled:
                    outputs[label] = taps[(ref.name, ref.call)].detach().float()
                    calls[ref.name] = max(calls[ref.name], self._taps.calls(ref.name))
            handles = []
        else:
            run = self.model
            handles = [self._modules[name].register_forward_hook(hook_for(name)) for name in wanted]
        try:
            seconds = self._forward(run, batch)
        finally:
            for handle in handles:
                handle.remove()
        missing = [(label, ref) for label, ref in labelled if label not in outputs]
        if missing:
            detail = ", ".join(f"'{label}' (called {calls[ref.name]} times)" for label, ref in missing)
            raise LayerNotCalled(f"Layer {detail} did not produce that call in a forward pass.")
        return outputs, dict(calls), seconds

    def _forward(self, run: Callable[[torch.Tensor], object], batch: torch.Tensor) -> float:
        """Run ``run(batch)`` on the device without autograd; the seconds it took.

        Failures of the model become one line (:class:`UnitscopeError`).
        """
        autocast = torch.autocast(self.device.type, dtype=torch.float16) if self.half else nullcontext()
        with torch.inference_mode(), autocast:
            batch = batch.to(self.device, non_blocking=True)
            if self.channels_last and batch.ndim == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            t0 = time.perf_counter()
            try:
                run(batch)
            except _EnoughRecorded:
                pass
            except UnitscopeError:
                raise
            except torch.OutOfMemoryError:
                also = " or the CPU" if self.device.type != "cpu" else ""
                raise UnitscopeError(
                    f"Out of memory on {self.device} recording a batch of {batch.shape[0]} "
                    f"{tuple(batch.shape[1:])} inputs; try a smaller batch size{also}."
                ) from None
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise UnitscopeError(
                    f"The model's forward pass failed: {type(exc).__name__}: {first}"
                ) from exc
            synchronize(self.device)
            return time.perf_counter() - t0
