"""Reliability of the command line: output names, number arguments, odd image folders.

Real models (torchvision, random weights), real files and real subprocesses; every
failure must be one line naming the option or file and the reason, every success must
leave exactly the files it names, holding the real numbers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.cli import build_parser, main
from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write
from engine.files.writers import (
    output_suffix,
    read_activations,
    read_provenance,
    write_activations,
)
from engine.stimuli.images import find_images, load_image
from engine.stimuli.protocols import MAX_STIMULI, Protocol, parse_values
from resources import sample_images

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def empty_hub(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sample_images()[:3]:
        shutil.copy(path, folder / path.name)
    return folder


def good_names() -> list[str]:
    return sorted(path.name for path in sample_images()[:3])


def only_files(folder: Path) -> list[str]:
    """Every entry of a folder, hidden ones included (a leftover temporary file shows)."""
    return sorted(entry.name for entry in folder.iterdir())


# 1. Output names: the suffix in any case, and long names ------------------------------------


@pytest.mark.parametrize("name, suffix", [("R.NPY", ".npy"), ("r.Npz", ".npz"), ("r.H5", ".h5"),
                                          ("r.MAT", ".mat"), ("r.npy", ".npy")])
def test_activations_round_trip_with_an_upper_case_suffix(tmp_path, name, suffix):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5
    out = write_activations(tmp_path / name, {"layer1": values}, {"model": "resnet18"})
    assert out.stat().st_size > values.nbytes
    back = read_activations(out)
    assert list(back) == ["layer1"]
    np.testing.assert_array_equal(back["layer1"].reshape(2, 3, 4), values)
    assert read_provenance(out)["model"] == "resnet18"
    expected = [name, name + ".json"] if suffix == ".npy" else [name]
    assert only_files(tmp_path) == sorted(expected)
    assert output_suffix(name) == suffix


def test_output_suffix_refuses_other_types_with_one_line():
    with pytest.raises(UnitscopeError) as err:
        output_suffix("acts.txt")
    assert str(err.value) == "Output 'acts.txt' must end in one of .npy, .npz, .h5, .mat (any case), not '.txt'."
    with pytest.raises(UnitscopeError) as err:
        output_suffix("acts")
    assert str(err.value) == "Output 'acts' must end in one of .npy, .npz, .h5, .mat (any case), not no file type."
    assert output_suffix("T.CSV", (".csv", ".h5")) == ".csv"
    with pytest.raises(UnitscopeError) as err:
        write_activations("acts.TXT", {"a": np.zeros(2)})
    assert str(err.value) == "Could not save 'acts.TXT': unknown file type '.TXT'; use one of .npy, .npz, .h5, .mat (any case)."


def test_record_and_rdm_save_an_upper_case_npy_that_reads_back(image_dir, tmp_path, capsys):
    common = ["--images", str(image_dir), "--device", "cpu", "--workers", "0"]
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    assert main(["record", "resnet18", "--layer", "conv1", "--out", str(lower / "acts.npy"), *common]) == 0
    assert main(["record", "resnet18", "--layer", "conv1", "--out", str(upper / "ACTS.NPY"), *common]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"saved {upper / 'ACTS.NPY'}: conv1 (3, 64, 112, 112)"
    expected = read_activations(lower / "acts.npy")["conv1"]
    got = read_activations(upper / "ACTS.NPY")["conv1"]
    assert got.shape == (3, 64, 112, 112)
    np.testing.assert_array_equal(got, expected)
    assert only_files(upper) == ["ACTS.NPY", "ACTS.NPY.json"]

    assert main(["rdm", "resnet18", "--layer", "layer1", "--out", str(upper / "R.NPY"), *common]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"saved {upper / 'R.NPY'}: 3 x 3 RDM of 'layer1' (flat, 200704 units)")
    assert (upper / "R.NPY").stat().st_size > 0
    rdm = read_activations(upper / "R.NPY")["layer1"]
    assert rdm.shape == (3, 3)
    np.testing.assert_allclose(np.diag(rdm), 0.0, atol=1e-5)
    np.testing.assert_allclose(rdm, rdm.T, atol=1e-6)
    assert np.all(rdm[~np.eye(3, dtype=bool)] > 0)
    assert read_provenance(upper / "R.NPY")["image_paths"] == [str(image_dir / n) for n in good_names()]
    assert only_files(upper) == ["ACTS.NPY", "ACTS.NPY.json", "R.NPY", "R.NPY.json"]


def test_record_with_several_layers_refuses_an_upper_case_npy(image_dir, tmp_path, capsys):
    out = tmp_path / "A.NPY"
    assert main(["record", "resnet18", "--layer", "conv1", "--layer", "layer1", "--images", str(image_dir),
                 "--out", str(out), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"unitscope: error: Output '{out}': .npy holds one layer; use .npz, .h5 or .mat for several."]
    assert only_files(tmp_path) == ["photos"]


def test_atomic_write_uses_a_short_temporary_name_with_the_same_suffix(tmp_path):
    seen = []

    def write(tmp: Path) -> None:
        seen.append(tmp.name)
        tmp.write_bytes(b"x")

    for name in ("a" * 246 + ".NPY", "b.h5", "plain"):
        atomic_write(tmp_path / name, write)
    prefix = rf"\.us-{os.getpid()}-[0-9a-f]{{4}}-[A-Za-z0-9_]{{8}}"
    assert [re.fullmatch(prefix + r"(\.NPY|\.h5|)", n) is not None for n in seen] == [True] * 3
    assert [Path(n).suffix for n in seen] == [".NPY", ".h5", ""]
    assert only_files(tmp_path) == sorted(["a" * 246 + ".NPY", "b.h5", "plain"])


def test_a_250_character_output_name_is_saved(image_dir, tmp_path, capsys):
    name = "r" * 246 + ".npz"
    assert len(name) == 250
    assert main(["record", "resnet18", "--layer", "conv1", "--images", str(image_dir), "--out",
                 str(tmp_path / name), "--device", "cpu", "--workers", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"saved {tmp_path / name}: conv1 (3, 64, 112, 112)"
    assert read_activations(tmp_path / name)["conv1"].shape == (3, 64, 112, 112)
    npy = "n" * 246 + ".npy"  # its sidecar's name is 255 characters, the most a name may have
    values = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    write_activations(tmp_path / npy, {"conv1": values})
    np.testing.assert_array_equal(read_activations(tmp_path / npy)["conv1"], values)
    assert only_files(tmp_path) == sorted(["photos", name, npy, npy + ".json"])


# 2. Number arguments, devices and layer names ----------------------------------------------

IMAGE_COMMANDS = {
    "record": ["record", "resnet18", "--layer", "conv1", "--images", "IMG", "--out", "OUT/a.npy"],
    "rdm": ["rdm", "resnet18", "--layer", "conv1", "--images", "IMG", "--out", "OUT/r.npy"],
    "rsa": ["rsa", "resnet18", "--layer", "conv1", "--layer", "layer1", "--images", "IMG", "--out", "OUT/r.json"],
    "topk": ["topk", "resnet18", "--layer", "conv1", "--images", "IMG", "--out", "OUT/top"],
}
TUNING = ["tuning", "resnet18", "--layer", "layer1", "--channel", "0", "--out", "OUT/t.csv"]

BAD_ARGUMENTS = [
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["--batch-size", "-4"], "argument --batch-size: must be at least 1, got -4"),
    (["--batch-size", "two"], "argument --batch-size: 'two' is not a whole number"),
    (["--device", "meta"],
     "argument --device: 'meta' is not a device unitscope can run on; use auto, cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:x"],
     "argument --device: 'cuda:x' is not a device unitscope can run on; use auto, cpu, cuda, cuda:N or mps"),
]
WORKERS = [(["--workers", "-1"], "argument --workers: must be 0 or more, got -1")]


def _cases():
    for command, argv in IMAGE_COMMANDS.items():
        for extra, message in BAD_ARGUMENTS + WORKERS:
            yield command, argv + extra, message
    for extra, message in BAD_ARGUMENTS:
        yield "tuning", TUNING + extra, message
    yield "topk", IMAGE_COMMANDS["topk"] + ["--k", "0"], "argument --k: must be at least 1, got 0"
    yield "tuning", TUNING + ["--phases", "0"], "argument --phases: must be at least 1, got 0"
    yield "tuning", TUNING + ["--phases", "-2"], "argument --phases: must be at least 1, got -2"
    for command, argv in {**IMAGE_COMMANDS, "tuning": TUNING}.items():
        for empty in ("", "  "):
            bad = list(argv)
            bad[bad.index("--layer") + 1] = empty
            yield command, bad, "argument --layer: a layer name cannot be empty"


CASES = list(_cases())


def _case_id(command: str, argv: list[str]) -> str:
    base = IMAGE_COMMANDS.get(command, TUNING)
    extra = argv[len(base):] or [f"--layer={argv[argv.index('--layer') + 1]!r}"]
    return f"{command} {' '.join(extra)}"


@pytest.mark.parametrize("command, argv, message", CASES, ids=[_case_id(c, a) for c, a, _m in CASES])
def test_bad_numbers_devices_and_layers_are_refused_with_one_line(image_dir, tmp_path, capsys,
                                                                  command, argv, message):
    argv = [str(image_dir) if a == "IMG" else a.replace("OUT", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"unitscope {command}: error: {message}"
    assert err[0].startswith(f"usage: unitscope {command} ")
    assert "Traceback" not in "\n".join(err)
    assert only_files(tmp_path) == ["photos"]


def test_good_numbers_and_devices_still_parse():
    parser = build_parser()
    args = parser.parse_args(["record", "m", "--layer", "conv1", "--images", "x", "--out", "a.npy",
                              "--batch-size", "1", "--workers", "0", "--device", "CUDA:1"])
    assert (args.batch_size, args.workers, args.device) == (1, 0, "cuda:1")
    for device in ("auto", "cpu", "cuda", "cuda:0", "mps"):
        assert parser.parse_args(["rdm", "m", "--layer", "l", "--images", "x", "--out", "r.npy",
                                  "--device", device]).device == device
    args = parser.parse_args(["topk", "m", "--layer", "l", "--images", "x", "--out", "d", "--k", "1"])
    assert (args.k, args.workers, args.batch_size, args.device) == (1, None, 32, "auto")


def test_a_huge_tuning_grid_is_refused_up_front(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["tuning", "resnet18", "--layer", "layer1", "--channel", "0", "--device", "cpu",
                 "--param", "orientation=0:180:100000", "--param", "sf=0.1:10:100000", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        ("unitscope: error: The gratings protocol's 10,000,000,000 conditions x 8 phase(s) would be "
         "80,000,000,000 stimuli; the limit is 1,000,000. Use fewer values.")]
    assert not out.exists()


def test_the_protocol_limit_is_on_stimuli_conditions_times_phases():
    assert MAX_STIMULI == 1_000_000
    with pytest.raises(UnitscopeError) as err:
        Protocol("gratings", 64, {"orientation": np.arange(125_001.0)})  # x 8 phases
    assert str(err.value) == ("The gratings protocol's 125,001 conditions x 8 phase(s) would be "
                              "1,000,008 stimuli; the limit is 1,000,000. Use fewer values.")
    with pytest.raises(UnitscopeError) as err:
        Protocol("sparse_noise", 64, {"frames": 2_000_000})
    assert str(err.value) == ("Parameter 'frames' would be 2,000,000 stimuli; the limit is 1,000,000. "
                              "Use fewer values.")
    with pytest.raises(UnitscopeError) as err:
        parse_values("0:1:1000000000000")
    assert str(err.value) == ("Parameter values '0:1:1000000000000' would be 1,000,000,000,000 stimuli; "
                              "the limit is 1,000,000. Use fewer values.")
    small = Protocol("gratings", 64, {"orientation": np.arange(10.0)}, phases=4)
    assert (small.n_conditions, len(small)) == (10, 40)


# 3. Image folders with a symbolic link loop and a FIFO -------------------------------------


@pytest.fixture
def odd_dir(image_dir):
    """Good photos, a folder link back to itself, a file link to itself and a FIFO."""
    os.symlink(image_dir, image_dir / "loop")
    os.symlink(image_dir / "self.jpg", image_dir / "self.jpg")
    os.mkfifo(image_dir / "pipe.jpg")  # opening it for reading blocks until a writer comes
    return image_dir


@pytest.fixture
def fifo_dir(image_dir):
    """Good photos, a folder link back to itself and a FIFO (no file link loop)."""
    os.symlink(image_dir, image_dir / "loop")
    os.mkfifo(image_dir / "pipe.jpg")
    return image_dir


def run_cli(*argv: str, timeout: float = 150) -> subprocess.CompletedProcess:
    """The command in a fresh interpreter; a hang fails the test after ``timeout`` seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env, check=False)


SKIPPED = ["unitscope: skipped: Image 'pipe.jpg' could not be read: it is a FIFO (named pipe), not a regular file.",
           "unitscope: skipped: Image 'self.jpg' could not be read: it is a symbolic link loop."]


def test_find_images_lists_each_entry_once_without_walking_the_loop(odd_dir):
    found = find_images(odd_dir)
    assert [p.name for p in found] == sorted(good_names() + ["pipe.jpg", "self.jpg"])
    assert all(p.parent == odd_dir for p in found)


def test_load_image_refuses_a_fifo_and_a_link_loop_without_opening_them(odd_dir):
    outcome = {}

    def load(name):
        try:
            load_image(odd_dir / name)
        except UnitscopeError as exc:
            outcome[name] = str(exc)

    for name in ("pipe.jpg", "self.jpg"):
        worker = threading.Thread(target=load, args=(name,), daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), f"load_image hangs on {name}"
    assert outcome == {
        "pipe.jpg": "Image 'pipe.jpg' could not be read: it is a FIFO (named pipe), not a regular file.",
        "self.jpg": "Image 'self.jpg' could not be read: it is a symbolic link loop."}
    assert load_image(odd_dir / good_names()[0]).mode == "RGB"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_record_goes_past_a_link_loop_and_a_fifo(odd_dir, tmp_path, workers):
    out = tmp_path / "acts.npz"
    done = run_cli("record", "resnet18", "--layer", "conv1", "--images", str(odd_dir), "--out", str(out),
                   "--device", "cpu", "--workers", workers)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"saved {out}: conv1 (3, 64, 112, 112); 2 file(s) skipped"]
    assert [line for line in done.stderr.splitlines() if line.startswith("unitscope:")] == SKIPPED
    assert "Traceback" not in done.stderr
    assert read_activations(out)["conv1"].shape == (3, 64, 112, 112)
    prov = read_provenance(out)
    assert prov["image_paths"] == [str(odd_dir / n) for n in good_names()]
    assert prov["skipped_paths"] == [str(odd_dir / "pipe.jpg"), str(odd_dir / "self.jpg")]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_record_and_rdm_go_past_a_fifo_without_hanging(fifo_dir, tmp_path, workers):
    out = tmp_path / "acts.h5"
    done = run_cli("record", "resnet18", "--layer", "conv1", "--images", str(fifo_dir), "--out", str(out),
                   "--device", "cpu", "--workers", workers)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"saved {out}: conv1 (3, 64, 112, 112); 1 file(s) skipped"]
    assert [line for line in done.stderr.splitlines() if line.startswith("unitscope:")] == SKIPPED[:1]
    assert read_provenance(out)["image_paths"] == [str(fifo_dir / n) for n in good_names()]
    out = tmp_path / "rdm.npz"
    done = run_cli("rdm", "resnet18", "--layer", "conv1", "--images", str(fifo_dir), "--out", str(out),
                   "--device", "cpu", "--workers", workers)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"saved {out}: 3 x 3 RDM of 'conv1' (flat, 802816 units); 1 file(s) skipped"]
    assert [line for line in done.stderr.splitlines() if line.startswith("unitscope:")] == SKIPPED[:1]
    assert read_activations(out)["conv1"].shape == (3, 3)


def test_rdm_goes_past_a_link_loop_and_a_fifo(odd_dir, tmp_path):
    out = tmp_path / "R.NPY"
    done = run_cli("rdm", "resnet18", "--layer", "layer1", "--images", str(odd_dir), "--out", str(out),
                   "--device", "cpu", "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"saved {out}: 3 x 3 RDM of 'layer1' (flat, 200704 units); 2 file(s) skipped"]
    assert [line for line in done.stderr.splitlines() if line.startswith("unitscope:")] == SKIPPED
    rdm = read_activations(out)["layer1"]
    assert rdm.shape == (3, 3)
    np.testing.assert_allclose(np.diag(rdm), 0.0, atol=1e-5)
    assert read_provenance(out)["image_paths"] == [str(odd_dir / n) for n in good_names()]


def test_topk_goes_past_a_link_loop_and_a_fifo(odd_dir, tmp_path):
    out = tmp_path / "top"
    done = run_cli("topk", "resnet18", "--layer", "conv1", "--channel", "3", "--k", "2", "--images",
                   str(odd_dir), "--out", str(out), "--device", "cpu", "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("unitscope:")] == SKIPPED
    record = json.loads((out / "topk.json").read_text(encoding="utf-8"))
    assert record["n_images"] == 3
    assert record["image_paths"] == [str(odd_dir / n) for n in good_names()]


def test_an_images_path_that_is_a_link_loop_says_so(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    os.symlink(b, a)
    os.symlink(a, b)
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    for path, line in ((a, f"unitscope: error: Image path '{a}' is a symbolic link loop."),
                       (tmp_path / "dangling", (f"unitscope: error: Image path '{tmp_path / 'dangling'}' is a "
                                                f"symbolic link to '{tmp_path / 'gone'}', which does not exist.")),
                       (tmp_path / "nowhere", f"unitscope: error: Image path '{tmp_path / 'nowhere'}' does not exist.")):
        for command in (["record", "resnet18", "--layer", "conv1", "--out", str(tmp_path / "x.npy")],
                        ["rdm", "resnet18", "--layer", "conv1", "--out", str(tmp_path / "x.npy")],
                        ["rsa", "resnet18", "--layer", "conv1", "--layer", "layer1", "--out",
                         str(tmp_path / "x.json")],
                        ["topk", "resnet18", "--layer", "conv1", "--out", str(tmp_path / "top")]):
            assert main([*command, "--images", str(path), "--device", "cpu"]) == 2
            assert capsys.readouterr().err.splitlines() == [line]
    assert only_files(tmp_path) == ["a", "b", "dangling"]
    # A list already expanded (a job's files) keeps such a link, for load_image to report.
    assert find_images([a, tmp_path / "dangling"]) == [a, tmp_path / "dangling"]
    with pytest.raises(UnitscopeError) as err:
        find_images([tmp_path / "nowhere"])
    assert str(err.value) == f"Image path '{tmp_path / 'nowhere'}' does not exist."
