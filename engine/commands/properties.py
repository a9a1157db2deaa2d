"""``unitscope properties MODEL --layer L [--units N|all] --out props.csv [--reference V1.csv|RESPONSES]``.

The V1 property battery (:mod:`engine.analyses.properties`) for units at the receptive-field
centre of a layer's map: one CSV row per unit, every unit read from the same forward
passes (Ctrl-C stops it and leaves no half-written file).  Convolutions run channels-last
on the CPU, as ``unitscope record``'s default does (equal up to float rounding).  A
``<name>.csv.json`` sidecar holds the command's parameters, the RF, the job and the
provenance, and, with ``--reference``, the KS similarity of each property's distribution
to the reference's (Marques et al. 2021).  The reference is a CSV of measured properties, or
a lab's responses to gratings named by their labels (:mod:`engine.neural.gratings`), whose
neurons' properties are measured here by the battery's own definitions
(:func:`engine.analyses.neuron_tuning.reference_from_responses`); the sidecar then holds those
values, the properties the gratings cannot give and why.  Spatial frequencies are compared in
the battery's unit, cycles per receptive field of the layer: a neuron's cycles per image times
the RF side over the image side (a common scale leaves the KS statistic unchanged).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from engine.cli import add_device_arguments, add_model_arguments, layer_name, open_session, positive_int, window_ms
from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_text, place_file, temporary_for
from engine.files.writers import output_suffix


def units_count(text: str) -> int | None:
    """An argparse type: ``all`` (None) or a whole number from 1 up."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number or 'all'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1, or 'all'")
    return value


def register(sub) -> None:
    parser = sub.add_parser("properties", help="the V1 property battery for the units of a layer")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, type=layer_name, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--units", type=units_count, default=None, metavar="N|all",
                        help="channels measured, spread evenly over the layer (default: all)")
    parser.add_argument("--orientations", type=positive_int, default=12, help="orientations (default 12)")
    parser.add_argument("--phases", type=positive_int, default=8, help="phases per grating (default 8)")
    parser.add_argument("--chunk", type=positive_int, default=256, metavar="N",
                        help="ignored (kept for old scripts): every unit is read from the same forward passes")
    parser.add_argument("--reference", metavar="FILE", default=None,
                        help="reference distributions: a CSV with one column per property, one value per row; or "
                             "responses to gratings named by labels (.npz .h5 .mat .nwb, long-form .csv), whose "
                             "neurons' properties are measured by the battery's definitions")
    parser.add_argument("--window", type=window_ms, default=None, metavar="A:B",
                        help="an NWB reference: count spikes from A to B ms after each onset (default 50:200)")
    parser.add_argument("--out", required=True, metavar="FILE", help="props.csv")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def _cell(value):
    return "" if isinstance(value, float) and not math.isfinite(value) else value


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args) -> int:
    from tqdm import tqdm

    from engine.analyses.neuron_tuning import in_battery_units, is_responses_file, reference_from_responses
    from engine.analyses.properties import COLUMNS, read_reference, similarity_to_reference
    from engine.jobs.properties import Properties
    from engine.session.job import JobFile

    out = Path(args.out)
    output_suffix(out, (".csv",))
    neurons = None
    if args.reference and is_responses_file(args.reference):
        neurons = reference_from_responses(args.reference, args.window)
        reference = dict(neurons.values)
    else:
        if args.window is not None:
            raise UnitscopeError("--window counts the spikes of an NWB reference; the reference is a CSV of "
                                 "properties.")
        reference = read_reference(args.reference) if args.reference else None
    job = Properties(args.layer, args.units, args.orientations, phases=args.phases, chunk=args.chunk,
                     batch_size=args.batch_size)
    session = open_session(args, memory_format="auto")
    tmp = temporary_for(out)  # hidden, and removed next time if this process is killed
    rows: list[list] = []  # only the few numbers per unit, for the similarity and the summary
    snapshot = None
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh, \
                tqdm(total=None, unit="stim", desc="properties", file=sys.stderr, disable=None) as bar:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for snapshot in session.run(job):
                for row in snapshot.rows[len(rows):]:
                    writer.writerow([_cell(v) for v in row])
                    rows.append(row)
                fh.flush()
                bar.total, bar.n = snapshot.total, snapshot.done
                bar.refresh()
        place_file(tmp, out)
    except OSError as exc:
        raise UnitscopeError(f"Could not save '{out.name}': {exc.strerror or exc}.") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    record = {"command": "properties",
              "parameters": {"layer": args.layer, "units": "all" if args.units is None else args.units,
                             "orientations": args.orientations, "phases": args.phases, "chunk": args.chunk,
                             "reference": args.reference, "window_ms": list(args.window) if args.window else None},
              "rf": snapshot.rf if snapshot else {}, "columns": list(COLUMNS), "n_units": len(rows),
              "job": JobFile(session.model, job).to_dict(), "provenance": session.provenance()}
    if neurons is not None:
        rf_side = (snapshot.rf if snapshot else {}).get("rf_side")
        reference = in_battery_units(reference, rf_side, session.preprocess.crop_size)
        record["reference"] = {"kind": "responses", "file": Path(args.reference).name, "n_neurons": neurons.n_neurons,
                               "n_gratings": neurons.n_gratings, "left_out": neurons.left_out,
                               "not_computed": neurons.not_computed, "rf_side": rf_side,
                               "image_side": session.preprocess.crop_size,
                               "properties": {name: values.tolist() for name, values in reference.items()}}
    if reference is not None:
        record["similarity"] = similarity_to_reference(rows, reference)
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(_json_ready(record), indent=2))
    summary = f"saved {out}: {len(rows)} units of {args.layer}"
    if reference is not None:
        summary += f"; mean KS similarity to the reference {record['similarity']['mean']:.3f}"
    print(summary)
    if neurons is not None:
        print(f"reference: {neurons.n_neurons} neurons measured on {neurons.n_gratings} gratings"
              + (f" ({len(neurons.left_out)} other rows left out)" if neurons.left_out else ""))
        for name, why in neurons.not_computed.items():
            print(f"  not compared: {name}: {why}")
    return 0
