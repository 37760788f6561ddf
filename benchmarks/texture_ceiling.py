"""What texture synthesis itself reaches on the letters structure judges: one JSON line.

No CGN here. For each chosen class, a picture is synthesised from real crops of that class, shown
at the judge's scale (4x), by optimising its pixels (a four-level pyramid, so no pixel-scale
speckle) with one of two objectives, or by quilting:

- ``gram``: Gram matrices and means of a random multi-scale encoder's maps (Gatys et al.'s
  objective with the random filters of Ustyuzhaninov et al.; the decomposed recipe's statistics);
- ``patches``: the distribution of raw 7 px patches at three pyramid levels by sliced Wasserstein
  (Elnekave & Weiss's objective; the recipe's ``--weight-field-patches``);
- ``quilting``: image quilting of blocks of the crops, as the exemplar fields are made
  (train/exemplars.py; the Letters CGN takes its blocks from the found masks instead).

Each picture's nine 64 px crops are classified by the structure judge that texture_quality.py
uses. The baseline, in the same process, is the same judge on nine fresh real crops per class.
This is the reference point for a texture mechanism made the same way: it learns from windows of
composites instead of whole crops, so it should not expect to do better than the picture here.

    python benchmarks/texture_ceiling.py [--kind texture] [--classes 0 1 2] [--iterations 300]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cgn_art import evaluate as fidelity
from cgn_art.data import letters
from cgn_art.features import RandomEncoder
from cgn_art.mechanisms.base import to_pil
from cgn_art.train import exemplars
from cgn_art.train.decomposed import PATCH_LEVELS, image_patches

SIDE = 192   # px of the synthesised picture at the 4x scale: nine 64 px judge crops
SCALE = 4
ENCODER_SEED = 77  # neither the judges' bank (4243) nor the trainer's encoders (0, 1)


def _gram_objective(real: torch.Tensor):
    encoder = RandomEncoder(kernels=(3, 5, 7), channels=32, scales=4, seed=ENCODER_SEED)

    def stats(x):
        out = []
        for f in encoder(x):
            flat = f.flatten(2)
            out += [(flat @ flat.transpose(1, 2) / flat.shape[-1]).mean(0), f.mean(dim=(2, 3)).mean(0)]
        return out

    with torch.no_grad():
        target = stats(real)
    return lambda img: sum(F.mse_loss(a, b) / (b.pow(2).mean() + 1e-6) for a, b in zip(stats(img), target))


def _patch_objective(real: torch.Tensor, projections: int = 64, count: int = 16384):
    def pyramid(x):
        levels = [x]
        for _ in range(PATCH_LEVELS - 1):
            levels.append(F.avg_pool2d(levels[-1], 2))
        return [image_patches(level).flatten(0, 1) for level in levels]

    target = pyramid(real)

    def loss(img):
        total = img.new_zeros(())
        for mine, theirs in zip(pyramid(img), target):
            m = min(count, len(mine))
            a = mine[torch.randperm(len(mine))[:m]]
            b = theirs[torch.randint(len(theirs), (m,))]
            d = F.normalize(torch.randn(a.shape[1], projections), dim=0)
            total = total + ((a @ d).sort(0)[0] - (b @ d).sort(0)[0]).pow(2).mean()
        return total
    return loss


OBJECTIVES = {"gram": _gram_objective, "patches": _patch_objective}
METHODS = (*OBJECTIVES, "quilting")


def quilted(real: torch.Tensor, kind: str, seed: int, block: int | None = None,
            overlap: int = exemplars.OVERLAP, smooth_seams: bool = True) -> torch.Tensor:
    """A (1, 3, SIDE, SIDE) picture quilted from blocks of the real crops, as the exemplar fields
    are (same seams and rules, and by default the same block size; here the blocks come from whole
    crops, not found masks)."""
    rng = np.random.default_rng(seed)
    block = block or (exemplars.BLOCK if kind == "texture" else exemplars.BACKGROUND_BLOCK)
    images = (real * 255).round().to(torch.uint8)
    blocks = exemplars.region_blocks(images, torch.ones_like(real[:, :1]), rng, block=block, edge=0)
    return torch.from_numpy(exemplars.quilt(blocks, SIDE, rng, overlap=overlap, smooth_seams=smooth_seams))[None]


def synthesise(real: torch.Tensor, objective: str, iterations: int, seed: int) -> torch.Tensor:
    """A (1, 3, SIDE, SIDE) picture whose ``objective`` matches the real crops (N, 3, SIDE, SIDE)."""
    g = torch.Generator().manual_seed(seed)
    levels = [(torch.randn(1, 3, s, s, generator=g) * (1.0 if s == SIDE else 0.3)).requires_grad_(True)
              for s in (SIDE // 8, SIDE // 4, SIDE // 2, SIDE)]
    loss_of = OBJECTIVES[objective](real)
    opt = torch.optim.Adam(levels, lr=0.03)

    def picture():
        return torch.sigmoid(sum(F.interpolate(p, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
                                 if p.shape[-1] < SIDE else p for p in levels))

    for _ in range(iterations):
        loss = loss_of(picture())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return picture().detach()


def nine_crops(images: torch.Tensor) -> torch.Tensor:
    return torch.cat([images[:, :, y: y + 64, x: x + 64] for y in (0, 64, 128) for x in (0, 64, 128)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("texture", "background"), default="texture")
    parser.add_argument("--classes", type=int, nargs="*", help="class indices (default: all)")
    parser.add_argument("--objective", choices=METHODS, action="append",
                        help="repeatable (default: all three); quilting copies blocks instead of optimising")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--save", help="folder for the synthesised pictures (PNG), to look at")
    parser.add_argument("--block", type=int, help="quilting block in px (default: the exemplars' own, 20 / 36); "
                                                  "block - overlap must divide 192")
    parser.add_argument("--overlap", type=int, default=exemplars.OVERLAP, help="quilting overlap in px")
    parser.add_argument("--rough-seams", action="store_true",
                        help="quilting without the gradient-domain finish (as the exemplars were before it)")
    parser.add_argument("--pictures", type=int, default=1,
                        help="pictures per class and method (nine crops each): more pictures, less luck")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    judge = fidelity.structure_judge("letters", args.kind)
    classes = args.classes if args.classes else list(range(len(judge.class_names)))
    objectives = args.objective or list(METHODS)
    rng = np.random.default_rng([args.seed, 5])
    out = {"benchmark": "texture_ceiling", "kind": args.kind, "iterations": args.iterations, "seed": args.seed,
           "pictures": args.pictures, "block": args.block, "overlap": args.overlap,
           "smooth_seams": not args.rough_seams,
           "judge_chance": round(judge.chance, 4), "per_class": {}}
    hits = {name: 0 for name in objectives + ["real"]}
    for c in classes:
        real = torch.from_numpy(letters.material_crops(args.kind, [c] * 16, SIDE, rng, scale=SCALE))
        real = real.permute(0, 3, 1, 2).contiguous()
        fresh = torch.from_numpy(letters.material_crops(args.kind, [c] * args.pictures, SIDE, rng, scale=SCALE))
        row = {"real": float((judge.classify(nine_crops(fresh.permute(0, 3, 1, 2))) == c).float().mean())}
        for name in objectives:
            pictures = torch.cat([quilted(real, args.kind, args.seed + c + 1000 * k, args.block, args.overlap,
                                          not args.rough_seams)
                                  if name == "quilting" else
                                  synthesise(real, name, args.iterations, args.seed + c + 1000 * k)
                                  for k in range(args.pictures)])
            row[name] = float((judge.classify(nine_crops(pictures)) == c).float().mean())
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                to_pil(pictures[0]).save(Path(args.save) / f"{args.kind}-{c}-{name}.png")
        for name, value in row.items():
            hits[name] += value
        out["per_class"][judge.class_names[c]] = {k: round(v, 3) for k, v in row.items()}
    out["accuracy"] = {name: round(total / len(classes), 4) for name, total in hits.items()}
    out["ratio_to_real"] = {name: round(out["accuracy"][name] / max(out["accuracy"]["real"], 1e-9), 4)
                            for name in objectives}
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
