"""Stimulus sets the jobs share: the grating set, image folders and the strip's inputs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from engine.session.values import Stimulus
from engine.stimuli.protocols import ImageFolder, Protocol, StimulusBatch

GRATING_SET_SF = (4.0, 8.0, 16.0, 32.0)  # cycles per image
GRATING_SET_ORIENTATIONS = 12


def population_stimuli(session, stimuli: str, paths, workers: int | None = 0) -> ImageFolder | Protocol:
    """The images in ``paths`` (``stimuli="images"``) or the grating set (``"gratings"``).

    ``workers`` decoding processes for images; the window's jobs use none (forking from
    a thread of a Qt application is unsafe, and a strip holds few images).
    """
    if stimuli == "images":
        return ImageFolder(list(paths), workers=workers)
    n = GRATING_SET_ORIENTATIONS
    return Protocol("gratings", session.preprocess.crop_size,
                    {"orientation": 180.0 * np.arange(n) / n, "sf": GRATING_SET_SF, "phase": [0.0]})


def labels_and_groups(stimuli, n: int) -> tuple[list[str], np.ndarray]:
    """A label per recorded stimulus and a value to colour it by (orientation, else index)."""
    if isinstance(stimuli, ImageFolder):
        return [p.name for p in stimuli.kept], np.arange(n, dtype=float)
    conds = [stimuli.conditions[i] for i in range(n)]
    return ([f"{c['orientation']:g} deg, {c['sf']:g} c/img" for c in conds],
            np.array([c["orientation"] for c in conds]))


def skipped(stimuli) -> list[str]:
    """Images that could not be read, with why."""
    return [f"{p.name}: {why}" for p, why in getattr(stimuli, "skipped", [])]


class StimulusList:
    """The strip's inputs (images and procedural stimuli) as a stimulus set for the engine."""

    def __init__(self, session, stimuli: list[Stimulus]):
        self.session, self.stimuli = session, stimuli

    def __len__(self) -> int:
        return len(self.stimuli)

    def batches(self, preprocess, batch_size: int = 32) -> Iterator[StimulusBatch]:
        for start in range(0, len(self.stimuli), batch_size):
            chunk = self.stimuli[start:start + batch_size]
            n = len(chunk)
            yield StimulusBatch(start=start,
                                inputs=torch.stack([self.session.stimulus(s)[0] for s in chunk]),
                                params=[{s.kind: s.value} for s in chunk],
                                condition=np.arange(start, start + n), phase=np.zeros(n))
