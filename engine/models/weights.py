"""Pretrained weights on an offline machine: what the torch hub cache holds, and importing files.

torchvision names every weights file ``<name>-<hash prefix>.pth``, where the prefix is the
start of the file's SHA-256 (``resnet101-63fe2227.pth``).  ``torch.hub`` finds the prefix
with ``HASH_REGEX`` and, after a download, refuses a file whose hash does not start with
it.  A file brought on a drive is never downloaded, so :func:`import_file` does the same
check before it copies the file into the cache under the name torchvision looks for.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torchvision

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write
from engine.files.hashing import sha256_of
from engine.models.zoo import (  # noqa: F401 - HASH_REGEX and file_problem are this module's API too
    HASH_REGEX,
    file_problem,
    hash_prefix,
    hub_checkpoint_dir,
    model_names,
    weights_file_name,
)

log = logging.getLogger(__name__)

_CHUNK = 4 * 2**20


@dataclass(frozen=True)
class WeightsEntry:
    """One torchvision weights entry of a model and the file it is stored in."""

    model: str
    entry_name: str  # e.g. "ResNet101_Weights.IMAGENET1K_V2"
    file_name: str  # e.g. "resnet101-cd907fc2.pth"
    is_default: bool  # the entry Unitscope loads for the model
    url: str = ""  # where torchvision would download it from (on a machine with a network)


@dataclass(frozen=True)
class WeightsRow:
    """A weights entry and whether its file is in the torch hub cache."""

    entry: WeightsEntry
    path: Path | None  # None when the file is not in the cache
    size: int | None  # bytes

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def state(self) -> str:
        """``found (44.7 MB)`` or ``random``: what the model runs with."""
        return f"found ({format_size(self.size)})" if self.found else "random"

    def as_dict(self) -> dict:
        return {
            "model": self.entry.model,
            "entry": self.entry.entry_name,
            "default": self.entry.is_default,
            "file_name": self.entry.file_name,
            "url": self.entry.url,
            "found": self.found,
            "path": str(self.path) if self.path else None,
            "size": self.size,
        }


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file given to :func:`import_files`."""

    source: Path
    action: str = ""  # "copied", "already in the cache", "replaced a damaged copy"; "" on error
    target: Path | None = None
    entries: tuple[WeightsEntry, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """One line for the user (the error itself when the file was refused)."""
        if not self.ok:
            return self.error
        text = f"'{self.source.name}': {self.action} as {self.target}"
        if self.entries:
            text += " for " + ", ".join(f"{e.model} ({e.entry_name})" for e in self.entries)
        unused = [e for e in self.entries if not e.is_default]
        if unused:
            text += (f"; note: Unitscope loads {default_entry(unused[0].model).entry_name} for "
                     f"{unused[0].model}, not this entry")
        return text


def format_size(size: int | None) -> str:
    """Bytes as a short decimal size: ``44.7 MB``."""
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # not reached


@lru_cache(maxsize=1)
def all_entries() -> tuple[WeightsEntry, ...]:
    """Every weights entry of every zoo model (not just the defaults), in zoo order."""
    entries = []
    for model in model_names():
        enum = torchvision.models.get_model_weights(model)
        for entry in enum:
            entries.append(WeightsEntry(model=model, entry_name=f"{enum.__name__}.{entry.name}",
                                        file_name=weights_file_name(entry),
                                        is_default=entry is enum.DEFAULT, url=entry.url))
    return tuple(entries)


def default_entry(model: str) -> WeightsEntry:
    """The entry Unitscope loads for a zoo model."""
    return next(e for e in all_entries() if e.model == model and e.is_default)


def list_weights(include_all_entries: bool = False) -> list[WeightsRow]:
    """Each zoo model's weights and whether their file is in the torch hub cache.

    Parameters
    ----------
    include_all_entries : bool
        Every weights entry of every model instead of only the one Unitscope loads.

    Returns
    -------
    list of WeightsRow
        In zoo order (by family, then name).
    """
    folder = hub_checkpoint_dir()
    rows = []
    for entry in all_entries():
        if not (entry.is_default or include_all_entries):
            continue
        path = folder / entry.file_name
        try:
            size = path.stat().st_size if path.is_file() else None
        except OSError:
            size = None
        rows.append(WeightsRow(entry=entry, path=path if size is not None else None, size=size))
    return rows


def cache_folder_problem() -> str | None:
    """Why the hub cache folder cannot be listed (None when it can, or does not exist)."""
    folder = hub_checkpoint_dir()
    try:
        if folder.is_dir():
            next(iter(folder.iterdir()), None)
    except OSError as exc:
        return f"the torch hub cache {folder} could not be read ({exc.strerror or exc})"
    return None


def cached_files() -> list[tuple[str, int]]:
    """Every file in the hub cache folder with its size, whether torchvision knows it or not.

    A folder or file that cannot be read is left out (see :func:`cache_folder_problem`).
    """
    folder = hub_checkpoint_dir()
    files = []
    try:
        if not folder.is_dir():
            return []
        for p in folder.iterdir():
            try:
                if p.is_file() and not p.name.startswith("."):
                    files.append((p.name, p.stat().st_size))
            except OSError as exc:
                log.warning("could not look at %s: %s", p, exc)
    except OSError as exc:
        log.warning("could not list %s: %s", folder, exc)
        return []
    return sorted(files)


def _entries_for(file_name: str) -> tuple[WeightsEntry, ...]:
    return tuple(e for e in all_entries() if e.file_name == file_name)


def _match(source: Path, sha: str) -> str:
    """The zoo file name a file must be stored under: by its own name, else by its hash."""
    if _entries_for(source.name):
        return source.name
    names = sorted({e.file_name for e in all_entries() if sha.startswith(hash_prefix(e.file_name) or "-")})
    if len(names) == 1:
        return names[0]
    if len(names) > 1:  # two 8-digit prefixes equal: not seen in torchvision, but say so
        raise UnitscopeError(f"'{source.name}': sha256 begins {sha[:8]}, which fits several weights "
                             f"files ({', '.join(names)}); import it under one of those names.")
    raise UnitscopeError(f"'{source.name}': matches no weights entry of torchvision {torchvision.__version__} "
                         f"(sha256 begins {sha[:8]}, a prefix no entry's file name carries); a "
                         f"state_dict of your own loads with --weights FILE instead.")


def check_hash(source: Path, sha: str, file_name: str) -> None:
    """Refuse ``source`` unless its SHA-256 starts with the prefix ``file_name`` carries."""
    prefix = hash_prefix(file_name)
    if prefix is None or sha.startswith(prefix):
        return
    message = (f"'{source.name}': sha256 begins {sha[:len(prefix) or 8]} but {file_name} "
               f"needs {prefix}")
    other = [n for n in {e.file_name for e in all_entries()} if sha.startswith(hash_prefix(n) or "-")]
    if other:
        message += f" (the file looks like {other[0]}; import it under that name or any other)"
    raise UnitscopeError(message + ".")


def import_file(source: str | Path, expected_name: str | None = None,
                cache_dir: str | Path | None = None) -> ImportResult:
    """Copy one weights file into the torch hub cache under the name torchvision expects.

    Parameters
    ----------
    source : str or Path
        The file, whatever it is called.
    expected_name : str, optional
        Store it under this name.  By default the name is the file's own, when that is a
        zoo weights file name, else the zoo file name whose hash prefix the file's SHA-256
        starts with.
    cache_dir : str or Path, optional
        The hub cache's ``checkpoints`` folder (default: :func:`engine.models.zoo.hub_checkpoint_dir`);
        created if missing.

    Returns
    -------
    ImportResult
        ``action`` says whether the file was copied or was already there.

    Raises
    ------
    UnitscopeError
        The file is missing or unreadable, its hash does not start with the prefix of the
        name it must have, it matches no weights entry, a different file with a correct
        hash already has that name, or the copy failed.  The message names the file.
    """
    source = Path(source)
    folder = Path(cache_dir) if cache_dir is not None else hub_checkpoint_dir()
    if not source.is_file():
        raise UnitscopeError(f"'{source}': no such file.")
    try:
        sha = sha256_of(source)
    except OSError as exc:
        raise UnitscopeError(f"'{source.name}': could not be read ({exc.strerror or exc}).") from exc
    name = expected_name or _match(source, sha)
    check_hash(source, sha, name)
    target = folder / name
    entries = _entries_for(name)

    action = "copied"
    if target.exists():
        if target.is_file() and target.stat().st_size == source.stat().st_size and sha256_of(target) == sha:
            log.info("%s is already in %s", name, folder)
            return ImportResult(source, "already in the cache", target, entries)
        old = sha256_of(target) if target.is_file() else ""
        prefix = hash_prefix(name)
        if prefix is None or old.startswith(prefix):
            # Two different files that both fit the name: keep the one already there.
            raise UnitscopeError(f"'{source.name}': a different {name} is already in {folder}; "
                                 f"remove it first if you mean to replace it.")
        # The cached copy does not fit its own name (a broken download): torchvision would
        # fail on it, so replacing it with a verified file loses nothing.
        log.warning("replacing damaged %s (sha256 begins %s)", target, old[:8])
        action = "replaced a damaged copy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnitscopeError(f"'{source.name}': could not create the torch hub cache folder "
                             f"{folder} ({exc.strerror or exc}).") from exc

    def copy_verified(tmp: Path) -> None:
        digest = hashlib.sha256()
        with open(source, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
        if digest.hexdigest() != sha:
            raise UnitscopeError(f"'{source.name}': the copy differs from the file read a moment "
                                 f"earlier (a failing drive?); nothing was imported.")

    atomic_write(target, copy_verified)
    log.info("imported %s as %s", source, target)
    return ImportResult(source, action, target, entries)


def import_files(sources: Iterable[str | Path], cache_dir: str | Path | None = None,
                 on_result: Callable[[ImportResult], None] | None = None) -> list[ImportResult]:
    """Import several files; a refused file is reported and the others still imported.

    Parameters
    ----------
    sources : iterable of str or Path
        Files, whatever they are called.
    cache_dir : str or Path, optional
        As for :func:`import_file`.
    on_result : callable, optional
        Called with each file's result as soon as it is known.

    Returns
    -------
    list of ImportResult
        One per file, in order; ``error`` holds the reason for a refused file.
    """
    results = []
    for source in sources:
        try:
            result = import_file(source, cache_dir=cache_dir)
        except UnitscopeError as exc:
            result = ImportResult(Path(source), error=str(exc))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
