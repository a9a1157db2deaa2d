"""``unitscope run JOB.json --out RESULT.npz|.json``: run a saved job headless.

``JOB`` is a job file (the window's File ▸ Save job, or :meth:`engine.session.job.JobFile.save`)
or a result written by this command, whose job is embedded: running it again reproduces
the result.  The job names its model, weights (with their SHA-256) or random-weights seed,
device and memory format; ``--device`` overrides the device.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.cli import device_name, run_with_progress
from engine.errors import UnitscopeError
from engine.session.job import JobFile
from engine.models.trust import require_trust
from engine.session.results import RESULT_SUFFIXES, load_job, write_result


def read_job(path: str) -> JobFile:
    """The job in a job file or result, from a regular file only; whatever is wrong with it is
    one line naming the file."""
    from engine.files.reading import JSON_LIMIT, RESULT_LIMIT, check_regular

    name = Path(path).name
    check_regular(path, "Job file", RESULT_LIMIT if path.lower().endswith(".npz") else JSON_LIMIT)
    try:
        return load_job(path)
    except UnitscopeError:
        raise
    except RecursionError:
        raise UnitscopeError(f"'{name}' is not a Unitscope job or result: its JSON is nested too deeply.") from None
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:  # e.g. an __job__ that is not JSON
        raise UnitscopeError(f"'{name}' is not a Unitscope job or result: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ") + ".") from None


def register(sub) -> None:
    parser = sub.add_parser("run", help="run a saved job (or a result's job) and write its result")
    parser.add_argument("job", metavar="JOB", help="job file (.json), or a result (.npz/.json) to run again")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"result: {' or '.join(RESULT_SUFFIXES)}")
    parser.add_argument("--device", type=device_name, default=None,
                        help="run on this device instead of the job's (auto, cpu, cuda, cuda:N, mps)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow a job whose model is a pickled file (runs code from it)")
    parser.add_argument("--trust-code", action="store_true",
                        help="allow a job whose model is FILE.py:FACTORY (runs that file)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from engine.session.session import Session

    if not args.out.lower().endswith(RESULT_SUFFIXES):
        raise UnitscopeError(f"Output '{args.out}' must end in {' or '.join(RESULT_SUFFIXES)}.")
    job_file = read_job(args.job)
    model = job_file.model
    require_trust(model.spec, args.trust_code, args.trust_pickle)
    model = replace(model, trust_pickle=args.trust_pickle,
                    device=args.device if args.device else model.device)
    session = Session.open(model)
    job = job_file.job
    snapshots = None
    if job.kind == "summaries":  # the result keeps every stimulus's reductions, not only the last batch's
        from engine.jobs.summaries import collected

        snapshots = collected(session.run(job))
    snapshot = run_with_progress(session, job, job.kind, "stim", snapshots)
    out = write_result(args.out, JobFile(session.model, job), snapshot, session.provenance())
    print(f"saved {out}: {job.kind} job, {snapshot.done} of {snapshot.total} done ({job.describe().rstrip('…')})")
    return 0
