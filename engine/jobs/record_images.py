"""The record-images job: layer outputs for a set of image files (what ``unitscope record`` runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("record_images")
@dataclass(frozen=True)
class RecordImages:
    """Record ``layers`` (``NAME`` or ``NAME#k``) for every readable image in ``paths``.

    Parameters
    ----------
    layers : tuple of str
    paths : tuple of str
        Image files, in row order; unreadable ones are skipped and listed.
    batch_size : int
    workers : int or None
        Image decoding processes (None: chosen from the cores; 0: in this thread).
        How images are decoded, not what is recorded.
    """

    layers: tuple[str, ...]
    paths: tuple[str, ...]
    batch_size: int = 32
    workers: int | None = 0

    def describe(self) -> str:
        return f"Recording {', '.join(self.layers)} for {len(self.paths)} images…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[RecordingSet]:
        """Yield progress (with the images skipped so far) after every batch; the last snapshot
        holds every layer's outputs."""
        from pathlib import Path

        import numpy as np

        from engine.errors import LayerNotCalled, UnitscopeError
        from engine.recording.recorder import Cancelled
        from engine.stimuli.image_set import ImageSet, good_batches

        session.recorder.resolve(list(self.layers))
        kept: list = []
        skipped: list[tuple[str, str]] = []
        recorded_paths: list[str] = []
        chunks: dict[str, list] = {layer: [] for layer in self.layers}
        batches = good_batches(ImageSet([Path(p) for p in self.paths], session.preprocess), self.batch_size,
                               lambda path, message: skipped.append((str(path), message)), kept, self.workers)
        for batch in batches:
            if cancelled():
                raise Cancelled()
            paths = [str(p) for p in kept[len(kept) - batch.shape[0]:]]
            try:
                parts = [(paths, session.recorder.record_one(list(self.layers), batch).outputs)]
            except LayerNotCalled:  # the layer runs for some inputs only: one image at a time
                parts = []
                for row, path in enumerate(paths):
                    try:
                        parts.append(([path], session.recorder.record_one(list(self.layers),
                                                                          batch[row:row + 1]).outputs))
                    except LayerNotCalled as exc:
                        skipped.append((path, f"{Path(path).name}: {exc}"))
            for part_paths, outputs in parts:
                recorded_paths.extend(part_paths)
                for layer, out in outputs.items():
                    chunks[layer].append(out.numpy())
            done = len(recorded_paths) + len(skipped)
            if done < len(self.paths):
                yield RecordingSet(skipped=list(skipped), done=done, total=len(self.paths))
        if not recorded_paths:
            yield RecordingSet(skipped=list(skipped), done=len(self.paths), total=len(self.paths))
            if kept:
                raise UnitscopeError(f"No image produced {', '.join(self.layers)}; nothing was saved.")
            raise UnitscopeError("None of the images could be read; nothing was saved.")
        yield RecordingSet({layer: np.concatenate(parts) for layer, parts in chunks.items()},
                           recorded_paths, skipped, len(self.paths), len(self.paths))


@dataclass
class RecordingSet:
    """Progress of a recording; the final snapshot holds the outputs.

    Attributes
    ----------
    outputs : dict of str to ndarray
        Layer reference -> outputs of the images kept, first axis in ``image_paths`` order.
    image_paths : list of str
    skipped : list of (str, str)
        Images that could not be read, or for which a layer did not run (a model whose
        path depends on its input), each with the message saying why.
    """

    kind: ClassVar[str] = "record_images"

    outputs: dict = field(default_factory=dict)
    image_paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: int = 0
    total: int = 0


register(Analysis(
    "record_images",
    "Recorded activations",
    jobs=(RecordImages,),
    snapshots=(RecordingSet,),
    needs=frozenset({"layer", "images"}),
    no_figure="a recording of many images is drawn from its activations file ('unitscope figure acts.npz --image N')",
    methods='engine.figures.methods:record_methods',
    command='record',
    order=90))
