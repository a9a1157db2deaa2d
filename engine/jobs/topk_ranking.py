"""The top-k ranking job: the images of a set ranked by several channels of a layer at one
position (what ``unitscope topk`` runs; the window's single-unit view is :mod:`engine.jobs.topk`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("topk_ranking")
@dataclass(frozen=True)
class TopKRanking:
    """The ``k`` highest and lowest responses of each channel, and the images behind them.

    Parameters
    ----------
    layer : str
    channels : tuple of int
        Channels ranked; empty means every channel of the layer.
    y, x : int or None
        Position in the feature map (None: the centre).
    paths : tuple of str
        Image files; unreadable ones are skipped and listed.
    k : int
    batch_size : int
    workers : int or None
        Image decoding processes (None: chosen from the cores; 0: in this thread).
    """

    layer: str
    paths: tuple[str, ...]
    channels: tuple[int, ...] = ()
    y: int | None = None
    x: int | None = None
    k: int = 9
    batch_size: int = 32
    workers: int | None = 0

    def describe(self) -> str:
        return f"Ranking {len(self.paths)} images by {self.layer or 'the output'}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[Ranking]:
        """Yield progress (and the images skipped so far) after every batch; the last
        snapshot holds the rankings."""
        from engine.analyses.topk import topk_stream
        from engine.analyses.units import Unit, output_shape, unit_geometry
        from engine.errors import UnitscopeError
        from engine.stimuli.protocols import ImageFolder

        if self.k < 1:
            raise UnitscopeError("--k must be at least 1.")
        session.recorder.resolve([self.layer])
        shape = output_shape(session.anatomy, self.layer)
        channels = list(self.channels) or list(range(shape[1] if shape else 0))
        if not channels:
            raise UnitscopeError(f"Layer '{self.layer}' has no channels to rank.")
        geometry = unit_geometry(session.anatomy, Unit(self.layer, channels[0], self.y, self.x))
        for c in channels[1:]:
            unit_geometry(session.anatomy, Unit(self.layer, c, self.y, self.x))  # checks the channel
        images = ImageFolder(list(self.paths), self.workers)

        def skipped():
            return [(str(p), why) for p, why in images.skipped]

        ranking = None
        for ranking in topk_stream(session.recorder, self.layer, images, session.preprocess, self.k, channels,
                                   geometry.unit.y, geometry.unit.x, self.batch_size, cancelled):
            done = ranking.n + len(images.skipped)
            if done < len(images):
                yield Ranking(skipped=skipped(), done=done, total=len(images))
        if ranking is None:
            yield Ranking(skipped=skipped(), done=len(images), total=len(images))
            raise UnitscopeError("None of the images could be read; nothing was saved.")
        yield Ranking(channels, geometry.unit.y, geometry.unit.x, list(geometry.box) if geometry.box else None,
                      [[(float(v), int(i)) for v, i in ranking.top(u)] for u in range(len(channels))],
                      [[(float(v), int(i)) for v, i in ranking.bottom(u)] for u in range(len(channels))],
                      [str(p) for p in images.kept], skipped(), len(images), len(images))


@dataclass
class Ranking:
    """Progress of a ranking; the final snapshot holds it.

    Attributes
    ----------
    channels : list of int
    y, x : int
        The position ranked, made concrete.
    rf_box : list of float or None
        The units' receptive field (top, left, bottom, right; inclusive, unclipped).
    top, bottom : list (per channel) of list of (value, image index)
        Highest first and lowest first; an index points into ``image_paths``.
    image_paths : list of str
        The images read, in order.
    skipped : list of (str, str)
        The images that could not be read, each with the message saying why.
    """

    kind: ClassVar[str] = "topk_ranking"

    channels: list[int] = field(default_factory=list)
    y: int | None = None
    x: int | None = None
    rf_box: list[float] | None = None
    top: list = field(default_factory=list)
    bottom: list = field(default_factory=list)
    image_paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: int = 0
    total: int = 0


register(Analysis(
    "topk_ranking",
    "Top images of every channel",
    jobs=(TopKRanking,),
    snapshots=(Ranking,),
    needs=frozenset({"layer", "images"}),
    no_figure="'unitscope topk' writes a folder of crops; 'unitscope figure FOLDER --channel C' draws one channel",
    methods='engine.figures.methods:topk_methods',
    command='topk',
    order=94))
