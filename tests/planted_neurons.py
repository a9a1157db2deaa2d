"""Neurons planted in a seeded random-weight network: each a sparse linear readout of one
layer's units plus trial noise at a known reliability (shared by the predictivity, predict
job and Brain view tests); and an NWB file whose spikes give known counts."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import torch
from torch import nn

#: The ReLU outputs of :func:`planted_net`, shallow to deep (512, 256, 128 and 64 units at 16 x 16 pixels).
LAYERS = ("1", "3", "5", "7")


def planted_net(seed: int = 0) -> nn.Sequential:
    """Four stride-2 conv + ReLU stages with seeded random weights."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU()).eval()


def layer_outputs(net: nn.Sequential, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every ReLU's output ``(S, units)`` for input tensors ``(S, 3, H, W)``."""
    out, h = {}, torch.as_tensor(images, dtype=torch.float32)
    with torch.no_grad():
        for i, module in enumerate(net):
            h = module(h)
            if isinstance(module, nn.ReLU):
                out[str(i)] = h.reshape(len(h), -1).numpy().astype(np.float64)
    return out


def plant(units: np.ndarray, neurons: int = 30, repeats: int = 4, reliability: float = 0.8,
          per_neuron: int = 5, seed: int = 0):
    """Responses ``(S, neurons, repeats)`` whose signal is a readout of ``per_neuron`` units.

    Each neuron's signal is z-scored over the stimuli (variance 1), and the trial noise has
    variance ``repeats (1/reliability - 1)``, so the mean over the repeats has reliability
    ``reliability`` and a perfect model's r with it is ``sqrt(reliability)``.

    Returns
    -------
    responses, support, signal
        ``support[n]`` the units neuron n reads out; ``signal`` ``(S, neurons)``.
    """
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(units.std(axis=0) > 0)
    support = [rng.choice(live, per_neuron, replace=False) for _ in range(neurons)]
    signal = np.stack([units[:, s] @ rng.normal(size=per_neuron) for s in support], axis=1)
    signal = (signal - signal.mean(axis=0)) / signal.std(axis=0)
    sd = np.sqrt(repeats * (1 / reliability - 1))
    return signal[:, :, None] + sd * rng.normal(size=(*signal.shape, repeats)), support, signal


def write_nwb(path, counts, names, window=(0.05, 0.2), seed=1):
    """An NWB file whose units fire ``counts[s, n, r]`` spikes inside the window after the
    r-th presentation of stimulus s (presentations shuffled in time), and more outside it."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    rng = np.random.default_rng(seed)
    shown = [(s, r) for s in range(counts.shape[0]) for r in range(counts.shape[2]) if not np.isnan(counts[s, 0, r])]
    order = rng.permutation(len(shown))
    # repeats must come in time order: sort each stimulus's presentations by their slot
    slots = {}
    for slot, i in enumerate(order):
        slots.setdefault(shown[i][0], []).append(slot)
    onset = {}
    for s, slot_list in slots.items():
        for r, slot in enumerate(sorted(slot_list)):
            onset[(s, r)] = 1.0 + 0.5 * slot
    nwb = NWBFile(session_description="planted", identifier="planted-1",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    for n in range(counts.shape[1]):
        times = []
        for (s, r), t in onset.items():
            k = int(counts[s, n, r])
            times += list(t + rng.uniform(window[0] + 1e-3, window[1] - 1e-3, size=k))
            times += [t + 0.01, t + window[1] + 0.02]  # outside the window
        nwb.add_unit(spike_times=sorted(times))
    table = TimeIntervals(name="stimulus_presentations", description="images shown")
    table.add_column(name="image_name", description="the image file shown")
    for (s, r), t in sorted(onset.items(), key=lambda kv: kv[1]):
        table.add_interval(start_time=t, stop_time=t + 0.25, image_name=names[s])
    nwb.add_time_intervals(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
