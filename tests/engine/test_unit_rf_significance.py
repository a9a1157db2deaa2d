"""Which pixels of a sparse-noise receptive field are significant: Welch's t-test of ON against
OFF frames per pixel, Benjamini–Hochberg over the noise cells, from running sums.

The planted unit is ``tanh`` of one convolution that spans the whole input, whose weights are
zero except on three noise cells: one that bright drives, one that dark drives, one weaker.
Its response depends on those cells only, so they, and no other cell, must be found.  Every
p-value is checked against :func:`scipy.stats.ttest_ind` on the per-frame responses a plain
forward hook records, and the discoveries against :func:`scipy.stats.false_discovery_control`.
"""

import re

import numpy as np
import pytest
import torch
from planted_units import grey, one_thread, planted_conv, session_for  # noqa: F401
from scipy import stats
from torch import nn

from engine.analyses.unit_rf import ReverseCorrelation, benjamini_hochberg, noise_cells
from engine.errors import UnitscopeError
from engine.jobs.receptive_field import ReceptiveFieldMapping
from engine.session.job import from_fields
from engine.stimuli.procedural import sparse_noise
from engine.stimuli.protocols import Protocol

SIZE, GRID, N_ON, FRAMES, SEED = 32, 8, 8, 480, 3
CELL = SIZE // GRID
PLANTED = {(3, 2): 0.12, (3, 4): -0.12, (5, 3): 0.05}  # (row, col) of a cell: weight per pixel


def planted_unit() -> nn.Module:
    kernel = np.zeros((SIZE, SIZE))
    for (row, col), weight in PLANTED.items():
        kernel[row * CELL:(row + 1) * CELL, col * CELL:(col + 1) * CELL] = weight
    return nn.Sequential(planted_conv([grey(kernel)]), nn.Tanh())


def frames_and_responses(net: nn.Module):
    """Run the job on the planted unit; return its last snapshot, the frames and the responses
    that a forward hook of our own saw (the job's batches, in order)."""
    seen = []
    session = session_for(net, SIZE)  # (its anatomy runs the net once on the meta device)
    handle = net[1].register_forward_hook(lambda mod, args, out: seen.append(out.detach().clone()))
    try:
        *_, snap = session.run(ReceptiveFieldMapping("1", 0, noise_frames=FRAMES, grid=GRID, n_on=N_ON, seed=SEED,
                                                     batch_size=64))
    finally:
        handle.remove()
    responses = torch.cat(seen).double().numpy()[:, 0, 0, 0]
    frames = np.stack([sparse_noise(SIZE, GRID, SEED + f, N_ON)[0].mean(axis=-1) for f in range(FRAMES)])
    return snap, frames, responses


@pytest.fixture(scope="module")
def planted():
    torch.manual_seed(0)
    return frames_and_responses(planted_unit().eval())


def cell_mask(cells) -> np.ndarray:
    mask = np.zeros((GRID, GRID), dtype=bool)
    for cell in cells:
        mask[cell] = True
    return np.kron(mask, np.ones((CELL, CELL), dtype=bool))


def test_the_planted_cells_and_no_others_are_significant(planted):
    snap, _frames, _responses = planted
    assert snap.n_frames == FRAMES and snap.fdr == 0.01 and snap.n_tests == GRID * GRID
    assert snap.significant.shape == (SIZE, SIZE) and snap.significant.dtype == bool
    np.testing.assert_array_equal(snap.significant, cell_mask(PLANTED))
    assert snap.n_significant == len(PLANTED)
    rc = snap.on_minus_off
    assert rc[3 * CELL, 2 * CELL] > 0 > rc[3 * CELL, 4 * CELL]  # bright drives one cell, dark the other
    outside = ~cell_mask(PLANTED)
    assert np.nanmin(snap.p_value[outside]) > 0.01 / (GRID * GRID)  # not even below Bonferroni's threshold
    assert np.nanmax(snap.p_value[~outside]) < 1e-6


def test_p_values_match_scipy_on_the_responses_a_hook_recorded(planted):
    snap, frames, responses = planted
    p_reference = np.full((GRID, GRID), np.nan)
    for row in range(GRID):
        for col in range(GRID):
            pixel = frames[:, row * CELL, col * CELL]
            on, off = responses[pixel > 0.5], responses[pixel < 0.5]
            p_reference[row, col] = stats.ttest_ind(on, off, equal_var=False).pvalue
            np.testing.assert_allclose(snap.p_value[row * CELL:(row + 1) * CELL, col * CELL:(col + 1) * CELL],
                                       p_reference[row, col], rtol=1e-6)
    fdr_reference = stats.false_discovery_control(p_reference.ravel(), method="bh").reshape(GRID, GRID) <= 0.01
    np.testing.assert_array_equal(snap.significant, np.kron(fdr_reference, np.ones((CELL, CELL), dtype=bool)))

    # The same frames and responses in a ReverseCorrelation of our own: t and df of Welch's test too.
    maps = ReverseCorrelation(SIZE, SIZE, cells=noise_cells(Protocol("sparse_noise", SIZE, {"grid": GRID})))
    maps.update(frames, responses)
    t, df, p = maps.on_off_test()
    for y, x in [(13, 9), (12, 16), (0, 0), (31, 31), (21, 14)]:
        on, off = responses[frames[:, y, x] > 0.5], responses[frames[:, y, x] < 0.5]
        reference = stats.ttest_ind(on, off, equal_var=False)
        assert t[y, x] == pytest.approx(reference.statistic, rel=1e-9)
        assert df[y, x] == pytest.approx(reference.df, rel=1e-9)
        assert p[y, x] == pytest.approx(reference.pvalue, rel=1e-7)
    np.testing.assert_allclose(maps.significance().p, snap.p_value, rtol=1e-6)


def test_sums_of_squares_keep_their_digits_under_a_large_mean_in_one_images_memory():
    rng = np.random.default_rng(2)
    frames = rng.choice([0.0, 0.5, 1.0], size=(60, 4, 5))
    responses = rng.normal(size=60)
    whole = ReverseCorrelation(4, 5)
    whole.update(frames, responses)
    assert np.isfinite(whole.on_off_test()[0]).all()
    offset = ReverseCorrelation(4, 5)
    offset.update(frames, responses + 1e9)  # (sum r)^2 / n would lose every digit of the variance
    np.testing.assert_allclose(offset.on_off_test()[0], whole.on_off_test()[0], rtol=1e-5)
    # Memory is one image's worth: every array it keeps is (H, W), however many frames.
    kept = [v for v in vars(whole).values() if isinstance(v, np.ndarray)]
    assert len(kept) >= 10 and all(v.shape == (4, 5) for v in kept)


def test_a_unit_that_never_varies_has_no_significant_pixel_and_a_lone_pixel_is_certain():
    rng = np.random.default_rng(0)
    frames = rng.choice([0.0, 0.5, 1.0], size=(40, 3, 3))
    flat = ReverseCorrelation(3, 3)
    flat.update(frames, np.full(40, 0.7))
    test = flat.significance()
    assert not test.significant.any() and np.all(test.p == 1.0) and test.n_significant == 0
    lone = ReverseCorrelation(3, 3)
    lone.update(frames, frames[:, 1, 2] - 0.5)  # the response is pixel (1, 2) itself, without noise
    test = lone.significance()
    assert test.p[1, 2] == 0.0 and test.significant[1, 2] and test.significant.sum() == 1
    few = ReverseCorrelation(3, 3)
    few.update(frames[:3], rng.normal(size=3))
    assert np.isnan(few.on_off_test()[2]).any() and few.significance().n_tests < 9  # untested, not counted


def test_benjamini_hochberg_matches_scipy_and_leaves_untested_pixels_out():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(size=80), rng.uniform(0, 1e-3, size=12)])
    expected = stats.false_discovery_control(p, method="bh") <= 0.05
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), expected)
    assert 5 < expected.sum() < 40
    with_nan = np.append(p, np.nan)
    np.testing.assert_array_equal(benjamini_hochberg(with_nan, 0.05), np.append(expected, False))
    assert not benjamini_hochberg(np.full(4, np.nan), 0.05).any()


def test_noise_cells_follow_the_protocols_grid_and_blocks():
    cells = noise_cells(Protocol("sparse_noise", (10, 7), {"grid": 3}))
    assert cells.shape == (10, 7) and len(np.unique(cells)) == 9
    # cell r spans rows floor(r * H / 3) .. floor((r + 1) * H / 3) - 1, as the stimuli draw them
    np.testing.assert_array_equal(cells[:, 0], [0, 0, 0, 3, 3, 3, 6, 6, 6, 6])
    np.testing.assert_array_equal(cells[0], [0, 0, 1, 1, 2, 2, 2])
    blocks = noise_cells(Protocol("white_noise", 6, {"block": 4}))
    assert len(np.unique(blocks)) == 4 and blocks[3, 3] == blocks[0, 0] != blocks[4, 0]
    assert noise_cells(Protocol("sparse_noise", 8, {"grid": [2, 4], "n_on": 1})) is None  # two grids: no shared cells


def test_the_false_discovery_rate_is_a_probability():
    job = from_fields(ReceptiveFieldMapping, {"layer": "1", "channel": 0, "fdr": 0.05}, "job")
    assert job.fdr == 0.05
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(UnitscopeError, match="fdr.*between 0 and 1"):
            from_fields(ReceptiveFieldMapping, {"layer": "1", "channel": 0, "fdr": bad}, "job")


def test_outline_segments_trace_the_edge_of_a_mask():
    from engine.figures.receptive_field import outline_segments

    mask = np.zeros((4, 5), dtype=bool)
    mask[1:3, 1:3] = True  # a 2 x 2 square: one segment per side, on the pixels' edges
    assert sorted(outline_segments(mask)) == [((0.5, 0.5), (0.5, 2.5)), ((0.5, 0.5), (2.5, 0.5)),
                                              ((0.5, 2.5), (2.5, 2.5)), ((2.5, 0.5), (2.5, 2.5))]
    mask[0, 4] = True  # a corner pixel: the image's border is an edge too
    assert len(outline_segments(mask)) == 8
    assert outline_segments(np.zeros((3, 3), dtype=bool)) == []


def test_the_figure_outlines_the_significant_cells_says_so_and_redraws_from_its_sidecar(planted, tmp_path):
    from matplotlib import colormaps
    from pypdf import PdfReader

    from engine.cli import main
    from engine.figures.receptive_field import FADE
    from engine.session.job import JobFile
    from engine.session.results import write_result
    from engine.session.values import ModelSpec

    snap = planted[0]
    job = ReceptiveFieldMapping("1", 0, noise_frames=FRAMES, grid=GRID, n_on=N_ON, seed=SEED, batch_size=64)
    result = write_result(tmp_path / "rf.npz", JobFile(ModelSpec("planted", device="cpu"), job), snap,
                          {"model": "planted"})
    out = tmp_path / "rf.pdf"
    assert main(["figure", str(result), "--out", str(out), "--width-mm", "85"]) == 0
    caption = (tmp_path / "rf.pdf.caption.txt").read_text()
    assert ("Cells outlined in black are those whose ON and OFF responses differ (Welch's two-sided t-test, "
            "Benjamini\u2013Hochberg false discovery rate 0.01 over the 64 noise cells tested: 3 significant); "
            "the others are drawn pale.") in caption
    with np.load(tmp_path / "rf.pdf.data.npz") as saved:
        np.testing.assert_array_equal(saved["significant"], cell_mask(PLANTED))
    # The one square raster of the page (no input or gradient was mapped; the others are colour
    # bars): significant pixels in the colour map's colours, the others keeping FADE of theirs.
    page = PdfReader(out).pages[0]
    (image,) = [np.asarray(x.get_object().decode_as_image().convert("RGB"))[::-1]
                for x in page["/Resources"]["/XObject"].values()
                if x.get_object()["/Subtype"] == "/Image" and x.get_object()["/Width"] == x.get_object()["/Height"]]
    f = image.shape[0] // SIZE
    drawn = image[::f, ::f].astype(float) / 255
    diff = snap.on_minus_off
    full = colormaps["RdBu_r"]((diff / np.abs(diff).max() + 1) / 2)[..., :3]
    expected = np.where(cell_mask(PLANTED)[..., None], full, 1 - FADE * (1 - full))
    assert np.abs(drawn - expected).max() < 1.5 / 255
    words = page.extract_text().split()
    assert "significant" in words and "(FDR" in words
    # Only the sparse-noise panel, lettered a; no empty input or gradient panel, and a caption to match.
    assert [w for w in words if len(w) == 1 and w.isalpha()] == ["a"]
    assert "sparse" in words and "input" not in words and "gradient" not in words
    assert re.findall(r"(?:^|\. )([a-z]), [A-Z]", caption) == ["a"]
    assert "a, Sparse-noise reverse correlation" in caption and "An input" not in caption
    again = tmp_path / "again.pdf"
    assert main(["figure", str(tmp_path / "rf.pdf.json"), "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_a_map_with_no_significant_cell_says_so_and_draws_no_outline_in_the_legend():
    import matplotlib

    from engine.figures.data import FigureData
    from engine.figures.render import caption_text, draw_figure
    from engine.figures.style import FigureOptions, rc_params

    rng = np.random.default_rng(0)
    data = FigureData("receptive_field", {"on_map": rng.normal(size=(16, 16)), "off_map": rng.normal(size=(16, 16)),
                                          "p_value": rng.uniform(0.2, 1, (16, 16)),
                                          "significant": np.zeros((16, 16), dtype=bool)},
                      {"unit": "1[0](4,4)", "n_frames": 50, "fdr": 0.05, "n_tests": 16, "n_significant": 0})
    caption = caption_text(data, FigureOptions())
    assert ("No cell's ON and OFF responses differ significantly (Welch's two-sided t-test, Benjamini\u2013Hochberg "
            "false discovery rate 0.05 over the 16 noise cells tested), so every cell is drawn pale.") in caption
    assert "outlined" not in caption
    with matplotlib.rc_context(rc_params(FigureOptions())):
        fig = draw_figure(data, FigureOptions())
    assert not any("significant" in t.get_text() for legend in fig.legends for t in legend.get_texts())
