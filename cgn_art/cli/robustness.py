"""``cgn-art cf-data make|merge`` and ``cgn-art classify``: counterfactual data and the invariant classifier."""
from __future__ import annotations

import json
import time

from cgn_art.cli.common import whole
from cgn_art.cli.progress import ProgressBar
from cgn_art.errors import CgnArtError


def _threads(args) -> None:
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)


def cmd_cf_make(args) -> int:
    from cgn_art.robustness.counterfactuals import CounterfactualDataSettings, shard_rows, write_dataset

    _threads(args)
    settings = CounterfactualDataSettings(model=args.model, count=args.count, per_shape=args.per_shape,
                                          seed=args.seed, size=args.size, truncation=args.truncation,
                                          format=args.format, shard=args.shard).validate()
    started = time.perf_counter()
    with ProgressBar(f"counterfactuals (shard {settings.shard[0]}/{settings.shard[1]})") as progress:
        folder = write_dataset(settings, args.output, progress=progress)
    rows = len(shard_rows(settings.count, settings.shard))
    print(f"{folder}: {rows:,} images ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_cf_merge(args) -> int:
    from cgn_art.robustness.counterfactuals import merge_datasets

    folder = merge_datasets(args.shards, args.output)
    print(f"{folder}: merged {len(args.shards)} shards")
    return 0


def _per_variant(pairs: list[str] | None, what: str) -> dict:
    out = {}
    for pair in pairs or []:
        variant, sep, value = pair.partition("=")
        if not sep or not value:
            raise CgnArtError(f"{what} {pair!r} is not of the form VARIANT=VALUE (e.g. colored=runs/colored/model)")
        out[variant] = value
    return out


def cmd_classify(args) -> int:
    from cgn_art.robustness.experiment import RobustnessSettings, run_experiment, runnable_variants, save_result

    _threads(args)
    models = _per_variant(args.model, "--model")
    data = _per_variant(args.counterfactual_data, "--counterfactual-data")
    variants = tuple(v for v in args.variant if v != "all")
    if "all" in args.variant:  # every variant whose CGN ships (or is given), in the registry's order
        variants = tuple(dict.fromkeys(runnable_variants(extra=set(models) | set(data)) + variants))
    settings = RobustnessSettings(
        variants=variants, counterfactuals=args.counterfactuals, per_shape=args.per_shape, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, cue_conflict=args.cue_conflict,
        models=models, counterfactual_data=data).validate()
    with ProgressBar("robustness experiment") as progress:
        result = run_experiment(settings, progress)
    if args.json == "-":
        print(json.dumps(result.to_dict()))
        return 0
    print("Test accuracy (%) on the test split with random colour/texture and background "
          "(paper: Sauer & Geiger 2021, Table 2):")
    print(result.table())
    print("\nCue-conflict images: how often each classifier follows the shape, texture or background (%):")
    print(result.cue_table())
    print(f"\n{result.seconds:.0f} s in all")
    if args.json:
        print(f"results: {save_result(result, args.json)}")
    return 0


def add_commands(commands) -> None:
    from cgn_art.cli.common import library_check
    from cgn_art.mechanisms.base import validate_size, validate_truncation
    from cgn_art.robustness.counterfactuals import FORMATS, parse_shard
    from cgn_art.robustness.experiment import VARIANTS, RobustnessSettings

    d = RobustnessSettings()
    cf = commands.add_parser("cf-data", help="make counterfactual datasets from a CGN (in shards, then merged)")
    cf_commands = cf.add_subparsers(dest="cf_command", required=True, metavar="COMMAND")
    p = cf_commands.add_parser(
        "make", help="generate a counterfactual dataset (or one shard of it) into a folder",
        description="N images, k counterfactuals per shape sample (same mask, new texture and background "
                    "classes and noise); labels in labels.csv. Shards (--shard i/n) made by independent "
                    "workers merge into the dataset one run would make.")
    p.add_argument("--model", default="wildlife", help="shipped model name or model folder (default: %(default)s)")
    p.add_argument("-n", "--count", type=whole(1), default=10_000, help="images in the whole dataset (default: 10000)")
    p.add_argument("-k", "--per-shape", type=whole(1), default=d.per_shape,
                   help="counterfactuals per shape sample (same mask, new texture and background; "
                        f"default: {d.per_shape}, the most shape variety)")
    p.add_argument("--seed", type=whole(0), default=0, help="(default: 0)")
    p.add_argument("--size", type=library_check(validate_size), default=None,
                   help="image side in pixels (default: the model's native size: 32 MNIST, 64 letters)")
    p.add_argument("--truncation", type=library_check(validate_truncation), default=1.0, help="(default: 1)")
    p.add_argument("--format", choices=FORMATS, default="tensors",
                   help="PNG files or one safetensors tensor (default: %(default)s)")
    p.add_argument("--shard", type=library_check(parse_shard), default=(0, 1), metavar="I/N",
                   help="make part I of N (counting from 0), e.g. 0/4 (default: the whole dataset)")
    p.add_argument("--threads", type=whole(0), default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("-o", "--output", required=True, help="folder to write (new or empty)")
    p.set_defaults(run=cmd_cf_make)
    p = cf_commands.add_parser("merge", help="merge the shard folders of one dataset into one folder")
    p.add_argument("shards", nargs="+", help="the shard folders, in any order")
    p.add_argument("-o", "--output", required=True, help="folder to write (new or empty)")
    p.set_defaults(run=cmd_cf_merge)

    p = commands.add_parser(
        "classify", help="train the shape classifier on original, counterfactual and both; print the table",
        description="The paper's Table 2: test accuracy on the randomised test split of a classifier trained "
                    "on the biased original data, on CGN counterfactuals and on both, plus how often each "
                    "follows shape, texture or background on cue-conflict images.")
    p.add_argument("--variant", nargs="+", choices=VARIANTS + ("all",), default=["all"],
                   help="data sets to run; 'all': every one whose CGN ships or is given with --model "
                        "(default: all)")
    p.add_argument("--counterfactuals", type=whole(1), default=d.counterfactuals,
                   help=f"counterfactual training images per variant (default: {d.counterfactuals})")
    p.add_argument("--per-shape", type=whole(1), default=d.per_shape,
                   help=f"counterfactuals per shape sample (default: {d.per_shape})")
    p.add_argument("--epochs", type=whole(1), default=d.epochs, help=f"(default: {d.epochs})")
    p.add_argument("--batch-size", type=whole(1), default=d.batch_size, help=f"(default: {d.batch_size})")
    p.add_argument("--seed", type=whole(0), default=d.seed, help=f"(default: {d.seed})")
    p.add_argument("--cue-conflict", type=whole(1), default=d.cue_conflict,
                   help=f"cue-conflict images per variant (default: {d.cue_conflict})")
    p.add_argument("--model", action="append", metavar="VARIANT=MODEL",
                   help="use this CGN for a variant instead of the shipped one (repeatable)")
    p.add_argument("--counterfactual-data", action="append", metavar="VARIANT=FOLDER",
                   help="train on this dataset (from 'cf-data make/merge') instead of generating one (repeatable)")
    p.add_argument("--threads", type=whole(0), default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': print only the JSON)")
    p.set_defaults(run=cmd_classify)
