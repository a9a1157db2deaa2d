"""The command line over the engine: ``unitscope anatomy``, ``unitscope record``, ...

Every command turns a :class:`UnitscopeError` into one line on stderr and exit status 2;
no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from engine.errors import UnitscopeError

log = logging.getLogger(__name__)

# Each command module has ``register(subparsers)`` that adds its parser and sets ``run``.
COMMAND_MODULES = (
    "engine.commands.anatomy",
    "engine.commands.record",
    "engine.commands.weights",
    "engine.commands.tuning",
    "engine.commands.topk",
    "engine.commands.rdm",
    "engine.commands.rsa",
    "engine.commands.run",
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that opens a model shares."""
    parser.add_argument("model", help="torchvision model name, TorchScript file, or FILE.py:FACTORY")
    parser.add_argument("--weights", metavar="FILE", help="state_dict file (.pth/.pt/.safetensors) to load")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow loading a whole pickled model (runs code from the file)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of random weights (no pretrained file, or a factory's own "
                             "initialisation); the same seed gives bit-identical weights")


def open_session(args, memory_format: str = "contiguous"):
    """The :class:`engine.session.session.Session` a command's model arguments name.

    Every command opens its model here, so the command line and the window run the same
    set-up: seed, device, memory format, preprocessing.
    """
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    model = ModelSpec(args.model, args.weights, seed=args.seed, device=getattr(args, "device", "auto"),
                      memory_format=memory_format, trust_pickle=args.trust_pickle)
    return Session.open(model, half=getattr(args, "half", False))


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--half", action="store_true", help="float16 autocast on a GPU")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N")


def run_with_progress(session, job, desc: str, unit: str):
    """Run ``job`` on ``session`` with a progress bar on stderr; return its last snapshot."""
    from tqdm import tqdm

    with tqdm(total=None, unit=unit, desc=desc, file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        return session.result(job, progress=progress)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="unitscope", description="Look inside CNNs: anatomy, recording, "
                                     "in-silico electrophysiology.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def command_names() -> set[str]:
    return {name.rsplit(".", 1)[-1] for name in COMMAND_MODULES} | {"weights", "doctor"}


def run(run_fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning expected failures into one readable line."""
    try:
        return run_fn(args)
    except UnitscopeError as exc:
        print(f"unitscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unitscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head or less that closed early
        sys.stderr.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for the engine's commands (``python -m engine``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    return run(args.run, args)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")
