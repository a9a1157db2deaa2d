"""The colormaps Unitscope offers, as 256-entry uint8 lookup tables.

All maps come with pyqtgraph (no matplotlib needed).  Sequential maps suit activations
that are mostly of one sign (after a ReLU); diverging maps suit signed values and are
always drawn with a symmetric range, so that zero falls on the middle entry of the
table (index 128, see :mod:`engine.recording.mosaic`).
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg

SEQUENTIAL: tuple[str, ...] = ("viridis", "inferno", "magma", "plasma", "cividis", "gray")
DIVERGING: tuple[str, ...] = ("CET-D1", "CET-D3")
NAMES: tuple[str, ...] = SEQUENTIAL + DIVERGING
"""Every name offered to the user, sequential first."""

DEFAULT = "viridis"
DEFAULT_DIVERGING = "CET-D1"

# Names the user sees for names that mean little to them.
LABELS = {"CET-D1": "blue-white-red (diverging)", "CET-D3": "green-white-red (diverging)",
          "gray": "gray"}

# pyqtgraph names for our aliases: CET-L1 is a perceptually linear black-to-white.
_ALIASES = {"gray": "CET-L1", "grey": "CET-L1"}


def canonical(name: str) -> str:
    """The offered name for ``name`` (``"grey"`` becomes ``"gray"``).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`NAMES` (or an alias of one).
    """
    name = "gray" if name == "grey" else name
    if name not in NAMES:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(NAMES)}")
    return name


def label(name: str) -> str:
    """The text shown for ``name`` in a colormap menu."""
    return LABELS.get(name, name)


def is_diverging(name: str) -> bool:
    """Whether ``name`` is a diverging map (drawn with a range symmetric about zero)."""
    return canonical(name) in DIVERGING


@functools.lru_cache(maxsize=None)
def lut(name: str) -> np.ndarray:
    """The lookup table of colormap ``name``.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` (or ``"grey"``).

    Returns
    -------
    ndarray of uint8, shape (256, 3)
        Read-only (the result is cached and shared); entry ``i`` is the colour of
        mosaic value ``i``.
    """
    name = canonical(name)
    cmap = pg.colormap.get(_ALIASES.get(name, name))
    table = np.ascontiguousarray(cmap.getLookupTable(nPts=256, alpha=False, mode="byte"),
                                 dtype=np.uint8)
    table.flags.writeable = False
    return table
