"""Writing a file atomically: all of it appears, or nothing changes (torch-free).

The content goes to a hidden temporary file in the target folder, is flushed to disk
and moved over the target with ``os.replace``, so a crash, a full disk or a read-only
folder never leaves a half-written file or damages an earlier one.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".us-"
"""Start of the hidden temporary file's name (then 8 random characters and the suffix)."""

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (is the folder read-only?)",
    errno.EPERM: "permission denied (is the folder read-only?)",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "part of the folder path is a file, not a folder",
}


def _reason(exc: BaseException) -> str:
    """One line saying why an operation failed, in the user's terms."""
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = str(exc).strip()
    if "No space left on device" in text:  # h5py reports ENOSPC only in its message
        return _REASONS[errno.ENOSPC]
    return text.splitlines()[0] if text else type(exc).__name__


def _remove_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_path(path: str | Path, directory: bool = False) -> None:
    flags = os.O_RDONLY if directory else os.O_RDWR
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_file_mode(target: Path) -> int:
    """Permission bits the final file should have (mkstemp creates files as 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        pass
    try:  # reading the umask from /proc avoids os.umask's set-and-restore race
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, write_fn: Callable[[Path], Any]) -> Path:
    """Write a file atomically: all of it appears at ``path``, or nothing changes.

    Parameters
    ----------
    path : str or Path
        The file to create or replace.
    write_fn : callable
        Called with the path of a temporary file in the same folder, named
        ``.us-XXXXXXXX`` plus the suffix of ``path`` exactly as given (case kept); it
        must write the whole content there and close the file.  Write through an open
        file where a library would otherwise change the name (``np.save`` appends
        ``.npy`` to a name not ending in lower-case ``.npy``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UnitscopeError
        ``Could not save 'name': reason`` when the folder is missing or read-only, the
        disk is full, or ``write_fn`` fails.  The temporary file is removed and an
        existing file at ``path`` is left as it was.
    """
    path = Path(path)
    try:
        # A short name whatever the target's length (a 250-character name still fits the
        # file system's 255), ending in the target's own suffix.
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_fn(tmp)
        _fsync_path(tmp)
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, UnitscopeError) or not isinstance(exc, Exception):
            raise
        raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc
    if os.name == "posix":
        try:  # make the rename itself durable; not possible on every file system
            _fsync_path(path.parent, directory=True)
        except OSError:
            log.debug("could not fsync folder %s", path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
