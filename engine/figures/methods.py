"""A Methods paragraph and its BibTeX, written from the jobs that were actually run.

:func:`collect` finds the jobs (and the provenance, where the file keeps it) in any file
Unitscope writes: a command's output, a ``unitscope run`` result, a figure sidecar, a job
file or a ``.unitscope.json`` session.  :func:`methods_text` describes each: the model and
its weights (file name and SHA-256 prefix, or random weights and their seed), the
preprocessing, the layers, the stimuli, the analysis with its definitions, and the
software versions; :func:`bibtex` lists the papers it cites.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError


@dataclass
class MethodsEntry:
    """One job that was run, with the provenance of its result when the file has it."""

    job: dict  # a job file: {"format", "model", "job"}
    provenance: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # e.g. the number of images actually read


# --- finding the jobs ------------------------------------------------------------------------

def _load_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnitscopeError(f"Could not read '{path.name}': {exc}.") from None
    return value if isinstance(value, dict) else {}


def _job(value) -> dict | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) and "job" in value and "model" in value else None


def collect(path: str | Path) -> list[MethodsEntry]:
    """The jobs behind ``path`` (see the module docstring), in the order they are stored."""
    from engine.figures import sources
    from engine.figures.sidecar import FORMAT as FIGURE_FORMAT

    path = Path(path)
    if not path.exists():
        raise UnitscopeError(f"'{path}' does not exist.")
    if path.is_dir():
        path = path / "topk.json"
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy", ".h5", ".mat"):
        if suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as npz:
                if "__job__" in npz.files:
                    from engine.session.results import read_result

                    job_file, result, prov = read_result(path)
                    return [MethodsEntry(job_file.to_dict(), prov, result_extra(result))]
        _arrays, prov = sources.read_arrays(path)
        job = _job(prov.get("job"))
        return [MethodsEntry(job, prov, {"n_images": len(prov.get("image_paths") or [])})] if job else []
    if suffix == ".csv":
        path = path.with_name(path.name + ".json")
    record = _load_json(path)
    fmt = record.get("format", "")
    if fmt == FIGURE_FORMAT:
        jobs = [j for j in (_job(j) for j in record.get("jobs", [])) if j]
        return [MethodsEntry(j, record.get("provenance", {})) for j in jobs]
    if fmt == "unitscope-session/1":
        model = record.get("model", {})
        return [MethodsEntry({"format": "unitscope-job/1", "model": model, "job": job})
                for job in (record.get("jobs") or {}).values()]
    if fmt == "unitscope-job/1":
        return [MethodsEntry(record)]
    job = _job(record.get("job"))
    if job is None:
        raise UnitscopeError(f"'{path.name}' holds no Unitscope job (expected a result, a command's output, "
                             "a figure sidecar, a job file or a session).")
    prov = record.get("provenance", {})
    extra = {"n_images": len(record.get("image_paths") or prov.get("image_paths") or [])}
    return [MethodsEntry(job, prov, extra)]


def result_extra(result) -> dict:
    """What a result adds to its job's Methods: the names of the stimuli it was shown, if it keeps them."""
    stimuli = result.get("stimuli") if isinstance(result, dict) else getattr(result, "stimuli", None)
    if stimuli is None or isinstance(stimuli, str) or not hasattr(stimuli, "__len__"):
        return {}
    return {"stimuli": [str(name) for name in stimuli]}


# --- the text ----------------------------------------------------------------------------------

def _software(entries: list[MethodsEntry]) -> dict:
    prov = next((e.provenance for e in entries if e.provenance.get("torch_version")), {})
    if prov:
        return {"unitscope": prov.get("unitscope_version"), "torch": prov.get("torch_version"),
                "torchvision": prov.get("torchvision_version"), "python": prov.get("python_version")}
    import platform
    from importlib import metadata

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {"unitscope": version("unitscope"), "torch": version("torch"), "torchvision": version("torchvision"),
            "python": platform.python_version()}


def _model_sentence(job_file: dict, prov: dict) -> str:
    model = job_file.get("model", {})
    spec = model.get("spec", "?")
    name = Path(spec.rpartition(":")[0]).name + ":" + spec.rpartition(":")[2] if ":" in spec and ".py" in spec else spec
    if model.get("weights") or prov.get("weights_file"):
        weights = Path(model.get("weights") or prov.get("weights_file")).name
        sha = model.get("weights_sha256") or prov.get("weights_sha256") or ""
        source = f"with weights from the file {weights}" + (f" (SHA-256 {sha[:12]}\u2026)" if sha else "")
    elif prov.get("weights") and prov.get("weights") != "random weights" and prov.get("random_seed", 0) == -1:
        source = f"with {prov['weights']}"
    else:
        source = (f"with random weights drawn from seed {model.get('seed', 0)} (torch.manual_seed; the same "
                  "seed gives bit-identical weights)")
    origin = prov.get("model_source", "")
    origin = " from torchvision" if origin == "torchvision" or (origin == "" and re.fullmatch(r"[a-z0-9_]+", spec)) \
        else ""
    return f"We used the {name} network{origin} {source}."


def _preprocessing_sentence(prov: dict) -> str:
    text = prov.get("preprocessing", "")
    if not text:
        return ""
    resize, crop = re.search(r"resize_size=\[(\d+)\]", text), re.search(r"crop_size=\[(\d+)\]", text)
    mean, std = re.search(r"mean=\[([^\]]*)\]", text), re.search(r"std=\[([^\]]*)\]", text)
    interp = re.search(r"InterpolationMode\.(\w+)", text)
    parts = []
    if resize:
        parts.append(f"resized so that the shorter side was {resize.group(1)} pixels"
                     + (f" ({interp.group(1).lower()} interpolation)" if interp else ""))
    if crop:
        parts.append(f"centre-cropped to {crop.group(1)} \u00d7 {crop.group(1)} pixels")
    if mean and std:
        parts.append(f"normalised per colour channel with mean ({mean.group(1)}) and standard deviation "
                     f"({std.group(1)})")
    if not parts:
        return f"Photographs were preprocessed as {text}."
    return "Photographs were " + ", ".join(parts) + " (the model's own preprocessing)."


def _device_sentence(prov: dict) -> str:
    if not prov.get("device"):
        return ""
    layout = prov.get("memory_format", "contiguous")
    return (f"The forward passes ran on {prov['device']} in float32 ({layout} memory layout), with forward "
            "hooks reading the outputs of the modules analysed.")


def _list(values) -> str:
    values = [str(v) for v in values]
    if not values:
        return ""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


#: Units of protocol parameters (:mod:`engine.stimuli.protocols`).
PARAM_UNITS = {"orientation": ("orientation \u03b8", "\u00b0"), "sf": ("spatial frequency", " cycles per image"),
               "sf_rf": ("spatial frequency", " cycles per receptive field"), "phase": ("phase", "\u00b0"),
               "contrast": ("Michelson contrast", ""), "aperture": ("aperture radius", " pixels"),
               "radius": ("aperture radius", " pixels"), "length": ("bar length", " pixels"),
               "width": ("bar width", " pixels"), "hue": ("hue", "\u00b0"), "sigma": ("envelope s.d.", " pixels"),
               "offset": ("offset", " pixels")}


#: What each protocol of :mod:`engine.stimuli.protocols` shows.
PROTOCOL_NAMES = {"gratings": "sine gratings", "gabors": "Gabor patches", "gabor": "Gabor patches",
                  "bars": "bars", "size": "sine gratings in circular apertures around the receptive-field centre",
                  "contrast": "sine gratings at several Michelson contrasts", "hue": "discs of one hue on mean grey",
                  "bar_length": "bars of several lengths", "sparse_noise": "sparse noise"}


def _params_text(params) -> str:
    out = []
    for name, values in params:
        values = [float(v) for v in values]
        what, unit = PARAM_UNITS.get(name, (name, ""))
        if len(values) > 3 and np.allclose(np.diff(values), values[1] - values[0]):
            out.append(f"{what} from {values[0]:g} to {values[-1]:g}{unit} in {len(values)} steps of "
                       f"{values[1] - values[0]:g}{unit}")
        else:
            out.append(f"{what} {', '.join(f'{v:g}' for v in values)}{unit}")
    return "; ".join(out)


ORIENTATION_CONVENTION = ("Orientation \u03b8 is the direction along which luminance varies (0\u00b0: vertical bars; "
                          "the image's y axis points down, so \u03b8 increases clockwise on screen); a bar's own "
                          "orientation is \u03b8 + 90\u00b0.")

FIT_DEFINITIONS = (
    "Beside these grid values, the preferred orientation and bandwidth were also read from a least-squares "
    "von Mises fit, R(\u03b8) = b + a exp(\u03ba(cos 2(\u03b8 \u2212 \u03bc) \u2212 1)), and the peak spatial frequency "
    "and bandwidth from a log-Gaussian fit over log\u2082 spatial frequency, with the same definitions of "
    "bandwidth applied to the fitted curves.")

TUNING_DEFINITIONS = (
    "F0 is the mean response over the phases of a condition and F1 the amplitude of its first harmonic "
    "over phase, 2|\u03a3_k r_k e^{\u2212i\u03c6_k}|/n. Responses were rectified at 0 for the orientation metrics: "
    "the preferred orientation is the sampled peak refined by a parabola through its neighbours; the "
    "orientation selectivity index is OSI = (R_pref \u2212 R_orth)/(R_pref + R_orth); circular variance is "
    "CV = 1 \u2212 |\u03a3 r e^{2i\u03b8}|/\u03a3 r (Ringach et al., 2002); bandwidth is the half width of the peak at "
    "1/\u221a2 of its height (Ringach et al., 2002). " + FIT_DEFINITIONS)

GRATING_SET = (12, (4.0, 8.0, 16.0, 32.0))  # engine.session.stimulus_sets: orientations, cycles per image


def image_set_hash(paths) -> str | None:
    """SHA-256 over the SHA-256 of every file in order (None when a file is missing): names one
    image set exactly, whatever the files are called (for the supplement, not the sentence)."""
    import hashlib

    from engine.files.hashing import sha256_of

    files = [Path(p) for p in paths or []]
    if not files or not all(f.is_file() for f in files):
        return None
    return hashlib.sha256("".join(sha256_of(f) for f in files).encode()).hexdigest()


def _image_names(paths, n: int = 0) -> str:
    """``4 photographs (astronaut, cat, coffee and rocket)``: by name and count, never by hash."""
    names = [re.sub(r"\.\w+$", "", Path(str(p)).name) for p in paths or []]
    n = len(names) or n
    if not n:
        return "the photographs"
    if not names:
        return _plural(n, "photograph")
    shown = names if len(names) <= 8 else names[:6] + [f"{len(names) - 6} more"]
    return f"{_plural(n, 'photograph')} ({_list(shown)})"


def _stimulus(value) -> tuple[str, str]:
    """(kind, value) of a stimulus written as a dict or a pair."""
    if isinstance(value, dict):
        return str(value.get("kind", "")), str(value.get("value", ""))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return str(value[0]), str(value[1])
    return "", str(value or "")


def _stimulus_list(stimuli) -> str:
    pairs = [_stimulus(s) for s in stimuli or []]
    images = [v for k, v in pairs if k == "image"]
    generated = [v for k, v in pairs if k != "image"]
    parts = ([_image_names(images)] if images else []) + (
        [f"the generated stimuli {_list(sorted(set(generated)))}"] if generated else [])
    return _list(parts) or "the inputs"


def uses_photographs(job: dict) -> bool:
    """Whether the job feeds photographs (files) to the model, so that their preprocessing matters."""
    if job.get("paths") or job.get("images") and isinstance(job.get("images"), (list, tuple)):
        return True
    kind, _value = _stimulus(job.get("stimulus"))
    if kind == "image":
        return True
    return any(_stimulus(s)[0] == "image" for s in job.get("stimuli") or [] if not isinstance(s, str))


def _unit(job: dict) -> str:
    where = (f" at position ({job['y']}, {job['x']})" if job.get("y") is not None
             else " at the centre of its feature map")
    return f"channel {job['channel']} of {job['layer']}{where}"


# --- one function per job kind: (job, extra) -> str --------------------------------------------


def record_methods(job: dict, extra: dict) -> str:
    if job.get("kind") == "record_images":
        layers = list(job.get("layers") or [])
        return (f"We recorded the output of {_list(layers)} ({_plural(len(layers), 'module')}) for "
                f"{_image_names(job.get('paths'), extra.get('n_images', 0))}.")
    kind, value = _stimulus(job.get("stimulus"))
    what = _image_names([value]) if kind == "image" else f"the generated stimulus {value}"
    return f"We recorded the output of {job.get('layer', '')} for {what}."


def tuning_methods(job: dict, extra: dict) -> str:
    phases = int(job.get("phases", 8))
    if job.get("kind") == "protocol_responses":
        protocol = job.get("protocol", "gratings")
        what = (f"{PROTOCOL_NAMES.get(protocol, f'the {protocol} protocol')} ("
                f"{_params_text(job.get('params', [])) or 'the protocol defaults'}; parameters not listed at the "
                "protocol's defaults)")
    elif job.get("param", "orientation") == "orientation":
        n = int(job.get("orientations", 12))
        sfs = ", ".join(f"{v:g}" for v in job.get("sf", [2.0]))
        what = (f"full-field sine gratings of Michelson contrast 1 at {n} orientations from 0 to "
                f"{180 * (n - 1) / n:g}\u00b0 in steps of {180 / n:g}\u00b0, spatial frequency {sfs} cycles per "
                "receptive field")
    else:
        sfs = ", ".join(f"{v:g}" for v in job.get("sf", []))
        what = (f"full-field sine gratings of Michelson contrast 1 at spatial frequencies {sfs} cycles per "
                f"receptive field, orientation {float(job.get('orientation', 0)):g}\u00b0")
    return (f"We measured the tuning of {_unit(job)} to {what}, with {_plural(phases, 'phase')} per condition "
            f"evenly spaced over 360\u00b0; stimuli were centred on the unit's theoretical receptive field "
            f"(Araujo et al., 2019). " + TUNING_DEFINITIONS)


def _view(job: dict) -> str:
    return {"flat": "all units of the layer", "channels": "the spatial mean of each channel",
            "centre": "every channel at the centre of the map"}.get(job.get("view", "flat"), job.get("view", ""))


def _population_stimuli(job: dict, extra: dict) -> str:
    if job.get("stimuli") == "gratings":
        n, sfs = GRATING_SET
        return (f"a grating set of {n} orientations \u00d7 {len(sfs)} spatial frequencies ({n * len(sfs)} "
                f"full-field sine gratings: \u03b8 from 0 to {180 * (n - 1) / n:g}\u00b0 in steps of {180 / n:g}\u00b0; "
                f"{_list([f'{v:g}' for v in sfs])} cycles per image; phase 0\u00b0; Michelson contrast 1)")
    return _image_names(job.get("paths"), extra.get("n_images", 0))


def _rdm_sentence(job: dict, extra: dict, layers: str) -> str:
    return (f"The population vectors of {layers} ({_view(job)}) over {_population_stimuli(job, extra)} gave a "
            "representational dissimilarity matrix (RDM) of 1 \u2212 Pearson r between stimuli (Kriegeskorte et al., "
            "2008)")


def population_methods(job: dict, extra: dict) -> str:
    text = _rdm_sentence(job, extra, job.get("layer", ""))
    if job.get("kind") == "population":
        text += (". Dimensionality was measured by the participation ratio (\u03a3\u03bb)\u00b2/\u03a3\u03bb\u00b2 of the "
                 "covariance eigenvalues \u03bb, and sparseness by the Treves\u2013Rolls measure (Treves and Rolls, "
                 "1991) normalised to [0, 1], S = (1 \u2212 (\u03a3r/n)\u00b2/(\u03a3r\u00b2/n))/(1 \u2212 1/n) "
                 "(Vinje and Gallant, 2000), of responses r rectified at 0: per unit over the n stimuli (lifetime "
                 "sparseness) and per stimulus over the n units (population sparseness); the first two principal "
                 "components of the responses are shown")
    return text + "."


def comparison_methods(job: dict, extra: dict) -> str:
    return (_rdm_sentence(job, extra, f"{job.get('layer', '')} and {job.get('layer_b', '')}")
            + ". The two were compared by RSA, the Spearman correlation of the two RDMs' upper triangles "
            "(Kriegeskorte et al., 2008), and by linear centred kernel alignment, "
            "CKA = \u2016X_c\u1d40Y_c\u2016\u00b2_F/(\u2016X_c\u1d40X_c\u2016_F \u2016Y_c\u1d40Y_c\u2016_F), with X_c and "
            "Y_c the column-centred responses (Kornblith et al., 2019).")


def topk_methods(job: dict, extra: dict) -> str:
    if job.get("kind") == "topk_ranking":
        channels = list(job.get("channels") or [])
        which = ("every channel" if not channels else f"channel {channels[0]}" if len(channels) == 1
                 else f"channels {_list(channels)}")
    else:
        which = f"channel {job.get('channel')}"
    where = (f"at position ({job['y']}, {job['x']})" if job.get("y") is not None else "at the centre of the map")
    return (f"We ranked {_image_names(job.get('paths'), extra.get('n_images', 0))} by the response of {which} of "
            f"{job.get('layer', '')} {where} and kept the {job.get('k', 9)} highest and lowest (Zeiler and Fergus, "
            "2014), shown as crops of the unit's theoretical receptive field (Araujo et al., 2019).")


def receptive_field_methods(job: dict, extra: dict) -> str:
    grid = job.get("grid", 16)
    return (f"The receptive field of {_unit(job)} was mapped three ways: the theoretical receptive field from "
            "the network's kernels, strides and padding (Araujo et al., 2019); the mean absolute gradient of the "
            f"unit's response with respect to the input pixels over {_stimulus_list(job.get('stimuli'))} (Simonyan "
            f"et al., 2014), bounded where it exceeded {job.get('rel_threshold', 0.01):g} of its peak; and reverse "
            f"correlation with {job.get('noise_frames', 300)} frames of sparse noise ({grid} \u00d7 {grid} cells on "
            f"mean grey, {job.get('n_on', 8)} cells per frame each bright or dark, seed {job.get('seed', 0)}), the "
            "mean response to a bright (ON) minus a dark (OFF) cell at each place (Jones and Palmer, 1987), tested "
            "cell by cell (see Statistics).")


def receptive_field_statistics(job: dict) -> str:
    """The sparse-noise significance test, with the job's false discovery rate and cell count."""
    grid = job.get("grid", 16)
    return ("In sparse-noise receptive fields, a cell's ON \u2212 OFF difference was tested with Welch's two-sided "
            "t-test of the responses to the frames where the cell was bright against those where it was dark "
            "(Welch, 1947; cells bright or dark in fewer than two frames were not tested), and the p-values were "
            f"corrected over the cells tested (at most {grid} \u00d7 {grid}) to a false discovery rate of "
            f"{job.get('fdr', 0.01):g} (Benjamini and Hochberg, 1995); figures outline the cells found. The network is "
            "deterministic: the test asks whether a cell's polarity changes the response beyond what the other "
            "cells lit in the same frames do.")


def probe_methods(job: dict, extra: dict) -> str:
    units = [f"channel {u.get('channel')} of {u.get('layer')}" for u in job.get("units", [])]
    if job.get("sequence") == "orientations":
        n = int(job.get("orientations", 36))
        seq = (f"full-field sine gratings at {n} orientations from 0 to {180 * (n - 1) / n:g}\u00b0 in steps of "
               f"{180 / n:g}\u00b0")
    else:
        seq = _stimulus_list(job.get("stimuli"))
    return f"We recorded the responses of {_list(units)} (each at the centre of its map) to {seq}."


def visualize_methods(job: dict, extra: dict) -> str:
    n = int(job.get("images", 1))
    unit = (f"the mean over the feature map of channel {job.get('channel')} of {job.get('layer', '')}"
            if job.get("y") is None else f"channel {job.get('channel')} of {job.get('layer', '')} at position "
            f"({job['y']}, {job['x']})")
    if job.get("direction") is not None:
        unit = f"the mean projection of the outputs of {job.get('layer', '')} on a direction in channel space"
    size = f"{job['size']} \u00d7 {job['size']} pixels" if job.get("size") else "the model's input size"
    text = (f"Feature visualisation (Olah et al., 2017) maximised {unit} over "
            + ("an image" if n == 1 else f"{n} images") + f" of {size}. Each image was parameterised by its "
            "Fourier spectrum, scaled by 1/max(|f|, 1/N) (|f| in cycles per pixel, N the image side) so that all "
            "spatial frequencies learn at the same rate, with colours decorrelated by the square root of the "
            "ImageNet colour covariance and a sigmoid mapping into [0, 1]; the spectrum started as Gaussian noise "
            "(s.d. 0.01). Before every step the image was jittered by up to 1/28 of its side, scaled by 0.90 to "
            "1.10 (steps of 0.02) and rotated by \u221210 to 10\u00b0 (steps of 1\u00b0), with mean grey outside "
            f"it. Adam (learning rate {job.get('lr', 0.05):g}) ran for {job.get('steps', 256)} steps from seed "
            f"{job.get('seed', 0)}")
    if n > 1 and job.get("diversity"):
        text += (f", with a diversity term of weight {job['diversity']:g}: minus the summed cosine similarity of "
                 "the images' Gram matrices at the layer")
    return text + "."


EVIDENCE_METHODS = {
    "gradient": "the gradient of the unit's response with respect to the input pixels (Simonyan et al., 2014)",
    "gradient_x_input": "the gradient multiplied element-wise by the input, gradient \u00d7 input (Shrikumar et al., "
                        "2016)",
    "guided_backprop": "guided backpropagation, which passes back through each ReLU only positive gradients "
                       "where the forward input was positive (Springenberg et al., 2015)",
}


def evidence_methods(job: dict, extra: dict) -> str:
    methods = [EVIDENCE_METHODS.get(m, m) for m in job.get("methods") or EVIDENCE_METHODS]
    kind, value = _stimulus(job.get("stimulus"))
    what = _image_names([value]) if kind == "image" else f"the generated stimulus {value}"
    return (f"The evidence for the response of {_unit(job)} on {what} was mapped as {_list(methods)}; maps are "
            "summed over colour channels for display.")


def properties_methods(job: dict, extra: dict) -> str:
    units = job.get("units")
    n = int(job.get("orientations", 12))
    sfs = _list([f"{v:g}" for v in job.get("sfs", (0.5, 1.0, 2.0, 4.0, 8.0))])
    which = "every channel" if units is None else f"{units} channels spread evenly over the layer"
    return (
        f"V1 properties were measured for {which} of {job.get('layer', '')}, for the unit at the centre of each "
        "channel's feature map, following Marques et al. (2021). A grid of full-field sine gratings (Michelson "
        f"contrast 1; {n} orientations from 0 to {180 * (n - 1) / n:g}\u00b0 \u00d7 spatial frequencies {sfs} cycles "
        f"per receptive field \u00d7 {job.get('phases', 8)} phases) gave, from F0 rectified at 0: the preferred "
        "orientation, circular variance and orientation bandwidth (half width at 1/\u221a2 of the peak) of the "
        "orientation curve at the preferred spatial frequency (Ringach et al., 2002), and the orthogonal-to-"
        "preferred response ratio R_orth/R_pref; the peak spatial frequency and the spatial-frequency bandwidth, "
        "the full width at half height in octaves (De Valois et al., 1982); the modulation ratio F1/F0 at the "
        "condition with the largest F0, above 1 for simple and below 1 for complex cells (De Valois et al., 1982); "
        "and the peak response. Gratings in circular apertures (radii from 1/16 of the receptive field's side to "
        f"the side, at every orientation, {job.get('size_phases', 4)} phases, at the median preferred spatial "
        "frequency of the channels measured together) gave the surround suppression index "
        "SSI = (R_peak \u2212 R_largest)/R_peak (Cavanaugh et al., 2002). " + FIT_DEFINITIONS + " "
        + ORIENTATION_CONVENTION)


def summaries_methods(job: dict, extra: dict) -> str:
    layers = list(job.get("layers") or [])
    what = (_image_names(job.get("images")) if job.get("images") else
            f"a {job.get('protocol')} protocol ({_params_text(job.get('params', [])) or 'its default parameters'})")
    summaries = _list(job.get("summaries") or ["mean"])
    return (f"Responses of {_list(layers)} to {what} were summarised per unit ({summaries}; top {job.get('k', 9)} "
            "stimuli) in shards that were merged exactly.")


def _analysis(job: dict, extra: dict) -> str:
    """The Methods sentences of ``job``, from the analysis that runs it (:mod:`engine.session.analysis`)."""
    from engine.session.analysis import analysis_of_job
    from engine.session.job import job_class

    kind = job.get("kind", "")
    try:
        analysis = analysis_of_job(job_class(kind))
    except UnitscopeError:
        analysis = None
    describe = analysis.methods_text() if analysis is not None else None
    if describe is None:
        why = analysis.no_methods if analysis is not None else "not an analysis this version knows"
        return f"A {kind.replace('_', ' ')} job was run ({why})."
    text = describe(job, extra)
    if ("orientation" in json.dumps(job) or kind in ("tuning", "protocol_responses")) \
            and ORIENTATION_CONVENTION not in text:
        text += " " + ORIENTATION_CONVENTION
    return text


def _statistics(entries: list[MethodsEntry]) -> list[str]:
    kinds = {e.job.get("job", {}).get("kind") for e in entries}
    out = []
    if "comparison" in kinds:
        out.append("RSA is Spearman's rank correlation over the n(n \u2212 1)/2 off-diagonal pairs of stimuli.")
    if "properties" in kinds:
        out.append("Where a reference was given, a property's distribution was compared with it by the KS similarity "
                   "1 \u2212 D, D the two-sample Kolmogorov\u2013Smirnov statistic, units where the property is "
                   "undefined left out (Marques et al., 2021).")
    out += _dedupe(receptive_field_statistics(e.job.get("job", {})) for e in entries
                   if e.job.get("job", {}).get("kind") == "receptive_field")
    out.append("Every number is a deterministic function of the model, its weights (or seed) and the stimuli; "
               "responses were not resampled, and no test of significance was applied"
               + (" beyond those named here." if len(out) else "."))
    return out


def _dedupe(sentences) -> list[str]:
    seen, out = set(), []
    for s in sentences:
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def methods_text(entries: list[MethodsEntry]) -> str:
    """One Methods section for ``entries``: Model, Stimuli and analyses, Statistics and Software paragraphs."""
    if not entries:
        raise UnitscopeError("No jobs to describe: the file holds no Unitscope job.")
    first = entries[0]
    model = _model_sentence(first.job, first.provenance)
    spec = first.job.get("model", {}).get("spec", "")
    if _model_key(spec):
        model = model.replace(" network", f" network ({_citation_text(_model_key(spec))})", 1)
    others = _dedupe(_model_sentence(e.job, e.provenance) for e in entries[1:])
    photographs = any(uses_photographs(e.job.get("job", {})) for e in entries)
    prov = next((e.provenance for e in entries if e.provenance.get("preprocessing")), first.provenance)
    model_part = _dedupe([model] + [o for o in others if o != _model_sentence(first.job, first.provenance)]
                         + [_preprocessing_sentence(prov) if photographs else "", _device_sentence(prov)])
    analyses = _dedupe(_analysis(e.job.get("job", {}), e.extra) for e in entries)
    for shared in (TUNING_DEFINITIONS, ORIENTATION_CONVENTION):  # definitions said once, where first needed
        holders = [i for i, a in enumerate(analyses) if shared in a]
        for i in holders[1:]:
            analyses[i] = analyses[i].replace(" " + shared, "").replace(shared, "")
    sw = _software(entries)
    software = (f"Analyses were run with Unitscope {sw['unitscope']} on PyTorch {sw['torch']} (Paszke et al., "
                f"2019) and torchvision {sw['torchvision']} (Marcel and Rodriguez, 2010), Python {sw['python']}; "
                "each analysis is saved as a job file that reproduces it ('unitscope run').")
    paragraphs = [("Model", model_part), ("Stimuli and analyses", analyses), ("Statistics", _statistics(entries)),
                  ("Software", [software])]
    return "\n\n".join(f"{name}. " + " ".join(s for s in body if s) for name, body in paragraphs if any(body))


def supplement_text(entries: list[MethodsEntry]) -> str:
    """The image sets' hashes (SHA-256 over the files' SHA-256 in order), for the supplement."""
    lines = []
    for entry in entries:
        job = entry.job.get("job", {})
        paths = list(job.get("paths") or [])
        digest = image_set_hash(paths)
        if digest:
            names = ", ".join(Path(str(p)).name for p in paths)
            lines.append(f"{job.get('kind')}: {len(paths)} images ({names}); image set SHA-256 {digest} "
                         "(over the files' SHA-256 in order)")
    return "\n".join(_dedupe(lines))


# --- citations ---------------------------------------------------------------------------------

BIB = {
    "araujo2019": ("Araujo et al., 2019", """@article{araujo2019,
  author = {Araujo, Andr{\\'e} and Norris, Wade and Sim, Jack},
  title = {Computing Receptive Fields of Convolutional Neural Networks},
  journal = {Distill},
  year = {2019},
  doi = {10.23915/distill.00021}
}"""),
    "kriegeskorte2008": ("Kriegeskorte et al., 2008", """@article{kriegeskorte2008,
  author = {Kriegeskorte, Nikolaus and Mur, Marieke and Bandettini, Peter},
  title = {Representational similarity analysis -- connecting the branches of systems neuroscience},
  journal = {Frontiers in Systems Neuroscience},
  volume = {2},
  pages = {4},
  year = {2008},
  doi = {10.3389/neuro.06.004.2008}
}"""),
    "kornblith2019": ("Kornblith et al., 2019", """@inproceedings{kornblith2019,
  author = {Kornblith, Simon and Norouzi, Mohammad and Lee, Honglak and Hinton, Geoffrey},
  title = {Similarity of Neural Network Representations Revisited},
  booktitle = {Proceedings of the 36th International Conference on Machine Learning},
  series = {PMLR},
  volume = {97},
  pages = {3519--3529},
  year = {2019}
}"""),
    "ringach2002": ("Ringach et al., 2002", """@article{ringach2002,
  author = {Ringach, Dario L. and Shapley, Robert M. and Hawken, Michael J.},
  title = {Orientation Selectivity in Macaque {V1}: Diversity and Laminar Dependence},
  journal = {Journal of Neuroscience},
  volume = {22},
  number = {13},
  pages = {5639--5651},
  year = {2002},
  doi = {10.1523/JNEUROSCI.22-13-05639.2002}
}"""),
    "treves1991": ("Treves and Rolls, 1991", """@article{treves1991,
  author = {Treves, Alessandro and Rolls, Edmund T.},
  title = {What determines the capacity of autoassociative memories in the brain?},
  journal = {Network: Computation in Neural Systems},
  volume = {2},
  number = {4},
  pages = {371--397},
  year = {1991},
  doi = {10.1088/0954-898X_2_4_004}
}"""),
    "zeiler2014": ("Zeiler and Fergus, 2014", """@inproceedings{zeiler2014,
  author = {Zeiler, Matthew D. and Fergus, Rob},
  title = {Visualizing and Understanding Convolutional Networks},
  booktitle = {Computer Vision -- ECCV 2014},
  pages = {818--833},
  year = {2014},
  doi = {10.1007/978-3-319-10590-1_53}
}"""),
    "simonyan2014": ("Simonyan et al., 2014", """@inproceedings{simonyan2014,
  author = {Simonyan, Karen and Vedaldi, Andrea and Zisserman, Andrew},
  title = {Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps},
  booktitle = {International Conference on Learning Representations (ICLR), Workshop Track},
  year = {2014},
  eprint = {1312.6034},
  archivePrefix = {arXiv}
}"""),
    "welch1947": ("Welch, 1947", """@article{welch1947,
  author = {Welch, Bernard L.},
  title = {The generalization of `{Student's}' problem when several different population variances are involved},
  journal = {Biometrika},
  volume = {34},
  number = {1--2},
  pages = {28--35},
  year = {1947},
  doi = {10.1093/biomet/34.1-2.28}
}"""),
    "benjamini1995": ("Benjamini and Hochberg, 1995", """@article{benjamini1995,
  author = {Benjamini, Yoav and Hochberg, Yosef},
  title = {Controlling the False Discovery Rate: A Practical and Powerful Approach to Multiple Testing},
  journal = {Journal of the Royal Statistical Society: Series B (Methodological)},
  volume = {57},
  number = {1},
  pages = {289--300},
  year = {1995},
  doi = {10.1111/j.2517-6161.1995.tb02031.x}
}"""),
    "jones1987": ("Jones and Palmer, 1987", """@article{jones1987,
  author = {Jones, Judson P. and Palmer, Larry A.},
  title = {The two-dimensional spatial structure of simple receptive fields in cat striate cortex},
  journal = {Journal of Neurophysiology},
  volume = {58},
  number = {6},
  pages = {1187--1211},
  year = {1987},
  doi = {10.1152/jn.1987.58.6.1187}
}"""),
    "paszke2019": ("Paszke et al., 2019", """@inproceedings{paszke2019,
  author = {Paszke, Adam and Gross, Sam and Massa, Francisco and Lerer, Adam and Bradbury, James and
            Chanan, Gregory and Killeen, Trevor and Lin, Zeming and Gimelshein, Natalia and Antiga, Luca and
            Desmaison, Alban and K{\\"o}pf, Andreas and Yang, Edward and DeVito, Zachary and Raison, Martin and
            Tejani, Alykhan and Chilamkurthy, Sasank and Steiner, Benoit and Fang, Lu and Bai, Junjie and
            Chintala, Soumith},
  title = {{PyTorch}: An Imperative Style, High-Performance Deep Learning Library},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS 2019)},
  pages = {8024--8035},
  year = {2019}
}"""),
    "yamins2014": ("Yamins et al., 2014", """@article{yamins2014,
  author = {Yamins, Daniel L. K. and Hong, Ha and Cadieu, Charles F. and Solomon, Ethan A. and Seibert, Darren and
            DiCarlo, James J.},
  title = {Performance-optimized hierarchical models predict neural responses in higher visual cortex},
  journal = {Proceedings of the National Academy of Sciences},
  volume = {111},
  number = {23},
  pages = {8619--8624},
  year = {2014},
  doi = {10.1073/pnas.1403112111}
}"""),
    "schrimpf2018": ("Schrimpf et al., 2018", """@article{schrimpf2018,
  author = {Schrimpf, Martin and Kubilius, Jonas and Hong, Ha and Majaj, Najib J. and Rajalingham, Rishi and
            Issa, Elias B. and Kar, Kohitij and Bashivan, Pouya and Prescott-Roy, Jonathan and Geiger, Franziska and
            Schmidt, Kailyn and Yamins, Daniel L. K. and DiCarlo, James J.},
  title = {Brain-Score: Which Artificial Neural Network for Object Recognition is most Brain-Like?},
  journal = {bioRxiv},
  pages = {407007},
  year = {2018},
  doi = {10.1101/407007}
}"""),
    "marques2021": ("Marques et al., 2021", """@article{marques2021,
  author = {Marques, Tiago and Schrimpf, Martin and DiCarlo, James J.},
  title = {Multi-scale hierarchical neural network models that bridge from single neurons in the primate
           primary visual cortex to object recognition behavior},
  journal = {bioRxiv},
  year = {2021},
  doi = {10.1101/2021.03.01.433495}
}"""),
    "devalois1982": ("De Valois et al., 1982", """@article{devalois1982,
  author = {De Valois, Russell L. and Albrecht, Duane G. and Thorell, Lisa G.},
  title = {Spatial frequency selectivity of cells in macaque visual cortex},
  journal = {Vision Research},
  volume = {22},
  number = {5},
  pages = {545--559},
  year = {1982},
  doi = {10.1016/0042-6989(82)90113-4}
}"""),
    "cavanaugh2002": ("Cavanaugh et al., 2002", """@article{cavanaugh2002,
  author = {Cavanaugh, James R. and Bair, Wyeth and Movshon, J. Anthony},
  title = {Nature and interaction of signals from the receptive field center and surround in macaque {V1}
           neurons},
  journal = {Journal of Neurophysiology},
  volume = {88},
  number = {5},
  pages = {2530--2546},
  year = {2002},
  doi = {10.1152/jn.00692.2001}
}"""),
    "olah2017": ("Olah et al., 2017", """@article{olah2017,
  author = {Olah, Chris and Mordvintsev, Alexander and Schubert, Ludwig},
  title = {Feature Visualization},
  journal = {Distill},
  volume = {2},
  number = {11},
  pages = {e7},
  year = {2017},
  doi = {10.23915/distill.00007}
}"""),
    "springenberg2015": ("Springenberg et al., 2015", """@inproceedings{springenberg2015,
  author = {Springenberg, Jost Tobias and Dosovitskiy, Alexey and Brox, Thomas and Riedmiller, Martin},
  title = {Striving for Simplicity: The All Convolutional Net},
  booktitle = {International Conference on Learning Representations (ICLR), Workshop Track},
  year = {2015},
  eprint = {1412.6806},
  archivePrefix = {arXiv}
}"""),
    "shrikumar2016": ("Shrikumar et al., 2016", """@article{shrikumar2016,
  author = {Shrikumar, Avanti and Greenside, Peyton and Shcherbina, Anna and Kundaje, Anshul},
  title = {Not Just a Black Box: Learning Important Features Through Propagating Activation Differences},
  journal = {arXiv preprint},
  year = {2016},
  eprint = {1605.01713},
  archivePrefix = {arXiv}
}"""),
    "vinje2000": ("Vinje and Gallant, 2000", """@article{vinje2000,
  author = {Vinje, William E. and Gallant, Jack L.},
  title = {Sparse coding and decorrelation in primary visual cortex during natural vision},
  journal = {Science},
  volume = {287},
  number = {5456},
  pages = {1273--1276},
  year = {2000},
  doi = {10.1126/science.287.5456.1273}
}"""),
    "marcel2010": ("Marcel and Rodriguez, 2010", """@inproceedings{marcel2010,
  author = {Marcel, S{\\'e}bastien and Rodriguez, Yann},
  title = {Torchvision the machine-vision package of torch},
  booktitle = {Proceedings of the 18th ACM International Conference on Multimedia},
  pages = {1485--1488},
  year = {2010},
  doi = {10.1145/1873951.1874254}
}"""),
    "he2016": ("He et al., 2016", """@inproceedings{he2016,
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title = {Deep Residual Learning for Image Recognition},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {770--778},
  year = {2016},
  doi = {10.1109/CVPR.2016.90}
}"""),
    "krizhevsky2012": ("Krizhevsky et al., 2012", """@inproceedings{krizhevsky2012,
  author = {Krizhevsky, Alex and Sutskever, Ilya and Hinton, Geoffrey E.},
  title = {{ImageNet} Classification with Deep Convolutional Neural Networks},
  booktitle = {Advances in Neural Information Processing Systems 25},
  pages = {1097--1105},
  year = {2012}
}"""),
    "simonyan2015": ("Simonyan and Zisserman, 2015", """@inproceedings{simonyan2015,
  author = {Simonyan, Karen and Zisserman, Andrew},
  title = {Very Deep Convolutional Networks for Large-Scale Image Recognition},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2015},
  eprint = {1409.1556},
  archivePrefix = {arXiv}
}"""),
    "huang2017": ("Huang et al., 2017", """@inproceedings{huang2017,
  author = {Huang, Gao and Liu, Zhuang and van der Maaten, Laurens and Weinberger, Kilian Q.},
  title = {Densely Connected Convolutional Networks},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {4700--4708},
  year = {2017},
  doi = {10.1109/CVPR.2017.243}
}"""),
    "szegedy2015": ("Szegedy et al., 2015", """@inproceedings{szegedy2015,
  author = {Szegedy, Christian and Liu, Wei and Jia, Yangqing and Sermanet, Pierre and Reed, Scott and
            Anguelov, Dragomir and Erhan, Dumitru and Vanhoucke, Vincent and Rabinovich, Andrew},
  title = {Going Deeper with Convolutions},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {1--9},
  year = {2015},
  doi = {10.1109/CVPR.2015.7298594}
}"""),
    "dosovitskiy2021": ("Dosovitskiy et al., 2021", """@inproceedings{dosovitskiy2021,
  author = {Dosovitskiy, Alexey and Beyer, Lucas and Kolesnikov, Alexander and Weissenborn, Dirk and
            Zhai, Xiaohua and Unterthiner, Thomas and Dehghani, Mostafa and Minderer, Matthias and
            Heigold, Georg and Gelly, Sylvain and Uszkoreit, Jakob and Houlsby, Neil},
  title = {An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2021}
}"""),
    "liu2022": ("Liu et al., 2022", """@inproceedings{liu2022,
  author = {Liu, Zhuang and Mao, Hanzi and Wu, Chao-Yuan and Feichtenhofer, Christoph and Darrell, Trevor and
            Xie, Saining},
  title = {A {ConvNet} for the 2020s},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {11976--11986},
  year = {2022}
}"""),
}

#: torchvision model families and the paper of each.
MODEL_PAPERS = (("resnet", "he2016"), ("wide_resnet", "he2016"), ("resnext", "he2016"), ("alexnet", "krizhevsky2012"),
                ("vgg", "simonyan2015"), ("densenet", "huang2017"), ("googlenet", "szegedy2015"),
                ("vit_", "dosovitskiy2021"), ("convnext", "liu2022"))


def _model_key(spec: str) -> str | None:
    name = spec.lower()
    return next((key for prefix, key in MODEL_PAPERS if name.startswith(prefix)), None)


def _citation_text(key: str) -> str:
    return BIB[key][0]


def citation_keys(text: str) -> list[str]:
    """The keys of :data:`BIB` whose in-text citation appears in ``text``, in order of appearance."""
    found = [(text.find(cite), key) for key, (cite, _) in BIB.items() if cite in text]
    return [key for _, key in sorted(found)]


def bibtex(text: str) -> str:
    """The BibTeX entries of the papers ``text`` cites."""
    return "\n\n".join(BIB[key][1] for key in citation_keys(text)) + "\n"
