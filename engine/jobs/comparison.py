"""The comparison job: two layers' RDMs over one stimulus set, their RSA and linear CKA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from engine.jobs.population import STIMULUS_SETS
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("comparison")
@dataclass(frozen=True)
class Compare:
    """Compare two layers' populations over a stimulus set: RSA and linear CKA.

    Both layers are recorded in one forward pass per batch
    (:func:`engine.analyses.population.compare_stream`).  Fields as :class:`Population`, with
    ``layer_b`` the layer compared with ``layer`` and ``workers`` the image decoding processes
    (0: in this thread, as the window runs it; None: chosen from the cores).
    """

    layer: str
    layer_b: str
    stimuli: str = "images"
    paths: tuple[str, ...] = ()
    view: str = "flat"
    batch_size: int = 16
    workers: int | None = 0


    def describe(self) -> str:
        """What the status bar says while it runs."""
        return (f"Comparing {self.layer or 'the output'} with {self.layer_b or 'the output'} "
                f"({STIMULUS_SETS[self.stimuli]})…")

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[ComparisonSnapshot]:
        """Record both layers in one pass per batch; yield both RDMs, RSA and CKA after every batch."""
        from engine.analyses.population import PopulationSource, compare_stream
        from engine.session.stimulus_sets import labels_and_groups, population_stimuli, skipped

        stimuli = population_stimuli(session, self.stimuli, self.paths, self.workers)
        session.recorder.resolve([self.layer, self.layer_b])  # unknown names fail before any pass
        a = PopulationSource(session.recorder, self.layer, session.preprocess, self.view)
        b = PopulationSource(session.recorder, self.layer_b, session.preprocess, self.view)
        for result in compare_stream(a, b, stimuli, batch_size=self.batch_size, cancelled=cancelled):
            n = result.rdm_a.n
            labels, groups = labels_and_groups(stimuli, n)
            yield ComparisonSnapshot(
                layer=self.layer, layer_b=self.layer_b, view=self.view, labels=labels,
                groups=groups, rdm=np.array(result.rdm_a.rdm, copy=True),
                rdm_b=np.array(result.rdm_b.rdm, copy=True),
                rsa=result.rsa(), cka=result.cka(), n_units=int(result.rdm_a.rows.shape[1]),
                n_units_b=int(result.rdm_b.rows.shape[1]), done=n, total=len(stimuli),
                stimuli=self.stimuli, skipped=skipped(stimuli),
                image_paths=[str(p) for p in getattr(stimuli, "kept", [])],
                skipped_paths=[str(p) for p, _ in getattr(stimuli, "skipped", [])])


@dataclass
class ComparisonSnapshot:
    """Two layers' RDMs and their similarity over the stimuli recorded so far.

    Attributes
    ----------
    layer, layer_b, view : str
    labels : list of str
        One per stimulus recorded, in order.
    groups : ndarray of float
        As :class:`PopulationSnapshot`.
    rdm, rdm_b : ndarray, shape (N, N)
        1 - Pearson r between stimuli, in ``layer`` and in ``layer_b``.
    rsa : float
        Spearman correlation of the two RDMs' upper triangles.
    cka : float
        Linear CKA of the two populations.
    n_units, n_units_b : int
    done, total : int
    stimuli : str
    skipped : list of str
    """

    kind: ClassVar[str] = "comparison"

    layer: str
    layer_b: str
    view: str
    labels: list[str]
    groups: np.ndarray
    rdm: np.ndarray
    rdm_b: np.ndarray
    rsa: float
    cka: float
    n_units: int
    n_units_b: int
    done: int
    total: int
    stimuli: str = "images"
    skipped: list[str] = field(default_factory=list)
    image_paths: list[str] = field(default_factory=list)
    skipped_paths: list[str] = field(default_factory=list)


register(Analysis(
    "comparison",
    "Layer comparison",
    jobs=(Compare,),
    snapshots=(ComparisonSnapshot,),
    needs=frozenset({"layer"}),
    figure='engine.figures.sources:comparison_figure',
    methods='engine.figures.methods:comparison_methods',
    command='rsa',
    order=92))
