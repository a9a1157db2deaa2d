"""The tuning job: one unit's responses along orientation or spatial frequency."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.recording.unit import Unit
from engine.session.analysis import Analysis, register
from engine.session.job import job_kind

#: Spatial frequencies of an SF sweep, in cycles per receptive field: 1/4 to 8, half-octave steps.
SF_SWEEP: tuple[float, ...] = tuple(float(2.0 ** e) for e in np.arange(-2.0, 3.25, 0.5))


@job_kind("tuning")
@dataclass(frozen=True)
class Tuning:
    """Sweep one unit's responses along orientation or spatial frequency.

    Parameters
    ----------
    layer, channel, y, x
        The unit (:class:`engine.analyses.units.Unit`); ``y``/``x`` None means the map centre.
    param : {"orientation", "sf"}
        What is swept.
    stimulus : {"gratings", "gabors"}
        Full-field gratings, or Gabor patches on the unit's receptive field.
    orientations : int
        Orientations from 0 to 180 degrees (excluded) for an orientation sweep.
    sf : tuple of float
        Spatial frequencies in cycles per receptive field (per image for a unit without
        a spatial receptive field): one value for an orientation sweep, the swept
        values for an SF sweep.
    orientation : float
        The orientation (degrees) held during an SF sweep.
    phases : int
        Phases per condition; responses are averaged over them (F0) and their first
        harmonic taken (F1).
    batch_size : int
        Stimuli per forward pass: the curve is redrawn after each batch.
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None
    param: str = "orientation"
    stimulus: str = "gratings"
    orientations: int = 12
    sf: tuple[float, ...] = (2.0,)
    orientation: float = 0.0
    phases: int = 8
    batch_size: int = 16


    @property
    def unit_label(self) -> str:
        """``layer[c]`` or ``layer[c](y,x)``, as :attr:`engine.recording.unit.Unit.label`."""
        return Unit(self.layer, self.channel, self.y, self.x).label

    def describe(self) -> str:
        """What the status bar says while it runs."""
        what = "Orientation" if self.param == "orientation" else "Spatial-frequency"
        return f"{what} tuning of {self.unit_label}…"

    def protocol_params(self, sf_key: str) -> dict[str, np.ndarray]:
        """Parameters of the :class:`engine.stimuli.protocols.Protocol` (``sf_key``: "sf_rf" or "sf")."""
        if self.param == "orientation":
            n = int(self.orientations)
            return {"orientation": 180.0 * np.arange(n) / n, sf_key: np.asarray(self.sf[:1], float)}
        return {"orientation": np.array([float(self.orientation)]), sf_key: np.asarray(self.sf, float)}

    def run(self, session, cancelled: Callable[[], bool]) -> Iterator[TuningSnapshot]:
        """Run the sweep; yield the curve so far after every batch.

        The protocol is centred on the unit's theoretical receptive field, and spatial
        frequency is in cycles per receptive field (per image for a unit without one).
        """
        from engine.analyses.tuning import tuning_stream
        from engine.analyses.units import unit_geometry
        from engine.stimuli.protocols import Protocol

        geometry = unit_geometry(session.anatomy, Unit(self.layer, self.channel, self.y, self.x))
        sf_key = "sf_rf" if geometry.side else "sf"
        protocol = Protocol(self.stimulus, session.preprocess.crop_size, self.protocol_params(sf_key),
                            center=geometry.center, rf_side=geometry.side, phases=self.phases)
        param = "orientation" if self.param == "orientation" else sf_key
        for table, batch in tuning_stream(session.recorder, geometry.unit, protocol, session.preprocess,
                                          self.batch_size, cancelled):
            f0 = table.curve(param, "f0")
            f1 = table.curve(param, "f1", at=f0.fixed)
            yield TuningSnapshot(geometry.unit.label, param, f0.values.copy(), f0.responses.copy(),
                                 f1.responses.copy(), table.metrics("f0"), batch.start + batch.size,
                                 len(protocol), geometry.side)


@dataclass
class TuningSnapshot:
    """A tuning curve so far: conditions not yet recorded are NaN.

    Attributes
    ----------
    unit_label : str
    param : str
        The swept parameter as the engine names it: "orientation", "sf_rf" or "sf".
    values : ndarray
        Swept values, ascending.
    f0, f1 : ndarray
        Mean response over phase, and amplitude of its first harmonic.
    metrics : dict
        :meth:`engine.analyses.tuning.TuningTable.metrics` of F0.
    done, total : int
        Stimuli recorded and in the sweep.
    rf_side : float or None
        The unit's theoretical receptive-field side in pixels.
    """

    kind: ClassVar[str] = "tuning"

    unit_label: str
    param: str
    values: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    metrics: dict
    done: int
    total: int
    rf_side: float | None = None


register(Analysis(
    "tuning",
    "Tuning",
    jobs=(Tuning,),
    snapshots=(TuningSnapshot,),
    needs=frozenset({"unit"}),
    view='gui.analyses.tuning_view:TuningView',
    shortcut='Ctrl+T',
    figure='engine.figures.sources:tuning_figure',
    methods='engine.figures.methods:tuning_methods',
    command='tuning',
    order=10))
