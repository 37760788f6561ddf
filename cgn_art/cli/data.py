"""``cgn-art data build|sheet``: the training data sets (letters and the MNIST variants)."""
from __future__ import annotations

import time

from cgn_art.cli.common import MAX_GRID_SIDE, png_path, whole
from cgn_art.errors import CgnArtError


def cmd_data_build(args) -> int:
    from cgn_art.data import letters, mnist
    from cgn_art.data.registry import DATASETS, dataset

    variants = tuple(DATASETS) if args.variant == "all" else (args.variant,)
    splits = ("train", "test") if args.split == "both" else (args.split,)
    for variant in variants:
        for split in splits:
            start = time.perf_counter()
            if args.rebuild:  # load() rebuilds only when asked; the registry's loader never does
                (letters.load(split, args.seed, rebuild=True) if variant == "letters"
                 else mnist.load(variant, split, seed=args.seed, copies=args.copies, rebuild=True))
            data = dataset(variant).load(split, seed=args.seed, copies=args.copies)
            print(f"{variant} {split}: {len(data)} images ({time.perf_counter() - start:.1f} s)")
    print(f"cached in {mnist.cache_dir()}")
    return 0


def cmd_data_sheet(args) -> int:
    from cgn_art.data import letters, mnist
    from cgn_art.data.registry import dataset
    from cgn_art.io import save_png

    out = png_path(args.output)
    family = dataset(args.variant)
    side = max(args.rows, args.columns) * family.native_size * args.scale
    if side > MAX_GRID_SIDE:
        raise CgnArtError(f"the sheet would be {side} pixels wide; lower --rows, --columns or --scale")
    data = family.load(args.split, seed=args.seed)
    sheet_of = letters.contact_sheet if args.variant == "letters" else mnist.contact_sheet
    per_class = len(family.class_names()["shape"])
    sheet = sheet_of(data, rows=per_class if args.rows == 10 else args.rows, columns=args.columns, scale=args.scale)
    settings = {"sheet": "dataset", "variant": args.variant, "split": args.split, "seed": args.seed,
                "rows": args.rows, "columns": args.columns, "scale": args.scale}
    print(save_png(sheet, out, settings))
    if args.show:
        sheet.show()
    return 0


def add_commands(commands) -> None:
    from cgn_art.data.registry import DATASETS

    VARIANTS = tuple(DATASETS)

    data = commands.add_parser("data", help="build and look at the training data sets (letters, MNIST variants)")
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
    p.add_argument("--rows", type=whole(1), default=10,
                   help="rows; 10 gives one row per shape class (26 for letters) (default: 10)")
    p.add_argument("--columns", type=whole(1), default=10, help="(default: 10)")
    p.add_argument("--scale", type=whole(1), default=2, help="pixel magnification (default: 2)")
    p.add_argument("-o", "--output", default="sheet.png", help="PNG to write (default: %(default)s)")
    p.add_argument("--show", action="store_true", help="open the sheet in the system viewer")
    p.set_defaults(run=cmd_data_sheet)

