"""The stimulus of every response row as model input: an image file matched by name, or a
grating drawn from its label (:mod:`engine.neural.gratings`) at the model's input size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.neural.gratings import EXAMPLE, grating_table, gratings_of
from engine.neural.responses import NeuralResponses, match_images, some_names


class StimulusRows:
    """Which rows are images (and their files) and which are gratings (and their parameters).

    Parameters
    ----------
    data : NeuralResponses
    images : sequence of path
        Image files for the rows that are not grating labels (may be empty when all are).

    Attributes
    ----------
    gratings : ndarray (S, 4)
        :func:`engine.neural.gratings.grating_table`: NaN rows for images.
    image_rows, grating_rows : list of int
    paths : list of Path
        The file of each image row, in ``image_rows`` order.
    """

    def __init__(self, data: NeuralResponses, images: Sequence[str | Path]):
        self._label(data.stimuli)
        if self.image_rows and not images:
            names = [data.stimuli[i] for i in self.image_rows]
            raise UnitscopeError(f"{len(names)} stimulus(es) are not grating labels and no images were given: "
                                 f"{some_names(names)}. Give their image files (--images; Images… in the Brain view), "
                                 f"or name gratings by their parameters, e.g. '{EXAMPLE}'.")
        if self.image_rows:
            self.paths = match_images(data.subset(self.image_rows), images)

    @classmethod
    def of_rows(cls, stimuli: Sequence[str], image_paths: Sequence[str]) -> StimulusRows:
        """The rows as :meth:`image_paths` gave them (what a cluster job stores): each row's
        stimulus name and its image file ("" for a grating), without the responses."""
        rows = cls.__new__(cls)
        rows._label(stimuli)
        rows.paths = [Path(image_paths[i]) for i in rows.image_rows]
        return rows

    def _label(self, stimuli: Sequence[str]) -> None:
        labels = gratings_of(stimuli)  # a bad label is refused here, with its reason
        self.labels = labels
        self.gratings = grating_table(labels)
        self.image_rows = [i for i, g in enumerate(labels) if g is None]
        self.grating_rows = [i for i, g in enumerate(labels) if g is not None]
        self.paths: list[Path] = []

    def __len__(self) -> int:
        return len(self.image_rows) + len(self.grating_rows)

    def image_paths(self) -> list[str]:
        """The file of every row ("" for a grating)."""
        out = [""] * len(self)
        for row, path in zip(self.image_rows, self.paths):
            out[row] = str(path)
        return out

    def row_of_recorded(self) -> np.ndarray:
        """Indices that put what :meth:`batches` gave (images first, then gratings) in row order."""
        return np.argsort(np.array(self.image_rows + self.grating_rows, dtype=np.int64), kind="stable")

    def batches(self, preprocess, batch_size: int = 32, workers: int | None = 0) -> Iterator:
        """Model inputs ``(B, 3, H, W)``: the image rows' files, then the gratings drawn at the
        input size (normalised as :meth:`engine.models.preprocess.Preprocess.array` does for every
        procedural stimulus); an image that cannot be read stops it with one line."""
        import torch

        from engine.stimuli.image_set import ImageSet, good_batches

        if self.paths:
            skipped: list[tuple[str, str]] = []
            for batch in good_batches(ImageSet(self.paths, preprocess), batch_size,
                                      lambda path, message: skipped.append((str(path), message)), [], workers):
                _refuse(skipped)
                yield batch
            _refuse(skipped)
        size = preprocess.crop_size
        for start in range(0, len(self.grating_rows), batch_size):
            rows = self.grating_rows[start:start + batch_size]
            yield torch.stack([preprocess.array(self.labels[i].image(size)) for i in rows])


def _refuse(skipped: list[tuple[str, str]]) -> None:
    if skipped:
        raise UnitscopeError(f"Image '{Path(skipped[0][0]).name}' of a stimulus could not be read: {skipped[0][1]}")
