"""Files shipped with Unitscope (sample photographs, licences); no Qt, no torch here."""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path

_SAMPLE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def samples_dir() -> Path:
    """Folder holding the bundled sample photographs.

    Returns
    -------
    Path
        ``resources/samples`` in the source tree or in the installed package.
    """
    root = _resources.files(__name__)
    # Installed from a wheel or a source tree, the package is a real folder; the
    # fallback covers a Traversable that is not a filesystem path.
    if isinstance(root, Path):
        return root / "samples"
    return Path(__file__).resolve().parent / "samples"


def sample_images() -> list[Path]:
    """The bundled sample photographs, sorted by name.

    Returns
    -------
    list of Path
        Image files in :func:`samples_dir` (empty if the folder is missing).
    """
    folder = samples_dir()
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SAMPLE_SUFFIXES
    )
