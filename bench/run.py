"""Run the benchmark suite and rewrite BENCHMARKS.md: ``python -m bench.run [--quick]``."""

from __future__ import annotations

import argparse
import datetime
import logging
import subprocess
import sys
import time
from pathlib import Path

from bench import engine_figures, gui_figures, memory_figure
from bench.timing import machine

ROOT = Path(__file__).resolve().parent.parent

FIGURES = {
    "1": lambda q: gui_figures.click_to_frame(2 if q else 5),
    "2": lambda q: engine_figures.early_exit(3 if q else 10),
    "3": lambda q: gui_figures.mosaic(1 if q else 3),
    "4": lambda q: gui_figures.responsiveness(8 if q else 64),
    "5": lambda q: engine_figures.extraction(1 if q else 3, n_images=16 if q else 256),
    "6": lambda q: memory_figure.memory(20 if q else 100, 200 if q else 10_000),
    "7": lambda q: gui_figures.startup(1 if q else 5),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs, numbers mean nothing")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="run only these figures")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--section", choices=sorted(FIGURES), help=argparse.SUPPRESS)  # one figure, to stdout
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.section:
        print(FIGURES[args.section](args.quick).markdown())
        return 0
    sections = []
    t0 = time.perf_counter()
    for number in args.only or sorted(FIGURES):
        print(f"figure {number} ...", file=sys.stderr, flush=True)
        sections.append(section(number, args.quick))
    header = ["# Benchmarks", "",
              f"Written by `make bench` on {datetime.date.today().isoformat()} in "
              f"{time.perf_counter() - t0:.0f} s{' (--quick: sizes too small to mean anything)' if args.quick else ''}.",
              "Each figure is the median (min–max, n runs) next to its reference from the same run.", ""]
    header += [f"- {line}" for line in machine()] + [""]
    Path(args.out).write_text("\n".join(header + sections + [NOTES]), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def section(number: str, quick: bool) -> str:
    """One figure's Markdown, measured in a fresh process.

    Each figure starts from the same state (no thread pools, caches or allocations left
    by the figures before it), as a user's session would.
    """
    command = [sys.executable, "-m", "bench.run", "--section", number] + (["--quick"] if quick else [])
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"figure {number} failed (exit {done.returncode}); its error is above")
    return done.stdout.strip() + "\n"


NOTES = """## What bounds figure 1

Figure 1 meets its target for conv1 but not for the deeper layers on this 2-core VM. A
cProfile of the GUI thread over two clicks (conv1, layer1) shows it is not the window:
the GUI thread spends about 12 ms per click in `_recording_finished` (mosaic 4 ms,
unit view 4 ms, the rest signals and labels) and about 7 ms per repaint of a
pyqtgraph view; the rest of the click is the forward pass in the engine thread. That
forward pass is what exceeds the floor: the same `Recorder.record_one(["layer3"])` on
ResNet-101 took 161 ms in the main thread and 253 ms in a second Python thread of the
same process (medians of 6). Repeating this in other orders and processes gave 126 to
268 ms for the same work, so on this VM the effect and the run-to-run spread are of
the same size. One suspect was tested and ruled out: with the GUI thread's mosaic
built in numpy instead of torch (so that only the engine thread runs torch), the
click times were unchanged within the spread (conv1 35 vs 44 ms, layer1 85 vs 80 ms,
layer3 320 vs 286 ms, n=3 each). The overhead grows with the depth of the forward
pass rather than with the size of the output, so the engine thread's forward pass
itself runs slower than the reference. Measured in one process: for layer3 the
engine thread's own `Recording.forward_s` was 231 ms of a 245 ms click, against
171 ms for the truncated forward in the main thread (medians of 3 and 5). So the
window and the signalling add about 14 ms; the forward pass in the second thread is
the gap. The engine's interrupt pre-hooks on every module are not it: alternating
runs with and without them gave 229 vs 220 ms (medians of 8, with identical runs
spreading from 194 to 249 ms on this VM). Thread scheduling on 2 shared cores and
OpenMP remain; a py-spy profile of both threads is the next step.

## Notes

- thingsvision (figure 5) was not measured: its current release pins torchvision 0.15.2,
  numpy < 2 and tensorflow < 2.16, so it does not install beside torch 2.14 / torchvision 0.29.
- Figure 8 (the same figures on CUDA) needs a session lent a GPU; none was lent when this file
  was written.
"""

if __name__ == "__main__":
    sys.exit(main())
