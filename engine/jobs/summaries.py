"""The summaries job: dataset-scale summaries of layers over a slice of a stimulus list.

What one shard of ``unitscope submit`` runs (:mod:`engine.cluster`), and what ``unitscope run``
runs for a whole list in one process.  Stimuli are image files (in the given order) or a
parametric protocol; ``start``/``stop`` pick the slice.  Each batch's snapshot carries the
per-stimulus reductions of that batch only (memory stays flat whatever the list's length);
the last snapshot carries the running moments and extremes of the slice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from engine.session.analysis import Analysis, register
from engine.session.job import job_kind


@job_kind("summaries")
@dataclass(frozen=True)
class Summaries:
    """Summaries of ``layers`` for stimuli ``start`` to ``stop`` of a list.

    Parameters
    ----------
    layers : tuple of str
    images : tuple of str
        Image files, in stimulus order (empty when ``protocol`` is given).
    protocol : str
        A protocol kind (:data:`engine.stimuli.protocols.KINDS`) instead of images, with
        ``params`` ``((name, values), ...)`` and ``phases``.
    summaries : tuple of str
        Per-stimulus reductions kept (:data:`engine.analyses.summaries.REDUCTIONS`).
    k : int
        Highest and lowest responses kept per channel (its centre unit).
    seed : int
        Seed of the random projection (``project:D``).
    batch_size : int
    start, stop : int
        The slice of the stimulus list (``stop`` None: to the end).
    """

    layers: tuple[str, ...]
    images: tuple[str, ...] = ()
    protocol: str = ""
    params: tuple[tuple[str, tuple[float, ...]], ...] = ()
    phases: int = 1
    summaries: tuple[str, ...] = ("mean",)
    k: int = 9
    seed: int = 0
    batch_size: int = 32
    start: int = 0
    stop: int | None = None

    def describe(self) -> str:
        return f"Summarising {', '.join(self.layers)} for stimuli {self.start}–{self.stop or 'end'}…"

    def named_result(self, fields: dict) -> tuple[dict, dict, dict]:
        """A result's arrays under self-describing names (:func:`named_arrays`), the names'
        table and the other fields (for :func:`engine.session.results.write_result`)."""
        arrays, table = named_arrays(fields.get("outputs") or {}, fields.get("moments") or {},
                                     fields.get("extremes") or {})
        rest = {k: v for k, v in fields.items() if k not in ("outputs", "moments", "extremes")}
        return arrays, table, rest

    def fields_from_named(self, arrays: dict, table: dict) -> dict:
        """``outputs``, ``moments`` and ``extremes`` again from :meth:`named_result`'s arrays."""
        return unnamed_arrays(arrays, table)

    def stimuli(self, session):
        """The whole stimulus list: a :class:`StimulusList` over images or a protocol."""
        return StimulusList(self, session.preprocess)

    def run(self, session, cancelled: Callable[[], bool] = lambda: False) -> Iterator[SummaryBatch]:
        """One snapshot per batch (that batch's reductions), then the slice's moments and extremes
        (see :func:`collected` for a last snapshot that also holds every row)."""
        import numpy as np

        from engine.analyses.summaries import Extremes, Moments, Reduction, SparseProjection, centre_responses
        from engine.errors import UnitscopeError
        from engine.recording.recorder import Cancelled

        reductions = [Reduction.parse(s) for s in self.summaries]
        if self.batch_size < 1:
            raise UnitscopeError("The batch size must be at least 1.")
        session.recorder.resolve(list(self.layers))
        stimuli = self.stimuli(session)
        stop = len(stimuli) if self.stop is None else min(self.stop, len(stimuli))
        if not 0 <= self.start <= stop:
            raise UnitscopeError(f"Stimuli {self.start}–{stop} are not a slice of {len(stimuli)} stimuli.")
        moments: dict[str, Moments] = {}
        extremes: dict[str, Extremes] = {}
        projections: dict[str, SparseProjection] = {}
        skipped: list[tuple[str, str]] = []
        for first in range(self.start, stop, self.batch_size):
            if cancelled():
                raise Cancelled()
            indices = np.arange(first, min(first + self.batch_size, stop))
            inputs, errors = stimuli.batch(indices)
            skipped += [(stimuli.name(i), e) for i, e in zip(indices, errors) if e]
            good = np.array([not e for e in errors])
            recorded = session.recorder.record_one(list(self.layers), inputs)
            outputs: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.layers:
                out = recorded.outputs[layer]
                if layer not in moments:
                    moments[layer] = Moments(tuple(out.shape[1:]))
                    extremes[layer] = Extremes(self.k, int(out.shape[1]))
                moments[layer].update(out[good].double().numpy())
                extremes[layer].update(centre_responses(out)[good], indices[good])
                outputs[layer] = {}
                for reduction in reductions:
                    if reduction.name == "project" and layer not in projections:
                        projections[layer] = SparseProjection(int(np.prod(out.shape[1:])), reduction.size,
                                                              self.seed)
                    values = reduction.apply(out, projections.get(layer))
                    values[~good] = np.nan
                    outputs[layer][str(reduction)] = values
            yield SummaryBatch(int(first), outputs, skipped=list(skipped), done=int(indices[-1]) + 1 - self.start,
                               total=stop - self.start)
        yield SummaryBatch(stop, {}, {layer: m.arrays() for layer, m in moments.items()},
                           {layer: e.padded() for layer, e in extremes.items()}, list(skipped),
                           stop - self.start, stop - self.start)


def collected(snapshots) -> Iterator[SummaryBatch]:
    """The snapshots of a summaries run with the batches' rows kept: the last one holds every
    stimulus's reductions (``(N, ...)`` per layer and reduction) beside the moments and extremes.

    For one process running a whole list (``unitscope run``), where the result must be whole;
    a sharded job keeps memory flat by writing each batch into the store instead.
    """
    import numpy as np

    rows: dict[str, dict[str, list]] = {}
    first = None
    for snapshot in snapshots:
        first = snapshot.start if first is None else first
        for layer, reductions in snapshot.outputs.items():
            for name, values in reductions.items():
                rows.setdefault(layer, {}).setdefault(name, []).append(values)
        if snapshot.outputs or not snapshot.moments:
            yield snapshot
            continue
        outputs = {layer: {name: np.concatenate(parts) for name, parts in names.items()}
                   for layer, names in rows.items()}
        yield SummaryBatch(first, outputs, snapshot.moments, snapshot.extremes, snapshot.skipped,
                           snapshot.done, snapshot.total)


#: The per-unit moments a result holds, by name (``var``: the population variance, M2 / count).
MOMENT_NAMES = ("count", "mean", "var", "min", "max")
#: Top-level names kept free in every format (a .mat file's other variables).
RESERVED_NAMES = ("provenance", "provenance_json", "layer_names")


def name_part(text: str) -> str:
    """``text`` as one part of an array name valid in .npz, .h5 and .mat alike: ASCII letters,
    digits and ``_`` (others become ``_``), starting with a letter, at most 63 characters."""
    import re

    part = re.sub(r"[^A-Za-z0-9_]", "_", str(text), flags=re.ASCII)
    if not part or not part[0].isalpha():
        part = "x" + part
    return part[:63]


def layer_names(layers) -> dict[str, str]:
    """Each layer's name part (:func:`name_part`), unique (``_2``, ``_3`` … on a clash)."""
    used, names = set(RESERVED_NAMES), {}
    for layer in layers:
        base = candidate = name_part(layer)
        n = 1
        while candidate in used:
            n += 1
            candidate = base[:63 - len(f"_{n}")] + f"_{n}"
        used.add(candidate)
        names[layer] = candidate
    return names


def named_arrays(outputs: dict, moments: dict, extremes: dict) -> tuple[dict, dict]:
    """A summaries result's arrays by self-describing names, and the table of what each is.

    Per layer ``L`` (:func:`layer_names`): ``L/<summary>`` per stimulus ``(N, ...)`` float32
    (``project:64`` as ``project_64``); ``L/moments/{count,mean,var,min,max}`` per unit (count
    an int64 scalar, the others float64 as computed); ``L/top/values``, ``L/top/indices``,
    ``L/bottom/values``, ``L/bottom/indices`` per channel ``(C, k)`` (values float64, stimulus
    indices int64, -1 where fewer than k stimuli were seen).  The table maps each name to
    ``[layer, field, key]`` of the result's ``outputs``/``moments``/``extremes``.
    """
    import numpy as np

    layers = list(dict.fromkeys([*outputs, *moments, *extremes]))
    parts = layer_names(layers)
    arrays, table = {}, {}

    def put(name: str, value, where: list) -> None:
        arrays[name], table[name] = value, where

    for layer in layers:
        part = parts[layer]
        for reduction, values in (outputs.get(layer) or {}).items():
            put(f"{part}/{name_part(reduction)}", np.asarray(values), [layer, "outputs", reduction])
        if layer in moments:
            m = moments[layer]
            count = np.asarray(m["count"])
            n = int(count.flat[0]) if count.size else 0
            mean = np.asarray(m["mean"], dtype=np.float64)
            var = np.asarray(m["m2"], dtype=np.float64) / n if n else np.full(mean.shape, np.nan)
            for key, value in zip(MOMENT_NAMES, (np.int64(n), mean, var, m["min"], m["max"])):
                put(f"{part}/moments/{key}", np.asarray(value, dtype=np.int64 if key == "count" else np.float64),
                    [layer, "moments", key])
        if layer in extremes:
            for end in ("top", "bottom"):
                for what, dtype in (("values", np.float64), ("indices", np.int64)):
                    put(f"{part}/{end}/{what}", np.asarray(extremes[layer][f"{end}_{what}"], dtype=dtype),
                        [layer, "extremes", f"{end}_{what}"])
    return arrays, table


def unnamed_arrays(arrays: dict, table: dict) -> dict:
    """:func:`named_arrays` undone: ``{"outputs": ..., "moments": ..., "extremes": ...}`` as the
    job's last snapshot holds them (moments as :meth:`Moments.arrays`, M2 = var x count)."""
    import numpy as np

    fields: dict = {"outputs": {}, "moments": {}, "extremes": {}}
    for name, (layer, kind, key) in table.items():
        fields[kind].setdefault(layer, {})[key] = arrays[name]
    for layer, m in fields["moments"].items():
        n = int(np.asarray(m.pop("count")))
        var = m.pop("var")
        fields["moments"][layer] = {"count": np.full(np.shape(m["mean"]), n, dtype=np.int64), "mean": m["mean"],
                                    "m2": var * n if n else np.zeros(np.shape(var)), "min": m["min"], "max": m["max"]}
    return fields


class StimulusList:
    """The job's stimuli by index: image files or a protocol's stimuli, preprocessed for the model."""

    def __init__(self, job: Summaries, preprocess):
        import numpy as np

        from engine.errors import UnitscopeError
        from engine.stimuli.protocols import Protocol

        self.preprocess = preprocess
        self.protocol = None
        self.images = list(job.images)
        if job.protocol:
            if self.images:
                raise UnitscopeError("A summaries job takes images or a protocol, not both.")
            self.protocol = Protocol(job.protocol, preprocess.crop_size,
                                     {name: np.asarray(values, dtype=float) for name, values in job.params},
                                     phases=job.phases)
        elif not self.images:
            raise UnitscopeError("A summaries job needs images or a protocol.")

    def __len__(self) -> int:
        return len(self.protocol) if self.protocol is not None else len(self.images)

    def name(self, index: int) -> str:
        if self.protocol is not None:
            return f"{self.protocol.kind} #{index}"
        return self.images[index]

    def batch(self, indices):
        """Inputs ``(B, 3, S, S)`` of stimuli ``indices`` and one error message per stimulus ("" if read)."""
        import torch

        from engine.errors import UnitscopeError
        from engine.stimuli.images import load_image

        tensors, errors = [], []
        for i in indices:
            if self.protocol is not None:
                tensors.append(self.preprocess.array(self.protocol.stimulus(int(i))[1]))
                errors.append("")
                continue
            try:
                tensors.append(self.preprocess.image(load_image(self.images[int(i)])))
                errors.append("")
            except UnitscopeError as exc:
                size = self.preprocess.crop_size
                tensors.append(torch.zeros(3, size, size))
                errors.append(str(exc))
        return torch.stack(tensors), errors


@dataclass
class SummaryBatch:
    """One batch's reductions, or (the last snapshot) the slice's running states.

    Attributes
    ----------
    start : int
        Index, in the whole list, of the batch's first stimulus.
    outputs : dict
        Layer -> reduction name -> array ``(B, ...)`` (rows of unreadable images are NaN).
    moments : dict
        Layer -> :meth:`engine.analyses.summaries.Moments.arrays` (last snapshot only).
    extremes : dict
        Layer -> :meth:`engine.analyses.summaries.Extremes.padded` (last snapshot only).
    skipped : list of (str, str)
        Stimuli that could not be read, with the reason.
    """

    kind: ClassVar[str] = "summaries"

    start: int = 0
    outputs: dict = field(default_factory=dict)
    moments: dict = field(default_factory=dict)
    extremes: dict = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: int = 0
    total: int = 0


register(Analysis(
    "summaries",
    "Sharded summaries",
    jobs=(Summaries,),
    snapshots=(SummaryBatch,),
    needs=frozenset({"layer", "images"}),
    no_figure="a sharded job's arrays are exported ('unitscope export') and drawn from that file",
    methods='engine.figures.methods:summaries_methods',
    command='submit',
    order=96))
