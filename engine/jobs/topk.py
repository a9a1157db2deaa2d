"""The top-images job: the images of a set ranked by one unit, the k best and worst as receptive-field crops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("topk")
@dataclass(frozen=True)
class TopImages:
    """Rank the images of a stimulus set by one unit's response; keep the k best and worst.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.analyses.units.Unit`); ``y``/``x`` None means the map centre.
    paths : tuple of str
        The image files ranked.
    k : int
        Images kept at each end.
    batch_size : int
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    paths: tuple[str, ...] = ()
    k: int = 9
    batch_size: int = 16


    @property
    def unit_label(self) -> str:
        return Unit(self.layer, self.channel, self.y, self.x).label

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Ranking {len(self.paths)} images by {self.unit_label}…"

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[TopImagesSnapshot]:
        """Rank the images; yield the top and bottom crops after every batch."""
        from engine.analyses.topk import image_crop, topk_stream
        from engine.analyses.units import unit_geometry
        from engine.stimuli.protocols import ImageFolder

        geometry = unit_geometry(session.anatomy, Unit(self.layer, self.channel, self.y, self.x))
        unit = geometry.unit
        images = ImageFolder(list(self.paths), workers=0)  # no forking from a Qt app's thread
        crops: dict[int, np.ndarray] = {}  # stimulus index -> crop, made once per image

        def entries(pairs):
            for _, i in pairs:
                if i not in crops:
                    crops[i] = image_crop(images.kept[i], session.preprocess, geometry.box)
            return (np.array([v for v, _ in pairs], dtype=float), [crops[i] for _, i in pairs],
                    [images.kept[i].name for _, i in pairs])

        for ranking in topk_stream(session.recorder, self.layer, images, session.preprocess, self.k,
                                   channels=[unit.channel], y=unit.y, x=unit.x,
                                   batch_size=self.batch_size, cancelled=cancelled):
            top, bottom = entries(ranking.top()), entries(ranking.bottom())
            yield TopImagesSnapshot(unit.label, geometry.box, *top, *bottom, done=ranking.n,
                                    total=len(images),
                                    skipped=[f"{p.name}: {why}" for p, why in images.skipped])


@dataclass
class TopImagesSnapshot:
    """The top and bottom images so far, as receptive-field crops.

    Attributes
    ----------
    unit_label : str
        The unit with its position made concrete.
    box : tuple of float or None
        The unit's receptive field (top, left, bottom, right; inclusive input pixels,
        unclipped); None when the unit has no spatial field (crops are whole images).
    top_values, bottom_values : ndarray
        Responses, highest first and lowest first.
    top_crops, bottom_crops : list of ndarray
        uint8 ``(h, w, 3)`` crops of the preprocessed images, one per value.
    top_names, bottom_names : list of str
        The image file names, one per value.
    done, total : int
    skipped : list of str
    """

    kind: ClassVar[str] = "topk"

    unit_label: str
    box: tuple[float, float, float, float] | None
    top_values: np.ndarray
    top_crops: list[np.ndarray]
    top_names: list[str]
    bottom_values: np.ndarray
    bottom_crops: list[np.ndarray]
    bottom_names: list[str]
    done: int
    total: int
    skipped: list[str] = field(default_factory=list)


register(Analysis(
    "topk",
    "Top images",
    jobs=(TopImages,),
    snapshots=(TopImagesSnapshot,),
    needs=frozenset({"unit", "images"}),
    view='gui.analyses.topk_view:TopImagesView',
    shortcut='Ctrl+Shift+K',
    figure='engine.figures.sources:topk_figure',
    methods='engine.figures.methods:topk_methods',
    command='topk',
    order=30))
