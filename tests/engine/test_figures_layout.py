"""Every figure kind at the journal widths: no text cut by the page edge, no two labels on top of each other."""

import matplotlib
import numpy as np
import pytest

from engine.figures.data import FigureData
from engine.figures.render import draw_figure, layout_problems
from engine.figures.style import FigureOptions, rc_params

PROV = {"model": "resnet50", "weights_file": "/w/resnet50-0676ba61.pth", "random_seed": -1}


def _kinds():
    rng = np.random.default_rng(0)
    orientations = np.arange(0, 180, 15.0)
    labels = [f"image_{i:03d}_with_a_long_name.jpg" for i in range(12)]
    rdm = rng.uniform(0, 1, (12, 12))
    rdm = (rdm + rdm.T) / 2
    np.fill_diagonal(rdm, 0)
    crops = {f"{end}_crop.{i}": rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
             for end in ("top", "bottom") for i in range(4)}
    metrics = {"f0": {"preferred_deg": 47.5, "osi": 0.61, "circular_variance": 0.42, "bandwidth_deg": 23.0}}
    box = [60.0, 60.0, 120.0, 120.0]
    return {
        "mosaic": FigureData("mosaic", {"values": rng.normal(size=(256, 14, 14))}, {"layer": "layer3.5.conv2",
                                                                                    "stimulus": "cat.jpg"}),
        "mosaic-few": FigureData("mosaic", {"values": rng.normal(size=(6, 56, 56))}, {"layer": "conv1"}),
        "unit": FigureData("unit", {"map": rng.normal(size=(28, 28)), "input_image": crops["top_crop.0"],
                                    "weights": rng.normal(size=(64, 3, 3))},
                           {"layer": "layer2.0.conv1", "channel": 17, "position": [14, 14], "rf_box": [5, 5, 30, 30]}),
        "tuning": FigureData("tuning", {"x": orientations, "f0": np.cos(np.radians(orientations - 45)) ** 2,
                                        "f1": 0.3 + 0 * orientations, "lo": 0 * orientations,
                                        "hi": 1.2 + 0 * orientations},
                             {"param": "orientation", "unit": "layer4.1.conv2[511](3,3)", "metrics": metrics,
                              "n_phases": 8, "protocol": "gratings"}),
        "sf": FigureData("tuning", {"x": np.geomspace(0.5, 16, 6), "f0": np.arange(6.0), "f1": np.ones(6)},
                         {"param": "sf_rf", "unit": "layer1[0](28,28)", "n_phases": 1}),
        "rdm": FigureData("rdm", {"rdm": rdm}, {"layer": "layer3", "labels": labels}),
        "population": FigureData("population", {"rdm": rdm, "scores": rng.normal(size=(12, 2)),
                                                "explained": np.array([0.5, 0.2]), "groups": np.arange(12.0)},
                                 {"layer": "layer3", "labels": labels, "participation_ratio": 3.2, "n_units": 1024}),
        "comparison": FigureData("comparison", {"rdm": rdm, "rdm_b": rdm ** 2},
                                 {"layer": "layer2", "layer_b": "layer4", "labels": labels, "rsa": 0.5, "cka": 0.9}),
        "topk": FigureData("topk", {"top_values": np.arange(4.0), "bottom_values": -np.arange(4.0), **crops},
                           {"unit": "layer3[7](7,7)", "top_names": labels[:4], "bottom_names": labels[4:8]}),
        "probe": FigureData("probe", {"responses": rng.normal(size=(12, 3))},
                            {"labels": ["layer1[0](28,28)", "layer2[3](14,14)", "layer3[9](7,7)"],
                             "stimulus_labels": labels}),
        "receptive_field": FigureData("receptive_field",
                                      {"image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
                                       "gradient": rng.uniform(size=(224, 224)), "on_map": rng.normal(size=(224, 224)),
                                       "off_map": rng.normal(size=(224, 224)), "p_value": rng.uniform(size=(224, 224)),
                                       "significant": np.kron(rng.uniform(size=(16, 16)) > 0.9,
                                                              np.ones((14, 14), dtype=bool))},
                                      {"unit": "layer2[3](14,14)", "theoretical_box": box, "empirical_box": box,
                                       "n_images": 4, "n_frames": 300, "rel_threshold": 0.01, "fdr": 0.01,
                                       "n_tests": 256, "n_significant": 25}),
    }


CASES = [(kind, 85.0) for kind in _kinds()] + [(kind, 180.0) for kind in ("unit", "population", "comparison",
                                                                           "receptive_field", "tuning")]


@pytest.mark.parametrize("kind, width", CASES)
def test_no_text_is_cut_or_overlaps(kind, width):
    data = _kinds()[kind]
    data.provenance = PROV
    options = FigureOptions(width_mm=width, dpi=100)  # sizes are in points: the layout does not depend on DPI
    with matplotlib.rc_context(rc_params(options)):
        fig = draw_figure(data, options)
        problems = layout_problems(fig)  # texts cut by the page edge, or lying on one another
        assert fig.get_size_inches()[0] == pytest.approx(width / 25.4)
    assert problems == []


def test_the_layout_check_finds_cut_and_overlapping_text():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.text(0.5, 0.5, "here")
    fig.text(0.5, 0.5, "again")
    fig.text(0.95, 0.1, "cut at the right edge")
    assert layout_problems(fig) == ["cut: 'cut at the right edge'", "overlap: 'here' and 'again'"]
