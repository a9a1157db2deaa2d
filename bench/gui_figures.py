"""Figures measured through the real window: click to painted frame (1), mosaic (3),
responsiveness (4) and start-up (7)."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
import threading
import time

import torch

from bench.timing import Figure, Sample, repeat

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
BETWEEN_CLICKS_MS = 300


def _wait(signal, predicate=lambda *a: True, timeout_s: float = 120.0):
    """Run the Qt event loop until ``signal`` fires with arguments that satisfy ``predicate``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, hit = QEventLoop(), []

    def slot(*args):
        if predicate(*args):
            hit.append(args)
            loop.quit()

    signal.connect(slot)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(slot)
    if not hit:
        raise TimeoutError(f"no {signal} within {timeout_s} s")
    return hit[0]


def _fresh_settings() -> str:
    """Point QSettings at an empty folder: the bench neither reads nor changes the user's."""
    from PySide6.QtCore import QSettings

    folder = tempfile.mkdtemp(prefix="unitscope-bench-settings-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
    return folder


def _idle(ms: int) -> None:
    """Let the window run its event loop for ``ms`` milliseconds, as between a user's clicks."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def click_to_frame(repeats: int, device: str = "cpu") -> Figure:
    """Figure 1: time from asking the window for a layer to its maps painted.

    After each click the floor process (:mod:`bench.floor`) times the same layer once, so
    the click and its reference alternate through the run and see the same machine. Between
    clicks the window idles for :data:`BETWEEN_CLICKS_MS`, as it would between a user's.
    """
    from bench.floor import Floor
    from gui.app.app import make_application
    from gui.window.main_window import MainWindow, StartupChoices

    fig = Figure("1", f"Click to first painted frame, ResNet-101, one 224 px image ({device.upper()})")
    _fresh_settings()
    make_application()
    floor = Floor(device)
    window = MainWindow(StartupChoices(model="resnet101", layer="fc", device=device))
    window.resize(1500, 950)
    window.show()
    _wait(window.layer_shown, lambda layer: layer == "fc")  # each click below changes layer
    clicks: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    floors: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    full, details = [], []
    for _ in range(repeats + 1):  # the first round warms up each layer's path
        for layer in LAYERS:
            _idle(BETWEEN_CLICKS_MS // 2)
            t0 = time.perf_counter()
            window.record_layer(layer)
            _wait(window.feature_maps_painted, lambda name, ms, want=layer: name == want)
            window.panel.repaint()
            clicks[layer].append(time.perf_counter() - t0)
            cpu0 = time.thread_time()
            _idle(BETWEEN_CLICKS_MS // 2)  # the unit view and the input preview fill in
            details.append(time.thread_time() - cpu0)
            floors[layer].append(floor.time(layer))
        full.append(floor.time("full"))
    window.close()
    floor.close()
    if device != "cpu":
        fig.notes.append(f"Recordings run on `{device}`, and the engine thread makes the mosaics there "
                         "(the values themselves are copied to the host once, for the unit view and hover read-out).")
    for layer in LAYERS:
        click, reference = Sample(clicks[layer][1:]), Sample(floors[layer][1:])
        target = 1.2 * reference.median + 0.040
        fig.add(f"`{layer}` click → painted", click.ms(), f"truncated forward {reference.ms()}",
                click.median <= target)
    fig.notes.append(f"Target: ≤ 1.2 × truncated forward + 40 ms. A naive full forward pass costs "
                     f"{Sample(full[1:]).ms()} for every layer; early exit is what makes conv1 and layer1 "
                     "immediate.")
    fig.notes.append("The truncated forward runs in a process of its own (`bench/floor.py`, the model's "
                     "children called in order, torch's default threads), one timing after each click.")
    fig.notes.append(f"The window idles {BETWEEN_CLICKS_MS} ms between clicks. After the feature maps are "
                     "painted it fills the unit view, the input preview and the timings: "
                     f"{Sample(details[len(LAYERS):]).ms()} of GUI-thread CPU per click, not counted above.")
    return fig


def mosaic(repeats: int) -> Figure:
    """Figure 3: build the mosaics and paint one, for three typical output shapes.

    The build is the engine thread's share of a recording (:func:`engine.recording.mosaic.display_values`:
    the values on the host and four uint8 mosaics, per channel and shared, plain and
    zero-centred); the paint is the window's.  Both run here in one thread.
    """
    from gui.app.app import make_application
    from gui.widgets.feature_map_panel import FeatureMapPanel

    fig = Figure("3", "Mosaic: build (engine) + paint (window) all channels of one output (CPU, offscreen)")
    make_application()
    panel = FeatureMapPanel()
    panel.resize(900, 900)
    panel.show()
    generator = torch.Generator().manual_seed(0)
    for shape in [(2048, 7, 7), (256, 56, 56), (64, 112, 112)]:
        output = torch.randn(*shape, generator=generator).relu_()

        def show():
            panel.show_output(output, "bench")
            panel.repaint()

        sample = repeat(show, repeats * 10, warmup=3)
        fig.add("×".join(map(str, shape)), sample.ms(), "one frame at 60 Hz = 16.7 ms", sample.median <= 0.016)
    panel.close()
    fig.notes.append("The build is the engine thread's share of a recording: the values copied to the host "
                     "and all four mosaics the panel offers (per channel or shared, plain or zero-centred), "
                     "so that switching scale or colormap needs no torch in the window. Before the "
                     "session/job redesign the window thread built only the mosaic on show, single-threaded.")
    return fig


def responsiveness(n_images: int = 64) -> Figure:
    """Figure 4: the GUI thread's longest heartbeat gap while layer4 is recorded."""
    from PySide6.QtCore import QElapsedTimer, QThread, QTimer

    from engine.recording.recorder import Recorder
    from gui.app.app import make_application

    fig = Figure("4", f"Responsiveness: longest gap between 10 ms GUI ticks while ResNet-101 layer4 is "
                      f"recorded for {n_images} images (CPU)")
    app = make_application()
    import torchvision

    model = torchvision.models.resnet101().eval()
    images = torch.randn(n_images, 3, 224, 224)

    class Worker(QThread):
        def run(self):
            with torch.inference_mode():
                for _ in Recorder(model, "cpu").record(["layer4"], images.split(8)):
                    pass

    gaps, clock, last = [], QElapsedTimer(), [0]

    def tick():
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    worker = Worker()
    clock.start()
    timer.start()
    t0 = time.perf_counter()
    worker.start()
    while not worker.isFinished():
        app.processEvents()
        time.sleep(0.001)
    seconds = time.perf_counter() - t0
    worker.wait()
    timer.stop()
    longest = max(gaps[1:]) if len(gaps) > 1 else float("nan")
    fig.add("longest gap between ticks", f"{longest:.0f} ms over {len(gaps)} ticks",
            f"recording took {seconds:.1f} s; tick period 10 ms", longest <= 50)
    fig.notes.append("Target: ≤ 50 ms. The recording runs in a QThread; torch releases the GIL inside its "
                     f"kernels, so the GUI thread keeps ticking. Python threads: {threading.active_count()}.")
    return fig


def _torch_import_s() -> float:
    """Seconds from launching Python to torch and torchvision imported (the floor of a first map)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.perf_counter() - t0


STARTUP_MARKS = {"window shown": "shown", "engine ready": "ready", "gui.engine_link.worker: opened": "opened",
                 "first feature map painted": "painted"}


def _startup_marks(lines, t0: float) -> dict[str, float]:
    """Seconds since ``t0`` at which each start-up log line (:data:`STARTUP_MARKS`) was read."""
    marks: dict[str, float] = {}
    for line in lines:
        for text, key in STARTUP_MARKS.items():
            if text in line and key not in marks:
                marks[key] = time.perf_counter() - t0
    return marks


def startup(repeats: int) -> Figure:
    """Figure 7: launching `unitscope` until the window is shown, and until maps are painted.

    Targets: the window shown within 0.9 s, and the first feature map within torch's own
    import time + 0.3 s, measured in the same run (each launch next to one `import torch`).
    """
    fig = Figure("7", "Start-up: `unitscope` (default model resnet18) to window shown and to first maps painted")
    shown, painted, imports, ready, opened = [], [], [], [], []
    # A settings folder of its own: the user's saved layout is neither read nor changed.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=tempfile.mkdtemp(prefix="unitscope-bench-"))
    # Launch as an installed Unitscope does, with its modules' bytecode compiled (pip compiles it; a
    # checkout writes it at its first launch), also where PYTHONDONTWRITEBYTECODE is set.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in ("gui", "engine", "resources"):
        compileall.compile_dir(os.path.join(root, package), quiet=1)
    for _ in range(repeats):
        imports.append(_torch_import_s())
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "gui", "--device", "cpu", "--screenshot", os.devnull + ".png"],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        marks = _startup_marks(proc.stderr, t0)
        proc.wait()
        for values, key in ((shown, "shown"), (painted, "painted"), (ready, "ready"), (opened, "opened")):
            values.append(marks.get(key, float("nan")))
    s, p, t = Sample(shown), Sample(painted), Sample(imports)
    fig.add("launch → window shown", s.s(), "target ≤ 0.9 s", s.median <= 0.9)
    fig.add("launch → first feature map painted", p.s(), f"import torch {t.s()}; target ≤ that + 0.3 s",
            p.median <= t.median + 0.3)
    fig.add("first feature map painted − import torch, each launch with its own import",
            Sample([b - a for a, b in zip(imports, painted)]).s(), "less noisy than the difference of the medians",
            None)
    r = Sample(ready)
    after = Sample([b - a for a, b in zip(ready, painted)])
    fig.add("launch → torch loaded in the engine thread", r.s(),
            f"of which before the window was shown {s.s()}", None)
    fig.add("torch loaded → first feature map painted", after.s(),
            f"model opened (anatomy measured) after {Sample([b - a for a, b in zip(ready, opened)]).s()}",
            after.median <= 1.0)
    fig.notes.append("Measured from outside the process, from the log lines the app writes on stderr "
                     "(window shown, engine ready, model opened, first feature map painted); "
                     "`import torch, torchvision` is timed in a fresh interpreter before each launch. "
                     "torch starts loading once the window is shown, so the whole launch exceeds the "
                     "import by the time to the window plus the part after torch has loaded. "
                     "The window builds only what the first maps need (panel, unit view, the analyses' "
                     "docks); the analysis views are built after the first paint, one per turn of the "
                     "event loop. PySide is kept from reading the source of every non-Qt module "
                     "imported after it (torch's), and the app's bytecode is compiled before the "
                     "launches, as an installation has it.")
    return fig
