"""``unitscope status JOB_DIR``: done, damaged, running, pending and failed shards of a job, with their logs.

A done shard's chunk files are checked against what it recorded: missing, a size or time
changed and then a SHA-256 that differs make it ``damaged``; ``--verify`` hashes every chunk.
"""

from __future__ import annotations

import dataclasses

from engine.cli import print_json


def register(sub) -> None:
    parser = sub.add_parser("status", help="show the shards of a submitted job: done, running, failed, logs")
    parser.add_argument("job_dir", metavar="JOB_DIR", help="a job folder made by unitscope submit")
    parser.add_argument("--json", action="store_true", help="print the states as JSON")
    parser.add_argument("--verify", action="store_true",
                        help="hash every chunk of the done shards (else only those whose size or time changed)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from engine.cluster.status import counts, job_status

    states = job_status(args.job_dir, verify="full" if args.verify else "quick")
    tally = counts(states)
    if args.json:
        print_json({"counts": tally, "shards": [dataclasses.asdict(s) for s in states]})
        return 0
    print(f"{args.job_dir}: " + ", ".join(f"{n} {state}" for state, n in tally.items() if n))
    for s in states:
        part = f"layers {', '.join(s.layers)}" if s.layers else f"stimuli {s.start}-{s.stop - 1}"
        line = f"  shard {s.shard:4d}  {part}  {s.state}"
        if s.attempts:
            line += f"  ({s.attempts} attempt{'s' if s.attempts > 1 else ''}"
            line += f", job {s.job_id})" if s.job_id else ")"
        print(line)
        if s.state == "failed":
            print(f"      {s.error}")
        if s.state == "damaged":
            print(f"      {s.error}; unitscope submit {args.job_dir} redoes it")
        if s.state in ("failed", "running") and s.stderr:
            print(f"      log: {s.stderr}")
    return 0
