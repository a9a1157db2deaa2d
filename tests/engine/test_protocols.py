"""Stimulus protocols: parameter grammar, conditions x phases, exact stimuli, batches, images."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine.errors import UnitscopeError
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Cancelled, Recorder
from engine.stimuli import procedural as stimuli
from engine.stimuli.protocols import ImageFolder, Protocol, parse_param, parse_values, record_stimuli

SIZE = 32


@pytest.fixture(scope="module")
def preprocess():
    return Preprocess(LoadedModel("toy", nn.Identity(), "none", source="python", input_size=(SIZE, SIZE)))


def test_range_is_start_stop_count_with_stop_excluded():
    values = parse_values("0:180:36")
    assert len(values) == 36 and values[0] == 0 and values[1] == 5 and values[-1] == 175
    assert parse_values("1,2,4").tolist() == [1, 2, 4]
    assert parse_values(" 0.5 ").tolist() == [0.5]
    assert parse_param("orientation=0:180:4")[0] == "orientation"
    assert parse_param("orientation=0:180:4")[1].tolist() == [0, 45, 90, 135]


@pytest.mark.parametrize("text", ["0:180", "0:180:0", "a,b", "1:2:3:4", "", "nan"])
def test_bad_values_are_a_clear_error(text):
    with pytest.raises(UnitscopeError):
        parse_values(text)


def test_bad_parameter_text_is_a_clear_error():
    with pytest.raises(UnitscopeError, match="NAME=VALUES"):
        parse_param("orientation")


def test_gratings_default_to_eight_phases_per_condition_and_exact_images():
    p = Protocol("gratings", SIZE, {"orientation": [0, 45, 90], "sf": [2, 4]}, center=(10, 12))
    assert p.phases.tolist() == [0, 45, 90, 135, 180, 225, 270, 315]
    assert p.n_conditions == 6 and len(p) == 48 and p.swept == ["orientation", "sf"]
    params, image = p.stimulus(8 * 3 + 5)  # condition 3 = (45, 4), phase index 5
    assert params == {"orientation": 45.0, "sf": 4.0, "contrast": 1.0, "aperture": 0.0, "phase": 225.0}
    np.testing.assert_array_equal(image, stimuli.sine_grating(SIZE, 45, 4, 225, 1.0, None, (10, 12)))


def test_sf_per_receptive_field_converts_to_cycles_per_image():
    p = Protocol("gratings", SIZE, {"sf_rf": [1, 2], "orientation": [0]}, rf_side=16)
    assert [c["sf"] for c in p.conditions] == [2.0, 4.0]
    assert [c["sf_rf"] for c in p.conditions] == [1.0, 2.0]
    q = Protocol("gratings", SIZE, {"sf": [8], "orientation": [0]}, rf_side=8)
    assert q.conditions[0]["sf_rf"] == 2.0


def test_aperture_limits_the_grating_to_a_disc_around_the_centre():
    p = Protocol("gratings", SIZE, {"aperture": [5], "orientation": [0]}, center=(16, 16), phases=1)
    _, image = p.stimulus(0)
    assert image[16, 16, 0] == pytest.approx(1.0)  # phase 0 puts a bright peak at the centre
    assert image[16, 22, 0] == 0.5 and image[0, 0, 0] == 0.5


@pytest.mark.parametrize("params, message", [
    ({"colour": [1]}, "no parameter 'colour'"),
    ({"sf": [1], "sf_rf": [1]}, "not both"),
    ({"sf_rf": [1]}, "receptive field"),
    ({"contrast": [2]}, "contrast"),
])
def test_bad_protocol_parameters_are_clear_errors(params, message):
    with pytest.raises(UnitscopeError, match=message):
        Protocol("gratings", SIZE, params)


def test_unknown_protocol_names_the_choices():
    with pytest.raises(UnitscopeError, match="gratings, gabors, bars"):
        Protocol("plaids", SIZE)


def test_gabors_and_bars_sit_in_the_receptive_field():
    gabor = Protocol("gabor", SIZE, {"orientation": [0]}, center=(8, 20), rf_side=12, phases=1)
    cond = gabor.conditions[0]
    assert cond["sigma"] == 2.0 and cond["sf_rf"] == 2.0 and cond["sf"] == pytest.approx(2 * SIZE / 12)
    _, image = gabor.stimulus(0)
    assert np.unravel_index(np.argmax(image[..., 0]), image.shape[:2]) == (8, 20)
    bars = Protocol("bars", SIZE, {"orientation": [0], "offset": [0, 4]}, center=(16, 10), rf_side=16)
    assert bars.phases.tolist() == [0.0] and "phase" not in bars.stimulus(0)[0]
    _, centred = bars.stimulus(0)
    _, shifted = bars.stimulus(1)
    assert centred[16, 10, 0] == 1.0 and centred[16, 14, 0] == 0.5
    assert shifted[16, 14, 0] == 1.0 and shifted[16, 10, 0] == 0.5


def test_noise_frames_use_consecutive_seeds():
    p = Protocol("sparse-noise", SIZE, {"frames": [3], "grid": [8], "n_on": [2], "seed": [5]})
    assert len(p) == 3 and p.swept == ["frame"]
    for frame in range(3):
        params, image = p.stimulus(frame)
        assert params["frame"] == frame
        np.testing.assert_array_equal(image, stimuli.sparse_noise(SIZE, 8, 5 + frame, 2)[0])
    w = Protocol("white_noise", SIZE, {"frames": [2], "block": [4]})
    np.testing.assert_array_equal(w.stimulus(1)[1], stimuli.white_noise(SIZE, 1, "binary", block_px=4))


def test_batches_cover_every_stimulus_in_order(preprocess):
    p = Protocol("gratings", SIZE, {"orientation": [0, 90]}, phases=4)
    seen = list(p.batches(preprocess, batch_size=3))
    assert [b.start for b in seen] == [0, 3, 6] and [b.size for b in seen] == [3, 3, 2]
    condition = np.concatenate([b.condition for b in seen])
    phase = np.concatenate([b.phase for b in seen])
    assert condition.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert phase.tolist() == [0, 90, 180, 270] * 2
    last = seen[-1]
    params, image = p.stimulus(7)
    assert last.params[-1] == params
    np.testing.assert_array_equal(last.images[-1], image)
    assert torch.equal(last.inputs[-1], preprocess.array(image))


def test_record_stimuli_pairs_batches_with_outputs_and_can_be_cancelled(preprocess):
    net = nn.Sequential(nn.Conv2d(3, 2, 3))
    rec = Recorder(net, "cpu")
    p = Protocol("bars", SIZE, {"orientation": [0, 45, 90]})
    pairs = list(record_stimuli(rec, ["0"], p, preprocess, batch_size=2))
    assert [(b.start, r.start) for b, r in pairs] == [(0, 0), (2, 2)]
    with torch.no_grad():
        expected = net(pairs[1][0].inputs)
    assert torch.allclose(pairs[1][1].outputs["0"], expected)
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        list(record_stimuli(rec, ["0"], p, preprocess, 2, cancelled=lambda: next(calls)))


def test_image_folder_skips_unreadable_files_and_records_paths(tmp_path, preprocess):
    for i in range(3):
        Image.new("RGB", (40, 30), (60 * i, 20, 200)).save(tmp_path / f"img{i}.png")
    (tmp_path / "img1b.png").write_text("not an image")
    folder = ImageFolder(tmp_path, workers=0)
    heard = []
    folder.on_error = lambda path, message: heard.append(path.name)
    batches = list(folder.batches(preprocess, batch_size=2))
    assert heard == ["img1b.png"] and [p.name for p, _ in folder.skipped] == ["img1b.png"]
    assert [p.name for p in folder.kept] == ["img0.png", "img1.png", "img2.png"]
    params = [p["image"] for b in batches for p in b.params]
    assert params == [str(p) for p in folder.kept]
    assert np.concatenate([b.condition for b in batches]).tolist() == [0, 1, 2]
    assert all(b.images is None for b in batches)


def test_empty_image_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UnitscopeError, match="No image files"):
        ImageFolder(tmp_path)
