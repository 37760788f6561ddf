"""``cgn-art data build|sheet``: the MNIST variant datasets."""
from __future__ import annotations

import time

from cgn_art.cli.common import MAX_GRID_SIDE, png_path, whole
from cgn_art.errors import CgnArtError


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


def add_commands(commands) -> None:
    from cgn_art.data.mnist import VARIANTS

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

