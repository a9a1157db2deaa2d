"""Figures for papers: what a reviewer checks in the PDF and SVG, and redrawing from a sidecar."""

import base64
import io
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image
from pypdf import PdfReader

from engine.figures.data import FigureData
from engine.figures.mosaic import choose_channels
from engine.figures.render import write_figure
from engine.figures.style import FigureOptions

PT_PER_MM = 72 / 25.4


def _values():
    """16 channels of 6 x 5 with distinct, known ranges (channel c holds c * 0.25 + ramp)."""
    rng = np.random.default_rng(1)
    values = rng.uniform(0.0, 1.0, size=(16, 6, 5)).astype(np.float32)
    values[:, 0, 0] = 0.0  # every channel reaches the shared minimum 0 ...
    values[15, 5, 4] = 4.0  # ... and one channel the shared maximum 4
    return values


def _data(values):
    return FigureData("mosaic", {"values": values}, {"layer": "layer1", "stimulus": "cat.jpg"},
                      provenance={"model": "resnet18", "random_seed": 3})


def _expected_rgb(values, lo, hi, cmap="viridis"):
    """Colour of every pixel of every tile, computed here from the definition."""
    index = np.floor((values.astype(np.float64) - lo) * 255.0 / (hi - lo) + 0.5).astype(int)
    lut = np.round(colormaps[cmap](np.arange(256))[:, :3] * 255).astype(np.uint8)
    return lut[index]


def _layout(shape, values):
    """(cols, rows, gap_y) if an image of ``shape`` can hold the tiles of ``values``, else None."""
    n, h, w = values.shape
    height, width = shape[:2]
    cols = (width + 1) // (w + 1)
    rows = math.ceil(n / max(cols, 1))
    if cols < 1 or cols * (w + 1) - 1 != width or rows < 2 or (height - rows * h) % (rows - 1):
        return None
    return cols, rows, (height - rows * h) // (rows - 1)


def _native(image: np.ndarray) -> np.ndarray:
    """An image repeated nearest-neighbour by whole factors (to 300 ppi in print), back at one pixel per
    value: the largest factors whose blocks are all one colour."""
    for fy in range(image.shape[0], 0, -1):
        if image.shape[0] % fy == 0 and np.array_equal(np.repeat(image[::fy], fy, axis=0), image):
            break
    for fx in range(image.shape[1], 0, -1):
        if image.shape[1] % fx == 0 and np.array_equal(np.repeat(image[:, ::fx], fx, axis=1), image):
            break
    return image[::fy, ::fx]


def _check_tiles(images: list, values: np.ndarray, lo: float, hi: float, bottom_up: bool = False) -> None:
    """One of ``images`` is the mosaic (repeated by whole factors): tiles of (h, w) with 1-pixel column
    gaps and row gaps that leave room for the channel numbers, every pixel the colour its value maps to."""
    n, h, w = values.shape
    images = [_native(image) for image in images]
    found = [(image, _layout(image.shape, values)) for image in images if _layout(image.shape, values)]
    assert len(found) == 1, [image.shape for image in images]
    image, (cols, rows, gap_y) = found[0]
    image = image[::-1] if bottom_up else image
    expected = _expected_rgb(values, lo, hi)
    for c in range(n):
        r, k = divmod(c, cols)
        y0, x0 = r * (h + gap_y), k * (w + 1)
        assert np.array_equal(image[y0:y0 + h, x0:x0 + w], expected[c]), f"channel {c}"
    assert (image[h:h + gap_y] == 255).all()  # the gap under the first row is white


def test_mosaic_pdf_has_text_exact_width_truetype_fonts_and_a_lossless_image(tmp_path):
    values = _values()
    out = write_figure(_data(values), FigureOptions(width_mm=85), tmp_path / "maps.pdf")
    page = PdfReader(out).pages[0]
    assert float(page.mediabox.width) == pytest.approx(85 * PT_PER_MM, abs=1e-3)
    text = page.extract_text()
    caption = (tmp_path / "maps.pdf.caption.txt").read_text()
    for needed in ("resnet18", "seed 3", "layer1", "image cat:", "one colour scale", "16 of 16 channels",
                   "Values 0 to 4"):
        assert needed in caption
    assert "resnet18" not in text and "layer1" not in text  # provenance goes in the caption, not the drawing
    assert json.loads((tmp_path / "maps.pdf.json").read_text())["caption"] == caption.strip()
    words = set(text.split())
    assert {str(c) for c in range(16)} <= words  # every channel is numbered
    assert {"0", "2", "4"} <= words  # colour-bar ticks: both ends of the value range and the middle
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    assert fonts and all(f["/Subtype"] in ("/Type0", "/TrueType") for f in fonts)
    for f in fonts:
        if f["/Subtype"] == "/Type0":
            assert f["/DescendantFonts"][0].get_object()["/Subtype"] == "/CIDFontType2"  # TrueType outlines
    images = [x.get_object() for x in page["/Resources"]["/XObject"].values()
              if x.get_object()["/Subtype"] == "/Image"]
    assert all(x["/Filter"] == "/FlateDecode" for x in images)  # not /DCTDecode (JPEG)
    # matplotlib stores the rows bottom first and draws the image with a y-flipping matrix
    assert re.search(rb"[\d.]+\s+0\s+0\s+-[\d.]+\s+-?[\d.]+\s+[\d.]+\s+cm\s+/I\d+ Do", page.get_contents().get_data())
    _check_tiles([np.asarray(x.decode_as_image().convert("RGB")) for x in images], values, 0.0, 4.0,
                 bottom_up=True)


def test_mosaic_svg_keeps_text_as_text_and_embeds_the_mosaic_losslessly(tmp_path):
    values = _values()
    out = write_figure(_data(values), FigureOptions(width_mm=120, font_size=8), tmp_path / "maps.svg")
    svg = out.read_text(encoding="utf-8")
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1)
    assert float(width) == pytest.approx(120 * PT_PER_MM, abs=1e-3)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert {str(c) for c in range(16)} <= set(texts)
    assert {"0", "2", "4"} <= set(texts)
    pngs = re.findall(r'xlink:href="data:image/png;base64,([^"]+)"', svg)
    images = [np.asarray(Image.open(io.BytesIO(base64.b64decode(p))).convert("RGB")) for p in pngs]
    _check_tiles(images, values, 0.0, 4.0)


def test_per_channel_scale_is_stated_and_each_tile_uses_its_own_range(tmp_path):
    values = _values()
    out = write_figure(_data(values), FigureOptions(scale="channel"), tmp_path / "maps.pdf")
    page = PdfReader(out).pages[0]
    assert "each channel stretched to its own range" in (tmp_path / "maps.pdf.caption.txt").read_text()
    assert "each channel's range" in page.extract_text()
    images = [_native(np.asarray(x.get_object().decode_as_image().convert("RGB")))
              for x in page["/Resources"]["/XObject"].values() if x.get_object()["/Subtype"] == "/Image"]
    image = next(image for image in images if _layout(image.shape, values))
    lut = np.round(colormaps["viridis"](np.arange(256))[:, :3] * 255).astype(np.uint8)
    h, w = values.shape[1:]
    # channel 0 is stretched to its own maximum: its brightest pixel is the top of the colour map
    assert (image[:h, :w] == lut[255]).all(axis=-1).any()


def test_top_n_by_mean_picks_the_channels_with_the_largest_means():
    values = _values()
    means = values.reshape(16, -1).mean(axis=1)
    assert choose_channels(values, top_n=4) == sorted(range(16), key=lambda c: -means[c])[:4]
    assert choose_channels(values, channels=(3, 1)) == [3, 1]


def test_a_sidecar_redraws_the_same_png_bytes_in_a_fresh_process(tmp_path):
    first = write_figure(_data(_values()), FigureOptions(width_mm=89, dpi=150), tmp_path / "fig.png")
    again = tmp_path / "again.png"
    done = subprocess.run([sys.executable, "-m", "engine", "figure", str(tmp_path / "fig.png.json"), "--out",
                           str(again)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == first.read_bytes()
    with Image.open(again) as image:
        assert image.size[0] == int(89 / 25.4 * 150)  # matplotlib rounds the pixel size down


def test_pdf_and_svg_bytes_do_not_depend_on_the_time_they_were_written(tmp_path):
    for suffix in ("pdf", "svg"):
        a = write_figure(_data(_values()), FigureOptions(), tmp_path / f"a.{suffix}", sidecar=False).read_bytes()
        b = write_figure(_data(_values()), FigureOptions(), tmp_path / f"b.{suffix}", sidecar=False).read_bytes()
        assert a == b
        assert b"CreationDate" not in a and b"<dc:date>" not in a


def test_an_h5_file_with_grouped_arrays_is_read_whole(tmp_path):
    """An export names its arrays LAYER/mean ... (groups in HDF5): every dataset is found, at any depth."""
    import h5py

    from engine.figures.sources import read_arrays

    path = tmp_path / "export.h5"
    mean = np.arange(24.0).reshape(2, 3, 4)
    with h5py.File(path, "w") as f:
        f.create_dataset("layer1/mean", data=mean)
        f.create_dataset("layer1/top/indices", data=np.array([[3, 1]], dtype=np.int64))
    arrays, _ = read_arrays(path)
    assert sorted(arrays) == ["layer1/mean", "layer1/top/indices"]
    np.testing.assert_array_equal(arrays["layer1/mean"], mean)
    assert arrays["layer1/top/indices"].dtype == np.int64
