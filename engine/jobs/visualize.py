"""The visualisation job: the image a unit wants (:mod:`engine.analyses.feature_vis`), live."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("visualize")
@dataclass(frozen=True)
class Visualize:
    """Optimise an image that maximises a channel, a unit or a direction of a layer.

    Parameters
    ----------
    layer : str
    channel : int or None
        The channel (None with a ``direction``).
    y, x : int or None
        A single unit of the channel's map; None: the channel's mean over the map.
    direction : tuple of float or None
        One weight per channel: maximise the mean dot product with the layer's vectors.
    steps, lr, seed : int, float, int
        Adam steps, learning rate, seed of the initial spectrum and the transforms.
    size : int or None
        Image side in pixels (None: the model's input size).
    images, diversity : int, float
        Images optimised together and the weight of the diversity term.
    every : int
        Steps between snapshots.
    compare : tuple of (kind, value)
        Inputs (:class:`engine.session.values.Stimulus` fields) whose best activation
        the final one is shown next to.
    """

    layer: str
    channel: int | None = 0
    y: int | None = None
    x: int | None = None
    direction: tuple[float, ...] | None = None
    steps: int = 256
    lr: float = 0.05
    seed: int = 0
    size: int | None = None
    images: int = 1
    diversity: float = 0.0
    every: int = 8
    compare: tuple[tuple[str, str], ...] = ()

    @property
    def objective(self):
        from engine.analyses.feature_vis import Objective

        return Objective(self.layer, self.channel, self.y, self.x, self.direction)

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Visualising {self.objective.label} ({self.steps} steps)…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[VisualizationSnapshot]:
        """Yield the image every ``every`` steps; the last snapshot holds its activation."""
        import torch

        from engine.analyses.feature_vis import objective_of, visualize
        from engine.session.values import Stimulus

        objective = self.objective
        model, device = session.recorder.model, session.recorder.device
        side = int(self.size or session.preprocess.crop_size)
        pp = session.preprocess
        mean, std = pp.mean.flatten().tolist(), pp.std.flatten().tolist()
        best, best_label = None, None
        session.recorder.resolve([self.layer])
        check_memory(self.images, side, device)  # before anything of that size is allocated
        if self.compare:
            with torch.no_grad():
                for kind, value in self.compare:
                    tensor, _ = session.stimulus(Stimulus(kind, value))
                    here = float(objective_of(model, objective, tensor[None].to(device))[0])
                    if best is None or here > best:
                        best, best_label = here, Stimulus(kind, value).label
        label = objective.label
        for step in visualize(model, objective, (side, side), mean, std, steps=self.steps, lr=self.lr,
                              seed=self.seed, n_images=self.images, diversity=self.diversity,
                              every=self.every, device=device, cancelled=cancelled):
            yield VisualizationSnapshot(label, step.images, step.loss, step.step, step.steps,
                                        None if step.activation is None else step.activation.tolist(),
                                        best, best_label)


#: Bytes per image pixel channel while optimising: the image, its gradient, Adam's two moments,
#: the transformed copy and the first layers' activations (a generous rough count of float32s).
BYTES_PER_VALUE = 4 * 16


def available_memory(device) -> int | None:
    """Bytes free for tensors on ``device`` (the GPU's free memory, else the system's available RAM)."""
    import torch

    try:
        if getattr(device, "type", str(device)) == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, RuntimeError, IndexError):
        return None
    return None


def check_memory(images: int, side: int, device) -> None:
    """Refuse ``images`` images of ``side`` pixels that would not fit in memory, naming the size."""
    from engine.errors import UnitscopeError
    from engine.files.reading import size_text

    need = images * 3 * side * side * BYTES_PER_VALUE
    free = available_memory(device)
    if free is not None and need > free:
        raise UnitscopeError(f"{images:,} images of {side} x {side} pixels need about {size_text(need)} while "
                             f"they are optimised; {size_text(free)} is free. Ask for fewer images or a smaller size.")


@dataclass
class VisualizationSnapshot:
    """The images so far.

    Attributes
    ----------
    label : str
        What is maximised (``layer[c]``, ``layer[c](y,x)`` or ``layer direction``).
    images : ndarray
        ``(N, H, W, 3)`` float32 in [0, 1].
    loss : float
        The last step's loss (minus the objective, plus any diversity term).
    done, total : int
        Steps taken and to take.
    activation : list of float or None
        The objective on each final image (the last snapshot only).
    best_input, best_input_label : float or None, str or None
        The largest objective over the compared inputs, and which input gave it.
    """

    kind: ClassVar[str] = "visualize"

    label: str
    images: np.ndarray
    loss: float
    done: int
    total: int
    activation: list[float] | None = None
    best_input: float | None = None
    best_input_label: str | None = field(default=None)


register(Analysis(
    "visualize",
    "Visualise",
    jobs=(Visualize,),
    snapshots=(VisualizationSnapshot,),
    needs=frozenset({"unit"}),
    view='gui.analyses.visualize_view:VisualizeView',
    shortcut='Ctrl+Shift+V',
    figure='engine.figures.sources:visualize_figure',
    methods='engine.figures.methods:visualize_methods',
    command='visualize',
    order=60))
