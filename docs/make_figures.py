"""Make the README's figure gallery (``make figures``): one figure per view, drawn from data.

Every figure is made the way a user would make it: a job (saved under ``docs/figures/jobs/``)
or a command writes a result, and ``unitscope figure`` draws it.  The commands are printed,
and the README shows each under its figure.  ResNet-18 with random weights (seed 0): no
pretrained file is needed, and the figures are the same on every machine.  The exception is
the unit card (:func:`unit_card`, ``python docs/make_figures.py unit_card`` makes it alone): one
ResNet-50 unit (random weights, seed 0) whose jobs run here and whose data the figure layer draws.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "figures"
JOBS = OUT / "jobs"
SAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "resources" / "samples").glob("*.jpg"))
MODEL = {"spec": "resnet18", "seed": 0, "device": "cpu", "memory_format": "contiguous"}


def _jobs() -> dict:
    """Window jobs, by figure name (what the analysis views run)."""
    return {
        "unit": {"kind": "record", "layer": "conv1", "stimulus": {"kind": "image", "value": SAMPLES[1]}},
        "population": {"kind": "population", "layer": "layer3", "stimuli": "gratings", "view": "channels"},
        "comparison": {"kind": "comparison", "layer": "layer2", "layer_b": "layer4", "stimuli": "images",
                       "paths": SAMPLES, "view": "channels"},
        "topk": {"kind": "topk", "layer": "layer2", "channel": 7, "paths": SAMPLES, "k": 2},
        "receptive_field": {"kind": "receptive_field", "layer": "layer1", "channel": 3,
                            "stimuli": [["image", p] for p in SAMPLES], "shown": ["image", SAMPLES[1]],
                            "noise_frames": 400, "grid": 16, "n_on": 8, "seed": 0},
        "probe": {"kind": "probe", "units": [{"layer": "layer1", "channel": 3}, {"layer": "layer2", "channel": 7}],
                  "sequence": "strip", "stimuli": [["image", p] for p in SAMPLES]},
    }


CARD = {"layer": "layer2.0", "channel": 7, "steps": 48, "size": 96}
CARD_COMMAND = "python docs/make_figures.py unit_card"


def unit_card(out: Path = OUT / "unit_card.png") -> Path:
    """One ResNet-50 unit's card (random weights, seed 0): its jobs run here, the figure layer draws it."""
    import numpy as np
    from PIL import Image

    from engine.analyses.properties import curve
    from engine.figures.data import FigureData
    from engine.figures.render import write_figure
    from engine.figures.style import FigureOptions
    from engine.jobs.evidence import EvidenceMaps
    from engine.jobs.protocol_responses import ProtocolResponses
    from engine.jobs.topk import TopImages
    from engine.jobs.visualize import Visualize
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    layer, channel = CARD["layer"], CARD["channel"]
    session = Session.open(ModelSpec("resnet50", device="cpu", seed=0))
    last = lambda job: list(job.run(session, lambda: False))[-1]  # noqa: E731 - each job's final snapshot
    vis = last(Visualize(layer, channel, steps=CARD["steps"], size=CARD["size"], seed=0, every=CARD["steps"]))
    ev = last(EvidenceMaps(layer, channel, stimulus=("image", SAMPLES[1])))
    tuning = last(ProtocolResponses(layer, channel, protocol="gratings",
                                    params=(("orientation", tuple(np.arange(0, 180, 15.0))), ("sf_rf", (2.0,))),
                                    phases=4))
    top = last(TopImages(layer, channel, paths=tuple(SAMPLES), k=4))
    x, f0, _ = curve(tuning.columns, tuning.rows, "orientation", "f0")
    _x, f1, _ = curve(tuning.columns, tuning.rows, "orientation", "f1")
    ori = tuning.metrics["f0"].get("orientation", {})
    crops = [np.asarray(Image.fromarray((np.clip(c, 0, 1) * 255).astype(np.uint8) if c.dtype != np.uint8 else c)
                        .convert("RGB").resize((64, 64), Image.NEAREST)) for c in top.top_crops]
    image = np.asarray(ev.input_image, dtype=np.float64)
    image = image / 255.0 if image.max() > 1.0 else image
    data = FigureData("unit_card", {
        "visualisation": np.asarray(vis.images)[0], "input_image": image,
        "evidence": np.asarray(ev.maps["gradient_x_input"]).sum(axis=-1),
        "rf": np.abs(np.asarray(ev.maps["gradient"])).sum(axis=-1),
        "tuning_x": x, "tuning_f0": f0, "tuning_f1": f1, "top_images": np.stack(crops)},
        {"layer": layer, "channel": channel, "position": tuning.unit.get("y"), "rf_box": ev.rf_box,
         "tuning_label": "orientation (deg), 2 cycles/RF",
         "tuning_metric": f"preferred {ori.get('preferred_deg', float('nan')):.0f}\u00b0, OSI {ori.get('osi', float('nan')):.2f}",
         "activation": (vis.activation or [None])[0],
         "top_values": [float(v) for v in np.asarray(top.top_values)]},
        provenance={"model": "resnet50", "random_seed": 0})
    data.meta["position"] = (tuning.unit["y"], tuning.unit["x"]) if tuning.unit.get("y") is not None else None
    write_figure(data, FigureOptions(width_mm=180), out, sidecar=False)  # as the gallery's others
    print(f"{CARD_COMMAND}  ->  {out.relative_to(ROOT)}", flush=True)
    return out


def main() -> int:
    import json

    if sys.argv[1:] == ["unit_card"]:  # only the unit card (ResNet-50; about a minute here)
        unit_card()
        return 0

    from engine.cli import main as unitscope

    OUT.mkdir(parents=True, exist_ok=True)
    JOBS.mkdir(exist_ok=True)
    commands: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def run(name: str, *steps: list[str]) -> None:
            commands[name] = list(steps)
            for argv in steps:
                argv = [a.replace("$TMP", tmp) for a in argv] + (["--no-sidecar", "--force"] if argv[0] == "figure" else [])
                print("unitscope " + " ".join(shlex.quote(a) for a in argv), flush=True)
                if unitscope(argv) != 0:
                    raise SystemExit(f"failed: {argv}")

        run("mosaic", ["record", "resnet18", "--layer", "layer1", "--images", SAMPLES[1], "--out", "$TMP/acts.h5",
                       "--memory-format", "contiguous"],
            ["figure", "$TMP/acts.h5", "--out", "docs/figures/mosaic.png", "--top", "32", "--width-mm", "120"])
        run("tuning", ["tuning", "resnet18", "--layer", "layer1", "--channel", "3", "--param",
                       "orientation=0:180:24", "--phases", "8", "--out", "$TMP/tuning.csv"],
            ["figure", "$TMP/tuning.csv", "--out", "docs/figures/tuning.png", "--width-mm", "120"])
        run("rdm", ["rdm", "resnet18", "--layer", "layer3", "--images", *SAMPLES, "--out", "$TMP/rdm.npy"],
            ["figure", "$TMP/rdm.npy", "--out", "docs/figures/rdm.png", "--width-mm", "85"])
        widths = {"population": "180", "comparison": "180", "receptive_field": "180", "unit": "180"}
        for name, job in _jobs().items():
            path = JOBS / f"{name}.job.json"
            path.write_text(json.dumps({"format": "unitscope-job/1", "model": MODEL, "job": job}, indent=2) + "\n")
            rel = str(path.relative_to(ROOT))
            extra = ["--unit", "11"] if name == "unit" else []
            run(name, ["run", rel, "--out", f"$TMP/{name}.npz"],
                ["figure", f"$TMP/{name}.npz", "--out", f"docs/figures/{name}.png",
                 "--width-mm", widths.get(name, "120"), *extra])
    unit_card()
    lines = []
    for name, steps in commands.items():
        shown = "\n".join("unitscope " + " ".join(a.replace("$TMP/", "") for a in argv) for argv in steps)
        lines.append(f"{name}:\n{shown}\n")
    lines.append(f"unit_card:\n{CARD_COMMAND}\n")
    (OUT / "COMMANDS.txt").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
