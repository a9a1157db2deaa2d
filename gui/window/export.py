"""Saving what is on screen as PNG, SVG or PDF figures.

A *target* is either a pyqtgraph graphics item (a ``PlotItem`` or ``GraphicsLayout``,
as returned by ``FeatureMapPanel.export_target()``) or its ``GraphicsScene`` -- exported
with pyqtgraph's exporters, so images stay crisp -- or any ``QWidget``, which is
rendered by Qt as it is drawn on screen (toolbars and labels included).

Every file is written atomically (:func:`engine.files.writers.atomic_write`): a temporary
file in the target folder is moved over the target only once it is complete.  Problems
the user can fix raise :class:`engine.errors.UnitscopeError` with one line naming the
file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

from engine.errors import UnitscopeError
from engine.files.atomic import atomic_write

log = logging.getLogger(__name__)

__all__ = ["export_png", "export_svg", "export_pdf"]

Target = Union[QtWidgets.QGraphicsItem, QtWidgets.QGraphicsScene, QtWidgets.QWidget]

_SCREEN_DPI = 96  # a figure's "pixels" are 1/96 inch in PDF and SVG, as on most screens
_CRISP_IMAGES = b"\n<style>image { image-rendering: crisp-edges; image-rendering: pixelated; }</style>"


def _check(path: str | Path, suffix: str, kind: str) -> Path:
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise UnitscopeError(f"Cannot save '{path.name}' as {kind}: the file name must end in {suffix}.")
    return path


def _check_width(path: Path, width_px) -> int:
    if width_px is None or int(width_px) < 1:
        raise UnitscopeError(f"Cannot save '{path.name}': the width must be at least 1 pixel, "
                             f"not {width_px}.")
    return int(width_px)


def _graphics(target: Target, path: Path):
    """The item or scene to export, or None when ``target`` is a plain widget."""
    if isinstance(target, QtWidgets.QWidget):
        return None
    if isinstance(target, QtWidgets.QGraphicsItem) and target.scene() is None:
        raise UnitscopeError(f"Cannot save '{path.name}': there is nothing on screen to export.")
    if not isinstance(target, (QtWidgets.QGraphicsItem, QtWidgets.QGraphicsScene)):
        raise TypeError(f"cannot export a {type(target).__name__}; give a graphics item or a widget")
    return target


def _source_rect(item) -> QtCore.QRectF:
    if isinstance(item, QtWidgets.QGraphicsScene):
        return item.sceneRect()  # a pyqtgraph view keeps this at what it shows
    return item.sceneBoundingRect()


def _render(target: Target, item, painter: QtGui.QPainter, size: QtCore.QSizeF) -> None:
    """Draw ``target`` scaled to fill ``size`` (device units of ``painter``)."""
    if item is not None:
        scene = item if isinstance(item, QtWidgets.QGraphicsScene) else item.scene()
        scene.render(painter, QtCore.QRectF(QtCore.QPointF(0, 0), size), _source_rect(item))
        return
    painter.scale(size.width() / max(target.width(), 1), size.height() / max(target.height(), 1))
    target.render(painter, QtCore.QPoint(0, 0), QtGui.QRegion(),
                  QtWidgets.QWidget.RenderFlag.DrawChildren | QtWidgets.QWidget.RenderFlag.DrawWindowBackground)


def _save_qimage(image: QtGui.QImage, tmp: Path) -> None:
    if not image.save(str(tmp), "PNG"):
        raise OSError("the image could not be encoded")


def export_png(target: Target, path: str | Path, width_px: int) -> Path:
    """Save ``target`` as a PNG image exactly ``width_px`` pixels wide.

    Parameters
    ----------
    target : graphics item, GraphicsScene or QWidget
        What to save (see the module docstring).
    path : str or Path
        A ``.png`` file; replaced atomically if it exists.
    width_px : int
        Width of the image; the height keeps the target's aspect ratio.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UnitscopeError
        Wrong extension, bad width, missing or read-only folder, failed write.
    """
    path = _check(path, ".png", "PNG")
    width = _check_width(path, width_px)
    item = _graphics(target, path)
    if item is not None:
        try:
            exporter = ImageExporter(item)
            exporter.parameters()["width"] = width  # the height follows the aspect ratio
            image = exporter.export(toBytes=True)
        except Exception as exc:  # e.g. a height that rounds to 0 pixels
            raise UnitscopeError(f"Could not save '{path.name}': {exc}.") from exc
    else:
        height = max(1, round(width * target.height() / max(target.width(), 1)))
        image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32)
        image.fill(target.palette().window().color())
        painter = QtGui.QPainter(image)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
        try:
            _render(target, None, painter, QtCore.QSizeF(width, height))
        finally:
            painter.end()
    atomic_write(path, lambda tmp: _save_qimage(image, tmp))
    log.info("saved %s (%dx%d px)", path, image.width(), image.height())
    return path


def _qt_svg(target: Target, item, title: str) -> bytes:
    """SVG 1.1 of ``target`` drawn by Qt's generator, with images drawn pixel-exact."""
    size = (_source_rect(item).size() if item is not None else QtCore.QSizeF(target.size())).toSize()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    generator = QtSvg.QSvgGenerator(QtSvg.QSvgGenerator.SvgVersion.Svg11)  # 1.1 can clip
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), size))
    generator.setResolution(_SCREEN_DPI)
    generator.setTitle(title)
    painter = QtGui.QPainter(generator)
    try:
        _render(target, item, painter, QtCore.QSizeF(size))
    finally:
        painter.end()
    svg = bytes(buffer.data())
    head = svg.find(b">", svg.find(b"<svg")) + 1
    return svg[:head] + _CRISP_IMAGES + svg[head:]


def export_svg(target: Target, path: str | Path) -> Path:
    """Save ``target`` as SVG; images inside stay pixel-exact (embedded PNG).

    Graphics items go through pyqtgraph's ``SVGExporter``.  pyqtgraph 0.14.0 cannot
    parse the closed paths (``... Z``) that Qt 6's SVG generator writes for every
    ``ViewBox`` (pyqtgraph issue #3495); then, and for widgets, the figure is drawn by
    Qt's ``QSvgGenerator`` (SVG 1.1) instead.  Raises :class:`UnitscopeError` as
    :func:`export_png` does.
    """
    path = _check(path, ".svg", "SVG")
    item = _graphics(target, path)
    data = None
    if item is not None:
        try:
            data = SVGExporter(item).export(toBytes=True)
        except ValueError as exc:  # pyqtgraph#3495
            log.debug("pyqtgraph's SVG exporter failed (%s); using Qt's SVG generator", exc)
    if data is None:
        data = _qt_svg(target, item, path.stem)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    log.info("saved %s", path)
    return path


def export_pdf(target: Target, path: str | Path, width_px: int | None = None) -> Path:
    """Save ``target`` as a one-page vector PDF the size of the figure.

    Parameters
    ----------
    target : graphics item, GraphicsScene or QWidget
        What to save.
    path : str or Path
        A ``.pdf`` file; replaced atomically if it exists.
    width_px : int, optional
        Page width in screen pixels (1/96 inch); by default the target's width on
        screen.  The height keeps the aspect ratio.

    Raises
    ------
    UnitscopeError
        As :func:`export_png`.
    """
    path = _check(path, ".pdf", "PDF")
    item = _graphics(target, path)
    source = _source_rect(item).size() if item is not None else QtCore.QSizeF(target.size())
    if source.width() <= 0 or source.height() <= 0:
        raise UnitscopeError(f"Cannot save '{path.name}': the figure has no size yet.")
    width = source.width() if width_px is None else _check_width(path, width_px)
    points = 72.0 / _SCREEN_DPI
    page = QtCore.QSizeF(width * points, width * source.height() / source.width() * points)

    def write(tmp: Path) -> None:
        writer = QtGui.QPdfWriter(str(tmp))
        writer.setTitle(path.stem)
        writer.setCreator("Unitscope")
        writer.setPageSize(QtGui.QPageSize(page, QtGui.QPageSize.Unit.Point, "",
                                           QtGui.QPageSize.SizeMatchPolicy.ExactMatch))
        writer.setPageMargins(QtCore.QMarginsF(0, 0, 0, 0))
        painter = QtGui.QPainter(writer)
        if not painter.isActive():
            raise OSError("the PDF could not be started")
        try:
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
            _render(target, item, painter, QtCore.QSizeF(writer.width(), writer.height()))
        finally:
            painter.end()

    atomic_write(path, write)
    log.info("saved %s", path)
    return path

