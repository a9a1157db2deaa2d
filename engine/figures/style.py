"""Figure options a journal asks for, and the matplotlib settings that honour them.

Text stays text (``pdf.fonttype`` 42: TrueType, editable in Illustrator and Inkscape;
SVG text as ``<text>`` elements), images are embedded at their native resolution without
resampling or JPEG, and files carry no date, version or random id, so the same data and
options give the same bytes in every process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UnitscopeError

MM_PER_INCH = 25.4
#: Column widths journals ask for (Nature, Cell, J Neurosci: 85-89, ~120, 174-183 mm).
WIDTH_PRESETS = {"single column (85 mm)": 85.0, "1.5 columns (120 mm)": 120.0, "double column (180 mm)": 180.0}
FORMATS = ("pdf", "svg", "png", "tiff")
FONT_FAMILIES = ("DejaVu Sans", "Arial", "Helvetica", "Liberation Sans", "DejaVu Serif")
PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SCALES = ("channel", "shared")
#: Colour maps offered for maps and matrices (perceptually uniform, print in grey).
COLORMAPS = ("viridis", "magma", "gray", "RdBu_r", "coolwarm")
ACCENT = "#d62728"  # receptive-field boxes and preferred-orientation markers
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class FigureOptions:
    """How a figure is drawn; saved in its sidecar so it can be drawn again.

    Attributes
    ----------
    width_mm : float
        Physical width of the figure (the PDF's MediaBox, the SVG's ``width``).
    font_family, font_size
        Text; 7 pt is what most journals ask for.
    dpi : int
        Pixels per inch of PNG and TIFF files (vector files embed images natively).
    panel_letters : bool
        Letter panels a, b, c ... when a figure has several.
    cmap : str
        Colour map of maps and matrices (a diverging map centres signed data on zero).
    scale : {"channel", "shared"}
        Mosaic: every channel stretched to its own range, or one range for all.
    channels : tuple of int
        Mosaic: the channels drawn (empty: all, or ``top_n``).
    top_n : int
        Mosaic: draw the ``top_n`` channels with the largest mean response (0: off).
    background : str
        Figure face colour; white by default (a light figure prints).
    """

    width_mm: float = 85.0
    font_family: str = "DejaVu Sans"
    font_size: float = 7.0
    dpi: int = 300
    panel_letters: bool = True
    cmap: str = "viridis"
    scale: str = "shared"
    channels: tuple[int, ...] = ()
    top_n: int = 0
    background: str = "white"

    def __post_init__(self):
        if not 20.0 <= float(self.width_mm) <= 500.0:
            raise UnitscopeError(f"Figure width {self.width_mm} mm is out of range (20 to 500 mm).")
        if not 4.0 <= float(self.font_size) <= 24.0:
            raise UnitscopeError(f"Font size {self.font_size} pt is out of range (4 to 24 pt).")
        if not 50 <= int(self.dpi) <= 2400:
            raise UnitscopeError(f"DPI {self.dpi} is out of range (50 to 2400).")
        if self.scale not in SCALES:
            raise UnitscopeError(f"Scale '{self.scale}' is not one of {', '.join(SCALES)}.")
        if int(self.top_n) < 0 or any(int(c) < 0 for c in self.channels):
            raise UnitscopeError("Channels and --top must be 0 or more.")

    @property
    def width_in(self) -> float:
        return float(self.width_mm) / MM_PER_INCH

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> FigureOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UnitscopeError(f"Unknown figure option(s): {', '.join(unknown)}.")
        data = dict(data)
        if "channels" in data:
            data["channels"] = tuple(int(c) for c in data["channels"])
        return cls(**data)


def figure_format(path: str | Path) -> str:
    """The file format ``path`` names (pdf, svg, png, tiff), or a clear error."""
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"tif": "tiff"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise UnitscopeError(f"Figure '{path}' must end in one of .pdf, .svg, .png, .tif/.tiff, "
                             f"not '{Path(path).suffix or 'nothing'}'.")
    return suffix


def rc_params(options: FigureOptions) -> dict:
    """matplotlib settings for ``options`` (used in an ``rc_context`` around drawing and saving)."""
    family = options.font_family
    return {
        "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "unitscope",
        "svg.image_inline": True, "pdf.compression": 6,
        "font.family": "sans-serif" if "Serif" not in family else "serif",
        "font.sans-serif": [family, "DejaVu Sans"], "font.serif": [family, "DejaVu Serif"],
        "font.size": options.font_size, "axes.titlesize": options.font_size,
        "axes.labelsize": options.font_size, "xtick.labelsize": options.font_size - 1,
        "ytick.labelsize": options.font_size - 1, "legend.fontsize": options.font_size - 1,
        "figure.titlesize": options.font_size + 1, "axes.titleweight": "normal",
        "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
        "xtick.major.size": 2.5, "ytick.major.size": 2.5, "lines.linewidth": 1.0, "lines.markersize": 3,
        "axes.spines.top": False, "axes.spines.right": False,
        "figure.facecolor": options.background, "axes.facecolor": options.background,
        "savefig.facecolor": options.background, "image.interpolation": "none",
        "image.resample": False, "legend.frameon": False, "axes.unicode_minus": True,
        "figure.constrained_layout.h_pad": 0.02, "figure.constrained_layout.w_pad": 0.02,
        "path.simplify": False,
    }


#: File metadata without dates, versions or ids: the same figure gives the same bytes.
METADATA = {
    "pdf": {"Creator": "Unitscope", "Producer": None, "CreationDate": None, "ModDate": None},
    "svg": {"Creator": "Unitscope", "Date": None, "Format": None, "Type": None},
    "png": {"Software": "Unitscope"},
    "tiff": None,
}


NARROW_MM = 120.0  # below this width, side-by-side panels are stacked


def panel_letter(ax, index: int, options: FigureOptions) -> None:
    """Put the letter of panel ``index`` (a, b, ...) at the top left of ``ax``, outside it."""
    if options.panel_letters:  # above the axes' top-left corner, left of any centred title
        ax.annotate(PANEL_LETTERS[index % 26], (0, 1), xycoords="axes fraction", xytext=(-2, 2),
                    textcoords="offset points", ha="right", va="bottom", fontweight="bold",
                    fontsize=options.font_size + 1)


def fmt(value: float) -> str:
    """A number as a tick label or caption shows it: 3 significant digits, true minus sign."""
    text = f"{float(value):.3g}"
    return text.replace("-", "\u2212")


def wrap(text: str, options: FigureOptions, share: float = 1.0) -> str:
    """``text`` broken into lines that fit ``share`` of the figure's width at the font size."""
    import textwrap

    chars = max(20, int(options.width_in * share * 72 / (options.font_size * 0.56)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def parse_channels(text: str) -> tuple[int, ...]:
    """Channels written as ``3,7,12``, ``0-15`` or a mix, as numbers (raises UnitscopeError)."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                out += range(int(a), int(b) + 1)
            elif part:
                out.append(int(part))
    except ValueError:
        raise UnitscopeError(f"'{text}' is not a channel list (e.g. 0,3,7 or 0-15).") from None
    if any(c < 0 for c in out):
        raise UnitscopeError(f"'{text}': channel numbers are 0 or more.")
    return tuple(out)
