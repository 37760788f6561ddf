"""``cgn-art mix|grid|models|evaluate``: counterfactuals from a model, and how faithful they are."""
from __future__ import annotations

import json
import sys

from cgn_art.cli.common import (
    MAX_GRID_SIDE,
    add_generation_flags,
    load_model_from,
    png_path,
    resolve_class,
    resolve_classes,
    seeds_from,
    whole,
)
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS


def cmd_mix(args) -> int:
    from cgn_art.io import save_png

    out = png_path(args.output)
    model = load_model_from(args)
    classes = {m: resolve_class(model, m, getattr(args, m)) for m in MECHANISMS}
    cf = model.counterfactual(**classes, **seeds_from(args), truncation=args.truncation, size=args.size)
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
    model = load_model_from(args)
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
        cf = model.counterfactual(shape, textures, background, **seeds_from(args), truncation=args.truncation,
                                  size=size)
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
    from cgn_art.mechanisms.weights import imagenet_status, load_model, shipped_models

    shipped = shipped_models()
    if not shipped:
        raise CgnArtError("no shipped models found in assets/models")
    listing = {}
    for name, folder in shipped.items():
        model = load_model(name, device="cpu")
        listing[name] = {"folder": str(folder), "native_size": model.native_size, "classes": model.class_names}
    # The ImageNet CGN is checked, not loaded: its 1,000 ImageNet classes are the same for every mechanism.
    imagenet_ok, imagenet_line = imagenet_status()
    if args.json:
        print(json.dumps({**listing, "imagenet": {"available": imagenet_ok, "status": imagenet_line}}))
        return 0
    for name, info in listing.items():
        print(f"{name}  ({info['native_size']} px native)  {info['folder']}")
        for mechanism, names in info["classes"].items():
            shown = ", ".join(n if n == str(i) else f"{i} {n}" for i, n in enumerate(names))
            print(f"  {mechanism + ':':<12}{shown}")
    print(f"imagenet  ({'available' if imagenet_ok else 'not available'}): {imagenet_line}")
    return 0


def cmd_evaluate(args) -> int:
    from cgn_art import evaluate as fidelity
    from cgn_art.data.mnist import VARIANTS

    model = load_model_from(args)
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



def add_commands(commands) -> None:
    p = commands.add_parser("mix", help="one counterfactual: this shape, that texture, on that background",
                            description="Classes are an index or a class name (see 'cgn-art models').")
    for m in MECHANISMS:
        p.add_argument(f"--{m}", required=True, metavar="CLASS", help=f"{m} class: index or name")
    add_generation_flags(p, "counterfactual.png")
    p.add_argument("--parts", action="store_true",
                   help="also write OUT-mask.png, OUT-foreground.png, OUT-background.png")
    p.set_defaults(run=cmd_mix)

    p = commands.add_parser("grid", help="shapes x textures on one background, as one PNG",
                            description="Rows are shape classes, columns texture classes; every tile "
                            "uses the same background class and seeds.")
    p.add_argument("--shapes", default="all", metavar="CLASSES", help="comma-separated classes or 'all' (default: all)")
    p.add_argument("--textures", default="all", metavar="CLASSES",
                   help="comma-separated classes or 'all' (default: all)")
    p.add_argument("--background", default="0", metavar="CLASS", help="background class: index or name (default: 0)")
    p.add_argument("--labels", action="store_true", help="write the class names beside the rows and above the columns")
    add_generation_flags(p, "grid.png")
    p.set_defaults(run=cmd_grid)

    p = commands.add_parser("models", help="list the models: shipped ones with their classes, and whether the "
                            "ImageNet CGN is set up")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=cmd_models)

    p = commands.add_parser("evaluate", help="how faithful a model's mechanisms are, judged by real-data classifiers")
    p.add_argument("--model", required=True, help="a shipped model's name or a model folder")
    p.add_argument("--n", type=whole(1), default=1000, help="counterfactuals to judge (default: 1000)")
    p.add_argument("--seed", type=whole(0), default=0, help="(default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=cmd_evaluate)
