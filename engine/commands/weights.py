"""``unitscope weights list`` and ``unitscope weights import FILE...``: pretrained weights offline."""

from __future__ import annotations

import sys

from engine.cli import print_json
from engine.models.weights import (
    WeightsRow,
    all_entries,
    cache_folder_problem,
    cached_files,
    file_problem,
    format_size,
    import_files,
    list_weights,
)
from engine.models.zoo import hub_checkpoint_dir


def register(sub) -> None:
    parser = sub.add_parser("weights", help="list the pretrained weights found offline, or import weights files")
    actions = parser.add_subparsers(dest="weights_action", metavar="ACTION")
    listing = actions.add_parser("list", help="every model with the state of its weights (found, or random)")
    listing.add_argument("--all-entries", action="store_true",
                         help="every weights entry of every model, not only the one Unitscope loads")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=run_list)
    importing = actions.add_parser(
        "import", help="copy weights files (e.g. from a USB drive) into the torch hub cache, "
                       "checking the hash prefix in torchvision's file names")
    importing.add_argument("files", nargs="+", metavar="FILE", help="weights files, whatever they are called")
    importing.set_defaults(run=run_import)
    parser.set_defaults(run=run_list, all_entries=False, json=False)


def format_rows(rows: list[WeightsRow]) -> list[str]:
    """The table ``weights list`` prints: model, entry, file name, state."""
    table = [("MODEL", "ENTRY", "FILE", "STATE")]
    table += [(r.entry.model, r.entry.entry_name.split(".", 1)[1] + ("" if r.entry.is_default else " *"),
               r.entry.file_name, r.state) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3] for row in table]


def _others_in_cache(rows: list[WeightsRow]) -> list[str]:
    """Files in the cache that no listed row accounts for, with what they are."""
    listed = {r.entry.file_name for r in rows if r.found}
    known = {e.file_name: e for e in all_entries()}
    lines = []
    for name, size in cached_files():
        if name in listed:
            continue
        entry = known.get(name)
        what = (f"{entry.entry_name}, not the entry Unitscope loads for {entry.model}" if entry
                else "not a torchvision weights file")
        lines.append(f"  {name} ({format_size(size)}): {what}")
    return lines


def damaged(rows: list[WeightsRow]) -> list[tuple[str, str]]:
    """(file name, reason) for each found file that would not load as its name promises."""
    found = []
    for row in rows:
        if row.found:
            problem = file_problem(row.path, row.entry.file_name)
            if problem:
                found.append((row.entry.file_name, problem))
    return found


def run_list(args) -> int:
    rows = list_weights(include_all_entries=args.all_entries)
    unreadable = cache_folder_problem()
    bad = damaged(rows)
    if args.json:
        print_json({"hub_checkpoint_dir": str(hub_checkpoint_dir()), "weights": [r.as_dict() for r in rows],
                    "damaged": [{"file_name": n, "reason": why} for n, why in bad],
                    "cache_problem": unreadable})
        return 0
    print(f"torch hub cache: {hub_checkpoint_dir()}")
    if unreadable:
        print(f"Warning: {unreadable}; every model runs with random weights until it can be read.")
    for line in format_rows(rows):
        print(line)
    if args.all_entries:
        print("* an entry Unitscope does not load (it loads each model's default entry)")
    models = {r.entry.model for r in rows}
    found = {r.entry.model for r in rows if r.found and r.entry.is_default}
    print(f"{len(found)} of {len(models)} models have their pretrained weights; the others run "
          f"with random weights.  Add files with: unitscope weights import FILE...")
    if bad:
        print("Damaged (these models fail to open until the file is removed or re-imported with "
              "unitscope weights import FILE):")
        print("\n".join(f"  {name}: damaged, {why}" for name, why in bad))
    others = _others_in_cache(rows)
    if others:
        print("Also in the cache:")
        print("\n".join(others))
    return 0


def run_import(args) -> int:
    def report(result) -> None:
        if result.ok:
            print(result.describe(), flush=True)
        else:
            print(f"unitscope: error: {result.describe()}", file=sys.stderr, flush=True)

    results = import_files(args.files, on_result=report)
    refused = sum(not r.ok for r in results)
    if len(results) > 1:
        print(f"{len(results) - refused} of {len(results)} files imported into {hub_checkpoint_dir()}")
    return 2 if refused else 0
