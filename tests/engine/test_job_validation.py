"""One validation layer for job values: what the command line refuses is refused from a file too,
in one line, never a traceback (engine/session/checks.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.errors import UnitscopeError
from engine.session.job import JobFile

GRATING = {"kind": "procedural", "value": "grating"}


def _job(job: dict, **model) -> dict:
    return {"format": "unitscope-job/1", "model": {"spec": "resnet18", "device": "cpu", **model}, "job": job}


SUMMARIES = {"kind": "summaries", "layers": ["layer1"], "protocol": "gratings"}


@pytest.mark.parametrize("data, says", [
    (_job({**SUMMARIES, "k": 10**12}), "job 'summaries'.k: 1,000,000,000,000 is out of range (1 to 100,000)"),
    (_job({**SUMMARIES, "summaries": ["project:100000000000"]}), "project takes D from 1 to 1,000,000"),
    (_job({**SUMMARIES, "summaries": ["grid:100000"]}), "grid takes G from 1 to 1,024"),
    (_job({"kind": ["probe"]}), "A job's kind must be a name, not [\"probe\"]"),
    (_job({"kind": "record", "layer": "layer1", "stimulus": GRATING}, seed=2**70),
     "model.seed: 1,180,591,620,717,411,303,424 is out of range"),
    (_job({"kind": "record", "layer": "layer1", "stimulus": GRATING}, device="meta"),
     "model.device: 'meta' is not a device unitscope can run on"),
    (_job({"kind": "probe", "units": [{"layer": "", "channel": 0}]}), "a layer name cannot be empty"),
    (_job({"kind": "record", "layer": "", "stimulus": GRATING}), "job 'record'.layer: a layer name cannot be empty"),
    (_job({"kind": "visualize", "layer": "layer1", "diversity": float("inf")}), "inf is not a finite number"),
])
def test_bad_job_values_from_a_file_are_one_line(tmp_path, capsys, data, says):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data))
    assert main(["run", str(path), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not (tmp_path / "r.json").exists()


def test_json_nested_100000_deep_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "unitscope-job/1", "model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["run", str(path), "--out", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip() == ("unitscope: error: Job file 'deep.json' is not valid JSON: "
                                                "it is nested too deeply.")


def test_a_result_whose_job_is_not_json_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.npz"
    np.savez(path, __job__=np.array("{not json"), __result__=np.array("{}"), __provenance__=np.array("{}"))
    assert main(["run", str(path), "--out", str(tmp_path / "again.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'r.npz' is not a Unitscope job or result" in err[0], err


def test_methods_on_random_bytes_npz_is_one_line(tmp_path, capsys):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert main(["methods", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "noise.npz" in err[0], err


def test_the_command_line_and_files_share_the_checks(capsys):
    """--seed beyond 64 bits and --device meta are refused by argparse with the same rule."""
    for args, says in ((["--seed", str(2**70)], "argument --seed: must be from 0 to 9223372036854775807"),
                       (["--device", "meta"], "argument --device: 'meta' is not a device")):
        with pytest.raises(SystemExit) as exc:
            main(["record", "resnet18", "--layer", "layer1", "--images", "photos", "--out", "x.npy", *args])
        assert exc.value.code == 2 and says in capsys.readouterr().err


def test_a_probe_job_with_an_empty_layer_is_refused_before_it_runs():
    from engine.session.job import job_from_dict

    with pytest.raises(UnitscopeError, match="a layer name cannot be empty"):
        job_from_dict({"kind": "probe", "units": [{"layer": "", "channel": 0}]})


def test_visualize_refuses_a_million_images_with_the_memory_they_need(tmp_path, capsys):
    assert main(["visualize", "resnet18", "--layer", "layer1", "--channel", "0", "--images", "1000000",
                 "--device", "cpu", "--out", str(tmp_path / "v.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1,000,000 images of 224 x 224 pixels need about" in err[0] and "is free" in err[0]


def test_good_jobs_still_read(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(_job({**SUMMARIES, "k": 5, "summaries": ["grid:4", "project:64"]}, seed=7)))
    job_file = JobFile.load(path)
    assert job_file.job.k == 5 and job_file.model.seed == 7
