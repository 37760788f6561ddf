"""The ``cgn-art`` command: a thin front over the library, one subcommand per job.

    cgn-art data build --variant wildlife            # build and cache the datasets
    cgn-art data sheet --variant wildlife --show     # look at them
    cgn-art train --variant wildlife -o runs/w1      # train a small CGN (resumable)
    cgn-art mix --shape 3 --texture "blue coins" --background 1 -o three.png --parts
    cgn-art grid --background 4 -o grid.png          # every shape in every texture
    cgn-art models                                   # what ships, with class names
    cgn-art evaluate --model runs/w1/model           # fidelity of a model's mechanisms

Every mistake a user can make ends as one line on stderr (``cgn-art: error: ...``) and a non-zero
exit status: 2 for a malformed command line, 1 for everything else.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from pathlib import Path

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS, validate_size, validate_truncation

PROG = "cgn-art"
MAX_GRID_SIDE = 16384  # pixels; a 10 x 10 grid of 1024 px tiles is about as much as is useful


class UsageError(Exception):
    """A malformed command line (argparse's complaint, made into one line)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage block and exit
        raise UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
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


# Value checks (argparse turns ArgumentTypeError into "argument --flag: <message>") ------------

def whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: give a whole number >= {minimum}")
        return value
    return parse


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
    return path


# Classes by index or by name ------------------------------------------------------------------

def resolve_class(model, mechanism: str, text) -> int:
    """A class given as a name (case-insensitive, exact) or an index; the library range-checks indices."""
    names = model.class_names[mechanism]
    wanted = str(text).strip().casefold()
    for index, name in enumerate(names):
        if name.casefold() == wanted:
            return index
    try:
        return int(wanted)
    except ValueError:
        raise CgnArtError(f"unknown {mechanism} class {text!r}: give an index 0 to {len(names) - 1} "
                          f"or one of: {', '.join(names)}") from None


def resolve_classes(model, mechanism: str, text: str) -> list[int]:
    """'all' or a comma-separated list of classes."""
    if text.strip().lower() == "all":
        return list(range(model.num_classes(mechanism)))
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise CgnArtError(f"no {mechanism} classes given: list them with commas, or say 'all'")
    return [resolve_class(model, mechanism, item) for item in items]


def _load_model(args):
    from cgn_art.mechanisms.weights import load_model

    return load_model(args.model, device=args.device)


def _seeds(args) -> dict:
    return {"seed": args.seed, "shape_seed": args.shape_seed, "texture_seed": args.texture_seed,
            "background_seed": args.background_seed}


# data -----------------------------------------------------------------------------------------

def cmd_data_build(args) -> int:
    from cgn_art.data import mnist

    variants = mnist.VARIANTS if args.variant == "all" else (args.variant,)
    splits = ("train", "test") if args.split == "both" else (args.split,)
    for variant in variants:
        for split in splits:
            start = time.perf_counter()
            data = mnist.load(variant, split, seed=args.seed, copies=args.copies, rebuild=args.rebuild)
            print(f"{variant} {split}: {len(data)} images ({time.perf_counter() - start:.1f} s)")
    print(f"cached in {mnist.cache_dir()}")
    return 0


def cmd_data_sheet(args) -> int:
    from cgn_art.data import mnist
    from cgn_art.io import save_png

    out = png_path(args.output)
    side = max(args.rows, args.columns) * mnist.SIZE * args.scale
    if side > MAX_GRID_SIDE:
        raise CgnArtError(f"the sheet would be {side} pixels wide; lower --rows, --columns or --scale")
    data = mnist.load(args.variant, args.split, seed=args.seed)
    sheet = mnist.contact_sheet(data, rows=args.rows, columns=args.columns, scale=args.scale)
    settings = {"sheet": "dataset", "variant": args.variant, "split": args.split, "seed": args.seed,
                "rows": args.rows, "columns": args.columns, "scale": args.scale}
    print(save_png(sheet, out, settings))
    if args.show:
        sheet.show()
    return 0


# train ----------------------------------------------------------------------------------------

TRAIN_HELP = {
    "variant": "dataset variant to learn",
    "steps": "train until this step (on --resume, the new target)",
    "batch_size": "images per step",
    "seed": "seed for data, noise and initial weights",
    "device": "auto, cpu, cuda or mps",
    "copies": "texture draws per digit in the training set",
    "threads": "torch CPU threads (0: torch's default)",
}
# Changing these would make the checkpoint's weights or data not fit, so resume refuses them.
FIXED_ON_RESUME = ("variant", "width", "discriminator_width")


def add_settings_flags(parser: argparse.ArgumentParser, settings_class) -> None:
    """One flag per dataclass field (``batch_size`` -> ``--batch-size``), so flags never drift from it.

    Defaults stay None here: only the flags the user gave override the dataclass (or the checkpoint).
    """
    hints = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        kind, default = hints[field.name], field.default
        options: dict = {"dest": field.name, "default": None,
                         "help": f"{TRAIN_HELP.get(field.name, field.name.replace('_', ' '))} (default: %s)"
                                 % (" ".join(map(str, default)) if isinstance(default, tuple) else default)}
        if typing.get_origin(kind) is tuple:
            items = typing.get_args(kind)
            options.update(nargs=len(items), type=items[0], metavar=tuple("AB"[:len(items)]))
        elif kind is bool:
            options.update(action=argparse.BooleanOptionalAction)
        elif kind is int:
            options.update(type=whole(0), metavar="N")
        elif kind is float:
            options.update(type=float, metavar="X")
        else:
            options.update(type=kind)
        if field.name == "variant":
            from cgn_art.data.mnist import VARIANTS

            options.update(choices=VARIANTS)
        parser.add_argument("--" + field.name.replace("_", "-"), **options)


def _read_checkpoint(out: Path) -> dict:
    path = out / "checkpoint.json"
    try:
        meta = json.loads(path.read_text())
        int(meta["step"]), dict(meta["settings"])
        return meta
    except FileNotFoundError:
        raise CgnArtError(f"{out}: no checkpoint to resume from; run without --resume first") from None
    except (ValueError, KeyError, TypeError) as e:
        raise CgnArtError(f"{path}: not a readable cgn-art checkpoint ({e})") from None


def cmd_train(args) -> int:
    from tqdm import tqdm

    from cgn_art.train import cgn

    out = Path(args.output)
    names = [f.name for f in dataclasses.fields(cgn.TrainSettings)]
    given = {n: tuple(v) if isinstance(v, list) else v for n in names if (v := getattr(args, n)) is not None}
    base, start = {}, 0
    if args.resume:
        meta = _read_checkpoint(out)
        start = int(meta["step"])
        base = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["settings"].items() if k in names}
        for name in FIXED_ON_RESUME:
            if name in given and name in base and given[name] != base[name]:
                raise CgnArtError(f"--{name.replace('_', '-')} {given[name]} differs from the checkpoint's "
                                  f"{base[name]}; a resumed run keeps it (train into a new folder instead)")
    elif (out / "checkpoint.json").exists() and not args.overwrite:
        raise CgnArtError(f"{out} already holds a checkpoint; pass --resume to continue it, "
                          "--overwrite to start again, or choose another folder")
    settings = cgn.TrainSettings(**{**base, **given}).validate()
    if start >= settings.steps:
        print(f"{out}: already trained to step {start} (>= --steps {settings.steps}); nothing to do")
        print(f"model: {out / 'model'}")
        return 0

    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tqdm(total=settings.steps, initial=start, unit="step", desc=f"training {settings.variant}",
              file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = min(settings.steps, round(fraction * settings.steps))
            # the bar already shows "step a/b": keep only the losses from "step a/b  loss x  ..."
            bar.set_postfix_str(message.split("  ", 1)[-1], refresh=False)
            bar.refresh()

        result = cgn.train(settings, out, resume=args.resume, progress=progress)
    print(f"model: {out / 'model'}")
    print(f"trained steps {start} to {result.step} in {time.perf_counter() - began:.1f} s "
          f"({result.seconds:.1f} s in the training loop)")
    return 0


# mix, grid ------------------------------------------------------------------------------------

def cmd_mix(args) -> int:
    from cgn_art.io import save_png

    out = png_path(args.output)
    model = _load_model(args)
    classes = {m: resolve_class(model, m, getattr(args, m)) for m in MECHANISMS}
    cf = model.counterfactual(**classes, **_seeds(args), truncation=args.truncation, size=args.size)
    settings = cf.settings(0)
    composite = cf.image("composite")
    print(save_png(composite, out, settings))
    if args.parts:
        for part in ("mask", "foreground", "background"):
            path = out.with_name(f"{out.stem}-{part}{out.suffix}")
            print(save_png(cf.image(part), path, {**settings, "part": part}))
    if args.show:
        composite.show()
    return 0


def cmd_grid(args) -> int:
    from PIL import Image

    from cgn_art.grids import labelled_grid
    from cgn_art.io import save_png

    out = png_path(args.output)
    model = _load_model(args)
    shapes = resolve_classes(model, "shape", args.shapes)
    textures = resolve_classes(model, "texture", args.textures)
    background = resolve_class(model, "background", args.background)
    size = model.native_size if args.size is None else args.size
    width, height = len(textures) * size, len(shapes) * size
    if max(width, height) > MAX_GRID_SIDE:
        raise CgnArtError(f"the grid would be {width} x {height} pixels (over {MAX_GRID_SIDE}); "
                          "lower --size or pick fewer classes")
    tiles = []
    for shape in shapes:  # one row at a time: only the small PIL tiles are kept, not every tensor
        cf = model.counterfactual(shape, textures, background, **_seeds(args), truncation=args.truncation, size=size)
        tiles.extend(cf.image("composite", column) for column in range(len(textures)))
    if args.labels:
        names = model.class_names
        grid = labelled_grid(tiles, len(textures), [names["shape"][s] for s in shapes],
                             [names["texture"][t] for t in textures])
    else:
        grid = Image.new("RGB", (width, height))
        for i, tile in enumerate(tiles):
            grid.paste(tile, ((i % len(textures)) * size, (i // len(textures)) * size))
    settings = {**cf.settings(0), "shape_class": shapes, "texture_class": textures,
                "layout": "rows are shape classes, columns are texture classes"}
    print(save_png(grid, out, settings))
    if args.show:
        grid.show()
    return 0


# models, evaluate -----------------------------------------------------------------------------

def cmd_models(args) -> int:
    from cgn_art.mechanisms.weights import load_model, shipped_models

    shipped = shipped_models()
    if not shipped:
        raise CgnArtError("no shipped models found in assets/models")
    listing = {}
    for name, folder in shipped.items():
        model = load_model(name, device="cpu")
        listing[name] = {"folder": str(folder), "native_size": model.native_size, "classes": model.class_names}
    if args.json:
        print(json.dumps(listing))
        return 0
    for name, info in listing.items():
        print(f"{name}  ({info['native_size']} px native)  {info['folder']}")
        for mechanism, names in info["classes"].items():
            shown = ", ".join(n if n == str(i) else f"{i} {n}" for i, n in enumerate(names))
            print(f"  {mechanism + ':':<12}{shown}")
    return 0


def cmd_evaluate(args) -> int:
    from cgn_art.data.mnist import VARIANTS
    from cgn_art.train import fidelity

    model = _load_model(args)
    variant = getattr(getattr(model, "config", None), "variant", None)
    if variant not in VARIANTS:
        raise CgnArtError(f"model {args.model!r} was not trained on an MNIST variant; the judges only know "
                          f"{', '.join(VARIANTS)}")
    if not args.json:
        print(f"training the judges on real {variant} data (about a minute on a small CPU)...", file=sys.stderr)
    judges = fidelity.train_judges(variant, seed=args.seed)
    result = {"model": args.model, "variant": variant, "n": args.n,
              **fidelity.evaluate(model, judges, n=args.n, seed=args.seed)}
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.3f}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{key.replace('_', ' ')}: {value}")
    return 0


# The parser -----------------------------------------------------------------------------------

def _add_generation_flags(p: argparse.ArgumentParser, output: str) -> None:
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


def build_parser() -> Parser:
    from cgn_art import __version__
    from cgn_art.data.mnist import VARIANTS
    from cgn_art.train.cgn import TrainSettings

    parser = Parser(prog=PROG, description="Counterfactual Generative Networks as art: mix the shape, "
                    "texture and background of generated images.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="build and look at the MNIST variant datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    p = data_commands.add_parser("build", help="build and cache datasets; print where and how many images")
    p.add_argument("--variant", choices=VARIANTS + ("all",), default="all", help="(default: all)")
    p.add_argument("--split", choices=("train", "test", "both"), default="both", help="(default: both)")
    p.add_argument("--seed", type=whole(0), default=0, help="(default: 0)")
    p.add_argument("--copies", type=whole(1), default=1, help="texture draws per digit (training uses 4; default: 1)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if cached")
    p.set_defaults(run=cmd_data_build)
    p = data_commands.add_parser("sheet", help="write a contact sheet PNG of a dataset")
    p.add_argument("--variant", choices=VARIANTS, required=True)
    p.add_argument("--split", choices=("train", "test"), default="train", help="(default: train)")
    p.add_argument("--seed", type=whole(0), default=0, help="(default: 0)")
    p.add_argument("--rows", type=whole(1), default=10, help="rows; 10 gives one row per digit (default: 10)")
    p.add_argument("--columns", type=whole(1), default=10, help="(default: 10)")
    p.add_argument("--scale", type=whole(1), default=2, help="pixel magnification (default: 2)")
    p.add_argument("-o", "--output", default="sheet.png", help="PNG to write (default: %(default)s)")
    p.add_argument("--show", action="store_true", help="open the sheet in the system viewer")
    p.set_defaults(run=cmd_data_sheet)

    p = commands.add_parser("train", help="train a small CGN on an MNIST variant (resumable)",
                            description="Train a small CGN. Writes checkpoints, sample sheets and a "
                            "loadable model folder OUTDIR/model.")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for checkpoints and the model")
    p.add_argument("--resume", action="store_true",
                   help="continue the checkpoint in OUTDIR (its settings, overridden by the flags given)")
    p.add_argument("--overwrite", action="store_true", help="start again even if OUTDIR holds a checkpoint")
    add_settings_flags(p, TrainSettings)
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("mix", help="one counterfactual: this shape, that texture, on that background",
                            description="Classes are an index or a class name (see 'cgn-art models').")
    for m in MECHANISMS:
        p.add_argument(f"--{m}", required=True, metavar="CLASS", help=f"{m} class: index or name")
    _add_generation_flags(p, "counterfactual.png")
    p.add_argument("--parts", action="store_true", help="also write OUT-mask.png, OUT-foreground.png, OUT-background.png")
    p.set_defaults(run=cmd_mix)

    p = commands.add_parser("grid", help="shapes x textures on one background, as one PNG",
                            description="Rows are shape classes, columns texture classes; every tile "
                            "uses the same background class and seeds.")
    p.add_argument("--shapes", default="all", metavar="CLASSES", help="comma-separated classes or 'all' (default: all)")
    p.add_argument("--textures", default="all", metavar="CLASSES", help="comma-separated classes or 'all' (default: all)")
    p.add_argument("--background", default="0", metavar="CLASS", help="background class: index or name (default: 0)")
    p.add_argument("--labels", action="store_true", help="write the class names beside the rows and above the columns")
    _add_generation_flags(p, "grid.png")
    p.set_defaults(run=cmd_grid)

    p = commands.add_parser("models", help="list shipped models with their classes and native size")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=cmd_models)

    p = commands.add_parser("evaluate", help="how faithful a model's mechanisms are, judged by real-data classifiers")
    p.add_argument("--model", required=True, help="a shipped model's name or a model folder")
    p.add_argument("--n", type=whole(1), default=1000, help="counterfactuals to judge (default: 1000)")
    p.add_argument("--seed", type=whole(0), default=0, help="(default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=cmd_evaluate)
    return parser


if __name__ == "__main__":
    sys.exit(main())
