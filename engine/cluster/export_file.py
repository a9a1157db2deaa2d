"""One file of named arrays, each kept in its own type: a sharded job's export.

The names are paths (``layer1/mean``, ``layer1/top/indices``; parts made of ASCII letters,
digits and ``_``, see :func:`engine.jobs.summaries.name_part`), and each format shows them
as its own kind of path:

``.npz``
    One entry per name as it is (``np.load(f)["layer1/mean"]``), plus ``__provenance__``
    (JSON, a 0-d unicode array: no pickle), as ``unitscope run`` writes a result.
``.h5``
    A dataset per name in groups (``f["layer1/mean"]``), each with ``layer``, ``field`` and
    ``key`` attributes naming what it is; the provenance as JSON in the ``__provenance__``
    dataset (an attribute could not hold a million stimulus names).
``.mat``
    A struct per layer (``layer1.mean``, ``layer1.top.indices``), ``provenance_json`` and
    ``layer_names``, an N x 2 cell array of ``{name, layer}`` rows.  MATLAB has no 1-D
    arrays: they come back as (1, N).
``.npy``
    Exactly one array; its name and the provenance in the sidecar ``<file>.npy.json``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write, atomic_write_all
from engine.files.writers import output_suffix


def _json(value) -> str:
    return json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v), ensure_ascii=False)


def write_named(path: str | Path, arrays: dict[str, np.ndarray], provenance: dict) -> Path:
    """Write ``arrays`` (name -> array, types kept) with ``provenance`` to ``path``, atomically."""
    path = Path(path)
    suffix = output_suffix(path)
    if not arrays:
        raise UnitscopeError(f"Could not save '{path.name}': there are no arrays to save.")
    if suffix == ".npy" and len(arrays) != 1:
        raise UnitscopeError(f"Could not save '{path.name}': a .npy file holds one array, not {len(arrays)}; "
                             "pick one with --array, or use .npz, .h5 or .mat.")
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    text = _json(provenance)
    if suffix == ".npy":
        (name, array), = arrays.items()

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, array, allow_pickle=False)

        sidecar = _json({"layer_name": name, "provenance": provenance})
        atomic_write_all({path: save, path.with_name(path.name + ".json"):
                          lambda tmp: tmp.write_text(sidecar, encoding="utf-8")})
    elif suffix == ".npz":
        atomic_write(path, lambda tmp: _npz(tmp, arrays, text))
    elif suffix == ".h5":
        atomic_write(path, lambda tmp: _h5(tmp, arrays, text, provenance.get("arrays") or {}))
    else:
        atomic_write(path, lambda tmp: _mat(tmp, arrays, text, provenance.get("arrays") or {}))
    return path


def _npz(tmp: Path, arrays: dict, text: str) -> None:
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in {**arrays, "__provenance__": np.array(text)}.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)


def _h5(tmp: Path, arrays: dict, text: str, table: dict) -> None:
    import h5py

    with h5py.File(tmp, "w", track_order=True) as f:
        f.create_dataset("__provenance__", data=text, dtype=h5py.string_dtype("utf-8"))
        for name, array in arrays.items():
            dataset = f.create_dataset(name, data=array)
            for key, value in zip(("layer", "field", "key"), table.get(name, ())):
                dataset.attrs[key] = str(value)


def _mat(tmp: Path, arrays: dict, text: str, table: dict) -> None:
    import scipy.io

    mdict: dict = {}
    layers: dict[str, str] = {}
    for name, array in arrays.items():
        *groups, leaf = name.split("/")
        node = mdict
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = array
        if name in table:
            layers[groups[0] if groups else leaf] = str(table[name][0])
    mapping = np.empty((len(layers), 2), dtype=object)
    for i, row in enumerate(layers.items()):
        mapping[i] = row
    mdict.update(provenance_json=text, layer_names=mapping)
    scipy.io.savemat(tmp, mdict, appendmat=False, long_field_names=True, do_compression=False, oned_as="row")
