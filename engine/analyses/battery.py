"""The V1 property battery of a layer's units (:data:`engine.analyses.properties.PROPERTIES`
at the receptive-field centre of the layer's map).

The battery (:func:`property_battery`) measures, for units at the receptive-field centre
of a layer's map, the orientation and spatial-frequency properties from one grid of
full-field gratings (orientation x SF x phase), recorded as two protocols (the orientation
sweep at the middle SF and 4 of the phases, then the rest of the grid), then surround suppression from gratings in
apertures (orientation x radius x phase) at the units' median preferred SF.  Every stimulus
is recorded once for all the units (one forward pass per batch, stopped at the layer), and
a progress report follows every protocol, so the first properties are seen after the
orientation sweep.  Beside the grid's preferred orientation, SF and bandwidths stand the
values of a von Mises and a log-Gaussian fit (:data:`engine.analyses.properties.FITTED`;
:mod:`engine.analyses.fits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.analyses.properties import (
    BATTERY_SF,
    FITTED,
    PROPERTIES,
    curve,
    modulation_ratio,
    size_metrics,
)
from engine.errors import UnitscopeError

# Torch and the recording machinery are imported when the battery runs.

ORIENTATION, SPATIAL_FREQUENCY, SIZE = "orientation", "spatial frequency", "size"
STAGES = (ORIENTATION, SPATIAL_FREQUENCY, SIZE)
"""The battery's protocols, in the order they are recorded."""


@dataclass
class BatteryProgress:
    """How far the battery is.

    Attributes
    ----------
    rows : list of list
        Finished units (``COLUMNS`` order): empty until the last protocol is measured, then all.
    done, total : int
        Stimuli recorded / to record.
    rf : dict
        The RF centre unit's geometry.
    preview : list of list
        Every unit's row with the properties of the protocols measured so far, NaN for the
        others (empty before the first protocol is measured; equal to ``rows`` at the end).
    stages : list of [str, int, int]
        Each protocol (:data:`STAGES`) with its stimuli recorded and to record.
    stage : str
        The protocol being recorded ("" once all are).
    """

    rows: list[list]
    done: int
    total: int
    rf: dict
    preview: list[list] = field(default_factory=list)
    stages: list[list] = field(default_factory=list)
    stage: str = ""


def choose_channels(n_channels: int, units: int | None) -> list[int]:
    """All channels (``units`` None) or ``units`` channels spread evenly over the layer."""
    if units is None or units >= n_channels:
        return list(range(n_channels))
    if units < 1:
        raise UnitscopeError("--units must be at least 1, or 'all'.")
    return sorted({int(round(i)) for i in np.linspace(0, n_channels - 1, units)})


class ProtocolStimuli:
    """Some stimuli of a :class:`engine.stimuli.protocols.Protocol`, in a given order: what
    :func:`engine.stimuli.protocols.record_stimuli` takes (``batch.start`` counts within them).

    Parameters
    ----------
    protocol : Protocol
    indices : sequence of int
        Stimulus indices of the protocol (``condition * n_phases + phase``).
    channels_last : bool
        Hand the batches over channels-last (as a channels-last recorder runs them).

    A batch is normalised at once in NumPy (the same float32 operations as
    :meth:`engine.models.preprocess.Preprocess.array`, so the same values): per image in
    torch, small operations on a shared CPU cost more than the forward pass.
    """

    def __init__(self, protocol, indices: Sequence[int], channels_last: bool = False):
        self.protocol = protocol
        self.indices = np.asarray(indices, dtype=np.int64)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return int(self.indices.size)

    def batches(self, preprocess, batch_size: int = 32):
        import torch

        from engine.stimuli.protocols import StimulusBatch

        mean = preprocess.mean.reshape(-1).numpy().astype(np.float32)
        std = preprocess.std.reshape(-1).numpy().astype(np.float32)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        n_phases = len(self.protocol.phases)
        for start in range(0, len(self), batch_size):
            chosen = self.indices[start:start + batch_size]
            made = [self.protocol.stimulus(i) for i in chosen]
            images = np.stack([image for _, image in made]).astype(np.float32, copy=False)
            inputs = torch.from_numpy((images - mean) / std).permute(0, 3, 1, 2).contiguous(memory_format=layout)
            yield StimulusBatch(start=start, inputs=inputs, params=[p for p, _ in made], condition=chosen // n_phases,
                                phase=np.asarray(self.protocol.phases, float)[chosen % n_phases], images=images)


def aperture_covers_image(protocol, radius: float) -> bool:
    """Whether a circular aperture of ``radius`` around the protocol's centre holds every pixel
    (the test :func:`engine.stimuli.procedural.sine_grating` makes), so that the grating in it
    is the full-field grating."""
    h, w = protocol.size
    cy, cx = protocol.center
    y, x = np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx
    return bool(np.all(x**2 + y**2 <= radius**2))


def grid_twins(sizes, grid) -> np.ndarray:
    """For every stimulus of the ``size`` protocol, the index of the full-field ``gratings``
    stimulus with the same image (the aperture holds every pixel; same orientation, SF,
    contrast and phase), or -1."""
    twins = np.full(len(sizes), -1, dtype=np.int64)
    by_params = {(c["orientation"], c["sf"], c["contrast"]): i for i, c in enumerate(grid.conditions)}
    grid_phase = {float(p): k for k, p in enumerate(grid.phases)}
    n_size, n_grid = len(sizes.phases), len(grid.phases)
    covering: dict[float, bool] = {}
    for c, cond in enumerate(sizes.conditions):
        radius = cond["radius"]
        if radius not in covering:
            covering[radius] = aperture_covers_image(sizes, radius)
        twin = by_params.get((cond["orientation"], cond["sf"], cond["contrast"]))
        if not covering[radius] or twin is None:
            continue
        for k, phase in enumerate(sizes.phases):
            if float(phase) in grid_phase:
                twins[c * n_size + k] = twin * n_grid + grid_phase[float(phase)]
    return twins


def size_sweep_sf(peak_sfs: Sequence[float], sfs: Sequence[float]) -> float:
    """The SF of the size sweep: of ``sfs``, the nearest (in octaves) to the median of the units'
    finite peak SFs; the middle one when none is finite."""
    sfs = np.asarray(sfs, float)
    peaks = [p for p in peak_sfs if math.isfinite(p)]
    if not peaks:
        return float(sfs[len(sfs) // 2])
    return float(sfs[int(np.argmin(np.abs(np.log2(sfs) - np.log2(np.median(peaks)))))])


def property_battery(recorder, anatomy, preprocess, layer: str, channels: Sequence[int],
                     orientations: int = 12, sfs: Sequence[float] = BATTERY_SF, phases: int = 8,
                     size_phases: int = 4, batch_size: int = 32,
                     cancelled: Callable[[], bool] = lambda: False) -> Iterator[BatteryProgress]:
    """Measure :data:`PROPERTIES` of ``channels`` at the RF centre of ``layer``; yield after every
    batch and after every protocol.

    Every stimulus is recorded once for all the units (one forward pass per batch, stopped
    at the layer, every unit read from it).  Three protocols, in order:

    1. **orientation**: full-field gratings at every orientation, at the middle SF of ``sfs``,
       at 4 evenly spaced phases when ``phases`` is a larger multiple of 4 (else at all);
       then the preview has the orientation properties, the modulation ratio and the
       response (of the stimuli so far) of every unit;
    2. **spatial frequency**: the rest of the orientation x SF grid (the other phases, the
       other SFs), which the orientation sweep is part of; then the orientation and SF
       properties and their fits are final (the orientation curve is taken at the unit's
       preferred SF, the SF curve at its preferred orientation);
    3. **size**: gratings in apertures (every orientation x radii from 1/16 of the RF side to
       the side x ``size_phases`` phases) at the units' median preferred SF; a stimulus
       whose aperture holds the whole image is the grid's full-field grating, whose
       responses are reused rather than recorded again.

    Parameters
    ----------
    recorder, anatomy, preprocess
        Of the open session.
    layer : str
    channels : sequence of int
    orientations, sfs, phases
        The grating grid: ``orientations`` from 0 to 180 degrees, ``sfs`` in cycles per RF
        (per image for a layer without spatial maps), ``phases`` per condition.
    size_phases : int
        Phases per condition of the size sweep.
    batch_size : int
    cancelled : callable
        Checked before every batch (raises :class:`engine.recording.recorder.Cancelled`).
    """
    from engine.analyses.tuning import TuningTable
    from engine.analyses.units import Unit, unit_geometry
    from engine.stimuli.protocols import Protocol

    if not len(channels):
        raise UnitscopeError("No units to measure.")
    recorder.resolve([layer])
    channels = [int(c) for c in channels]
    geometry = unit_geometry(anatomy, Unit(layer, channels[0]))
    unit, rf = geometry.unit, geometry.as_dict()
    size = preprocess.crop_size
    rf["image_side"] = size  # the input's side in pixels: a per-image spatial frequency per RF is * rf_side / it
    sfs = np.asarray(sfs, float)
    sf_key = "sf_rf" if geometry.side else "sf"
    grid = Protocol("gratings", size, {"orientation": 180.0 * np.arange(orientations) / orientations, sf_key: sfs},
                    center=geometry.center, rf_side=geometry.side, phases=phases)

    def size_protocol(sf: float):
        return Protocol("size", size, {"orientation": grid.axes["orientation"], sf_key: sf},
                        center=geometry.center, rf_side=geometry.side, phases=size_phases)

    first_sf = float(sfs[len(sfs) // 2])
    n_phases = len(grid.phases)
    condition, phase = np.divmod(np.arange(len(grid)), n_phases)
    step = n_phases // 4 if n_phases % 4 == 0 and n_phases > 4 else 1  # 4 evenly spaced phases first
    on_first = np.array([c[sf_key] == first_sf for c in grid.conditions])[condition] & (phase % step == 0)
    parts = [np.flatnonzero(on_first), np.flatnonzero(~on_first)]
    n_size = int(np.sum(grid_twins(size_protocol(first_sf), grid) < 0))  # which are reused does not depend on SF
    stages = [[ORIENTATION, 0, int(parts[0].size)], [SPATIAL_FREQUENCY, 0, int(parts[1].size)], [SIZE, 0, n_size]]
    total = sum(n for _, _, n in stages)
    done = 0
    table = TuningTable.for_protocol(grid, len(channels))
    kept = np.full((len(grid), len(channels)), np.nan) if n_size < len(size_protocol(first_sf)) else None
    preview: list[list] = []

    def progress(rows=(), stage=""):
        return BatteryProgress(list(rows), done, total, rf, list(preview), [list(s) for s in stages], stage)

    def row(u: int, props: dict) -> list:
        return [layer, channels[u], unit.y, unit.x] + [props[p] for p in PROPERTIES + FITTED]

    for k, part in enumerate(parts):
        for batch, indices, responses in _responses(recorder, layer, unit, channels, grid, part, preprocess,
                                                    batch_size, cancelled):
            table.update(batch.condition, batch.phase, responses)
            if kept is not None:
                kept[indices] = responses
            stages[k][1] += batch.size
            done += batch.size
            yield progress(stage=stages[k][0])
        grating = [grating_properties(table, u, complete=k == 1) for u in range(len(channels))]
        preview = [row(u, props) for u, props in enumerate(grating)]
        yield progress(stage=stages[k + 1][0])

    sizes = size_protocol(size_sweep_sf([p["peak_sf"] for p in grating], sfs))
    size_table = TuningTable.for_protocol(sizes, len(channels))
    twins = grid_twins(sizes, grid)
    reused = np.flatnonzero(twins >= 0)
    if reused.size:
        size_table.update(reused // len(sizes.phases), np.asarray(sizes.phases, float)[reused % len(sizes.phases)],
                          kept[twins[reused]])
    for batch, _, responses in _responses(recorder, layer, unit, channels, sizes, np.flatnonzero(twins < 0),
                                          preprocess, batch_size, cancelled):
        size_table.update(batch.condition, batch.phase, responses)
        stages[2][1] += batch.size
        done += batch.size
        yield progress(stage=SIZE)
    for u, props in enumerate(grating):
        header, table_rows = size_table.table(u)
        props["surround_suppression_index"] = size_metrics(*curve(header, table_rows, "radius")[:2])[
            "surround_suppression_index"]
    preview = [row(u, props) for u, props in enumerate(grating)]
    yield progress(preview)


def _responses(recorder, layer, unit, channels, protocol, indices, preprocess, batch_size, cancelled):
    """Record some stimuli of a protocol: each batch, the protocol's stimulus indices in it and
    the channels' responses at the unit's position ``(B, U)`` (float64)."""
    from engine.analyses.units import channel_responses
    from engine.stimuli.protocols import record_stimuli

    stimuli = ProtocolStimuli(protocol, indices, getattr(recorder, "channels_last", False))
    for batch, recorded in record_stimuli(recorder, [layer], stimuli, preprocess, batch_size, cancelled):
        responses = channel_responses(recorded.outputs[layer], unit.y, unit.x, channels, layer)
        yield batch, stimuli.indices[batch.start:batch.start + batch.size], responses.double().cpu().numpy()


def grating_properties(table, u: int, complete: bool = True) -> dict:
    """The orientation x SF grid's properties of unit ``u``; with ``complete`` False (only the
    orientation sweep recorded) the SF properties and the fits are NaN."""
    from engine.analyses.tuning import orientation_metrics, sf_metrics

    props = dict.fromkeys(PROPERTIES + FITTED, math.nan)
    f0 = table.measure("f0")[:, u]
    if np.all(np.isnan(f0)):
        return props
    sf_key = "sf_rf" if "sf_rf" in table.swept or "sf_rf" in table.conditions[0] else "sf"
    ori = table.curve("orientation", "f0", u)
    o = orientation_metrics(ori.values, ori.responses, fit=complete)
    header, rows = table.table(u)
    props.update({"preferred_orientation_deg": o.preferred_deg, "circular_variance": o.circular_variance,
                  "orientation_bandwidth_deg": o.bandwidth_deg,
                  "orthogonal_preferred_ratio": o.r_orth / o.r_pref if o.r_pref > 0 else math.nan,
                  "modulation_ratio": modulation_ratio(header, rows),
                  "response_magnitude": float(np.nanmax(f0))})
    if complete:
        sf_curve = table.curve(sf_key, "f0", u)
        s = sf_metrics(sf_curve.values, sf_curve.responses)
        props.update({"peak_sf": s.preferred, "sf_bandwidth_octaves": s.bandwidth_octaves,
                      "preferred_orientation_fit_deg": o.preferred_fit_deg,
                      "orientation_bandwidth_fit_deg": o.bandwidth_fit_deg,
                      "peak_sf_fit": s.preferred_fit, "sf_bandwidth_fit_octaves": s.bandwidth_fit_octaves})
    return props
