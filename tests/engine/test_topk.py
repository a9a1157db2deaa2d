"""Top and bottom k: the streaming merge equals a full sort; crops show the receptive field."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from engine.analyses.topk import TopK, image_crop, rf_crop, topk_stream
from engine.analyses.units import channel_responses
from engine.errors import UnitscopeError
from engine.models.preprocess import Preprocess
from engine.models.zoo import LoadedModel
from engine.recording.recorder import Recorder
from engine.stimuli.protocols import ImageFolder


def _full_sort(values: np.ndarray, k: int):
    """The reference: every response sorted at once (ties: earlier stimulus first)."""
    idx = np.arange(len(values))
    ok = ~np.isnan(values)
    top = sorted(zip(-values[ok], idx[ok]))[:k]
    bottom = sorted(zip(values[ok], idx[ok]))[:k]
    return [(-v, int(i)) for v, i in top], [(v, int(i)) for v, i in bottom]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, float("nan")]), min_size=1, max_size=40),
       k=st.integers(1, 6), batch=st.integers(1, 9))
def test_streamed_top_and_bottom_equal_a_full_sort(values, k, batch):
    values = np.array(values)
    ranking = TopK(k)
    for start in range(0, len(values), batch):
        chunk = values[start:start + batch]
        ranking.update(chunk[:, None], np.arange(start, start + len(chunk)))
    top, bottom = _full_sort(values, k)
    assert ranking.top() == top and ranking.bottom() == bottom
    assert ranking.n == len(values)


def test_several_units_are_ranked_independently():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 3))
    ranking = TopK(4, 3)
    for start in range(0, 50, 16):
        ranking.update(values[start:start + 16], np.arange(start, min(start + 16, 50)))
    for u in range(3):
        order = np.argsort(-values[:, u])
        assert [i for _, i in ranking.top(u)] == order[:4].tolist()
        assert [i for _, i in ranking.bottom(u)] == order[::-1][:4].tolist()


def test_k_must_be_positive():
    with pytest.raises(UnitscopeError):
        TopK(0)


def test_crop_pads_the_part_of_the_field_outside_the_image_with_grey():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    crop = rf_crop(image, (-2, 3, 2, 7))
    assert crop.shape == (5, 5, 3)
    assert (crop[:2] == 128).all() and (crop[:, 3:] == 128).all()
    np.testing.assert_array_equal(crop[2:, :3], image[0:3, 3:6])
    np.testing.assert_array_equal(rf_crop(image, None), image)


def test_topk_over_an_image_folder_equals_sorting_all_recorded_responses(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(7):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU())
    model = LoadedModel("toy", net, "random", source="python", input_size=(16, 16))
    pp = Preprocess(model)
    rec = Recorder(net, "cpu")
    folder = ImageFolder(tmp_path, workers=0)
    for ranking in topk_stream(rec, "1", folder, pp, k=3, batch_size=3):
        pass
    inputs = torch.stack([pp.image(Image.open(p).convert("RGB")) for p in folder.kept])
    everything = channel_responses(rec.record_one(["1"], inputs).outputs["1"]).double().numpy()
    for channel in range(5):
        top, bottom = _full_sort(everything[:, channel], 3)
        # the same images; values agree to float32 rounding (batches of 3 vs all 7 at once)
        for got, want in ((ranking.top(channel), top), (ranking.bottom(channel), bottom)):
            assert [i for _, i in got] == [i for _, i in want]
            np.testing.assert_allclose([v for v, _ in got], [v for v, _ in want], rtol=1e-5)
    box = (2.0, 3.0, 9.0, 12.0)
    crop = image_crop(folder.kept[0], pp, box)
    np.testing.assert_array_equal(crop, pp.to_display(inputs[0])[2:10, 3:13])
