"""The input strip: bundled photographs, procedural stimuli and the user's own images.

Thumbnails are decoded by Qt at thumbnail size (a few at a time, so a folder of
thousands never freezes the window); the preview on the right shows the selected
input after the model's own preprocessing, as the engine made it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import resources
from engine.errors import UnitscopeError
from engine.session.values import Stimulus
from engine.stimuli.images import IMAGE_SUFFIXES, find_images
from engine.stimuli.procedural import PROCEDURAL

log = logging.getLogger(__name__)

THUMB = 72
STIMULUS_ROLE = Qt.ItemDataRole.UserRole + 1


def array_to_qimage(rgb: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _thumbnail(path: str) -> QPixmap:
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation, as engine.stimuli.images does
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > 2 * THUMB:
        reader.setScaledSize(size.scaled(2 * THUMB, 2 * THUMB, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return QPixmap.fromImage(image) if not image.isNull() else QPixmap()


class InputStrip(QWidget):
    """A row of input thumbnails with "Open images…" and a preprocessed preview.

    Signals
    -------
    stimulus_selected(object)
        The user chose an input (a :class:`engine.session.values.Stimulus`).
    problem(str)
        Something the user gave could not be used (a readable line).
    live_requested(str)
        Stream live input: a video file's path, ``"camera"``, or ``""`` to stop.
    """

    stimulus_selected = Signal(object)
    problem = Signal(str)
    live_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 24, THUMB + 24))
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setFixedHeight(THUMB + 48)
        self.list.setToolTip("Inputs: click one (or use the arrow keys) to record it; "
                             "drop image files or folders here to add them")
        self.list.currentItemChanged.connect(self._current_changed)

        self.open_button = QToolButton(self, text="Open images…")
        self.open_button.setToolTip("Add image files to the strip (folders: drop them here "
                                    "or use File ▸ Open image folder…)")
        self.open_button.clicked.connect(self.open_images_dialog)
        self.live_button = QToolButton(self, text="Live video…")
        self.live_button.setToolTip("Stream a video file or a camera through the selected layer "
                                    "(the maps update as fast as the engine keeps up)")
        self.live_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        live_menu = QMenu(self.live_button)
        live_menu.addAction("Video file…", self._ask_video_file)
        live_menu.addAction("Camera", lambda: self.live_requested.emit("camera"))
        self.stop_live_action = live_menu.addAction("Stop live input", lambda: self.live_requested.emit(""))
        self.stop_live_action.setEnabled(False)
        self.live_button.setMenu(live_menu)
        self.preview = QLabel(self)
        self.preview.setFixedSize(THUMB + 24, THUMB + 24)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setToolTip("The selected input after the model's preprocessing "
                                "(resize, crop), as the network sees it")
        self.preview_caption = QLabel("model's view", self)
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        side = QVBoxLayout()
        side.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.preview_caption)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        buttons = QVBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.live_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addLayout(side)

        self._pending_thumbs: list[QListWidgetItem] = []
        self._thumb_timer = QTimer(self, interval=0)
        self._thumb_timer.timeout.connect(self._load_some_thumbnails)
        for path in resources.sample_images():
            self._add_image(path)
        for name, make in PROCEDURAL.items():
            self._add_procedural(name, make)

    # --- public ------------------------------------------------------------------------

    def stimuli(self) -> list[Stimulus]:
        """Every input in the strip, in order."""
        return [self.list.item(i).data(STIMULUS_ROLE) for i in range(self.list.count())]

    def current(self) -> Stimulus | None:
        """The selected input, or None."""
        item = self.list.currentItem()
        return item.data(STIMULUS_ROLE) if item is not None else None

    def select(self, stimulus: Stimulus) -> bool:
        """Select ``stimulus`` (an image is added first if it is not in the strip)."""
        if stimulus.kind == "image":
            stimulus = Stimulus("image", str(Path(stimulus.value).resolve()))
        for i in range(self.list.count()):
            if self.list.item(i).data(STIMULUS_ROLE) == stimulus:
                self.list.setCurrentRow(i)
                return True
        if stimulus.kind == "image" and Path(stimulus.value).is_file():
            self.list.setCurrentItem(self._add_image(Path(stimulus.value)))
            return True
        return False

    def _ask_video_file(self) -> None:
        from gui.widgets.live_input import VIDEO_FILTERS

        path, _ = QFileDialog.getOpenFileName(self, "Stream a video file", "", VIDEO_FILTERS)
        if path:
            self.live_requested.emit(path)

    def set_live(self, running: bool) -> None:
        """Say whether live input is streaming (the menu offers to stop it)."""
        self.stop_live_action.setEnabled(running)
        self.live_button.setText("Live ●" if running else "Live video…")

    def show_stimulus(self, stimulus: Stimulus) -> None:
        """Select ``stimulus`` (the one whose maps are shown) without asking to record it."""
        for i in range(self.list.count()):
            if self.list.item(i).data(STIMULUS_ROLE) == stimulus:
                self.list.blockSignals(True)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
                return

    def add_paths(self, paths) -> list[Stimulus]:
        """Add image files and folders (walked recursively); select the first new one."""
        try:
            files = find_images(paths)
        except UnitscopeError as exc:
            self.problem.emit(str(exc))
            return []
        if not files:
            self.problem.emit("No image files found in " + ", ".join(str(p) for p in paths) + ".")
            return []
        known = set(self.stimuli())
        added = [self._add_image(path) for path in files
                 if Stimulus("image", str(path.resolve())) not in known]
        if added:
            self.list.setCurrentItem(added[0])
            self.list.scrollToItem(added[0])
        return [item.data(STIMULUS_ROLE) for item in added]

    def set_preview(self, image: np.ndarray | None, size_text: str = "") -> None:
        """Show the preprocessed input (``(H, W, 3)`` uint8), or nothing."""
        if image is None:
            self.preview.clear()
            return
        pixmap = QPixmap.fromImage(array_to_qimage(image))
        ratio = self.devicePixelRatioF()
        scaled = pixmap.scaled(self.preview.size() * ratio, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(ratio)
        self.preview.setPixmap(scaled)
        self.preview_caption.setText(f"model's view {size_text}".strip())

    def open_images_dialog(self) -> None:
        """Ask for image files and add them."""
        pattern = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(self, "Open images", "", f"Images ({pattern});;All files (*)")
        if files:
            self.add_paths(files)

    def open_folder_dialog(self) -> None:
        """Ask for a folder and add the images in it."""
        folder = QFileDialog.getExistingDirectory(self, "Open image folder")
        if folder:
            self.add_paths([folder])

    # --- drag and drop -----------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # --- internals ---------------------------------------------------------------------

    def _add_image(self, path: Path) -> QListWidgetItem:
        path = path.resolve()  # one entry per file, however its path was written
        item = QListWidgetItem(path.name)
        item.setData(STIMULUS_ROLE, Stimulus("image", str(path)))
        item.setToolTip(str(path))
        item.setSizeHint(QSize(THUMB + 24, THUMB + 24))
        self.list.addItem(item)
        self._pending_thumbs.append(item)
        self._thumb_timer.start()
        return item

    def _add_procedural(self, name: str, make) -> None:
        rgb = (np.clip(make(THUMB), 0, 1) * 255 + 0.5).astype(np.uint8)
        item = QListWidgetItem(QIcon(QPixmap.fromImage(array_to_qimage(rgb))), name)
        item.setData(STIMULUS_ROLE, Stimulus("procedural", name))
        item.setToolTip(f"Procedural stimulus: {name}, made at the model's input size")
        self.list.addItem(item)

    def _load_some_thumbnails(self) -> None:
        for _ in range(8):
            if not self._pending_thumbs:
                self._thumb_timer.stop()
                return
            item = self._pending_thumbs.pop(0)
            item.setIcon(QIcon(_thumbnail(item.data(STIMULUS_ROLE).value)))

    def _current_changed(self, current: QListWidgetItem | None, previous) -> None:
        if current is not None:
            self.stimulus_selected.emit(current.data(STIMULUS_ROLE))
