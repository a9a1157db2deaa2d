"""The properties job: the V1 property battery (:mod:`engine.analyses.battery`) for a layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("properties")
@dataclass(frozen=True)
class Properties:
    """Measure the battery's properties of a layer's units at the RF centre of its map.

    Parameters
    ----------
    layer : str
    units : int or None
        How many channels, spread evenly over the layer (None: all of them).
    orientations, sfs, phases, size_phases
        The grating grid (:func:`engine.analyses.battery.property_battery`).
    chunk : int
        Kept so that job files written before still open; it changes nothing: every unit
        is now read from the same forward passes (the battery's sums are a few numbers per
        unit and condition, about 20 kB a unit).
    batch_size : int
    """

    layer: str
    units: int | None = None
    orientations: int = 12
    sfs: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    phases: int = 8
    size_phases: int = 4
    chunk: int = 256
    batch_size: int = 32

    def describe(self) -> str:
        """What the status bar says while it runs."""
        which = "all units" if self.units is None else f"{self.units} units"
        return f"Property battery of {self.layer} ({which})…"

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[PropertiesSnapshot]:
        """Yield after every batch and after every protocol (the preview then has the properties
        measured so far); the rows come with the last snapshot."""
        from engine.analyses.battery import choose_channels, property_battery
        from engine.analyses.properties import COLUMNS
        from engine.analyses.units import output_shape
        from engine.errors import UnitscopeError

        if self.orientations < 2 or self.phases < 1 or self.size_phases < 1 or not self.sfs:
            raise UnitscopeError("The battery needs at least 2 orientations, 1 SF and 1 phase.")
        session.recorder.resolve([self.layer])
        shape = output_shape(session.anatomy, self.layer)
        if shape is None or len(shape) < 2:
            raise UnitscopeError(f"Layer '{self.layer}' has no channels to measure.")
        channels = choose_channels(int(shape[1]), self.units)
        for progress in property_battery(session.recorder, session.anatomy, session.preprocess, self.layer,
                                         channels, self.orientations, self.sfs, self.phases, self.size_phases,
                                         self.batch_size, cancelled):
            yield PropertiesSnapshot(self.layer, list(COLUMNS), progress.rows, progress.done, progress.total,
                                     len(channels), progress.rf, progress.preview, progress.stages, progress.stage)


@dataclass
class PropertiesSnapshot:
    """The units measured so far.

    Attributes
    ----------
    layer : str
    columns : list of str
        :data:`engine.analyses.properties.COLUMNS`.
    rows : list of list
        One row per finished unit (all of them come with the last snapshot).
    done, total : int
        Stimuli recorded and to record.
    n_units : int
        Units the battery will measure.
    rf : dict
        The RF centre unit's geometry (:meth:`engine.analyses.units.UnitGeometry.as_dict`).
    preview : list of list
        Every unit's row with the properties of the protocols measured so far (NaN for the
        others); not saved with a result (the rows are).
    stages : list of [str, int, int]
        Each protocol with its stimuli recorded and to record
        (:data:`engine.analyses.battery.STAGES`).
    stage : str
        The protocol being recorded; "" once all are.
    """

    kind: ClassVar[str] = "properties"

    layer: str
    columns: list[str]
    rows: list[list]
    done: int
    total: int
    n_units: int
    rf: dict = field(default_factory=dict)
    preview: list[list] = field(default_factory=list, metadata={"saved": False})
    stages: list[list] = field(default_factory=list, metadata={"saved": False})
    stage: str = field(default="", metadata={"saved": False})


register(Analysis(
    "properties",
    "Properties",
    jobs=(Properties,),
    snapshots=(PropertiesSnapshot,),
    needs=frozenset({"layer"}),
    view='gui.analyses.properties_view:PropertiesView',
    shortcut='Ctrl+Shift+B',
    figure='engine.figures.sources:properties_figure',
    methods='engine.figures.methods:properties_methods',
    command='properties',
    order=70))
