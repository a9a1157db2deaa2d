"""The figure export dialog: what a journal asks for (width in mm, font, format, DPI).

It only gathers :class:`engine.figures.style.FigureOptions` and a file name; the figure is
drawn from the data by :mod:`engine.figures`, never grabbed from the screen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from engine.figures.style import FONT_FAMILIES, WIDTH_PRESETS, FigureOptions, parse_channels

FORMATS = {"PDF (vector)": ".pdf", "SVG (vector)": ".svg", "PNG": ".png", "TIFF": ".tif"}
#: How a tuning figure may report orientation (:attr:`FigureOptions.orientation`).
ORIENTATIONS = {"grating (\u03b8)": "grating", "bar (\u03b8 + 90\u00b0)": "bar"}
CUSTOM = "custom"


class FigureDialog(QDialog):
    """Ask for the figure's file and options.

    Parameters
    ----------
    what : str
        What the figure shows ("feature maps", "tuning curve", ...), for the title.
    path : str
        The file suggested; its suffix picks the format.
    mosaic : bool
        Show the mosaic's own options (scale, channels, top N).
    orientation : bool
        Show "Orientation reported" (the figure reports an orientation: a tuning curve over it).
    options : FigureOptions, optional
        The options shown at first (the last ones used).
    """

    def __init__(self, parent: QWidget | None, what: str, path: str, mosaic: bool = False,
                 options: FigureOptions | None = None, orientation: bool = False):
        super().__init__(parent)
        self.setWindowTitle(f"Figure of the {what}")
        self.setMinimumWidth(480)
        options = options or FigureOptions()
        form = QFormLayout(self)
        self.preset_combo = QComboBox(toolTip="Column widths journals ask for")
        for label, mm in WIDTH_PRESETS.items():
            self.preset_combo.addItem(label, mm)
        self.preset_combo.addItem(CUSTOM, None)
        self.width_spin = QDoubleSpinBox(minimum=20.0, maximum=500.0, decimals=1, suffix=" mm",
                                         value=options.width_mm, toolTip="Width of the figure on paper")
        row = QHBoxLayout()
        row.addWidget(self.preset_combo, 1)
        row.addWidget(self.width_spin)
        form.addRow("Width", row)
        self.font_combo = QComboBox(editable=True)
        self.font_combo.addItems(FONT_FAMILIES)
        self.font_combo.setCurrentText(options.font_family)
        self.size_spin = QDoubleSpinBox(minimum=5.0, maximum=24.0, decimals=1, singleStep=0.5, suffix=" pt",
                                        value=options.font_size)
        row = QHBoxLayout()
        row.addWidget(self.font_combo, 1)
        row.addWidget(self.size_spin)
        form.addRow("Font", row)
        self.format_combo = QComboBox()
        for label, suffix in FORMATS.items():
            self.format_combo.addItem(label, suffix)
        self.dpi_spin = QSpinBox(minimum=50, maximum=2400, singleStep=50, value=options.dpi, suffix=" dpi",
                                 toolTip="Pixels per inch of PNG and TIFF; vector files embed images as they are")
        row = QHBoxLayout()
        row.addWidget(self.format_combo, 1)
        row.addWidget(self.dpi_spin)
        form.addRow("Format", row)
        self.letters_check = QCheckBox("Panel letters (a, b, c …)", checked=options.panel_letters)
        form.addRow("", self.letters_check)
        self.angle_spin = QDoubleSpinBox(minimum=0.0, maximum=360.0, decimals=1, singleStep=1.0,
                                         value=options.deg_per_image, suffix="°", specialValueText="not given",
                                         toolTip="The visual angle the model's whole input spans (e.g. 8°); "
                                                 "scale bars then give degrees beside pixels")
        form.addRow("Input spans", self.angle_spin)
        self.scale_combo = QComboBox()
        self.scale_combo.addItem("one scale for all channels", "shared")
        self.scale_combo.addItem("each channel its own range", "channel")
        self.scale_combo.setCurrentIndex(self.scale_combo.findData(options.scale))
        self.channels_edit = QLineEdit(",".join(map(str, options.channels)), placeholderText="all, or e.g. 0-15,32")
        self.top_spin = QSpinBox(minimum=0, maximum=100000, value=options.top_n, specialValueText="off",
                                 toolTip="Draw the N channels with the largest mean response")
        self.orientation_combo = QComboBox(
            toolTip="\u03b8 is the direction along which luminance varies (0\u00b0: vertical bars); "
                    "many papers report the bars' own orientation, \u03b8 + 90\u00b0")
        for label, value in ORIENTATIONS.items():
            self.orientation_combo.addItem(label, value)
        self.orientation_combo.setCurrentIndex(self.orientation_combo.findData(options.orientation))
        if orientation:
            form.addRow("Orientation reported", self.orientation_combo)
        if mosaic:
            form.addRow("Colour scale", self.scale_combo)
            form.addRow("Channels", self.channels_edit)
            form.addRow("Top N by mean", self.top_spin)
        self.path_edit = QLineEdit(path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._cmap = options.cmap
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        self.width_spin.valueChanged.connect(self._width_changed)
        self.format_combo.currentIndexChanged.connect(self._format_chosen)
        self.path_edit.textEdited.connect(self._path_edited)
        self._width_changed(self.width_spin.value())
        self._path_edited(path)

    # --- what the user chose -------------------------------------------------------------

    def options(self) -> FigureOptions:
        """The options chosen (raises UnitscopeError for a channel list that is not one)."""
        channels = parse_channels(self.channels_edit.text()) if self.channels_edit.text().strip() else ()
        return FigureOptions(width_mm=self.width_spin.value(), font_family=self.font_combo.currentText(),
                             font_size=self.size_spin.value(), dpi=self.dpi_spin.value(),
                             panel_letters=self.letters_check.isChecked(), cmap=self._cmap,
                             scale=self.scale_combo.currentData(), channels=channels, top_n=self.top_spin.value(),
                             deg_per_image=self.angle_spin.value(),
                             orientation=self.orientation_combo.currentData())

    def path(self) -> str:
        """The file, its suffix matching the format chosen."""
        path = Path(self.path_edit.text().strip())
        suffix = self.format_combo.currentData()
        if path.suffix.lower() not in (".pdf", ".svg", ".png", ".tif", ".tiff"):
            return str(path) + suffix
        return str(path.with_suffix(suffix)) if path.suffix.lower() != suffix and not (
            suffix == ".tif" and path.suffix.lower() == ".tiff") else str(path)

    def accept(self) -> None:
        """Close with Save, unless the file exists and the user keeps it (default No)."""
        path = Path(self.path())
        if path.exists():
            answer = QMessageBox.question(
                self, "Replace file?", f"Replace '{path.name}'?\n\nIt already exists in {path.parent}.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()

    # --- internals ---------------------------------------------------------------------

    def _preset_chosen(self) -> None:
        mm = self.preset_combo.currentData()
        if mm is not None:
            self.width_spin.setValue(mm)

    def _width_changed(self, mm: float) -> None:
        index = next((i for i in range(self.preset_combo.count())
                      if self.preset_combo.itemData(i) is not None and abs(self.preset_combo.itemData(i) - mm) < 0.05),
                     self.preset_combo.count() - 1)
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(index)
        self.preset_combo.blockSignals(False)

    def _format_chosen(self) -> None:
        suffix = self.format_combo.currentData()
        self.dpi_spin.setEnabled(suffix in (".png", ".tif"))
        path = Path(self.path_edit.text().strip() or "figure")
        self.path_edit.setText(str(path.with_suffix(suffix)))

    def _path_edited(self, text: str) -> None:
        suffix = Path(text).suffix.lower().replace(".tiff", ".tif")
        index = self.format_combo.findData(suffix)
        if index >= 0 and index != self.format_combo.currentIndex():
            self.format_combo.blockSignals(True)
            self.format_combo.setCurrentIndex(index)
            self.format_combo.blockSignals(False)
        self.dpi_spin.setEnabled(self.format_combo.currentData() in (".png", ".tif"))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save figure", self.path_edit.text(),
                                              "PDF (*.pdf);;SVG (*.svg);;PNG (*.png);;TIFF (*.tif *.tiff)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)  # Save asks
        if path:
            self.path_edit.setText(path)
            self._path_edited(path)
