"""``unitscope submit JOB.json --out JOB_DIR --shards N``: a summaries or predict job, sharded on SLURM or locally.

``JOB`` is a job file of a ``summaries`` or ``predict`` job (or a job folder made by an
earlier submit, to go on with it).  A summaries job's stimulus list is sorted and cut into
``N`` chunk-aligned shards; a predict job's layers (the model's main stages when it names
none, fixed now) into ``N`` runs of layers, each shard scoring its own against the noise
ceilings the submitter computed once.  One zarr store in ``JOB_DIR`` holds the job, the
shards, every shard's region and its completion marker.  Submitting a folder again runs only
the shards that are neither done nor running, and redoes the damaged ones (a chunk missing
or changed since its shard wrote it: every chunk is hashed); a predict job whose responses
file or images changed since is refused.  One submitter holds a folder at a time (a second
one is refused in one line).  ``--dry-run`` measures a calibration batch and prints the plan
instead (a predict job: its shards' layers).
"""

from __future__ import annotations

from pathlib import Path

from engine.cli import positive_int
from engine.errors import UnitscopeError

#: ``--out`` names the job's folder: an existing one holding the same job is gone on with, never
#: replaced (a later submit resumes it), so no --force for it.
RESUMES_OUTPUT = True


def register(sub) -> None:
    parser = sub.add_parser("submit", help="run a summaries or predict job sharded: a SLURM job array or local "
                                           "processes")
    parser.add_argument("job", metavar="JOB", help="job file (.json) of a summaries or predict job, or a job folder "
                                                   "to go on with")
    parser.add_argument("--out", metavar="JOB_DIR", help="the job's folder (new job)")
    parser.add_argument("--shards", type=positive_int, metavar="N", help="number of shards (new job)")
    parser.add_argument("--executor", choices=("slurm", "local"), default="slurm",
                        help="slurm: one job array through sbatch; local: one process per shard here")
    parser.add_argument("--dry-run", action="store_true",
                        help="print output size, memory per task and time from a calibration batch; submit nothing")
    parser.add_argument("--wait", action="store_true", help="wait until every shard has ended")
    parser.add_argument("--trust-code", action="store_true",
                        help="allow a job whose model is FILE.py:FACTORY (runs that file)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow a job whose model is a pickled file (runs code from it)")
    group = parser.add_argument_group("resources per task (also from --profile FILE, a JSON object)")
    group.add_argument("--profile", metavar="FILE", help="JSON file with any of the options below")
    group.add_argument("--partition")
    group.add_argument("--time", dest="time_min", type=positive_int, metavar="MIN", help="wall time (default 60)")
    group.add_argument("--cpus-per-task", type=positive_int, metavar="N")
    group.add_argument("--gpus-per-task", type=positive_int, metavar="N")
    group.add_argument("--mem", dest="mem_gb", type=float, metavar="GB")
    group.add_argument("--array-parallelism", type=positive_int, metavar="N")
    group.add_argument("--account")
    group.add_argument("--qos")
    parser.set_defaults(run=run)


def _resources(args):
    from engine.cluster.executors import Resources

    given = {name: getattr(args, name) for name in ("partition", "time_min", "cpus_per_task", "gpus_per_task",
                                                     "mem_gb", "array_parallelism", "account", "qos")}
    if args.profile:
        return Resources.from_profile(args.profile, **given)
    return Resources(**{k: v for k, v in given.items() if v is not None})


def run(args) -> int:
    import shutil

    from engine.cluster.store import STORE, JobStore, submitting

    resources = _resources(args)
    if args.executor == "slurm" and not args.dry_run and shutil.which("sbatch") is None:
        raise UnitscopeError("sbatch is not on the PATH: this machine cannot submit to SLURM (use --executor "
                             "local, or submit from the cluster's login node; --dry-run works anywhere).")
    if (Path(args.job) / STORE).exists():
        if args.out and Path(args.out).resolve() != Path(args.job).resolve():
            raise UnitscopeError("A job folder is its own output; leave out --out.")
        if args.dry_run:
            raise UnitscopeError("--dry-run prices a new job; for a job folder see unitscope status.")
        JobStore(args.job)  # a damaged store is one line before the folder is held
        with submitting(args.job):
            submitted = _go_on(JobStore(args.job), args, resources)
        return _waited(*submitted, args=args)
    if not args.out:
        raise UnitscopeError("--out JOB_DIR is needed: the folder that will hold the job's store.")
    if args.dry_run:
        _new_job(args, resources)
        return 0
    with submitting(args.out):  # the folder's one submitter: made, or gone on with, by one process at a time
        submitted = _new_job(args, resources)
    return _waited(*submitted, args=args)


def _model_checked_here(job_file, args) -> bool:
    """Whether the submitter opens the model itself before submitting.

    A dry run calibrates on it; a SLURM array may wait in the queue for hours, so a wrong
    layer or model name is caught before queueing; a protocol's stimulus count depends on
    the model's input size; a predict job that names no layers gets the model's main stages;
    a model file may be a pickle whose trust is checked here.  Local
    shards over image files start at once and report such mistakes within seconds, so the
    submitter stays torch-free there (its own start would be most of a small job's overhead).
    """
    spec = job_file.model.spec
    model_file = ".py:" not in spec and not spec.startswith("timm:") and ("/" in spec or bool(Path(spec).suffix))
    job = job_file.job
    unnamed_layers = job.kind == "predict" and not job.layers  # the model's main stages, fixed now
    return args.dry_run or args.executor == "slurm" or bool(getattr(job, "protocol", "")) or model_file \
        or unnamed_layers


def _new_job(args, resources) -> int:
    from dataclasses import replace

    from engine.cluster.dry_run import check_space, estimate, output_bytes
    from engine.cluster.plan import canonical_job, layout, prepare
    from engine.cluster.store import STORE
    from engine.session.job import JobFile
    from engine.session.results import load_job

    job_file = load_job(args.job)
    predict = job_file.job.kind == "predict"
    if not predict:
        job_file = canonical_job(job_file)  # refuses the kinds that do not run sharded
    existing = (Path(args.out) / STORE).exists()
    if args.shards is None and (args.dry_run or not existing):
        raise UnitscopeError("--shards N is needed for a new job.")
    model = job_file.model
    from engine.models.trust import require_trust

    require_trust(model.spec, args.trust_code, args.trust_pickle)  # names the file and its SHA-256
    job_file = JobFile(model.resolved(), job_file.job)
    session = None
    if _model_checked_here(job_file, args):
        from engine.session.session import Session

        session = Session.open(replace(job_file.model, trust_pickle=args.trust_pickle))
        job_file = JobFile(session.model, job_file.job)
    if predict:
        return _new_predict_job(job_file, session, args, resources)
    if existing and not args.dry_run:  # the same job (else refused): go on with it
        return _go_on(prepare(args.out, job_file, args.shards, session), args, resources)
    if session is not None:
        plan_layout = layout(session, job_file.job, args.shards)
        free = check_space(output_bytes(plan_layout), args.out)
        if args.dry_run:
            print("\n".join(estimate(session, job_file.job, plan_layout, free).lines()))
            return ()
    store = prepare(args.out, job_file, args.shards, session)
    return _submit(store, list(range(len(store.shards))), args, resources)


def _new_predict_job(job_file, session, args, resources):
    """A predict job cut by layers: its plan printed (``--dry-run``), or its store made (or
    gone on with) and its shards submitted."""
    from engine.cluster import predict_plan
    from engine.cluster.store import STORE

    if args.dry_run:
        job_file = predict_plan.canonical_job(job_file, session)
        session.recorder.resolve(list(job_file.job.layers))
        shards = predict_plan.layer_shards(list(job_file.job.layers), args.shards)
        print(f"layers: {len(job_file.job.layers)} in {len(shards)} shard(s); each records every image up to its "
              "deepest layer and scores its layers")
        print("\n".join(f"  shard {s}: {', '.join(layers)}" for s, layers in enumerate(shards)))
        return ()
    existing = (Path(args.out) / STORE).exists()
    store = predict_plan.prepare(args.out, job_file, args.shards, session)
    if existing:
        return _go_on(store, args, resources)
    return _submit(store, list(range(len(store.shards))), args, resources)


def _go_on(store, args, resources):
    from engine.cluster.status import job_status

    if args.dry_run:
        raise UnitscopeError("--dry-run prices a new job; for a job folder see unitscope status.")
    if store.kind == "predict":
        from engine.cluster.predict_plan import check_inputs

        check_inputs(store)  # its responses and images are still those its done shards scored
    states = job_status(store.dir, verify="full")
    todo = [s.shard for s in states if s.state in ("failed", "not submitted", "damaged")]
    busy = [s.shard for s in states if s.state in ("running", "pending")]
    if not todo:
        print(f"nothing to submit: {sum(s.state == 'done' for s in states)} shard(s) done, "
              f"{len(busy)} pending or running")
        return ()
    return _submit(store, todo, args, resources)


def _submit(store, shards, args, resources):
    """Submit ``shards``; returns what :func:`_waited` waits for (the folder is still held)."""
    from engine.cluster.executors import submit

    jobs = submit(store.dir, shards, args.executor, resources, args.trust_pickle)
    ids = sorted({str(j.job_id).split("_")[0] for j in jobs})
    print(f"submitted {len(shards)} shard(s) of {len(store.shards)} ({args.executor}, job {', '.join(ids)}); "
          f"logs in {store.dir / 'logs'}; follow with: unitscope status {store.dir}")
    return store, jobs


def _waited(store=None, jobs=(), args=None) -> int:
    """With ``--wait``, wait for the submitted shards (the folder no longer held) and say how they ended."""
    from engine.cluster.status import counts, wait

    if store is None or not args.wait:
        return 0
    states = wait(store.dir, jobs=jobs)
    tally = counts(states)
    print(", ".join(f"{n} {state}" for state, n in tally.items() if n))
    failed = [s for s in states if s.state in ("failed", "damaged")]
    if failed:
        first = next((s.error.splitlines()[-1] for s in failed if s.error), "")
        raise UnitscopeError(f"{len(failed)} shard(s) failed ({', '.join(str(s.shard) for s in failed)})"
                             f"{f', first: {first}' if first else ''}; see unitscope status {store.dir}; "
                             f"unitscope submit {store.dir} reruns them.")
    return 0
