"""Loading real image files written into tmp_path: modes, EXIF, broken files, folders."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import resources
from engine.errors import UnitscopeError
from engine.stimuli.images import (
    BACKGROUND,
    IMAGE_SUFFIXES,
    find_images,
    load_image,
    load_images,
)


def _noise_rgb(h: int = 64, w: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _pixel(img: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in img.getpixel((x, y)))


def _save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


# --- modes ---------------------------------------------------------------------------


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 10, 10))  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(stored, tmp_path / "rotated.jpg", exif=exif, quality=95)

    img = load_image(path)

    assert img.mode == "RGB"
    assert img.size == (20, 40)
    # Turned clockwise, the stored top-left corner is shown at the top-right.
    r, g, b = _pixel(img, 15, 4)
    assert r > 200 and g < 60 and b < 60
    r, g, b = _pixel(img, 4, 35)
    assert b > 200 and r < 60


def test_grayscale_becomes_equal_channels(tmp_path):
    gray = Image.fromarray(np.array([[0, 100], [200, 255]], dtype=np.uint8))
    img = load_image(_save(gray, tmp_path / "gray.png"))
    assert img.mode == "RGB"
    assert np.array_equal(np.asarray(img), np.repeat(np.asarray(gray)[:, :, None], 3, axis=2))


def test_one_bit_image(tmp_path):
    bits = Image.new("1", (4, 2), 0)
    bits.putpixel((1, 0), 1)
    img = load_image(_save(bits, tmp_path / "bits.png"))
    assert _pixel(img, 1, 0) == (255, 255, 255)
    assert _pixel(img, 0, 0) == (0, 0, 0)


def test_rgba_is_composited_on_mid_grey(tmp_path):
    rgba = Image.new("RGBA", (3, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    rgba.putpixel((2, 0), (255, 255, 255, 128))
    img = load_image(_save(rgba, tmp_path / "alpha.png"))
    assert img.mode == "RGB"
    assert _pixel(img, 0, 0) == BACKGROUND == (128, 128, 128)
    assert _pixel(img, 1, 0) == (255, 0, 0)
    assert all(abs(v - 192) <= 1 for v in _pixel(img, 2, 0))


def test_la_image(tmp_path):
    la = Image.new("LA", (2, 1), (0, 0))
    la.putpixel((1, 0), (50, 255))
    img = load_image(_save(la, tmp_path / "la.png"))
    assert _pixel(img, 0, 0) == BACKGROUND
    assert _pixel(img, 1, 0) == (50, 50, 50)


def test_palette_with_transparency(tmp_path):
    pal = Image.new("P", (2, 1), 0)
    pal.putpalette([0, 255, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    path = _save(pal, tmp_path / "pal.png", transparency=0)
    img = load_image(path)
    assert _pixel(img, 0, 0) == BACKGROUND
    assert _pixel(img, 1, 0) == (0, 0, 255)


def test_palette_gif(tmp_path):
    pal = _noise_rgb(16, 16).convert("P")
    img = load_image(_save(pal, tmp_path / "pal.gif"))
    assert img.mode == "RGB" and img.size == (16, 16)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32768, 65535, 257]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")  # really a 16-bit file
    img = load_image(path)
    assert np.asarray(img)[0, :, 0].tolist() == [0, 128, 255, 1]


def test_16_bit_pgm_is_scaled(tmp_path):
    path = tmp_path / "deep.pgm"
    path.write_bytes(b"P5\n3 1\n65535\n" + np.array([0, 32768, 65535], ">u2").tobytes())
    img = load_image(path)
    assert np.asarray(img)[0, :, 1].tolist() == [0, 128, 255]


def test_float_tiff_in_unit_range(tmp_path):
    data = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    img = load_image(_save(Image.fromarray(data), tmp_path / "float.tif"))
    assert np.asarray(img)[0, :, 2].tolist() == [0, 128, 255]


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red in CMYK
    path = _save(cmyk, tmp_path / "print.jpg", quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    r, g, b = _pixel(load_image(path), 8, 8)
    assert r > 230 and g < 30 and b < 30


def test_one_pixel_image(tmp_path):
    img = load_image(_save(Image.new("RGB", (1, 1), (1, 2, 3)), tmp_path / "dot.png"))
    assert img.size == (1, 1) and _pixel(img, 0, 0) == (1, 2, 3)


@pytest.mark.parametrize("suffix", sorted(IMAGE_SUFFIXES - {".pgm"}))
def test_every_listed_format_loads(tmp_path, suffix):
    path = _save(_noise_rgb(12, 20), tmp_path / f"pic{suffix}")
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (20, 12)


def test_loaded_image_is_detached_from_file(tmp_path):
    path = _save(_noise_rgb(), tmp_path / "detached.png")
    img = load_image(path)
    path.unlink()  # the file is closed and fully decoded
    assert np.asarray(img).shape == (64, 64, 3)


def test_non_ascii_name_with_spaces(tmp_path):
    folder = tmp_path / "фото и снимки"
    folder.mkdir()
    path = _save(_noise_rgb(8, 8), folder / "chat très mignon 猫.png")
    assert load_image(str(path)).size == (8, 8)


# --- broken files --------------------------------------------------------------------


def _assert_one_line_error(excinfo, name: str, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert f"'{name}'" in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_truncated_file(tmp_path, fmt, suffix):
    whole = _save(_noise_rgb(128, 128), tmp_path / f"whole{suffix}", format=fmt)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnitscopeError) as excinfo:
        load_image(cut)
    _assert_one_line_error(excinfo, cut.name, "could not be read")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(UnitscopeError) as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, "notes.png", "could not be read", "not an image")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(UnitscopeError) as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, "empty.jpg", "empty")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UnitscopeError) as excinfo:
        load_image(tmp_path / "ghost.png")
    _assert_one_line_error(excinfo, "ghost.png", "does not exist")
    with pytest.raises(UnitscopeError, match="folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("side", [15, 40])  # 225 px: warning range; 1600 px: error range
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, side):
    path = _save(Image.new("RGB", (side, side)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    filters_before = list(warnings.filters)
    with pytest.raises(UnitscopeError) as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, "bomb.png", "exceeds the pixel limit")
    assert warnings.filters == filters_before  # the error filter stayed local


# --- folders and batches -------------------------------------------------------------


@pytest.fixture
def photo_folder(tmp_path):
    root = tmp_path / "my photos"
    (root / "sub dir").mkdir(parents=True)
    (root / "ñandú").mkdir()
    (root / ".cache").mkdir()
    for name in ["img10.png", "img2.png", "B.JPG", "a.jpeg", "sub dir/z 1.webp",
                 "ñandú/ü.tif", ".cache/x.png", "._hidden.png"]:
        _save(_noise_rgb(8, 8), root / name)
    (root / "readme.txt").write_text("not an image")
    (root / "broken.png").write_text("not an image either")
    return root


def test_find_images_walks_in_natural_order(photo_folder):
    found = [p.relative_to(photo_folder).as_posix() for p in find_images(photo_folder)]
    assert found == ["a.jpeg", "B.JPG", "broken.png", "img2.png", "img10.png",
                     "ñandú/ü.tif", "sub dir/z 1.webp"]


def test_find_images_keeps_explicit_files_and_drops_duplicates(photo_folder):
    readme = photo_folder / "readme.txt"
    found = find_images([readme, photo_folder, photo_folder / "img2.png"])
    assert found[0] == readme
    assert len(found) == len(set(found)) == 8


def test_find_images_missing_path(tmp_path):
    with pytest.raises(UnitscopeError, match="nowhere"):
        find_images([tmp_path / "nowhere"])


def test_load_images_goes_on_past_bad_files(photo_folder, tmp_path):
    results = list(load_images([photo_folder, tmp_path / "gone.png"]))
    assert len(results) == 8
    by_name = {path.name: (img, err) for path, img, err in results}
    assert by_name["broken.png"][0] is None
    assert "broken.png" in by_name["broken.png"][1]
    assert by_name["gone.png"][0] is None and "does not exist" in by_name["gone.png"][1]
    good = [img for img, err in by_name.values() if err is None]
    assert len(good) == 6
    assert all(img.mode == "RGB" and img.size == (8, 8) for img in good)


def test_bundled_samples_load():
    samples = resources.sample_images()
    assert [p.name for p in samples] == ["astronaut.jpg", "cat.jpg", "coffee.jpg", "rocket.jpg"]
    for path, img, err in load_images(samples):
        assert err is None and img.mode == "RGB" and max(img.size) <= 320
