"""Draw a :class:`~engine.figures.data.FigureData` and write it as PDF, SVG, PNG or TIFF.

Every figure kind is a module with ``draw(fig, data, options)``,
``figure_height(data, options)`` (inches) and ``caption(data, options)`` (the figure's
provenance and numbers as plain text, written next to it as ``FIGURE.caption.txt``: the
drawing holds at most short panel titles).  The figure is exactly ``options.width_mm``
wide (constrained layout keeps every label inside it; no tight bounding box that would
change the size), its images are repeated nearest-neighbour to at least 300 pixels per
inch at their printed size, and it is written with fixed metadata, so the same data and
options give the same bytes.  TIFF files are RGB without alpha.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.figures.style import (
    METADATA,
    MIN_PPI,
    FigureOptions,
    figure_format,
    place_panel_letters,
    rc_params,
    resolved,
)

#: Figure kinds and the module that draws each.
KINDS = {
    "mosaic": "engine.figures.mosaic",
    "unit": "engine.figures.unit",
    "tuning": "engine.figures.tuning",
    "receptive_field": "engine.figures.receptive_field",
    "population": "engine.figures.population",
    "rdm": "engine.figures.population",
    "comparison": "engine.figures.comparison",
    "topk": "engine.figures.topk",
    "probe": "engine.figures.probe",
    "unit_card": "engine.figures.unit_card",
    "layer_sweep": "engine.figures.layer_sweep",
    "neuron_unit": "engine.figures.neuron_unit",
    "visualization": "engine.figures.visualization",
    "properties": "engine.figures.properties",
}


def _module(kind: str):
    if kind not in KINDS:
        raise UnitscopeError(f"Unknown figure kind '{kind}' (known: {', '.join(KINDS)}).")
    return importlib.import_module(KINDS[kind])


def _drawn_texts(fig) -> list:
    """(text, window box) of every text the figure draws (tick labels only inside the axis view)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out as saving does
    renderer = canvas.get_renderer()
    tick_labels, drawn = set(), []
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update({id(tick.label1), id(tick.label2)})
            if ax.get_visible() and ax.axison and axis.get_visible():
                drawn += [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)
                          if label.get_visible()]
    texts = [t for t in fig.findobj(matplotlib.text.Text) if id(t) not in tick_labels] + drawn
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts
            if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0
            and (t.axes is None or t.axes.get_visible())]


def layout_problems(fig) -> list[str]:
    """Texts cut by the page edge or lying on one another (90% of their boxes), as lines."""
    import itertools

    texts, page = _drawn_texts(fig), fig.bbox
    cut = [f"cut: {t!r}" for t, box in texts if box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1
           or box.y0 < page.y0 - 1 or box.y1 > page.y1 + 1]
    return cut + [f"overlap: {a!r} and {b!r}" for (a, box_a), (b, box_b) in itertools.combinations(texts, 2)
                  if box_a.shrunk(0.9, 0.9).overlaps(box_b.shrunk(0.9, 0.9))]


def upsample_images(fig, min_ppi: float = MIN_PPI) -> None:
    """Repeat every image's pixels (nearest neighbour, a whole factor per axis) until it has at least
    ``min_ppi`` pixels per inch at the size it is printed; its place on the page does not change."""
    import numpy as np
    from matplotlib.image import AxesImage

    for image in fig.findobj(AxesImage):
        array = image.get_array()
        if array is None or array.ndim < 2:
            continue
        box = image.get_window_extent()
        width_in, height_in = abs(box.width) / fig.dpi, abs(box.height) / fig.dpi
        fy = max(1, int(np.ceil(min_ppi * height_in / array.shape[0] - 1e-9)))
        fx = max(1, int(np.ceil(min_ppi * width_in / array.shape[1] - 1e-9)))
        if fy == 1 and fx == 1:
            continue
        image.set_extent(image.get_extent())  # fixed, so the larger array fills the same place
        big = np.repeat(np.repeat(array, fy, axis=0), fx, axis=1)
        image.set_data(big)


def draw_figure(data: FigureData, options: FigureOptions):
    """The matplotlib ``Figure`` of ``data``; call it inside ``matplotlib.rc_context(rc_params(options))``
    (saving too, as :func:`render_bytes` does).

    The width is fixed; when text would be cut or overlap, the figure is drawn again up to
    three times, each 25% taller.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    module = _module(data.kind)
    height = module.figure_height(data, options)
    for _attempt in range(4):
        fig = Figure(figsize=(options.width_in, height), dpi=options.dpi, layout="constrained")
        FigureCanvasAgg(fig)
        (module.draw_rdm if data.kind == "rdm" else module.draw)(fig, data, options)
        fig.canvas.draw()  # the layout, so that the letters and images know where their panels are
        place_panel_letters(fig, options)
        if not layout_problems(fig):
            break
        height *= 1.25
    fig.set_layout_engine("none")  # the layout is final: the upsampled images keep their places
    upsample_images(fig)
    return fig


def caption_text(data: FigureData, options: FigureOptions) -> str:
    """The caption of ``data``'s figure: provenance and numbers the drawing leaves out."""
    text = _module(data.kind).caption(data, options).strip()
    if options.deg_per_image:
        text += (f" Scale bars give input pixels and degrees of visual angle, the whole input spanning "
                 f"{options.deg_per_image:g}\u00b0.")
    return text


def caption_path(figure: str | Path) -> Path:
    figure = Path(figure)
    return figure.with_name(figure.name + ".caption.txt")


def render_bytes(data: FigureData, options: FigureOptions, fmt: str) -> bytes:
    """The figure of ``data`` as a file of format ``fmt`` (pdf, svg, png, tiff), in memory."""
    import matplotlib

    options = resolved(options)
    with matplotlib.rc_context(rc_params(options)):
        fig = draw_figure(data, options)
        buffer = io.BytesIO()
        if fmt == "tiff":  # RGB without alpha: print shops and journals refuse transparent TIFFs
            from PIL import Image

            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=options.dpi, metadata=METADATA["png"])
            with Image.open(png) as image:
                rgb = image.convert("RGB")
            rgb.save(buffer, format="TIFF", compression="tiff_lzw", dpi=(options.dpi, options.dpi))
        else:
            fig.savefig(buffer, format=fmt, dpi=options.dpi, metadata=METADATA[fmt])
    return buffer.getvalue()


def write_figure(data: FigureData, options: FigureOptions, path: str | Path, sidecar: bool = True) -> Path:
    """Write the figure of ``data`` to ``path`` (its suffix picks the format), its caption next to it
    (``FIGURE.caption.txt``) and, with ``sidecar``, the data, options (the font named) and caption
    (:func:`engine.figures.sidecar.write_sidecar`)."""
    from engine.files.atomic import atomic_write, atomic_write_text

    path = Path(path)
    options = resolved(options)
    content = render_bytes(data, options, figure_format(path))
    caption = caption_text(data, options)
    atomic_write(path, lambda tmp: tmp.write_bytes(content))
    atomic_write_text(caption_path(path), caption + "\n")
    if sidecar:
        from engine.figures.sidecar import write_sidecar

        write_sidecar(path, data, options, caption)
    return path
