"""``unitscope export JOB_DIR --out all.h5``: a finished sharded job's merged results in one file.

Named as ``unitscope run`` names a summaries result (``layer1/mean``, ``layer1/top/indices``
…, each in its own type); a job with a shard not done or damaged is refused, naming them.
"""

from __future__ import annotations

from engine.files.writers import SUPPORTED_SUFFIXES


def register(sub) -> None:
    parser = sub.add_parser("export", help="write a finished sharded job's merged results to one file")
    parser.add_argument("job_dir", metavar="JOB_DIR", help="a job folder made by unitscope submit")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}")
    parser.add_argument("--array", action="append", metavar="NAME",
                        help="export only this array (LAYER/REDUCTION, LAYER/moments/mean, LAYER/top/indices, "
                             "...); repeat for several; a .npy file holds one")
    parser.set_defaults(run=run)


def run(args) -> int:
    from engine.cluster.merged import export

    out, names = export(args.job_dir, args.out, args.array)
    print(f"saved {out}: {len(names)} array(s): {', '.join(names)}")
    return 0
