"""The population job: PCA, RDM, dimensionality and sparseness of one layer over a stimulus set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind

#: Population stimulus sets the window offers.
STIMULUS_SETS = {"images": "images in the input strip",
                 "gratings": "gratings: 12 orientations x 4 spatial frequencies"}


@job_kind("population")
@dataclass(frozen=True)
class Population:
    """Population analyses of one layer over a stimulus set.

    Parameters
    ----------
    layer : str
    stimuli : {"images", "gratings"}
        The images in ``paths``, or the grating set of :data:`STIMULUS_SETS`.
    paths : tuple of str
        Image files, for ``stimuli="images"``.
    view : {"flat", "channels", "centre"}
        Population vector: every unit, each channel's spatial mean, or every channel
        at the map centre (:func:`engine.analyses.population.population_vectors`).
    batch_size : int
    """

    layer: str
    stimuli: str = "images"
    paths: tuple[str, ...] = ()
    view: str = "flat"
    batch_size: int = 16


    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Population analysis of {self.layer or 'the output'} ({STIMULUS_SETS[self.stimuli]})…"

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[PopulationSnapshot]:
        """Record the stimulus set; yield PCA, RDM, dimensionality and sparseness after every batch."""
        from engine.analyses.population import participation_ratio, population_stream, sparseness
        from engine.session.stimulus_sets import labels_and_groups, population_stimuli, skipped

        stimuli = population_stimuli(session, self.stimuli, self.paths)
        for state in population_stream(session.recorder, self.layer, stimuli, session.preprocess,
                                       self.view, batch_size=self.batch_size, cancelled=cancelled):
            rows = state.rdm.rows
            pca = state.pca()
            scores = np.zeros((state.n, 2))
            k = min(2, len(pca.components))
            scores[:, :k] = pca.transform(rows)[:, :k]
            lifetime = (state.moments.lifetime_sparseness() if state.moments is not None
                        else sparseness(rows, axis=0))
            labels, groups = labels_and_groups(stimuli, state.n)
            yield PopulationSnapshot(
                layer=self.layer, view=self.view, labels=labels, groups=groups, scores=scores,
                explained=np.array(pca.explained_variance_ratio, copy=True),
                participation_ratio=participation_ratio(pca.explained_variance),
                lifetime_sparseness=finite_mean(lifetime),
                population_sparseness=finite_mean(state.population_sparseness),
                rdm=np.array(state.rdm.rdm, copy=True), n_units=int(rows.shape[1]), done=state.n,
                total=len(stimuli), stimuli=self.stimuli, skipped=skipped(stimuli))


@dataclass
class PopulationSnapshot:
    """A layer's population analyses over the stimuli recorded so far.

    Attributes
    ----------
    layer, view : str
    labels : list of str
        One per stimulus recorded, in order.
    groups : ndarray of float
        A value per stimulus to colour its point by (orientation for gratings, index for images).
    scores : ndarray, shape (N, 2)
        Stimuli on the first two principal components.
    explained : ndarray
        Explained-variance ratio of every component, descending.
    participation_ratio, lifetime_sparseness, population_sparseness : float
        Sparseness values are means: over units (lifetime) and over stimuli (population).
    rdm : ndarray, shape (N, N)
        1 - Pearson r between stimuli.
    n_units : int
        Length of a population vector.
    done, total : int
    stimuli : str
        The stimulus set (a key of :data:`STIMULUS_SETS`).
    skipped : list of str
        Images that could not be read, with why.
    """

    kind: ClassVar[str] = "population"

    layer: str
    view: str
    labels: list[str]
    groups: np.ndarray
    scores: np.ndarray
    explained: np.ndarray
    participation_ratio: float
    lifetime_sparseness: float
    population_sparseness: float
    rdm: np.ndarray
    n_units: int
    done: int
    total: int
    stimuli: str = "images"
    skipped: list[str] = field(default_factory=list)


def finite_mean(values) -> float:
    """Mean of the finite entries (NaN when there are none, without a warning)."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


register(Analysis(
    "population",
    "Population",
    jobs=(Population,),
    snapshots=(PopulationSnapshot,),
    needs=frozenset({"layer"}),
    view='gui.analyses.population_view:PopulationView',
    shortcut='Ctrl+Shift+P',
    figure='engine.figures.sources:population_figure',
    methods='engine.figures.methods:population_methods',
    command='rdm',
    order=20))
