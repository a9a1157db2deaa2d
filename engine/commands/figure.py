"""``unitscope figure SOURCE --out fig.pdf``: a figure for a paper, drawn from data.

SOURCE is any file Unitscope writes (activations, a tuning or properties table, a
visualisation, a topk folder, an RDM, a job's result) or a figure's sidecar (``fig.pdf.json``),
which draws that figure again with its saved options (options given here override them).
Several SOURCES of one unit (a visualisation, an evidence result, a tuning table and a topk
folder) make its unit card.  The caption (provenance and numbers) is written next to the
figure as ``fig.pdf.caption.txt``.
"""

from __future__ import annotations

import argparse

from engine.cli import non_negative_int, positive_int


#: The most channels a figure may name (a mosaic of more is not readable anyway).
MOST_CHANNELS = 65_536


def _channels(text: str) -> tuple[int, ...]:
    """An argparse type: ``3,7,12`` or ``0-15`` or a mix; checked before anything is expanded."""
    import re

    if not text.strip():
        raise argparse.ArgumentTypeError("an empty channel list; write e.g. 0,3,7 or 0-15")
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise argparse.ArgumentTypeError(f"'{text}' has an empty entry between commas; write e.g. 0-15,32")
        found = re.fullmatch(r"(\d{1,12})(?:\s*-\s*(\d{1,12}))?", part)
        if not found:
            raise argparse.ArgumentTypeError(f"'{text}' is not a channel list (e.g. 0,3,7 or 0-15)")
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) else first
        if last < first:
            raise argparse.ArgumentTypeError(f"'{part}' runs backwards; write {last}-{first}")
        if len(out) + last - first + 1 > MOST_CHANNELS:
            raise argparse.ArgumentTypeError(f"'{text}' names more than {MOST_CHANNELS:,} channels")
        out.extend(range(first, last + 1))
    return tuple(out)


def check_channels(data, options) -> None:
    """Refuse channels the data does not have, before any figure is built (``--top 0`` is refused
    by its argument type)."""
    if data.kind != "mosaic" or "values" not in data.arrays or not options.channels:
        return
    from engine.figures.mosaic import choose_channels, maps_of

    choose_channels(maps_of(data), options.channels, 0, data.meta.get("channel_ids"))


def _readable(path: str) -> None:
    """Refuse a source that is a FIFO, a device or larger than a result may be (never read it)."""
    from pathlib import Path

    from engine.files.reading import RESULT_LIMIT, check_regular

    path = Path(path)
    if path.is_dir():  # a topk folder: the files read from it
        for name in ("topk.json", "topk.csv"):
            if (path / name).exists() or (path / name).is_symlink():
                check_regular(path / name, "Source", RESULT_LIMIT)
        return
    check_regular(path, "Source", RESULT_LIMIT)
    sidecar = path.with_name(path.name + ".json")  # read next to a .csv or .npy
    if sidecar.exists() and not sidecar.is_file():
        check_regular(sidecar, "Sidecar", RESULT_LIMIT)


def read_guarded(what: str, path: str, read):
    """``read()``, with whatever a damaged file makes NumPy, h5py or JSON raise as one line."""
    import zipfile
    from pathlib import Path

    from engine.errors import UnitscopeError

    try:
        return read()
    except UnitscopeError:
        raise
    except RecursionError:
        raise UnitscopeError(f"{what} '{Path(path).name}' could not be read: JSON nested too deeply.") from None
    except (ValueError, OSError, KeyError, TypeError, IndexError, AttributeError, EOFError,
            zipfile.BadZipFile, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnitscopeError(f"{what} '{Path(path).name}' could not be read: {reason}.") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def register(sub) -> None:
    from engine.figures.style import COLORMAPS, SCALES

    parser = sub.add_parser("figure", help="a figure for a paper (PDF, SVG, PNG, TIFF) from a result file "
                                           "or a figure's sidecar")
    parser.add_argument("source", metavar="SOURCE", nargs="+", help="activations (.npy .npz .h5 .mat), tuning or "
                        "properties .csv, visualisation (.npy .png), topk folder, rdm .npy, a 'unitscope run' result, "
                        "or FIGURE.json (a sidecar); several of one unit (visualisation, evidence result, tuning "
                        ".csv, topk folder) make its unit card")
    parser.add_argument("--out", required=True, metavar="FILE", help="fig.pdf, fig.svg, fig.png or fig.tif")
    parser.add_argument("--width-mm", type=_number, metavar="MM", help="width: 85 (one column), 120, 180 (two)")
    parser.add_argument("--font-size", type=_number, metavar="PT", help="text size in points (default 7)")
    parser.add_argument("--font", metavar="FAMILY", help="font family, installed as TrueType (default: Arial, "
                        "else Liberation Sans, else Nimbus Sans, else DejaVu Sans)")
    parser.add_argument("--deg-per-image", type=float, metavar="DEG",
                        help="the visual angle the input spans (e.g. 8, as Brain-Score's V1 benchmarks): scale bars "
                             "add degrees")
    parser.add_argument("--orientation", choices=("grating", "bar"),
                        help="orientation a tuning figure reports: grating (theta, the direction luminance varies; "
                             "default) or bar (the bars' own, theta + 90)")
    parser.add_argument("--dpi", type=positive_int, help="pixels per inch of PNG and TIFF (default 300)")
    parser.add_argument("--channels", type=_channels, metavar="LIST", help="mosaic: channels drawn, e.g. 0-15,32")
    parser.add_argument("--top", type=positive_int, metavar="N", help="mosaic: the N channels with the "
                        "largest mean response")
    parser.add_argument("--scale", choices=SCALES, help="mosaic: one colour scale for all channels, or each its own")
    parser.add_argument("--cmap", metavar="NAME", help=f"colour map, e.g. {', '.join(COLORMAPS)}")
    parser.add_argument("--no-panel-letters", action="store_true", help="leave out the letters a, b, c")
    parser.add_argument("--layer", metavar="NAME", help="activations: the layer drawn (default: the first); with "
                        "--neuron, the layer whose best unit is drawn")
    parser.add_argument("--image", type=non_negative_int, default=0, metavar="I",
                        help="activations: the image drawn (row I; default 0)")
    parser.add_argument("--channel", type=non_negative_int, metavar="C", help="topk folder: the channel drawn")
    parser.add_argument("--unit", type=non_negative_int, metavar="C", help="a recording's result: the unit "
                        "figure of channel C (map over the input, histogram, kernels) instead of the mosaic")
    parser.add_argument("--neuron", metavar="N", help="a predict result: recorded neuron N (its name, or its "
                        "index from 0) beside its best model unit, with every neuron's predictivity, instead of the "
                        "layer sweep; --layer picks the layer (default: where the neuron is predicted best)")
    parser.add_argument("--reference", metavar="CSV", help="properties table: reference distributions overlaid "
                        "(one column per property; default: the one 'unitscope properties' was given)")
    parser.add_argument("--no-sidecar", action="store_true", help="write the figure only, no FIGURE.json")
    parser.set_defaults(run=run)


def existing_outputs(args) -> list:
    """The files this command would replace: the figure and, unless ``--no-sidecar``, its sidecar."""
    from pathlib import Path

    out = Path(args.out)
    files = [out, out.with_name(out.name + ".caption.txt")]
    if not args.no_sidecar:
        files += [out.with_name(out.name + ".json"), out.with_name(out.name + ".data.npz")]
    return [path for path in files if path.exists()]


def run(args) -> int:
    import dataclasses

    from engine.figures.render import caption_path, write_figure
    from engine.figures.sidecar import is_sidecar, read_sidecar, sidecar_path
    from engine.figures.sources import figure_data, unit_card_data
    from engine.figures.style import FigureOptions, figure_format

    figure_format(args.out)
    sources = args.source if isinstance(args.source, list) else [args.source]
    for source in sources:
        _readable(source)
    if len(sources) > 1:
        data = read_guarded("Source", sources[0], lambda: unit_card_data(sources, args.channel))
        options = FigureOptions()
    elif is_sidecar(sources[0]):
        data, options = read_guarded("Figure sidecar", sources[0], lambda: read_sidecar(sources[0]))
    else:
        data = read_guarded("Source", sources[0], lambda: figure_data(sources[0], args.layer, args.image,
                                                                      args.channel, args.unit, args.reference,
                                                                      args.neuron))
        options = FigureOptions()
    given = {"width_mm": args.width_mm, "font_size": args.font_size, "font_family": args.font, "dpi": args.dpi,
             "deg_per_image": args.deg_per_image, "orientation": args.orientation,
             "channels": args.channels, "top_n": args.top, "scale": args.scale, "cmap": args.cmap}
    changes = {k: v for k, v in given.items() if v is not None}
    if args.no_panel_letters:
        changes["panel_letters"] = False
    if args.cmap is not None:
        from engine.figures.mosaic import lookup_table

        lookup_table(args.cmap)  # an unknown name fails here, in one line
    options = FigureOptions.from_dict({**dataclasses.asdict(options), **changes})
    check_channels(data, options)
    out = write_figure(data, options, args.out, sidecar=not args.no_sidecar)
    print(f"saved {out} ({options.width_mm:g} mm wide, {data.kind}) and its caption {caption_path(out).name}"
          + ("" if args.no_sidecar else f"; redraw with: unitscope figure {sidecar_path(out)} --out {out}"))
    if data.kind in ("tuning", "properties", "unit_card") or data.meta.get("sequence") == "orientations":
        from engine.figures.tuning import ORIENTATION_CONVENTION

        print(ORIENTATION_CONVENTION)
    return 0
