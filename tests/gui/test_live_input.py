"""Live input: a short generated video streamed through the selected layer."""

from __future__ import annotations

import av  # the "video" extra, part of the "test" extra
import numpy as np

N_FRAMES, FPS, SIZE = 12, 8, 96


def write_video(path) -> list[np.ndarray]:
    """A bar sweeping across a grey field, MPEG-4; returns the frames as decoded back."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i in range(N_FRAMES):
            image = np.full((SIZE, SIZE, 3), 90, np.uint8)
            image[:, 8 * i:8 * i + 8] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_a_video_streams_through_the_selected_layer(open_window, qtbot, reference, tmp_path):
    from PIL import Image

    from engine.recording.mosaic import make_mosaic, to_channels

    clip = tmp_path / "clip.mp4"
    frames = write_video(clip)
    assert len(frames) == N_FRAMES
    window = open_window()
    # A file that is no video: one line, and nothing streams.
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with qtbot.waitSignal(window.message_shown, timeout=20000) as problem:
        window.start_live(str(bad))
    assert problem.args[0].startswith("Could not open broken.mp4: ") and "\n" not in problem.args[0]
    assert not window.live.running
    fps = []
    window.live.fps_changed.connect(fps.append)
    with qtbot.waitSignal(window.live.stopped, timeout=60000) as stopped:
        window.start_live(str(clip))
        assert window.live.running
        qtbot.waitUntil(lambda: window.status.live_label.isVisible() and "fps" in window.status.live_label.text(),
                        timeout=20000)
    assert stopped.args == [""] and not window.live.running
    shown = window.recording
    assert shown.stimulus.kind == "frame" and shown.stimulus.value.startswith("clip.mp4 #")
    index = int(shown.stimulus.value.split("#")[1])
    assert index == N_FRAMES - 1  # the last frame is always shown: only stale frames are dropped
    assert 2 <= window.live.frames_shown <= N_FRAMES and fps and all(f > 0 for f in fps[1:])
    # The maps are the layer's output for that frame, computed here without the window.
    x = reference.preprocess.image(Image.fromarray(frames[index]))
    output = reference.recorder.record_one(["layer1"], x[None]).outputs["layer1"][0]
    _, maps = to_channels(output[None], layout="nchw")
    from gui.widgets import colormaps

    diverging = colormaps.is_diverging(window.panel.colormap_name)
    expected = make_mosaic(maps, normalize=window.panel.normalization, symmetric=diverging,
                           pad_value=128 if diverging else 0).image
    np.testing.assert_array_equal(window.panel.mosaic_image(), expected)
