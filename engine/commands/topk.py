"""``unitscope topk MODEL --layer L --images DIR --k 9 --out DIR``.

For every channel of the layer (or the ``--channel`` ones) at one position (the map
centre unless ``--y``/``--x``), the k images with the highest and the k with the lowest
response.  ``DIR`` receives ``topk.csv`` (channel, end, rank, activation, image, crop),
``topk.json`` (the command's parameters, the unit's receptive field and the provenance)
and ``crops/``, one PNG per winning image: its receptive field as the model sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from engine.analyses.topk import image_crop
from engine.cli import (
    add_device_arguments,
    add_model_arguments,
    add_workers_argument,
    layer_name,
    open_session,
    positive_int,
    run_with_progress,
)
from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_all
from engine.files.writers import csv_writer
from engine.jobs.topk_ranking import TopKRanking
from engine.session.job import JobFile
from engine.stimuli.images import find_images


def register(sub) -> None:
    parser = sub.add_parser("topk", help="the k most and least activating images of units, with "
                                         "receptive-field crops")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, type=layer_name, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--k", type=positive_int, default=9, help="images kept at each end (default 9)")
    parser.add_argument("--channel", type=int, action="append", default=None, metavar="C",
                        help="channel to rank (repeat for several; default: every channel)")
    parser.add_argument("--y", type=int, default=None, help="row in the feature map (default: centre)")
    parser.add_argument("--x", type=int, default=None, help="column in the feature map (default: centre)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for topk.csv, topk.json, crops/")
    add_workers_argument(parser)
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def existing_outputs(args) -> list[Path]:
    """What a run would replace in its --out folder (the user's other files there are kept)."""
    out = Path(args.out)
    return [path for path in (out / "topk.csv", out / "topk.json", out / "crops") if path.exists()]


def run(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UnitscopeError(f"Output '{args.out}' is a file; give a folder.")
    session = open_session(args)
    session.recorder.resolve([args.layer])
    paths = find_images(args.images, refuse_broken_links=True)
    if not paths:
        raise UnitscopeError(f"No image files found in {', '.join(args.images)}.")
    job = TopKRanking(args.layer, tuple(str(p) for p in paths), tuple(args.channel or ()), args.y, args.x,
                      args.k, args.batch_size, args.workers)
    result = run_with_progress(session, job, "ranking", "img")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnitscopeError(f"Could not create folder '{out}': {exc.strerror or exc}.") from exc
    box = tuple(result.rf_box) if result.rf_box else None  # one position, one field for every channel
    crops: dict[int, str] = {}
    rows = []
    for u, channel in enumerate(result.channels):
        for end, entries in (("top", result.top[u]), ("bottom", result.bottom[u])):
            for rank, (value, index) in enumerate(entries, start=1):
                path = Path(result.image_paths[index])
                crops.setdefault(index, f"crops/{index:06d}_{path.stem}.png")
                rows.append([channel, end, rank, value, str(path), crops[index]])

    def write_crops(folder: Path) -> None:
        for index, name in crops.items():
            crop = image_crop(Path(result.image_paths[index]), session.preprocess, box)
            Image.fromarray(crop).save(folder / Path(name).name, format="PNG")

    n = len(result.image_paths)
    record = {
        "command": "topk",
        "parameters": {"layer": args.layer, "k": args.k, "channels": result.channels, "y": args.y, "x": args.x,
                       "batch_size": args.batch_size, "images": list(args.images)},
        "position": {"y": result.y, "x": result.x},
        "rf_box": result.rf_box,
        "n_images": n,
        "image_paths": result.image_paths,
        "skipped_paths": [p for p, _ in result.skipped],
        "provenance": session.provenance(),
        "job": JobFile(session.model, job).to_dict(),  # unitscope run reproduces the ranking
    }
    text = json.dumps(record, indent=2)
    # crops/, topk.csv and topk.json replace an earlier run's together, or not at all
    atomic_write_all({out / "topk.csv": csv_writer(out / "topk.csv", ["channel", "end", "rank", "activation",
                                                                      "image", "crop"], rows),
                      out / "topk.json": lambda tmp: tmp.write_text(text, encoding="utf-8")},
                     folders={out / "crops": write_crops})
    print(f"saved {out}: top and bottom {args.k} of {n} images for {len(result.channels)} channel(s), "
          f"{len(crops)} crops" + (f"; {len(result.skipped)} file(s) skipped" if result.skipped else ""))
    return 0
