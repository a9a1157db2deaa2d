"""One zarr store per sharded job: the job, its stimulus list, chunk-aligned regions, markers.

Layout of ``JOB_DIR/store.zarr`` (zarr v3, one file per chunk)::

    zarr.json                       attrs: format, job file, stimulus names and their SHA-256, shard ranges,
                                    layers, summaries
    <layer>/zarr.json               attrs: the layer's per-stimulus shape; laid out by the first task
    <layer>/<reduction>             (N, ...)  chunks (chunk, ...): rows of shard s lie in its own chunks
    <layer>/moments/{count,mean,m2,min,max}   (S, ...)  one chunk per shard
    <layer>/extremes/{top,bottom}_{values,indices}   (S, C, k)  one chunk per shard
    shards/done                     (S,)  one chunk per shard: finish time (ns), 0 until the shard is whole

A shard writes only rows ``[start, stop)`` of the per-stimulus arrays (``start`` a multiple
of ``chunk``) and row ``s`` of the per-shard arrays, so no two tasks ever write one chunk and
no lock is needed; its ``done`` marker is written last.  Next to the store, ``shards/NNNN.json``
records each shard's attempts (state, host, pid, scheduler job id, log files).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_text

FORMAT = "unitscope-sharded/1"
STORE = "store.zarr"
MOMENT_FIELDS = ("mean", "m2", "min", "max")
EXTREME_FIELDS = ("top_values", "top_indices", "bottom_values", "bottom_indices")


def array_key(layer: str) -> str:
    """A layer name as a zarr node name (``#`` of ``NAME#k`` kept, ``/`` refused)."""
    if "/" in layer or layer.startswith("__") or layer in ("", ".", ".."):
        raise UnitscopeError(f"Layer '{layer}' cannot name a zarr group.")
    return layer


@dataclass(frozen=True)
class Layout:
    """What a job's store holds: per-stimulus shapes of each layer's reductions and its units."""

    n_stimuli: int
    chunk: int
    shards: tuple[tuple[int, int], ...]
    reductions: dict  # layer -> {reduction name: per-stimulus shape}
    units: dict  # layer -> per-stimulus output shape (C[, H, W])
    k: int


class JobStore:
    """The zarr store of one sharded job, opened read-write.

    Use :meth:`create` once (the submitter) and :meth:`open` everywhere else (shards,
    status, export).
    """

    def __init__(self, job_dir: str | Path):
        zarr = _zarr()
        self.dir = Path(job_dir)
        path = self.dir / STORE
        if not (path / "zarr.json").is_file():
            raise UnitscopeError(f"'{self.dir}' is not a sharded job folder (no {STORE} in it).")
        self.root = zarr.open_group(str(path), mode="r+")
        attrs = dict(self.root.attrs)
        if attrs.get("format") != FORMAT:
            raise UnitscopeError(f"'{path}' is not a Unitscope job store (format {attrs.get('format')!r}).")
        self.attrs = attrs

    @classmethod
    def create(cls, job_dir: str | Path, job_file: dict, stimuli: list[str], stimuli_sha256: str,
               n_stimuli: int, chunk: int, shards: list[tuple[int, int]], layers: list[str],
               summaries: list[str], k: int) -> JobStore:
        """Make the store: the job, its stimulus list, the shard ranges and the ``done`` markers.

        Torch-free: the layers' arrays, whose shapes only the model knows, are laid out by the
        first task that opens the model (:meth:`lay_out_layers`).
        """
        zarr = _zarr()
        job_dir = Path(job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "shards").mkdir(exist_ok=True)
        for layer in layers:
            array_key(layer)
        root = zarr.open_group(str(job_dir / STORE), mode="w")
        root.create_array("shards/done", shape=(len(shards),), chunks=(1,), dtype="int64", fill_value=0)
        root.attrs.update({
            "format": FORMAT, "job": job_file, "stimuli": list(stimuli), "stimuli_sha256": stimuli_sha256,
            "n_stimuli": n_stimuli, "chunk": chunk, "shards": [list(s) for s in shards], "layers": list(layers),
            "summaries": list(summaries), "k": k,
        })
        return cls(job_dir)

    def lay_out_layers(self, layout: Layout) -> None:
        """Make every layer's arrays that are not there yet, each layer all at once.

        Tasks starting together may all do this: each builds the layer's group in a folder of
        its own and renames it into place; the first rename wins and the others (identical)
        are thrown away, so a layer is never seen half made and no lock is needed.
        """
        import secrets
        import shutil

        zarr = _zarr()
        path = self.dir / STORE
        n_shards = len(layout.shards)
        for layer, reductions in layout.reductions.items():
            target = path / array_key(layer)
            if (target / "zarr.json").is_file():
                continue
            tmp = path / f".us-{os.getpid()}-{secrets.token_hex(4)}"
            group = zarr.open_group(str(tmp), mode="w")
            for name, shape in reductions.items():
                group.create_array(name, shape=(layout.n_stimuli, *shape), chunks=(layout.chunk, *shape),
                                   dtype="float32", fill_value=np.nan)
            units = tuple(layout.units[layer])
            group.create_array("moments/count", shape=(n_shards,), chunks=(1,), dtype="int64", fill_value=0)
            for name in MOMENT_FIELDS:
                group.create_array(f"moments/{name}", shape=(n_shards, *units), chunks=(1, *units),
                                   dtype="float64", fill_value=np.nan)
            for name in EXTREME_FIELDS:
                integer = name.endswith("indices")
                group.create_array(f"extremes/{name}", shape=(n_shards, units[0], layout.k),
                                   chunks=(1, units[0], layout.k), dtype="int64" if integer else "float64",
                                   fill_value=-1 if integer else np.nan)
            group.attrs.update({"units": list(units), "reductions": {n: list(s) for n, s in reductions.items()}})
            try:
                os.rename(tmp, target)
            except OSError:  # another task's identical layout got there first
                shutil.rmtree(tmp, ignore_errors=True)
                if not (target / "zarr.json").is_file():
                    raise

    # --- what the job is ------------------------------------------------------------------

    @property
    def shards(self) -> list[tuple[int, int]]:
        return [tuple(s) for s in self.attrs["shards"]]

    @property
    def layers(self) -> list[str]:
        return list(self.attrs["layers"])

    def reductions(self, layer: str) -> list[str]:
        """The per-stimulus reductions kept for ``layer`` (``mean``, ``project:64``, …)."""
        return list(self.attrs["summaries"])

    def units(self, layer: str) -> tuple[int, ...]:
        """The per-stimulus output shape of ``layer`` (known once a task has laid the layer out)."""
        return tuple(self.root[array_key(layer)].attrs["units"])

    def array(self, path: str):
        return self.root[path]

    # --- markers ----------------------------------------------------------------------------

    def done(self) -> np.ndarray:
        """Per shard: True when its ``done`` marker is set."""
        return self.root["shards/done"][:] > 0

    def mark_done(self, shard: int, done: bool = True) -> None:
        self.root["shards/done"][shard] = time.time_ns() if done else 0

    def info_path(self, shard: int) -> Path:
        return self.dir / "shards" / f"{shard:04d}.json"

    def info(self, shard: int) -> dict:
        """The shard's record (``{}`` before it was ever submitted)."""
        try:
            return json.loads(self.info_path(shard).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise UnitscopeError(f"Shard record '{self.info_path(shard)}' could not be read: {exc}.") from None

    def update_info(self, shard: int, **fields) -> dict:
        """Merge ``fields`` into the shard's record (one writer per shard at a time)."""
        info = {**self.info(shard), **fields}
        atomic_write_text(self.info_path(shard), json.dumps(info, indent=1) + "\n")
        return info

    def started(self, shard: int) -> dict:
        """Record that this process runs the shard now (an attempt more)."""
        info = self.info(shard)
        return self.update_info(shard, state="running", attempts=int(info.get("attempts", 0)) + 1,
                                host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                                finished=None, error=None)


def stimuli_hash(names: list[str]) -> str:
    """SHA-256 of a stimulus list (names joined by newlines): the same list, the same hash."""
    import hashlib

    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def _zarr():
    try:
        import zarr
    except ImportError:
        raise UnitscopeError("Sharded jobs need the zarr package (3.x, Python 3.11 or newer): "
                             "pip install 'zarr>=3'.") from None
    return zarr
