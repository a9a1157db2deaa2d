"""The window's start options are checked before any window opens (one line, exit status 2)."""

import pytest


@pytest.mark.parametrize("argv, message", [
    (["--image", "{tmp}/missing.png"], "argument --image: '{tmp}/missing.png' does not exist"),
    (["--image", "{tmp}"], "argument --image: '{tmp}' is a folder, not an image file"),
    (["--image", "{tmp}/notes.png"], "argument --image: '{tmp}/notes.png' is not an image that can be read"),
    (["--device", "meta"], "argument --device: 'meta' is not a device unitscope can run on"),
    (["--layer", " "], "argument --layer: a layer name cannot be empty"),
])
def test_the_window_refuses_bad_start_options_before_it_opens(tmp_path, capsys, argv, message):
    from gui.main import main as unitscope

    (tmp_path / "notes.png").write_text("not an image")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with pytest.raises(SystemExit) as exc:
        unitscope([*argv, "--screenshot", str(tmp_path / "shot.png")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("unitscope: error: " + message.format(tmp=tmp_path))
    assert not (tmp_path / "shot.png").exists()
