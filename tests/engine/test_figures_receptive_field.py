"""The receptive-field figure draws the panels its result holds, lettered a, b, ... in order, with
the caption's letters matching: a job run with sparse noise only gives one panel, one without
inputs no input panel; the boxes go over the first panel and the legend lists what is drawn; a
result with nothing to draw is refused.  A lone panel is centred and at most 50 mm wide (a third
of a wider page, as beside the others), not the page's width."""

import re

import matplotlib
import numpy as np
import pytest

from engine.errors import UnitscopeError
from engine.figures.data import FigureData
from engine.figures.receptive_field import EMPIRICAL
from engine.figures.render import caption_text, draw_figure, write_figure
from engine.figures.style import ACCENT, FigureOptions, rc_params, resolved

SIZE = 32
PROV = {"model": "resnet50", "weights_file": "/w/resnet50-0676ba61.pth", "random_seed": -1}
NOISE = ("on_map", "off_map", "p_value", "significant")
TITLES = {"image": "input", "gradient": "input gradient", "on_map": "sparse noise"}


def rf_data(*names: str) -> FigureData:
    """A receptive field holding the arrays ``names`` (and the meta a job gives with them)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    blob = np.exp(-((yy - 15) ** 2 + (xx - 17) ** 2) / 20.0)
    significant = np.zeros((SIZE, SIZE), dtype=bool)
    significant[12:20, 12:20] = True
    arrays = {"image": rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8), "gradient": blob + 0.01,
              "on_map": blob + rng.normal(scale=0.1, size=(SIZE, SIZE)),
              "off_map": -blob + rng.normal(scale=0.1, size=(SIZE, SIZE)),
              "p_value": rng.uniform(size=(SIZE, SIZE)), "significant": significant}
    meta = {"unit": "layer2[3](7,7)", "theoretical_box": [4.0, 6.0, 26.0, 28.0], "empirical_box": None,
            "n_images": None, "n_frames": None, "rel_threshold": None, "shown": ""}
    if "image" in names:
        meta["shown"] = "cat.jpg"
    if "gradient" in names:
        meta.update(empirical_box=[10.0, 11.0, 21.0, 23.0], n_images=4, rel_threshold=0.01)
    if "on_map" in names:
        meta.update(n_frames=300, fdr=0.01, n_tests=64, n_significant=4)
    return FigureData("receptive_field", {name: arrays[name] for name in names}, meta, provenance=PROV)


def drawn(data: FigureData, width_mm: float = 85.0):
    """The figure, its image panels left to right, and its panel letters left to right."""
    options = resolved(FigureOptions(width_mm=width_mm, dpi=100))
    with matplotlib.rc_context(rc_params(options)):
        fig = draw_figure(data, options)
    panels = sorted((ax for ax in fig.axes if ax.get_images()), key=lambda ax: ax.get_position().x0)
    letters = [t.get_text() for t in sorted(fig.texts, key=lambda t: t.get_position()[0])]
    return fig, panels, letters


def caption_letters(caption: str) -> list[str]:
    """The panel letters a caption describes, in order ('a, An input ...')."""
    return re.findall(r"(?:^|\. )([a-z]), [A-Z]", caption)


def boxes(ax) -> list[tuple[str, str]]:
    """The boxes drawn on ``ax``: (edge colour, line style)."""
    from matplotlib.colors import to_hex
    from matplotlib.patches import Rectangle

    return [(to_hex(p.get_edgecolor()).upper(), p.get_linestyle()) for p in ax.patches if isinstance(p, Rectangle)]


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def mm(pixels: float, fig) -> float:
    return pixels / fig.dpi * 25.4


def test_sparse_noise_alone_is_one_panel_lettered_a_with_the_theoretical_box():
    data = rf_data(*NOISE)
    fig, panels, letters = drawn(data)
    assert [ax.get_title() for ax in panels] == ["sparse noise"]
    assert letters == ["a"]
    assert boxes(panels[0]) == [(ACCENT.upper(), "--")]
    assert legend_labels(fig) == ["theoretical RF", "significant (FDR 0.01)"]  # no gradient box is drawn
    caption = caption_text(data, FigureOptions())
    assert caption_letters(caption) == ["a"]
    assert "a, Sparse-noise reverse correlation" in caption and "b," not in caption and "c," not in caption
    assert "An input" not in caption and "gradient" not in caption
    assert "Box: the unit's theoretical receptive field (dashed;" in caption
    assert caption.endswith("The panel is 32 \u00d7 32 input pixels; the scale bar is in input pixels.")


@pytest.mark.parametrize("width_mm, largest_mm", [(85.0, 50.0), (180.0, 60.0)])
def test_a_lone_panel_is_no_larger_than_beside_others_and_centred(width_mm, largest_mm):
    fig, (panel,), _letters = drawn(rf_data(*NOISE), width_mm)
    page_w, page_h = mm(fig.bbox.width, fig), mm(fig.bbox.height, fig)
    box = panel.get_window_extent()
    assert mm(box.width, fig) == pytest.approx(mm(box.height, fig), abs=0.1)  # square pixels
    assert 0.6 * largest_mm < mm(box.width, fig) <= largest_mm + 0.1  # 50 mm, or a third of a wide page
    assert abs(mm(box.x0 + box.x1, fig) / 2 - page_w / 2) < 1.0  # centred on the page
    assert page_h < largest_mm + 20 and page_h < page_w  # not a square page-wide figure
    (bar,) = [ax for ax in fig.axes if ax is not panel and ax.get_visible()]  # its colour bar: about as wide
    assert bar.get_window_extent().width <= 1.1 * box.width


def test_without_an_input_the_gradient_is_panel_a_and_carries_both_boxes():
    data = rf_data("gradient", *NOISE)
    fig, panels, letters = drawn(data)
    assert [ax.get_title() for ax in panels] == ["input gradient", "sparse noise"]
    assert letters == ["a", "b"]
    assert boxes(panels[0]) == [(EMPIRICAL.upper(), "-"), (ACCENT.upper(), "--")]
    assert boxes(panels[1]) == [(ACCENT.upper(), "--")]
    assert legend_labels(fig) == ["gradient RF", "theoretical RF", "significant (FDR 0.01)"]
    caption = caption_text(data, FigureOptions())
    assert caption_letters(caption) == ["a", "b"]
    assert "a, Mean absolute gradient of the unit's response" in caption
    assert ("Boxes: the unit's theoretical receptive field (dashed; from the network's kernels, strides and "
            "padding, Araujo et al. 2019) and the box the gradient bounds (solid). b, Sparse-noise") in caption
    assert "An input" not in caption and "c," not in caption


def test_an_input_and_its_gradient_without_noise_are_panels_a_and_b():
    data = rf_data("image", "gradient")
    fig, panels, letters = drawn(data)
    assert [ax.get_title() for ax in panels] == ["input", "input gradient"]
    assert letters == ["a", "b"]
    assert boxes(panels[0]) == [(EMPIRICAL.upper(), "-"), (ACCENT.upper(), "--")]
    assert legend_labels(fig) == ["gradient RF", "theoretical RF"]
    caption = caption_text(data, FigureOptions())
    assert caption_letters(caption) == ["a", "b"]
    assert "a, An input (cat) with the unit's theoretical" in caption and "b, Mean absolute gradient" in caption
    assert "Sparse-noise" not in caption and "c," not in caption


def test_an_input_with_noise_and_no_gradient_lists_only_the_theoretical_box():
    data = rf_data("image", *NOISE)
    fig, panels, letters = drawn(data)
    assert [ax.get_title() for ax in panels] == ["input", "sparse noise"] and letters == ["a", "b"]
    assert boxes(panels[0]) == [(ACCENT.upper(), "--")]
    assert legend_labels(fig) == ["theoretical RF", "significant (FDR 0.01)"]
    caption = caption_text(data, FigureOptions())
    assert caption_letters(caption) == ["a", "b"]
    assert "a, An input (cat) with the unit's theoretical receptive field (dashed;" in caption
    assert "the box the gradient bounds" not in caption and "Mean absolute gradient" not in caption


def test_a_full_result_keeps_its_three_panels_and_caption():
    data = rf_data("image", "gradient", *NOISE)
    fig, panels, letters = drawn(data)
    assert [ax.get_title() for ax in panels] == ["input", "input gradient", "sparse noise"]
    assert letters == ["a", "b", "c"]
    assert boxes(panels[1]) == [(EMPIRICAL.upper(), "-")] and boxes(panels[2]) == [(ACCENT.upper(), "--")]
    assert legend_labels(fig) == ["gradient RF", "theoretical RF", "significant (FDR 0.01)"]
    assert caption_text(data, FigureOptions()) == (  # as it was before panels were left out
        "Receptive field of layer2[3](7,7) in resnet50 (resnet50-0676ba61.pth). a, An input (cat) with the unit's "
        "theoretical receptive field (dashed; from the network's kernels, strides and padding, Araujo et al. 2019) "
        "and the box the gradient bounds (solid). b, Mean absolute gradient of the unit's response with respect to "
        "the input pixels over 4 inputs; its box is where it exceeds 0.01 of its peak. c, Sparse-noise reverse "
        "correlation: the mean response to frames with a bright (ON) minus a dark (OFF) square at each place, over "
        "300 frames; the colour map is centred on 0. Cells outlined in black are those whose ON and OFF responses "
        "differ (Welch's two-sided t-test, Benjamini\u2013Hochberg false discovery rate 0.01 over the 64 noise "
        "cells tested: 4 significant); the others are drawn pale. All panels are 32 \u00d7 32 input pixels; the "
        "scale bar is in input pixels.")


def test_a_result_with_nothing_to_draw_is_refused_and_writes_nothing(tmp_path):
    data = rf_data()
    message = "The receptive field of layer2\\[3\\]\\(7,7\\) has nothing to draw"
    with pytest.raises(UnitscopeError, match=message):
        caption_text(data, FigureOptions())
    with pytest.raises(UnitscopeError, match=message):
        write_figure(data, FigureOptions(), tmp_path / "rf.pdf")
    assert list(tmp_path.iterdir()) == []
