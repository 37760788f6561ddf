"""Metrics that can see texture, for every shipped model (or --model FOLDER): one JSON line.

Per model (see cgn_art/evaluate/ for the definitions): shape fidelity by a judge trained on
shapes the CGN never saw, mask binary share, texture / background structure fidelity (grey,
contrast-normalised crops; per render scale), colour fidelity (RGB crops, a separate figure),
detail at the 512 px render (ratio to a real reference) and diversity (ratio to real crops).
Real-data baselines are measured in the same process: each judge's accuracy on held-out real data
and its chance level, and the same metrics on real data dressed as a model
(``fidelity.RealDataModel``: real crops at the render scale), which should read about 1 / the
judge's real accuracy. Judges are trained on first use (about a minute each) and cached under
$CGN_ART_CACHE/judges (default ~/.cache/cgn-art/judges).

    python benchmarks/texture_quality.py [--model wildlife --model FOLDER ...] [--n 300] [--seed 0]
"""
import argparse
import json
import time

import torch

from cgn_art import evaluate as fidelity
from cgn_art.evaluate.cache import RECIPE_VERSION
from cgn_art.mechanisms.weights import load_model, shipped_models


def _round(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="shipped model name or model folder (repeatable; "
                                                          "default: every shipped model)")
    parser.add_argument("--n", type=int, default=300, help="counterfactual triples per judge")
    parser.add_argument("--detail-n", type=int, default=24)
    parser.add_argument("--diversity-seeds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-real", action="store_true", help="skip the metrics on real data")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    names = args.model or list(shipped_models())
    start = time.perf_counter()
    out = {"benchmark": "texture_quality", "triples": args.n, "seed": args.seed,
           "recipe_version": RECIPE_VERSION, "models": {}, "real_data": {}}
    options = {"n": args.n, "detail_n": args.detail_n, "diversity_seeds": args.diversity_seeds, "seed": args.seed}
    for name in names:
        model = load_model(name, device="cpu")
        family = model.config.variant
        t = time.perf_counter()
        figures = fidelity.texture_quality(model, family, **options)
        figures["seconds"] = time.perf_counter() - t
        out["models"][str(name)] = figures
        if not args.no_real and family not in out["real_data"]:
            real = fidelity.texture_quality(fidelity.RealDataModel(family), family, shape=False, **options)
            real.pop("baselines")
            out["real_data"][family] = real
    out["seconds"] = time.perf_counter() - start
    print(json.dumps(_round(out)))


if __name__ == "__main__":
    main()
