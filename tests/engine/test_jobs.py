"""Jobs: serialisable values that run themselves on a session, the same everywhere.

A new job kind is defined here, in the test, and runs through ``unitscope run`` without
any other module knowing it; results embed their job and reproduce bit for bit; random
weights come from a seed, identically in separate processes.
"""

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torchvision

from engine.cli import main
from engine.models.preprocess import Preprocess
from engine.models.sources import open_model
from engine.session.job import JobFile, job_class, job_kind, job_kinds
from engine.session.results import read_result
from engine.session.session import Session
from job_examples import built_in_examples
from engine.session.values import ModelSpec, Stimulus
from engine.stimuli.procedural import PROCEDURAL


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@dataclass
class ChannelMeansSnapshot:
    means: np.ndarray  # (stimuli so far, channels)
    names: list
    done: int
    total: int


@job_kind("test_channel_means")
@dataclass(frozen=True)
class ChannelMeans:
    """A toy job kind: each channel's mean output of a layer, per procedural stimulus."""

    layer: str
    stimuli: tuple[str, ...]

    def describe(self) -> str:
        return f"Channel means of {self.layer}…"

    def run(self, session, cancelled):
        rows = []
        for name in self.stimuli:
            recording = session.record(self.layer, Stimulus("procedural", name), cancelled)
            rows.append(np.asarray(recording.output, dtype=np.float32).mean(axis=(-2, -1)))
            yield ChannelMeansSnapshot(np.stack(rows), list(self.stimuli[:len(rows)]), len(rows),
                                       len(self.stimuli))


STIMULI = tuple(list(PROCEDURAL)[:3])


def reference_means(layer_name: str, seed: int) -> np.ndarray:
    """The same numbers without the engine's session: torchvision's model drawn from the
    seed, and a plain forward hook that clones."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None).eval()
    preprocess = Preprocess(open_model("resnet18", seed=seed))
    got = []
    handle = dict(model.named_modules())[layer_name].register_forward_hook(
        lambda m, i, o: got.append(o.detach().clone()))
    with torch.inference_mode():
        for name in STIMULI:
            model(preprocess.array(PROCEDURAL[name](preprocess.crop_size))[None])
    handle.remove()
    return np.stack([g[0].numpy().mean(axis=(-2, -1)) for g in got])


def test_a_job_kind_defined_in_a_test_runs_through_unitscope_run(tmp_path, capsys):
    job_file = tmp_path / "means.json"
    JobFile(ModelSpec("resnet18", seed=3), ChannelMeans("layer2", STIMULI)).save(job_file)
    out = tmp_path / "means.npz"
    assert main(["run", str(job_file), "--out", str(out)]) == 0
    assert "saved" in capsys.readouterr().out
    job, result, provenance = read_result(out)
    assert job.job == ChannelMeans("layer2", STIMULI) and job.model.seed == 3
    assert result["means"].shape == (3, 128) and result["names"] == list(STIMULI)
    np.testing.assert_array_equal(result["means"], reference_means("layer2", seed=3))
    assert provenance["random_seed"] == 3 and provenance["memory_format"] == "contiguous"


def test_running_a_result_again_reproduces_it_bit_for_bit(tmp_path):
    job_file = tmp_path / "job.json"
    JobFile(ModelSpec("resnet18"), ChannelMeans("layer1", STIMULI)).save(job_file)
    first, second = tmp_path / "first.npz", tmp_path / "second.json"
    assert main(["run", str(job_file), "--out", str(first)]) == 0
    assert main(["run", str(first), "--out", str(second)]) == 0  # the job embedded in the result
    (job_a, a, _), (job_b, b, _) = read_result(first), read_result(second)
    assert job_a == job_b
    np.testing.assert_array_equal(a["means"], np.array(b["means"], dtype=a["means"].dtype))


def test_every_built_in_job_kind_round_trips_through_json():
    examples = built_in_examples()
    assert sorted({job.kind for job in examples}) == sorted(
        k for k in job_kinds() if job_class(k).__module__.startswith("engine.jobs."))
    for job in examples:
        text = json.dumps(JobFile(ModelSpec("alexnet", "/w/a.pth", "ab" * 32, 5, "cpu"), job).to_dict())
        back = JobFile.from_dict(json.loads(text))
        assert back.job == job and type(back.job) is type(job) and back.model.seed == 5
        assert job_class(job.kind) is type(job)


def test_trust_is_never_saved_in_a_job():
    data = JobFile(ModelSpec("model.pt", trust_pickle=True), built_in_examples()[0]).to_dict()
    assert "trust_pickle" not in data["model"]
    data["model"]["trust_pickle"] = True  # a hand-edited file cannot grant it either
    with pytest.raises(Exception, match="unknown field"):
        JobFile.from_dict(data)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["job"].update(kind="no_such_kind"), "Unknown job kind 'no_such_kind'"),
    (lambda d: d["job"].update(chanel=3), "unknown field(s) chanel"),
    (lambda d: d["job"].update(channel="three"), "job 'tuning'.channel: 'three' is not a int"),
    (lambda d: d.update(format="something else"), "Not a Unitscope job"),
])
def test_a_bad_job_file_gets_one_clear_line(tmp_path, capsys, edit, message):
    from engine.jobs.tuning import Tuning

    data = JobFile(ModelSpec("resnet18"), Tuning("layer1", 0)).to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["run", str(path), "--out", str(tmp_path / "r.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "bad.json" in err
    assert not (tmp_path / "r.npz").exists()


def test_a_job_whose_weights_file_changed_is_refused(tmp_path, capsys):
    weights = tmp_path / "w.pth"
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    model = ModelSpec("resnet18", str(weights)).with_weights_hash()
    job_file = tmp_path / "job.json"
    JobFile(model, ChannelMeans("layer1", STIMULI[:1])).save(job_file)
    assert main(["run", str(job_file), "--out", str(tmp_path / "ok.npz")]) == 0
    torch.manual_seed(2)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)  # other weights, same name
    capsys.readouterr()
    assert main(["run", str(job_file), "--out", str(tmp_path / "changed.npz")]) == 2
    assert "has changed since" in capsys.readouterr().err
    assert not (tmp_path / "changed.npz").exists()


def test_a_job_on_python_code_needs_trust(tmp_path, capsys):
    factory = tmp_path / "net.py"
    factory.write_text("from torch import nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3))\n")
    job_file = tmp_path / "job.json"
    JobFile(ModelSpec(f"{factory}:build"), ChannelMeans("0", STIMULI[:1])).save(job_file)
    assert main(["run", str(job_file), "--out", str(tmp_path / "r.npz")]) == 2
    assert "--trust-code" in capsys.readouterr().err
    assert main(["run", str(job_file), "--out", str(tmp_path / "r.npz"), "--trust-code"]) == 0
    _, result, provenance = read_result(tmp_path / "r.npz")
    assert result["means"].shape == (1, 2) and provenance["random_seed"] == 0


def test_the_same_seed_gives_bit_identical_random_weights_in_separate_processes(tmp_path):
    from engine.jobs.record import Record

    outputs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        job_file = tmp_path / f"{name}.json"
        JobFile(ModelSpec("resnet18", seed=seed), Record("layer1", Stimulus("procedural", STIMULI[0]))).save(job_file)
        out = tmp_path / f"{name}.npz"
        done = subprocess.run([sys.executable, "-m", "engine", "run", str(job_file), "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        _, result, provenance = read_result(out)
        assert provenance["random_seed"] == seed and provenance["weights"] == "random weights"
        outputs[name] = result["output"]
    assert outputs["a"].shape == (64, 56, 56)
    np.testing.assert_array_equal(outputs["a"], outputs["b"])
    assert not np.array_equal(outputs["a"], outputs["c"])


def test_open_model_draws_from_the_seed_and_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = open_model("alexnet", seed=11).module.state_dict()
    after = torch.rand(3)
    torch.testing.assert_close(before, after, rtol=0, atol=0)  # the global stream went on untouched
    torch.manual_seed(11)
    expected = torchvision.models.alexnet(weights=None).state_dict()
    assert all(torch.equal(a[k], expected[k]) for k in expected)


def test_the_command_line_and_a_session_give_the_same_numbers(tmp_path, capsys):
    """``unitscope tuning`` opens its model through the same Session: same seed, same curve."""
    from engine.jobs.tuning import Tuning

    assert main(["tuning", "resnet18", "--layer", "layer2", "--channel", "3", "--param",
                 "orientation=0:180:4", "--param", "sf_rf=1", "--phases", "2", "--seed", "4",
                 "--out", str(tmp_path / "t.csv"), "--device", "cpu"]) == 0
    rows = [line.split(",") for line in (tmp_path / "t.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    f0_cli = np.array([float(r[header.index("f0")]) for r in rows])
    session = Session.open(ModelSpec("resnet18", seed=4, device="cpu"))
    snapshot = session.result(Tuning("layer2", 3, orientations=4, sf=(1.0,), phases=2))
    np.testing.assert_allclose(snapshot.f0, f0_cli, rtol=1e-6)
    meta = json.loads((tmp_path / "t.csv.json").read_text())["provenance"]
    assert meta["random_seed"] == 4



def test_unitscope_tuning_writes_the_job_that_reproduces_its_table(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["tuning", "resnet18", "--layer", "layer1", "--channel", "2", "--param",
                 "orientation=0:180:3", "--phases", "2", "--seed", "5", "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "t.csv.json").read_text())
    job_file = tmp_path / "from_cli.json"
    job_file.write_text(json.dumps(sidecar["job"]))
    assert JobFile.load(job_file).model.seed == 5
    assert main(["run", str(job_file), "--out", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())["result"]
    lines = [line.split(",") for line in out.read_text().splitlines()]
    assert lines[0] == again["columns"] and len(again["rows"]) == len(lines) - 1 == 3
    f0 = lines[0].index("f0")
    assert [float(row[f0]) for row in lines[1:]] == [row[f0] for row in again["rows"]]


def test_unitscope_rdm_and_rsa_write_jobs_that_reproduce_them(tmp_path, capsys):
    import shutil

    from engine.files.writers import read_activations, read_provenance
    from resources import sample_images

    folder = tmp_path / "images"
    folder.mkdir()
    for path in sample_images()[:3]:
        shutil.copy(path, folder / path.name)
    assert main(["rdm", "resnet18", "--layer", "layer3", "--images", str(folder), "--view", "channels",
                 "--out", str(tmp_path / "rdm.npz"), "--workers", "0"]) == 0
    rdm = read_activations(tmp_path / "rdm.npz")["layer3"]
    (tmp_path / "rdm.job.json").write_text(read_provenance(tmp_path / "rdm.npz")["job"])
    assert main(["run", str(tmp_path / "rdm.job.json"), "--out", str(tmp_path / "rdm_again.npz")]) == 0
    again = read_result(tmp_path / "rdm_again.npz")[1]
    assert rdm.shape == (3, 3)
    np.testing.assert_array_equal(rdm, again["rdm"].astype(np.float32))  # activations files are float32

    assert main(["rsa", "resnet18", "--layer", "layer2", "--layer", "layer4", "--images", str(folder),
                 "--out", str(tmp_path / "rsa.json")]) == 0
    doc = json.loads((tmp_path / "rsa.json").read_text())
    (tmp_path / "rsa.job.json").write_text(json.dumps(doc["job"]))
    assert main(["run", str(tmp_path / "rsa.job.json"), "--out", str(tmp_path / "rsa_again.json")]) == 0
    result = json.loads((tmp_path / "rsa_again.json").read_text())["result"]
    assert doc["n_stimuli"] == result["done"] == 3
    assert doc["rsa"] == result["rsa"] and doc["cka"] == result["cka"]


def test_unitscope_record_writes_the_job_that_reproduces_its_activations(tmp_path, capsys):
    import shutil

    from engine.files.writers import read_activations, read_provenance
    from resources import sample_images

    folder = tmp_path / "images"
    folder.mkdir()
    for path in sample_images()[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_text("not an image")
    out = tmp_path / "acts.h5"
    assert main(["record", "resnet18", "--layer", "layer1.0.relu#2", "--layer", "avgpool", "--images",
                 str(folder), "--out", str(out), "--workers", "0", "--memory-format", "contiguous"]) == 0
    captured = capsys.readouterr()
    assert "unitscope: skipped:" in captured.err and "1 file(s) skipped" in captured.out
    saved = read_activations(out)
    (tmp_path / "record.job.json").write_text(read_provenance(out)["job"])
    assert main(["run", str(tmp_path / "record.job.json"), "--out", str(tmp_path / "again.npz")]) == 0
    again = read_result(tmp_path / "again.npz")[1]
    assert set(again["outputs"]) == {"layer1.0.relu#2", "avgpool"} and len(again["image_paths"]) == 2
    for layer in ("layer1.0.relu#2", "avgpool"):
        np.testing.assert_array_equal(saved[layer], again["outputs"][layer])
    assert [p for p, _ in again["skipped"]][0].endswith("broken.png")


def test_unitscope_topk_writes_the_job_that_reproduces_its_ranking(tmp_path, capsys):
    import csv
    import shutil

    from resources import sample_images

    folder = tmp_path / "images"
    folder.mkdir()
    for path in sample_images()[:4]:
        shutil.copy(path, folder / path.name)
    out = tmp_path / "top"
    assert main(["topk", "resnet18", "--layer", "layer2", "--channel", "3", "--channel", "9", "--k", "2",
                 "--images", str(folder), "--out", str(out), "--workers", "0"]) == 0
    doc = json.loads((out / "topk.json").read_text())
    (tmp_path / "topk.job.json").write_text(json.dumps(doc["job"]))
    assert main(["run", str(tmp_path / "topk.job.json"), "--out", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())["result"]
    with open(out / "topk.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    top3 = [(float(r["activation"]), r["image"]) for r in rows if r["channel"] == "3" and r["end"] == "top"]
    assert top3 == [(v, again["image_paths"][i]) for v, i in again["top"][0]] and len(top3) == 2
    assert again["channels"] == [3, 9] and doc["n_images"] == len(again["image_paths"]) == 4


def test_a_job_names_its_factory_and_weights_files_absolutely(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "net.py").write_text("from torch import nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3))\n")
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)).state_dict(), lab / "w.pth")
    monkeypatch.chdir(lab)
    session = Session.open(ModelSpec("net.py:build", "w.pth"))
    assert session.model.spec == f"{lab / 'net.py'}:build" and session.model.weights == str(lab / "w.pth")
    assert session.model.weights_sha256 == hashlib.sha256((lab / "w.pth").read_bytes()).hexdigest()
