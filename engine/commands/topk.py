"""``unitscope topk MODEL --layer L --images DIR --k 9 --out DIR``.

For every channel of the layer (or the ``--channel`` ones) at one position (the map
centre unless ``--y``/``--x``), the k images with the highest and the k with the lowest
response.  ``DIR`` receives ``topk.csv`` (channel, end, rank, activation, image, crop),
``topk.json`` (the command's parameters, the unit's receptive field and the provenance)
and ``crops/``, one PNG per winning image: its receptive field as the model sees it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from engine.analyses.topk import image_crop, topk_stream
from engine.analyses.units import Unit, output_shape, unit_geometry
from engine.cli import add_device_arguments, add_model_arguments, open_session
from engine.errors import UnitscopeError
from engine.files.writers import atomic_write, write_csv
from engine.stimuli.protocols import ImageFolder


def register(sub) -> None:
    parser = sub.add_parser("topk", help="the k most and least activating images of units, with "
                                         "receptive-field crops")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True, metavar="NAME", help="module name, or NAME#k")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--k", type=int, default=9, help="images kept at each end (default 9)")
    parser.add_argument("--channel", type=int, action="append", default=None, metavar="C",
                        help="channel to rank (repeat for several; default: every channel)")
    parser.add_argument("--y", type=int, default=None, help="row in the feature map (default: centre)")
    parser.add_argument("--x", type=int, default=None, help="column in the feature map (default: centre)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for topk.csv, topk.json, crops/")
    parser.add_argument("--workers", type=int, default=None, help="image decoding processes")
    add_device_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.k < 1:
        raise UnitscopeError("--k must be at least 1.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UnitscopeError(f"Output '{args.out}' is a file; give a folder.")
    session = open_session(args)
    recorder = session.recorder
    recorder.resolve([args.layer])
    preprocess = session.preprocess
    anatomy = session.anatomy
    shape = output_shape(anatomy, args.layer)
    channels = args.channel if args.channel is not None else list(range(shape[1] if shape else 0))
    geometry = [unit_geometry(anatomy, Unit(args.layer, c, args.y, args.x)) for c in channels]
    if not geometry:
        raise UnitscopeError(f"Layer '{args.layer}' has no channels to rank.")
    box = geometry[0].box  # the same position, hence the same field, for every channel
    images = ImageFolder(args.images, args.workers)
    images.on_error = lambda path, message: tqdm.write(f"unitscope: skipped: {message}", file=sys.stderr)
    ranking = None
    with tqdm(total=len(images), unit="img", desc="ranking", file=sys.stderr, disable=None) as bar:
        for ranking in topk_stream(recorder, args.layer, images, preprocess, args.k, channels,
                                   geometry[0].unit.y, geometry[0].unit.x, args.batch_size):
            bar.update(ranking.n - bar.n)
    if ranking is None:
        raise UnitscopeError("None of the images could be read; nothing was saved.")
    try:
        (out / "crops").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnitscopeError(f"Could not create folder '{out}': {exc.strerror or exc}.") from exc
    crops: dict[int, str] = {}
    rows = []
    for u, channel in enumerate(channels):
        for end, entries in (("top", ranking.top(u)), ("bottom", ranking.bottom(u))):
            for rank, (value, index) in enumerate(entries, start=1):
                path = images.kept[index]
                if index not in crops:
                    crop = image_crop(path, preprocess, box)
                    name = f"crops/{index:06d}_{path.stem}.png"
                    atomic_write(out / name, lambda tmp, c=crop: Image.fromarray(c).save(tmp, format="PNG"))
                    crops[index] = name
                rows.append([channel, end, rank, value, str(path), crops[index]])
    write_csv(out / "topk.csv", ["channel", "end", "rank", "activation", "image", "crop"], rows)
    meta = session.provenance()
    record = {
        "command": "topk",
        "parameters": {"layer": args.layer, "k": args.k, "channels": channels, "y": args.y, "x": args.x,
                       "batch_size": args.batch_size, "images": list(args.images)},
        "position": {"y": geometry[0].unit.y, "x": geometry[0].unit.x},
        "rf_box": list(box) if box else None,
        "n_images": ranking.n,
        "image_paths": [str(p) for p in images.kept],
        "skipped_paths": [str(p) for p, _ in images.skipped],
        "provenance": meta,
    }
    text = json.dumps(record, indent=2)
    atomic_write(out / "topk.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"saved {out}: top and bottom {args.k} of {ranking.n} images for {len(channels)} channel(s), "
          f"{len(crops)} crops" + (f"; {len(images.skipped)} file(s) skipped" if images.skipped else ""))
    return 0
