"""``cgn-art train``: train a small CGN on a registered data set (resumable)."""
from __future__ import annotations

from pathlib import Path

from cgn_art.cli.common import add_run_flags, add_settings_flags, run_settings_from
from cgn_art.cli.progress import ProgressBar, train_with_bar

TRAIN_HELP = {
    "variant": "data set to learn (its own defaults apply to the settings you do not give)",
    "steps": "train until this step (on --resume, the new target)",
    "batch_size": "images per step",
    "seed": "seed for data, noise and initial weights",
    "device": "auto, cpu, cuda or mps",
    "copies": "texture draws per digit in the training set",
    "threads": "torch CPU threads (0: torch's default)",
    "recipe": "adversarial (one discriminator on composites; MNIST variants) or decomposed (each mechanism "
              "on its own loss, from masks found in the composites; letters)",
    "weight_kl": "decomposed: KL weight of the shape VAE",
    "weight_shape_class": "decomposed: weight of 'masks drawn from noise must read as their class'",
    "weight_colour": "decomposed: weight of the colour mean/std match of texture and background",
    "detail_window": "decomposed: native px of field refined to 4x per sample and step",
    "shape_substeps": "decomposed: extra steps of the shape mechanism alone per step",
    "mask_steps": "decomposed: training steps of the net that finds the masks in the composites",
    "weight_shape_adversarial": "decomposed: weight of the critic that tells found masks from masks drawn "
                                "from noise (0: none)",
    "weight_field_adversarial": "decomposed: weight of the patch critic on fine texture and background "
                                "windows (0: none)",
    "weight_field_patches": "decomposed: weight of the match of fine texture and background windows to the "
                            "real regions' 7 px patch distributions (0: none)",
    "fields": "decomposed: network (texture and background mechanisms are networks trained on texture "
              "statistics) or exemplar (one seamless texture per class, quilted from the found regions)",
}
# Changing these would make the checkpoint's weights or data not fit, so resume refuses them.
FIXED_ON_RESUME = ("variant", "width", "discriminator_width", "recipe", "fields")


def cmd_train(args) -> int:
    from cgn_art.train import cgn

    out = Path(args.output)
    chosen, start = run_settings_from(args, cgn.TrainSettings, FIXED_ON_RESUME)
    settings = cgn.TrainSettings.for_data(chosen.pop("variant", cgn.TrainSettings.variant), **chosen).validate()
    if start >= settings.steps:
        print(f"{out}: already trained to step {start} (>= --steps {settings.steps}); nothing to do")
        print(f"model: {out / 'model'}")
        return 0

    out.mkdir(parents=True, exist_ok=True)
    result, seconds = train_with_bar(f"training {settings.variant}", out, settings.steps, start,
                                     lambda progress: cgn.train(settings, out, resume=args.resume, progress=progress))
    print(f"trained steps {start} to {result.step} in {seconds:.1f} s "
          f"({result.seconds:.1f} s in the training loop)")
    return 0


def cmd_requilt(args) -> int:
    from cgn_art.train.requilt import checked_source, requilt

    checked_source(args.model, args.output)  # a wrong model is one line, before any bar is drawn
    with ProgressBar(f"quilting {args.model} again", unit="") as progress:
        out = requilt(args.model, args.output, progress=progress, sources=args.sources)
    print(f"model: {out}")
    return 0


def add_commands(commands) -> None:
    from cgn_art.data.registry import DATASETS
    from cgn_art.train.cgn import FIELDS, TrainSettings

    p = commands.add_parser("train", help="train a small CGN on a data set: letters or an MNIST variant (resumable)",
                            description="Train a small CGN. Writes checkpoints, sample sheets and a "
                            "loadable model folder OUTDIR/model.")
    add_run_flags(p, "folder for checkpoints and the model",
                  "continue the checkpoint in OUTDIR (its settings, overridden by the flags given)",
                  "start again even if OUTDIR holds a checkpoint", metavar="OUTDIR")
    add_settings_flags(p, TrainSettings, TRAIN_HELP, {"variant": tuple(DATASETS), "fields": FIELDS})
    p.set_defaults(run=cmd_train)
    p = commands.add_parser("requilt", help="make an exemplar model's materials (textures and backgrounds) again "
                                            "with the current quilting (the shape mechanism is kept)",
                            description="Rebuild the model's training data, find the masks in it as training did "
                                        "(same seed and steps) and quilt each class's materials again (the most "
                                        "representative of four draws per source); about 15 minutes on two cores "
                                        "for one source a class.")
    p.add_argument("model", help="shipped model name (e.g. letters) or model folder")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the new model")
    p.add_argument("--sources", type=int, default=1, help="quilts a class, each from a random share of its "
                   "training images: more vary more from seed to seed, and look less like the class (default: 1)")
    p.set_defaults(run=cmd_requilt)
