"""``cgn-art train``: train a small CGN on a registered data set (resumable)."""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from cgn_art.cli.common import add_settings_flags
from cgn_art.errors import CgnArtError

TRAIN_HELP = {
    "variant": "data set to learn (its own defaults apply to the settings you do not give)",
    "steps": "train until this step (on --resume, the new target)",
    "batch_size": "images per step",
    "seed": "seed for data, noise and initial weights",
    "device": "auto, cpu, cuda or mps",
    "copies": "texture draws per digit in the training set",
    "threads": "torch CPU threads (0: torch's default)",
}
# Changing these would make the checkpoint's weights or data not fit, so resume refuses them.
FIXED_ON_RESUME = ("variant", "width", "discriminator_width")


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
    chosen = {**base, **given}
    settings = cgn.TrainSettings.for_data(chosen.pop("variant", cgn.TrainSettings.variant), **chosen).validate()
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


def add_commands(commands) -> None:
    from cgn_art.data.registry import DATASETS
    from cgn_art.train.cgn import TrainSettings

    p = commands.add_parser("train", help="train a small CGN on a data set: letters or an MNIST variant (resumable)",
                            description="Train a small CGN. Writes checkpoints, sample sheets and a "
                            "loadable model folder OUTDIR/model.")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for checkpoints and the model")
    p.add_argument("--resume", action="store_true",
                   help="continue the checkpoint in OUTDIR (its settings, overridden by the flags given)")
    p.add_argument("--overwrite", action="store_true", help="start again even if OUTDIR holds a checkpoint")
    add_settings_flags(p, TrainSettings, TRAIN_HELP, {"variant": tuple(DATASETS)})
    p.set_defaults(run=cmd_train)

