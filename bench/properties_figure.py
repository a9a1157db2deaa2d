"""Figure 11: the V1 property battery against recording its stimuli once with `unitscope record`.

The battery (`unitscope properties`, ResNet-18 `layer1`, 64 units, the default protocols)
records each of its stimuli once for all the units. The reference records the very same
stimuli (written to PNG files: the orientation x SF grid and the size sweep at the SF the
battery chose, less the full-field stimuli it reuses) with `unitscope record` to the same
layer. Both run in this process through the command line's `main`, interleaved, each
opening the model, on the CPU with the commands' default memory format (channels-last).

Time to the first snapshot: a `Properties` job run in a session opened as the window opens
it (contiguous memory format), from the job's start to the first snapshot that holds
properties (after the orientation protocol), then to the end of each protocol.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.timing import Figure, Sample

LAYER = "layer1"


def _battery_stimuli(session, layer: str, channels, peak_sfs, orientations: int, phases: int):
    """The images the battery records: its grid, and its size sweep less the reused stimuli."""
    from engine.analyses.battery import grid_twins, size_sweep_sf
    from engine.analyses.properties import BATTERY_SF
    from engine.analyses.units import Unit, unit_geometry
    from engine.stimuli.protocols import Protocol

    geometry = unit_geometry(session.anatomy, Unit(layer, channels[0]))
    sf_key = "sf_rf" if geometry.side else "sf"
    where = dict(center=geometry.center, rf_side=geometry.side)
    size = session.preprocess.crop_size
    grid = Protocol("gratings", size, {"orientation": 180.0 * np.arange(orientations) / orientations,
                                       sf_key: np.asarray(BATTERY_SF)}, phases=phases, **where)
    sizes = Protocol("size", size, {"orientation": grid.axes["orientation"],
                                    sf_key: size_sweep_sf(peak_sfs, BATTERY_SF)}, phases=4, **where)
    twins = grid_twins(sizes, grid)
    for i in range(len(grid)):
        yield grid.stimulus(i)[1]
    for i in np.flatnonzero(twins < 0):
        yield sizes.stimulus(i)[1]


def first_snapshot(units: int, orientations: int, phases: int) -> tuple[dict, object, object]:
    """Seconds from the job's start to its first snapshot with properties and to each protocol's
    end, the last snapshot, and the session (opened as the window opens it)."""
    from engine.jobs.properties import Properties
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    import torch

    session = Session.open(ModelSpec("resnet18", device="cpu"))
    session.recorder.record_one([LAYER], torch.zeros(1, 3, 224, 224))  # the window shows the layer before Run
    times: dict[str, float] = {}
    snap = None
    t0 = time.perf_counter()
    for snap in session.run(Properties(LAYER, units, orientations, phases=phases)):
        if snap.preview and "first" not in times:
            times["first"] = time.perf_counter() - t0
        for name, recorded, total in snap.stages:
            if recorded >= total and name != snap.stage and name not in times:
                times[name] = time.perf_counter() - t0
    times["end"] = time.perf_counter() - t0
    return times, snap, session


def battery(repeats: int, units: int = 64, orientations: int = 12, phases: int = 8) -> Figure:
    from PIL import Image

    from engine.analyses.properties import COLUMNS
    from engine.cli import main as cli_main

    load = [os.getloadavg()[0]]
    fig = Figure("11", f"Property battery: ResNet-18 `{LAYER}`, {units} units, the default battery, vs "
                       "recording its stimuli once with `unitscope record` (CPU)")
    times, final, session = first_snapshot(units, orientations, phases)
    channels = [row[1] for row in final.rows]
    peaks = [float(row[COLUMNS.index("peak_sf")]) for row in final.rows]
    tmp = Path(tempfile.mkdtemp(prefix="unitscope-bench-"))
    try:
        images = tmp / "stimuli"
        images.mkdir()
        n = 0
        for n, image in enumerate(_battery_stimuli(session, LAYER, channels, peaks, orientations, phases), 1):
            Image.fromarray(np.round(image * 255).astype(np.uint8)).save(images / f"{n:05d}.png")
        assert n == final.total, (n, final.total)
        del session

        def properties():
            assert cli_main(["properties", "resnet18", "--layer", LAYER, "--units", str(units), "--orientations",
                             str(orientations), "--phases", str(phases), "--device", "cpu",
                             "--out", str(tmp / "props.csv")]) == 0

        def record():
            assert cli_main(["record", "resnet18", "--layer", LAYER, "--images", str(images), "--device", "cpu",
                             "--out", str(tmp / "record.npy"), "--force"]) == 0

        samples: dict[str, list[float]] = {"properties": [], "record": []}
        for _ in range(repeats):  # interleaved, so that drifts hit both alike
            for key, fn in (("record", record), ("properties", properties)):
                t0 = time.perf_counter()
                fn()
                samples[key].append(time.perf_counter() - t0)
                for name in ("record.npy", "props.csv", "props.csv.json"):
                    (tmp / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load.append(os.getloadavg()[0])
    ours, ref = Sample(samples["properties"]), Sample(samples["record"])
    ratio = ours.median / ref.median
    fig.add("`unitscope properties`", f"{ours.s()} for {final.total} stimuli",
            f"`unitscope record` of the same stimuli {ref.s()}", ratio <= 1.2)
    fig.add("ratio properties / record", f"{ratio:.2f}×", "target ≤ 1.2×", ratio <= 1.2)
    fig.add("first snapshot with properties (window's session)", f"{times['first']:.2f} s",
            "target ≤ 2 s", times["first"] <= 2.0)
    stages = ", ".join(f"{name} {times[name]:.1f} s" for name, _, _ in final.stages if name in times)
    fig.add("protocols done (window's session)", stages, f"whole job {times['end']:.1f} s", None)
    counts = ", ".join(f"{name} {total}" for name, _, total in final.stages)
    fig.notes.append(f"Stimuli per protocol: {counts} (the size sweep at the units' median preferred SF; "
                     "full-field size stimuli, where an aperture holds the whole image, are taken from the grid "
                     "and not recorded again — none at layer1, whose field is 43 px). `unitscope record` reads "
                     "them as PNG files (batch size 32) and writes every unit of the layer to a .npy file; "
                     "the battery makes them as it goes and keeps one response per unit and stimulus.")
    fig.notes.append("The first snapshot with properties comes after the orientation protocol "
                     f"({final.stages[0][2]} stimuli), in a session opened as the window opens it (contiguous "
                     "memory format, slower on the CPU than the commands' channels-last) after one recording of "
                     "the layer (the window shows it before Run); the window draws its histograms from that "
                     "snapshot.")
    fig.notes.append(f"Load average (1 min) when the figure started and ended: {load[0]:.1f} and {load[1]:.1f} on "
                     f"{os.cpu_count()} logical cores: on a shared machine every time above is stretched alike.")
    return fig
