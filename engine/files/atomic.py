"""Writing files atomically: all of them appear, or nothing changes (torch-free).

The content goes to hidden temporary files in the target folder, is flushed to disk and
moved over the targets with ``os.replace`` only once every file of the set is written, so
a crash, a full disk or a read-only folder never leaves a half-written file, damages an
earlier one, or pairs a new data file with an old sidecar.  SIGINT and SIGTERM that
arrive while a set is written are held until its files are complete, then end the
program (exit status 130/143) without replacing anything; temporary files that a killed
process left behind (``kill -9``) are removed the next time a file is written there.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".us-"
"""Start of a hidden temporary file's name: then ``PID-HOST-`` (the writing process and a
4-digit tag of its host), 8 random characters and the target's suffix."""
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-([0-9a-f]{4})-")

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (is the folder read-only?)",
    errno.EPERM: "permission denied (is the folder read-only?)",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "part of the folder path is a file, not a folder",
}


_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _reason(exc: BaseException) -> str:
    """One line saying why an operation failed, in the user's terms."""
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = str(exc).strip()
    if "No space left on device" in text:  # h5py reports ENOSPC only in its message
        return _REASONS[errno.ENOSPC]
    if _SHORT_WRITE.search(text):  # numpy's tofile: "N requested and M written" when the disk fills
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


def _umask() -> int:
    try:  # reading the umask from /proc avoids os.umask's set-and-restore race
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(target: Path) -> int:
    """Permission bits the final file should have (mkstemp creates files as 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _prefix() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{_HOST}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove temporary files and folders that a dead process of this host left in ``folder``.

    Temporaries of live processes, and of other hosts (a shared file system), are kept.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match or match.group(2) != _HOST or _alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
            log.info("removed %s, left by an interrupted save", entry.path)
        except OSError:
            log.debug("could not remove stale temporary %s", entry.path)
    return removed


class _Signals:
    """SIGINT/SIGTERM seen while a set of files was being written."""

    def __init__(self):
        self.received: int | None = None

    def hold(self, signum, frame) -> None:
        self.received = self.received or signum


@contextmanager
def _signals_held() -> Iterator[_Signals]:
    """Hold SIGINT and SIGTERM (main thread only) so a write is never torn by them."""
    seen = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, seen.hold)
        except (ValueError, OSError):
            pass
    try:
        yield seen
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupted(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(128 + signum)


def _new_temp(path: Path, folder: bool) -> Path:
    try:
        if folder:
            return Path(tempfile.mkdtemp(prefix=_prefix(), dir=path.parent))
        fd, name = tempfile.mkstemp(prefix=_prefix(), suffix=path.suffix, dir=path.parent)
        os.close(fd)
        return Path(name)
    except OSError as exc:
        raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc


def _discard(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        _remove_quietly(tmp)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            _fsync_path(Path(root) / name)


def atomic_write_all(files: Mapping[str | Path, Callable[[Path], Any]],
                     folders: Mapping[str | Path, Callable[[Path], Any]] | None = None) -> list[Path]:
    """Write a set of files (and folders) as one: all of them are replaced, or none.

    Parameters
    ----------
    files : mapping of path to callable
        Each callable gets the path of a temporary file in the target's folder (see
        :func:`atomic_write`) and writes the whole content there.
    folders : mapping of path to callable, optional
        Each callable gets an empty temporary folder and fills it; it then replaces the
        folder at the path (an earlier folder there and everything in it is removed), so
        files of an earlier run never mix with this one's.

    Returns
    -------
    list of Path
        The targets, files first.

    Raises
    ------
    UnitscopeError
        ``Could not save 'name': reason`` when any part cannot be written; then no target
        has changed and every temporary is gone.
    """
    targets = [(Path(p), fn, False) for p, fn in files.items()]
    targets += [(Path(p), fn, True) for p, fn in (folders or {}).items()]
    for path, _, folder in targets:
        if not folder and path.is_dir():
            raise UnitscopeError(f"Could not save '{path.name}': a folder of that name is in the way.")
    for parent in {path.parent for path, _, _ in targets}:
        remove_stale_temporaries(parent)
    written: list[tuple[Path, Path, bool]] = []
    created: list[Path] = []
    with _signals_held() as signals:
        try:
            for path, write_fn, folder in targets:
                tmp = _new_temp(path, folder)
                written.append((tmp, path, folder))
                try:
                    write_fn(tmp)
                    if folder:
                        _fsync_tree(tmp)
                        os.chmod(tmp, 0o777 & ~_umask())
                    else:
                        _fsync_path(tmp)
                        os.chmod(tmp, _new_file_mode(path))
                except BaseException as exc:
                    if isinstance(exc, UnitscopeError) or not isinstance(exc, Exception):
                        raise
                    raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc
                if signals.received:
                    raise _interrupted(signals.received)
            for tmp, path, folder in written:
                if _place(tmp, path, folder):
                    created.append(path)
        except BaseException:
            for tmp, _path, _folder in written:
                if tmp.exists():
                    _discard(tmp)
            for path in created:  # new under new_outputs_only: the set is all or nothing
                _discard(path)
                claimed = _NEW_ONLY.get()
                if claimed is not None:
                    claimed.discard(Path(os.path.abspath(path)))
            raise
    if os.name == "posix":
        for parent in {path.parent for path, _, _ in targets}:
            try:  # make the renames themselves durable; not possible on every file system
                _fsync_path(parent, directory=True)
            except OSError:
                log.debug("could not fsync folder %s", parent)
    if signals.received:  # arrived after the last file was complete: the set is saved
        raise _interrupted(signals.received)
    return [path for path, _, _ in targets]


# --- creating outputs exclusively -------------------------------------------------------------

#: None: targets are replaced; a set: targets must be new (``--force`` not given), except those this
#: command has created itself (held per context, so a thread or another command is not affected).
_NEW_ONLY: contextvars.ContextVar[set | None] = contextvars.ContextVar("unitscope_new_outputs_only", default=None)
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


@contextmanager
def new_outputs_only() -> Iterator[None]:
    """Within this block no existing file or folder is replaced: each target is moved into place
    with a rename that fails if the name exists (``renameat2(RENAME_NOREPLACE)``, or a hard link
    for a file where that is missing), so of two commands started together writing the same
    output exactly one wins and the other says the file exists.  A target this block has
    created itself may be written again (a command that saves its output more than once)."""
    token = _NEW_ONLY.set(set())
    try:
        yield
    finally:
        _NEW_ONLY.reset(token)


def _renameat2():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2() if os.name == "posix" else None


def _rename_new(tmp: Path, path: Path, folder: bool) -> None:
    """Move ``tmp`` to ``path`` only if nothing is there; FileExistsError otherwise."""
    import ctypes

    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(path))
    if folder:  # no atomic way left: the check and the rename are a moment apart
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        os.rename(tmp, path)
        return
    os.link(tmp, path)  # fails with EEXIST if the name exists
    os.unlink(tmp)


def _place(tmp: Path, path: Path, folder: bool) -> bool:
    """Move ``tmp`` to ``path`` as this context allows; True when ``path`` was created new
    under :func:`new_outputs_only` (so a failure later in the set removes it again)."""
    claimed = _NEW_ONLY.get()
    key = Path(os.path.abspath(path))
    if claimed is None or key in claimed:
        _replace(tmp, path, folder)
        return False
    try:
        _rename_new(tmp, path, folder)
    except FileExistsError:
        raise UnitscopeError(f"'{path}' already exists (another process has just written it); pass --force to "
                             "replace, or choose another --out.") from None
    except OSError as exc:
        raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc
    claimed.add(key)
    return True


def place_file(tmp: str | Path, path: str | Path) -> Path:
    """Move a finished temporary file (from :func:`temporary_for`) to ``path``: replacing it, or,
    under :func:`new_outputs_only`, only if ``path`` does not exist."""
    _place(Path(tmp), Path(path), False)
    return Path(path)


def temporary_for(path: str | Path) -> Path:
    """A new, empty hidden temporary file next to ``path`` (named as :data:`TEMP_PREFIX` says, so
    one a killed process left behind is removed the next time a file is written there)."""
    path = Path(path)
    remove_stale_temporaries(path.parent)
    return _new_temp(path, False)


def _replace(tmp: Path, path: Path, folder: bool) -> None:
    try:
        if not folder or not path.exists():
            os.replace(tmp, path)
            return
        if not path.is_dir() or path.is_symlink():
            raise UnitscopeError(f"Could not save '{path.name}': it exists and is not a folder.")
        old = Path(tempfile.mkdtemp(prefix=_prefix(), dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise UnitscopeError(f"Could not save '{path.name}': {_reason(exc)}.") from exc


def atomic_write(path: str | Path, write_fn: Callable[[Path], Any]) -> Path:
    """Write a file atomically: all of it appears at ``path``, or nothing changes.

    Parameters
    ----------
    path : str or Path
        The file to create or replace.
    write_fn : callable
        Called with the path of a temporary file in the same folder, named
        ``.us-PID-HOST-XXXXXXXX`` plus the suffix of ``path`` exactly as given (case
        kept); it must write the whole content there and close the file.  Write through
        an open file where a library would otherwise change the name (``np.save`` appends
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
    return atomic_write_all({path: write_fn})[0]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
