"""Choosing the compute device: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from engine.errors import UnitscopeError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` or a device string into a device that exists on this machine."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UnitscopeError(f"Unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnitscopeError(f"Device '{name}' asked for, but no CUDA GPU is available here.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UnitscopeError(f"Device '{name}' asked for, but MPS is not available here.")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that timings measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def describe(device: torch.device) -> str:
    """A short human name for a device, e.g. 'cuda (NVIDIA H100, 80 GB)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
