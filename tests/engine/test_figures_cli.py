"""``unitscope figure`` on the command line's own outputs, and ``unitscope methods`` on real jobs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from engine.cli import main
from engine.errors import UnitscopeError
from engine.figures.methods import bibtex, collect, methods_text
from resources import __file__ as resources_init

SAMPLE = str(Path(resources_init).parent / "samples" / "cat.jpg")
PT_PER_MM = 72 / 25.4


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A real recording (seed 7), tuning table, visualisation (.npy with two diverse images, and .png),
    property table with a reference, evidence result and top-k folder of resnet18."""
    folder = tmp_path_factory.mktemp("outputs")
    model = ["resnet18", "--seed", "7", "--layer", "layer1"]
    assert main(["record", *model, "--images", SAMPLE, "--out", str(folder / "acts.h5"),
                 "--memory-format", "contiguous"]) == 0
    assert main(["tuning", *model, "--channel", "5", "--param", "orientation=0:180:8", "--phases", "4",
                 "--out", str(folder / "tuning.csv")]) == 0
    vis = ["visualize", *model, "--channel", "5", "--steps", "4", "--size", "40"]
    assert main([*vis, "--images", "2", "--diversity", "0.5", "--out", str(folder / "vis.npy")]) == 0
    assert main([*vis, "--out", str(folder / "vis.png")]) == 0
    (folder / "v1.csv").write_text("circular_variance,peak_sf\n0.2,1\n0.5,2\n0.9,4\n0.4,0.5\n0.7,8\n")
    assert main(["properties", *model, "--units", "3", "--orientations", "4", "--phases", "2", "--reference",
                 str(folder / "v1.csv"), "--out", str(folder / "props.csv")]) == 0
    job = {"format": "unitscope-job/1", "model": {"spec": "resnet18", "seed": 7, "device": "cpu"},
           "job": {"kind": "evidence", "layer": "layer1", "channel": 5, "stimulus": ["image", SAMPLE]}}
    (folder / "ev.job.json").write_text(json.dumps(job))
    assert main(["run", str(folder / "ev.job.json"), "--out", str(folder / "ev.npz")]) == 0
    samples = sorted(str(p) for p in Path(SAMPLE).parent.glob("*.jpg"))
    assert main(["topk", *model, "--channel", "5", "--images", *samples, "--k", "2",
                 "--out", str(folder / "topk")]) == 0
    return folder


def test_figure_of_a_recording_draws_the_chosen_channels_at_the_chosen_width(outputs, capsys):
    out = outputs / "maps.pdf"
    assert main(["figure", str(outputs / "acts.h5"), "--out", str(out), "--width-mm", "120",
                 "--font-size", "8", "--channels", "0-7,12"]) == 0
    assert "saved" in capsys.readouterr().out
    page = PdfReader(out).pages[0]
    assert float(page.mediabox.width) == pytest.approx(120 * PT_PER_MM, abs=1e-3)
    text = page.extract_text()
    caption = (outputs / "maps.pdf.caption.txt").read_text()
    assert "resnet18 (random weights, seed 7)" in caption and "layer1" in caption and "image cat:" in caption
    assert "9 of 64 channels" in caption
    assert "stride 4" in caption  # 56 x 56 map of a 224 x 224 input
    assert {"0", "1", "2", "3", "4", "5", "6", "7", "12"} <= set(text.split())
    import h5py

    with h5py.File(outputs / "acts.h5") as f:
        values = f["layer1"][0][[0, 1, 2, 3, 4, 5, 6, 7, 12]]
    from engine.figures.style import fmt

    assert f"Values {fmt(values.min())} to {fmt(values.max())}" in caption  # the range of the channels drawn
    side = json.loads((outputs / "maps.pdf.json").read_text())
    assert side["options"]["width_mm"] == 120 and side["options"]["channels"] == [0, 1, 2, 3, 4, 5, 6, 7, 12]
    assert side["jobs"][0]["job"]["kind"] == "record_images" and side["jobs"][0]["model"]["seed"] == 7


def test_figure_of_a_tuning_table_states_its_metrics_and_the_orientation_convention(outputs, capsys):
    out = outputs / "curve.pdf"
    assert main(["figure", str(outputs / "tuning.csv"), "--out", str(out), "--width-mm", "85"]) == 0
    printed = capsys.readouterr().out
    text = PdfReader(out).pages[0].extract_text()
    caption = (outputs / "curve.pdf.caption.txt").read_text()
    metrics = json.loads((outputs / "tuning.csv.json").read_text())["metrics"]["f0"]["orientation"]
    assert f"OSI {metrics['osi']:.2f}" in caption
    assert f"circular variance {metrics['circular_variance']:.2f}" in caption
    assert "layer1[5]" in caption and "F0" in text and "F1" in text
    for said in (caption, printed):
        assert "0\u00b0: vertical bars" in said and "clockwise on screen" in said


def test_methods_text_and_bibtex_describe_the_jobs_run(outputs, tmp_path):
    record = methods_text(collect(outputs / "acts.h5"))
    assert "seed 7" in record and "layer1" in record and "resnet18" in record
    assert "centre-cropped to 224" in record and "contiguous" in record  # photographs: their preprocessing
    assert "Ringach" not in record  # no tuning was run for this file
    assert "1 photograph (cat)" in record and "SHA-256" not in record  # by name and count, not hash
    import hashlib

    one = hashlib.sha256(Path(SAMPLE).read_bytes()).hexdigest()
    supplement = tmp_path / "supp.txt"
    assert main(["methods", str(outputs / "acts.h5"), "--supplement", str(supplement)]) == 0
    assert hashlib.sha256(one.encode()).hexdigest() in supplement.read_text()
    tuning = methods_text(collect(outputs / "tuning.csv"))
    assert "channel 5 of layer1" in tuning and "4 phases" in tuning
    assert "sine gratings (orientation \u03b8 from 0 to 157.5\u00b0 in 8 steps of 22.5\u00b0" in tuning
    assert "Photographs were" not in tuning and "centre-cropped" not in tuning  # generated stimuli only
    assert "0\u00b0: vertical bars" in tuning
    bib = tmp_path / "refs.bib"
    assert main(["methods", str(outputs / "tuning.csv"), "--bib", str(bib)]) == 0
    keys = [line.split("{")[1].rstrip(",") for line in bib.read_text().splitlines() if line.startswith("@")]
    assert set(keys) == {"he2016", "araujo2019", "ringach2002", "paszke2019", "marcel2010"}
    assert set(keys) == {k for k in keys if k in bibtex(tuning)}


def test_methods_of_a_comparison_cite_rsa_and_cka():
    job = {"format": "unitscope-job/1", "model": {"spec": "alexnet", "weights": "/w/alexnet-owt-7be5be79.pth",
                                                   "weights_sha256": "7be5be79" + "0" * 56, "seed": 0},
           "job": {"kind": "comparison", "layer": "features.3", "layer_b": "features.10", "stimuli": "gratings",
                   "view": "channels"}}
    from engine.figures.methods import MethodsEntry

    text = methods_text([MethodsEntry(job)])
    assert "alexnet-owt-7be5be79.pth (SHA-256 7be5be790000" in text and "random" not in text
    assert "12 orientations \u00d7 4 spatial frequencies" in text  # the grating set named by its grid
    assert "Kornblith" in text and "Kriegeskorte" in text and "Krizhevsky" in text
    assert "kornblith2019" in bibtex(text) and "ringach2002" not in bibtex(text)


def test_bad_figure_input_gives_one_line(tmp_path, capsys):
    runs = [["figure", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x.pdf")],
            ["figure", SAMPLE, "--out", str(tmp_path / "x.jpg")],
            ["figure", str(tmp_path / "a.npy"), "--out", str(tmp_path / "x.pdf"), "--channels", "99"]]
    np.save(tmp_path / "a.npy", np.ones((1, 4, 3, 3), np.float32))
    for argv in runs:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("unitscope: error: "), err
    assert "Channel(s) 99 not in this layer" in err
    good = ["figure", str(tmp_path / "a.npy"), "--out", str(tmp_path / "a.png")]
    assert main(good) == 0
    before = (tmp_path / "a.png").read_bytes()
    assert main(good + ["--width-mm", "180"]) == 2  # an existing figure is never replaced without --force
    assert "a.png" in capsys.readouterr().err and (tmp_path / "a.png").read_bytes() == before
    assert main(good + ["--width-mm", "180", "--force"]) == 0


def test_figures_load_neither_torch_nor_qt(tmp_path):
    code = ("import sys\n"
            "from engine.commands import figure, methods\n"
            "from engine.figures import render, sources, sidecar, methods as m, mosaic, tuning, population, "
            "comparison, topk, probe, unit, receptive_field\n"
            "import numpy as np\n"
            "from engine.figures.data import FigureData\n"
            "from engine.figures.style import FigureOptions\n"
            f"render.write_figure(FigureData('mosaic', {{'values': np.ones((4, 3, 3))}}), FigureOptions(), "
            f"{str(tmp_path / 'f.svg')!r})\n"
            "bad = [n for n in sys.modules if n.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph', 'gui')]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _images_in(pdf: Path) -> list[np.ndarray]:
    page = PdfReader(pdf).pages[0]
    return [np.asarray(x.get_object().decode_as_image().convert("RGB"))[::-1]  # stored bottom row first
            for x in page["/Resources"]["/XObject"].values() if x.get_object()["/Subtype"] == "/Image"]


def _redraws_byte_for_byte(out: Path) -> None:
    again = out.with_name("again" + out.suffix)
    assert main(["figure", str(out.with_name(out.name + ".json")), "--out", str(again), "--force"]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_figure_of_a_visualisation_shows_its_images_and_how_they_were_made(outputs):
    out = outputs / "vis.pdf"
    assert main(["figure", str(outputs / "vis.npy"), "--out", str(out), "--width-mm", "89"]) == 0
    images = np.load(outputs / "vis.npy")
    record = json.loads((outputs / "vis.npy.json").read_text())["provenance"]
    caption = (outputs / "vis.pdf.caption.txt").read_text()
    assert "layer1[5]" in caption and "2 images optimised together of 40 \u00d7 40 pixels" in caption
    assert "4 steps of Adam (learning rate 0.05, seed 7)" in caption and "diversity term of weight 0.5" in caption
    expected = [np.rint(np.clip(i, 0, 1) * 255).astype(np.uint8) for i in images]
    drawn = _images_in(out)
    assert len(drawn) == 2
    for picture, want in zip(drawn, expected):  # repeated by a whole factor to 300 ppi, else exact
        f = picture.shape[0] // 40
        assert f > 1 and picture.shape[:2] == (40 * f, 40 * f)
        assert np.abs(picture[::f, ::f].astype(int) - want).max() <= 1
    text = PdfReader(out).pages[0].extract_text()
    assert "activation " + fmt_value(record["activation"][0]) in text
    _redraws_byte_for_byte(out)
    png = outputs / "vis_png.pdf"
    assert main(["figure", str(outputs / "vis.png"), "--out", str(png)]) == 0  # refused before
    assert "the image of 40 \u00d7 40 pixels that maximises it" in (outputs / "vis_png.pdf.caption.txt").read_text()


def fmt_value(value):
    from engine.figures.style import fmt

    return fmt(value)


def test_figure_of_a_property_table_overlays_the_reference_with_its_ks_similarity(outputs):
    from scipy.stats import ks_2samp

    out = outputs / "props.pdf"
    assert main(["figure", str(outputs / "props.csv"), "--out", str(out), "--width-mm", "120"]) == 0
    import csv

    with open(outputs / "props.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    model = np.array([float(r["circular_variance"]) if r["circular_variance"] else np.nan for r in rows])
    reference = np.array([0.2, 0.5, 0.9, 0.4, 0.7])
    expected = 1 - ks_2samp(model[np.isfinite(model)], reference).statistic
    text = PdfReader(out).pages[0].extract_text()
    assert f"KS sim. {expected:.2f}" in text
    assert "reference" in text and "model" in text
    side = json.loads((outputs / "props.pdf.json").read_text())
    assert side["meta"]["similarity"]["circular_variance"] == pytest.approx(expected, abs=1e-12)
    assert "Kolmogorov" in (outputs / "props.pdf.caption.txt").read_text()
    _redraws_byte_for_byte(out)


def test_unit_card_from_a_units_outputs_at_any_width_redraws_from_its_sidecar(outputs):
    sources = [str(outputs / name) for name in ("vis.npy", "ev.npz", "tuning.csv", "topk")]
    for width in ("89", "183"):
        out = outputs / f"card{width}.pdf"
        assert main(["figure", *sources, "--out", str(out), "--width-mm", width]) == 0
        page = PdfReader(out).pages[0]
        assert float(page.mediabox.width) == pytest.approx(float(width) * PT_PER_MM, abs=1e-3)
    caption = (outputs / "card183.pdf.caption.txt").read_text()
    assert "channel 5 of layer1" in caption and "resnet18 (random weights, seed 7)" in caption
    side = json.loads((outputs / "card183.pdf.json").read_text())
    assert {j["job"]["kind"] for j in side["jobs"]} >= {"visualize", "evidence"}
    _redraws_byte_for_byte(outputs / "card183.pdf")
    assert main(["figure", sources[0], sources[2], "--out", str(outputs / "x.pdf")]) == 2  # one line, no traceback


def test_the_visualise_and_properties_views_give_their_figures(tmp_path):
    """What the window's Visualise and Properties views show (their snapshots) draws as those figures."""
    from engine.analyses.properties import COLUMNS
    from engine.figures.render import write_figure
    from engine.figures.sources import from_snapshot
    from engine.figures.style import FigureOptions
    from engine.jobs.properties import PropertiesSnapshot
    from engine.jobs.visualize import VisualizationSnapshot

    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    job = {"format": "unitscope-job/1", "model": {"spec": "resnet18", "seed": 2},
           "job": {"kind": "visualize", "layer": "layer1", "channel": 4, "steps": 16, "lr": 0.1, "seed": 5,
                   "images": 2, "diversity": 1.0}}
    vis = from_snapshot(VisualizationSnapshot("layer1[4]", images, -1.0, 16, 16, [1.5, 1.25]), job)
    assert vis.kind == "visualization" and np.array_equal(vis.array("images"), images)
    write_figure(vis, FigureOptions(width_mm=89), tmp_path / "vis.pdf")
    caption = (tmp_path / "vis.pdf.caption.txt").read_text()
    assert "layer1[4]" in caption and "16 steps of Adam (learning rate 0.1, seed 5)" in caption
    assert "Final activation 1.5, 1.25" in caption and "resnet18 (random weights, seed 2)" in caption
    rows = [["layer1", c, 28, 28] + [float(c)] * (len(COLUMNS) - 4) for c in range(5)]
    rows[2][COLUMNS.index("peak_sf")] = None  # undefined for this unit
    props = from_snapshot(PropertiesSnapshot("layer1", list(COLUMNS), rows, 10, 10, 5))
    assert props.kind == "properties"
    assert np.array_equal(props.array("model.circular_variance"), np.arange(5.0))
    assert np.isnan(props.array("model.peak_sf")[2])
    write_figure(props, FigureOptions(width_mm=183), tmp_path / "props.pdf")
    assert "5 units of layer1" in (tmp_path / "props.pdf.caption.txt").read_text()


def test_scale_bars_give_degrees_when_the_visual_angle_is_set(tmp_path):
    """An input of 224 px spanning 8°: the 50 px bar is 50 * 8 / 224 = 1.8°, in the figure and its caption."""
    from engine.figures.data import FigureData
    from engine.figures.render import caption_text, draw_figure
    from engine.figures.style import FigureOptions, rc_params
    import matplotlib

    rng = np.random.default_rng(0)
    data = FigureData("unit", {"map": rng.normal(size=(56, 56)), "input_image": rng.integers(
        0, 255, (224, 224, 3), dtype=np.uint8)}, {"layer": "layer1", "channel": 3, "position": [28, 28]})
    texts = {}
    for angle in (0.0, 8.0):
        options = FigureOptions(width_mm=89, deg_per_image=angle)
        with matplotlib.rc_context(rc_params(options)):
            fig = draw_figure(data, options)
            texts[angle] = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert "50 px (1.8\u00b0)" in texts[8.0] and "50 px" in texts[0.0]
    assert not any("\u00b0)" in t for t in texts[0.0])
    assert "the whole input spanning 8\u00b0" in caption_text(data, FigureOptions(deg_per_image=8.0))
    assert main(["figure", str(_sidecar_free_npy(tmp_path)), "--deg-per-image", "400", "--out",
                 str(tmp_path / "x.pdf")]) == 2


def _sidecar_free_npy(tmp_path):
    path = tmp_path / "acts.npy"
    np.save(path, np.ones((4, 6, 6), dtype=np.float32))
    return path


def test_a_tuning_figure_reports_the_bars_orientation_when_asked():
    """theta = 30 deg (luminance varies along 30 deg) is a bar at 120 deg: the curve, the preferred line,
    the metrics and the caption all move by 90 deg mod 180, and say so."""
    import matplotlib

    from engine.figures.data import FigureData
    from engine.figures.render import caption_text, draw_figure
    from engine.figures.style import FigureOptions, rc_params

    theta = np.arange(0, 180, 15.0)
    f0 = np.cos(np.radians(2 * (theta - 30.0))) + 1.0
    metrics = {"f0": {"preferred_deg": 30.0, "osi": 0.9, "circular_variance": 0.2, "bandwidth_deg": 20.0}}
    data = FigureData("tuning", {"x": theta, "f0": f0, "f1": 0.5 * f0},
                      {"param": "orientation", "unit": "layer1[3](28,28)", "metrics": metrics, "n_phases": 8})
    drawn = {}
    for orientation in ("grating", "bar"):
        options = FigureOptions(width_mm=120, orientation=orientation)
        with matplotlib.rc_context(rc_params(options)):
            fig = draw_figure(data, options)
        line = next(l for l in fig.axes[0].get_lines() if l.get_label() == "F0 (mean over phase)")
        drawn[orientation] = (line.get_xdata(), line.get_ydata(), fig.axes[0].get_xlabel(),
                              caption_text(data, options))
    x, y, label, caption = drawn["bar"]
    np.testing.assert_array_equal(x, np.sort(np.mod(theta + 90, 180)))
    assert x[np.argmax(y)] == 120.0 and drawn["grating"][0][np.argmax(drawn["grating"][1])] == 30.0
    assert label == "bar orientation (\u00b0)" and "preferred bar orientation 120\u00b0" in caption
    assert "reports the bars' orientation, \u03b8 + 90\u00b0" in caption
    assert "preferred \u03b8 30\u00b0" in drawn["grating"][3] and "reports \u03b8." in drawn["grating"][3]
    with pytest.raises(UnitscopeError, match="not one of grating, bar"):
        FigureOptions(orientation="stripes")
