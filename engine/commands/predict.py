"""``unitscope predict MODEL --responses FILE [--images DIR] [--layers ...] --out R.csv|.npz``.

How well each layer predicts a lab's recorded neurons (:mod:`engine.analyses.predictivity`).
Rows named by a grating label (:mod:`engine.neural.gratings`) are drawn at the model's input
size; ``--images`` is needed for the other rows only.
``R.csv`` has one row per neuron and layer (held-out r with its bootstrap interval,
explained variance, noise ceiling, normalised score, ridge alpha, the best single unit and
its held-out r, whether the layer is the neuron's best); ``R.csv.json`` beside it holds the
per-layer RSA and CKA, the ceilings, the command's parameters, the job and the provenance.
``R.npz`` is the job's whole result (``unitscope run R.npz`` runs it again).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.cli import (
    add_device_arguments,
    add_model_arguments,
    add_workers_argument,
    layer_name,
    open_session,
    positive_int,
    run_with_progress,
    window_ms,
)
from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_all
from engine.files.writers import csv_writer
from engine.jobs.predict import Predict
from engine.session.job import JobFile, to_json
from engine.session.results import write_result
from engine.stimuli.images import find_images

COLUMNS = ["neuron", "layer", "r", "r_low", "r_high", "ev", "ceiling", "ceiling_low", "ceiling_high",
           "reliability", "normalised", "normalised_low", "normalised_high", "normalised_ev", "alpha",
           "best_unit", "best_channel", "best_y", "best_x", "unit_r", "best_layer"]


def _degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of degrees") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def register(sub) -> None:
    parser = sub.add_parser("predict", help="how well each layer predicts recorded neurons: ridge encoding "
                                            "models, noise ceilings, RSA, CKA, best units")
    add_model_arguments(parser)
    parser.add_argument("--responses", required=True, metavar="FILE",
                        help="neural responses: .nwb, .npz, .h5, .mat (arrays responses, stimuli) or long .csv")
    parser.add_argument("--images", nargs="+", default=None, metavar="PATH",
                        help="image files or folders; each stimulus row that is not a grating label (e.g. "
                             "'grating orientation=30 sf=4 phase=0') must name one")
    parser.add_argument("--layers", nargs="+", type=layer_name, default=None, metavar="NAME",
                        help="layers to score (default: the model's main stages)")
    parser.add_argument("--window", type=window_ms, default=None, metavar="A:B",
                        help="NWB only: count spikes from A to B ms after each onset (default 50:200)")
    parser.add_argument("--deg-per-image", type=_degrees, default=8.0, metavar="DEG",
                        help="visual angle the model's input spans (default 8, as Brain-Score's V1 benchmarks)")
    parser.add_argument("--features", type=positive_int, default=1000, metavar="N",
                        help="wider layers are randomly projected to N features (seeded; default 1000)")
    parser.add_argument("--pca", type=positive_int, default=None, metavar="K",
                        help="the ridge sees the first K principal components of the features, fitted in each "
                             "training fold (default: all features)")
    parser.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--boots", type=positive_int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--split-seed", type=int, default=0, metavar="S",
                        help="seed of the folds, split halves, bootstrap and projection (default 0)")
    parser.add_argument("--out", required=True, metavar="FILE", help="R.csv (one row per neuron and layer) or R.npz")
    add_workers_argument(parser)
    add_device_arguments(parser)
    parser.set_defaults(run=run, existing_outputs=existing_outputs)


def existing_outputs(args) -> list[Path]:
    out = Path(args.out)
    return [p for p in (out, out.with_name(out.name + ".json")) if p.exists()]


def scores(result) -> np.ndarray:
    """Per layer and neuron the score that ranks layers: the normalised r, or r where a
    neuron has no ceiling (one repeat); -inf where neither is finite."""
    score = np.where(np.isfinite(result.normalised), result.normalised, result.r)
    return np.where(np.isfinite(score), score, -np.inf)


def rows(result) -> list[list]:
    """One row per neuron and layer of a finished :class:`engine.jobs.predict.PredictSnapshot`."""
    out = []
    best = np.argmax(scores(result), axis=0) if len(result.finished) else []
    for n, neuron in enumerate(result.neurons):
        for i, layer in enumerate(result.finished):
            out.append([neuron, layer, result.r[i, n], *result.r_ci[i, n], result.ev[i, n], result.ceiling[n],
                        *result.ceiling_ci[n], result.reliability[n], result.normalised[i, n],
                        *result.normalised_ci[i, n], result.normalised_ev[i, n], result.alpha[i, n],
                        int(result.best_unit[i, n]), int(result.best_channel[i, n]), int(result.best_y[i, n]),
                        int(result.best_x[i, n]), result.unit_r[i, n], int(i == best[n])])
    return [[_cell(v) for v in row] for row in out]


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else float(value)
    return value


def run(args) -> int:
    check_suffix(args.out)
    session = open_session(args)
    paths = find_images(args.images, refuse_broken_links=True) if args.images else []
    if args.images and not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    job = Predict(str(Path(args.responses).absolute()), tuple(str(p) for p in paths), tuple(args.layers or ()),
                  args.window, args.deg_per_image, args.features, pca=args.pca, folds=args.folds,
                  boots=args.boots, seed=args.split_seed, batch_size=args.batch_size, workers=args.workers)
    result = run_with_progress(session, job, "predicting", "step")
    provenance = session.provenance(deg_per_image=args.deg_per_image, responses=job.responses)
    print(save_result(args.out, JobFile(session.model, job), result, provenance))
    return 0


def check_suffix(out: str | Path) -> str:
    """The output's suffix, ``.csv`` or ``.npz`` (else refused in one line)."""
    suffix = Path(out).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise UnitscopeError(f"Output '{out}' must end in .csv or .npz.")
    return suffix


def save_result(out: str | Path, job_file: JobFile, result, provenance: dict) -> str:
    """Write a finished predict result to ``out``: ``R.csv`` with its ``R.csv.json`` (one row
    per neuron and layer; each neuron's best layer among all of the result's layers), or the
    whole result as ``R.npz``.  Returns the line that says what was saved."""
    suffix = check_suffix(out)
    out = Path(out)
    job = job_file.job
    if suffix == ".npz":
        write_result(out, job_file, result, provenance)
    else:
        record = {
            "command": "predict",
            "parameters": {"layers": result.finished, "window_ms": result.window_ms,
                           "deg_per_image": job.deg_per_image, "features": job.features, "pca": job.pca,
                           "folds": job.folds, "boots": job.boots, "seed": job.seed},
            "layers": [{"layer": layer, "rsa": _cell(result.rsa[i]), "cka": _cell(result.cka[i]),
                        "n_features": int(result.n_features[i]), "n_units": int(result.n_units[i]),
                        "median_r": _cell(_nanmedian(result.r[i])),
                        "median_normalised": _cell(_nanmedian(result.normalised[i]))}
                       for i, layer in enumerate(result.finished)],
            "rdm_ceiling": _cell(result.rdm_ceiling),
            "neurons": result.neurons,
            "stimuli": result.stimuli,
            "image_paths": result.image_paths,
            "provenance": to_json(provenance),
            "job": job_file.to_dict(),
        }
        side = out.with_name(out.name + ".json")
        text = json.dumps(record, indent=2)
        atomic_write_all({out: csv_writer(out, COLUMNS, rows(result)),
                          side: lambda tmp: tmp.write_text(text, encoding="utf-8")})
    ranked = "normalised r" if np.isfinite(result.normalised).any() else "r (no noise ceiling: one repeat)"
    best = int(np.argmax([np.median(v) for v in scores(result)]))
    return (f"saved {out}: {len(result.neurons)} neurons x {len(result.finished)} layers; best layer by median "
            f"{ranked}: {result.finished[best]}")


def _nanmedian(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")
