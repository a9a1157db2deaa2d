"""``unitscope rdm MODEL --layer L --images DIR --out rdm.npy``.

The representational dissimilarity matrix (1 - Pearson r between the population vectors
of every pair of images) of one layer, saved with :func:`engine.writers.write_activations`
(``.npy`` with a ``.npy.json`` sidecar, ``.npz``, ``.h5`` or ``.mat``).  The provenance
lists the images in row order and adds the layer's participation ratio and the variance
explained by its first principal components.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from engine.cli import add_device_arguments, add_model_arguments, open_session
from engine.errors import UnitscopeError
from engine.population import VIEWS, population_stream
from engine.protocols import ImageFolder
from engine.writers import SUPPORTED_SUFFIXES, write_activations


def register(sub) -> None:
    parser = sub.add_parser("rdm", help="representational dissimilarity matrix of a layer over images")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--view", default="flat", choices=VIEWS,
                        help="population vector: every unit (flat), channel means over space "
                             "(channels) or the channels at the map centre (centre)")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}")
    parser.add_argument("--workers", type=int, default=None, help="image decoding processes")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if not args.out.lower().endswith(SUPPORTED_SUFFIXES):
        raise UnitscopeError(f"Output '{args.out}' must end in one of {', '.join(SUPPORTED_SUFFIXES)}.")
    session = open_session(args)
    recorder = session.recorder
    recorder.resolve([args.layer])
    preprocess = session.preprocess
    images = ImageFolder(args.images, args.workers)
    images.on_error = lambda path, message: tqdm.write(f"unitscope: skipped: {message}", file=sys.stderr)
    state = None
    with tqdm(total=len(images), unit="img", desc="rdm", file=sys.stderr, disable=None) as bar:
        for state in population_stream(recorder, args.layer, images, preprocess, args.view,
                                       batch_size=args.batch_size):
            bar.update(state.rdm.n - bar.n)
    if state is None or state.rdm.n == 0:
        raise UnitscopeError("None of the images could be read; nothing was saved.")
    pca = state.pca(10)
    meta = session.provenance(
        command="rdm", layer=args.layer,
        view=args.view, measure="1 - Pearson r", n_units=int(state.rdm.rows.shape[1]),
        participation_ratio=state.participation_ratio(),
        explained_variance_ratio=[float(v) for v in pca.explained_variance_ratio],
        image_paths=[str(p) for p in images.kept], skipped_paths=[str(p) for p, _ in images.skipped])
    out = write_activations(args.out, {args.layer: state.rdm.rdm}, meta)
    print(f"saved {out}: {state.rdm.n} x {state.rdm.n} RDM of '{args.layer}' ({args.view}, "
          f"{state.rdm.rows.shape[1]} units)"
          + (f"; {len(images.skipped)} file(s) skipped" if images.skipped else ""))
    return 0
