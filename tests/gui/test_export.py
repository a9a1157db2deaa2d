"""gui.window.export: PNG, SVG and PDF files of the feature-map panel, written atomically."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtGui

from engine.errors import UnitscopeError
from gui.window.export import export_pdf, export_png, export_svg
from gui.widgets.feature_map_panel import FeatureMapPanel

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def panel(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.show_output(np.random.default_rng(0).random((16, 6, 6), dtype=np.float32), "conv")
    return widget


@pytest.mark.parametrize("width", [333, 1200])
def test_png_of_plot_has_requested_width(panel, tmp_path, width):
    path = export_png(panel.export_target(), tmp_path / "maps.png", width)
    image = QtGui.QImage(str(path))
    assert not image.isNull() and image.width() == width
    assert sorted(os.listdir(tmp_path)) == ["maps.png"]


def test_png_of_widget_has_requested_width(panel, tmp_path):
    path = export_png(panel, tmp_path / "panel.png", 640)
    image = QtGui.QImage(str(path))
    assert image.width() == 640
    assert abs(image.height() - 640 * panel.height() / panel.width()) <= 1


def test_svg_has_an_image(panel, tmp_path):
    path = export_svg(panel.export_target(), tmp_path / "maps.svg")
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    assert root.find(f".//{SVG}image") is not None


def test_pdf_starts_with_magic(panel, tmp_path):
    for target, name in ((panel.export_target(), "maps.pdf"), (panel, "panel.pdf")):
        path = export_pdf(target, tmp_path / name, width_px=800)
        assert path.read_bytes()[:5] == b"%PDF-"


def test_existing_file_is_replaced(panel, tmp_path):
    path = tmp_path / "maps.png"
    path.write_bytes(b"old")
    export_png(panel.export_target(), path, 100)
    assert QtGui.QImage(str(path)).width() == 100


@pytest.mark.parametrize("export", [
    lambda t, p: export_png(t, p / "x.png", 200),
    lambda t, p: export_svg(t, p / "x.svg"),
    lambda t, p: export_pdf(t, p / "x.pdf"),
])
def test_missing_folder_raises_and_leaves_nothing(panel, tmp_path, export):
    missing = tmp_path / "nowhere"
    with pytest.raises(UnitscopeError, match=r"'x\.(png|svg|pdf)'") as info:
        export(panel.export_target(), missing)
    assert "\n" not in str(info.value)
    assert not missing.exists() and os.listdir(tmp_path) == []


def test_wrong_extension_and_width_raise(panel, tmp_path):
    with pytest.raises(UnitscopeError, match="maps.jpg"):
        export_png(panel.export_target(), tmp_path / "maps.jpg", 200)
    with pytest.raises(UnitscopeError, match="maps.png"):
        export_png(panel.export_target(), tmp_path / "maps.png", 0)
    with pytest.raises(UnitscopeError, match="maps.svg"):
        export_pdf(panel, tmp_path / "maps.svg")
    assert os.listdir(tmp_path) == []
