"""The images that drive a unit most and least, found in one streaming pass.

:class:`TopK` keeps, for each unit, only the ``k`` highest and ``k`` lowest responses seen
so far (with the stimulus index of each), merging every new batch into them: memory is
``2 k`` entries per unit whatever the number of images, and the result equals a full
sort of all responses.  Ties are broken by the stimulus index (earlier first), and NaN
responses are never ranked.

Crops show the receptive field of the unit: the theoretical box of
:func:`engine.analyses.units.unit_geometry` cut from the preprocessed image, padded with mid-grey
where the box runs past the image edge so that every crop has the field's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from engine.analyses.units import channel_responses
from engine.errors import UnitscopeError
from engine.recording.recorder import Recorder
from engine.stimuli.images import load_image
from engine.stimuli.protocols import ImageFolder, record_stimuli

GREY = 128


class TopK:
    """Running top-k and bottom-k responses of ``n_units`` units.

    Parameters
    ----------
    k : int
        How many stimuli to keep at each end.
    n_units : int
        Units updated together: :meth:`update` takes responses ``(B, n_units)``.
    """

    def __init__(self, k: int, n_units: int = 1):
        if k < 1:
            raise UnitscopeError("k must be at least 1.")
        self.k = int(k)
        self.n = 0
        empty = (np.zeros((n_units, 0)), np.zeros((n_units, 0), dtype=np.int64),
                 np.zeros((n_units, 0), dtype=bool))
        self._top = empty
        self._bottom = empty

    @property
    def n_units(self) -> int:
        return self._top[0].shape[0]

    def _merge(self, kept, values, indices, valid, descending: bool):
        v = np.concatenate([kept[0], values], axis=1)
        i = np.concatenate([kept[1], indices], axis=1)
        ok = np.concatenate([kept[2], valid], axis=1)
        key = np.where(ok, -v if descending else v, 0.0)
        order = np.lexsort((i, key, ~ok), axis=-1)[:, : self.k]
        take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        return take(v), take(i), take(ok)

    def update(self, responses: np.ndarray, indices: Sequence[int]) -> None:
        """Merge a batch: responses ``(B, n_units)`` of stimuli ``indices`` ``(B,)``."""
        responses = np.asarray(responses, dtype=float).reshape(len(indices), self.n_units).T
        idx = np.broadcast_to(np.asarray(indices, dtype=np.int64), responses.shape)
        valid = ~np.isnan(responses)
        values = np.where(valid, responses, 0.0)
        self._top = self._merge(self._top, values, idx, valid, descending=True)
        self._bottom = self._merge(self._bottom, values, idx, valid, descending=False)
        self.n += len(indices)

    @staticmethod
    def _entries(kept, unit: int) -> list[tuple[float, int]]:
        v, i, ok = (a[unit] for a in kept)
        return [(float(v[j]), int(i[j])) for j in range(v.size) if ok[j]]

    def top(self, unit: int = 0) -> list[tuple[float, int]]:
        """``(response, stimulus index)`` pairs, highest response first."""
        return self._entries(self._top, unit)

    def bottom(self, unit: int = 0) -> list[tuple[float, int]]:
        """``(response, stimulus index)`` pairs, lowest response first."""
        return self._entries(self._bottom, unit)


def topk_stream(recorder: Recorder, layer: str, images: ImageFolder, preprocess, k: int = 9,
                channels: Sequence[int] | None = None, y: int | None = None, x: int | None = None,
                batch_size: int = 32, cancelled: Callable[[], bool] = lambda: False,
                ) -> Iterator[TopK]:
    """Stream an image folder and yield the running :class:`TopK` after every batch.

    Parameters
    ----------
    recorder : Recorder
    layer : str
        The layer of the units.
    images : ImageFolder
        The images; stimulus index ``i`` is ``images.kept[i]``.
    preprocess : engine.models.preprocess.Preprocess
    k : int
    channels : sequence of int, optional
        The units' channels; every channel of the layer if None (unit ``u`` is then
        channel ``u``).
    y, x : int, optional
        The units' position; the map centre if None.
    batch_size : int
    cancelled : callable
        Checked between batches; raises :class:`engine.recording.recorder.Cancelled`.
    """
    ranking: TopK | None = None
    for batch, recorded in record_stimuli(recorder, [layer], images, preprocess, batch_size,
                                          cancelled):
        responses = channel_responses(recorded.outputs[layer], y, x, channels, layer)
        if ranking is None:
            ranking = TopK(k, responses.shape[1])
        ranking.update(responses.double().numpy(), np.arange(batch.start, batch.start + batch.size))
        yield ranking


def rf_crop(image: np.ndarray, box: tuple[float, float, float, float] | None,
            fill: int = GREY) -> np.ndarray:
    """Cut the inclusive ``box`` (top, left, bottom, right) out of an ``(H, W, 3)`` image.

    Parts of the box outside the image are filled with ``fill``; a fractional box is
    widened to whole pixels.  ``box=None`` (a unit without a spatial field) returns the
    whole image.
    """
    image = np.asarray(image)
    if box is None:
        return image.copy()
    top, left = math.floor(box[0]), math.floor(box[1])
    bottom, right = math.ceil(box[2]), math.ceil(box[3])
    out = np.full((bottom - top + 1, right - left + 1, *image.shape[2:]), fill, dtype=image.dtype)
    h, w = image.shape[:2]
    y0, y1 = max(top, 0), min(bottom + 1, h)
    x0, x1 = max(left, 0), min(right + 1, w)
    if y0 < y1 and x0 < x1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def image_crop(path, preprocess, box) -> np.ndarray:
    """The receptive-field crop (uint8 ``(h, w, 3)``) of an image file as the model sees it."""
    return rf_crop(preprocess.to_display(preprocess.image(load_image(path))), box)
