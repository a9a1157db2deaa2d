"""``unitscope tuning MODEL --layer L --channel C --protocol gratings --out tuning.csv``.

One row per stimulus condition: a column per parameter, then the response measures over
phase (``f0`` mean, ``f1`` first-harmonic amplitude, ``max``, ``min``) and ``n``, the
number of phases averaged.  A CSV gets a ``<name>.csv.json`` sidecar with the command's
parameters, the protocol, the unit and its receptive field, the tuning metrics and the
provenance; an ``.h5`` file holds one dataset per column and all that as attributes.
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
from engine.files.atomic import atomic_write_all
from engine.files.writers import csv_writer, output_suffix, write_activations
from engine.stimuli.protocols import DEFAULT_PHASES, KINDS, parse_param


def register(sub) -> None:
    parser = sub.add_parser("tuning", help="tuning curves of one unit to a stimulus protocol")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, type=layer_name, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--channel", type=int, required=True, metavar="C")
    parser.add_argument("--y", type=int, default=None, help="row in the feature map (default: centre)")
    parser.add_argument("--x", type=int, default=None, help="column in the feature map (default: centre)")
    parser.add_argument("--protocol", default="gratings",
                        help=f"one of {', '.join(KINDS)} (size, contrast, hue, bar_length and phase "
                             "add surround suppression, Naka-Rushton c50/exponent, preferred hue, "
                             "end-stopping and F1/F0 to the metrics)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                        help="values of a parameter: start:stop:count (stop excluded), a,b,c or "
                             "one value; e.g. orientation=0:180:36; repeat for several")
    parser.add_argument("--phases", type=positive_int, default=DEFAULT_PHASES,
                        help="phases per condition, averaged over (gratings, Gabors)")
    parser.add_argument("--out", required=True, metavar="FILE", help="tuning.csv or tuning.h5")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def run(args) -> int:
    from engine.analyses.properties import protocol_metrics
    from engine.jobs.protocol_responses import ProtocolResponses
    from engine.session.job import JobFile

    out = Path(args.out)
    output_suffix(out, (".csv", ".h5"))
    params = tuple((name, tuple(float(v) for v in values))
                   for name, values in (parse_param(text) for text in args.param))
    job = ProtocolResponses(args.layer, args.channel, args.y, args.x, args.protocol, params, args.phases,
                            args.batch_size)
    session = open_session(args)
    result = run_with_progress(session, job, "tuning", "stim")
    header, rows, metrics = result.columns, result.rows, dict(result.metrics)
    metrics["battery"] = protocol_metrics(result.protocol["protocol"], header, rows)  # size, contrast, hue, ...
    record = {
        "command": "tuning",
        "parameters": {"layer": args.layer, "channel": args.channel, "y": args.y, "x": args.x,
                       "protocol": result.protocol["protocol"],
                       "param": list(args.param), "phases": args.phases, "batch_size": args.batch_size},
        "unit": result.unit,
        "protocol": result.protocol,
        "metrics": metrics,
        "columns": header,
        "job": JobFile(session.model, job).to_dict(),  # unitscope run reproduces it
    }
    meta = session.provenance()
    if out.suffix.lower() == ".csv":
        text = json.dumps(_json_ready({**record, "provenance": meta}), indent=2)
        atomic_write_all({out: csv_writer(out, header, rows),  # the table and its sidecar, or neither
                          out.with_name(out.name + ".json"): lambda tmp: tmp.write_text(text, encoding="utf-8")})
    else:
        columns = {name: np.array([row[i] for row in rows], dtype=float) for i, name in enumerate(header)}
        flat = {key: json.dumps(_json_ready(value)) if isinstance(value, dict) else value
                for key, value in record.items()}
        write_activations(out, columns, {**meta, **flat})
    summary = f"saved {out}: {result.n_conditions} conditions x {result.n_phases} phase(s)"
    ori = metrics["f0"].get("orientation")
    if ori:
        summary += (f"; preferred orientation {ori['preferred_deg']:.1f} deg, OSI {ori['osi']:.2f}, "
                    f"circular variance {ori['circular_variance']:.2f}")
    summary += "".join(f"; {key.replace('_', ' ')} {value:.3g}" for key, value in _battery_summary(metrics["battery"]))
    print(summary)
    return 0


def _battery_summary(battery: dict):
    """The headline battery metrics: (name, value) pairs."""
    wanted = {"size": ("surround_suppression_index", "preferred_radius"), "contrast": ("c50", "exponent"),
              "hue": ("preferred_hue_deg",), "bar_length": ("optimal_length", "end_stopping_index")}
    for kind, names in wanted.items():
        for name in names if kind in battery else ():
            yield name, battery[kind][name]
    if "modulation_ratio" in battery:
        yield "F1/F0", battery["modulation_ratio"]
