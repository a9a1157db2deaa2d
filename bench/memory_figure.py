"""Figure 6: peak memory of a grating sweep stays flat in the number of stimuli.

Each sweep runs in a fresh interpreter (``python -m bench.memory_figure N``), which prints
its own peak resident set size, so that one sweep's peak cannot hide another's.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from bench.timing import Figure

SIZE = 32  # stimulus side in pixels: keeps 10,000 ResNet-50 passes (to layer3) near a minute on 2 cores


def sweep(n_stimuli: int) -> dict:
    import torch
    import torchvision

    from engine.analyses.tuning import run_tuning
    from engine.analyses.units import Unit
    from engine.models.preprocess import Preprocess
    from engine.models.zoo import LoadedModel
    from engine.recording.recorder import Recorder
    from engine.stimuli.protocols import Protocol

    torch.manual_seed(0)
    module = torchvision.models.resnet50().eval()
    model = LoadedModel("resnet50", module, "random weights",
                        weights_entry=torchvision.models.ResNet50_Weights.DEFAULT, input_size=(SIZE, SIZE))
    phases = 4
    orientations = n_stimuli // phases
    protocol = Protocol("gratings", SIZE, {"orientation": [180 * i / orientations for i in range(orientations)],
                                           "sf": [4.0]}, phases=phases)
    assert len(protocol) == n_stimuli, len(protocol)
    t0 = time.perf_counter()
    table = run_tuning(Recorder(module, "cpu"), Unit("layer3", 0), protocol, Preprocess(model), batch_size=50)
    return {"n": n_stimuli, "seconds": time.perf_counter() - t0,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "conditions": int(table.count.shape[0])}


def memory(small: int = 100, large: int = 10_000) -> Figure:
    fig = Figure("6", f"Memory: peak RSS of a grating sweep, ResNet-50 layer3, {small} vs {large:,} stimuli (CPU)")
    runs = {}
    for n in (small, large):
        done = subprocess.run([sys.executable, "-m", "bench.memory_figure", str(n)], capture_output=True,
                              text=True, check=True)
        runs[n] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = runs[large]["peak_rss_mib"] / runs[small]["peak_rss_mib"]
    fig.add(f"peak RSS, {large:,} stimuli", f"{runs[large]['peak_rss_mib']:.0f} MiB ({runs[large]['seconds']:.0f} s)",
            f"{small} stimuli: {runs[small]['peak_rss_mib']:.0f} MiB", ratio <= 1.2)
    fig.add("ratio", f"{ratio:.3f}", "target ≤ 1.2", ratio <= 1.2)
    fig.notes.append(f"Gratings of {SIZE} px (4 phases per orientation, one spatial frequency), batches of 50; "
                     "the tuning table keeps running sums per condition, so only the table grows with the "
                     "number of conditions (a few numbers each).")
    return fig


if __name__ == "__main__":
    print(json.dumps(sweep(int(sys.argv[1]))))
