"""The physical floor of figure 1, timed in a process of its own: ``python -m bench.floor``.

The process builds ResNet-101 (seed 0) on the device given as its argument (``cpu`` by
default) and answers each line it reads on stdin, a
layer name or ``full``, with the seconds one forward pass truncated at that layer takes
(a hand-written loop over the model's children, in the process's main thread, with
torch's default threads: what a researcher's own script gets). Figure 1 asks it for one
timing after each click, so the reference and the window alternate and share the
machine's state; the floor never shares a process with the window's threads.
"""

from __future__ import annotations

import subprocess
import sys
import time

import torch
import torchvision

from bench.engine_figures import truncated_resnet


class Floor:
    """A running ``bench.floor`` process; ``time(layer)`` returns one timing in seconds."""

    def __init__(self, device: str = "cpu"):
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.floor", device], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.floor did not start")

    def time(self, layer: str) -> float:
        self.proc.stdin.write(layer + "\n")
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve(device: str = "cpu") -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet101().eval().to(device)  # the architecture and arithmetic of figure 1
    x = torch.randn(1, 3, 224, 224, device=device)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    print("ready", flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            layer = line.strip()
            forward = model if layer == "full" else truncated_resnet(model, layer)
            t0 = time.perf_counter()
            forward(x)
            sync()
            print(f"{time.perf_counter() - t0:.6f}", flush=True)


if __name__ == "__main__":
    serve(*sys.argv[1:2])
