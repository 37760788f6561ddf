"""The ``cgn-art`` command: a thin front over the library, one subcommand per job.

    cgn-art data build --variant wildlife            # build and cache the datasets
    cgn-art data sheet --variant wildlife --show     # look at them
    cgn-art train --variant wildlife -o runs/w1      # train a small CGN (resumable)
    cgn-art mix --shape 3 --texture "blue coins" --background 1 -o three.png --parts
    cgn-art grid --background 4 -o grid.png          # every shape in every texture
    cgn-art models                                   # what ships, with class names
    cgn-art evaluate --model runs/w1/model           # fidelity of a model's mechanisms
    cgn-art type "HELLO WORLD" -o poster.png         # a typography poster (the Letters CGN)
    cgn-art materials add letters --texture moss moss.jpg   # your own material, from photos

Every mistake a user can make ends as one line on stderr (``cgn-art: error: ...``) and a non-zero
exit status: 2 for a malformed command line, 1 for everything else.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from cgn_art.errors import CgnArtError
from cgn_art.runtime.diagnostics import trace_native_crashes

PROG = "cgn-art"
# One module per job, each with add_commands(commands); the order is the order of --help.
COMMAND_MODULES = (
    "cgn_art.cli.generate",
    "cgn_art.cli.mixer",
    "cgn_art.cli.data",
    "cgn_art.cli.train",
    "cgn_art.cli.robustness",
    "cgn_art.cli.imagenet",
    "cgn_art.cli.stylize",
    "cgn_art.cli.dance",
    "cgn_art.cli.typeset",
    "cgn_art.cli.materials",
)


class UsageError(Exception):
    """A malformed command line (argparse's complaint, made into one line)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage block and exit
        raise UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    trace_native_crashes()
    try:
        args = build_parser().parse_args(argv)
        return args.run(args) or 0
    except UsageError as e:
        return _fail(str(e), 2)
    except CgnArtError as e:
        return _fail(str(e), 1)
    except OSError as e:  # an unwritable or missing path, a full disk
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        return _fail(f"{where}{e.strerror or e}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except SystemExit as e:  # --help and --version end here
        return e.code if isinstance(e.code, int) else 0


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


def build_parser() -> Parser:
    from cgn_art import __version__

    parser = Parser(prog=PROG, description="Counterfactual Generative Networks as art: mix the shape, "
                    "texture and background of generated images.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
