"""The RDM job: one layer's representational dissimilarity matrix over an image set.

What ``unitscope rdm`` runs: 1 - Pearson r between the population vectors of every pair
of images, with the layer's participation ratio and the variance explained by its first
principal components.  The summary is computed once, after the last batch, so that large
image sets cost one decomposition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind

N_COMPONENTS = 10


@job_kind("rdm")
@dataclass(frozen=True)
class LayerRDM:
    """The RDM of ``layer`` over the images in ``paths``.

    Parameters
    ----------
    layer : str
    paths : tuple of str
        Image files, in row order (unreadable ones are skipped and listed).
    view : {"flat", "channels", "centre"}
        Population vector (:func:`engine.analyses.population.population_vectors`).
    batch_size : int
    workers : int or None
        Image decoding processes (None: chosen from the cores; 0: in this thread).
        How images are decoded, not what is computed.
    """

    layer: str
    paths: tuple[str, ...]
    view: str = "flat"
    batch_size: int = 32
    workers: int | None = 0

    def describe(self) -> str:
        return f"RDM of {self.layer or 'the output'} over {len(self.paths)} images…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[RDMSnapshot]:
        """Yield progress after every batch; the last snapshot holds the RDM and its summary."""
        from engine.analyses.population import population_stream
        from engine.errors import UnitscopeError
        from engine.stimuli.protocols import ImageFolder

        session.recorder.resolve([self.layer])
        images = ImageFolder(list(self.paths), self.workers)
        state = None
        for state in population_stream(session.recorder, self.layer, images, session.preprocess, self.view,
                                       batch_size=self.batch_size, cancelled=cancelled):
            if state.n + len(images.skipped) < len(images):
                yield RDMSnapshot(self.layer, self.view, done=state.n + len(images.skipped), total=len(images))
        if state is None or state.rdm.n == 0:
            raise UnitscopeError("None of the images could be read; nothing was saved.")
        pca = state.pca(N_COMPONENTS)
        yield RDMSnapshot(self.layer, self.view, state.rdm.rdm.copy(), int(state.rdm.rows.shape[1]),
                          state.participation_ratio(), [float(v) for v in pca.explained_variance_ratio],
                          [str(p) for p in images.kept], [(str(p), why) for p, why in images.skipped],
                          done=len(images), total=len(images))


@dataclass
class RDMSnapshot:
    """Progress of an RDM; the final snapshot holds it.

    Attributes
    ----------
    rdm : ndarray, shape (N, N) or None
        1 - Pearson r between the images kept (None until the last snapshot).
    n_units : int
        Length of a population vector.
    participation_ratio : float
    explained_variance_ratio : list of float
        Of the first principal components.
    image_paths : list of str
        The images in row order.
    skipped : list of (str, str)
        The images that could not be read, each with the message saying why.
    """

    kind: ClassVar[str] = "rdm"

    layer: str
    view: str
    rdm: Any = None
    n_units: int = 0
    participation_ratio: float = float("nan")
    explained_variance_ratio: list[float] = field(default_factory=list)
    image_paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: int = 0
    total: int = 0


register(Analysis(
    "rdm",
    "RDM",
    jobs=(LayerRDM,),
    snapshots=(RDMSnapshot,),
    needs=frozenset({"layer", "images"}),
    figure='engine.figures.sources:rdm_figure',
    methods='engine.figures.methods:population_methods',
    command='rdm',
    order=93))
