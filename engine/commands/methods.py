"""``unitscope methods RESULT_or_SESSION [--bib refs.bib]``: a Methods paragraph for a paper.

Written from the jobs actually run (:mod:`engine.figures.methods`): the model and its
weights or seed, preprocessing, layers, stimuli, the analyses with their definitions and
the software versions; ``--bib`` writes the BibTeX of the papers the paragraph cites.
"""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("methods", help="a Methods paragraph (and BibTeX) for the jobs behind a result, "
                                            "figure or session")
    parser.add_argument("sources", nargs="+", metavar="FILE", help="a command's output, a 'unitscope run' "
                        "result, a figure sidecar (FIGURE.json), a job file or a .unitscope.json session")
    parser.add_argument("--bib", metavar="FILE", help="write the BibTeX entries of the papers cited here")
    parser.add_argument("--out", metavar="FILE", help="write the paragraph to FILE instead of printing it")
    parser.set_defaults(run=run)


def existing_outputs(args) -> list:
    """The files this command would replace (``--out`` and ``--bib``)."""
    from pathlib import Path

    return [Path(p) for p in (args.out, args.bib) if p and Path(p).exists()]


def run(args) -> int:
    from engine.figures.methods import bibtex, collect, methods_text
    from engine.files.atomic import atomic_write_text

    from engine.commands.figure import _readable, read_guarded

    entries = []
    for source in args.sources:
        _readable(source)  # never a FIFO or /dev/zero
        entries += read_guarded("Source", source, lambda source=source: collect(source))
    text = methods_text(entries)
    if args.out:
        atomic_write_text(args.out, text + "\n")
        print(f"saved {args.out}")
    else:
        print(text)
    if args.bib:
        atomic_write_text(args.bib, bibtex(text))
        print(f"saved {args.bib}")
    return 0
