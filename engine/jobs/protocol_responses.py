"""The protocol-responses job: one unit's response to every condition of a stimulus protocol.

This is what ``unitscope tuning`` runs and writes as a table: one row per condition (its
parameters, then F0, F1, max, min over phase and the number of phases), with the tuning
metrics along every swept parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("protocol_responses")
@dataclass(frozen=True)
class ProtocolResponses:
    """Record one unit's responses to a parametric protocol (:class:`engine.stimuli.protocols.Protocol`).

    Parameters
    ----------
    layer, channel, y, x
        The unit; ``y``/``x`` None means the map centre.
    protocol : str
        A kind of :data:`engine.stimuli.protocols.KINDS` (gratings, gabors, ...).
    params : tuple of (name, values)
        Values of each parameter set by the user; the others take the protocol's defaults.
    phases : int
        Phases per condition for phased kinds.
    batch_size : int
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    protocol: str = "gratings"
    params: tuple[tuple[str, tuple[float, ...]], ...] = ()
    phases: int = 8
    batch_size: int = 32

    def describe(self) -> str:
        """What the status bar says while it runs."""
        return f"{self.protocol.capitalize()} protocol on {Unit(self.layer, self.channel, self.y, self.x).label}…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[ProtocolSnapshot]:
        """Yield progress after every batch; the last snapshot holds the table and metrics."""
        import numpy as np

        from engine.analyses.tuning import MEASURES, tuning_stream
        from engine.analyses.units import unit_geometry
        from engine.errors import UnitscopeError
        from engine.stimuli.protocols import Protocol

        if self.phases < 1:
            raise UnitscopeError("--phases must be at least 1.")
        session.recorder.resolve([self.layer])
        geometry = unit_geometry(session.anatomy, Unit(self.layer, self.channel, self.y, self.x))
        protocol = Protocol(self.protocol, session.preprocess.crop_size,
                            {name: np.asarray(values, dtype=float) for name, values in self.params},
                            center=geometry.center, rf_side=geometry.side, phases=self.phases)
        table = batch = None
        for table, batch in tuning_stream(session.recorder, geometry.unit, protocol, session.preprocess,
                                          self.batch_size, cancelled):
            done = batch.start + batch.size
            if done < len(protocol):
                yield ProtocolSnapshot(geometry.as_dict(), protocol.describe(), done=done, total=len(protocol))
        if table is None:
            return
        header, rows = table.table()
        yield ProtocolSnapshot(geometry.as_dict(), protocol.describe(), header, rows,
                               {m: table.metrics(m) for m in MEASURES if m != "min"},
                               protocol.n_conditions, len(protocol.phases), len(protocol), len(protocol))


@dataclass
class ProtocolSnapshot:
    """Progress of a protocol; the final snapshot holds the table.

    Attributes
    ----------
    unit : dict
        The unit with its position made concrete and its receptive field
        (:meth:`engine.analyses.units.UnitGeometry.as_dict`).
    protocol : dict
        :meth:`engine.stimuli.protocols.Protocol.describe`.
    columns : list of str
        Parameter names, then ``f0``, ``f1``, ``max``, ``min``, ``n``.
    rows : list of list
        One row per condition (empty until the last snapshot).
    metrics : dict
        Tuning metrics of each measure along the swept parameters.
    n_conditions, n_phases, done, total : int
    """

    kind: ClassVar[str] = "protocol_responses"

    unit: dict
    protocol: dict
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    n_conditions: int = 0
    n_phases: int = 0
    done: int = 0
    total: int = 0


register(Analysis(
    "protocol_responses",
    "Protocol tuning",
    jobs=(ProtocolResponses,),
    snapshots=(ProtocolSnapshot,),
    needs=frozenset({"unit"}),
    figure='engine.figures.sources:protocol_figure',
    methods='engine.figures.methods:tuning_methods',
    command='tuning',
    order=91))
