"""Quality of a shipped small CGN: fidelity of each mechanism and mask statistics (one JSON line).

Judges are classifiers trained here on real data only (binarized MNIST digits, real texture and
background crops). The baseline, run in the same process, is those judges on held-out real data:
``*_ratio_vs_real`` says how close generated mechanisms come to the real thing.

    python benchmarks/cgn_quality.py --model wildlife [--n 1000] [--seed 0]
"""
import argparse
import json
import time

import torch

from cgn_art import evaluate as fidelity
from cgn_art.mechanisms.weights import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wildlife")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = load_model(args.model, device="cpu")
    variant = model.config.variant
    start = time.perf_counter()
    judges = fidelity.train_judges(variant, seed=args.seed)
    result = fidelity.evaluate(model, judges, n=args.n, seed=args.seed)
    real = result.pop("judges_held_out_accuracy")
    out = {"benchmark": "cgn_quality", "model": args.model, "variant": variant, "triples": args.n, **result,
           "real_data_baseline": real}
    for mech, key in (("shape", "digit"), ("texture", "texture"), ("background", "background")):
        value = result[f"{mech}_fidelity"]
        out[f"{mech}_ratio_vs_real"] = None if value is None else round(value / real[key], 3)
    out["mask_area_gap"] = round(abs(result["mask_area_mean"] - result["real_mask_area_mean"]), 4)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
