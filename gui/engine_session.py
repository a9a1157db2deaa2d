"""What the engine thread holds for the open model: model, anatomy, recorder, inputs.

Only the engine thread (:mod:`gui.worker`) imports this module, so it may import torch.
Analyses (:mod:`gui.analysis_requests`) run here as generators of snapshots, one per
batch, so the worker can emit each and serve records between two batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from engine.anatomy import Anatomy, build_anatomy
from engine.device import describe
from engine.errors import UnitscopeError
from engine.images import load_image
from engine.preprocess import Preprocess
from engine.population import participation_ratio, population_stream, sparseness
from engine.protocols import ImageFolder, Protocol, StimulusBatch
from engine.provenance import provenance
from engine.recorder import Recorder
from engine.sources import open_model
from engine.stimuli import PROCEDURAL
from engine.topk import image_crop, topk_stream
from engine.tuning import tuning_stream
from engine.units import Probe, Unit, unit_geometry
from engine.zoo import LoadedModel
from gui.analysis_requests import (GRATING_SET_ORIENTATIONS, GRATING_SET_SF, PROBE_GRATING_SF,
                                   Population, PopulationSnapshot, ProbePlay, ProbeSnapshot,
                                   TopImages, TopImagesSnapshot, Tuning, TuningSnapshot,
                                   finite_mean)
from gui.worker import ModelInfo, Stimulus

MAX_CACHED_INPUTS = 32


class EngineSession:
    """The open model with everything made for it.

    Parameters
    ----------
    loaded, anatomy, recorder, preprocess
        The model, its measured anatomy, a recorder on the chosen device and the
        model's own preprocessing.
    hooks
        Forward pre-hook handles to remove when the session closes.
    """

    def __init__(self, loaded: LoadedModel, anatomy: Anatomy, recorder: Recorder,
                 preprocess: Preprocess, hooks: list):
        self.loaded, self.anatomy, self.recorder = loaded, anatomy, recorder
        self.preprocess, self._hooks = preprocess, hooks
        self._modules = dict(loaded.module.named_modules())
        self._inputs: dict[Stimulus, tuple[torch.Tensor, np.ndarray]] = {}

    @classmethod
    def open(cls, spec: str, weights: str | None, device: str,
             interrupt_check: Callable[[nn.Module, tuple], None],
             trust_pickle: bool = False) -> EngineSession:
        """Build or load ``spec``, measure its anatomy and hook ``interrupt_check``.

        ``interrupt_check`` runs before every module's forward; raising there ends the
        forward pass, which is how a stale request stops between two modules.
        """
        loaded = open_model(spec, weights, trust_pickle=trust_pickle)
        anatomy = build_anatomy(loaded.module, loaded.input_size)
        recorder = Recorder(loaded.module, device)
        hooks = []
        for module in loaded.module.modules():
            try:
                hooks.append(module.register_forward_pre_hook(interrupt_check))
            except Exception:  # noqa: BLE001 - TorchScript modules take no Python hooks
                break
        return cls(loaded, anatomy, recorder, Preprocess(loaded), hooks)

    def hooks_left(self) -> list[str]:
        """Names of modules with forward hooks or pre-hooks other than the interrupt hooks."""
        own = {hook.id for hook in self._hooks}
        return [name for name, module in self._modules.items()
                if getattr(module, "_forward_hooks", None)
                or set(getattr(module, "_forward_pre_hooks", {})) - own]

    def close(self) -> None:
        """Remove the interrupt hooks, so the module is left as it was built."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def info(self, spec: str, weights_file: str | None) -> ModelInfo:
        """What the GUI needs to know about this model (plain Python, safe to pass on)."""
        m = self.loaded
        return ModelInfo(spec=spec, name=m.name, weights_label=m.weights_label,
                         has_random_weights=m.has_random_weights, source=m.source,
                         input_size=m.input_size, device=describe(self.recorder.device),
                         anatomy=self.anatomy, weights_file=weights_file,
                         provenance=provenance(m, self.preprocess.describe(),
                                               device=str(self.recorder.device)),
                         notes=[*m.notes, *self.anatomy.notes])

    def stimulus(self, stimulus: Stimulus) -> tuple[torch.Tensor, np.ndarray]:
        """The normalised input tensor (3, S, S) and its display image, cached per model."""
        if stimulus not in self._inputs:
            if stimulus.kind == "image":
                tensor = self.preprocess.image(load_image(stimulus.value))
            elif stimulus.value in PROCEDURAL:
                tensor = self.preprocess.array(PROCEDURAL[stimulus.value](self.preprocess.crop_size))
            else:
                raise UnitscopeError(f"Unknown stimulus '{stimulus.value}'.")
            if len(self._inputs) >= MAX_CACHED_INPUTS:
                self._inputs.pop(next(iter(self._inputs)))
            self._inputs[stimulus] = (tensor, self.preprocess.to_display(tensor))
        return self._inputs[stimulus]

    def conv_weights(self, layer: str) -> torch.Tensor | None:
        """The kernels (out, in, kh, kw) of a ``Conv2d`` layer as a CPU tensor, else None.

        On the CPU this is the parameter itself, not a copy: nothing writes to it.
        """
        module = self._modules.get(layer.partition("#")[0])
        if not isinstance(module, nn.Conv2d):
            return None
        return module.weight.detach().float().cpu()

    def tuning(self, request: Tuning, cancelled: Callable[[], bool]) -> Iterator[TuningSnapshot]:
        """Run a tuning sweep; yield the curve so far after every batch.

        The protocol is centred on the unit's theoretical receptive field, and spatial
        frequency is in cycles per receptive field (per image for a unit without one).
        """
        geometry = unit_geometry(self.anatomy, Unit(request.layer, request.channel, request.y, request.x))
        sf_key = "sf_rf" if geometry.side else "sf"
        protocol = Protocol(request.stimulus, self.preprocess.crop_size, request.protocol_params(sf_key),
                            center=geometry.center, rf_side=geometry.side, phases=request.phases)
        param = "orientation" if request.param == "orientation" else sf_key
        for table, batch in tuning_stream(self.recorder, geometry.unit, protocol, self.preprocess,
                                          request.batch_size, cancelled):
            f0 = table.curve(param, "f0")
            f1 = table.curve(param, "f1", at=f0.fixed)
            yield TuningSnapshot(geometry.unit.label, param, f0.values.copy(), f0.responses.copy(),
                                 f1.responses.copy(), table.metrics("f0"), batch.start + batch.size,
                                 len(protocol), geometry.side)

    def population(self, request: Population,
                   cancelled: Callable[[], bool]) -> Iterator[PopulationSnapshot]:
        """Record a stimulus set; yield PCA, RDM, dimensionality and sparseness after every batch."""
        if request.stimuli == "images":
            # No decoding processes: forking from a thread of a Qt application is unsafe,
            # and the strip holds few images.
            stimuli = ImageFolder(list(request.paths), workers=0)
        else:
            n = GRATING_SET_ORIENTATIONS
            stimuli = Protocol("gratings", self.preprocess.crop_size,
                               {"orientation": 180.0 * np.arange(n) / n, "sf": GRATING_SET_SF,
                                "phase": [0.0]})
        for state in population_stream(self.recorder, request.layer, stimuli, self.preprocess,
                                       request.view, batch_size=request.batch_size, cancelled=cancelled):
            rows = state.rdm.rows
            pca = state.pca()
            scores = np.zeros((state.n, 2))
            k = min(2, len(pca.components))
            scores[:, :k] = pca.transform(rows)[:, :k]
            lifetime = (state.moments.lifetime_sparseness() if state.moments is not None
                        else sparseness(rows, axis=0))
            if isinstance(stimuli, ImageFolder):
                labels = [p.name for p in stimuli.kept]
                groups = np.arange(state.n, dtype=float)
            else:
                conds = [stimuli.conditions[i] for i in range(state.n)]
                labels = [f"{c['orientation']:g} deg, {c['sf']:g} c/img" for c in conds]
                groups = np.array([c["orientation"] for c in conds])
            yield PopulationSnapshot(
                layer=request.layer, view=request.view, labels=labels, groups=groups, scores=scores,
                explained=np.array(pca.explained_variance_ratio, copy=True),
                participation_ratio=participation_ratio(pca.explained_variance),
                lifetime_sparseness=finite_mean(lifetime),
                population_sparseness=finite_mean(state.population_sparseness),
                rdm=np.array(state.rdm.rdm, copy=True), n_units=int(rows.shape[1]), done=state.n,
                total=len(stimuli), stimuli=request.stimuli,
                skipped=[f"{p.name}: {why}" for p, why in getattr(stimuli, "skipped", [])])

    def topk(self, request: TopImages, cancelled: Callable[[], bool]) -> Iterator[TopImagesSnapshot]:
        """Rank the images by one unit's response; yield the top and bottom crops after every batch."""
        geometry = unit_geometry(self.anatomy, Unit(request.layer, request.channel, request.y, request.x))
        unit = geometry.unit
        images = ImageFolder(list(request.paths), workers=0)  # no forking from a Qt app's thread
        crops: dict[int, np.ndarray] = {}  # stimulus index -> crop, made once per image

        def entries(pairs):
            for _, i in pairs:
                if i not in crops:
                    crops[i] = image_crop(images.kept[i], self.preprocess, geometry.box)
            return (np.array([v for v, _ in pairs], dtype=float), [crops[i] for _, i in pairs],
                    [images.kept[i].name for _, i in pairs])

        for ranking in topk_stream(self.recorder, request.layer, images, self.preprocess, request.k,
                                   channels=[unit.channel], y=unit.y, x=unit.x,
                                   batch_size=request.batch_size, cancelled=cancelled):
            top, bottom = entries(ranking.top()), entries(ranking.bottom())
            yield TopImagesSnapshot(unit.label, geometry.box, *top, *bottom, done=ranking.n,
                                    total=len(images),
                                    skipped=[f"{p.name}: {why}" for p, why in images.skipped])

    def probe(self, request: ProbePlay, cancelled: Callable[[], bool]) -> Iterator[ProbeSnapshot]:
        """Play a stimulus sequence to the pinned units; yield all responses so far after every batch."""
        probe = Probe(list(request.units))
        if request.sequence == "strip":
            sequence = [Stimulus(kind, value) for kind, value in request.stimuli]
            stimuli = _StimulusList(self, sequence)
            names = [s.label for s in sequence]
        else:
            orientations = 180.0 * np.arange(request.orientations) / request.orientations
            stimuli = Protocol("gratings", self.preprocess.crop_size,
                               {"orientation": orientations, "sf": [PROBE_GRATING_SF], "phase": [0.0]})
            names = [f"{o:g}°" for o in orientations]
        rows: list[np.ndarray] = []
        labels = probe.labels
        for batch, responses in probe.stream(self.recorder, stimuli, self.preprocess,
                                             request.batch_size, cancelled):
            if not rows:  # positions made concrete against the recorded outputs
                labels = [unit_geometry(self.anatomy, u).unit.label for u in probe.units]
            rows.append(responses)
            done = batch.start + batch.size
            yield ProbeSnapshot(labels, names[:done], np.concatenate(rows, axis=0), done,
                                len(stimuli), request.sequence)

    def comparison(self, request, cancelled: Callable[[], bool]) -> Iterator:
        """Record two layers over a stimulus set in one pass per batch; yield both RDMs,
        RSA and linear CKA after every batch (:class:`gui.analysis_requests.Compare`)."""
        from engine.population import PopulationSource, compare_stream
        from gui.analysis_requests import ComparisonSnapshot

        if request.stimuli == "images":
            stimuli = ImageFolder(list(request.paths), workers=0)  # no forking from a Qt app's thread
        else:
            n = GRATING_SET_ORIENTATIONS
            stimuli = Protocol("gratings", self.preprocess.crop_size,
                               {"orientation": 180.0 * np.arange(n) / n, "sf": GRATING_SET_SF,
                                "phase": [0.0]})
        self.recorder.resolve([request.layer, request.layer_b])  # unknown names fail before any pass
        a = PopulationSource(self.recorder, request.layer, self.preprocess, request.view)
        b = PopulationSource(self.recorder, request.layer_b, self.preprocess, request.view)
        for result in compare_stream(a, b, stimuli, batch_size=request.batch_size, cancelled=cancelled):
            n = result.rdm_a.n
            if isinstance(stimuli, ImageFolder):
                labels = [p.name for p in stimuli.kept]
                groups = np.arange(n, dtype=float)
            else:
                conds = [stimuli.conditions[i] for i in range(n)]
                labels = [f"{c['orientation']:g} deg, {c['sf']:g} c/img" for c in conds]
                groups = np.array([c["orientation"] for c in conds])
            yield ComparisonSnapshot(
                layer=request.layer, layer_b=request.layer_b, view=request.view, labels=labels,
                groups=groups, rdm=np.array(result.rdm_a.rdm, copy=True),
                rdm_b=np.array(result.rdm_b.rdm, copy=True),
                rsa=result.rsa(), cka=result.cka(), n_units=int(result.rdm_a.rows.shape[1]),
                n_units_b=int(result.rdm_b.rows.shape[1]), done=n, total=len(stimuli),
                stimuli=request.stimuli,
                skipped=[f"{p.name}: {why}" for p, why in getattr(stimuli, "skipped", [])])

    def receptive_field(self, request, cancelled: Callable[[], bool]) -> Iterator:
        """Map a unit's receptive field; yield a :class:`ReceptiveFieldSnapshot` after every batch.

        First the mean |input gradient| over the strip's inputs (:func:`engine.unit_rf.gradient_rf`),
        then sparse-noise reverse correlation (:func:`engine.unit_rf.reverse_correlation`).
        """
        from engine.unit_rf import gradient_rf, reverse_correlation
        from gui.analysis_requests import ReceptiveFieldSnapshot

        geometry = unit_geometry(self.anatomy, Unit(request.layer, request.channel, request.y, request.x))
        unit = geometry.unit
        size = self.preprocess.crop_size
        grid = max(1, min(int(request.grid), size))
        protocol = Protocol("sparse_noise", size, {"frames": int(request.noise_frames), "grid": grid,
                                                   "n_on": min(int(request.n_on), grid * grid),
                                                   "seed": int(request.seed)})
        inputs = [Stimulus(kind, value) for kind, value in request.stimuli]
        image = (np.array(self.stimulus(Stimulus(*request.shown))[1], copy=True)
                 if request.shown is not None else None)
        total = len(inputs) + len(protocol)
        gradient = box = None
        n_images = 0

        def snapshot(maps=None) -> ReceptiveFieldSnapshot:
            return ReceptiveFieldSnapshot(
                unit.label, image, geometry.box, box, gradient,
                None if maps is None else maps.on_map.copy(), None if maps is None else maps.off_map.copy(),
                n_images, 0 if maps is None else maps.n, n_images + (0 if maps is None else maps.n), total,
                request.rel_threshold)

        batches = (torch.stack([self.stimulus(s)[0] for s in inputs[i:i + request.batch_size]])
                   for i in range(0, len(inputs), request.batch_size))
        for grad in gradient_rf(self.recorder, unit, batches, cancelled):
            gradient, n_images = grad.mean_abs.copy(), grad.n
            box = grad.box(request.rel_threshold)
            yield snapshot()
        for maps in reverse_correlation(self.recorder, unit, protocol, self.preprocess,
                                        request.batch_size, cancelled):
            yield snapshot(maps)


class _StimulusList:
    """The strip's inputs (images and procedural stimuli) as a stimulus set for the engine."""

    def __init__(self, session: EngineSession, stimuli: list[Stimulus]):
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
