"""Bad input of every kind gives one readable line naming the file or layer and the reason.

Each case goes through the engine's real entry points (``load_image``, ``open_model``,
``Recorder``, ``build_anatomy``) and through the command line (``engine.cli.main``),
which must exit 2 with exactly one ``unitscope: error:`` line, or, for images it could
not read, print one ``unitscope: skipped:`` line per file and save the rest.  After
every failure the model is left without forward hooks.
"""

from __future__ import annotations

import io
import pickle
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.anatomy.tree import build_anatomy
from engine.cli import main
from engine.errors import UnitscopeError
from engine.files.writers import read_activations, read_provenance
from engine.models.sources import open_model
from engine.recording.recorder import Cancelled, Recorder
from engine.stimuli.images import load_image

FACTORIES = textwrap.dedent('''
    """Small models for the bad-input tests; every model built is kept in BUILT."""

    from collections import OrderedDict

    import torch
    from torch import nn

    BUILT = []


    def _keep(module):
        BUILT.append(module)
        return module


    class Fails(nn.Module):
        def __init__(self, error):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 2, 3))
            self.head = nn.Conv2d(2, 2, 1)  # never reached
            self.error = error

        def forward(self, x):
            x = self.features(x)
            raise self.error
            return self.head(x)


    class NoTensor(nn.Module):
        def forward(self, x):
            return None


    class WithNoTensor(nn.Module):
        def __init__(self):
            super().__init__()
            self.nothing = NoTensor()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            self.nothing(x)
            return self.conv(x)


    def colour():
        """The mean colour of the image, per channel: rows can be traced back to files."""
        return _keep(nn.Sequential(OrderedDict(features=nn.Sequential(nn.AdaptiveAvgPool2d(1)))))


    def small():
        return _keep(nn.Sequential(OrderedDict(
            features=nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.Conv2d(4, 4, 3)),
            pool=nn.AdaptiveAvgPool2d(1))))


    def other():
        return _keep(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))


    def broken():
        return _keep(Fails(ValueError("the feature map has 2 channels, expected 4")))


    def oom():
        return _keep(Fails(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")))


    def no_tensor():
        return _keep(WithNoTensor())


    def typo():
        return nn.Sequential().no_such_attribute
''')


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def home(tmp_path) -> Path:
    """A working folder whose name has spaces and non-ASCII characters."""
    folder = tmp_path / "Versuch ü 猫"
    folder.mkdir()
    return folder


@pytest.fixture
def factory(home):
    """``FILE.py`` of small model factories; yields the path, then forgets its modules."""
    path = home / "my nets ñ.py"
    path.write_text(FACTORIES, encoding="utf-8")
    yield path
    for name in [n for n, m in sys.modules.items() if getattr(m, "__file__", None) == str(path)]:
        del sys.modules[name]


def built(path: Path) -> list[torch.nn.Module]:
    """Every model the factory file built in this test (from its latest import)."""
    modules = [m for m in sys.modules.values() if getattr(m, "__file__", None) == str(path)]
    return modules[-1].BUILT if modules else []


def hooks_left(model: torch.nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if m._forward_hooks or m._forward_pre_hooks]


def cli(capsys, *args) -> tuple[int, str, list[str]]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def one_error_line(lines: list[str], *words: str) -> str:
    assert len(lines) == 1, lines
    assert lines[0].startswith("unitscope: error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text and len(text) < 300, text
    for word in words:
        assert word in text, (word, text)
    return text


def _png(img: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG", **kwargs)
    return buffer.getvalue()


def _noise(side: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def _jpeg(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _corrupt(data: bytes) -> bytes:
    """The file with a run of its middle bytes zeroed: the header is intact, the data not."""
    third = len(data) // 3
    return data[:third] + bytes(200) + data[third + 200:]


BAD_IMAGES = {  # file name -> (bytes, words the message must contain)
    "truncated photo.jpg": (lambda: _jpeg(_noise())[:600], "truncated"),
    "truncated scan.png": (lambda: _png(_noise())[:1500], "truncated"),
    "corrupt photo.jpg": (lambda: _corrupt(_jpeg(_noise())), "could not be read"),
    "corrupt scan.png": (lambda: _corrupt(_png(_noise())), "could not be read"),
    "notes ü.png": (lambda: "these are my notes, not an image\n".encode(), "not an image"),
    "empty.jpg": (lambda: b"", "empty"),
}


def write_bad_images(folder: Path) -> list[Path]:
    paths = []
    for name, (make, _) in BAD_IMAGES.items():
        (folder / name).write_bytes(make())
        paths.append(folder / name)
    return paths


# --- images ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_bad_image_is_one_line_naming_file_and_reason(home, name):
    make, reason = BAD_IMAGES[name]
    path = home / name
    path.write_bytes(make())
    with pytest.raises(UnitscopeError) as exc:
        load_image(path)
    one_line(exc, f"'{name}'", reason)


def test_record_skips_each_bad_image_once_and_saves_the_rest(capsys, home, factory):
    folder = home / "mixed bag"
    folder.mkdir()
    bad = write_bad_images(folder)
    _noise(16).save(folder / "good é.png")
    out = home / "acts ü.npz"
    code, stdout, err = cli(capsys, "record", f"{factory}:colour", "--layer", "features",
                            "--images", folder, "--out", out, "--workers", 0, "--device", "cpu")
    assert code == 0, err
    assert all(line.startswith("unitscope: skipped: ") for line in err), err
    assert sorted(err) == sorted(set(err)) and len(err) == len(bad)
    for path in bad:
        assert sum(f"'{path.name}'" in line for line in err) == 1, (path.name, err)
    assert f"{len(bad)} file(s) skipped" in stdout
    assert read_activations(out)["features"].shape == (1, 3, 1, 1)
    prov = read_provenance(out)
    assert [Path(p).name for p in prov["image_paths"]] == ["good é.png"]
    assert sorted(Path(p).name for p in prov["skipped_paths"]) == sorted(p.name for p in bad)
    assert [hooks_left(m) for m in built(factory)] == [[]]


def test_record_of_only_bad_images_saves_nothing_and_says_so_once(capsys, home, factory):
    folder = home / "all bad"
    folder.mkdir()
    bad = write_bad_images(folder)
    out = home / "acts.npz"
    code, _, err = cli(capsys, "record", f"{factory}:colour", "--layer", "features",
                       "--images", folder, "--out", out, "--workers", 0, "--device", "cpu")
    assert code == 2
    skipped = [line for line in err if line.startswith("unitscope: skipped: ")]
    assert len(skipped) == len(bad)
    one_error_line([line for line in err if line not in skipped], "None of the images")
    assert not out.exists()


def _odd_images() -> dict[str, Image.Image]:
    rgb = _noise(24, seed=3)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return {
        "one pixel.png": Image.new("RGB", (1, 1), (200, 30, 40)),
        "deep 16 bit.png": Image.fromarray((np.arange(24 * 24, dtype=np.uint16) * 97).reshape(24, 24)),
        "print cmyk.jpg": rgb.convert("CMYK"),
        "palette.png": palette,
        "palette transparent.png": palette,
        "palette.gif": palette,
        "grey alpha.png": rgb.convert("LA"),
    }


def test_odd_but_valid_images_are_recorded(capsys, home, factory):
    folder = home / "odd ones"
    folder.mkdir()
    for name, img in _odd_images().items():
        kwargs = {"transparency": 0} if "transparent" in name else {}
        img.save(folder / name, **kwargs)
        loaded = load_image(folder / name)
        assert loaded.mode == "RGB" and loaded.size == img.size, name
    out = home / "odd.npz"
    code, stdout, err = cli(capsys, "record", f"{factory}:small", "--layer", "features.2",
                            "--images", folder, "--out", out, "--workers", 0, "--device", "cpu")
    assert (code, err) == (0, [])
    assert "skipped" not in stdout
    assert read_activations(out)["features.2"].shape[0] == len(_odd_images())


@pytest.mark.parametrize("side", [300, 400])  # over the limit (a warning), over twice it (an error)
def test_decompression_bomb_is_refused(capsys, home, factory, monkeypatch, side):
    # Above the 224 x 224 crop of preprocessing (Pillow checks crops too), below the bombs.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60_000)
    folder = home / "bombs"
    folder.mkdir()
    Image.new("L", (side, side)).save(folder / "bomb.png")
    Image.new("RGB", (200, 200), (1, 2, 3)).save(folder / "small.png")  # 40,000 pixels: fine
    with pytest.raises(UnitscopeError) as exc:
        load_image(folder / "bomb.png")
    one_line(exc, "'bomb.png'", f"{side * side:,} pixels", "60,000", "decompression bomb")
    code, _, err = cli(capsys, "record", f"{factory}:colour", "--layer", "features", "--images", folder,
                       "--out", home / "a.npz", "--workers", 0, "--device", "cpu")
    assert code == 0
    assert len(err) == 1 and err[0].startswith("unitscope: skipped: Image 'bomb.png' was refused")


@pytest.fixture
def one_torch_thread():
    """Tiny tensor ops on a shared, busy machine run far faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_folder_of_2000_mixed_files_keeps_every_good_image_in_order(capsys, home, factory, one_torch_thread):
    """Images, text, empty and cut files, other files, hidden files and subfolders (one of
    them named like an image): every good image is kept, in the walk's order."""
    root = home / "session 1 ü"
    folders = [root, root / "looks like.png", *(root / f"run {j}" for j in range(1, 9)),
               root / "run 3" / "deeper ñ"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    cut_png = _png(_noise(8))[:60]
    rgb_png: dict[Path, int] = {}
    expected, bad = [], []
    for n in range(2000):
        folder, kind = folders[n % len(folders)], n % 10
        if kind < 2:  # an RGB PNG whose colour encodes n
            path = folder / f"img{n}.png"
            path.write_bytes(_png(Image.new("RGB", (8, 8), (n % 256, n // 256 * 16, 77))))
            rgb_png[path] = n
            expected.append(path)
        elif kind == 2:
            path = folder / f"img{n}.JPG"
            path.write_bytes(_jpeg(Image.new("RGB", (8, 8), (9, 9, 9))))
            expected.append(path)
        elif kind in (3, 4, 5):  # text, empty and cut: skipped, each with one line
            path = folder / f"img{n}{'.png' if kind != 4 else '.jpg'}"
            path.write_bytes({3: f"note {n}".encode(), 4: b"", 5: cut_png}[kind])
            bad.append(path)
        elif kind in (6, 7):  # not image suffixes: never looked at
            (folder / f"img{n}{'.txt' if kind == 6 else '.json'}").write_text("{}")
        else:  # hidden files are never the user's images
            (folder / f".img{n}.png").write_text("hidden")
    # The walk's natural order: the root's own files, then each folder's, "run 3/deeper ñ"
    # before the files of "run 3" ('deeper' sorts before 'img'); by number within a folder.
    walk = [root, root / "looks like.png", *(root / f"run {j}" for j in (1, 2)),
            root / "run 3" / "deeper ñ", *(root / f"run {j}" for j in range(3, 9))]
    expected.sort(key=lambda p: (walk.index(p.parent), int(p.stem[3:])))
    out = home / "big run.npz"
    code, stdout, err = cli(capsys, "record", f"{factory}:colour", "--layer", "features",
                            "--images", root, "--out", out, "--workers", 0, "--device", "cpu",
                            "--batch-size", 100)
    assert code == 0, err[-3:]
    assert len(err) == len(bad) and all(line.startswith("unitscope: skipped: ") for line in err)
    assert f"{len(bad)} file(s) skipped" in stdout
    kept = [Path(p) for p in read_provenance(out)["image_paths"]]
    assert kept == expected
    acts = read_activations(out)["features"][:, :, 0, 0]
    assert acts.shape == (len(expected), 3)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    colours = np.rint((acts * std + mean) * 255).astype(int)
    for row, path in enumerate(kept):
        if path in rgb_png:
            n = rgb_png[path]
            assert tuple(colours[row]) == (n % 256, n // 256 * 16, 77), path


# --- model and weights files -------------------------------------------------------------


class _RunsCode:
    """Unpickling this creates the marker file: proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def weights(home, factory):
    """Weights files of the ``small`` factory model, good and bad, by name."""
    model = open_model(f"{factory}:small").module
    state = model.state_dict()
    files = {}

    def save(name, obj):
        files[name] = home / name
        torch.save(obj, files[name])

    save("small.pth", state)
    save("other net.pth", open_model(f"{factory}:other").module.state_dict())
    save("extra keys.pth", {**state, "head.weight": torch.zeros(2, 4)})
    save("missing keys.pth", {k: v for k, v in state.items() if k != "features.2.bias"})
    save("wrong shape.pth", {**state, "features.0.weight": torch.zeros(4, 3, 5, 5)})
    files["truncated.pth"] = home / "truncated.pth"
    files["truncated.pth"].write_bytes(files["small.pth"].read_bytes()[:700])
    files["empty.pth"] = home / "empty.pth"
    files["empty.pth"].write_bytes(b"")
    return files


WEIGHT_CASES = {  # weights file -> words the one-line message must contain
    "other net.pth": ("do not fit this model", "missing keys: features.0.bias", "unexpected keys: 0.bias"),
    "extra keys.pth": ("do not fit this model", "unexpected keys: head.weight"),
    "missing keys.pth": ("do not fit this model", "missing keys: features.2.bias"),
    "wrong shape.pth": ("shape mismatch: features.0.weight (4, 3, 5, 5) vs (4, 3, 3, 3)",),
    "truncated.pth": ("could not be read", "truncated"),
    "empty.pth": ("could not be read",),
}


@pytest.mark.parametrize("name", sorted(WEIGHT_CASES))
def test_bad_weights_file(capsys, factory, weights, name):
    words = (f"'{name}'", *WEIGHT_CASES[name])
    with pytest.raises(UnitscopeError) as exc:
        open_model(f"{factory}:small", weights[name])
    one_line(exc, *words)
    assert [hooks_left(m) for m in built(factory)] == [[]]
    code, out, err = cli(capsys, "anatomy", f"{factory}:small", "--weights", weights[name])
    assert (code, out) == (2, "")
    one_error_line(err, *words)


def test_good_weights_load(factory, weights):
    model = open_model(f"{factory}:small", weights["small.pth"])
    assert model.weights_label == "small.pth"


@pytest.mark.parametrize("suffix", [".pt", ".pkl"])
@pytest.mark.parametrize("save", ["torch.save", "pickle"])
def test_pickle_that_runs_code_is_refused_unless_trusted(capsys, home, factory, suffix, save):
    marker = home / "code ran"
    path = home / f"model ü{suffix}"
    if save == "pickle":
        path.write_bytes(pickle.dumps(_RunsCode(marker)))
    else:
        torch.save(_RunsCode(marker), path)
    with pytest.raises(UnitscopeError) as exc:
        open_model(str(path))
    one_line(exc, f"'{path.name}'", "runs code", "--trust-pickle")
    code, out, err = cli(capsys, "anatomy", path)
    assert (code, out) == (2, "")
    one_error_line(err, f"'{path.name}'", "--trust-pickle")
    with pytest.raises(UnitscopeError) as exc:  # nor as a weights file
        open_model(f"{factory}:small", path)
    one_line(exc, f"'{path.name}'", "would run code")
    assert not marker.exists()
    # Trusted, the pickle runs (that is what trust means); it holds no model, and says so.
    code, _, err = cli(capsys, "anatomy", path, "--trust-pickle")
    assert marker.exists()
    assert code == 2
    one_error_line(err, f"'{path.name}'")


def _torchscript_bytes() -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 2, 1)), buffer)
    return buffer.getvalue()


def test_torchscript_that_fails_to_load(capsys, home, factory):
    good = _torchscript_bytes()
    cases = {
        "cut short.ts": good[: len(good) // 2],
        "noise.ts": b"not torchscript at all",
        "no records.pt": None,  # a zip that looks like TorchScript but is not
    }
    with zipfile.ZipFile(home / "no records.pt", "w") as archive:
        archive.writestr("net/code/__torch__.py", "def (:")
    for name, data in cases.items():
        if data is not None:
            (home / name).write_bytes(data)
        with pytest.raises(UnitscopeError) as exc:
            open_model(str(home / name))
        one_line(exc, f"TorchScript file '{name}' could not be loaded")
        code, out, err = cli(capsys, "anatomy", home / name)
        assert (code, out) == (2, "")
        one_error_line(err, f"'{name}'", "could not be loaded")
    (home / "scripted.pt").write_bytes(good)  # a real archive passed as weights
    with pytest.raises(UnitscopeError) as exc:
        open_model(f"{factory}:small", home / "scripted.pt")
    one_line(exc, "'scripted.pt' is a TorchScript model, not a state_dict")


def test_factory_problems(capsys, factory):
    with pytest.raises(UnitscopeError) as exc:
        open_model(f"{factory}:nowhere")
    one_line(exc, f"'{factory.name}' has no factory 'nowhere'")
    with pytest.raises(UnitscopeError) as exc:  # an AttributeError inside the factory is its own
        open_model(f"{factory}:typo")
    one_line(exc, f"Running {factory.name}:typo failed: AttributeError", "no_such_attribute")


# --- layers and forward passes -----------------------------------------------------------


def _images(home: Path, n: int = 3) -> Path:
    folder = home / "three"
    folder.mkdir(exist_ok=True)
    for i in range(n):
        _noise(16, seed=i).save(folder / f"p{i}.png")
    return folder


def test_unknown_layer_suggests_names(capsys, home, factory):
    model = open_model(f"{factory}:small")
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model.module, "cpu").record_one(["feature.2"], torch.zeros(1, 3, 32, 32))
    one_line(exc, "Unknown layer 'feature.2'", "Did you mean features.2")
    with pytest.raises(UnitscopeError) as exc:
        build_anatomy(model.module, (32, 32)).node("features.9")
    assert "features.0" in one_line(exc, "Unknown layer 'features.9'. Did you mean")
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model.module, "cpu").record_one(["features.2#0"], torch.zeros(1, 3, 32, 32))
    one_line(exc, "'features.2#0'", "number from 1 up")
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model.module, "cpu").record_one(["features.2#2"], torch.zeros(1, 3, 32, 32))
    one_line(exc, "'features.2#2' (called 1 times)")
    assert hooks_left(model.module) == []
    code, out, err = cli(capsys, "record", f"{factory}:small", "--layer", "feature.2", "--images",
                         _images(home), "--out", home / "a.npz", "--device", "cpu")
    assert (code, out) == (2, "")
    one_error_line(err, "Unknown layer 'feature.2'", "Did you mean features.2")
    assert [hooks_left(m) for m in built(factory)] == [[]]


def test_forward_that_raises(capsys, home, factory):
    model = open_model(f"{factory}:broken").module
    reason = "ValueError: the feature map has 2 channels, expected 4"
    # A layer before the failure is recorded: the pass ends early, before the error.
    assert Recorder(model, "cpu").record_one(["features"], torch.zeros(2, 3, 32, 32)).size == 2
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model, "cpu").record_one(["features.0", "head"], torch.zeros(2, 3, 32, 32))
    one_line(exc, "forward pass failed", reason)
    anatomy = build_anatomy(model, (32, 32))  # the tree is still there, shapes are not
    assert anatomy.device == "" and any(reason in note for note in anatomy.notes)
    assert hooks_left(model) == []
    code, out, err = cli(capsys, "record", f"{factory}:broken", "--layer", "head", "--images",
                         _images(home), "--out", home / "a.npz", "--workers", 0, "--device", "cpu")
    assert (code, out) == (2, "")
    one_error_line(err, reason)
    assert [hooks_left(m) for m in built(factory)] == [[]]
    assert not (home / "a.npz").exists()


def test_layer_that_returns_no_tensor(factory):
    model = open_model(f"{factory}:no_tensor").module
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model, "cpu").record_one(["nothing", "conv"], torch.zeros(1, 3, 8, 8))
    one_line(exc, "Layer 'nothing' returned no tensor")
    assert hooks_left(model) == []


def test_cancel_leaves_no_hooks(factory):
    model = open_model(f"{factory}:small").module
    batches = (torch.zeros(1, 3, 32, 32) for _ in range(3))
    stream = Recorder(model, "cpu").record(["features.2"], batches, cancelled=iter([False, True]).__next__)
    next(stream)
    with pytest.raises(Cancelled):
        next(stream)
    assert hooks_left(model) == []


def test_out_of_memory_suggests_a_smaller_batch_then_recording_works(capsys, home, factory):
    model = open_model(f"{factory}:oom").module
    with pytest.raises(UnitscopeError) as exc:
        Recorder(model, "cpu").record_one(["head"], torch.zeros(4, 3, 32, 32))
    text = one_line(exc, "smaller batch size")
    assert "out of memory" in text.lower() and "batch of 4" in text
    assert hooks_left(model) == []
    code, out, err = cli(capsys, "record", f"{factory}:oom", "--layer", "head", "--images",
                         _images(home), "--out", home / "a.npz", "--workers", 0, "--device", "cpu")
    assert (code, out) == (2, "")
    assert "out of memory" in one_error_line(err, "smaller batch size").lower()
    # Nothing is left behind: a normal model records normally afterwards.
    normal = open_model(f"{factory}:small").module
    got = Recorder(normal, "cpu").record_one(["features.2"], torch.ones(2, 3, 32, 32)).outputs["features.2"]
    with torch.inference_mode():
        assert torch.equal(got, normal.features(torch.ones(2, 3, 32, 32)))
    code, out, err = cli(capsys, "record", f"{factory}:small", "--layer", "features.2", "--images",
                         _images(home), "--out", home / "a.npz", "--workers", 0, "--device", "cpu")
    assert (code, err) == (0, [])
    assert read_activations(home / "a.npz")["features.2"].shape == (3, 4, 54, 54)
    assert all(hooks_left(m) == [] for m in built(factory))
