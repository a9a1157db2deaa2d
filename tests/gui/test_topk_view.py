"""Top and bottom images from the window: resnet18 with known random weights, ranked over
the strip's images and compared with the engine's own top-k stream."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import resources
from engine.analyses.topk import image_crop, topk_stream
from engine.analyses.units import Unit, unit_geometry
from engine.stimuli.protocols import ImageFolder
from gui.window.main_window import MainWindow, StartupChoices
from gui.analyses.topk_view import value_text

LAYER = "layer2"


@pytest.fixture
def extra_images(tmp_path):
    """Three images written by the test: a bright square, vertical stripes, noise."""
    rng = np.random.default_rng(0)
    square = np.zeros((160, 200, 3), np.uint8)
    square[40:120, 60:140] = 255
    stripes = np.zeros((180, 180, 3), np.uint8)
    stripes[:, ::12] = (255, 0, 0)
    noise = rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)
    paths = []
    for name, array in (("square.png", square), ("stripes.png", stripes), ("noise.png", noise)):
        path = tmp_path / name
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def window(qtbot, resnet18_weights, extra_images):
    window = MainWindow(StartupChoices(model="resnet18", weights=str(resnet18_weights), device="cpu",
                                       layer=LAYER))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=30000, check_params_cb=lambda layer: layer == LAYER):
        window.show()
    window.strip.add_paths([str(p) for p in extra_images])
    window.panel.channel_clicked.emit(5)
    yield window
    window.close()


def engine_ranking(reference, paths, unit, k):
    from engine.anatomy.tree import build_anatomy

    anatomy = build_anatomy(reference.model.module, reference.model.input_size)
    geometry = unit_geometry(anatomy, unit)
    images = ImageFolder(paths, workers=0)
    ranking = None
    for ranking in topk_stream(reference.recorder, unit.layer, images, reference.preprocess, k,
                               channels=[unit.channel], y=geometry.unit.y, x=geometry.unit.x):
        pass
    return ranking, images, geometry


def test_top_and_bottom_crops_match_the_engine(window, qtbot, reference, extra_images):
    view = window.views["topk"]
    assert view.run_action.isEnabled() and view.run_action.shortcut().toString() == "Ctrl+Shift+K"
    view.k_spin.setValue(3)
    view.position_combo.setCurrentIndex(view.position_combo.findData("box"))  # the unit view's unit
    y, x = window.unit_view.position
    with qtbot.waitSignal(window.analysis_shown, timeout=30000, check_params_cb=lambda k: k == "topk"):
        view.run_action.trigger()
        assert window.status.is_busy_shown()
    assert window.docks["topk"].isVisible()
    snap = view.last_snapshot
    paths = [str(p.resolve()) for p in resources.sample_images()] + [str(p.resolve()) for p in extra_images]
    assert snap.done == snap.total == len(paths) == 7
    ranking, images, geometry = engine_ranking(reference, paths, Unit(LAYER, 5, y, x), 3)
    assert snap.unit_label == f"{LAYER}[5]({y},{x})"

    top, bottom = ranking.top(), ranking.bottom()
    np.testing.assert_allclose(snap.top_values, [v for v, _ in top], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(snap.bottom_values, [v for v, _ in bottom], rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(snap.top_values) <= 0) and np.all(np.diff(snap.bottom_values) >= 0)
    assert snap.top_names == [images.kept[i].name for _, i in top]
    assert view.top_grid.shown_values() == [value_text(v) for v, _ in top]
    assert view.bottom_grid.shown_values() == [value_text(v) for v, _ in bottom]

    t, left, b, right = geometry.box
    side = (int(np.ceil(b)) - int(np.floor(t)) + 1, int(np.ceil(right)) - int(np.floor(left)) + 1)
    for crop, (_, i) in zip(snap.top_crops + snap.bottom_crops, top + bottom):
        assert crop.dtype == np.uint8 and crop.shape == (*side, 3)
        np.testing.assert_array_equal(crop, image_crop(images.kept[i], reference.preprocess, geometry.box))
    assert view.top_grid.tiles[0].image_label.pixmap().width() > 0
    assert "Done: 7 images" in view.status_label.text()
