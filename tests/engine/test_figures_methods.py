"""``unitscope methods`` on a session that ran every analysis: one section, every analysis
defined (its quantities and parameters) and cited, and BibTeX entries that are complete."""

import json
import re

import pytest

from engine.cli import main
from engine.figures.methods import BIB, MethodsEntry, bibtex, citation_keys, methods_text
from engine.session.analysis import analyses
from engine.session.job import job_class, job_kinds

P = [f"resources/samples/{n}.jpg" for n in ("astronaut", "cat", "coffee", "rocket")]
MODEL = {"spec": "resnet18", "seed": 0, "device": "cpu", "memory_format": "contiguous"}

#: One job of every kind, and what its Methods text must define and cite.
JOBS = {
    "record": ({"kind": "record", "layer": "conv1", "stimulus": {"kind": "image", "value": P[1]}},
               ["output of conv1", "1 photograph (cat)"], []),
    "record_images": ({"kind": "record_images", "layers": ["layer1", "layer2"], "paths": P},
                      ["layer1 and layer2", "4 photographs (astronaut, cat, coffee and rocket)"], []),
    "tuning": ({"kind": "tuning", "layer": "layer1", "channel": 5, "orientations": 8, "sf": [2.0], "phases": 4},
               ["8 orientations from 0 to 157.5\u00b0", "2 cycles per receptive field", "OSI =", "CV = 1 \u2212",
                "4 phases"], ["Ringach et al., 2002", "Araujo et al., 2019"]),
    "protocol_responses": ({"kind": "protocol_responses", "layer": "layer1", "channel": 3, "protocol": "size",
                            "params": [["radius", [4, 8, 16, 32]], ["orientation", [0, 90]]], "phases": 4},
                           ["aperture radius 4, 8, 16, 32 pixels", "sine gratings in circular apertures"], ["Araujo et al., 2019"]),
    "population": ({"kind": "population", "layer": "layer3", "stimuli": "gratings", "view": "channels"},
                   ["12 orientations \u00d7 4 spatial frequencies", "participation ratio (\u03a3\u03bb)\u00b2/\u03a3\u03bb\u00b2",
                    "S = (1 \u2212 (\u03a3r/n)\u00b2/(\u03a3r\u00b2/n))/(1 \u2212 1/n)"],
                   ["Kriegeskorte et al., 2008", "Treves and Rolls, 1991", "Vinje and Gallant, 2000"]),
    "rdm": ({"kind": "rdm", "layer": "layer3", "paths": P, "view": "flat"}, ["1 \u2212 Pearson r"],
            ["Kriegeskorte et al., 2008"]),
    "comparison": ({"kind": "comparison", "layer": "layer2", "layer_b": "layer4", "stimuli": "images", "paths": P},
                   ["Spearman correlation", "CKA = "], ["Kornblith et al., 2019"]),
    "topk": ({"kind": "topk", "layer": "layer2", "channel": 7, "paths": P, "k": 2}, ["2 highest and lowest"],
             ["Zeiler and Fergus, 2014"]),
    "topk_ranking": ({"kind": "topk_ranking", "layer": "layer2", "paths": P, "channels": [1, 2], "k": 3},
                     ["channels 1 and 2", "3 highest"], ["Zeiler and Fergus, 2014"]),
    "receptive_field": ({"kind": "receptive_field", "layer": "layer1", "channel": 3,
                         "stimuli": [["image", p] for p in P], "noise_frames": 400, "grid": 16, "n_on": 8, "seed": 0,
                         "fdr": 0.05},
                        ["400 frames of sparse noise", "16 \u00d7 16 cells", "0.01 of its peak",
                         "Welch's two-sided t-test of the responses to the frames where the cell was bright against "
                         "those where it was dark", "corrected over the cells tested (at most 16 \u00d7 16) to a "
                         "false discovery rate of 0.05"],
                        ["Jones and Palmer, 1987", "Simonyan et al., 2014", "Welch, 1947",
                         "Benjamini and Hochberg, 1995"]),
    "probe": ({"kind": "probe", "units": [{"layer": "layer1", "channel": 3}], "sequence": "orientations",
               "orientations": 36}, ["36 orientations from 0 to 175\u00b0 in steps of 5\u00b0"], []),
    "visualize": ({"kind": "visualize", "layer": "layer2.0", "channel": 7, "steps": 48, "lr": 0.05, "seed": 0,
                   "size": 96, "images": 3, "diversity": 0.5},
                  ["Fourier spectrum", "decorrelated", "jittered", "rotated", "learning rate 0.05", "48 steps",
                   "seed 0", "diversity term of weight 0.5", "96 \u00d7 96 pixels"], ["Olah et al., 2017"]),
    "evidence": ({"kind": "evidence", "layer": "layer1", "channel": 3, "stimulus": ["image", P[1]],
                  "methods": ["gradient", "gradient_x_input", "guided_backprop"]},
                 ["gradient \u00d7 input", "guided backpropagation"],
                 ["Springenberg et al., 2015", "Simonyan et al., 2014", "Shrikumar et al., 2016"]),
    "properties": ({"kind": "properties", "layer": "layer1", "units": None, "orientations": 12,
                    "sfs": [0.5, 1, 2, 4, 8], "phases": 8, "size_phases": 4},
                   ["circular variance", "modulation ratio F1/F0", "SSI = (R_peak \u2212 R_largest)/R_peak",
                    "0.5, 1, 2, 4 and 8 cycles per receptive field", "bandwidth", "KS similarity"],
                   ["Marques et al. (2021)", "Ringach et al., 2002", "De Valois et al., 1982",
                    "Cavanaugh et al., 2002"]),
    "summaries": ({"kind": "summaries", "layers": ["layer1"], "images": P, "summaries": ["mean", "max"], "k": 9},
                  ["mean and max"], []),
}


def _entries():
    return [MethodsEntry({"format": "unitscope-job/1", "model": MODEL, "job": job}) for job, _, _ in JOBS.values()]


def test_every_job_kind_has_its_own_methods_function():
    built_in = {k for k in job_kinds() if job_class(k).__module__.startswith("engine.jobs.")}
    assert set(JOBS) >= built_in - {"predict"}  # predict has its own tests (test_predict_figures.py)
    for analysis in analyses():
        if analysis.jobs[0].__module__.startswith("engine.jobs."):
            assert analysis.methods_text() is not None, analysis.name


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_each_analysis_is_defined_and_cited(kind):
    job, defined, cited = JOBS[kind]
    alone = methods_text([MethodsEntry({"format": "unitscope-job/1", "model": MODEL, "job": job})])
    for needed in defined + cited:
        assert needed in alone, needed
    assert "We ran a" not in alone  # no kind falls through to a placeholder
    if "photograph" in json.dumps(defined) or job.get("paths"):
        assert "SHA-256" not in alone  # image sets by name and count; hashes go to the supplement


def test_one_merged_section_for_a_session_that_ran_every_analysis(tmp_path):
    session = {"format": "unitscope-session/1", "model": MODEL,
               "jobs": {kind: job for kind, (job, _, _) in JOBS.items()}}
    path = tmp_path / "all.unitscope.json"
    path.write_text(json.dumps(session))
    out, bib = tmp_path / "methods.txt", tmp_path / "refs.bib"
    assert main(["methods", str(path), "--out", str(out), "--bib", str(bib)]) == 0
    text = out.read_text()
    assert [p.split(".")[0] for p in text.strip().split("\n\n")] == ["Model", "Stimuli and analyses", "Statistics",
                                                                    "Software"]
    assert text.count("We used the resnet18 network") == 1
    assert text.count("F0 is the mean response over the phases") == 1  # definitions said once
    assert text.count("0\u00b0: vertical bars") == 1
    for bad in ("layer layer", "(s)", "layer(s)", "channel(s)"):
        assert bad not in text, bad
    for _job, defined, cited in JOBS.values():
        for needed in defined + cited:
            assert needed in text, needed
    entries = re.split(r"\n\n(?=@)", bib.read_text().strip())
    assert {re.match(r"@\w+\{(\w+),", e).group(1) for e in entries} == set(citation_keys(text))
    for entry in entries:
        fields = dict(re.findall(r"^\s+(\w+) = \{(.*?)\},?$", entry, flags=re.MULTILINE | re.DOTALL))
        assert {"author", "title", "year"} <= set(fields), entry
        assert {"journal", "booktitle"} & set(fields), entry  # a venue
        assert "others" not in fields["author"], entry  # complete author lists
    paszke = BIB["paszke2019"][1]
    assert len(re.findall(r"\sand\s", paszke)) == 20 and "Chintala, Soumith" in paszke  # all 21 authors


def test_every_bib_entry_is_complete():
    for key, (_cite, entry) in BIB.items():
        assert "others" not in entry, key
        assert re.search(r"year = \{\d{4}\}", entry), key
        assert re.search(r"(journal|booktitle) = \{", entry), key
    assert bibtex("Olah et al., 2017 and Springenberg et al., 2015").count("@") == 2


@pytest.mark.parametrize("kind", ["tuning", "properties"])
def test_the_fitted_tuning_values_are_defined_where_they_are_reported(kind):
    job = JOBS[kind][0]
    text = methods_text([MethodsEntry({"format": "unitscope-job/1", "model": MODEL, "job": job})])
    assert "von Mises fit, R(\u03b8) = b + a exp(\u03ba(cos 2(\u03b8 \u2212 \u03bc) \u2212 1))" in text
    assert "log-Gaussian fit over log\u2082 spatial frequency" in text
