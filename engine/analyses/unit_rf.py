"""A unit's receptive field: theoretical box, gradient map and reverse-correlation map.

* The **theoretical** box comes from the anatomy (:func:`engine.analyses.units.unit_geometry`):
  every input pixel that any path of the network connects to the unit.
* The **gradient** map is the mean over a stimulus set of ``|d unit / d input|``, summed
  over the colour channels (gradients with respect to the model's normalised input).
  Its support (the pixels where it is not zero) can never exceed the theoretical box;
  :func:`empirical_box` is the bounding box of the pixels above a fraction of its peak.
* The **reverse-correlation** map, for sparse or binary noise, is for every pixel the
  mean response when the pixel was bright (ON) or dark (OFF), minus the mean response to
  all frames; and the spike-triggered average in its covariance form,
  ``mean((r - mean r) * (s - mean s))`` per pixel.
* Its **significance**, per pixel: Welch's two-sided t-test of the responses to the frames
  where the pixel was ON against those where it was OFF (the ON − OFF map's own
  difference), from running sums and sums of squares; p-values corrected for the number
  of noise cells by Benjamini and Hochberg's false discovery rate
  (:meth:`ReverseCorrelation.significance`).  The lit cells of a frame are drawn before
  their signs, and each sign is a fair coin, so when the unit does not care about a
  pixel's polarity its ON and OFF frames are alike whatever else the unit sees.

All maps are running sums over the frames seen so far: memory is one image's worth
whatever the number of stimuli, and the drivers yield after every batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.analyses.units import Unit, unit_response
from engine.anatomy.tree import channels_first, first_tensor
from engine.errors import UnitscopeError
from engine.models.torchscript import ScriptTaps, is_script_module
from engine.recording.recorder import Cancelled, Recorder
from engine.recording.unit import Box, LayerRef
from engine.stimuli.procedural import grid_cell
from engine.stimuli.protocols import Protocol, record_stimuli

#: The false discovery rate the ON/OFF test is corrected to by default.
FDR = 0.01


class _Captured(Exception):
    """Raised from a hook to end the forward pass once the unit's layer has run."""


@dataclass
class GradientMap:
    """Running mean of the input gradient of one unit.

    ``abs_sum`` is the sum over stimuli of ``|grad|`` summed over colour channels
    ``(H, W)``; ``signed_sum`` the sum of the signed gradient ``(3, H, W)``.
    """

    abs_sum: np.ndarray
    signed_sum: np.ndarray
    n: int = 0

    @property
    def mean_abs(self) -> np.ndarray:
        """Mean over stimuli of ``sum_c |d unit / d input_c|``, shape ``(H, W)``."""
        return self.abs_sum / max(self.n, 1)

    @property
    def mean_signed(self) -> np.ndarray:
        """Mean signed gradient ``(3, H, W)`` (a linear unit's weights, seen in the input)."""
        return self.signed_sum / max(self.n, 1)

    def box(self, rel_threshold: float = 0.01) -> Box | None:
        return empirical_box(self.mean_abs, rel_threshold)


def empirical_box(grad_map: np.ndarray, rel_threshold: float = 0.01) -> Box | None:
    """Bounding box (top, left, bottom, right; inclusive) of pixels above a fraction of the peak.

    ``rel_threshold = 0`` gives the box of every pixel with a non-zero value (the support).
    None when the map is all zeros.
    """
    grad_map = np.asarray(grad_map, dtype=float)
    peak = grad_map.max() if grad_map.size else 0.0
    if peak <= 0:
        return None
    rows, cols = np.nonzero(grad_map > rel_threshold * peak)
    return (float(rows.min()), float(cols.min()), float(rows.max()), float(cols.max()))


_SCRIPT_TAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unit_output(model: torch.nn.Module, ref: LayerRef, inputs: torch.Tensor) -> torch.Tensor:
    """The layer's output for ``inputs``, with the graph back to them, stopping right there."""
    if is_script_module(model):  # no Python hooks: the output is added to its graph
        taps = _SCRIPT_TAPS.get(model) or _SCRIPT_TAPS.setdefault(model, ScriptTaps(model))
        return taps.outputs([(ref.name, ref.call)], inputs)[(ref.name, ref.call)]
    module = dict(model.named_modules())[ref.name]
    seen = {"calls": 0, "out": None}

    def hook(mod, args, output):
        seen["calls"] += 1
        if seen["calls"] == ref.call:
            seen["out"] = channels_first(model, ref.name, ref.call, first_tensor(output))
            raise _Captured()

    handle = module.register_forward_hook(hook)
    try:
        model(inputs)
    except _Captured:
        pass
    finally:
        handle.remove()
    if seen["out"] is None:
        raise UnitscopeError(f"Layer '{ref}' did not produce that call in a forward pass.")
    return seen["out"]


def gradient_rf(recorder: Recorder, unit: Unit, batches: Iterable[torch.Tensor],
                cancelled: Callable[[], bool] = lambda: False) -> Iterator[GradientMap]:
    """Mean input gradient of ``unit`` over a set of inputs, yielded after every batch.

    Parameters
    ----------
    recorder : Recorder
        Gives the model and the device (gradients need a normal, non-inference pass).
    unit : Unit
        The unit; a position left as None is the map centre.
    batches : iterable of torch.Tensor
        Preprocessed ``(B, 3, H, W)`` inputs, e.g. ``(b.inputs for b in
        protocol.batches(preprocess))``.
    cancelled : callable
        Checked before every batch; raises :class:`engine.recording.recorder.Cancelled`.

    Yields
    ------
    GradientMap
        The same object, updated in place.  Each stimulus's gradient is its own (the
        network is in eval mode, so stimuli of a batch do not interact).
    """
    ref = recorder.resolve([unit.layer])[0]
    model = recorder.model
    result: GradientMap | None = None
    for batch in batches:
        if cancelled():
            raise Cancelled()
        # A GUI worker may run under inference mode, where no graph is kept: leave it.
        with torch.inference_mode(False), torch.enable_grad():
            inputs = batch.to(recorder.device, torch.float32).clone().requires_grad_(True)
            output = _unit_output(model, ref, inputs)
            response = unit_response(output, unit)
            if not response.requires_grad:
                raise UnitscopeError(f"Unit {unit.label} does not depend on the input through "
                                     "operations with gradients.")
            (grad,) = torch.autograd.grad(response.sum(), inputs)
        grad = grad.detach().double().cpu()
        if result is None:
            shape = tuple(grad.shape[1:])
            result = GradientMap(np.zeros(shape[1:]), np.zeros(shape))
        result.abs_sum += grad.abs().sum(dim=1).sum(dim=0).numpy()
        result.signed_sum += grad.sum(dim=0).numpy()
        result.n += int(grad.shape[0])
        yield result


@dataclass
class Significance:
    """Which pixels of an ON − OFF map differ from zero, and how surely.

    Attributes
    ----------
    t, df, p : ndarray
        ``(H, W)`` Welch's t of ON against OFF responses, its Welch–Satterthwaite degrees of
        freedom and the two-sided p-value (NaN where a pixel was not ON and OFF twice each).
    significant : ndarray of bool
        ``(H, W)``: the pixel's cell is a discovery at false discovery rate ``fdr``.
    fdr : float
    n_tests : int
        Cells with a p-value: the family the rate is controlled over.
    n_significant : int
        Cells found (discoveries).
    """

    t: np.ndarray
    df: np.ndarray
    p: np.ndarray
    significant: np.ndarray
    fdr: float
    n_tests: int
    n_significant: int


def benjamini_hochberg(p: np.ndarray, fdr: float) -> np.ndarray:
    """Discoveries among p-values ``p`` (NaN: not tested) at false discovery rate ``fdr``.

    The largest k with ``p_(k) <= k * fdr / m`` (m the p-values that are not NaN) makes the
    k smallest p-values discoveries (Benjamini and Hochberg, 1995).
    """
    p = np.asarray(p, dtype=float)
    tested = np.isfinite(p)
    ordered = np.sort(p[tested])
    m = ordered.size
    passing = np.nonzero(ordered <= np.arange(1, m + 1) * fdr / max(m, 1))[0]
    if not passing.size:
        return np.zeros(p.shape, dtype=bool)
    return tested & (p <= ordered[passing[-1]])


def noise_cells(protocol: Protocol) -> np.ndarray | None:
    """``(H, W)`` labels of the noise cell each pixel lies in (pixels of one cell always share a value).

    Sparse noise of one grid and binary noise of one block size have cells; any other
    protocol gives None (every pixel its own).
    """
    h, w = protocol.size
    if protocol.kind == "sparse_noise" and protocol.axes["grid"].size == 1:
        grid = int(protocol.axes["grid"][0])
        rows, cols = np.zeros(h, dtype=np.int64), np.zeros(w, dtype=np.int64)
        for i in range(grid):
            rows[grid_cell((h, w), grid, i, 0)[0]] = i
            cols[grid_cell((h, w), grid, 0, i)[1]] = i
    elif protocol.kind == "white_noise" and protocol.axes["block"].size == 1:
        block = int(protocol.axes["block"][0])
        rows, cols = np.arange(h) // block, np.arange(w) // block
    else:
        return None
    return rows[:, None] * (int(cols.max()) + 1) + cols[None, :]


@dataclass
class ReverseCorrelation:
    """Running ON/OFF response maps, their variances and the response-weighted stimulus average.

    Parameters
    ----------
    height, width : int
        Stimulus size in pixels.
    cells : ndarray or None
        ``(H, W)`` labels of the stimulus's cells (:func:`noise_cells`): the significance test
        counts each cell once.  None: every pixel is its own cell.

    Notes
    -----
    A pixel is ON in a frame when its grey value (mean over colour channels) is above
    0.5 and OFF when below; ``on_map`` is the mean response over the frames where it was
    ON minus the mean response over all frames (NaN where it was never ON), likewise
    ``off_map``.  For a linear unit that sees one pixel, ``on_map - off_map`` at that
    pixel is exactly the response to the pixel bright minus the response to it dark.
    Sums of squares are kept about the first response (the shifted-data algorithm), so a
    unit with a large mean response keeps its variance's digits.
    """

    height: int
    width: int
    cells: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        shape = (self.height, self.width)
        if self.cells is not None and np.shape(self.cells) != shape:
            raise UnitscopeError(f"Cell labels {np.shape(self.cells)} do not match a "
                                 f"{self.height} x {self.width} map.")
        # each cell's first pixel, and each pixel's cell among them (sorted once, not per snapshot)
        self._cell_of = (None if self.cells is None else
                         np.unique(np.asarray(self.cells).ravel(), return_index=True, return_inverse=True)[1:])
        self.n = 0
        self.sum_r = 0.0
        self.shift: float | None = None
        self.on_sum, self.on_count = np.zeros(shape), np.zeros(shape)
        self.off_sum, self.off_count = np.zeros(shape), np.zeros(shape)
        self.on_dev, self.off_dev = np.zeros(shape), np.zeros(shape)  # sums of r - shift
        self.on_sq, self.off_sq = np.zeros(shape), np.zeros(shape)  # sums of (r - shift)^2
        self.s_sum, self.rs_sum = np.zeros(shape), np.zeros(shape)

    def update(self, images: np.ndarray, responses: np.ndarray) -> None:
        """Add frames ``(B, H, W, 3)`` (or ``(B, H, W)``) in [0, 1] and responses ``(B,)``."""
        images = np.asarray(images, dtype=float)
        grey = images.mean(axis=-1) if images.ndim == 4 else images
        r = np.asarray(responses, dtype=float).reshape(-1)
        if grey.shape[1:] != (self.height, self.width) or grey.shape[0] != r.size:
            raise UnitscopeError(f"Frames {images.shape} and responses {r.shape} do not match a "
                                 f"{self.height} x {self.width} map.")
        if not r.size:
            return
        if self.shift is None:
            self.shift = float(r[0])
        on, off = (grey > 0.5).astype(float), (grey < 0.5).astype(float)
        dev = r - self.shift
        self.n += r.size
        self.sum_r += float(r.sum())
        self.on_sum += np.tensordot(r, on, axes=1)
        self.on_count += on.sum(axis=0)
        self.off_sum += np.tensordot(r, off, axes=1)
        self.off_count += off.sum(axis=0)
        self.on_dev += np.tensordot(dev, on, axes=1)
        self.off_dev += np.tensordot(dev, off, axes=1)
        self.on_sq += np.tensordot(dev * dev, on, axes=1)
        self.off_sq += np.tensordot(dev * dev, off, axes=1)
        self.s_sum += grey.sum(axis=0)
        self.rs_sum += np.tensordot(r, grey, axes=1)

    @property
    def mean_response(self) -> float:
        return self.sum_r / self.n if self.n else float("nan")

    def _conditional(self, total: np.ndarray, count: np.ndarray) -> np.ndarray:
        out = np.full(total.shape, np.nan)
        seen = count > 0
        out[seen] = total[seen] / count[seen] - self.mean_response
        return out

    @property
    def on_map(self) -> np.ndarray:
        return self._conditional(self.on_sum, self.on_count)

    @property
    def off_map(self) -> np.ndarray:
        return self._conditional(self.off_sum, self.off_count)

    @property
    def sta(self) -> np.ndarray:
        """``mean((r - mean r) * (s - mean s))`` per pixel: the covariance of response and grey."""
        if not self.n:
            return np.full((self.height, self.width), np.nan)
        return self.rs_sum / self.n - self.mean_response * self.s_sum / self.n

    def on_off_test(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Welch's two-sided t-test of ON-frame against OFF-frame responses, per pixel.

        Returns
        -------
        t, df, p : ndarray
            ``(H, W)``; NaN where a pixel was not ON twice and OFF twice.  Where both
            groups have no spread, a difference has p = 0 and none p = 1.
        """
        from scipy.special import stdtr

        n1, n2 = self.on_count, self.off_count
        ok = (n1 >= 2) & (n2 >= 2)
        t, df, p = (np.full(n1.shape, np.nan) for _ in range(3))
        n1, n2 = n1[ok], n2[ok]
        d1, d2 = self.on_dev[ok] / n1, self.off_dev[ok] / n2  # means about the shift
        v1 = np.maximum(self.on_sq[ok] - d1 * self.on_dev[ok], 0.0) / (n1 - 1)
        v2 = np.maximum(self.off_sq[ok] - d2 * self.off_dev[ok], 0.0) / (n2 - 1)
        a, b = v1 / n1, v2 / n2
        se2, diff = a + b, d1 - d2
        spread = se2 > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            tt = np.where(spread, diff / np.sqrt(se2), np.where(diff == 0, 0.0, np.copysign(np.inf, diff)))
            dd = np.where(spread, se2 ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1)), np.nan)
        pp = np.where(spread, 2.0 * stdtr(dd, -np.abs(tt)), np.where(diff == 0, 1.0, 0.0))
        t[ok], df[ok], p[ok] = tt, dd, np.clip(pp, 0.0, 1.0)
        return t, df, p

    def significance(self, fdr: float = FDR) -> Significance:
        """:meth:`on_off_test` with the Benjamini–Hochberg correction over the noise cells.

        Every pixel of a cell takes the cell's p-value (its first pixel's), so a cell counts
        once in the family however many pixels it covers.
        """
        t, df, p = self.on_off_test()
        if self._cell_of is not None:
            first, inverse = self._cell_of
            per_cell = p.ravel()[first]
            found = benjamini_hochberg(per_cell, fdr)
            shape = p.shape
            t, df, p = (x.ravel()[first][inverse].reshape(shape) for x in (t, df, p))
            return Significance(t, df, p, found[inverse].reshape(shape), float(fdr),
                                int(np.isfinite(per_cell).sum()), int(found.sum()))
        found = benjamini_hochberg(p, fdr)
        return Significance(t, df, p, found, float(fdr), int(np.isfinite(p).sum()), int(found.sum()))


def reverse_correlation(recorder: Recorder, unit: Unit, protocol: Protocol, preprocess,
                        batch_size: int = 32, cancelled: Callable[[], bool] = lambda: False,
                        ) -> Iterator[ReverseCorrelation]:
    """Record a noise protocol (sparse or white noise) and yield the maps after every batch.

    Yields
    ------
    ReverseCorrelation
        The same object, updated in place.
    """
    maps = ReverseCorrelation(*protocol.size, cells=noise_cells(protocol))
    for batch, recorded in record_stimuli(recorder, [unit.layer], protocol, preprocess,
                                          batch_size, cancelled):
        if batch.images is None:
            raise UnitscopeError("Reverse correlation needs a parametric noise protocol.")
        maps.update(batch.images, unit_response(recorded.outputs[unit.layer], unit).double().numpy())
        yield maps
