"""The README's window screenshots, made by the app itself: run under Xvfb at each screen size.

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python docs/make_screenshots.py 1366x768
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python docs/make_screenshots.py 1920x1080

Each run starts from fresh settings and saves, into docs/: the default window
(``window_SIZE.png``), the Tuning view after an orientation sweep (``tuning_SIZE.png``), the
Properties view after a 16-unit battery (``properties_SIZE.png``) and ViT-B/16's tree and
card (``vit_SIZE.png``).  ResNet-18 and ViT-B/16 have random weights (seed 0).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings

DOCS = Path(__file__).resolve().parent


def _wait(app, condition, timeout_s: float = 600) -> None:
    import time

    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float = 0.5) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main(size: str) -> None:
    from gui.app.app import make_application
    from gui.window.main_window import MainWindow, StartupChoices

    app = make_application()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())

    window = MainWindow(StartupChoices(model="resnet18", device="cpu"))
    window.show()
    _wait(app, lambda: window.recording is not None and window.recording.layer == "layer1")
    _settle(app)
    window.grab().save(str(DOCS / f"window_{size}.png"))

    tuning = window.views["tuning"]
    tuning.phases_spin.setValue(4)
    done = []
    window.analysis_shown.connect(done.append)
    tuning.orientation_action.trigger()
    _wait(app, lambda: "tuning" in done)
    window.docks["tuning"].raise_()
    _settle(app)
    window.grab().save(str(DOCS / f"tuning_{size}.png"))

    properties = window.views["properties"]
    properties.units_spin.setValue(16)
    properties.run_action.trigger()
    _wait(app, lambda: "properties" in done)
    window.docks["properties"].raise_()
    _settle(app)
    window.grab().save(str(DOCS / f"properties_{size}.png"))

    window.open_model("vit_b_16", layer="encoder.layers.encoder_layer_3")
    _wait(app, lambda: window.recording is not None and window.recording.layer == "encoder.layers.encoder_layer_3")
    window.unit_dock.raise_()
    _settle(app, 1.0)
    window.grab().save(str(DOCS / f"vit_{size}.png"))
    window.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "1366x768")
