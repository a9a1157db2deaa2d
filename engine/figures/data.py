"""What a figure is drawn from: its kind, its arrays and a few plain facts about them.

A :class:`FigureData` is built from a result file (:mod:`engine.figures.sources`) or from
what a window view shows; it is saved next to the figure (:mod:`engine.figures.sidecar`)
so that the figure can be drawn again without the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import UnitscopeError


@dataclass
class FigureData:
    """The numbers of one figure.

    Attributes
    ----------
    kind : str
        One of :data:`engine.figures.render.KINDS` (mosaic, unit, tuning, ...).
    arrays : dict of str to ndarray
        The data drawn (maps, curves, matrices, image crops).
    meta : dict
        JSON-ready facts: model, weights, layer, unit, stimulus names, measures.
    jobs : list of dict
        The job file(s) (:meth:`engine.session.job.JobFile.to_dict`) that made the data.
    provenance : dict
        The provenance of the result the data came from.
    """

    kind: str
    arrays: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    jobs: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise UnitscopeError(f"The {self.kind} figure needs '{name}', which its data does not hold.")
        return np.asarray(self.arrays[name])

    def model_label(self) -> str:
        """``resnet18 (random weights, seed 0)`` or ``resnet50 (resnet50-0676ba61.pth)``."""
        prov, model = self.provenance, self.meta.get("model") or self.provenance.get("model") or ""
        if not model and self.jobs:
            model = self.jobs[0].get("model", {}).get("spec", "")
        weights_file = prov.get("weights_file") or ""
        if weights_file:
            return f"{model} ({weights_file.replace(chr(92), '/').rsplit('/', 1)[-1]})"
        seed = prov.get("random_seed")
        if seed is None and self.jobs:
            spec = self.jobs[0].get("model", {})
            seed = None if spec.get("weights") else spec.get("seed")
        if seed is not None and seed != -1:
            return f"{model} (random weights, seed {seed})"
        weights = prov.get("weights")
        return f"{model} ({weights})" if weights else str(model)
