"""A journal's preflight, run on every figure kind at every column width journals ask for.

For each kind at 85, 89, 120, 174, 180 and 183 mm, as PDF: the page is exactly that wide;
every font is TrueType and embedded, and is the face the sidecar names (no silent
fallback); all text is at least 5 pt, in at most two sizes; every raster image has at least
300 pixels per inch at the size it is printed; no text is cut by the page edge or lies on
other text.  As TIFF: RGB, no alpha, the width in pixels the DPI gives.  As SVG: the width
exact and the text as ``<text>``.  ``pdffonts`` (poppler) checks the fonts again where it is
installed.
"""

import io
import re
import shutil
import subprocess

import matplotlib
import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.figures.render import KINDS, draw_figure, layout_problems, render_bytes
from engine.figures.style import METADATA, MIN_FONT_PT, FigureOptions, rc_params, resolve_font, resolved

WIDTHS = (85.0, 89.0, 120.0, 174.0, 180.0, 183.0)
PT_PER_MM = 72 / 25.4
PROV = {"model": "resnet50", "weights_file": "/w/resnet50-0676ba61.pth", "random_seed": -1}


def _grating_labels():
    return [f"{o:g} deg, {sf:g} c/img" for o in np.arange(0, 180, 30.0) for sf in (4.0, 8.0)]


def _rdm(n, rng):
    rdm = rng.uniform(0, 1, (n, n))
    rdm = (rdm + rdm.T) / 2
    np.fill_diagonal(rdm, 0)
    return rdm


def all_kinds() -> dict:
    """Small but complete data of every figure kind (names as in the gallery)."""
    rng = np.random.default_rng(0)
    orientations = np.arange(0, 180, 15.0)
    names = [f"photo_{i:02d}_with_a_long_name.jpg" for i in range(8)]
    crops = {f"{end}_crop.{i}": rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
             for end in ("top", "bottom") for i in range(4)}
    metrics = {"f0": {"preferred_deg": 47.5, "osi": 0.61, "circular_variance": 0.42, "bandwidth_deg": 23.0}}
    box = [20.0, 20.0, 40.0, 40.0]
    grating = _grating_labels()
    props = {"model.preferred_orientation_deg": rng.uniform(0, 180, 40),
             "model.circular_variance": rng.uniform(0, 1, 40), "model.peak_sf": rng.uniform(0.5, 8, 40),
             "model.modulation_ratio": rng.uniform(0, 2, 40),
             "reference.circular_variance": rng.uniform(0, 1, 60), "reference.peak_sf": rng.uniform(0.5, 8, 60)}
    props["model.circular_variance"][3] = np.nan
    return {
        "mosaic": FigureData("mosaic", {"values": rng.normal(size=(24, 14, 14))},
                             {"layer": "layer3.5.conv2", "stimulus": "cat.jpg"}),
        "unit": FigureData("unit", {"map": rng.normal(size=(14, 14)), "input_image": rng.integers(
            0, 255, (56, 56, 3), dtype=np.uint8), "weights": rng.normal(size=(64, 3, 3))},
            {"layer": "layer2.0.conv1", "channel": 17, "position": [7, 7], "rf_box": [5, 5, 30, 30]}),
        "tuning": FigureData("tuning", {"x": orientations, "f0": np.cos(np.radians(orientations - 45)) ** 2,
                                        "f1": 0.3 + 0 * orientations, "lo": 0 * orientations,
                                        "hi": 1.2 + 0 * orientations},
                             {"param": "orientation", "unit": "layer4.1.conv2[511](3,3)", "metrics": metrics,
                              "n_phases": 8, "protocol": "gratings"}),
        "receptive_field": FigureData("receptive_field", {"image": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
                                                          "gradient": rng.uniform(size=(64, 64)),
                                                          "on_map": rng.normal(size=(64, 64)),
                                                          "off_map": rng.normal(size=(64, 64)),
                                                          "p_value": rng.uniform(size=(64, 64)),
                                                          "significant": np.kron(rng.uniform(size=(16, 16)) > 0.8,
                                                                                 np.ones((4, 4), dtype=bool))},
                                      {"unit": "layer2[3](14,14)", "theoretical_box": box, "empirical_box": box,
                                       "n_images": 4, "n_frames": 300, "rel_threshold": 0.01, "fdr": 0.01,
                                       "n_tests": 256, "n_significant": 40}),
        "population": FigureData("population", {"rdm": _rdm(12, rng), "scores": rng.normal(size=(12, 2)),
                                                "explained": np.array([0.5, 0.2]),
                                                "groups": np.repeat(np.arange(0, 180, 30.0), 2)},
                                 {"layer": "layer3", "labels": grating, "stimuli": "gratings",
                                  "participation_ratio": 3.2, "n_units": 256, "view": "channels"}),
        "rdm": FigureData("rdm", {"rdm": _rdm(8, rng)}, {"layer": "layer3", "labels": names}),
        "comparison": FigureData("comparison", {"rdm": _rdm(8, rng), "rdm_b": _rdm(8, rng) * 0.5},
                                 {"layer": "layer2", "layer_b": "layer4", "labels": names, "rsa": 0.5, "cka": 0.9}),
        "topk": FigureData("topk", {"top_values": np.arange(4.0), "bottom_values": -np.arange(4.0), **crops},
                           {"unit": "layer3[7](7,7)", "top_names": names[:4], "bottom_names": names[4:8]}),
        "probe": FigureData("probe", {"responses": rng.normal(size=(8, 3))},
                            {"labels": ["layer1[0](28,28)", "layer2[3](14,14)", "layer3[9](7,7)"],
                             "stimulus_labels": names}),
        "unit_card": FigureData("unit_card", {
            "visualisation": rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8),
            "input_image": rng.uniform(0, 1, (32, 32, 3)), "evidence": rng.normal(size=(32, 32)),
            "rf": rng.uniform(0, 1, (32, 32)), "tuning_x": orientations, "tuning_f0": rng.uniform(0, 1, 12),
            "tuning_f1": rng.uniform(0, 1, 12), "top_images": rng.uniform(0, 1, (4, 16, 16, 3))},
            {"layer": "layer3.1", "channel": 5, "position": (7, 7), "rf_box": (4, 4, 27, 27),
             "tuning_metric": "preferred \u03b8 30\u00b0", "activation": 2.5, "top_values": [3.0, 2.0, 1.0, 0.5]}),
        "visualization": FigureData("visualization", {"images": rng.uniform(0, 1, (3, 48, 48, 3))},
                                    {"objective": "layer2.0[7]", "layer": "layer2.0", "channel": 7, "steps": 64,
                                     "lr": 0.05, "seed": 0, "diversity": 0.5, "activation": [3.1, 2.9, 2.7]}),
        "layer_sweep": FigureData("layer_sweep", {
            "r": np.array([0.2, 0.4, 0.55, 0.5, 0.3]), "r_low": np.array([0.15, 0.35, 0.5, 0.45, 0.25]),
            "r_high": np.array([0.25, 0.45, 0.6, 0.55, 0.35]), "normalised": np.array([0.3, 0.55, 0.8, 0.7, 0.4]),
            "rsa": np.array([0.1, 0.2, 0.3, 0.25, 0.2]), "cka": np.array([0.3, 0.4, 0.5, 0.45, 0.4]),
            "ceiling": np.array([0.7, 0.65, 0.75])},
            {"layers": ["relu", "layer1", "layer2", "layer3", "layer4"], "n_neurons": 200, "n_stimuli": 1000,
             "rdm_ceiling": 0.6, "deg_per_image": 8.0, "responses": "v1.nwb"}),
        "neuron_unit": FigureData("neuron_unit", {
            "neuron": rng.normal(size=40), "unit": rng.normal(size=40), "r": rng.uniform(0, 0.8, 30),
            "ceiling": rng.uniform(0.2, 0.9, 30), "unit_r_all": rng.uniform(0, 0.6, 30),
            "orientations": orientations, "tuning_neuron": rng.uniform(2, 9, 12), "tuning_sem": rng.uniform(0, 1, 12),
            "tuning_unit": rng.uniform(0, 3, 12), "tuning_unit_scaled": rng.uniform(2, 9, 12)},
            {"neuron": "n07", "neuron_index": 7, "layer": "layer2", "unit": "layer2[17](14,14)", "unit_r": 0.52,
             "ridge_r": 0.61, "ceiling_n": 0.8, "tuning_sf": 16.0, "tuning_contrast": 1.0, "unit_min": 0.0,
             "unit_max": 3.0}),
        "properties": FigureData("properties", props, {"layer": "layer1", "n_units": 40, "reference": "v1.csv",
                                                       "similarity": {"circular_variance": 0.8, "peak_sf": 0.7}}),
    }


def test_every_figure_kind_is_covered_and_captioned():
    from engine.figures.render import caption_text

    assert set(KINDS) == set(all_kinds())
    for kind, data in all_kinds().items():
        data.provenance = PROV
        caption = caption_text(data, FigureOptions())
        assert "resnet50 (resnet50-0676ba61.pth)" in caption, kind  # the model in every caption
        assert "{" not in caption and "}" not in caption, (kind, caption)  # no unformatted field


def pdf_problems(content: bytes, width_mm: float, family: str) -> list[str]:
    """What a journal's preflight would flag in a PDF figure, as lines."""
    problems = []
    page = PdfReader(io.BytesIO(content)).pages[0]
    if abs(float(page.mediabox.width) - width_mm * PT_PER_MM) > 1e-3:
        problems.append(f"page {float(page.mediabox.width) / PT_PER_MM:.3f} mm wide")
    resources = page["/Resources"]
    wanted = family.replace(" ", "")
    for font in (f.get_object() for f in resources["/Font"].values()):
        base = str(font["/BaseFont"])
        if font["/Subtype"] == "/Type0":
            cid = font["/DescendantFonts"][0].get_object()
            embedded = "/FontFile2" in cid["/FontDescriptor"].get_object()
            truetype = cid["/Subtype"] == "/CIDFontType2"
        else:
            embedded = "/FontFile2" in font.get("/FontDescriptor", {}).get_object() if "/FontDescriptor" in font \
                else False
            truetype = font["/Subtype"] == "/TrueType"
        if not (truetype and embedded):
            problems.append(f"font {base} is not embedded TrueType")
        if wanted not in base:
            problems.append(f"font {base} is not {family}")
    stream = page.get_contents().get_data()
    sizes = {round(float(s), 2) for s in re.findall(rb"/F\d+ ([\d.]+) Tf", stream)}
    if not sizes or min(sizes) < MIN_FONT_PT - 1e-6:
        problems.append(f"text sizes {sorted(sizes)}")
    if len(sizes) > 2:
        problems.append(f"{len(sizes)} text sizes {sorted(sizes)}")
    images = {name: x.get_object() for name, x in resources.get("/XObject", {}).items()
              if x.get_object()["/Subtype"] == "/Image"}
    number = rb"(-?[\d.]+)"
    drawn = [(*m, n) for *m, n in re.findall(rb"\s+".join([number] * 6) + rb"\s+cm\s+(/\w+)\s+Do", stream)
             if n.decode() in images]  # (markers are form XObjects)
    for *matrix, name in drawn:
        a, b, c, d = (float(v) for v in matrix[:4])
        image = images[name.decode()]
        width_in, height_in = np.hypot(a, b) / 72, np.hypot(c, d) / 72
        ppi = min(int(image["/Width"]) / width_in, int(image["/Height"]) / height_in)
        if ppi < 299.0:
            problems.append(f"image {name.decode()} at {ppi:.0f} ppi")
    if len(drawn) != len(images):
        problems.append(f"{len(images)} images, {len(drawn)} placed")
    return problems


def _draw_and_save(data, options, fmt):
    options = resolved(options)
    with matplotlib.rc_context(rc_params(options)):
        fig = draw_figure(data, options)
        problems = layout_problems(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=options.dpi, metadata=METADATA[fmt])
    return problems, buffer.getvalue(), options


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_passes_preflight_at_every_journal_width(kind, tmp_path):
    data = all_kinds()[kind]
    data.provenance = PROV
    for width in WIDTHS:
        layout, pdf, options = _draw_and_save(data, FigureOptions(width_mm=width), "pdf")
        assert layout == [], (width, layout)
        assert pdf_problems(pdf, width, options.font_family) == [], width
    (tmp_path / "fig.pdf").write_bytes(pdf)
    if shutil.which("pdffonts"):
        lines = subprocess.run(["pdffonts", str(tmp_path / "fig.pdf")], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]
        assert lines and all(("CID TrueType" in line or " TrueType " in line) and " yes " in line
                             for line in lines), lines


@pytest.mark.parametrize("held", [("on_map", "off_map", "p_value", "significant"), ("gradient", "on_map", "off_map"),
                                  ("image", "gradient"), ("gradient",)])
def test_a_receptive_field_with_fewer_panels_passes_preflight_at_every_journal_width(held):
    """A job run with sparse noise only, or without inputs or noise: only the panels it holds."""
    full = all_kinds()["receptive_field"]
    data = FigureData("receptive_field", {name: full.arrays[name] for name in held},
                      {**full.meta, "empirical_box": full.meta["empirical_box"] if "gradient" in held else None},
                      provenance=PROV)
    for width in WIDTHS:
        layout, pdf, options = _draw_and_save(data, FigureOptions(width_mm=width), "pdf")
        assert layout == [], (width, layout)
        assert pdf_problems(pdf, width, options.font_family) == [], width


@pytest.mark.parametrize("kind", ["mosaic", "unit", "unit_card", "visualization", "receptive_field"])
def test_tiff_is_rgb_without_alpha_and_svg_keeps_text(kind):
    data = all_kinds()[kind]
    data.provenance = PROV
    options = FigureOptions(width_mm=89, dpi=300)
    with Image.open(io.BytesIO(render_bytes(data, options, "tiff"))) as image:
        assert image.mode == "RGB"
        assert image.size[0] == int(89 / 25.4 * 300)
        assert round(image.info["dpi"][0]) == 300
    svg = render_bytes(data, options, "svg").decode()
    assert float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1)) == pytest.approx(89 * PT_PER_MM,
                                                                                            abs=1e-3)
    assert "<text" in svg and resolve_font("") in svg


def test_the_smallest_font_size_keeps_every_text_at_5_pt():
    data = all_kinds()["tuning"]
    _layout, pdf, options = _draw_and_save(data, FigureOptions(width_mm=89, font_size=5), "pdf")
    stream = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    assert {float(s) for s in re.findall(rb"/F\d+ ([\d.]+) Tf", stream)} == {5.0}
    with pytest.raises(UnitscopeError, match="out of range"):
        FigureOptions(font_size=4)


def test_a_missing_font_is_an_error_and_the_default_is_named():
    with pytest.raises(UnitscopeError, match="'No Such Sans' is not installed"):
        resolve_font("No Such Sans")
    options = resolved(FigureOptions())
    assert options.font_family == resolve_font("")
    assert options.font_family in ("Arial", "Liberation Sans", "Nimbus Sans", "DejaVu Sans")


def test_the_preflight_finds_what_a_journal_refuses():
    """The checks can fail: a page of the wrong width, a 1-ppi image, 4 pt text."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(85 / 25.4, 1))
    fig.figimage(np.zeros((2, 2, 3)))
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.imshow(np.eye(3), interpolation="none")
    ax.text(0, 0, "tiny", fontsize=4)
    with matplotlib.rc_context(rc_params(FigureOptions())):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="pdf")
    problems = pdf_problems(buffer.getvalue(), 89, resolve_font(""))
    assert any(p.startswith("page 85.000 mm") for p in problems)
    assert any(p.startswith("text sizes") for p in problems)
    assert any(p.startswith("image") and "ppi" in p for p in problems)
