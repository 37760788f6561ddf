"""``cgn-art vary|interpolate``: the Mixer page's grid and interpolation strip, for batch use.

    cgn-art vary texture --shape 3 --background 1 --labels -o threes.png   # one row: every texture
    cgn-art vary background --shape 3 --texture 5 -o threes.zip           # every tile as its own PNG
    cgn-art interpolate texture --shape 3 --texture 5 --background 1 --to-class 7 --steps 8 -o walk.gif
"""
from __future__ import annotations

from pathlib import Path

from cgn_art.cli.common import add_generation_flags, load_model_from, resolve_class, seeds_from, whole
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS

STRIP_FORMATS = (".png", ".gif", ".mp4")


def mix_from(args, model):
    """The MixSettings the flags describe (classes by index or name; each seed defaults to --seed)."""
    from cgn_art.mixing import MixSettings

    seeds = {key: args.seed if value is None else value for key, value in seeds_from(args).items() if key != "seed"}
    classes = {m: resolve_class(model, m, getattr(args, m)) for m in MECHANISMS}
    size = model.native_size if args.size is None else args.size
    return MixSettings(**classes, **seeds, truncation=args.truncation, size=size).validate(model)


def _output(text: str, formats: tuple[str, ...]) -> Path:
    path = Path(text)
    if path.suffix.lower() not in formats:
        raise CgnArtError(f"{text}: give an output name ending in {', '.join(formats)}")
    return path


def cmd_vary(args) -> int:
    from cgn_art import mixing
    from cgn_art.grids import labelled_grid
    from cgn_art.io import save_png

    out = _output(args.output, (".png", ".zip"))
    model = load_model_from(args)
    cf = mixing.vary(model, mix_from(args, model), args.mechanism)
    names = model.class_names
    tiles = [cf.image("composite", i) for i in range(len(cf))]
    grid = labelled_grid(tiles, len(tiles), [f"vary {args.mechanism}"], names[args.mechanism][:len(tiles)],
                         gap=2) if args.labels else mixing.strip_image(cf, gap=0)
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(mixing.zip_of(cf, names, grid))
        print(out)
    else:
        print(save_png(grid, out, {**cf.settings(0),
                                   f"{args.mechanism}_class": getattr(cf, f"{args.mechanism}_class")}))
    return 0


def cmd_interpolate(args) -> int:
    from cgn_art import mixing
    from cgn_art.io import save_png

    out = _output(args.output, STRIP_FORMATS)
    model = load_model_from(args)
    mix = mix_from(args, model)
    to_class = None if args.to_class is None else resolve_class(model, args.mechanism, args.to_class)
    if to_class is None and args.to_seed is None:
        raise CgnArtError("give --to-class and/or --to-seed: where the walk should end")
    strip = mixing.interpolate(model, mix, args.mechanism, to_class=to_class, to_seed=args.to_seed, steps=args.steps)
    suffix = out.suffix.lower()
    if suffix == ".png":
        print(save_png(mixing.strip_image(strip), out, strip.extra))
        return 0
    data = mixing.gif_bytes(strip, fps=args.fps) if suffix == ".gif" else mixing.mp4_bytes(strip, fps=args.fps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(out)
    return 0


def _add_mix_flags(p, output: str) -> None:
    for m in MECHANISMS:
        p.add_argument(f"--{m}", default="0", metavar="CLASS", help=f"{m} class: index or name (default: 0)")
    add_generation_flags(p, output)


def add_commands(commands) -> None:
    from cgn_art.mixing import MAX_STEPS

    p = commands.add_parser("vary", help="hold two mechanisms still and walk the third across every class",
                            description="One row: the mix given by the flags, with MECHANISM taking each of its "
                            "classes in turn. Write a PNG, or a ZIP with every tile as its own PNG.")
    p.add_argument("mechanism", choices=MECHANISMS, help="the mechanism that varies")
    p.add_argument("--labels", action="store_true", help="write the class names above the tiles")
    _add_mix_flags(p, "vary.png")
    p.set_defaults(run=cmd_vary)

    p = commands.add_parser("interpolate", help="walk one mechanism from one class/seed to another, as a strip",
                            description="The other two mechanisms stay as the flags give them. Class weights "
                            "blend linearly; noise moves along a great circle. Output: .png (a strip), .gif or "
                            ".mp4 (a loop, forwards then back).")
    p.add_argument("mechanism", choices=MECHANISMS, help="the mechanism that walks")
    p.add_argument("--to-class", default=None, metavar="CLASS",
                   help="the class the walk ends on (default: the start's)")
    p.add_argument("--to-seed", type=whole(0), default=None, metavar="N",
                   help="the seed the walk ends on (default: the start's)")
    p.add_argument("--steps", type=whole(2), default=8, help=f"images in the walk, 2 to {MAX_STEPS} (default: 8)")
    p.add_argument("--fps", type=whole(1), default=8, help="frames per second of a .gif or .mp4 (default: 8)")
    _add_mix_flags(p, "walk.png")
    p.set_defaults(run=cmd_interpolate)
