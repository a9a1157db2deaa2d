"""``unitscope rdm MODEL --layer L --images DIR --out rdm.npy``.

The representational dissimilarity matrix (1 - Pearson r between the population vectors
of every pair of images) of one layer, saved with :func:`engine.files.writers.write_activations`
(``.npy`` with a ``.npy.json`` sidecar, ``.npz``, ``.h5`` or ``.mat``).  The provenance
lists the images in row order and adds the layer's participation ratio and the variance
explained by its first principal components.
"""

from __future__ import annotations

import json

from engine.analyses.population import VIEWS
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
from engine.stimuli.images import find_images


def register(sub) -> None:
    parser = sub.add_parser("rdm", help="representational dissimilarity matrix of a layer over images")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, type=layer_name, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--view", default="flat", choices=VIEWS,
                        help="population vector: every unit (flat), channel means over space "
                             "(channels) or the channels at the map centre (centre)")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"output file: {', '.join(SUPPORTED_SUFFIXES)}")
    add_workers_argument(parser)
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from engine.jobs.rdm import LayerRDM
    from engine.session.job import JobFile

    output_suffix(args.out)
    session = open_session(args)
    session.recorder.resolve([args.layer])
    paths = find_images(args.images, refuse_broken_links=True)
    if not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    job = LayerRDM(args.layer, tuple(str(p) for p in paths), args.view, args.batch_size, args.workers)
    result = run_with_progress(session, job, "rdm", "img")
    meta = session.provenance(
        command="rdm", layer=args.layer, view=args.view, measure="1 - Pearson r", n_units=result.n_units,
        participation_ratio=result.participation_ratio,
        explained_variance_ratio=result.explained_variance_ratio,
        image_paths=result.image_paths, skipped_paths=[path for path, _message in result.skipped],
        job=json.dumps(JobFile(session.model, job).to_dict()))
    out = write_activations(args.out, {args.layer: result.rdm}, meta)
    n = len(result.image_paths)
    print(f"saved {out}: {n} x {n} RDM of '{args.layer}' ({args.view}, {result.n_units} units)"
          + (f"; {len(result.skipped)} file(s) skipped" if result.skipped else ""))
    return 0
