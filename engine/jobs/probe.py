"""The probe job: one stimulus sequence played to several pinned units."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind

#: Stimulus sequences a probe can play.
PROBE_SEQUENCES = {"strip": "inputs in the strip (images and procedural)",
                   "orientations": "grating orientation sweep"}
PROBE_GRATING_SF = 8.0  # cycles per image


@job_kind("probe")
@dataclass(frozen=True)
class ProbePlay:
    """Play a stimulus sequence to several pinned units and record each one's responses.

    Parameters
    ----------
    units : tuple of engine.recording.unit.Unit
    sequence : {"strip", "orientations"}
        The inputs in ``stimuli``, or a full-field grating at ``orientations`` orientations.
    stimuli : tuple of (kind, value)
        The strip's inputs (:class:`engine.session.values.Stimulus` fields), for ``sequence="strip"``.
    orientations : int
    batch_size : int
    """

    units: tuple[Unit, ...]
    sequence: str = "strip"
    stimuli: tuple[tuple[str, str], ...] = ()
    orientations: int = 36
    batch_size: int = 8


    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"Playing {PROBE_SEQUENCES[self.sequence]} to {len(self.units)} pinned unit(s)…"

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[ProbeSnapshot]:
        """Play the sequence to the pinned units; yield all responses so far after every batch."""
        from engine.analyses.units import Probe, unit_geometry
        from engine.session.stimulus_sets import StimulusList
        from engine.session.values import Stimulus
        from engine.stimuli.protocols import Protocol

        probe = Probe(list(self.units))
        if self.sequence == "strip":
            sequence = [Stimulus(kind, value) for kind, value in self.stimuli]
            stimuli = StimulusList(session, sequence)
            names = [s.label for s in sequence]
        else:
            orientations = 180.0 * np.arange(self.orientations) / self.orientations
            stimuli = Protocol("gratings", session.preprocess.crop_size,
                               {"orientation": orientations, "sf": [PROBE_GRATING_SF], "phase": [0.0]})
            names = [f"{o:g}°" for o in orientations]
        rows: list[np.ndarray] = []
        labels = probe.labels
        for batch, responses in probe.stream(session.recorder, stimuli, session.preprocess,
                                             self.batch_size, cancelled):
            if not rows:  # positions made concrete against the recorded outputs
                labels = [unit_geometry(session.anatomy, u).unit.label for u in probe.units]
            rows.append(responses)
            done = batch.start + batch.size
            yield ProbeSnapshot(labels, names[:done], np.concatenate(rows, axis=0), done,
                                len(stimuli), self.sequence)


@dataclass
class ProbeSnapshot:
    """The pinned units' responses to the stimuli played so far.

    Attributes
    ----------
    labels : list of str
        One per unit, positions made concrete.
    stimulus_labels : list of str
        One per stimulus played so far.
    responses : ndarray, shape (done, n_units)
    done, total : int
    sequence : str
    """

    kind: ClassVar[str] = "probe"

    labels: list[str]
    stimulus_labels: list[str]
    responses: np.ndarray
    done: int
    total: int
    sequence: str = "strip"


register(Analysis(
    "probe",
    "Probe",
    jobs=(ProbePlay,),
    snapshots=(ProbeSnapshot,),
    needs=frozenset({"units"}),
    view='gui.analyses.probe_view:ProbeView',
    shortcut='Ctrl+P',
    figure='engine.figures.sources:probe_figure',
    methods='engine.figures.methods:probe_methods',
    order=40))
