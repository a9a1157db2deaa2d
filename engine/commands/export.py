"""``unitscope export JOB_DIR --out all.h5``: a finished sharded job's merged results in one file.

A summaries job's arrays are named as ``unitscope run`` names a summaries result
(``layer1/mean``, ``layer1/top/indices`` …, each in its own type).  A predict job's merged
layers are written as ``unitscope predict`` writes its result: ``R.csv`` (one row per neuron
and layer, with ``R.csv.json``) or ``R.npz`` (``unitscope run R.npz`` runs the whole job
again in one process).  A job with a shard not done or damaged is refused, naming them.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import UnitscopeError
from engine.files.writers import SUPPORTED_SUFFIXES


def register(sub) -> None:
    parser = sub.add_parser("export", help="write a finished sharded job's merged results to one file")
    parser.add_argument("job_dir", metavar="JOB_DIR", help="a job folder made by unitscope submit")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}; a predict job: .csv or .npz")
    parser.add_argument("--array", action="append", metavar="NAME",
                        help="export only this array (LAYER/REDUCTION, LAYER/moments/mean, LAYER/top/indices, "
                             "...); repeat for several; a .npy file holds one")
    parser.set_defaults(run=run, existing_outputs=existing_outputs)


def existing_outputs(args) -> list[Path]:
    """The output and, for a file that has one (``.csv``, ``.npy``), its JSON sidecar, where they exist."""
    out = Path(args.out)
    side = [out.with_name(out.name + ".json")] if out.suffix.lower() in (".csv", ".npy") else []
    return [p for p in (out, *side) if p.exists()]


def run(args) -> int:
    from engine.cluster.store import JobStore

    if JobStore(args.job_dir).kind == "predict":
        from engine.cluster.predict_merged import merged_result
        from engine.commands.predict import check_suffix, save_result

        if args.array:
            raise UnitscopeError("--array picks arrays of a summaries job; a predict job exports its whole table "
                                 "(.csv) or result (.npz).")
        check_suffix(args.out)
        print(save_result(args.out, *merged_result(args.job_dir)))
        return 0
    from engine.cluster.merged import export

    out, names = export(args.job_dir, args.out, args.array)
    print(f"saved {out}: {len(names)} array(s): {', '.join(names)}")
    return 0
