"""SHA-256 of files (torch-free: jobs and sessions check weights files with it)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a regular file as 64 lower-case hex digits, read in chunks.

    Raises
    ------
    OSError
        The file cannot be read, or is not a regular file (a FIFO or ``/dev/zero`` would
        never end): ``strerror`` says which.
    """
    from engine.files.reading import _kind

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {_kind(mode)}, not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
