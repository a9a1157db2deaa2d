"""Help ▸ About: the version, what Unitscope is, and how to cite it."""

from __future__ import annotations

import html


def version() -> str:
    """The installed Unitscope's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("unitscope")
    except PackageNotFoundError:
        return "unknown (not installed)"


def about_text() -> str:
    """The About box: version, what Unitscope does, how to cite it (rich text)."""
    v = html.escape(version())
    return (f"<h3>Unitscope {v}</h3>"
            "<p>Listen to single units and populations inside CNNs: anatomy, feature maps and "
            "in-silico electrophysiology (tuning, receptive fields, population analyses).</p>"
            "<p><b>To cite:</b> Unitscope, version " + v + " (software). Name the model, its weights "
            "(file and SHA-256, or the random seed shown in the status bar) and the layer; files "
            "Unitscope writes carry this provenance.</p>"
            "<p>Licence: BSD-3-Clause. Built on PyTorch, torchvision, Qt (PySide6) and pyqtgraph.</p>")


def show_about(parent) -> None:
    """Help ▸ About: a box over ``parent`` with :func:`about_text`, its text selectable."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.NoIcon, "About Unitscope", about_text(), QMessageBox.StandardButton.Ok,
                      parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setObjectName("about_box")
    box.open()
