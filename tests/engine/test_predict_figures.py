"""The predict job's figures (layer sweep, neuron vs unit) and Methods text, from a real run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from planted_neurons import LAYERS, plant, planted_net
from planted_units import session_for

from engine.cli import main
from engine.figures.methods import bibtex
from engine.figures.predictivity import methods, neuron_unit_data, sweep_data
from engine.figures.render import draw_figure, layout_problems, render_bytes
from engine.figures.style import FigureOptions, rc_params
from engine.jobs.predict import Predict
from engine.jobs.record_images import RecordImages
from engine.session.job import JobFile, job_to_dict
from engine.session.results import write_result


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from PIL import Image

    tmp = tmp_path_factory.mktemp("fig")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(60):
        paths.append(tmp / f"s{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(paths[-1])
    session = session_for(planted_net(), 16)
    units = session.result(RecordImages(("5",), tuple(map(str, paths)), 64, 0)).outputs["5"].reshape(60, -1)
    responses, _, _ = plant(units.astype(float), neurons=6)
    np.savez(tmp / "r.npz", responses=responses, stimuli=np.array([p.name for p in paths]))
    job = Predict(str(tmp / "r.npz"), tuple(map(str, paths)), LAYERS, boots=20, splits=5)
    result = session.result(job)
    out = write_result(tmp / "R.npz", JobFile(session.model, job), result, session.provenance(deg_per_image=8.0))
    return result, job, out


def test_sweep_data_holds_the_medians_over_neurons(run):
    result, job, _ = run
    data = sweep_data(dataclasses.asdict(result), job_to_dict(job))
    assert data.meta["layers"] == list(LAYERS)
    np.testing.assert_allclose(data.arrays["r"], np.median(result.r, axis=1))
    np.testing.assert_allclose(data.arrays["normalised"], np.median(result.normalised, axis=1))
    np.testing.assert_allclose(data.arrays["ceiling"],
                               [np.median(result.ceiling), *np.median(result.ceiling_ci, axis=0)])
    np.testing.assert_allclose(data.arrays["rsa"], result.rsa)


def test_neuron_unit_data_is_the_neurons_best_layer_and_unit(run):
    result, job, _ = run
    data = neuron_unit_data(dataclasses.asdict(result), job_to_dict(job), neuron=2)
    i = int(np.argmax(result.normalised[:, 2]))
    assert data.meta["layer"] == LAYERS[i]
    np.testing.assert_array_equal(data.arrays["neuron"], result.mean[:, 2])
    np.testing.assert_array_equal(data.arrays["unit"], result.unit_response[i, :, 2])
    assert data.meta["unit"] == f"{LAYERS[i]}[{result.best_channel[i, 2]}]({result.best_y[i, 2]},{result.best_x[i, 2]})"


@pytest.mark.parametrize("width", [85.0, 180.0])
def test_both_figures_lay_out_cleanly(run, width):
    import matplotlib

    result, job, _ = run
    options = FigureOptions(width_mm=width)
    for data in (sweep_data(dataclasses.asdict(result), job_to_dict(job)),
                 neuron_unit_data(dataclasses.asdict(result), job_to_dict(job), 0)):
        with matplotlib.rc_context(rc_params(options)):
            assert layout_problems(draw_figure(data, options)) == []
        assert render_bytes(data, options, "png")[:4] == b"\x89PNG"


def test_unitscope_figure_and_methods_read_a_predict_result(run, tmp_path, capsys):
    _, _, out = run
    assert main(["figure", str(out), "--out", str(tmp_path / "sweep.pdf")]) == 0
    assert (tmp_path / "sweep.pdf").read_bytes()[:4] == b"%PDF"
    assert main(["methods", str(out), "--bib", str(tmp_path / "refs.bib")]) == 0
    text = capsys.readouterr().out
    for cite in ("Yamins et al., 2014", "Schrimpf et al., 2018", "Kriegeskorte et al., 2008", "Marques et al., 2021"):
        assert cite in text
    assert "spanning 8\u00b0" in text and "Spearman\u2013Brown" in text
    bib = (tmp_path / "refs.bib").read_text()
    assert "Prescott-Roy, Jonathan" in bib and "Seibert, Darren" in bib and "Marques, Tiago" in bib


def test_unitscope_figure_neuron_draws_that_neuron_beside_its_best_unit(run, tmp_path, capsys):
    from engine.figures.sidecar import read_sidecar

    result, job, out = run
    name = result.neurons[2]
    expected = neuron_unit_data(dataclasses.asdict(result), job_to_dict(job), neuron=2)
    for given, figure in ((["--neuron", "2"], "by_index.pdf"), (["--neuron", name], "by_name.pdf")):
        assert main(["figure", str(out), *given, "--out", str(tmp_path / figure)]) == 0
        data, _ = read_sidecar(tmp_path / (figure + ".json"))
        assert data.kind == "neuron_unit" and data.meta["neuron"] == name and data.meta["layer"] == expected.meta["layer"]
        np.testing.assert_array_equal(data.arrays["neuron"], result.mean[:, 2])
        np.testing.assert_array_equal(data.arrays["unit"], expected.arrays["unit"])
        caption = (tmp_path / (figure + ".caption.txt")).read_text()
        assert caption.startswith(f"Neuron {name} and its best single unit of ")
    # --layer: the unit of that layer, not the best layer's.
    other = next(layer for layer in LAYERS if layer != expected.meta["layer"])
    assert main(["figure", str(out), "--neuron", "2", "--layer", other, "--out", str(tmp_path / "other.pdf")]) == 0
    data, _ = read_sidecar(tmp_path / "other.pdf.json")
    i = list(LAYERS).index(other)
    assert data.meta["layer"] == other
    np.testing.assert_array_equal(data.arrays["unit"], result.unit_response[i, :, 2])
    capsys.readouterr()
    # Bad input: one line naming the neuron, the layer or the file, and no figure.
    activations = tmp_path / "acts.npz"
    np.savez(activations, layer1=np.ones((1, 4, 3, 3), np.float32))
    for argv, said in (([str(out), "--neuron", "99"], (f"Neuron '99' is not in the result: give a name ({', '.join(result.neurons[:5])}, …) or an index "
                        f"from 0 to {len(result.neurons) - 1}.")),
                       ([str(out), "--neuron", "2", "--layer", "nowhere"], "Layer 'nowhere' was not scored"),
                       ([str(activations), "--neuron", "0"], "'acts.npz' is not a result")):
        assert main(["figure", *argv, "--out", str(tmp_path / "bad.pdf")]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "bad.pdf").exists()


def test_neuron_figure_of_a_result_without_neurons_is_refused_by_name(tmp_path, capsys):
    from engine.jobs.record import Record
    from engine.session.values import Stimulus

    session = session_for(planted_net(), 16)
    job = Record("5", Stimulus("procedural", "grating"))
    out = write_result(tmp_path / "rec.npz", JobFile(session.model, job), session.result(job), session.provenance())
    assert main(["figure", str(out), "--neuron", "0", "--out", str(tmp_path / "n.pdf")]) == 2
    err = capsys.readouterr().err
    assert "--neuron draws one recorded neuron of a 'predict' result; 'rec.npz' holds a 'record' result." in err
    assert not (tmp_path / "n.pdf").exists()


def test_methods_text_states_the_window_and_seed():
    text = methods({"kind": "predict", "layers": ["layer2"], "images": ["a.png"] * 3, "window_ms": [50.0, 200.0],
                    "deg_per_image": 4.0, "seed": 7}, {})
    assert "from 50 to 200 ms after each stimulus onset" in text and "4\u00b0" in text and "seed 7" in text
    assert [k for k in ("yamins2014", "schrimpf2018", "kriegeskorte2008", "marques2021") if f"{{{k}," in bibtex(text)] \
        == ["yamins2014", "schrimpf2018", "kriegeskorte2008", "marques2021"]


@pytest.mark.parametrize("width", [85.0, 180.0])
def test_a_long_sweep_with_long_names_lays_out_cleanly(width):
    import matplotlib

    from engine.figures.data import FigureData

    layers = [f"features.{i}.block.{i % 3}.conv_pw" for i in range(8)]
    x = np.linspace(0.2, 0.6, 8)
    data = FigureData("layer_sweep", {"r": x, "r_low": x - 0.1, "r_high": x + 0.1, "normalised": x * 1.3,
                                      "rsa": x / 2, "cka": x / 3, "ceiling": np.array([0.8, 0.75, 0.85])},
                      {"layers": layers, "n_neurons": 200, "n_stimuli": 1000, "rdm_ceiling": 0.7,
                       "deg_per_image": 8.0},
                      provenance={"model": "efficientnet_v2_l", "weights_file": "/w/efficientnet_v2_l-59c71312.pth",
                                  "random_seed": -1})
    options = FigureOptions(width_mm=width, dpi=100)
    with matplotlib.rc_context(rc_params(options)):
        assert layout_problems(draw_figure(data, options)) == []
