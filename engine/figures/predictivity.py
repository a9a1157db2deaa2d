"""The predict job's figures and Methods text: plain functions of its result.

``sweep_data(result, job)`` and ``neuron_unit_data(result, job, neuron)`` build the
:class:`~engine.figures.data.FigureData` of the ``layer_sweep`` and ``neuron_unit`` figure
kinds from a predict result (a :class:`engine.jobs.predict.PredictSnapshot`'s fields, as
:func:`engine.session.results.read_result` gives them); ``methods(job, extra)`` is the
Methods paragraph of a predict job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.figures.data import FigureData


def _get(result, name):
    return result[name] if isinstance(result, dict) else getattr(result, name)


def _finite_median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median over ``axis`` of the finite values (NaN where there are none), without warnings."""
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    out = np.full(values.shape[:-1], np.nan)
    for index in np.ndindex(out.shape):
        v = values[index]
        v = v[np.isfinite(v)]
        if len(v):
            out[index] = np.median(v)
    return out


def sweep_data(result, job: dict) -> FigureData:
    """The layer sweep: per finished layer the median over neurons of held-out r, of its
    bootstrap interval and of the normalised score; the neurons' median ceiling with its
    interval (the band); RSA, CKA and the RSA ceiling."""
    layers = list(_get(result, "finished"))
    if not layers:
        raise UnitscopeError("The predict result has no finished layer to draw.")
    r_ci = np.asarray(_get(result, "r_ci"), dtype=float)
    ceiling_ci = np.asarray(_get(result, "ceiling_ci"), dtype=float)
    arrays = {"r": _finite_median(_get(result, "r")), "r_low": _finite_median(r_ci[..., 0]),
              "r_high": _finite_median(r_ci[..., 1]),
              "normalised": _finite_median(_get(result, "normalised")),
              "rsa": np.asarray(_get(result, "rsa"), dtype=float), "cka": np.asarray(_get(result, "cka"), dtype=float),
              "ceiling": np.array([_finite_median(np.asarray(_get(result, "ceiling"), dtype=float)[None])[0],
                                   *_finite_median(ceiling_ci.T)])}
    meta = {"layers": layers, "n_neurons": len(_get(result, "neurons")), "n_stimuli": len(_get(result, "stimuli")),
            "rdm_ceiling": float(_get(result, "rdm_ceiling")), "deg_per_image": float(job.get("deg_per_image", 8.0)),
            "responses": Path(str(job.get("responses", ""))).name}
    return FigureData("layer_sweep", arrays, meta)


def neuron_unit_data(result, job: dict, neuron: int | str = 0, layer: str | None = None) -> FigureData:
    """One neuron's trial-averaged responses against its best unit's (at ``layer``, or at the
    layer where its normalised score is highest), and every neuron's ridge r against its ceiling."""
    neurons = list(_get(result, "neurons"))
    layers = list(_get(result, "finished"))
    if not layers:
        raise UnitscopeError("The predict result has no finished layer to draw.")
    if str(neuron) in neurons:  # a name first: neurons may be named "3"
        n = neurons.index(str(neuron))
    else:
        n = int(neuron) if isinstance(neuron, int) or str(neuron).isdigit() else -1
    if not 0 <= n < len(neurons):
        shown = ", ".join(neurons[:5]) + (", …" if len(neurons) > 5 else "")
        raise UnitscopeError(f"Neuron {neuron!r} is not in the result: give a name ({shown}) or an index from 0 to "
                             f"{len(neurons) - 1}.")
    normalised = np.asarray(_get(result, "normalised"), dtype=float)
    r = np.asarray(_get(result, "r"), dtype=float)
    if layer is None:
        score = np.where(np.isfinite(normalised[:, n]), normalised[:, n], r[:, n])
        i = int(np.nanargmax(np.where(np.isfinite(score), score, -np.inf)))
    elif layer in layers:
        i = layers.index(layer)
    else:
        raise UnitscopeError(f"Layer '{layer}' was not scored (scored: {', '.join(layers)}).")
    mean = np.asarray(_get(result, "mean"), dtype=float)
    unit = np.asarray(_get(result, "unit_response"), dtype=float)[i, :, n]
    best = tuple(int(_get(result, name)[i][n]) for name in ("best_channel", "best_y", "best_x"))
    arrays = {"neuron": mean[:, n], "unit": unit, "r": r[i],
              "ceiling": np.asarray(_get(result, "ceiling"), dtype=float),
              "unit_r_all": np.asarray(_get(result, "unit_r"), dtype=float)[i]}
    meta = {"neuron": neurons[n], "neuron_index": n, "layer": layers[i],
            "unit": f"{layers[i]}[{best[0]}]" + (f"({best[1]},{best[2]})" if best[1] >= 0 else ""),
            "unit_r": float(_get(result, "unit_r")[i][n]), "ridge_r": float(r[i, n]),
            "ceiling_n": float(arrays["ceiling"][n])}
    tuning = tuning_overlay(result, n, i)
    if tuning is not None:
        arrays.update(tuning[0])
        meta.update(tuning[1])
    return FigureData("neuron_unit", arrays, meta)


def tuning_overlay(result, neuron: int, row: int) -> tuple[dict, dict] | None:
    """The orientation tuning of ``neuron`` and of its best unit at layer row ``row`` (the unit's
    curve also scaled to the neuron's range), or None where the stimuli hold no gratings (or the
    result was written before tuning curves were kept)."""
    from engine.analyses.neuron_tuning import scaled_to

    def field(name):
        try:
            value = _get(result, name)
        except (KeyError, AttributeError):
            return None
        return None if value is None else np.asarray(value, dtype=float)

    orientations, mean, unit = field("orientations"), field("tuning_mean"), field("unit_tuning")
    if orientations is None or mean is None or unit is None or orientations.size == 0:
        return None
    neuron_curve, unit_curve = mean[neuron], unit[row, neuron]
    if np.isfinite(neuron_curve).sum() < 2:
        return None
    finite = unit_curve[np.isfinite(unit_curve)]
    arrays = {"orientations": orientations, "tuning_neuron": neuron_curve, "tuning_sem": field("tuning_sem")[neuron],
              "tuning_unit": unit_curve, "tuning_unit_scaled": scaled_to(unit_curve, neuron_curve)}
    meta = {"tuning_sf": float(field("tuning_sf")[neuron]), "tuning_contrast": float(field("tuning_contrast")[neuron]),
            "unit_min": float(finite.min()) if finite.size else float("nan"),
            "unit_max": float(finite.max()) if finite.size else float("nan")}
    return arrays, meta


def methods(job: dict, extra: dict) -> str:
    """The Methods paragraph of a predict job (definitions as :mod:`engine.analyses.predictivity`)."""
    layers = job.get("layers") or extra.get("layers") or []
    which = f"layers {', '.join(layers)}" if layers else "the model's main stages (one module per map size)"
    n_images = len(job.get("images") or []) or extra.get("n_images", 0)
    window = job.get("window_ms")
    counted = (f"Responses were spike counts from {window[0]:g} to {window[1]:g} ms after each stimulus onset. "
               if window else "")
    features = job.get("features", 1000)
    gratings = ("full-field sine gratings, drawn at the model's input size from the orientation, spatial "
                "frequency, phase and contrast named by each stimulus's label")
    names = extra.get("stimuli")
    if names:  # a result: its rows say which stimuli were images and which gratings
        from engine.neural.gratings import is_label

        n_gratings = sum(is_label(name) for name in names)
        n_pictures = len(names) - n_gratings
        shown = (f"{n_pictures} images and {n_gratings} {gratings}" if n_gratings and n_pictures else
                 f"{n_gratings} {gratings}" if n_gratings else f"{n_pictures} images")
    else:
        shown = (f"{n_images or 'the'} images" if n_images or job.get("images") is None else gratings)
    return (
        f"We compared {which} with the recorded neurons' responses to {shown}, the model's "
        f"input spanning {job.get('deg_per_image', 8.0):g}\u00b0 of visual angle. {counted}"
        f"Layer outputs wider than {features} units were reduced to {features} features by a seeded sparse random "
        "projection (each unit added with a random sign to one feature)"
        + (f", and the ridge saw their first {job['pca']} principal components, fitted in each training fold"
           if job.get("pca") else "")
        + ". For each neuron, ridge regression from the "
        f"features to its trial-averaged response was fitted in {job.get('folds', 5)}-fold cross-validation over "
        "stimuli; inside each training fold the features were z-scored and the penalty chosen per neuron from a "
        "logarithmic grid (10^\u22122 to 10^7) by leave-one-out error on that fold alone (scikit-learn RidgeCV), and "
        "the held-out stimuli were predicted (Yamins et al., 2014; Schrimpf et al., 2018). The score is the Pearson "
        "correlation r between held-out predictions and responses. The noise ceiling came from the repeats: the "
        f"correlation across stimuli of the means of two random halves of the repeats, averaged over "
        f"{job.get('splits', 20)} splits and Spearman\u2013Brown corrected to the full number of repeats, is the "
        "reliability \u03c1 of the mean response; the ceiling of r is \u221a\u03c1 and the normalised score "
        f"r/\u221a\u03c1. Confidence intervals (95%) are percentiles of {job.get('boots', 200)} bootstrap resamples "
        "of the stimuli. Representational similarity analysis compared the RDM (1 \u2212 Pearson r between stimuli) "
        "of the neurons with each layer's by the Spearman correlation of their upper triangles (Kriegeskorte et "
        "al., 2008), its ceiling \u221a of the Spearman\u2013Brown corrected split-half RDM correlation; linear CKA "
        "compared the populations (Kornblith et al., 2019). Each neuron's best single unit was the unit most "
        "correlated with it in the training folds, scored on the held-out stimuli, as single neurons and model "
        f"units are compared in Marques et al., 2021. All splits, resamples and the projection used seed "
        f"{job.get('seed', 0)}."
    )
