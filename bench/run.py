"""Run the benchmark suite and rewrite BENCHMARKS.md: ``python -m bench.run [--quick]``."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import subprocess
import sys
import time
from pathlib import Path

from bench import (
    cluster_figure,
    engine_figures,
    gpu_figures,
    gui_figures,
    memory_figure,
    predict_figure,
    properties_figure,
    visualize_figure,
)
from bench.timing import machine

ROOT = Path(__file__).resolve().parent.parent

FIGURES = {
    "1": lambda q: gui_figures.click_to_frame(2 if q else 9),
    "2": lambda q: engine_figures.early_exit(3 if q else 10),
    "3": lambda q: gui_figures.mosaic(1 if q else 3),
    "4": lambda q: gui_figures.responsiveness(8 if q else 64),
    "5": lambda q: engine_figures.extraction(1 if q else 3, n_images=16 if q else 256),
    "6": lambda q: memory_figure.memory(20 if q else 100, 200 if q else 10_000),
    "7": lambda q: gui_figures.startup(1 if q else 5),
    "8": gpu_figures.gpu,
    "9": lambda q: cluster_figure.cluster(1 if q else 3, 8 if q else 256, 20 if q else 1_000,
                                          100 if q else 100_000, 1 if q else 32),
    "10": lambda q: visualize_figure.visualisation(1 if q else 3, 4 if q else 64, 64 if q else 224),
    "11": lambda q: properties_figure.battery(1 if q else 2, 8 if q else 64, 4 if q else 12, 2 if q else 8),
    "12": lambda q: predict_figure.predictivity(1 if q else 3, "resnet18" if q else "resnet50", 20 if q else 1000,
                                                10 if q else 200),
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
        with contextlib.redirect_stdout(sys.stderr):  # what the measured code prints is not the figure
            markdown = FIGURES[args.section](args.quick).markdown()
        print(markdown)
        return 0
    sections = []
    t0 = time.perf_counter()
    for number in args.only or sorted(FIGURES, key=int):
        print(f"figure {number} ...", file=sys.stderr, flush=True)
        sections.append(section(number, args.quick))
    out = Path(args.out)
    if args.only and out.is_file():  # the other figures stay as they were measured
        text = out.read_text(encoding="utf-8")
        for number, markdown in zip(args.only, sections):
            text = replace_section(text, number, markdown)
        out.write_text(text, encoding="utf-8")
        print(f"rewrote figure(s) {', '.join(args.only)} in {out}", file=sys.stderr)
        return 0
    header = ["# Benchmarks", "",
              f"Written by `make bench` on {datetime.date.today().isoformat()} in "
              f"{time.perf_counter() - t0:.0f} s{' (--quick: sizes too small to mean anything)' if args.quick else ''}.",
              "Each figure is the median (min–max, n runs) next to its reference from the same run.", ""]
    header += [f"- {line}" for line in machine()] + [""]
    Path(args.out).write_text("\n".join(header + sections + [NOTES]), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def replace_section(text: str, number: str, markdown: str) -> str:
    """``text`` with figure ``number``'s section (its ``## N.`` heading up to the next ``## ``)
    replaced by ``markdown``, or ``markdown`` put before the notes when it had none."""
    import re

    match = re.search(rf"^## {re.escape(number)}\. .*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match:
        return text[:match.start()] + markdown.rstrip("\n") + "\n\n" + text[match.end():]
    notes = text.find(NOTES.splitlines()[0])
    at = notes if notes >= 0 else len(text)
    return text[:at] + markdown.rstrip("\n") + "\n\n" + text[at:]


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


NOTES = """## How figure 1 was brought within its target

Until 2026-11-26 figure 1 met its target for conv1 only: the engine thread's forward pass
ran about 1.5 times slower than the same pass in a script. Two causes were found and fixed.

1. **Two OpenMP pools.** torch's CPU wheels parallelise operators with libgomp, which keeps
   one pool of worker threads per thread that runs torch. The GUI thread's mosaic started a
   second pool next to the engine's; with more OpenMP threads than the 2 cores, libgomp cuts
   its barrier spinning to ~100 iterations and every operator waits for sleeping workers.
   Measured with `Recorder.record_one(["layer3"])` on ResNet-101: 130 ms per pass in a
   second thread while the main thread had not used torch (CPU/wall 1.98), 215–238 ms
   (CPU/wall 1.45) once the main thread had run one matrix product. `GOMP_SPINCOUNT` and
   `OMP_WAIT_POLICY` did not help; giving the other thread one torch thread did (166–178 ms,
   CPU/wall 1.95). So the engine thread claims torch's pool (`engine/recording/cpu_threads.py`; torch sets a
   thread's count up lazily from the last count asked for anywhere, which the module guards
   against), and the GUI thread runs no torch operator at all: the engine thread makes the
   uint8 mosaics and hands the window NumPy arrays.
2. **The window's own work competed with the forward pass.** On 2 cores every millisecond
   the GUI thread spends while the engine records is taken from the forward pass. A click
   cost 40–100 ms of GUI-thread CPU (measured with `time.thread_time()`): the unit view
   (histogram, titles, a relayout of its plots, about 25 ms), the anatomy card (about
   10 ms) and a status message that relaid the status bar. With these views stubbed out in
   an experiment the engine's pass fell to the floor. Now the window paints the feature
   maps first and fills the unit view, the input preview and the timings from a zero timer
   after that frame, and a recording that ends within a second leaves the status bar alone.
   The GUI thread now spends 15–25 ms of CPU during a click (mostly the anatomy card and the
   tree), and about 30 ms after the maps are painted (figure 1's notes give the figure).

The reference is now timed in a process of its own (`bench/floor.py`), one pass after each
click, so that it neither shares the window's process (and its thread pools) nor drifts
apart from the clicks on a noisy machine. Each figure runs in a fresh process, and the
bench uses a settings folder of its own (a user's saved dock layout had made the bench's
window 1735 px tall).

## Notes

- What is left of `conv1`'s click (measured 2026-12-07, idle machine, instrumented window):
  of about 45 ms, the engine thread spends about 20 ms (the recording, 10 ms, and the four
  mosaics, 10 ms) and the window about 20 ms (receiving, setting the mosaic, painting). The
  same recording in a script takes 6.5 ms back to back but 12 ms after 150 ms of idling:
  torch's OpenMP workers have gone to sleep between clicks and every click wakes them.
  Giving the engine one thread (`OMP_NUM_THREADS=1`) or a shorter GIL switch interval made
  every layer slower or changed nothing; deferring the layer card until after the paint did
  not help either. conv1 misses its target by a few milliseconds; every other layer meets it.
- thingsvision (figure 5) was not measured: its current release pins torchvision 0.15.2,
  numpy < 2 and tensorflow < 2.16, so it does not install beside torch 2.14 / torchvision 0.29.
- Figure 8 runs figures 1, 2 and 5 on CUDA (`bench/gpu_figures.py`) whenever torch sees a GPU,
  and checks that the mosaic of a CUDA output is made on the device with one copy to the
  host. No session so far was lent a GPU, so it has not yet produced numbers.
"""

if __name__ == "__main__":
    sys.exit(main())
