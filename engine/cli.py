"""The command line over the engine: ``unitscope anatomy``, ``unitscope record``, ...

Every command turns a :class:`UnitscopeError` into one line on stderr and exit status 2;
no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
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
    "engine.commands.figure",
    "engine.commands.methods",
    "engine.commands.submit",
    "engine.commands.status",
    "engine.commands.export",
    "engine.commands.visualize",
    "engine.commands.properties",
    "engine.commands.predict",
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


def device_name(text: str) -> str:
    """An argparse type: a device the engine can run on (auto, cpu, cuda, cuda:N, mps).

    Whether that device exists on this machine is checked when the model is opened
    (:func:`engine.models.device.resolve_device`); ``meta`` and other torch devices that
    hold no data are refused here (:func:`engine.session.checks.device`, as in job files).
    """
    from engine.session import checks

    try:
        return checks.device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def layer_name(text: str) -> str:
    """An argparse type: a layer name that is not empty (``NAME`` or ``NAME#k``)."""
    from engine.session import checks

    try:
        return checks.layer(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def window_ms(text: str) -> tuple[float, float]:
    """An argparse type: ``A:B``, spikes counted from A to B ms after each onset (NWB)."""
    from engine.neural.readers import parse_window

    try:
        return parse_window(text)
    except UnitscopeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seed_number(text: str) -> int:
    """An argparse type: a random seed, a whole number from 0 to 2**63 - 1 (as in job files)."""
    from engine.session import checks

    value = _whole_number(text)
    if not 0 <= value <= checks.SEED_MOST:
        raise argparse.ArgumentTypeError(f"must be from 0 to {checks.SEED_MOST}, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that opens a model shares."""
    parser.add_argument("model", help="torchvision model name, timm:NAME (the timm extra), TorchScript file, "
                        "or FILE.py:FACTORY")
    parser.add_argument("--weights", metavar="FILE", help="state_dict file (.pth/.pt/.safetensors) to load")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow loading a whole pickled model (runs code from the file)")
    parser.add_argument("--seed", type=seed_number, default=0,
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


def run_with_progress(session, job, desc: str, unit: str, snapshots=None):
    """Run ``job`` on ``session`` with a progress bar on stderr; return its last snapshot.

    ``snapshots``: the run's snapshots when the caller wraps them (default ``session.run(job)``).

    Inputs a snapshot lists as ``skipped`` (``(path, message)`` pairs or lines) get one
    ``unitscope: skipped:`` line each, as they are met.
    """
    from tqdm import tqdm

    result, reported = None, 0
    with tqdm(total=None, unit=unit, desc=desc, file=sys.stderr, disable=None) as bar:
        for result in session.run(job) if snapshots is None else snapshots:
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of command ``only`` alone (its module is the only one
    imported: ``unitscope status`` or ``submit`` then never loads torch)."""
    import importlib

    parser = argparse.ArgumentParser(prog="unitscope", description="Look inside CNNs: anatomy, recording, "
                                     "in-silico electrophysiology.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only is not None and name.rsplit(".", 1)[-1] != only:
            continue
        module = importlib.import_module(name)
        known = set(sub.choices)
        module.register(sub)
        for command in set(sub.choices) - known:  # every command that writes --out gets --force
            command_parser = sub.choices[command]
            if "--out" in command_parser._option_string_actions and not getattr(module, "RESUMES_OUTPUT", False):
                command_parser.add_argument("--force", action="store_true",
                                            help="replace existing output (refused otherwise)")
                command_parser.set_defaults(existing_outputs=getattr(module, "existing_outputs",
                                                                     _existing_out))
    return parser


def _existing_out(args) -> list:
    from pathlib import Path

    return [Path(args.out)] if args.out and Path(args.out).exists() else []


def refuse_to_overwrite(args) -> None:
    """Without ``--force``, an output that exists (even a read-only one) is never replaced."""
    existing = args.existing_outputs(args) if hasattr(args, "existing_outputs") else []
    if existing and not args.force:
        names = ", ".join(f"'{path}'" for path in existing)
        raise UnitscopeError(f"{names} already exist{'s' if len(existing) == 1 else ''}; "
                             "pass --force to replace, or choose another --out.")


def command_names() -> set[str]:
    return {name.rsplit(".", 1)[-1] for name in COMMAND_MODULES} | {"weights", "doctor"}


def run(run_fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning expected failures into one readable line."""
    from engine.files.atomic import new_outputs_only

    try:
        refuse_to_overwrite(args)
        if hasattr(args, "force") and not args.force:  # a race with another process is lost, never won over it
            with new_outputs_only():
                return run_fn(args)
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


def _terminated(signum, frame):
    """SIGTERM: unwind like Ctrl-C (temporary files are removed on the way), exit 143."""
    raise SystemExit(128 + signum)


VERBOSE = ("-v", "--verbose")


def main(argv: list[str] | None = None) -> int:
    """Entry point for the engine's commands (``python -m engine``).

    ``-v``/``--verbose`` may come anywhere before ``--``; Ctrl-C (even while torch is
    imported) ends with one line and exit status 130, SIGTERM with 143.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    verbose = any(arg in VERBOSE for arg in argv[:cut])
    argv = [arg for arg in argv[:cut] if arg not in VERBOSE] + argv[cut:]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # Library warnings (numpy, torch) are not the user's business unless they ask with -v.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
        # Ctrl-C stops every command, also one started in the background of a script, whose SIGINT
        # the shell set to be ignored (Python then leaves it ignored).
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    else:
        previous = previous_int = None
    try:
        first = next((arg for arg in argv if not arg.startswith("-")), None)
        modules = {name.rsplit(".", 1)[-1] for name in COMMAND_MODULES}
        parser = build_parser(first if first in modules else None)
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 1
        return run(args.run, args)
    except KeyboardInterrupt:
        print("unitscope: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code == 128 + signal.SIGTERM:
            print("unitscope: terminated", file=sys.stderr)
        raise
    finally:
        logging.captureWarnings(False)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")
