"""``unitscope rsa MODEL --layer A --layer B --images DIR --out rsa.json``.

Compares two layers of one model over the same images: the RSA (Spearman correlation of
the two RDMs' upper triangles, RDM = 1 - Pearson r between stimuli) and the linear CKA
of the two populations.  Both layers are recorded in one forward pass per batch
(:func:`engine.analyses.population.compare_stream`).  The JSON holds both numbers and the
provenance (model, weights, preprocessing, versions, images in order).
"""

from __future__ import annotations

import json
import math

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
from engine.files.atomic import atomic_write
from engine.files.writers import output_suffix
from engine.jobs.comparison import Compare
from engine.session.job import JobFile
from engine.stimuli.images import find_images


def register(sub) -> None:
    parser = sub.add_parser("rsa", help="compare two layers over images: RSA of their RDMs and linear CKA")
    add_model_arguments(parser)
    parser.add_argument("--layer", action="append", required=True, type=layer_name, metavar="NAME",
                        help="module name, or NAME#k; give it twice (the two layers compared)")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--view", default="flat", choices=VIEWS,
                        help="population vector: every unit (flat), channel means over space "
                             "(channels) or the channels at the map centre (centre)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output JSON file")
    add_workers_argument(parser)
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def _finite(value: float) -> float | None:
    """The value, or None (JSON null) when undefined (a constant population)."""
    return value if math.isfinite(value) else None


def run(args) -> int:
    if len(args.layer) != 2:
        raise UnitscopeError(f"Give --layer exactly twice (the two layers compared), got {len(args.layer)}.")
    output_suffix(args.out, (".json",))
    layer_a, layer_b = args.layer
    session = open_session(args)
    session.recorder.resolve([layer_a, layer_b])
    paths = find_images(args.images, refuse_broken_links=True)
    if not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    job = Compare(layer_a, layer_b, "images", tuple(str(p) for p in paths), args.view, args.batch_size,
                  args.workers)
    result = run_with_progress(session, job, "rsa", "img")
    if result.done < 3:
        raise UnitscopeError("RSA needs at least 3 readable images; nothing was saved.")
    rsa_value, cka_value = result.rsa, result.cka
    doc = {
        "layers": [layer_a, layer_b], "view": args.view, "n_stimuli": result.done,
        "n_units": [result.n_units, result.n_units_b],
        "rsa": _finite(rsa_value), "rsa_measure": "Spearman correlation of the RDMs' upper triangles "
                                         "(RDM: 1 - Pearson r between stimuli)",
        "cka": _finite(cka_value), "cka_measure": "linear CKA",
        "provenance": session.provenance(command="rsa", layers=[layer_a, layer_b], view=args.view,
                                         image_paths=result.image_paths, skipped_paths=result.skipped_paths),
        "job": JobFile(session.model, job).to_dict(),
    }

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, allow_nan=False)
            f.write("\n")

    out = atomic_write(args.out, write)
    print(f"saved {out}: {layer_a} vs {layer_b} over {result.done} images ({args.view}): "
          f"RSA = {rsa_value:.4f}, linear CKA = {cka_value:.4f}"
          + (f"; {len(result.skipped)} file(s) skipped" if result.skipped else ""))
    return 0
