"""Loading the user's photographs as RGB images, robustly, with Pillow.

Every image comes back as an 8-bit ``"RGB"`` :class:`PIL.Image.Image`, turned upright by
its EXIF orientation.  High bit-depth greyscale is rescaled (not clipped) to 8 bits, and
transparent pixels are composited onto mid-grey (``BACKGROUND``), the same grey as the
mean of the procedural stimuli in :mod:`engine.stimuli.procedural`, so a cut-out object sits on a
neutral field rather than on black or white.

Anything that goes wrong with one file (not an image, empty, truncated, a decompression
bomb, a symbolic link loop, not a regular file) raises :class:`~engine.errors.UnitscopeError`
with one line naming the file.  Only regular files are ever opened: a FIFO (named pipe),
socket or device named ``*.jpg`` is refused from its ``stat``, so it cannot hang a run.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
}
"""Suffixes (lower case, with the dot) that a folder walk keeps."""

BACKGROUND = (128, 128, 128)
"""Mid-grey that transparent pixels are composited onto."""

PathLike = str | os.PathLike


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_NOT_REGULAR = (
    (stat.S_ISDIR, "it is a folder, not a file"),
    (stat.S_ISFIFO, "it is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read as an image, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, reason in _NOT_REGULAR:
        if test(mode):
            return reason
    return "it is not a regular file"


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a failed read, without Pillow's repeated file path."""
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    if isinstance(exc, FileNotFoundError):
        return "the file does not exist"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow recognises"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    return _first_line(exc)


def _gray_to_uint8(img: Image.Image) -> np.ndarray:
    """8-bit grey levels from a 16-bit, 32-bit integer or float single-channel image.

    16-bit data (``"I;16*"``, and ``"I"`` whose values lie in 0..65535, which is how
    Pillow opens 16-bit PGM) map 0..65535 linearly onto 0..255.  Float data in [0, 1] or
    [0, 255] keep that range; anything else is stretched from its minimum to its maximum.
    """
    data = np.asarray(img).astype(np.float64)
    finite = data[np.isfinite(data)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        scaled = data * (255.0 / 65535.0)
    elif img.mode == "F" and lo >= 0 and hi <= 1:
        scaled = data * 255.0
    elif lo >= 0 and hi <= 255:
        scaled = data
    elif hi > lo:
        scaled = (data - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(data)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB (transparency composited onto ``BACKGROUND``)."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return Image.fromarray(_gray_to_uint8(img)).convert("RGB")
    if img.mode == "La":  # premultiplied alpha; Pillow converts it only via LA
        img = img.convert("LA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa") or img.has_transparency_data:
        rgba = img.convert("RGBA")
        field = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(field, rgba).convert("RGB")
    if img.mode == "RGB":
        return img.copy()
    return img.convert("RGB")


def load_image(path: PathLike) -> Image.Image:
    """Read one image file as an upright 8-bit RGB image.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.  Non-ASCII names and spaces are fine.

    Returns
    -------
    PIL.Image.Image
        A fully decoded ``"RGB"`` image, detached from the file, rotated/flipped by its
        EXIF orientation tag.  The first frame of animated or multi-page files is used.

    Raises
    ------
    UnitscopeError
        If the file is missing, empty, not an image, truncated or corrupt, or larger than
        ``PIL.Image.MAX_IMAGE_PIXELS`` (a possible decompression bomb).

    Notes
    -----
    The decompression-bomb warning is turned into an error with
    :func:`warnings.catch_warnings`, which changes process-wide warning state while the
    file is read; other warnings Pillow raises while reading are logged, not raised.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        # stat before opening: opening a FIFO blocks until a writer comes, for ever.
        not_regular = _not_regular(os.stat(path).st_mode)
        if not_regular:
            raise UnitscopeError(f"Image '{name}' could not be read: {not_regular}.")
        # Non-blocking, and checked again on the open file, in case it changed since.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            not_regular = _not_regular(info.st_mode)
            if not_regular:
                raise UnitscopeError(f"Image '{name}' could not be read: {not_regular}.")
            if info.st_size == 0:
                raise UnitscopeError(f"Image '{name}' could not be read: the file is empty.")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(fh) as img:
                    img.load()  # decode now, so truncated or corrupt data fails here
                    upright = ImageOps.exif_transpose(img)
                    rgb = _to_rgb(upright)
        for warning in caught:
            log.warning("Image '%s': %s", name, warning.message)
    except UnitscopeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)):,} pixels" if found else "it"
        raise UnitscopeError(
            f"Image '{name}' was refused: {count} exceeds the pixel limit of "
            f"{Image.MAX_IMAGE_PIXELS:,} (a possible decompression bomb)."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem
        reason = _reason(exc).rstrip(".")
        raise UnitscopeError(f"Image '{name}' could not be read: {reason}.") from None
    return rgb


def _natural_key(text: str) -> list[object]:
    """Sort key that puts 'img2' before 'img10', ignores case and sorts 'ñ' next to 'n'."""
    text = unicodedata.normalize("NFKD", text).casefold()
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", text)]


def _walk(folder: Path) -> list[Path]:
    """Image files under a folder, recursively, in natural order; hidden entries skipped.

    Symbolic links to folders are not followed (``os.walk(followlinks=False)``), so a
    link loop (``folder/loop -> folder``) is never walked into.  Every entry with an image
    suffix is listed, symbolic links to files, link loops and FIFOs included; those that
    are not regular image files are refused by :func:`load_image`, one line each, which
    the commands report as skipped.
    """
    found = []

    def report(error: OSError) -> None:
        log.warning("Could not read folder '%s': %s", error.filename, error.strerror)

    for root, dirs, files in os.walk(folder, onerror=report, followlinks=False):
        # Hidden folders and files ('.git', macOS '._photo.jpg') are never the user's images.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            if not file.startswith(".") and Path(file).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(root) / file)
    return sorted(found, key=lambda p: [_natural_key(part) for part in p.relative_to(folder).parts])


def _missing(path: Path) -> str:
    """Why a path that is neither a folder nor an existing file cannot be used."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"Image path '{path}' is a symbolic link loop."
        if os.path.islink(path):
            return f"Image path '{path}' is a symbolic link to '{os.readlink(path)}', which does not exist."
    return f"Image path '{path}' does not exist."


def find_images(paths: PathLike | Iterable[PathLike], *, refuse_broken_links: bool = False) -> list[Path]:
    """Expand files and folders into a list of image files.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders.  Folders are walked recursively and keep only files whose
        suffix is in ``IMAGE_SUFFIXES`` (any case), in natural order, skipping hidden
        files and folders.  Files named explicitly are kept whatever their suffix, so
        :func:`load_image` can report them if they are not images.
    refuse_broken_links : bool
        A path given here that is a symbolic link loop or a link to nothing: with True
        (the commands, for the user's own ``--images``) an error saying so; with False
        (the default, for lists already expanded, such as a job's files) it is kept, like
        any named file, and :func:`load_image` reports it as unreadable.

    Returns
    -------
    list of Path
        Files in the order given (each folder's files in place of the folder), without
        duplicates.

    Raises
    ------
    UnitscopeError
        If a path does not exist, or (with ``refuse_broken_links``) is a symbolic link
        loop or a link to nothing.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(os.path.abspath(raw))  # jobs and provenance name files absolutely
        if path.is_dir():
            candidates = _walk(path)
        elif path.exists() or (os.path.islink(path) and not refuse_broken_links):
            candidates = [path]
        else:
            raise UnitscopeError(_missing(path))
        for candidate in candidates:
            key = Path(os.path.realpath(candidate))  # unlike Path.resolve, never raises on a loop
            if key not in seen:
                seen.add(key)
                result.append(candidate)
    return result


def load_images(
    paths: PathLike | Iterable[PathLike],
) -> Iterator[tuple[Path, Image.Image | None, str | None]]:
    """Load many images, going on past the ones that fail.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders, as for :func:`find_images`.  A missing path is reported as
        that path's error instead of stopping the others.

    Yields
    ------
    path : Path
        The file.
    image : PIL.Image.Image or None
        The RGB image, or None if it could not be read.
    error : str or None
        The one-line reason it could not be read, or None.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for raw in paths:
        path = Path(os.path.abspath(raw))  # jobs and provenance name files absolutely
        files = find_images([path]) if path.is_dir() else [path]
        for file in files:
            try:
                yield file, load_image(file), None
            except UnitscopeError as exc:
                log.info("%s", exc)
                yield file, None, str(exc)
