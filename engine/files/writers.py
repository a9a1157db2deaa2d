"""Saving recorded activations (and any other export) atomically.

Every file is written to a hidden temporary file in the target folder, flushed to disk
and then moved over the target with ``os.replace``, so a crash, a full disk or a
read-only folder never leaves a half-written file or damages an earlier one.

Activation formats, chosen by the file's extension:

``.npy``
    Exactly one layer.  The provenance goes to a sidecar ``<name>.npy.json`` holding
    ``{"layer_name": ..., "provenance": {...}}``, written atomically after the array.
``.npz``
    One array per layer, keyed by the layer name as it is, plus ``__provenance__``,
    a 0-d unicode array holding the provenance as JSON (loads without pickle).
``.h5``
    One dataset per layer at the file root, named by the layer.  The provenance is
    stored as attributes on the root and on every dataset: strings, numbers and bools
    as they are, lists of strings (image paths) as variable-length UTF-8 string arrays,
    lists of numbers as arrays, anything else (dicts, None) as a JSON string.  The root
    also holds the whole provenance as JSON in ``__provenance__``; each dataset holds
    its own name in ``layer_name``.
``.mat``
    MATLAB v5 (``scipy.io.savemat``).  Layer names become valid MATLAB identifiers
    (see :func:`matlab_names`); ``layer_names`` is an N x 2 cell array of
    ``{matlab_name, original_name}`` rows, ``provenance`` a struct of string fields
    (non-strings JSON-encoded) and ``provenance_json`` the provenance as JSON.  MATLAB
    has no 1-D arrays, so 1-D and 0-D arrays come back as (1, N) and (1, 1).

Arrays are always saved as float32.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sys

import numpy as np

from engine.errors import UnitscopeError
from engine.files.atomic import _reason, atomic_write, atomic_write_all

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".npy", ".npz", ".h5", ".mat")
"""Activation file types, lower case; a file's suffix matches them in any case (``R.NPY``)."""

PROVENANCE_KEY = "__provenance__"
_MAT_RESERVED = ("provenance", "provenance_json", "layer_names")
_MAT_MAX_NAME = 63


def output_suffix(path: str | Path, suffixes: Sequence[str] = SUPPORTED_SUFFIXES) -> str:
    """The file type ``path`` names: its suffix in lower case, one of ``suffixes``.

    The one check of an output file's suffix that every command and writer uses, so that
    they all agree: the case does not matter (``R.NPY`` is a ``.npy`` file).

    Raises
    ------
    UnitscopeError
        ``Output 'path' must end in one of ...`` when the suffix is not in ``suffixes``.
    """
    suffix = known_suffix(path, suffixes)
    if suffix is None:
        found = f"'{Path(path).suffix}'" if Path(path).suffix else "no file type"
        raise UnitscopeError(f"Output '{path}' must end in one of {', '.join(suffixes)} "
                             f"(any case), not {found}.")
    return suffix


def known_suffix(path: str | Path, suffixes: Sequence[str] = SUPPORTED_SUFFIXES) -> str | None:
    """The suffix of ``path`` in lower case if it is one of ``suffixes`` (any case), else None."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in suffixes else None


def _save_npy(tmp: Path, arr: np.ndarray) -> None:
    # Through an open file: given a name, np.save appends ".npy" unless the name ends in
    # exactly ".npy" (lower case), and the array would land in another file.
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write a UTF-8 CSV file (no BOM) atomically (see :func:`csv_writer`)."""
    return atomic_write(path, csv_writer(path, header, rows))


def csv_writer(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Callable[[Path], None]:
    """The function that writes a UTF-8 CSV file (no BOM), for :func:`atomic_write_all`.

    Parameters
    ----------
    path : str or Path
        Target file.
    header : sequence of str
        Column names, written as the first line.
    rows : sequence of sequences
        One sequence per line, each as long as ``header``.

    Returns
    -------
    callable
        Writes the CSV to the temporary path it is given.
    """
    path = Path(path)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise UnitscopeError(f"Could not save '{path.name}': row {i} has {len(row)} "
                                 f"values but there are {len(header)} columns.")

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)

    return write


def _is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch (a process that has not
    imported it holds none, so commands that only write files start without it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray) or _is_tensor(value):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # Path, datetime and the like


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _as_float32(value) -> np.ndarray:
    if _is_tensor(value):
        return value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)


def matlab_names(names: Sequence[str], reserved: Sequence[str] = _MAT_RESERVED) -> list[str]:
    """Valid, unique MATLAB variable names for ``names``, in the same order.

    Characters other than ASCII letters, digits and ``_`` become ``_``; a name not
    starting with a letter gets an ``x`` in front; names are cut to 63 characters and
    clashes (with each other or with ``reserved``, by default the other variables of
    the file: ``provenance``, ``provenance_json``, ``layer_names``) get ``_2``,
    ``_3``, ... at the end.
    """
    used = set(reserved)
    out = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name, flags=re.ASCII)
        if not base or not (base[0].isascii() and base[0].isalpha()):
            base = "x" + base
        base = base[:_MAT_MAX_NAME]
        candidate, n = base, 1
        while candidate in used:
            n += 1
            tail = f"_{n}"
            candidate = base[:_MAT_MAX_NAME - len(tail)] + tail
        used.add(candidate)
        out.append(candidate)
    return out


def _h5_attr(value: Any) -> Any:
    """An attribute value h5py can store, following the rules in the module docstring."""
    import h5py

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | Path):
        return str(value)  # also plain str for str subclasses such as torch's version string
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        if all(isinstance(v, str | Path) for v in value):
            return np.array([str(v) for v in value], dtype=h5py.string_dtype("utf-8"))
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return np.asarray(value)
    return _to_json(value)


def _write_npz(tmp: Path, arrays: dict[str, np.ndarray], prov_json: str) -> None:
    # np.savez takes names as keyword arguments, which clash with its own ("file",
    # "allow_pickle"), so write the same zip layout directly.
    entries = {**arrays, PROVENANCE_KEY: np.array(prov_json)}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in entries.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, arr, allow_pickle=False)


def _write_h5(tmp: Path, arrays: dict[str, np.ndarray], provenance: Mapping[str, Any]) -> None:
    import h5py

    attrs = {str(k): _h5_attr(v) for k, v in provenance.items()}
    with h5py.File(tmp, "w", track_order=True) as f:
        f.attrs.update(attrs)
        f.attrs[PROVENANCE_KEY] = _to_json(dict(provenance))
        for name, arr in arrays.items():
            ds = f.create_dataset(name, data=arr)
            ds.attrs.update(attrs)
            ds.attrs["layer_name"] = name


def _write_mat(tmp: Path, arrays: dict[str, np.ndarray], provenance: Mapping[str, Any]) -> None:
    import scipy.io

    names = list(arrays)
    mangled = matlab_names(names)
    mapping = np.empty((len(names), 2), dtype=object)
    for i, (new, old) in enumerate(zip(mangled, names)):
        mapping[i] = (new, old)
    fields = matlab_names([str(k) for k in provenance], reserved=())
    struct = {f: v if isinstance(v, str) else _to_json(v)
              for f, v in zip(fields, provenance.values())}
    mdict: dict[str, Any] = dict(zip(mangled, arrays.values()))
    mdict.update(provenance=struct, provenance_json=_to_json(dict(provenance)),
                 layer_names=mapping)
    scipy.io.savemat(tmp, mdict, appendmat=False, long_field_names=True, do_compression=False,
                     oned_as="row")


def write_activations(path: str | Path, arrays: Mapping[str, Any],
                      provenance: Mapping[str, Any] | None = None) -> Path:
    """Save activations of one or more layers, with their provenance, atomically.

    Parameters
    ----------
    path : str or Path
        Target file; its extension (one of ``SUPPORTED_SUFFIXES``, in any case) picks the format,
        as described in the module docstring.
    arrays : mapping of str to ndarray or Tensor
        Layer name to activations; tensors may be on any device.  Saved as float32.
    provenance : mapping, optional
        Where the data came from: model, weights, layer, image paths, ...

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UnitscopeError
        Unknown extension, several layers for ``.npy``, a layer name the format
        cannot hold, or a failed write (the target is then left as it was).
    """
    path = Path(path)
    suffix = known_suffix(path)
    provenance = dict(provenance or {})
    if suffix is None:
        raise UnitscopeError(f"Could not save '{path.name}': unknown file type '{path.suffix}'; "
                             f"use one of {', '.join(SUPPORTED_SUFFIXES)} (any case).")
    if not arrays:
        raise UnitscopeError(f"Could not save '{path.name}': there are no activations to save.")
    if suffix == ".npy" and len(arrays) != 1:
        raise UnitscopeError(f"Could not save '{path.name}': a .npy file holds one layer, not "
                             f"{len(arrays)}; use .npz, .h5 or .mat for several layers.")
    for name in arrays:
        if not isinstance(name, str):
            raise UnitscopeError(f"Could not save '{path.name}': layer name {name!r} is not text.")
        if suffix == ".npz" and name == PROVENANCE_KEY:
            raise UnitscopeError(f"Could not save '{path.name}': '{PROVENANCE_KEY}' is reserved "
                                 "for the provenance in .npz files.")
        if suffix == ".h5" and (not name or "/" in name or name == "."):
            raise UnitscopeError(f"Could not save '{path.name}': layer name '{name}' cannot "
                                 "name an HDF5 dataset (empty, '.' or containing '/').")
    data = {name: _as_float32(value) for name, value in arrays.items()}

    if suffix == ".npy":
        (name, arr), = data.items()
        text = _to_json({"layer_name": name, "provenance": provenance})
        atomic_write_all({path: lambda tmp: _save_npy(tmp, arr),  # the pair, or neither
                          path.with_name(path.name + ".json"): lambda tmp: tmp.write_text(text, encoding="utf-8")})
    elif suffix == ".npz":
        atomic_write(path, lambda tmp: _write_npz(tmp, data, _to_json(provenance)))
    elif suffix == ".h5":
        atomic_write(path, lambda tmp: _write_h5(tmp, data, provenance))
    else:
        atomic_write(path, lambda tmp: _write_mat(tmp, data, provenance))
    log.info("saved %d layer(s) to %s", len(data), path)
    return path


def _mat_str(cell: Any) -> str:
    arr = np.asarray(cell)
    return str(arr.item()) if arr.size else ""


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        sidecar = path.with_name(path.name + ".json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        return {meta.get("layer_name", path.stem): arr}, meta.get("provenance", {})
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        prov = arrays.pop(PROVENANCE_KEY, None)
        return arrays, json.loads(str(prov)) if prov is not None else {}
    if suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as f:
            arrays = {str(ds.attrs.get("layer_name", key)): ds[()] for key, ds in f.items()
                      if isinstance(ds, h5py.Dataset)}
            prov = f.attrs.get(PROVENANCE_KEY)
        return arrays, json.loads(prov) if prov is not None else {}
    import scipy.io

    mat = scipy.io.loadmat(path)
    mapping = mat.get("layer_names")
    names = ({_mat_str(new): _mat_str(old) for new, old in mapping.reshape(-1, 2)}
             if mapping is not None else {})
    arrays = {names.get(k, k): v for k, v in mat.items()
              if not k.startswith("__") and k not in _MAT_RESERVED}
    prov = mat.get("provenance_json")
    return arrays, json.loads(_mat_str(prov)) if prov is not None else {}


def _read_checked(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(path)
    if known_suffix(path) is None:
        raise UnitscopeError(f"Could not read '{path.name}': unknown file type "
                             f"'{path.suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
    if not path.is_file():
        raise UnitscopeError(f"Could not read '{path.name}': the file does not exist.")
    try:
        return _read(path)
    except Exception as exc:  # numpy, zipfile, h5py and scipy each raise their own types
        raise UnitscopeError(f"Could not read '{path.name}': {_reason(exc)}.") from exc


def read_activations(path: str | Path) -> dict[str, np.ndarray]:
    """Read activations saved by :func:`write_activations`, keyed by original layer name.

    Parameters
    ----------
    path : str or Path
        A ``.npy``, ``.npz``, ``.h5`` or ``.mat`` file.

    Returns
    -------
    dict of str to ndarray
        Layer name to array, in the saved order.  For ``.npy`` the name comes from the
        sidecar JSON (the file's stem without one).
    """
    return _read_checked(path)[0]


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Read the provenance saved with activations by :func:`write_activations`.

    Parameters
    ----------
    path : str or Path
        A ``.npy`` (its sidecar is read), ``.npz``, ``.h5`` or ``.mat`` file.

    Returns
    -------
    dict
        The provenance as JSON gives it back (tuples become lists, paths strings);
        empty when the file has none.
    """
    return _read_checked(path)[1]
