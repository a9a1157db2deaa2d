"""The figure data in a file the command line or ``unitscope run`` wrote.

- activations (``record``: ``.npy`` ``.npz`` ``.h5`` ``.mat`` with provenance): a mosaic of
  one layer for one image;
- an RDM (``rdm``: ``.npy`` with its ``.npy.json``): the RDM with image names;
- a tuning table (``tuning``: ``.csv`` with its ``.csv.json``): the tuning curve;
- a top-k folder (``topk``: ``topk.json``, ``topk.csv``, ``crops/``): the crops and responses;
- a job's result (``unitscope run``: ``.npz`` or ``.json`` with the job embedded): the figure of
  the job's view;
- a feature visualisation (``visualize``: ``.npy`` with its ``.npy.json``, or ``.png`` with its
  ``.png.json``): the image(s) with the objective and optimisation;
- a property table (``properties``: ``.csv`` with its ``.csv.json``): one distribution per
  property, a reference's overlaid;
- a unit card (:func:`unit_card_data`): a visualisation, an evidence result, a tuning table
  and a top-k folder of one unit, drawn together.

This module reads the files itself (NumPy, h5py, SciPy, Pillow) so that drawing a
figure never loads torch.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.session.analysis import analyses, analysis_of_job, analysis_of_snapshot

ACTIVATION_SUFFIXES = (".npy", ".npz", ".h5", ".mat")
_PROVENANCE = "__provenance__"


def _json(text) -> dict:
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else text
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Layer name -> array and the provenance of an activations file
    (the layout :func:`engine.files.writers.write_activations` writes); only real numbers."""
    arrays, provenance = _read_arrays(path)
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind not in "biuf":
            raise UnitscopeError(f"'{path.name}': '{name}' holds {np.asarray(array).dtype} values, not real "
                                 "numbers; no figure is drawn from it.")
    return arrays, provenance


def _read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            sidecar = path.with_name(path.name + ".json")
            meta = _json(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
            return {meta.get("layer_name", path.stem): np.load(path, allow_pickle=False)}, meta.get("provenance", {})
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            prov = arrays.pop(_PROVENANCE, None)
            return arrays, _json(str(prov)) if prov is not None else {}
        if suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                arrays = {}

                def keep(key, ds):  # datasets in groups too: an export names them LAYER/mean ...
                    if isinstance(ds, h5py.Dataset):
                        arrays[str(ds.attrs.get("layer_name", key))] = ds[()]

                f.visititems(keep)
                prov = f.attrs.get(_PROVENANCE)
            return arrays, _json(prov) if prov is not None else {}
        import scipy.io

        mat = scipy.io.loadmat(path)
        mapping = mat.get("layer_names")
        names = {}
        if mapping is not None:
            for new, old in mapping.reshape(-1, 2):
                names[str(np.asarray(new).item())] = str(np.asarray(old).item())
        arrays = {names.get(k, k): v for k, v in mat.items()
                  if not k.startswith("__") and k not in ("provenance", "provenance_json", "layer_names")}
        prov = mat.get("provenance_json")
        return arrays, _json(str(np.asarray(prov).item())) if prov is not None else {}
    except UnitscopeError:
        raise
    except Exception as exc:  # NumPy, h5py, SciPy each raise their own
        raise UnitscopeError(f"Could not read '{path.name}': {exc}.") from None


def _jobs_of(provenance: dict) -> list[dict]:
    job = provenance.get("job")
    job = _json(job) if isinstance(job, str) else job
    return [job] if isinstance(job, dict) and job else []


def _names(paths) -> list[str]:
    return [Path(str(p)).name for p in paths or []]


def visualization_data(images: np.ndarray, record: dict, provenance: dict) -> FigureData:
    """A visualisation figure from the images and the record ``unitscope visualize`` wrote."""
    params = record.get("parameters") or {}
    job = record.get("job")
    meta = {"objective": record.get("objective", ""), "activation": record.get("activation"),
            "best_input": record.get("best_input"), "best_input_activation": record.get("best_input_activation"),
            **{k: params.get(k) for k in ("layer", "channel", "y", "x", "steps", "lr", "seed", "size", "diversity")}}
    return FigureData("visualization", {"images": np.asarray(images)}, meta,
                      [job] if isinstance(job, dict) else [], provenance)


def from_visualization_png(path: Path) -> FigureData:
    """The visualisation of a ``.png`` that ``unitscope visualize`` wrote (its record in ``.png.json``
    or in the PNG's ``unitscope`` text chunk)."""
    from PIL import Image

    sidecar = path.with_name(path.name + ".json")
    try:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
            chunk = im.info.get("unitscope") if hasattr(im, "info") else None
        record = _json(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else _json(chunk or "")
    except OSError as exc:
        raise UnitscopeError(f"Could not read '{path.name}': {exc.strerror or exc}.") from None
    if record.get("command") != "visualize":
        raise UnitscopeError(f"'{path.name}' is not a 'unitscope visualize' image (no record of one in "
                             f"{sidecar.name} or the PNG).")
    return visualization_data(pixels[None], record, record.get("provenance", {}))


def from_properties_csv(path: Path, reference: str | Path | None = None) -> FigureData:
    """The property figure of a ``unitscope properties`` table; ``reference`` (a CSV, one column per
    property) is overlaid, else the reference the command was given, when it still exists."""
    from engine.analyses.neuron_tuning import is_responses_file
    from engine.analyses.properties import PROPERTIES, read_reference, similarity_to_reference

    rows, record = _csv_with_sidecar(path)
    header, body = rows[0], rows[1:]
    columns = {name: i for i, name in enumerate(header)}

    def number(text: str) -> float:
        try:
            return float(text) if text.strip() else float("nan")
        except ValueError:
            return float("nan")

    arrays = {f"model.{name}": np.array([number(r[columns[name]]) for r in body if len(r) == len(header)])
              for name in PROPERTIES if name in columns}
    measured = record.get("reference") or {}  # the neurons' properties, measured by the command
    if reference is None and measured.get("kind") != "responses":
        given = (record.get("parameters") or {}).get("reference")
        reference = given if given and Path(given).is_file() else None
    meta = {"layer": (record.get("parameters") or {}).get("layer") or (body[0][0] if body else ""),
            "n_units": len(body)}
    if reference is not None and is_responses_file(reference):
        raise UnitscopeError(f"'{Path(reference).name}' holds responses: its neurons' properties are measured by "
                             f"'unitscope properties --reference {Path(reference).name}', whose table this figure "
                             "draws with them (leave --reference out).")
    ref = None
    if reference is not None:
        ref = read_reference(reference)
    elif measured.get("kind") == "responses":
        ref = {name: np.asarray(values, dtype=float) for name, values in (measured.get("properties") or {}).items()}
        reference = f"{measured.get('file', 'responses')}: {measured.get('n_neurons', '?')} neurons"
        meta["reference_note"] = measured_note(measured)
    if ref is not None:
        arrays.update({f"reference.{name}": values for name, values in ref.items() if f"model.{name}" in arrays})
        full = [[0, 0, 0, 0] + [number(r[columns[n]]) if n in columns else float("nan") for n in PROPERTIES]
                for r in body if len(r) == len(header)]
        scores = similarity_to_reference(full, {k: v for k, v in ref.items() if f"model.{k}" in arrays})
        meta.update(reference=Path(reference).name, mean_similarity=scores["mean"],
                    similarity={k: v["similarity"] for k, v in scores["properties"].items()})
    job = record.get("job")
    return FigureData("properties", arrays, meta, [job] if isinstance(job, dict) else [],
                      record.get("provenance", {}))


def measured_note(measured: dict) -> str:
    """What a caption says of a reference measured from a lab's grating responses."""
    text = (f"The reference's properties were measured from the neurons' responses to {measured.get('n_gratings')} "
            "gratings named by their labels, by the same definitions as the units'")
    if measured.get("rf_side"):
        text += (f"; their spatial frequencies, in cycles per image, are given per receptive field of the layer "
                 f"(\u00d7 {measured['rf_side']:g} / {measured.get('image_side')} pixels)")
    missing = measured.get("not_computed") or {}
    if missing:
        text += ". Not measurable from those gratings: " + "; ".join(f"{k.replace('_', ' ')} ({v})"
                                                                     for k, v in missing.items())
    return text + "."


def unit_card_data(paths, channel: int | None = None) -> FigureData:
    """A unit card from one unit's outputs: a visualisation (``visualize`` .npy or .png), an evidence result
    (``unitscope run`` of an evidence job), a tuning table (``tuning`` .csv) and a top-k folder."""
    parts: dict[str, FigureData] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise UnitscopeError(f"'{path}' does not exist.")
        if path.is_dir() or path.name in ("topk.json", "topk.csv"):
            parts["topk"] = from_topk_folder(path, channel)
        elif path.suffix.lower() == ".npz" and _result_kind(path) == "evidence":
            parts["evidence"] = _evidence_of(path)
        else:
            data = figure_data(path)
            parts[data.kind] = data
    needed = {"visualization": "a visualisation (unitscope visualize)", "evidence": "an evidence result "
              "(unitscope run of an evidence job)", "tuning": "a tuning table (unitscope tuning)",
              "topk": "a top-k folder (unitscope topk)"}
    missing = [why for kind, why in needed.items() if kind not in parts]
    if missing:
        raise UnitscopeError("A unit card needs " + ", ".join(missing) + ".")
    vis, ev, tuning, top = (parts[k] for k in needed)
    image = ev.array("input_image").astype(np.float64)
    image = image / 255.0 if image.max() > 1.0 else image
    crops = [ar for name, ar in sorted(top.arrays.items(), key=lambda kv: kv[0]) if name.startswith("top_crop.")]
    side = max(max(c.shape[0] for c in crops), 64)
    crops = [np.repeat(np.repeat(c, -(-side // c.shape[0]), 0), -(-side // c.shape[1]), 1)[:side, :side]
             for c in crops]
    arrays = {"visualisation": vis.array("images")[0], "input_image": image, "evidence": ev.array("evidence"),
              "rf": ev.array("rf"), "tuning_x": tuning.array("x"), "tuning_f0": tuning.array("f0"),
              "tuning_f1": tuning.array("f1"), "top_images": np.stack(crops)}
    metrics = (tuning.meta.get("metrics") or {}).get("f0") or {}
    metric = (f"preferred θ {metrics['preferred_deg']:.0f}°, OSI {metrics['osi']:.2f}"
              if metrics.get("preferred_deg") is not None else "")
    from engine.figures.tuning import AXIS_LABELS

    meta = {"layer": vis.meta.get("layer") or tuning.meta.get("layer", ""), "channel": vis.meta.get("channel"),
            "position": ev.meta.get("position"), "rf_box": ev.meta.get("rf_box"),
            "tuning_label": AXIS_LABELS.get(tuning.meta.get("param", "orientation"), tuning.meta.get("param")),
            "tuning_metric": metric, "activation": (vis.meta.get("activation") or [None])[0],
            "top_values": [float(v) for v in top.array("top_values")], "parts": {k: v.meta for k, v in parts.items()}}
    jobs = [j for part in parts.values() for j in part.jobs]
    return FigureData("unit_card", arrays, meta, jobs, vis.provenance or ev.provenance)


def _result_kind(path: Path) -> str:
    from engine.session.results import read_result

    with np.load(path, allow_pickle=False) as npz:
        if "__job__" not in npz.files:
            return ""
    return read_result(path)[0].job.kind


def _evidence_of(path: Path) -> FigureData:
    from engine.session.results import read_result

    job_file, result, prov = read_result(path)
    maps = result["maps"]
    y, x = job_file.job.y, job_file.job.x
    return FigureData("evidence", {"input_image": np.asarray(result["input_image"]),
                                   "evidence": np.asarray(maps["gradient_x_input"], float).sum(axis=-1),
                                   "rf": np.abs(np.asarray(maps["gradient"], float)).sum(axis=-1)},
                      {"rf_box": result.get("rf_box"), "position": [y, x] if y is not None else None,
                       "activation": result.get("activation")}, [job_file.to_dict()], prov)


def _csv_with_sidecar(path: Path) -> tuple[list[list[str]], dict]:
    """The rows of a CSV a command wrote, and its ``.csv.json`` sidecar ({} when there is none)."""
    sidecar = path.with_name(path.name + ".json")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        record = _json(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    except OSError as exc:
        raise UnitscopeError(f"Could not read '{path.name}': {exc.strerror or exc}.") from None
    return rows, record


def from_activations(path: Path, layer: str | None = None, image: int = 0) -> FigureData:
    arrays, prov = read_arrays(path)
    if prov.get("command") == "visualize":
        return visualization_data(next(iter(arrays.values())), prov, prov)
    if prov.get("command") == "rdm":
        return FigureData("rdm", {"rdm": np.asarray(next(iter(arrays.values())), dtype=np.float64)},
                          {"layer": prov.get("layer", ""), "labels": _names(prov.get("image_paths")),
                           "measure": prov.get("measure", "1 \u2212 Pearson r"), "view": prov.get("view", "")},
                          _jobs_of(prov), prov)
    if layer is None:
        layer = next(iter(arrays))
    if layer not in arrays:
        raise UnitscopeError(f"'{path.name}' holds no layer '{layer}' (it holds {', '.join(arrays)}).")
    values = np.asarray(arrays[layer])
    paths = prov.get("image_paths") or []
    if values.ndim == 4 or (paths and values.ndim >= 2 and values.shape[0] == len(paths)):
        if not 0 <= image < values.shape[0]:
            raise UnitscopeError(f"Image {image} is not in '{path.name}' (it holds {values.shape[0]}: 0.."
                                 f"{values.shape[0] - 1}).")
        values = values[image]
    stimulus = _names(paths)[image] if image < len(paths) else ""
    return FigureData("mosaic", {"values": values.astype(np.float32)},
                      {"layer": layer, "stimulus": stimulus}, _jobs_of(prov), prov)


def from_tuning_csv(path: Path) -> FigureData:
    rows, record = _csv_with_sidecar(path)
    if len(rows) < 2:
        raise UnitscopeError(f"'{path.name}' holds no tuning table (a header and one row per condition).")
    header, table = rows[0], np.array([[float(v) for v in row] for row in rows[1:]])
    return tuning_from_table(header, table, record, record.get("provenance", {}),
                             [record["job"]] if "job" in record else [])


def tuning_from_table(header, table, record: dict, provenance: dict, jobs: list) -> FigureData:
    """A tuning figure from the protocol table (one row per condition: parameters, f0, f1, max, min, n)."""
    table = np.asarray(table, dtype=np.float64)
    columns = {name: table[:, i] for i, name in enumerate(header)}
    missing = [c for c in ("f0", "f1") if c not in columns]
    if missing:
        raise UnitscopeError(f"The tuning table has no {', '.join(missing)} column.")
    swept = [name for name in header[:header.index("f0")]
             if name != "sf_rf" and len(np.unique(columns[name])) > 1]
    param = swept[0] if swept else header[0]
    order = np.argsort(columns[param], kind="stable")
    arrays = {"x": columns[param][order], "f0": columns["f0"][order], "f1": columns["f1"][order]}
    if "max" in columns and "min" in columns:
        arrays.update(hi=columns["max"][order], lo=columns["min"][order])
    unit = record.get("unit", {})
    metrics = {m: v.get(param, {}) for m, v in record.get("metrics", {}).items() if isinstance(v, dict)}
    meta = {"param": param, "unit": unit.get("unit", ""), "layer": unit.get("layer", ""),
            "metrics": metrics, "n_phases": int(columns["n"][0]) if "n" in columns else 1,
            "protocol": record.get("protocol", {}).get("protocol", ""), "other_params": swept[1:]}
    return FigureData("tuning", arrays, meta, jobs, provenance)


def from_topk_folder(path: Path, channel: int | None = None) -> FigureData:
    from PIL import Image

    folder = path if path.is_dir() else path.parent
    try:
        record = _json((folder / "topk.json").read_text(encoding="utf-8"))
        with open(folder / "topk.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise UnitscopeError(f"'{folder}' is not a topk folder: {exc.strerror or exc}.") from None
    channels = sorted({int(r["channel"]) for r in rows})
    channel = channels[0] if channel is None else channel
    if channel not in channels:
        raise UnitscopeError(f"Channel {channel} was not ranked in '{folder.name}' (ranked: "
                             f"{', '.join(map(str, channels))}).")
    arrays, names = {}, {"top": [], "bottom": []}
    for end in ("top", "bottom"):
        mine = sorted((r for r in rows if int(r["channel"]) == channel and r["end"] == end),
                      key=lambda r: int(r["rank"]))
        arrays[f"{end}_values"] = np.array([float(r["activation"]) for r in mine])
        for i, r in enumerate(mine):
            with Image.open(folder / r["crop"]) as im:
                arrays[f"{end}_crop.{i}"] = np.asarray(im.convert("RGB"))
            names[end].append(Path(r["image"]).name)
    pos = record.get("position", {})
    layer = record.get("parameters", {}).get("layer", "")
    meta = {"unit": f"{layer}[{channel}]({pos.get('y')},{pos.get('x')})", "layer": layer,
            "top_names": names["top"], "bottom_names": names["bottom"], "n_images": record.get("n_images")}
    return FigureData("topk", arrays, meta, [record["job"]] if "job" in record else [],
                      record.get("provenance", {}))


def from_result(path: Path, unit: int | None = None, neuron: int | str | None = None,
                layer: str | None = None) -> FigureData:
    """The figure of a job's result (``unitscope run ... --out R.npz``); with ``unit``, the unit figure
    of that channel of a recording; with ``neuron``, that recorded neuron beside its best unit (at
    ``layer``, or where it is predicted best), for an analysis with a one-neuron figure."""
    from types import SimpleNamespace

    from engine.session.results import read_result

    job_file, result, prov = read_result(path)
    job = job_file.to_dict()
    kind = job_file.job.kind
    if unit is not None:
        if kind != "record":
            raise UnitscopeError(f"--unit draws one channel of a recording; '{path.name}' holds a {kind} result.")
        values = np.asarray(result["values"])
        if not 0 <= unit < (values.shape[0] if values.ndim else 0):
            raise UnitscopeError(f"--unit {unit} is not in '{path.name}': its recording has "
                                 f"{values.shape[0] if values.ndim else 0} channels.")
        recording = SimpleNamespace(values=values, input_image=result.get("input_image"), layer=result["layer"],
                                    conv_weights=result.get("conv_weights"),
                                    stimulus=SimpleNamespace(label=Path(str(result["stimulus"]["value"])).name))
        data = unit_data(recording, unit, (values.shape[1] // 2, values.shape[2] // 2) if values.ndim == 3 else None)
        data.jobs, data.provenance = [job], prov
        return data
    analysis = analysis_of_job(job_file.job)
    if neuron is not None:
        draw_neuron = analysis.neuron_figure_builder() if analysis is not None else None
        if draw_neuron is None:
            with_neurons = ", ".join(f"'{a.name}'" for a in analyses() if a.neuron_figure is not None)
            raise UnitscopeError(f"--neuron draws one recorded neuron of a {with_neurons} result; '{path.name}' "
                                 f"holds a '{kind}' result.")
        data = draw_neuron(result, job["job"], neuron, layer)
        data.jobs, data.provenance = [job], prov
        return data
    builder = analysis.figure_builder() if analysis is not None else None
    if builder is None:
        why = analysis.no_figure if analysis is not None else "no analysis draws it"
        raise UnitscopeError(f"No figure is drawn from a '{kind}' result: {why}.")
    data = builder(result, job["job"])
    data.jobs, data.provenance = [job], prov
    return data


def record_figure(r, job) -> FigureData:
    stimulus = r.get("stimulus") or {}
    values = np.asarray(r.get("values") if r.get("values") is not None else r["output"], dtype=np.float32)
    return FigureData("mosaic", {"values": values}, {"layer": r.get("layer", ""),
                                                     "stimulus": Path(str(stimulus.get("value", ""))).name})


def tuning_figure(r, job) -> FigureData:
    arrays = {"x": np.asarray(r["values"], float), "f0": np.asarray(r["f0"], float),
              "f1": np.asarray(r["f1"], float)}
    param = r.get("param", "orientation")
    metrics = {"f0": (r.get("metrics") or {}).get(param, r.get("metrics") or {})}
    return FigureData("tuning", arrays, {"param": param, "unit": r.get("unit_label", ""), "layer": job.get("layer"),
                                         "metrics": metrics, "n_phases": job.get("phases", 1),
                                         "protocol": job.get("stimulus", "gratings")})


def population_figure(r, job) -> FigureData:
    return FigureData("population", {"rdm": np.asarray(r["rdm"], float), "scores": np.asarray(r["scores"], float),
                                     "explained": np.asarray(r["explained"], float),
                                     "groups": np.asarray(r["groups"], float)},
                      {"layer": r["layer"], "labels": list(r["labels"]), "stimuli": r.get("stimuli", "images"),
                       "participation_ratio": r.get("participation_ratio"), "n_units": r.get("n_units"),
                       "lifetime_sparseness": r.get("lifetime_sparseness"),
                       "population_sparseness": r.get("population_sparseness"), "view": r.get("view", "")})


def comparison_figure(r, job) -> FigureData:
    return FigureData("comparison", {"rdm": np.asarray(r["rdm"], float), "rdm_b": np.asarray(r["rdm_b"], float)},
                      {"layer": r["layer"], "layer_b": r["layer_b"], "labels": list(r["labels"]),
                       "rsa": r.get("rsa"), "cka": r.get("cka"), "stimuli": r.get("stimuli", "images"),
                       "view": r.get("view", "")})


def topk_figure(r, job) -> FigureData:
    arrays = {"top_values": np.asarray(r["top_values"], float), "bottom_values": np.asarray(r["bottom_values"], float)}
    for end in ("top", "bottom"):
        arrays.update({f"{end}_crop.{i}": np.asarray(c) for i, c in enumerate(r[f"{end}_crops"])})
    return FigureData("topk", arrays, {"unit": r["unit_label"], "layer": job.get("layer", ""),
                                       "top_names": list(r["top_names"]), "bottom_names": list(r["bottom_names"])})


def probe_figure(r, job) -> FigureData:
    return FigureData("probe", {"responses": np.asarray(r["responses"], float)},
                      {"labels": list(r["labels"]), "stimulus_labels": list(r["stimulus_labels"]),
                       "sequence": r.get("sequence", "strip")})


def receptive_field_figure(r, job) -> FigureData:
    types = {"image": np.uint8, "significant": bool}
    arrays = {name: np.asarray(r[name], dtype=types.get(name, float))
              for name in ("image", "gradient", "on_map", "off_map", "p_value", "significant")
              if r.get(name) is not None}
    meta = {"unit": r["unit_label"], "layer": job.get("layer", ""),
            "theoretical_box": r.get("theoretical_box"), "empirical_box": r.get("empirical_box"),
            "n_images": r.get("n_images"), "n_frames": r.get("n_frames"), "rel_threshold": r.get("rel_threshold"),
            "shown": (job.get("shown") or [None, ""])[1]}
    if "significant" in arrays:
        meta.update(fdr=r.get("fdr"), n_tests=r.get("n_tests"), n_significant=r.get("n_significant"))
    return FigureData("receptive_field", arrays, meta)


def protocol_figure(r, job) -> FigureData:
    record = {"unit": r.get("unit", {}), "metrics": r.get("metrics", {}), "protocol": r.get("protocol", {})}
    return tuning_from_table(list(r["columns"]), np.asarray(r["rows"], float), record, {}, [])


def visualize_figure(r, job) -> FigureData:
    """A visualisation job's result or snapshot (the window's Visualise view)."""
    record = {"objective": r.get("label", ""), "activation": r.get("activation"), "best_input": r.get(
        "best_input_label"), "best_input_activation": r.get("best_input"), "parameters": dict(job)}
    return visualization_data(np.asarray(r["images"]), record, {})


def properties_figure(r, job) -> FigureData:
    """A properties job's result or snapshot (the window's Properties view): no reference."""
    from engine.analyses.properties import PROPERTIES

    columns = list(r["columns"])
    rows = [row for row in r["rows"]]
    arrays = {f"model.{name}": np.array([float("nan") if row[columns.index(name)] is None
                                         else float(row[columns.index(name)]) for row in rows])
              for name in PROPERTIES if name in columns}
    return FigureData("properties", arrays, {"layer": r.get("layer", ""), "n_units": len(rows)})


def rdm_figure(r, job) -> FigureData:
    return FigureData("rdm", {"rdm": np.asarray(r["rdm"], float)},
                      {"layer": r.get("layer", ""), "labels": _names(r.get("image_paths")),
                       "measure": "1 \u2212 Pearson r", "view": r.get("view", "")})


def figure_data(path: str | Path, layer: str | None = None, image: int = 0, channel: int | None = None,
                unit: int | None = None, reference: str | Path | None = None,
                neuron: int | str | None = None) -> FigureData:
    """The figure data of any file Unitscope writes (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise UnitscopeError(f"'{path}' does not exist.")
    if neuron is not None:
        suffix = path.suffix.lower()
        if not ((suffix == ".npz" and _is_result_npz(path))
                or (suffix == ".json" and {"result", "job"} <= set(_json(path.read_text(encoding="utf-8"))))):
            raise UnitscopeError(f"--neuron draws one recorded neuron of a 'unitscope predict' result; "
                                 f"'{path.name}' is not a result.")
        return from_result(path, unit, neuron, layer)
    suffix = path.suffix.lower()
    if path.is_dir() or path.name == "topk.json" or path.name == "topk.csv":
        return from_topk_folder(path, channel)
    if suffix == ".csv":
        if _command_of(path) == "properties":
            return from_properties_csv(path, reference)
        return from_tuning_csv(path)
    if suffix == ".png":
        return from_visualization_png(path)
    if suffix == ".npz":
        return from_result(path, unit) if _is_result_npz(path) else from_activations(path, layer, image)
    if suffix in ACTIVATION_SUFFIXES:
        return from_activations(path, layer, image)
    if suffix == ".json":
        record = _json(path.read_text(encoding="utf-8"))
        if "result" in record and "job" in record:
            return from_result(path, unit)
        if record.get("provenance", {}).get("command") == "rsa" or "rsa_measure" in record:
            raise UnitscopeError(f"'{path.name}' holds the RSA and CKA values but not the RDMs; run "
                                 f"'unitscope run {path.name} --out cmp.npz' and draw cmp.npz.")
    raise UnitscopeError(f"No figure can be drawn from '{path.name}': expected activations (.npy .npz .h5 "
                         ".mat), a tuning or properties .csv, a visualisation (.npy .png), a topk folder, a result "
                         "of 'unitscope run' or a figure sidecar.")


def _is_result_npz(path: Path) -> bool:
    """Whether an ``.npz`` is a job's result (it embeds its job) rather than activations."""
    with np.load(path, allow_pickle=False) as npz:
        return "__job__" in npz.files


def _command_of(path: Path) -> str:
    """The command that wrote a ``.csv`` (from its ``.csv.json``; a properties table by its header)."""
    sidecar = path.with_name(path.name + ".json")
    try:
        if sidecar.is_file():
            command = _json(sidecar.read_text(encoding="utf-8")).get("command")
            if command:
                return str(command)
        with open(path, encoding="utf-8") as fh:
            head = fh.readline()
    except OSError:
        return ""
    return "properties" if head.startswith("layer,channel,y,x,") else ""


def from_snapshot(snapshot, job_file: dict | None = None, provenance: dict | None = None,
                  neuron: int | str | None = None, layer: str | None = None) -> FigureData:
    """The figure of a job's snapshot (what a window view shows), with the job that made it; with
    ``neuron``, the analysis's one-neuron figure of it (at ``layer``, or where it is predicted best)."""
    import dataclasses

    from engine.session.job import to_json

    analysis = analysis_of_snapshot(snapshot)
    if neuron is not None:
        draw_neuron = analysis.neuron_figure_builder() if analysis is not None else None
        if draw_neuron is None:
            raise UnitscopeError(f"No figure of one neuron is drawn from a {type(snapshot).__name__}.")
        builder = lambda fields, job: draw_neuron(fields, job, neuron, layer)  # noqa: E731
    else:
        builder = analysis.figure_builder() if analysis is not None else None
    if builder is None:
        why = f": {analysis.no_figure}" if analysis is not None else ""
        raise UnitscopeError(f"No figure is drawn from a {type(snapshot).__name__}{why}.")
    fields = {}
    for f in dataclasses.fields(snapshot):
        value = getattr(snapshot, f.name)
        fields[f.name] = value if isinstance(value, np.ndarray) or (
            isinstance(value, list) and value and isinstance(value[0], np.ndarray)) else to_json(value)
    data = builder(fields, (job_file or {}).get("job", {}))
    data.jobs = [job_file] if job_file else []
    data.provenance = dict(provenance or {})
    return data


def unit_data(recording, channel: int, position=None, rf_box=None) -> FigureData:
    """The unit figure of ``channel`` of a :class:`~engine.session.values.Recording` (plain NumPy)."""
    values = np.asarray(recording.values)
    if values.ndim != 3 or not 0 <= channel < values.shape[0]:
        raise UnitscopeError(f"Channel {channel} has no map in this recording of shape {values.shape}.")
    arrays = {"map": values[channel].astype(np.float32), "input_image": np.asarray(recording.input_image)}
    if recording.conv_weights is not None and channel < len(recording.conv_weights):
        arrays["weights"] = np.asarray(recording.conv_weights[channel], dtype=np.float32)
    meta = {"layer": recording.layer, "channel": int(channel), "stimulus": recording.stimulus.label,
            "position": [int(p) for p in position] if position is not None else None,
            "rf_box": [float(v) for v in rf_box] if rf_box is not None else None}
    return FigureData("unit", arrays, meta)
