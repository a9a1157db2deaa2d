"""``unitscope figure`` on the command line's own outputs, and ``unitscope methods`` on real jobs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from engine.cli import main
from engine.figures.methods import bibtex, collect, methods_text
from resources import __file__ as resources_init

SAMPLE = str(Path(resources_init).parent / "samples" / "cat.jpg")
PT_PER_MM = 72 / 25.4


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A real recording (seed 7) and a real tuning table of resnet18."""
    folder = tmp_path_factory.mktemp("outputs")
    assert main(["record", "resnet18", "--seed", "7", "--layer", "layer1", "--images", SAMPLE,
                 "--out", str(folder / "acts.h5"), "--memory-format", "contiguous"]) == 0
    assert main(["tuning", "resnet18", "--seed", "7", "--layer", "layer1", "--channel", "5",
                 "--param", "orientation=0:180:8", "--phases", "4", "--out", str(folder / "tuning.csv")]) == 0
    return folder


def test_figure_of_a_recording_draws_the_chosen_channels_at_the_chosen_width(outputs, capsys):
    out = outputs / "maps.pdf"
    assert main(["figure", str(outputs / "acts.h5"), "--out", str(out), "--width-mm", "120",
                 "--font-size", "8", "--channels", "0-7,12"]) == 0
    assert "saved" in capsys.readouterr().out
    page = PdfReader(out).pages[0]
    assert float(page.mediabox.width) == pytest.approx(120 * PT_PER_MM, abs=1e-3)
    text = page.extract_text()
    assert "resnet18 (random weights, seed 7)" in text and "layer1" in text and "cat.jpg" in text
    assert "9 of 64 channels" in text
    assert {"0", "1", "2", "3", "4", "5", "6", "7", "12"} <= set(text.split())
    import h5py

    with h5py.File(outputs / "acts.h5") as f:
        values = f["layer1"][0][[0, 1, 2, 3, 4, 5, 6, 7, 12]]
    from engine.figures.style import fmt

    assert f"values {fmt(values.min())} to {fmt(values.max())}" in text  # the range of the channels drawn
    side = json.loads((outputs / "maps.pdf.json").read_text())
    assert side["options"]["width_mm"] == 120 and side["options"]["channels"] == [0, 1, 2, 3, 4, 5, 6, 7, 12]
    assert side["jobs"][0]["job"]["kind"] == "record_images" and side["jobs"][0]["model"]["seed"] == 7


def test_figure_of_a_tuning_table_states_its_metrics(outputs):
    out = outputs / "curve.pdf"
    assert main(["figure", str(outputs / "tuning.csv"), "--out", str(out), "--width-mm", "85"]) == 0
    text = PdfReader(out).pages[0].extract_text()
    metrics = json.loads((outputs / "tuning.csv.json").read_text())["metrics"]["f0"]["orientation"]
    assert f"OSI {metrics['osi']:.2f}" in text
    assert f"circular variance {metrics['circular_variance']:.2f}" in text
    assert "layer1[5]" in text and "F0" in text and "F1" in text


def test_methods_text_and_bibtex_describe_the_jobs_run(outputs, tmp_path):
    record = methods_text(collect(outputs / "acts.h5"))
    assert "seed 7" in record and "layer1" in record and "resnet18" in record
    assert "centre-cropped to 224" in record and "contiguous" in record
    assert "Ringach" not in record  # no tuning was run for this file
    import hashlib

    one = hashlib.sha256(Path(SAMPLE).read_bytes()).hexdigest()
    assert f"1 image (image set SHA-256 {hashlib.sha256(one.encode()).hexdigest()[:12]}" in record
    tuning = methods_text(collect(outputs / "tuning.csv"))
    assert "channel 5 of layer layer1" in tuning and "4 phases" in tuning
    assert "orientation from 0 to 157.5 in 8 steps of 22.5" in tuning
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
