"""``unitscope visualize MODEL --layer L --channel C [--y Y --x X] --out FILE.png|.npy``.

The image that maximises a channel (or one unit of it) by feature visualisation
(:mod:`engine.analyses.feature_vis`).  A ``.png`` holds the image with the record in its
``unitscope`` text chunk; a ``.npy`` holds it as ``H x W x 3`` float32 in [0, 1].  Either way
a ``<name>.json`` sidecar holds the command's parameters, the final activation, the best
activation over the built-in stimuli and sample images, the job (``unitscope run``
reproduces it) and the provenance.  ``--seed`` seeds random weights (when there are
no pretrained ones) and the image's initial noise and transforms: the same seed gives
the same image on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.cli import (
    add_device_arguments,
    add_model_arguments,
    layer_name,
    open_session,
    positive_int,
    run_with_progress,
)
from engine.files.atomic import atomic_write
from engine.files.writers import output_suffix, write_activations


def _finite(least: float, inclusive: bool = True):
    """An argparse type: a finite number from ``least`` up (above it unless ``inclusive``)."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if value < least or (value == least and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {'at least' if inclusive else 'more than'} {least:g}, "
                                             f"got {text}")
        return value
    return parse


def register(sub) -> None:
    parser = sub.add_parser("visualize", help="feature visualisation: the image a unit wants")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, type=layer_name, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--channel", type=int, required=True, metavar="C")
    parser.add_argument("--y", type=int, default=None, help="row of a single unit (with --x; default: "
                                                             "the channel's mean over the map)")
    parser.add_argument("--x", type=int, default=None, help="column of a single unit (with --y)")
    parser.add_argument("--steps", type=positive_int, default=256, help="optimiser steps (default 256)")
    parser.add_argument("--size", type=positive_int, default=None, metavar="PX",
                        help="image side in pixels (default: the model's input size)")
    parser.add_argument("--lr", type=_finite(0.0, inclusive=False), default=0.05,
                        help="Adam learning rate (default 0.05)")
    parser.add_argument("--images", type=positive_int, default=1, metavar="N",
                        help="images optimised together (the first is saved; .npy saves all as N x H x W x 3)")
    parser.add_argument("--diversity", type=_finite(0.0), default=0.0, metavar="W",
                        help="weight of the diversity term between images (default 0)")
    parser.add_argument("--out", required=True, metavar="FILE", help="image.png or image.npy")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def _builtin_inputs() -> tuple[tuple[str, str], ...]:
    from engine.stimuli.procedural import PROCEDURAL
    from resources import sample_images

    return (tuple(("procedural", name) for name in PROCEDURAL)
            + tuple(("image", str(path)) for path in sample_images()))


def run(args) -> int:
    from PIL import Image, PngImagePlugin

    from engine.jobs.visualize import Visualize
    from engine.session.job import JobFile

    out = Path(args.out)
    suffix = output_suffix(out, (".png", ".npy"))
    job = Visualize(args.layer, args.channel, args.y, args.x, steps=args.steps, lr=args.lr, seed=args.seed,
                    size=args.size, images=args.images, diversity=args.diversity,
                    every=max(args.steps // 16, 1), compare=_builtin_inputs())
    session = open_session(args)
    result = run_with_progress(session, job, "visualize", "step")
    record = {
        "command": "visualize",
        "parameters": {"layer": args.layer, "channel": args.channel, "y": args.y, "x": args.x,
                       "steps": args.steps, "size": int(result.images.shape[1]), "lr": args.lr,
                       "seed": args.seed, "images": args.images, "diversity": args.diversity},
        "objective": result.label,
        "activation": result.activation,
        "best_input_activation": result.best_input,
        "best_input": result.best_input_label,
        "job": JobFile(session.model, job).to_dict(),
    }
    meta = session.provenance()
    if suffix == ".npy":
        images = result.images if args.images > 1 else result.images[0]
        write_activations(out, {"visualization": images}, {**meta, **record})
    else:
        pixels = np.rint(np.clip(result.images[0], 0, 1) * 255).astype(np.uint8)
        info = PngImagePlugin.PngInfo()
        info.add_text("unitscope", json.dumps({**record, "provenance": meta}))
        atomic_write(out, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG", pnginfo=info))
        text = json.dumps({**record, "provenance": meta}, indent=2)
        atomic_write(out.with_name(out.name + ".json"), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    best = "" if result.best_input is None else f" (best built-in input: {result.best_input:.4g}, {result.best_input_label})"
    print(f"saved {out}: {result.label} activation {result.activation[0]:.4g}{best}")
    return 0
