"""What each part of the small-CGN training recipe buys: short runs with one part switched off.

Every arm trains Wildlife MNIST for the same number of steps from the same seed, then is judged
like benchmarks/cgn_quality.py. The baseline, in the same process, is the full recipe; one JSON
line holds every arm's figures and its ratios against the full recipe.

    python benchmarks/training_ablation.py [--steps 1500] [--arms full,no_background_texture,...]
    python benchmarks/training_ablation.py --evaluate runs/ablation   # judge arms trained earlier
    python benchmarks/training_ablation.py --steps 500 --arms full,no_composite_texture --threads 1 \
        --out runs/ablation-500                                       # a cheaper run of two arms

Arms:
- full: the shipped recipe (cgn_art.train.cgn.TrainSettings defaults);
- no_mask_border: without the prior that the mask is empty in the outer 4 px;
- no_background_texture: without the Gram loss tying the background to real border strips;
- no_composite_texture: without the Gram loss between composites and real images;
- loose_mask_priors: loose mask priors (area 0.1-0.6 per image, no batch prior, a weak constant
  binary loss).
"""
import argparse
import json
import time
from pathlib import Path

from cgn_art import evaluate as fidelity
from cgn_art.mechanisms.weights import load_model
from cgn_art.train.cgn import TrainSettings, train

ARMS = {
    "full": {},
    "no_mask_border": {"weight_mask_border": 0.0},
    "no_background_texture": {"weight_background_texture": 0.0},
    "no_composite_texture": {"weight_composite_texture": 0.0},
    "loose_mask_priors": {"mask_area_per_image": (0.1, 0.6), "mask_area_batch": (0.0, 1.0),
                          "weight_binary": 0.3, "binary_ramp_steps": 1},
}
KEYS = ("shape_fidelity", "texture_fidelity", "background_fidelity", "mask_area_mean", "mask_binary_share")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", default="runs/ablation", help="where each arm's run is written")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--train-only", action="store_true", help="train the arms, do not judge them")
    parser.add_argument("--evaluate", metavar="FOLDER", help="only judge arms already trained in FOLDER")
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = set(arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(sorted(unknown))}; choose from {', '.join(ARMS)}")
    out = Path(args.evaluate or args.out)
    seconds = {}
    if not args.evaluate:
        for arm in arms:
            start = time.perf_counter()
            settings = TrainSettings(variant="wildlife", steps=args.steps, threads=args.threads,
                                     sample_every=args.steps, checkpoint_every=args.steps, **ARMS[arm])
            train(settings, out / arm)
            seconds[arm] = round(time.perf_counter() - start)
        if args.train_only:
            return
    judges = fidelity.train_judges("wildlife")
    results = {}
    for arm in arms:
        model = load_model(out / arm / "model", device="cpu")
        figures = fidelity.evaluate(model, judges, n=1000)
        results[arm] = {k: round(figures[k], 3) for k in KEYS}
        results[arm]["trained_steps"] = json.loads((out / arm / "model" / "config.json").read_text())["trained_steps"]
        if arm in seconds:
            results[arm]["train_seconds"] = seconds[arm]
    if "full" in results:
        base = results["full"]
        for arm, figures in results.items():
            figures["ratio_vs_full"] = {k: round(figures[k] / base[k], 2) if base[k] else None for k in KEYS}
    print(json.dumps({"benchmark": "training_ablation", "variant": "wildlife",
                      "real_mask_area_mean": round(judges.real_mask_area, 3), "arms": results}))


if __name__ == "__main__":
    main()
