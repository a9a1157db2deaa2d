"""One zarr store per sharded job: the job, what its shards share, their regions, markers.

Layout of ``JOB_DIR/store.zarr`` for a ``summaries`` job (zarr v3, one file per chunk)::

    zarr.json                       attrs: format, job file, stimulus names and their SHA-256, shard ranges,
                                    layers, summaries
    <layer>/zarr.json               attrs: the layer's per-stimulus shape; laid out by the first task
    <layer>/<reduction>             (N, ...)  chunks (chunk, ...): rows of shard s lie in its own chunks
    <layer>/moments/{count,mean,m2,min,max}   (S, ...)  one chunk per shard
    <layer>/extremes/{top,bottom}_{values,indices}   (S, C, k)  one chunk per shard
    shards/done                     (S,)  one chunk per shard: finish time (ns), 0 until the shard is whole

A shard writes only rows ``[start, stop)`` of the per-stimulus arrays (``start`` a multiple
of ``chunk``) and row ``s`` of the per-shard arrays, so no two tasks ever write one chunk and
no lock is needed; its ``done`` marker is written last.

A ``predict`` job's store (:mod:`engine.cluster.predict_plan`) is cut by layers instead:
``neurons/`` holds what every shard shares (the trial means, noise ceilings and orientation
tuning curves, written by the submitter, their files' SHA-256 in the attrs), ``layers/<layer>/`` one finished layer's
scores, written whole by the one shard that has the layer, and ``shards/done`` as above.

Next to the store, ``shards/NNNN.json`` records each shard's attempts (state, host, pid,
scheduler job id, log files) and, once it is done, the SHA-256, size and time of every chunk
file it wrote and the value of its marker: :meth:`JobStore.damage` checks them, so a removed,
truncated or changed chunk is found.

The store is made aside and renamed into place (:meth:`JobStore.create`): two submitters
racing for one folder cannot both make it, and nobody ever sees it half made.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write_text

FORMAT = "unitscope-sharded/1"
STORE = "store.zarr"
LOCK = ".submit.lock"
#: The group of a predict job's store that holds one group per finished layer.
LAYERS = "layers"
MOMENT_FIELDS = ("mean", "m2", "min", "max")
EXTREME_FIELDS = ("top_values", "top_indices", "bottom_values", "bottom_indices")
#: What a store's attrs must hold, by the kind of its job.
DESCRIPTION = {"summaries": ("job", "stimuli", "n_stimuli", "chunk", "shards", "layers", "summaries", "k"),
               "predict": ("job", "stimuli", "n_stimuli", "shards", "layers", "neurons", "image_paths", "inputs",
                           "neurons_files")}


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
        if path.is_dir() and not (path / "zarr.json").exists():
            raise UnitscopeError(f"'{path}' has no zarr.json: it was never made whole (a submit stopped while "
                                 "making it?) or is damaged; remove it, or submit the job file into a new folder.")
        if not (path / "zarr.json").is_file():
            raise UnitscopeError(f"'{self.dir}' is not a sharded job folder (no {STORE} in it).")
        try:
            self.root = zarr.open_group(str(path), mode="r+")
            attrs = dict(self.root.attrs)
        except Exception as exc:  # noqa: BLE001 - JSON, Unicode or zarr's own errors: one line
            raise UnitscopeError(f"'{path / 'zarr.json'}' is damaged ({_reason(exc)}): the job's description is "
                                 "lost; submit the job file again into a new folder.") from None
        if attrs.get("format") != FORMAT:
            raise UnitscopeError(f"'{path}' is not a Unitscope job store (format {attrs.get('format')!r}).")
        self.kind = job_kind_of(attrs)
        missing = [key for key in DESCRIPTION.get(self.kind, DESCRIPTION["summaries"]) if key not in attrs]
        if missing:
            raise UnitscopeError(f"'{path / 'zarr.json'}' is damaged (no {', '.join(missing)}): the job's "
                                 "description is lost; submit the job file again into a new folder.")
        self.attrs = attrs

    @classmethod
    def create(cls, job_dir: str | Path, attrs: dict, fill=None) -> JobStore:
        """Make the store: ``attrs`` (the job, its stimuli, its shards, ...) and the ``done``
        markers of ``attrs["shards"]``.

        ``fill(group, folder)``, given, writes what every shard shares into the new store's root
        group (made in ``folder``) before it is renamed into place, and returns more attrs.  Torch-free: a summaries job's
        layers' arrays, whose shapes only the model knows, are laid out by the first task that
        opens the model (:meth:`lay_out_layers`).
        """
        zarr = _zarr()
        job_dir = Path(job_dir)
        for layer in attrs["layers"]:
            array_key(layer)
        job_dir.mkdir(parents=True, exist_ok=True)
        target = job_dir / STORE
        if target.exists():
            raise UnitscopeError(f"'{job_dir}' already holds a job (made by another submit meanwhile?); see "
                                 f"unitscope status {job_dir}.")
        tmp = job_dir / f".{STORE}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            root = zarr.open_group(str(tmp), mode="w-")
            root.create_array("shards/done", shape=(len(attrs["shards"]),), chunks=(1,), dtype="int64", fill_value=0)
            more = fill(root, tmp) if fill is not None else {}
            root.attrs.update({"format": FORMAT, **attrs, **more})
            try:
                os.mkdir(target)  # exclusive: exactly one submitter makes the folder ...
            except FileExistsError:
                raise UnitscopeError(f"'{job_dir}' is in use: another submit made its job there just now; see "
                                     f"unitscope status {job_dir}.") from None
            os.rename(tmp, target)  # ... and only it fills it (rename onto an empty folder: whole or not there)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (job_dir / "shards").mkdir(exist_ok=True)
        return cls(job_dir)

    @classmethod
    def reopen(cls, job_dir: str | Path, job_file: dict, n_shards: int | None) -> JobStore:
        """The store in ``job_dir`` to go on with, when it holds the job ``job_file`` (a
        :meth:`~engine.session.job.JobFile.to_dict`) cut into ``n_shards`` (None: as it is);
        another job, or another cut, is refused."""
        store = cls(job_dir)
        if store.attrs["job"] != job_file:
            raise UnitscopeError(f"'{job_dir}' holds another job; choose a new folder for this one.")
        if n_shards not in (None, len(store.shards)):
            raise UnitscopeError(f"The job in '{job_dir}' is cut into {len(store.shards)} shards, not "
                                 f"{n_shards}; leave out --shards to go on with it.")
        return store

    def lay_out_layers(self, layout: Layout) -> None:
        """Make every layer's arrays that are not there yet, each layer all at once.

        Tasks starting together may all do this: each builds the layer's group in a folder of
        its own and renames it into place; the first rename wins and the others (identical)
        are thrown away, so a layer is never seen half made and no lock is needed.
        """
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
        """The store's array or group at ``path``; a damaged description is one line naming its file."""
        try:
            return self.root[path]
        except KeyError:
            raise UnitscopeError(f"'{self.dir / STORE / path}' is missing from the job's store: it is damaged; "
                                 f"unitscope submit {self.dir} lays it out again.") from None
        except Exception as exc:  # noqa: BLE001 - a garbage zarr.json
            raise UnitscopeError(f"'{self.dir / STORE / path / 'zarr.json'}' is damaged ({_reason(exc)}); remove "
                                 f"'{self.dir / STORE / path.split('/')[0]}' and unitscope submit {self.dir} "
                                 "lays it out again.") from None

    # --- markers ----------------------------------------------------------------------------

    def marker_file(self, shard: int) -> Path:
        return self.dir / STORE / "shards" / "done" / "c" / str(shard)

    def markers(self) -> list[int | None]:
        """Per shard: the value of its ``done`` marker (0 unset), None when its file is damaged."""
        done = self.array("shards/done")
        values = []
        for shard in range(len(self.shards)):
            try:
                values.append(int(done[shard]))
            except Exception:  # noqa: BLE001 - a garbage chunk: that shard is damaged, the others stand
                values.append(None)
        return values

    def done(self) -> np.ndarray:
        """Per shard: True when its ``done`` marker is set."""
        return np.array([bool(v) for v in self.markers()], dtype=bool)

    def mark_done(self, shard: int, done: bool = True) -> int:
        """Set (the time in ns) or clear (0) the shard's marker; returns the value written."""
        value = time.time_ns() if done else 0
        if not done:
            self.marker_file(shard).unlink(missing_ok=True)  # a damaged marker is never read back
        self.array("shards/done")[shard] = value
        return value

    # --- what each shard wrote ----------------------------------------------------------------

    def shard_chunks(self, shard: int) -> list[str]:
        """The chunk files shard ``shard`` writes, relative to the store: its rows' chunks of
        every per-stimulus array and its row of every per-shard array (a predict job: every
        file of its layers' groups)."""
        if self.kind == "predict":
            return [f"{LAYERS}/{array_key(layer)}/{key}" for layer in self.shards[shard]
                    for key in files_under(self.dir / STORE / LAYERS / array_key(layer))]
        start, stop = self.shards[shard]
        chunk = int(self.attrs["chunk"])
        keys = []
        for layer in self.layers:
            names = [*self.reductions(layer), "moments/count", *(f"moments/{n}" for n in MOMENT_FIELDS),
                     *(f"extremes/{n}" for n in EXTREME_FIELDS)]
            for name in names:
                array = self.array(f"{array_key(layer)}/{name}")
                rows = (range(start // chunk, -(-stop // chunk)) if not name.startswith(("moments/", "extremes/"))
                        else (shard,))
                tail = (0,) * (array.ndim - 1)
                keys += [f"{array_key(layer)}/{name}/{array.metadata.encode_chunk_key((row, *tail))}" for row in rows]
        return keys

    def clear_chunks(self, shard: int) -> None:
        """Remove the chunk files of shard ``shard`` (before it runs again: a damaged one is never read)."""
        if self.kind == "predict":
            for layer in self.shards[shard]:
                shutil.rmtree(self.dir / STORE / LAYERS / array_key(layer), ignore_errors=True)
            return
        for key in self.shard_chunks(shard):
            (self.dir / STORE / key).unlink(missing_ok=True)

    def checksums(self, shard: int) -> dict:
        """``key -> [size, mtime_ns, sha256]`` of every chunk file of the shard (None: not written,
        all fill values)."""
        return file_sums(self.dir / STORE, self.shard_chunks(shard))

    def damage(self, shard: int, info: dict, marker: int | None, full: bool = False) -> str:
        """What is wrong with done shard ``shard`` ("" when its files are as it wrote them).

        Its marker must hold the value its record names, and each chunk file it wrote must be
        there (or absent where it wrote none) with its size and SHA-256.  ``full``: hash every
        chunk; else only those whose size or time changed (a rewrite changes the time).
        """
        marker_name = self.marker_file(shard).relative_to(self.dir)
        if marker is None:
            return f"its marker {marker_name} is damaged"
        recorded = info.get("chunks")
        if not isinstance(recorded, dict) or info.get("marker") != marker:
            return f"its record {self.info_path(shard).relative_to(self.dir)} does not list what it wrote"
        return changed_files(self.dir / STORE, recorded, full)

    def info_path(self, shard: int) -> Path:
        return self.dir / "shards" / f"{shard:04d}.json"

    def info(self, shard: int) -> dict:
        """The shard's record (``{}`` before it was ever submitted)."""
        try:
            info = json.loads(self.info_path(shard).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UnitscopeError(f"Shard record '{self.info_path(shard)}' could not be read ({_reason(exc)}); "
                                 f"remove it and unitscope submit {self.dir} runs the shard again.") from None
        if not isinstance(info, dict):
            raise UnitscopeError(f"Shard record '{self.info_path(shard)}' is not a record; remove it and "
                                 f"unitscope submit {self.dir} runs the shard again.")
        return info

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
                                finished=None, error=None, marker=None, chunks=None)


def job_kind_of(attrs: dict) -> str:
    """The kind of the job a store's attrs describe (``summaries`` when they do not say)."""
    job = attrs.get("job")
    kind = job.get("job") if isinstance(job, dict) else None
    kind = kind.get("kind") if isinstance(kind, dict) else None
    return kind if isinstance(kind, str) else "summaries"


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder``, as sorted paths relative to it (none when it is not there)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def file_sums(root: Path, keys) -> dict:
    """``key -> [size, mtime_ns, sha256]`` of the files ``root/key`` (None: no such file)."""
    sums = {}
    for key in keys:
        path = root / key
        try:
            stat = path.stat()
        except FileNotFoundError:
            sums[key] = None
            continue
        sums[key] = [stat.st_size, stat.st_mtime_ns, _sha256(path)]
    return sums


def changed_files(root: Path, recorded: dict, full: bool = False) -> str:
    """What differs between the files under ``root`` and ``recorded`` (:func:`file_sums`), in
    words ("" when nothing does).  ``full``: hash every file; else only those whose size or
    time changed (a rewrite changes the time)."""
    missing, changed = [], []
    for key, entry in recorded.items():
        path = root / key
        try:
            stat = path.stat()
        except FileNotFoundError:
            if entry is not None:
                missing.append(key)
            continue
        if entry is None:
            changed.append(key)
        elif stat.st_size != entry[0]:
            changed.append(key)
        elif (full or stat.st_mtime_ns != entry[1]) and _sha256(path) != entry[2]:
            changed.append(key)
    parts = []
    for word, keys in (("missing", missing), ("changed", changed)):
        if keys:
            listed = ", ".join(f"{STORE}/{k}" for k in keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3
                                                                   else "")
            parts.append(f"chunk(s) {listed} {word}")
    return "; ".join(parts)


@contextmanager
def submitting(job_dir: str | Path) -> Iterator[None]:
    """Hold the job folder for one submitter (made if need be): a second one at the same time is
    refused in one line, so two never make one store or submit one shard twice.  The lock is
    the system's (``lockf``), released when the process ends however it ends."""
    import fcntl

    job_dir = Path(job_dir)
    made = not job_dir.exists()
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(job_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UnitscopeError(f"'{job_dir}' cannot hold a job: {_reason(exc)}.") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            # a file system without locks (NFS without lockd) goes on: making the store is still exclusive
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                made = False  # the other submitter's folder
                raise UnitscopeError(f"'{job_dir}' is in use: another unitscope submit is submitting its shards "
                                     f"now; see unitscope status {job_dir} when it is done.") from None
        yield
    finally:
        if made and job_dir.is_dir() and os.listdir(job_dir) == [LOCK]:  # a refused new job leaves no folder
            (job_dir / LOCK).unlink(missing_ok=True)
            try:
                job_dir.rmdir()
            except OSError:
                pass
        os.close(fd)


def stimuli_hash(names: list[str]) -> str:
    """SHA-256 of a stimulus list (names joined by newlines): the same list, the same hash."""
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    """An exception in a few words, on one line."""
    text = " ".join(str(exc).split())
    return (text[:160] + "…" if len(text) > 160 else text) or type(exc).__name__


def _zarr():
    try:
        import zarr
    except ImportError:
        raise UnitscopeError("Sharded jobs need the zarr package (3.x, Python 3.11 or newer): "
                             "pip install 'zarr>=3'.") from None
    return zarr
