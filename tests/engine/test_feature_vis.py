"""Feature visualisation: a planted Gabor channel gets its orientation back, beats every
built-in input, and the same seed gives the same image bit for bit."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from planted_units import MEAN, STD, gabor, grey, one_thread, planted_conv, session_for, write_factory  # noqa: F401
from torch import nn

from engine.analyses.feature_vis import (
    COLOR_MIX,
    FourierImage,
    Objective,
    dominant_orientation,
    spectrum_scale,
    visualize,
)
from engine.cli import main
from engine.errors import UnitscopeError
from engine.jobs.visualize import Visualize
from engine.stimuli.procedural import PROCEDURAL, sine_grating
from resources import sample_images

PLANTED = 30.0
FACTORY = f"""
rng = np.random.default_rng(0)
k = 11
y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
u = x * math.cos(math.radians({PLANTED})) + y * math.sin(math.radians({PLANTED}))
g = np.exp(-(x**2 + y**2) / 18.0) * np.cos(2 * math.pi * u / 6.0)
conv = nn.Conv2d(3, 4, k)
with torch.no_grad():
    conv.weight.copy_(torch.as_tensor(rng.normal(size=(4, 3, k, k)) * 0.01))
    conv.weight[1] = torch.as_tensor(np.stack([g * s for s in (0.229, 0.224, 0.225)]))
    conv.bias.zero_()
return nn.Sequential(conv, nn.ReLU())
"""


def _angle_between(a, b):
    d = abs(a - b) % 180
    return min(d, 180 - d)


def _channel_mean(net, pixels: np.ndarray, channel: int) -> float:
    """Plain torch: the channel's mean over the map for an image (H, W, 3) in [0, 1]."""
    x = (torch.as_tensor(pixels, dtype=torch.float32).permute(2, 0, 1) - torch.tensor(MEAN).view(3, 1, 1).float()) \
        / torch.tensor(STD).view(3, 1, 1).float()
    with torch.no_grad():
        return float(net(x[None])[0, channel].mean())


def test_planted_gabor_channel_is_visualised_at_its_orientation_and_beats_every_builtin_input(tmp_path):
    spec = write_factory(tmp_path, FACTORY)
    out = tmp_path / "vis.npy"
    assert main(["visualize", spec, "--layer", "1", "--channel", "1", "--steps", "64", "--size", "64",
                 "--seed", "3", "--device", "cpu", "--out", str(out)]) == 0
    image = np.load(out)
    assert image.shape == (64, 64, 3) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    assert _angle_between(dominant_orientation(image), PLANTED) <= 15
    side = json.loads((tmp_path / "vis.npy.json").read_text())["provenance"]
    assert side["objective"] == "1[1]" and side["job"]["job"]["kind"] == "visualize"
    # independent check: a plain forward pass of the same network
    import importlib.util
    module_spec = importlib.util.spec_from_file_location("planted_net", tmp_path / "net.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    net = module.build().eval()
    final = _channel_mean(net, image, 1)
    assert final == pytest.approx(side["activation"][0], rel=1e-4)
    builtin = [_channel_mean(net, make(224), 1) for make in PROCEDURAL.values()]
    photos = [_channel_mean(net, np.asarray(Image.open(p).convert("RGB").resize((224, 224))) / 255.0, 1)
              for p in sample_images()]
    assert photos and final > max(builtin + photos)
    assert side["best_input_activation"] <= max(builtin + photos) + 1e-6  # the command compared the same inputs


def test_same_seed_same_image_bit_for_bit_and_another_seed_differs():
    net = nn.Sequential(planted_conv([grey(gabor(60, 6, 2, k=9))]), nn.ReLU()).eval()
    run = lambda seed: list(visualize(net, Objective("1", 0), (40, 40), MEAN, STD, steps=12, every=4,
                                      seed=seed))  # noqa: E731
    a, b, c = run(5), run(5), run(6)
    assert [s.step for s in a] == [4, 8, 12] and a[-1].activation is not None and a[0].activation is None
    for x, y in zip(a, b):
        assert np.array_equal(x.images, y.images)
    assert not np.array_equal(a[-1].images, c[-1].images)


def test_a_single_unit_and_a_one_hot_direction_are_objectives_too():
    conv = planted_conv([grey(gabor(0, 6, 2, k=9)), grey(gabor(90, 6, 2, k=9))])
    net = nn.Sequential(conv, nn.ReLU()).eval()
    out = net(torch.randn(2, 3, 20, 20))
    assert torch.equal(Objective("1", 1, 3, 4).values(out), out[:, 1, 3, 4])
    assert torch.allclose(Objective("1", direction=(0.0, 1.0)).values(out), out[:, 1].mean(dim=(1, 2)))
    with pytest.raises(UnitscopeError, match="outside the 12 x 12 map"):
        Objective("1", 0, 12, 0).check(out.shape)
    with pytest.raises(UnitscopeError, match="Channel 2 is not in layer"):
        Objective("1", 2).check(out.shape)
    with pytest.raises(UnitscopeError, match="direction has 3 values"):
        Objective("1", direction=(1.0, 0.0, 0.0)).check(out.shape)
    # a unit at the map centre (before the ReLU, which would be silent at grey): the image changes in its RF only
    final = list(visualize(net, Objective("0", 0, 6, 6), (20, 20), MEAN, STD, steps=40, every=40,
                           transforms=False))[-1]
    deviation = np.abs(final.images[0] - 0.5).mean(axis=-1)
    assert deviation[6:15, 6:15].mean() > 3 * max(deviation[:3].mean(), deviation[-3:].mean())


def test_fourier_parameterisation_is_decorrelated_and_starts_near_grey():
    scale = spectrum_scale(8, 10)
    assert scale.shape == (8, 6) and scale[0, 0] == pytest.approx(10.0)  # 1 / (1 / max(H, W))
    assert scale[0, 1] == pytest.approx(10.0) and scale[4, 5] == pytest.approx(1 / math.hypot(0.5, 0.5))
    assert np.linalg.norm(COLOR_MIX, axis=0).max() == pytest.approx(1.0)
    image = FourierImage(2, 32, 32, seed=0)()
    assert image.shape == (2, 3, 32, 32) and float((image.detach() - 0.5).abs().max()) < 0.1
    assert torch.equal(image, FourierImage(2, 32, 32, seed=0)())  # same seed, same start


def test_visualize_job_streams_snapshots_and_compares_with_the_inputs():
    net = nn.Sequential(planted_conv([grey(gabor(45, 6, 2, k=9))]), nn.ReLU())
    session = session_for(net, 32)
    job = Visualize("1", 0, steps=8, every=4, compare=(("procedural", "grating"), ("procedural", "bar")))
    snaps = list(session.run(job))
    assert [s.done for s in snaps] == [4, 8] and snaps[-1].total == 8
    assert snaps[-1].images.shape == (1, 32, 32, 3) and snaps[-1].best_input_label in ("grating", "bar")
    grating = sine_grating(32, 0.0, 4.0)
    assert snaps[-1].best_input >= _channel_mean(net, grating, 0) - 1e-6
    assert session.hooks_left() == [] and all(p.requires_grad for p in net.parameters())
    with pytest.raises(UnitscopeError, match="Unknown layer"):
        list(session.run(Visualize("nope", 0, steps=1)))


def test_visualize_command_writes_a_png_with_its_record(tmp_path, capsys):
    spec = write_factory(tmp_path, "return nn.Sequential(nn.Conv2d(3, 2, 5), nn.ReLU())\n")
    out = tmp_path / "v.png"
    assert main(["visualize", spec, "--layer", "1", "--channel", "0", "--y", "3", "--x", "4", "--steps", "4",
                 "--size", "24", "--device", "cpu", "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (24, 24) and json.loads(image.text["unitscope"])["objective"] == "1[0](3,4)"
    assert "activation" in capsys.readouterr().out
    assert main(["visualize", spec, "--layer", "1", "--channel", "0", "--out", str(tmp_path / "v.gif")]) == 2
    assert "must end in one of .png, .npy" in capsys.readouterr().err
    assert main(["visualize", spec, "--layer", "1", "--channel", "9", "--steps", "2", "--size", "24",
                 "--out", str(tmp_path / "w.png")]) == 2
    assert "Channel 9 is not in layer '1'" in capsys.readouterr().err


def test_the_three_new_jobs_survive_a_json_round_trip():
    from engine.jobs.evidence import EvidenceMaps
    from engine.jobs.properties import Properties
    from engine.session.job import job_from_dict, job_to_dict

    for job in (Visualize("l", 1, 2, 3, direction=(1.0, 2.0), compare=(("image", "a.jpg"),)),
                EvidenceMaps("l", 1, None, None, ("image", "x.jpg")), Properties("l", 5)):
        assert job_from_dict(json.loads(json.dumps(job_to_dict(job)))) == job


def test_diversity_penalty_is_the_mean_cosine_similarity_of_gram_matrices():
    from engine.analyses.feature_vis import diversity_penalty

    same = torch.ones(3, 2, 4, 4)
    assert float(diversity_penalty(same)) == pytest.approx(2.0)  # 3 x 2 pairs of cosine 1, over 3 images
    apart = torch.zeros(2, 2, 1, 1)
    apart[0, 0], apart[1, 1] = 1.0, 1.0  # Gram matrices e00 and e11: orthogonal
    assert float(diversity_penalty(apart)) == pytest.approx(0.0)


def test_the_diversity_term_makes_the_images_differ_where_the_objective_allows_it(one_thread):  # noqa: F811
    """Four Gabor channels (0, 45, 90, 135 deg) and the direction "all of them": any orientation
    serves the objective.  Three images optimised together with the diversity term end up
    less alike (the summed cosine similarity of their Gram matrices, the term itself, and the
    correlation of their pixels) than the same three without it, from the same seed."""
    from engine.analyses.feature_vis import diversity_penalty

    net = nn.Sequential(planted_conv([grey(gabor(a, 6, 2, k=9)) for a in (0, 45, 90, 135)]), nn.ReLU()).eval()
    objective = Objective("1", direction=(1.0, 1.0, 1.0, 1.0))

    def run(weight):
        last = list(visualize(net, objective, (48, 48), MEAN, STD, steps=48, every=48, seed=3, n_images=3,
                              diversity=weight))[-1]
        x = (torch.as_tensor(last.images).permute(0, 3, 1, 2) - torch.tensor(MEAN).view(1, 3, 1, 1).float()) \
            / torch.tensor(STD).view(1, 3, 1, 1).float()
        with torch.no_grad():
            penalty = float(diversity_penalty(net(x.float())))
        flat = last.images.reshape(3, -1) - last.images.reshape(3, -1).mean(axis=1, keepdims=True)
        correlation = np.corrcoef(flat)[np.triu_indices(3, 1)].mean()
        return penalty, correlation, last.activation

    alike, diverse = run(0.0), run(50.0)
    assert diverse[0] < alike[0] - 0.05, (alike, diverse)
    assert diverse[1] < alike[1], (alike, diverse)
    assert np.all(diverse[2] > 0)  # every image still drives the direction
