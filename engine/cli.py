"""The command line over the engine: ``unitscope anatomy``, ``unitscope record``, ...

Every command turns a :class:`UnitscopeError` into one line on stderr and exit status 2;
no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
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


# Argument types: argparse turns their ArgumentTypeError into "argument --OPTION: reason"
# and exit status 2, before any model is opened.

def _whole_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 up (batch size, k, phases)."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number from 0 up (worker processes; 0 decodes in this process)."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def device_name(text: str) -> str:
    """An argparse type: a device the engine can run on (auto, cpu, cuda, cuda:N, mps).

    Whether that device exists on this machine is checked when the model is opened
    (:func:`engine.models.device.resolve_device`); ``meta`` and other torch devices that
    hold no data are refused here.
    """
    name = text.strip().lower()
    if not _DEVICE.fullmatch(name):
        raise argparse.ArgumentTypeError(f"'{text}' is not a device unitscope can run on; use {DEVICES}")
    return name


def layer_name(text: str) -> str:
    """An argparse type: a layer name that is not empty (``NAME`` or ``NAME#k``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a layer name cannot be empty")
    return text


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
    parser.add_argument("--device", type=device_name, default="auto",
                        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--half", action="store_true", help="float16 autocast on a GPU")
    parser.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                        help="inputs per forward pass (at least 1; default 32)")


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=non_negative_int, default=None, metavar="N",
                        help="image decoding processes (0: decode in this process)")


def run_with_progress(session, job, desc: str, unit: str):
    """Run ``job`` on ``session`` with a progress bar on stderr; return its last snapshot.

    Inputs a snapshot lists as ``skipped`` (``(path, message)`` pairs or lines) get one
    ``unitscope: skipped:`` line each, as they are met.
    """
    from tqdm import tqdm

    result, reported = None, 0
    with tqdm(total=None, unit=unit, desc=desc, file=sys.stderr, disable=None) as bar:
        for result in session.run(job):
            skipped = getattr(result, "skipped", [])
            for entry in skipped[reported:]:
                message = entry[1] if isinstance(entry, (tuple, list)) else entry
                tqdm.write(f"unitscope: skipped: {message}", file=sys.stderr)
            reported = len(skipped)
            bar.total, bar.n = result.total, result.done
            bar.refresh()
    if result is None:
        raise UnitscopeError(f"The {job.kind} job produced no result.")
    return result


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
