"""Make the README's figure gallery (``make figures``): one figure per view, drawn from data.

Every figure is made the way a user would make it: a job (saved under ``docs/figures/jobs/``)
or a command writes a result, and ``unitscope figure`` draws it (its caption next to it,
``docs/figures/NAME.png.caption.txt``).  The commands are printed, and the README shows each
under its figure.  ResNet-18 with random weights (seed 0): no pretrained file is needed, and
the figures are the same on every machine.  The unit card is drawn from four outputs of one
unit (its visualisation, evidence, tuning and top images).  The property figure's reference is
the same layer of ResNet-18 with random weights seed 1 (an illustration of the overlay, not
primate data).  ``python docs/make_figures.py --pdf DIR`` also writes every figure as PDF to
DIR, to be looked at as a journal would (``pdftoppm -r 300``).
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
                            "noise_frames": 2000, "grid": 16, "n_on": 8, "seed": 0},
        "probe": {"kind": "probe", "units": [{"layer": "layer1", "channel": 3}, {"layer": "layer2", "channel": 7}],
                  "sequence": "strip", "stimuli": [["image", p] for p in SAMPLES]},
    }


#: The unit of the card, the visualisation and the evidence job.
CARD = {"layer": "layer2", "channel": 7}


def _card_jobs() -> dict:
    return {"evidence": {"kind": "evidence", "layer": CARD["layer"], "channel": CARD["channel"],
                         "stimulus": ["image", SAMPLES[1]]}}


def main() -> int:
    import json

    from engine.cli import main as unitscope

    pdf_dir = Path(sys.argv[sys.argv.index("--pdf") + 1]).resolve() if "--pdf" in sys.argv else None

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
                if argv[0] == "figure" and pdf_dir is not None:
                    pdf_dir.mkdir(parents=True, exist_ok=True)
                    out = argv.index("--out") + 1
                    as_pdf = argv[:out] + [str(pdf_dir / (Path(argv[out]).stem + ".pdf"))] + argv[out + 1:]
                    if unitscope(as_pdf) != 0:
                        raise SystemExit(f"failed: {as_pdf}")

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
        model = ["resnet18", "--layer", CARD["layer"], "--channel", str(CARD["channel"])]
        run("visualization", ["visualize", *model, "--steps", "128", "--size", "96", "--images", "3",
                              "--diversity", "0.5", "--seed", "0", "--out", "$TMP/vis.npy"],
            ["figure", "$TMP/vis.npy", "--out", "docs/figures/visualization.png", "--width-mm", "120"])
        battery = ["properties", "resnet18", "--layer", "layer1", "--orientations", "12", "--phases", "4"]
        run("properties", [*battery, "--seed", "1", "--out", "$TMP/reference.csv"],
            [*battery, "--reference", "$TMP/reference.csv", "--out", "$TMP/props.csv"],
            ["figure", "$TMP/props.csv", "--out", "docs/figures/properties.png", "--width-mm", "180"])
        for name, job in _card_jobs().items():
            (JOBS / f"{name}.job.json").write_text(json.dumps({"format": "unitscope-job/1", "model": MODEL,
                                                               "job": job}, indent=2) + "\n")
        run("unit_card", ["run", "docs/figures/jobs/evidence.job.json", "--out", "$TMP/evidence.npz"],
            ["tuning", *model, "--param", "orientation=0:180:12", "--phases", "4", "--out", "$TMP/card_tuning.csv"],
            ["topk", *model, "--images", *SAMPLES, "--k", "4", "--out", "$TMP/card_topk"],
            ["figure", "$TMP/vis.npy", "$TMP/evidence.npz", "$TMP/card_tuning.csv", "$TMP/card_topk",
             "--out", "docs/figures/unit_card.png", "--width-mm", "180"])
    lines = []
    for name, steps in commands.items():
        shown = "\n".join("unitscope " + " ".join(a.replace("$TMP/", "") for a in argv) for argv in steps)
        lines.append(f"{name}:\n{shown}\n")
    (OUT / "COMMANDS.txt").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
