"""Repeated measurements and how they are reported."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One benchmark figure: what was measured, against what, and the target."""

    number: str
    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # item, value, reference, verdict
    notes: list[str] = field(default_factory=list)

    def add(self, item: str, value: str, reference: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("met" if ok else "NOT met")
        self.rows.append((item, value, reference, verdict))

    def markdown(self) -> str:
        lines = [f"## {self.number}. {self.title}", "", "| measured | value | reference (same run) | target |",
                 "| --- | --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        lines += [""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)


@dataclass
class Sample:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def ms(self) -> str:
        lo, hi = self.spread
        return f"{self.median * 1e3:.1f} ms ({lo * 1e3:.1f}–{hi * 1e3:.1f}, n={len(self.values)})"

    def s(self) -> str:
        lo, hi = self.spread
        return f"{self.median:.2f} s ({lo:.2f}–{hi:.2f}, n={len(self.values)})"


def repeat(fn: Callable[[], object], n: int, warmup: int = 1) -> Sample:
    """Time ``fn`` n times after ``warmup`` untimed calls (wall clock, seconds)."""
    for _ in range(warmup):
        fn()
    values = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        values.append(time.perf_counter() - t0)
    return Sample(values)


def machine() -> list[str]:
    import os

    import numpy
    import torch
    import torchvision

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}",
        f"GPU: {gpu}",
        f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"numpy {numpy.__version__}",
    ]
