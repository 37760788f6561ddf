"""Helpers every CLI module shares: value checks, classes by name, the generation flags."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import signal
import threading
import typing
from pathlib import Path

from cgn_art import settings_checks
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS, validate_size, validate_truncation

MAX_GRID_SIDE = 16384  # pixels; a 10 x 10 grid of 1024 px tiles is about as much as is useful


# Value checks (argparse turns ArgumentTypeError into "argument --flag: <message>") ------------

def whole(minimum: int):
    """A flag's type: a whole number >= ``minimum``, read as every setting reads one."""
    return library_check(functools.partial(settings_checks.whole, "the number", low=minimum))


def library_check(validate):
    """Use one of the library's validators as an argparse type, so limits live in one place."""
    def parse(text: str):
        try:
            return validate(text)
        except CgnArtError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def png_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise CgnArtError(f"{text}: cgn-art writes PNG files (with their settings inside); "
                          "give an output name ending in .png")
    return output_path(path, ".png")


def output_path(text, suffix: str, what: str = "output") -> Path:
    """The output file, checked before any work: not a folder, in a folder that can be written."""
    from cgn_art.video import check_output

    return check_output(text, suffix, what)


# Signals ---------------------------------------------------------------------------------------

class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so the same clean-up runs (partial files, ffmpeg)."""


def _raise_terminated(signum, frame):
    raise Terminated(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals():
    """Within the block, SIGTERM and SIGHUP stop the work like Ctrl-C (SIGINT) does: the exception
    unwinds through the writers, which stop ffmpeg and remove their partial files."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _raise_terminated)
    # A shell starts background jobs with SIGINT ignored, and Python then never turns it into
    # KeyboardInterrupt: Ctrl-C (or kill -INT) must stop a render however it was started.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def stops_on_signals(command):
    """Decorator for a command's run(args): see stop_on_signals."""
    @functools.wraps(command)
    def run(args):
        with stop_on_signals():
            return command(args)
    return run


# Classes by index or by name ------------------------------------------------------------------

def resolve_class(model, mechanism: str, text) -> int:
    """A class given as a name (case-insensitive, exact) or an index, checked against the model."""
    from cgn_art.mixing import class_index

    return class_index(model, mechanism, text)


def resolve_classes(model, mechanism: str, text: str) -> list[int]:
    """'all' or a comma-separated list of classes."""
    if text.strip().lower() == "all":
        return list(range(model.num_classes(mechanism)))
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise CgnArtError(f"no {mechanism} classes given: list them with commas, or say 'all'")
    return [resolve_class(model, mechanism, item) for item in items]


def load_model_from(args):
    from cgn_art.mechanisms.weights import load_model

    return load_model(args.model, device=args.device)


def seeds_from(args) -> dict:
    return {"seed": args.seed, "shape_seed": args.shape_seed, "texture_seed": args.texture_seed,
            "background_seed": args.background_seed}


def add_generation_flags(p: argparse.ArgumentParser, output: str) -> None:
    from cgn_art.mechanisms.weights import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="a shipped model's name (see 'cgn-art models') or a model folder (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed for all three mechanisms (default: 0)")
    for m in MECHANISMS:
        p.add_argument(f"--{m}-seed", type=int, default=None, metavar="N", help=f"{m} noise seed (default: --seed)")
    p.add_argument("--truncation", type=library_check(validate_truncation), default=1.0,
                   help="noise truncation in (0, 1]; lower is more typical, less varied (default: 1)")
    p.add_argument("--size", type=library_check(validate_size), default=None,
                   help="output side in pixels, up to 4096 (default: the model's native size)")
    p.add_argument("-o", "--output", default=output, help="PNG to write (default: %(default)s)")
    p.add_argument("--show", action="store_true", help="open the image in the system viewer")


# Resumable training runs ---------------------------------------------------------------------

def add_run_flags(p: argparse.ArgumentParser, output: str, resume: str, overwrite: str,
                  metavar: str | None = None) -> None:
    """A training command's run folder: ``-o/--output`` (required), ``--resume`` and ``--overwrite``."""
    p.add_argument("-o", "--output", required=True, metavar=metavar, help=output)
    p.add_argument("--resume", action="store_true", help=resume)
    p.add_argument("--overwrite", action="store_true", help=overwrite)


def run_settings_from(args, settings_class, fixed_on_resume: tuple[str, ...]) -> tuple[dict, int]:
    """The settings a training command starts from (the ``settings_class`` flags the user gave, over the
    checkpoint's on ``--resume``) and the step it starts at: :func:`cgn_art.train.checkpoint.run_settings`."""
    from cgn_art.train.checkpoint import run_settings

    names = [f.name for f in dataclasses.fields(settings_class)]
    given = {n: tuple(v) if isinstance(v, list) else v for n in names if (v := getattr(args, n)) is not None}
    return run_settings(Path(args.output), given, args.resume, args.overwrite, fixed_on_resume)




# Settings dataclasses as flags ------------------------------------------------------------

def add_settings_flags(parser: argparse.ArgumentParser, settings_class, helps: dict[str, str] | None = None,
                       choices: dict[str, typing.Sequence] | None = None, *, names: typing.Sequence[str] | None = None,
                       as_text: bool = False, limits: dict[str, tuple] | None = None,
                       none_shown: str = "None") -> None:
    """One flag per dataclass field (``batch_size`` -> ``--batch-size``), so flags never drift from it.
    Every command that turns a settings dataclass into flags does it here.

    ``names``: only these fields, in this order (default: every field). Defaults stay None here: only
    the flags the user gave override the dataclass (or the checkpoint, or a PNG's settings). A typed
    flag reads a whole number as every setting reads one (booleans and tuples get their own form);
    ``as_text`` keeps the text for the settings' own parser, for fields that need more than the text
    to be read (a class name needs the model). ``limits`` (the settings' LIMITS) are shown in the
    help; ``none_shown`` says what a None default means.
    """
    hints = typing.get_type_hints(settings_class)
    fields = {field.name: field for field in dataclasses.fields(settings_class)}
    for name in names or fields:
        field, kind = fields[name], hints[name]
        default = field.default if field.default_factory is dataclasses.MISSING else field.default_factory()
        shown = (" ".join(map(str, default)) if isinstance(default, tuple) else none_shown if default is None
                 else "none" if default == {} else default)
        span = f", {limits[name][0]:g} to {limits[name][1]:g}" if limits and name in limits else ""
        options: dict = {"dest": name, "default": None,
                         "help": f"{(helps or {}).get(name, name.replace('_', ' '))}{span} (default: {shown})"}
        if not as_text:
            options.update(_typed(kind))
        if choices and name in choices:
            options.update(choices=choices[name])
        parser.add_argument("--" + name.replace("_", "-"), **options)


def _typed(kind) -> dict:
    """How a typed flag reads a field of type ``kind``."""
    if typing.get_origin(kind) is tuple:
        items = typing.get_args(kind)
        return {"nargs": len(items), "type": items[0], "metavar": tuple("AB"[:len(items)])}
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if kind is int:
        return {"type": whole(0), "metavar": "N"}
    if kind is float:
        return {"type": float, "metavar": "X"}
    return {"type": kind}
