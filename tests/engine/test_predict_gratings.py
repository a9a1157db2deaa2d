"""Responses to gratings named by their labels: the predict job draws them (no image files),
the neurons' orientation tuning curves equal a computation by hand from the responses, the
matched unit's curve equals the unit's response recorded by a forward hook on gratings drawn
here, and a bad label is one line naming it and why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from planted_gratings import ORIENTATIONS, PHASES, SFS, SIZE, grating_by_hand, grid, hooked, label, normalised, \
    tuning_by_hand
from planted_neurons import LAYERS, plant, planted_net
from planted_units import one_thread, session_for  # noqa: F401

from engine.cli import main
from engine.errors import UnitscopeError
from engine.figures.predictivity import neuron_unit_data
from engine.figures.render import draw_figure, layout_problems
from engine.figures.style import FigureOptions, rc_params
from engine.jobs.predict import Predict
from engine.neural.gratings import Grating, grating_table, parse_label
from engine.session.job import job_to_dict
from engine.session.results import read_result


@pytest.fixture(scope="module")
def grating_run(tmp_path_factory):
    """Neurons read out of layer '5', shown the grating grid; rows shuffled, no image files."""
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("gratings")
    net = planted_net()
    stimuli = grid()
    images = np.stack([grating_by_hand(o, f, p) for o, f, p in stimuli])
    units = hooked(net, "5", images)
    responses, _, _ = plant(units, neurons=6, repeats=4, reliability=0.8)
    order = np.random.default_rng(3).permutation(len(stimuli))
    np.savez(tmp / "r.npz", responses=responses[order], stimuli=np.array([label(*stimuli[i]) for i in order]))
    job = Predict(str(tmp / "r.npz"), (), LAYERS, boots=20, splits=5)
    snapshots = list(session_for(planted_net(), SIZE).run(job))
    return snapshots, job, net, images, responses, tmp


def test_the_job_draws_the_labelled_gratings_in_row_order(grating_run):
    snapshots, _, net, images, _, _ = grating_run
    result = snapshots[-1]
    assert result.finished == list(LAYERS) and result.image_paths == [""] * len(images)
    order = np.random.default_rng(3).permutation(len(images))
    for i, layer in enumerate(LAYERS):
        recorded = hooked(net, layer, images[order])
        np.testing.assert_allclose(result.unit_response[i], recorded[:, result.best_unit[i]], rtol=1e-5, atol=1e-6)


def test_the_tuning_curves_are_the_responses_by_hand_and_the_units_by_hook(grating_run):
    snapshots, _, net, images, responses, _ = grating_run
    result = snapshots[-1]
    shaped = responses.reshape(len(ORIENTATIONS), len(SFS), len(PHASES), *responses.shape[1:])
    curve, sem, sf = tuning_by_hand(shaped)
    np.testing.assert_allclose(result.orientations, ORIENTATIONS)
    np.testing.assert_allclose(result.tuning_mean, curve, rtol=1e-12)
    np.testing.assert_allclose(result.tuning_sem, sem, rtol=1e-12)
    np.testing.assert_array_equal(result.tuning_sf, sf)
    np.testing.assert_array_equal(result.tuning_contrast, np.ones(6))
    for i, layer in enumerate(LAYERS):
        units = hooked(net, layer, images).reshape(len(ORIENTATIONS), len(SFS), len(PHASES), -1)
        for n in range(6):
            unit = units[:, SFS.index(sf[n]), :, result.best_unit[i, n]].mean(axis=1)
            np.testing.assert_allclose(result.unit_tuning[i, n], unit, rtol=1e-5, atol=1e-6)


def test_the_neuron_unit_figure_overlays_the_curves_scaled_to_the_neurons_range(grating_run):
    import matplotlib

    snapshots, job, _, _, _, _ = grating_run
    result = snapshots[-1]
    data = neuron_unit_data(dataclasses.asdict(result), job_to_dict(job), neuron=4)
    i = LAYERS.index(data.meta["layer"])
    np.testing.assert_array_equal(data.arrays["tuning_neuron"], result.tuning_mean[4])
    np.testing.assert_array_equal(data.arrays["tuning_sem"], result.tuning_sem[4])
    unit = result.unit_tuning[i, 4]
    np.testing.assert_array_equal(data.arrays["tuning_unit"], unit)
    neuron = result.tuning_mean[4]
    by_hand = neuron.min() + (unit - unit.min()) / (unit.max() - unit.min()) * (neuron.max() - neuron.min())
    np.testing.assert_allclose(data.arrays["tuning_unit_scaled"], by_hand, rtol=1e-12)
    assert data.meta["tuning_sf"] == result.tuning_sf[4]
    for width in (89.0, 183.0):
        options = FigureOptions(width_mm=width)
        with matplotlib.rc_context(rc_params(options)):
            fig = draw_figure(data, options)
            assert layout_problems(fig) == []
        tuning_axes = fig.axes[2]
        lines = [line for line in tuning_axes.get_lines() if len(line.get_xdata()) == len(ORIENTATIONS)]
        np.testing.assert_allclose(lines[0].get_ydata(), neuron)
        np.testing.assert_allclose(lines[-1].get_ydata(), by_hand)
    from engine.figures.render import caption_text

    text = caption_text(data, FigureOptions(width_mm=89))
    assert "0\u00b0: vertical bars" in text and "scaled linearly" in text and "SEM over repeats" in text


def test_images_and_gratings_mixed_in_one_file(tmp_path, capsys):
    net = planted_net()
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    photos = rng.integers(0, 256, size=(10, SIZE, SIZE, 3), dtype=np.uint8)
    for k, photo in enumerate(photos):
        Image.fromarray(photo).save(folder / f"p{k}.png")
    stimuli = grid()[::4][:20]
    names = [label(*s) for s in stimuli] + [f"p{k}" for k in range(10)]
    session = session_for(planted_net(), SIZE)
    import torch

    inputs = torch.cat([normalised(np.stack([grating_by_hand(*s) for s in stimuli])),  # files: resized, cropped
                        torch.stack([session.preprocess.image(Image.open(folder / f"p{k}.png")) for k in range(10)])])
    order = rng.permutation(len(names))
    np.savez(tmp_path / "r.npz", responses=rng.normal(size=(30, 3, 2))[order],
             stimuli=np.array(names)[order])
    job = Predict(str(tmp_path / "r.npz"), tuple(str(p) for p in sorted(folder.iterdir())), ("3",), folds=3,
                  boots=5, splits=3)
    result = session.result(job)
    recorded = hooked(net, "3", inputs[order])
    np.testing.assert_allclose(result.unit_response[0], recorded[:, result.best_unit[0]], rtol=1e-5, atol=1e-6)
    assert [p.rsplit("/", 1)[-1] for p in result.image_paths] == [
        f"{n}.png" if n.startswith("p") else "" for n in np.array(names)[order]]
    assert result.orientations.size == len(np.unique([s[0] for s in stimuli]))
    # The Methods text of the result names both kinds of stimuli, with their numbers.
    from engine.session.job import JobFile
    from engine.session.results import write_result

    out = write_result(tmp_path / "R.npz", JobFile(session.model, job), result, session.provenance())
    assert main(["methods", str(out)]) == 0
    assert "neurons' responses to 10 images and 20 full-field sine gratings, drawn at the model's input size" \
        in capsys.readouterr().out


@pytest.mark.parametrize("name, reason", [
    ("grating orientation=30", "'grating orientation=30' has no sf"),
    ("grating sf=4", "has no orientation"),
    ("grating orientation=x sf=4", "orientation 'x' is not a number"),
    ("grating orientation=30 sf=4 colour=2", "unknown parameter 'colour'; a grating label has orientation, sf, "
                                             "phase, contrast"),
    ("grating orientation=30 sf=4 contrast=2", "contrast must be from 0 to 1"),
    ("grating orientation=30 sf=0", "sf must be above 0"),
    ("grating orientation=30 sf=4 sf=8", "gives 'sf' twice"),
    ("grating orientation=30 sf=inf", "sf must be a finite number"),
    ("grating orientation=30 4", "'4' is not NAME=VALUE"),
])
def test_a_bad_label_is_one_line_naming_it_and_why(tmp_path, name, reason):
    with pytest.raises(UnitscopeError, match=f"Stimulus label '{name}'") as caught:
        parse_label(name)
    assert reason in str(caught.value) and "\n" not in str(caught.value)
    names = [label(0, 2, 0), label(90, 2, 0), name]
    np.savez(tmp_path / "r.npz", responses=np.ones((3, 2)), stimuli=np.array(names))
    with pytest.raises(UnitscopeError, match=reason.replace("(", "\\(")):
        session_for(planted_net(), SIZE).result(Predict(str(tmp_path / "r.npz"), (), ("1",)))


def test_names_that_are_neither_labels_nor_images_are_one_line(tmp_path, capsys):
    np.savez(tmp_path / "r.npz", responses=np.ones((3, 2)),
             stimuli=np.array([label(0, 2, 0), "cat.png", "grating 7.png"]))
    with pytest.raises(UnitscopeError, match="2 stimulus\\(es\\) are not grating labels and no images were given: "
                                             "'cat.png', 'grating 7.png'. Give their image files"):
        session_for(planted_net(), SIZE).result(Predict(str(tmp_path / "r.npz"), (), ("1",)))


def test_labels_parse_to_the_protocols_parameters():
    assert parse_label("Grating  orientation=30, sf=4 phase=90 contrast=0.5") == Grating(30.0, 4.0, 90.0, 0.5)
    assert parse_label("gratings sf=8 orientation=-15") == Grating(-15.0, 8.0, 0.0, 1.0)
    # theta + 180 at phase p is the image of theta at phase -p: the table says so
    table = grating_table([Grating(210.0, 4.0, 90.0), Grating(30.0, 4.0, 270.0), None])
    np.testing.assert_allclose(table[0], [30.0, 4.0, 270.0, 1.0])
    np.testing.assert_allclose(table[0], table[1])
    assert np.isnan(table[2]).all()
    np.testing.assert_allclose(Grating(210.0, 4.0, 90.0).image(SIZE), Grating(30.0, 4.0, 270.0).image(SIZE),
                               atol=1e-6)
    np.testing.assert_allclose(Grating(30.0, 4.0, 90.0, 0.5).image(SIZE), grating_by_hand(30.0, 4.0, 90.0, 0.5),
                               atol=1e-6)


def test_the_command_needs_no_images_for_labelled_gratings(tmp_path, capsys):
    from planted_units import write_factory

    spec = write_factory(tmp_path, """
        return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(4, 8, 3, stride=8, padding=1), nn.ReLU())
        """)
    rng = np.random.default_rng(1)
    names = [label(o, f, p) for o, f, p in grid()[::2]]
    np.savez(tmp_path / "r.npz", responses=rng.normal(size=(len(names), 3, 3)), stimuli=np.array(names))
    out = tmp_path / "R.npz"
    assert main(["predict", spec, "--responses", str(tmp_path / "r.npz"), "--layers", "1", "3", "--boots", "5",
                 "--device", "cpu", "--out", str(out)]) == 0
    assert "saved" in capsys.readouterr().out
    job, fields, _ = read_result(out)
    assert job.job.images == () and fields["tuning_mean"].shape == (3, len(ORIENTATIONS))
    assert fields["unit_tuning"].shape == (2, 3, len(ORIENTATIONS))
    assert main(["methods", str(out)]) == 0
    assert f"responses to {len(names)} full-field sine gratings, drawn at the model's input size" \
        in capsys.readouterr().out
