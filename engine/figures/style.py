"""Figure options a journal asks for, and the matplotlib settings that honour them.

Text stays text (``pdf.fonttype`` 42: TrueType, editable in Illustrator and Inkscape;
SVG text as ``<text>`` elements) in a TrueType face that is really there: Arial when
installed, else Liberation Sans or Nimbus Sans (their TrueType files), else DejaVu Sans,
and the sidecar names the face used; a font asked for by name that is missing, or only
an OpenType/CFF face, is an error.  Text has two sizes: ``font_size`` and ``small``
(``font_size - 1``, never under 5 pt).  Images are never JPEG and are repeated
nearest-neighbour to at least 300 pixels per inch at their printed size
(:func:`engine.figures.render.upsample_images`); files carry no date, version or random id,
so the same data and options give the same bytes in every process.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UnitscopeError

MM_PER_INCH = 25.4
#: Column widths journals ask for (Nature, Cell, J Neurosci: 85-89, ~120, 174-183 mm).
WIDTH_PRESETS = {"single column (85 mm)": 85.0, "1.5 columns (120 mm)": 120.0, "double column (180 mm)": 180.0}
FORMATS = ("pdf", "svg", "png", "tiff")
FONT_FAMILIES = ("Arial", "Liberation Sans", "Nimbus Sans", "Helvetica", "DejaVu Sans", "DejaVu Serif")
#: Faces tried, in order, when no font is named (the last ships with matplotlib).
DEFAULT_FONTS = ("Arial", "Liberation Sans", "Nimbus Sans", "DejaVu Sans")
MIN_FONT_PT = 5.0
MIN_PPI = 300
PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SCALES = ("channel", "shared")
#: Colour maps offered for maps and matrices (perceptually uniform, print in grey).
COLORMAPS = ("viridis", "magma", "gray", "RdBu_r", "coolwarm")
#: Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, vermilion, reddish purple,
#: sky blue, yellow, black) for lines and markers.
LINE_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
ACCENT = "#D55E00"  # receptive-field boxes and preferred-orientation markers (vermilion)
#: Colour maps that diverge from a centre: drawn with zero at the centre, whatever the data.
DIVERGING = tuple(n + r for n in ("RdBu", "coolwarm", "bwr", "seismic", "PiYG", "PRGn", "BrBG", "PuOr",
                                  "RdGy", "RdYlBu", "RdYlGn", "Spectral", "berlin", "managua", "vanimo")
                  for r in ("", "_r"))
SIGNED_CMAP = "RdBu_r"  # signed maps (ON - OFF, kernels, evidence) when --cmap is not diverging


#: What a tuning figure may report as orientation (see :class:`FigureOptions`).
ORIENTATIONS = ("grating", "bar")


@dataclass(frozen=True)
class FigureOptions:
    """How a figure is drawn; saved in its sidecar so it can be drawn again.

    Attributes
    ----------
    width_mm : float
        Physical width of the figure (the PDF's MediaBox, the SVG's ``width``).
    font_family, font_size
        Text; empty: the first of :data:`DEFAULT_FONTS` installed (the sidecar records which);
        7 pt is what most journals ask for, 5 pt the least any allows.
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
    deg_per_image : float
        The visual angle the whole input spans, in degrees (0: not given); scale bars then add degrees.
    orientation : {"grating", "bar"}
        The orientation a tuning figure reports: the direction the luminance varies (the stimuli's
        theta), or the bars' own orientation, theta + 90 degrees, as many papers report it.
    """

    width_mm: float = 85.0
    font_family: str = ""
    font_size: float = 7.0
    dpi: int = 300
    panel_letters: bool = True
    cmap: str = "viridis"
    scale: str = "shared"
    channels: tuple[int, ...] = ()
    top_n: int = 0
    background: str = "white"
    deg_per_image: float = 0.0
    orientation: str = "grating"

    def __post_init__(self):
        if not 20.0 <= float(self.width_mm) <= 500.0:
            raise UnitscopeError(f"Figure width {self.width_mm} mm is out of range (20 to 500 mm).")
        if not MIN_FONT_PT <= float(self.font_size) <= 24.0:
            raise UnitscopeError(f"Font size {self.font_size} pt is out of range ({MIN_FONT_PT:g} to 24 pt).")
        if not 50 <= int(self.dpi) <= 2400:
            raise UnitscopeError(f"DPI {self.dpi} is out of range (50 to 2400).")
        if self.scale not in SCALES:
            raise UnitscopeError(f"Scale '{self.scale}' is not one of {', '.join(SCALES)}.")
        if self.orientation not in ORIENTATIONS:
            raise UnitscopeError(f"Orientation '{self.orientation}' is not one of {', '.join(ORIENTATIONS)} "
                                 "(grating: the direction luminance varies; bar: the bars' own, 90\u00b0 more).")
        if not (0.0 <= float(self.deg_per_image) <= 360.0):
            raise UnitscopeError(f"Visual angle {self.deg_per_image}\u00b0 per image is out of range (0 to 360).")
        if int(self.top_n) < 0 or any(int(c) < 0 for c in self.channels):
            raise UnitscopeError("Channels and --top must be 0 or more.")

    @property
    def small(self) -> float:
        """The second text size: ticks, legends, annotations (one point under ``font_size``, at least 5 pt)."""
        return max(MIN_FONT_PT, float(self.font_size) - 1.0)

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


def _is_truetype(path: str) -> bool:
    """Whether a font file holds TrueType outlines (not an OpenType/CFF face: ``OTTO``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in (b"\x00\x01\x00\x00", b"true", b"ttcf")


@functools.lru_cache(maxsize=None)
def font_file(family: str) -> str | None:
    """The TrueType file of ``family`` (regular weight), or None when it is not installed as TrueType.

    Fonts installed after matplotlib built its font cache are found too (the system's
    TrueType files are added once)."""
    from matplotlib import font_manager

    def lookup() -> str | None:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            return None
        entry = next((f for f in font_manager.fontManager.ttflist if f.fname == path), None)
        return path if entry is not None and entry.name.lower() == family.lower() else None

    path = lookup()
    if path is None and not _system_fonts_added():
        path = lookup()
    if path is None:
        return None
    if not _is_truetype(path):
        for entry in font_manager.fontManager.ttflist:  # a TrueType file of the same family, if any
            if entry.name.lower() == family.lower() and _is_truetype(entry.fname):
                return entry.fname
        return None
    return path


@functools.lru_cache(maxsize=1)
def _system_fonts_added() -> bool:
    """Add the system's TrueType files matplotlib's cache does not know; False the first time."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts(fontext="ttf"):
        if path not in known and path.lower().endswith(".ttf"):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return False


def resolve_font(family: str = "") -> str:
    """The face a figure is set in: ``family`` when installed as TrueType (else a clear error),
    or, for ``""``, the first of :data:`DEFAULT_FONTS` that is."""
    if family:
        if font_file(family) is None:
            raise UnitscopeError(f"Font '{family}' is not installed as a TrueType face (an OpenType/CFF face "
                                 "cannot be embedded as TrueType); install it or choose another with --font.")
        return family
    return next(f for f in DEFAULT_FONTS if font_file(f) is not None or f == "DejaVu Sans")


def resolved(options: FigureOptions) -> FigureOptions:
    """``options`` with its font named: what the sidecar records."""
    family = resolve_font(options.font_family)
    return options if family == options.font_family else dataclasses.replace(options, font_family=family)


def rc_params(options: FigureOptions) -> dict:
    """matplotlib settings for ``options`` (used in an ``rc_context`` around drawing and saving)."""
    family = resolve_font(options.font_family)
    small = options.small
    return {
        "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "unitscope",
        "svg.image_inline": True, "pdf.compression": 6,
        "font.family": "sans-serif" if "Serif" not in family else "serif",
        "font.sans-serif": [family, "DejaVu Sans"], "font.serif": [family, "DejaVu Serif"],
        "font.size": options.font_size, "axes.titlesize": options.font_size,
        "axes.labelsize": options.font_size, "xtick.labelsize": small,
        "ytick.labelsize": small, "legend.fontsize": small,
        "figure.titlesize": options.font_size, "axes.titleweight": "normal",
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
    """Mark ``ax`` as panel ``index`` (a, b, ...); :func:`place_panel_letters` puts the letters,
    after the layout, at one height per row of panels."""
    if options.panel_letters:
        ax._unitscope_panel = index
        if not ax.get_title():
            ax.set_title(" ")  # a title line's height above the axes, where the letter goes


#: The least space between a panel letter and its panel's title (points).
LETTER_GAP_PT = 3.0


def place_panel_letters(fig, options: FigureOptions) -> None:
    """Write the panel letters at the top-left corner of each lettered axes' box (its labels
    included), every letter of a row of panels at the same height (the row's highest top)."""
    axes = [ax for ax in fig.get_axes() if hasattr(ax, "_unitscope_panel")]
    if not axes:
        return
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = {ax: ax.get_tightbbox(renderer) for ax in axes}
    rows: list[list] = []  # panels whose boxes share most of their height make one row
    for ax in sorted(axes, key=lambda a: -a.get_position().y1):
        p = ax.get_position()
        row = next((r for r in rows if any(min(p.y1, q.y1) - max(p.y0, q.y0) > 0.5 * min(p.height, q.height)
                                           for q in (a.get_position() for a in r))), None)
        (row.append(ax) if row is not None else rows.append([ax]))
    for row in rows:
        top = max(ax.get_position().y1 for ax in row)
        top_px = max(boxes[ax].y1 for ax in row)
        for ax in row:
            x = max((boxes[ax].x0 - page.x0) / page.width, 0.0)
            y = min(max(top_px, top * page.height) / page.height, 1.0)
            letter = fig.text(x, y, PANEL_LETTERS[ax._unitscope_panel % 26], ha="left", va="top",
                              fontweight="bold", fontsize=options.font_size)
            title = ax.title.get_window_extent(renderer) if ax.get_title().strip() else None
            box = letter.get_window_extent(renderer)
            gap = LETTER_GAP_PT * fig.dpi / 72
            if title is not None and box.padded(gap).overlaps(title):  # a title wider than its panel: the letter
                letter.set_x(max((title.x0 - box.width - gap - page.x0) / page.width, 0.0))  # left of it


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


def round_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round tick values (0, 0.1, 0.2 or 0, 50, 100: 1, 2, 2.5 or 5 times a power of ten) inside [lo, hi]."""
    from matplotlib.ticker import MaxNLocator

    if not (hi > lo):
        return [float(lo)]
    ticks = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    span = hi - lo
    inside = [t for t in ticks if lo - span * 1e-9 <= t <= hi + span * 1e-9]
    return [0.0 if abs(t) < span * 1e-9 else round(float(t), 12) for t in inside]


def colorbar(fig, mappable, ax, label: str, options: FigureOptions, **kwargs):
    """A colour bar labelled with its quantity and round ticks."""
    bar = fig.colorbar(mappable, ax=ax, **{"shrink": 0.8, "aspect": 20, "pad": 0.03, **kwargs})
    lo, hi = mappable.norm.vmin, mappable.norm.vmax
    ticks = round_ticks(lo, hi, 4)
    bar.set_ticks(ticks, labels=[fmt(t) for t in ticks])
    bar.set_label(label, fontsize=options.small)
    bar.ax.tick_params(labelsize=options.small, length=1.5, width=0.5)
    bar.outline.set_linewidth(0.5)
    return bar


def nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``limit``."""
    import math

    if limit <= 0:
        return 0.0
    power = 10 ** math.floor(math.log10(limit))
    return next(m * power for m in (5, 2, 1) if m * power <= limit)


def image_axes(ax, title: str = "") -> None:
    """An image panel: no axis lines, no ticks (an image is not a plot)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)


#: How far a scale bar and its label lie under the image (points): the label, centred on the bar, clears the image.
BAR_GAP_PT = 3.5


def scale_bar(ax, width_px: float, options: FigureOptions, per_unit: float = 1.0, unit: str = "px") -> None:
    """A scale bar under the image's lower-left corner: a round number of input pixels
    (``per_unit`` input pixels per data unit, e.g. a feature map's stride), and its visual angle
    when ``options.deg_per_image`` says how many degrees the whole input spans."""
    length = nice_length(width_px * per_unit / 3)
    if not length:
        return
    x0, x1 = ax.get_xlim()
    y_bottom = max(ax.get_ylim())
    span = length / per_unit
    ax.plot([x0, x0 + span], [y_bottom, y_bottom], color="black", lw=1.2, solid_capstyle="butt", clip_on=False,
            transform=ax.transData + _down(ax, BAR_GAP_PT))
    label = f"{fmt(length)} {unit}"
    if options.deg_per_image and unit == "px":
        label += f" ({length * options.deg_per_image / (width_px * per_unit):.2g}\u00b0)"
    ax.annotate(label, (x0 + span, y_bottom), xytext=(2, -BAR_GAP_PT), textcoords="offset points",
                ha="left", va="center", fontsize=options.small, annotation_clip=False)
    ax.set_xlim(x0, x1)


def _down(ax, points: float):
    from matplotlib.transforms import ScaledTranslation

    return ScaledTranslation(0, -points / 72, ax.figure.dpi_scale_trans)


def diverging(options: FigureOptions) -> str:
    """The colour map of signed data: ``options.cmap`` when it diverges, else :data:`SIGNED_CMAP`."""
    return options.cmap if options.cmap in DIVERGING else SIGNED_CMAP


def label_of(name: str) -> str:
    """A file name as a label: without its directory and image/array suffix."""
    import re

    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"\.(jpe?g|png|tiff?|bmp|gif|webp|npy|npz|h5|mat)$", "", base, flags=re.IGNORECASE)
