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

                    job_file, _result, prov = read_result(path)
                    return [MethodsEntry(job_file.to_dict(), prov)]
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
        return f"Inputs were preprocessed as {text}."
    return "Images were " + ", ".join(parts) + " (the model's own preprocessing)."


def _device_sentence(prov: dict) -> str:
    if not prov.get("device"):
        return ""
    layout = prov.get("memory_format", "contiguous")
    return (f"The forward passes ran on {prov['device']} in float32 ({layout} memory layout), with forward "
            "hooks reading the layers' outputs.")


def _list(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _params_text(params) -> str:
    out = []
    for name, values in params:
        values = list(values)
        if len(values) > 3:
            step = values[1] - values[0]
            out.append(f"{name} from {values[0]:g} to {values[-1]:g} in {len(values)} steps of {step:g}")
        else:
            out.append(f"{name} {', '.join(f'{v:g}' for v in values)}")
    return "; ".join(out)


TUNING_DEFINITIONS = (
    "F0 is the mean response over the phases of a condition and F1 the amplitude of its first harmonic "
    "over phase (2|\u03a3 r_k e^{-i\u03c6_k}|/n). Responses were rectified at 0 for the orientation metrics: "
    "the preferred orientation is the sampled peak refined by a parabola through its neighbours; the "
    "orientation selectivity index is OSI = (R_pref \u2212 R_orth)/(R_pref + R_orth); circular variance is "
    "1 \u2212 |\u03a3 r e^{2i\u03b8}|/\u03a3 r (Ringach et al., 2002); bandwidth is the half width of the peak at "
    "1/\u221a2 of its height (Ringach et al., 2002).")


def image_set_hash(paths) -> str | None:
    """SHA-256 over the SHA-256 of every file in order (None when a file is missing): names one
    image set exactly, whatever the files are called."""
    import hashlib

    from engine.files.hashing import sha256_of

    files = [Path(p) for p in paths or []]
    if not files or not all(f.is_file() for f in files):
        return None
    return hashlib.sha256("".join(sha256_of(f) for f in files).encode()).hexdigest()


def _images(job: dict, extra: dict) -> str:
    n_paths = len(job.get("paths") or []) or extra.get("n_images", 0)
    images = f"{n_paths} image{'' if n_paths == 1 else 's'}" if n_paths else "the images"
    digest = image_set_hash(job.get("paths"))
    if digest:
        images += f" (image set SHA-256 {digest[:12]}\u2026, over the files' SHA-256 in order)"
    return images


def record_methods(job: dict, extra: dict) -> str:
    """Recording a layer for one stimulus (``record``) or a set of images (``record_images``)."""
    layers = job.get("layers") or [job.get("layer", "")]
    if "stimulus" in job:
        stim = Path(str(job.get("stimulus", {}).get("value", ""))).name
    else:
        stim = _images(job, extra)
    return f"We recorded the output of layer(s) {_list(layers)} for {stim}."


def _unit_text(job: dict) -> str:
    unit = f"channel {job['channel']} of layer {job['layer']}"
    return unit + (f" at position ({job['y']}, {job['x']})" if job.get("y") is not None
                   else " at the centre of the feature map")


def _tuning_text(job: dict, what: str) -> str:
    return (f"We measured the tuning of {_unit_text(job)} to {what}, with {job.get('phases', 8)} phases per "
            "condition; stimuli were centred on the unit's theoretical receptive field (Araujo et al., 2019). "
            + TUNING_DEFINITIONS)


def tuning_methods(job: dict, extra: dict) -> str:
    """An orientation or spatial-frequency sweep of one unit."""
    swept = (f"{job.get('orientations')} orientations from 0 to 180\u00b0" if job.get("param") == "orientation"
             else f"spatial frequencies {', '.join(f'{v:g}' for v in job.get('sf', []))} cycles per RF")
    return _tuning_text(job, f"{job.get('stimulus', 'gratings')} at {swept}")


def protocol_methods(job: dict, extra: dict) -> str:
    """One unit's responses to a parametric protocol."""
    return _tuning_text(job, f"a {job.get('protocol', 'gratings')} protocol "
                             f"({_params_text(job.get('params', [])) or 'defaults'})")


def _rdm_text(job: dict, extra: dict) -> str:
    view = {"flat": "all units of the layer", "channels": "the spatial mean of each channel",
            "centre": "every channel at the centre of the map"}.get(job.get("view", "flat"), job.get("view"))
    stim = "a set of gratings" if job.get("stimuli") == "gratings" else _images(job, extra)
    return (f"Population vectors of layer {job['layer']} ({view}) over {stim} gave a representational "
            "dissimilarity matrix (RDM) of 1 \u2212 Pearson r between stimuli (Kriegeskorte et al., 2008)")


def rdm_methods(job: dict, extra: dict) -> str:
    """The RDM of a layer over a set of stimuli."""
    return _rdm_text(job, extra) + "."


def population_methods(job: dict, extra: dict) -> str:
    """The RDM of a layer with its dimensionality and sparseness."""
    return (_rdm_text(job, extra) + "; the participation ratio (\u03a3\u03bb)\u00b2/\u03a3\u03bb\u00b2 of the "
            "covariance eigenvalues measured dimensionality, and Treves\u2013Rolls sparseness (Treves and Rolls, "
            "1991) of responses rectified at 0, per unit over stimuli (lifetime) and per stimulus over units "
            "(population), measured sparseness.")


def comparison_methods(job: dict, extra: dict) -> str:
    """Two layers' RDMs compared by RSA and linear CKA."""
    text = _rdm_text(job, extra)
    return (text.replace(f"layer {job['layer']}", f"layers {job['layer']} and {job['layer_b']}") +
            ". The layers were compared by RSA, the Spearman correlation of the two RDMs' upper "
            "triangles (Kriegeskorte et al., 2008), and by linear centred kernel alignment, "
            "CKA = \u2016X_c\u1d40Y_c\u2016\u00b2_F/(\u2016X_c\u1d40X_c\u2016_F \u2016Y_c\u1d40Y_c\u2016_F) "
            "(Kornblith et al., 2019).")


def topk_methods(job: dict, extra: dict) -> str:
    """Images ranked by a unit's response."""
    channels = job.get("channels") or ([job["channel"]] if "channel" in job else [])
    which = f"channel(s) {_list(channels)}" if channels else "every channel"
    return (f"We ranked {_images(job, extra)} by the response of {which} of layer {job['layer']} at the centre "
            f"of the map and kept the {job.get('k', 9)} highest and lowest (Zeiler and Fergus, 2014), shown as "
            "crops of the unit's theoretical receptive field (Araujo et al., 2019).")


def receptive_field_methods(job: dict, extra: dict) -> str:
    """A unit's receptive field mapped three ways."""
    return (f"The receptive field of channel {job['channel']} of layer {job['layer']} was mapped three ways: "
            "the theoretical receptive field from the network's anatomy (Araujo et al., 2019); the mean "
            f"absolute input gradient over {len(job.get('stimuli', []))} inputs (Simonyan et al., 2014), "
            f"bounded where it exceeded {job.get('rel_threshold', 0.01):g} of its peak; and reverse correlation "
            f"with {job.get('noise_frames')} frames of sparse noise ({job.get('grid')} \u00d7 {job.get('grid')} "
            f"cells, {job.get('n_on')} lit per frame, seed {job.get('seed')}) (Jones and Palmer, 1987).")


def probe_methods(job: dict, extra: dict) -> str:
    """Pinned units' responses to a stimulus sequence."""
    units = [f"{u.get('layer')}[{u.get('channel')}]" for u in job.get("units", [])]
    seq = (f"full-field gratings at {job.get('orientations')} orientations" if job.get("sequence") == "orientations"
           else f"{len(job.get('stimuli', []))} stimuli")
    return f"We recorded the responses of units {_list(units)} to {seq}."


def visualize_methods(job: dict, extra: dict) -> str:
    """Feature visualisation by gradient ascent."""
    target = (f"channel {job.get('channel')} of layer {job.get('layer')}"
              + (f" at position ({job['y']}, {job['x']})" if job.get("y") is not None else " (its mean over the map)"))
    text = (f"We visualised {target} by gradient ascent on an image parameterised in a decorrelated Fourier "
            f"basis under random shifts, scales and rotations (Olah et al., 2017), {job.get('steps', 256)} steps "
            f"of Adam with learning rate {job.get('lr', 0.05):g}, seed {job.get('seed', 0)}")
    if job.get("images", 1) > 1:
        text += f"; {job['images']} images were made together with a diversity weight of {job.get('diversity', 0):g}"
    return text + "."


def evidence_methods(job: dict, extra: dict) -> str:
    """Gradient, gradient x input and guided backpropagation of a unit on an input."""
    return (f"The evidence for channel {job.get('channel')} of layer {job.get('layer')} on the input was shown as "
            "the input gradient of its response (Simonyan et al., 2014), the gradient times the input, and "
            "guided backpropagation (Springenberg et al., 2015).")


def properties_methods(job: dict, extra: dict) -> str:
    """The V1 property battery over a layer's units."""
    units = job.get("units")
    which = f"{units} units" if units else "every unit"
    return (f"We measured {which} of layer {job.get('layer')} at the centre of the map with a V1 property battery "
            f"(Marques et al., 2021): orientation tuning over {job.get('orientations', 12)} orientations with "
            f"{job.get('phases', 8)} phases (preferred orientation, circular variance, bandwidth and "
            "orthogonal-to-preferred ratio; Ringach et al., 2002), spatial-frequency tuning (peak and bandwidth; "
            "De Valois et al., 1982), surround suppression from a size sweep (Cavanaugh et al., 2002) and the "
            "modulation ratio F1/F0 (De Valois et al., 1982).")


def summaries_methods(job: dict, extra: dict) -> str:
    """A sharded job's streaming summaries."""
    layers = job.get("layers") or []
    summaries = job.get("summaries") or []
    return (f"Responses of layer(s) {_list(layers)} were summarised over {_images(job, extra)} in shards "
            f"({_list(summaries)}), merged exactly across shards.")


def _analysis(job: dict, extra: dict) -> str:
    """The Methods sentences of ``job``, from the analysis that runs it (:mod:`engine.session.analysis`)."""
    from engine.session.analysis import analysis_of_job
    from engine.session.job import job_class

    kind = job.get("kind", "")
    try:
        analysis = analysis_of_job(job_class(kind))
    except UnitscopeError:
        analysis = None
    text = analysis.methods_text() if analysis is not None else None
    if text is None:
        why = analysis.no_methods if analysis is not None else "it is not a known analysis"
        return f"A {kind} job was run ({why})."
    return text(job, extra)


def methods_text(entries: list[MethodsEntry]) -> str:
    """The Methods paragraph for ``entries`` (see the module docstring)."""
    if not entries:
        raise UnitscopeError("No jobs to describe: the file holds no Unitscope job.")
    first = entries[0]
    model = _model_sentence(first.job, first.provenance)
    spec = first.job.get("model", {}).get("spec", "")
    if _model_key(spec):
        model = model.replace(" network", f" network ({_citation_text(_model_key(spec))})", 1)
    sentences = [model, _preprocessing_sentence(first.provenance), _device_sentence(first.provenance)]
    for entry in entries:
        sentences.append(_analysis(entry.job.get("job", {}), entry.extra))
    sw = _software(entries)
    sentences.append(f"Analyses were run with Unitscope {sw['unitscope']} on PyTorch {sw['torch']} (Paszke et al., "
                     f"2019) and torchvision {sw['torchvision']} (Marcel and Rodriguez, 2010), Python {sw['python']}; "
                     "each analysis is saved as a job file that reproduces it ('unitscope run').")
    return " ".join(s for s in sentences if s)


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
  booktitle = {ICLR Workshop},
  year = {2014},
  eprint = {1312.6034},
  archivePrefix = {arXiv}
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
  author = {Paszke, Adam and others},
  title = {{PyTorch}: An Imperative Style, High-Performance Deep Learning Library},
  booktitle = {Advances in Neural Information Processing Systems 32},
  pages = {8024--8035},
  year = {2019}
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
  author = {Dosovitskiy, Alexey and others},
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
  title = {Multi-scale hierarchical neural network models that bridge from single neurons in the primate primary
           visual cortex to object recognition behavior},
  journal = {bioRxiv},
  pages = {2021.03.01.433495},
  year = {2021},
  doi = {10.1101/2021.03.01.433495}
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
