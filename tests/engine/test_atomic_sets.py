"""Output sets are saved whole or not at all, also under SIGINT/SIGTERM and after kill -9."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import UnitscopeError
from engine.files.atomic import _HOST, atomic_write_all, remove_stale_temporaries
from engine.files.writers import read_activations, write_activations
from resources import sample_images


@pytest.fixture(autouse=True)
def empty_hub(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".us-*"))


def test_a_failing_member_leaves_every_file_of_the_set_as_it_was(tmp_path):
    first, second, crops = tmp_path / "data.csv", tmp_path / "data.csv.json", tmp_path / "crops"
    first.write_text("old table")
    second.write_text("old sidecar")
    crops.mkdir()
    (crops / "old.png").write_text("old crop")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UnitscopeError) as exc:
        atomic_write_all({first: lambda tmp: tmp.write_text("new table"), second: fail},
                         folders={crops: lambda folder: (folder / "new.png").write_text("new crop")})
    assert str(exc.value) == "Could not save 'data.csv.json': the disk is full."
    assert (first.read_text(), second.read_text()) == ("old table", "old sidecar")
    assert sorted(p.name for p in crops.iterdir()) == ["old.png"]
    assert temporaries(tmp_path) == []
    # and when every member succeeds, all are new and the old folder's files are gone
    atomic_write_all({first: lambda tmp: tmp.write_text("new table"),
                      second: lambda tmp: tmp.write_text("new sidecar")},
                     folders={crops: lambda folder: (folder / "new.png").write_text("new crop")})
    assert (first.read_text(), second.read_text()) == ("new table", "new sidecar")
    assert sorted(p.name for p in crops.iterdir()) == ["new.png"]
    assert temporaries(tmp_path) == []


def test_npy_and_its_sidecar_are_one_set(tmp_path):
    out = tmp_path / "acts.npy"
    write_activations(out, {"conv1": np.ones((2, 3), np.float32)}, {"run": 1})
    (tmp_path / "acts.npy.json").unlink()
    (tmp_path / "acts.npy.json").mkdir()  # the sidecar cannot be written
    with pytest.raises(UnitscopeError) as exc:
        write_activations(out, {"conv1": np.zeros((4, 3), np.float32)}, {"run": 2})
    assert "acts.npy.json" in str(exc.value) and "folder" in str(exc.value)
    assert np.load(out).shape == (2, 3)  # the data file was not replaced either
    assert temporaries(tmp_path) == []


def test_a_dead_process_temporaries_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f".us-{dead_pid}-{_HOST}-abcdefgh.h5"
    left.write_bytes(b"x" * 1000)
    left_dir = tmp_path / f".us-{dead_pid}-{_HOST}-ijklmnop"
    (left_dir / "sub").mkdir(parents=True)
    live = tmp_path / f".us-{os.getpid()}-{_HOST}-qrstuvwx.npz"
    live.write_bytes(b"y")
    other_host = tmp_path / f".us-{dead_pid}-{'0000' if _HOST != '0000' else '0001'}-abcdefgh.h5"
    other_host.write_bytes(b"z")
    users = tmp_path / ".us-notes.txt"  # not ours: no pid and host
    users.write_text("mine")
    write_activations(tmp_path / "acts.h5", {"a": np.ones(3, np.float32)})
    assert temporaries(tmp_path) == sorted([live.name, other_host.name, users.name])
    assert remove_stale_temporaries(tmp_path) == []


def _big_image_folder(tmp_path: Path, n: int) -> Path:
    """``n`` different photographs (shifted crops of a bundled sample)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    image = Image.open(sample_images()[0]).convert("RGB")
    for i in range(n):
        image.crop((7 * i, 5 * i, image.width - 3 * i, image.height - 2 * i)).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize("signum, code, line", [(signal.SIGINT, 130, "unitscope: interrupted"),
                                                (signal.SIGTERM, 143, "unitscope: terminated")])
def test_a_signal_during_an_h5_write_leaves_no_temporary_and_the_old_file(tmp_path, signum, code, line):
    photos = _big_image_folder(tmp_path, 12)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "acts.h5"
    write_activations(out, {"old": np.arange(3, dtype=np.float32)})
    before = out.read_bytes()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "record", "resnet18", "--layer", "conv1", "--layer", "layer1",
         "--images", str(photos), "--out", str(out), "--force", "--device", "cpu", "--workers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    hit = threading.Event()

    def watch():  # signal the process as soon as its temporary output file exists
        while process.poll() is None and not hit.is_set():
            if any(p.name.startswith(".us-") for p in out_dir.iterdir()):
                process.send_signal(signum)
                hit.set()
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, err = process.communicate(timeout=300)
    watcher.join()
    assert hit.is_set(), err
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == line
    assert temporaries(tmp_path) == []
    assert out.read_bytes() == before
    assert list(read_activations(out)) == ["old"]


def test_topk_replaces_crops_csv_and_json_together(tmp_path, capsys):
    photos = _big_image_folder(tmp_path, 5)
    out = tmp_path / "top"
    args = ["topk", "resnet18", "--layer", "layer1", "--channel", "3", "--images", str(photos),
            "--device", "cpu", "--workers", "0", "--out", str(out)]
    assert main([*args, "--k", "2"]) == 0
    assert len(list((out / "crops").iterdir())) == 4  # top 2 and bottom 2 of 5
    (out / "my notes.txt").write_text("kept")  # the user's own file in the folder
    capsys.readouterr()
    assert main([*args, "--k", "1"]) == 2  # an earlier result is never replaced unasked
    assert capsys.readouterr().err.splitlines() == [
        f"unitscope: error: '{out / 'topk.csv'}', '{out / 'topk.json'}', '{out / 'crops'}' already exist; "
        "pass --force to replace, or choose another --out."]
    assert main([*args, "--k", "1", "--force"]) == 0
    crops = sorted(p.name for p in (out / "crops").iterdir())
    record = json.loads((out / "topk.json").read_text())
    assert record["parameters"]["k"] == 1
    listed = sorted({line.rsplit(",", 1)[1].split("/")[-1] for line in
                     (out / "topk.csv").read_text().splitlines()[1:]})
    assert crops == listed and len(crops) == 2  # no crop of the earlier run is left
    assert (out / "my notes.txt").read_text() == "kept"
    assert temporaries(tmp_path) == []


def test_a_full_disk_is_named_for_every_format(tmp_path):
    """A real full file system (a 64 KiB tmpfs; the tests run as root, as CI does)."""
    disk = tmp_path / "small disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        for suffix in (".npy", ".npz", ".h5", ".mat"):
            with pytest.raises(UnitscopeError) as exc:
                write_activations(disk / f"acts{suffix}", {"a": np.ones((100, 1000), np.float32)}, {"p": 1})
            assert str(exc.value) == f"Could not save 'acts{suffix}': the disk is full."
            assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_ctrl_c_while_torch_is_imported_is_one_line(tmp_path):
    """SIGINT the moment torch's library is mapped into the process, i.e. while it imports torch."""
    process = subprocess.Popen([sys.executable, "-m", "engine", "anatomy", "alexnet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TORCH_HOME": str(tmp_path / "torch")})
    maps = Path(f"/proc/{process.pid}/maps")

    def torch_mapped() -> bool:
        try:
            return "libtorch" in maps.read_text()
        except OSError:  # the process has ended
            return True

    while process.poll() is None and not torch_mapped():
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert (process.returncode, out, err) == (130, "", "unitscope: interrupted\n")
