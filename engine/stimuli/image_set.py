"""A set of image files as model inputs, decoded in parallel, bad files reported and skipped."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from engine.errors import UnitscopeError
from engine.models.preprocess import Preprocess
from engine.stimuli.images import load_image

log = logging.getLogger(__name__)


class ImageSet(Dataset):
    """Image files preprocessed for one model; a file that cannot be read yields its error."""

    def __init__(self, paths: Sequence[Path], preprocess: Preprocess):
        self.paths = list(paths)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, self.preprocess.image(load_image(self.paths[i])), ""
        except UnitscopeError as exc:
            size = self.preprocess.crop_size
            return i, torch.zeros(3, size, size), str(exc)


def default_workers() -> int:
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def good_batches(
    image_set: ImageSet,
    batch_size: int,
    on_error: Callable[[Path, str], None],
    kept: list[Path],
    workers: int | None = None,
) -> Iterator[torch.Tensor]:
    """Yield batches of the readable images; unreadable ones go to ``on_error``.

    ``kept`` is extended with the path of every image in each batch, in order, just
    before the batch is yielded, so that rows of recorded outputs map back to files.
    """
    workers = default_workers() if workers is None else workers
    loader = DataLoader(image_set, batch_size=batch_size, num_workers=workers,
                        persistent_workers=False, pin_memory=False)
    for indices, tensors, errors in loader:
        good = [row for row, err in enumerate(errors) if not err]
        for row, err in enumerate(errors):
            if err:
                on_error(image_set.paths[int(indices[row])], err)
        if not good:
            continue
        kept.extend(image_set.paths[int(indices[row])] for row in good)
        yield tensors if len(good) == len(errors) else tensors[good]
