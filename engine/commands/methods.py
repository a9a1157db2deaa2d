"""``unitscope methods RESULT_or_SESSION [--bib refs.bib]``: a Methods paragraph for a paper.

Written from the jobs actually run (:mod:`engine.figures.methods`) as one section: the
model and its weights or seed (preprocessing when photographs were used), the stimuli and
analyses with their definitions, parameters and citations, statistics, and the software
versions; ``--bib`` writes the BibTeX of the papers it cites, ``--supplement`` the image
sets' hashes.
"""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("methods", help="a Methods paragraph (and BibTeX) for the jobs behind a result, "
                                            "figure or session")
    parser.add_argument("sources", nargs="+", metavar="FILE", help="a command's output, a 'unitscope run' "
                        "result, a figure sidecar (FIGURE.json), a job file or a .unitscope.json session")
    parser.add_argument("--bib", metavar="FILE", help="write the BibTeX entries of the papers cited here")
    parser.add_argument("--out", metavar="FILE", help="write the paragraph to FILE instead of printing it")
    parser.add_argument("--supplement", metavar="FILE", help="write the image sets (names and SHA-256) to FILE")
    parser.set_defaults(run=run)


def existing_outputs(args) -> list:
    """The files this command would replace (``--out`` and ``--bib``)."""
    from pathlib import Path

    return [Path(p) for p in (args.out, args.bib, getattr(args, "supplement", None)) if p and Path(p).exists()]


def run(args) -> int:
    from engine.figures.methods import bibtex, collect, methods_text, supplement_text
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
    if args.supplement:
        atomic_write_text(args.supplement, supplement_text(entries) + "\n")
        print(f"saved {args.supplement}")
    return 0
