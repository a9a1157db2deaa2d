"""``unitscope record MODEL --layer NAME --images PATH... --out FILE``."""

from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm

from engine.cli import add_device_arguments, add_model_arguments, open_session
from engine.errors import UnitscopeError
from engine.files.writers import SUPPORTED_SUFFIXES, write_activations
from engine.stimuli.image_set import ImageSet, good_batches
from engine.stimuli.images import find_images


def register(sub) -> None:
    parser = sub.add_parser("record", help="record layer outputs for a set of images and save them")
    add_model_arguments(parser)
    parser.add_argument("--layer", action="append", required=True, metavar="NAME",
                        help="module name, NAME#k for its k-th call; repeat for several layers")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}")
    parser.add_argument("--workers", type=int, default=None, help="image decoding processes")
    parser.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto",
                        help="layout of convolution inputs: auto is channels_last on the CPU (faster "
                             "there, equal up to float rounding) and contiguous elsewhere")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if not args.out.endswith(SUPPORTED_SUFFIXES):
        raise UnitscopeError(f"Output '{args.out}' must end in one of {', '.join(SUPPORTED_SUFFIXES)}.")
    if args.out.endswith(".npy") and len(args.layer) > 1:
        raise UnitscopeError(f"Output '{args.out}': .npy holds one layer; use .npz, .h5 or .mat for several.")
    session = open_session(args, memory_format=args.memory_format)
    recorder = session.recorder
    recorder.resolve(args.layer)
    paths = find_images(args.images)
    if not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    preprocess = session.preprocess
    kept: list = []
    failed: list[str] = []

    def on_error(path, message):
        failed.append(str(path))
        tqdm.write(f"unitscope: skipped: {message}", file=sys.stderr)

    chunks: dict[str, list[np.ndarray]] = {layer: [] for layer in args.layer}
    batches = good_batches(ImageSet(paths, preprocess), args.batch_size, on_error, kept, args.workers)
    with tqdm(total=len(paths), unit="img", desc="recording", file=sys.stderr, disable=None) as bar:
        for recorded in recorder.record(args.layer, batches):
            for layer, out in recorded.outputs.items():
                chunks[layer].append(out.numpy())
            bar.update(recorded.size)
    if not kept:
        raise UnitscopeError("None of the images could be read; nothing was saved.")
    arrays = {layer: np.concatenate(parts) for layer, parts in chunks.items()}
    meta = session.provenance(layers=list(args.layer), image_paths=[str(p) for p in kept],
                              skipped_paths=failed)
    out = write_activations(args.out, arrays, meta)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    print(f"saved {out}: {shapes}" + (f"; {len(failed)} file(s) skipped" if failed else ""))
    return 0
