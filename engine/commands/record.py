"""``unitscope record MODEL --layer NAME --images PATH... --out FILE``."""

from __future__ import annotations

import json

from engine.cli import (
    add_device_arguments,
    add_model_arguments,
    add_workers_argument,
    layer_name,
    open_session,
    run_with_progress,
)
from engine.errors import UnitscopeError
from engine.files.writers import SUPPORTED_SUFFIXES, output_suffix, write_activations
from engine.jobs.record_images import RecordImages
from engine.session.job import JobFile
from engine.stimuli.images import find_images


def register(sub) -> None:
    parser = sub.add_parser("record", help="record layer outputs for a set of images and save them")
    add_model_arguments(parser)
    parser.add_argument("--layer", action="append", required=True, type=layer_name, metavar="NAME",
                        help="module name, NAME#k for its k-th call; repeat for several layers")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}")
    add_workers_argument(parser)
    parser.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto",
                        help="layout of convolution inputs: auto is channels_last on the CPU (faster "
                             "there, equal up to float rounding) and contiguous elsewhere")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if output_suffix(args.out) == ".npy" and len(args.layer) > 1:
        raise UnitscopeError(f"Output '{args.out}': .npy holds one layer; use .npz, .h5 or .mat for several.")
    session = open_session(args, memory_format=args.memory_format)
    session.recorder.resolve(args.layer)
    paths = find_images(args.images, refuse_broken_links=True)
    if not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    job = RecordImages(tuple(args.layer), tuple(str(p) for p in paths), args.batch_size, args.workers)
    result = run_with_progress(session, job, "recording", "img")
    failed = [path for path, _message in result.skipped]
    meta = session.provenance(layers=list(args.layer), image_paths=result.image_paths, skipped_paths=failed,
                              job=json.dumps(JobFile(session.model, job).to_dict()))
    out = write_activations(args.out, result.outputs, meta)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in result.outputs.items())
    print(f"saved {out}: {shapes}" + (f"; {len(failed)} file(s) skipped" if failed else ""))
    return 0
