"""The ``unitscope`` console script: the window by default, engine commands by name.

``unitscope`` or ``unitscope gui [options]`` opens the main window; ``unitscope anatomy``,
``unitscope record`` and the other engine commands run without Qt.
"""

from __future__ import annotations

import argparse
import sys


def _image_file(text: str) -> str:
    """An argparse type: an existing image file (checked before any window opens)."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a folder, not an image file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"'{text}' does not exist" if not path.is_symlink()
                                         else f"'{text}' is a link to nothing or a link loop")
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not an image that can be read "
                                         f"({type(exc).__name__})") from None
    return str(path.absolute())


def gui_parser() -> argparse.ArgumentParser:
    from engine.cli import device_name, layer_name, seed_number

    parser = argparse.ArgumentParser(prog="unitscope", description="Open the Unitscope window. "
                                     "Engine commands: unitscope anatomy|record|... --help")
    parser.add_argument("--model", default=None, help="model to open (default: resnet18)")
    parser.add_argument("--weights", default=None, metavar="FILE", help="state_dict file to load into the model")
    parser.add_argument("--layer", type=layer_name, default=None, help="layer to record first")
    parser.add_argument("--image", type=_image_file, default=None, metavar="FILE", help="input image to start with")
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--seed", type=seed_number, default=0,
                        help="seed of random weights (a model without a pretrained file); default 0")
    parser.add_argument("--session", default=None, metavar="FILE.unitscope.json",
                        help="open a saved session")
    parser.add_argument("--trust-code", action="store_true",
                        help="run the code a session's (or the remembered) model names (FILE.py:FACTORY or a "
                             "pickled model) without asking; only for files you trust")
    parser.add_argument("--screenshot", default=None, metavar="FILE.png",
                        help="save the window as PNG once the first feature map is painted, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "doctor":
        from gui.app.doctor import main as doctor_main

        return doctor_main(argv[1:])
    from engine.cli import VERBOSE, command_names

    first = next((arg for arg in argv if arg not in VERBOSE), None)  # unitscope -v record ...
    if first in command_names():
        from engine.cli import main as engine_main

        return engine_main(argv)
    if argv and argv[0] == "gui":
        argv = argv[1:]
    args = gui_parser().parse_args(argv)
    from gui.app.app import run_app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
