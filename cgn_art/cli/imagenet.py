"""``cgn-art import-cgn|imagenet-status|train-imagenet``: the ImageNet CGN on BigGAN.

    cgn-art import-cgn downloads/cgn.pth -o ~/weights/imagenet-cgn    # once, to safetensors
    export CGN_ART_IMAGENET=~/weights/imagenet-cgn                   # or pass --model FOLDER
    cgn-art imagenet-status                                          # will it load? presets
    cgn-art mix --model imagenet --shape 9 --texture 15 --background 970 -o cf.png
    cgn-art train-imagenet --weights ~/weights -o runs/inet          # needs a GPU in practice
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from cgn_art.cli.common import add_run_flags, add_settings_flags, run_settings_from, whole
from cgn_art.cli.progress import train_with_bar
from cgn_art.errors import CgnArtError

TRAIN_HELP = {
    "biggan": "BigGAN folder with pytorch_model.bin + config.json (default: WEIGHTS/biggan-deep-256)",
    "u2net": "u2net.pth (default: WEIGHTS/u2net.pth)",
    "weights": "folder holding biggan-deep-256/ and u2net.pth (default: $CGN_ART_IMAGENET)",
    "init": "an ImageNet CGN folder to fine-tune instead of starting from BigGAN",
    "steps": "optimiser updates to train to (on --resume, the new target)",
    "accumulate": "batches per optimiser update (gradient accumulation)",
    "feature_extractor": "features for the perceptual and texture losses: random, vgg19 or auto",
    "precision": "CUDA autocast: auto (bf16 if supported), fp32, bf16 or fp16; CPU runs fp32",
    "compile": "torch.compile the mechanisms (GPU)",
}
# The resumed model and optimisers must fit the checkpoint.
FIXED_ON_RESUME = ("biggan", "u2net", "weights", "init")


def cmd_import(args) -> int:
    from cgn_art.mechanisms.imagenet_weights import ENV, import_cgn

    out = Path(args.output)
    if (out / "model.safetensors").exists() and not args.overwrite:
        raise CgnArtError(f"{out} already holds a model; pass --overwrite to replace it, or choose another folder")

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    folder = import_cgn(args.checkpoint, out, resolution=args.resolution, progress=progress)
    print(f"model: {folder}")
    print(f"use it with --model {folder}, or: export {ENV}={folder.resolve()} and --model imagenet")
    return 0


def cmd_status(args) -> int:
    from cgn_art.mechanisms.imagenet_presets import PRESETS, preset_names
    from cgn_art.mechanisms.weights import imagenet_status

    ok, message = imagenet_status(args.imagenet)
    print(("ready: " if ok else "not available: ") + message)
    if args.presets:
        for mechanism in PRESETS:
            print(f"{mechanism} presets: " + ", ".join(f"{c} {name}" for c, name in preset_names(mechanism)))
    return 0 if ok else 1


def cmd_train(args) -> int:
    from cgn_art.train import imagenet

    out = Path(args.output)
    chosen, start = run_settings_from(args, imagenet.ImageNetTrainSettings, FIXED_ON_RESUME)
    names = {f.name for f in dataclasses.fields(imagenet.ImageNetTrainSettings)}
    settings = imagenet.ImageNetTrainSettings(**{k: v for k, v in chosen.items() if k in names}).validate()
    result, seconds = train_with_bar("training ImageNet CGN", out, settings.steps, start,
                                     lambda progress: imagenet.train(settings, out, resume=args.resume,
                                                                     progress=progress))
    print(f"trained to step {result.step} in {seconds:.1f} s")
    return 0


def add_commands(commands) -> None:
    p = commands.add_parser("import-cgn", help="convert the paper's ImageNet CGN checkpoint (cgn.pth) to safetensors",
                            description="Read the released ImageNet CGN checkpoint safely (weights only) and "
                                        "write model.safetensors + config.json, loadable with --model FOLDER.")
    p.add_argument("checkpoint", help="cgn.pth from the paper's repository (scripts/download_weights.sh)")
    p.add_argument("-o", "--output", required=True, help="folder to write the converted model into")
    p.add_argument("--resolution", type=whole(8), default=None,
                   help="BigGAN resolution (default: read from the checkpoint; 128, 256 or 512)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    p.set_defaults(run=cmd_import)

    p = commands.add_parser("imagenet-status",
                            help="say whether the ImageNet CGN can load, and what to download if not")
    p.add_argument("--imagenet", default=None, metavar="FOLDER",
                   help="ImageNet CGN folder to check (default: $CGN_ART_IMAGENET)")
    p.add_argument("--presets", action="store_true", help="also list the paper's preset classes per mechanism")
    p.set_defaults(run=cmd_status)

    p = commands.add_parser("train-imagenet", help="train an ImageNet CGN from BigGAN + U2-Net (resumable)",
                            description="Train the three BigGAN mechanisms against the frozen BigGAN with the "
                                        "paper's losses. Checkpoints, sample sheets and model/ go to --output.")
    add_run_flags(p, "run folder (checkpoint, samples, model/)", "continue the checkpoint in --output",
                  "start again over a checkpoint in --output")
    from cgn_art.train.imagenet import ImageNetTrainSettings

    add_settings_flags(p, ImageNetTrainSettings, TRAIN_HELP,
                       choices={"feature_extractor": ("random", "vgg19", "auto"),
                                "precision": ("auto", "fp32", "bf16", "fp16")})
    p.set_defaults(run=cmd_train)
