"""Reading the files a person names: regular files only, never more than a size limit (torch-free).

A named pipe, ``/dev/zero``, a terminal or a folder given where a file is expected would
make a plain ``open().read()`` wait for ever or read without end; here it is refused with
one line before anything is read.  The file is opened without blocking (a FIFO with no
writer does not hold the open), checked with ``fstat`` on the open descriptor (no race
with a file swapped in between), and read only up to ``limit`` bytes.  JSON nested too
deep to parse is one line too, not a ``RecursionError``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

from engine.errors import UnitscopeError

#: The most a JSON file (a job, a session, a sidecar) may hold.
JSON_LIMIT = 64 * 2**20
#: The most a result (``.npz``) read back as a job may hold.
RESULT_LIMIT = 64 * 2**30
#: The most a file read whole into memory may hold unless the caller names another limit.
DEFAULT_LIMIT = 256 * 2**20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_text(n: int) -> str:
    """``n`` bytes as a short size: ``512 bytes``, ``3.2 MiB``, ``1.5 GiB``."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


def open_regular(path: str | Path, what: str = "File", limit: int | None = None) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file of at most ``limit`` bytes.

    Raises
    ------
    UnitscopeError
        ``{what} 'path' ...``: it does not exist, cannot be read, is a FIFO, device or
        folder, or is larger than ``limit``.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnitscopeError(f"{what} '{path}' does not exist.") from None
    except IsADirectoryError:
        raise UnitscopeError(f"{what} '{path}' is a folder, not a file.") from None
    except OSError as exc:
        raise UnitscopeError(f"{what} '{path}' could not be read: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnitscopeError(f"{what} '{path}' is {_kind(info.st_mode)}, not a file; only regular files are read.")
        if limit is not None and info.st_size > limit:
            raise UnitscopeError(f"{what} '{path}' is {size_text(info.st_size)}, more than the "
                                 f"{size_text(limit)} such a file may hold.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path, what: str = "File", limit: int | None = None) -> int:
    """Refuse ``path`` unless it is a regular file of at most ``limit`` bytes; return its size."""
    with open_regular(path, what, limit) as fh:
        return os.fstat(fh.fileno()).st_size


def read_bytes(path: str | Path, what: str = "File", limit: int = DEFAULT_LIMIT) -> bytes:
    """The bytes of regular file ``path`` (at most ``limit``; see :func:`open_regular`)."""
    with open_regular(path, what, limit) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise UnitscopeError(f"{what} '{path}' is more than the {size_text(limit)} such a file may hold.")
    return data


def read_text(path: str | Path, what: str = "File", limit: int = DEFAULT_LIMIT) -> str:
    """The UTF-8 text of regular file ``path``."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnitscopeError(f"{what} '{Path(path).name}' is not UTF-8 text: {exc.reason} at byte {exc.start}.") \
            from None


def parse_json(text: str | bytes, what: str):
    """``text`` parsed as JSON; anything wrong (syntax, nesting too deep) is one line naming ``what``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnitscopeError(f"{what} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise UnitscopeError(f"{what} is not valid JSON: it is nested too deeply.") from None
    except UnicodeDecodeError as exc:
        raise UnitscopeError(f"{what} is not UTF-8 text: {exc.reason} at byte {exc.start}.") from None
    except (TypeError, ValueError) as exc:
        raise UnitscopeError(f"{what} is not valid JSON: {exc}.") from None


def read_json(path: str | Path, what: str = "File", limit: int = JSON_LIMIT):
    """The JSON value in regular file ``path`` (at most ``limit`` bytes)."""
    return parse_json(read_text(path, what, limit), f"{what} '{Path(path).name}'")
