"""Sharded, resumable jobs on a cluster (SLURM through submitit) or local processes.

``plan`` cuts a job's sorted stimulus list into chunk-aligned shards, ``store`` is the one
zarr store per job, ``shard`` what each task runs, ``executors`` submits shards,
``status`` says where they stand (done shards checked against the chunk checksums they
recorded: ``damaged`` when one is missing or changed), ``merged`` merges and exports the
results (``export_file``: named arrays, each in its own type) and ``dry_run`` prices a plan
from a measured calibration batch.  A predict job is cut by layers instead: ``predict_plan``
fixes and splits its layers and stores what every shard shares, ``predict_shard`` scores a
shard's layers, ``predict_merged`` merges them into the one-process result.
"""
