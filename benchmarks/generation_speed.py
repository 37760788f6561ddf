"""Generation speed of a small CGN on the current device (one JSON line).

- counterfactuals per second at the native size, batch 64; baseline in the same process: one at a
  time (batch 1), so ``batch_speedup`` is what batching buys;
- milliseconds per 512 px render (resolution-independent: mask upsampled as logits, texture
  field grown); baseline in the same process: rendering at native size and bilinearly upsampling
  the finished composite (fast but blurry), so ``render_512_vs_naive`` is the price of crispness.

    python benchmarks/generation_speed.py [--model wildlife] [--device auto]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from cgn_art.mechanisms.weights import load_model


def timed(fn, repeats):
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wildlife")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    model = load_model(args.model, device=args.device)
    n = 64
    classes = [i % 10 for i in range(n)]
    backgrounds = [i % model.num_classes("background") for i in range(n)]
    seeds = list(range(n))
    batch = timed(lambda: model.counterfactual(classes, classes[::-1], backgrounds, seed=seeds), 20)
    single = timed(lambda: model.counterfactual(3, 5, 0, seed=1), 100)
    render = timed(lambda: model.counterfactual(3, 5, 0, seed=1, size=512), 30)

    def naive():
        cf = model.counterfactual(3, 5, 0, seed=1)
        return F.interpolate(cf.composite, size=(512, 512), mode="bilinear", align_corners=False)

    naive_ms = timed(naive, 30) * 1000
    print(json.dumps({
        "benchmark": "generation_speed", "model": args.model, "device": str(model.device),
        "threads": torch.get_num_threads(), "native_size": model.native_size,
        "counterfactuals_per_s_batch64": round(n / batch, 1),
        "counterfactuals_per_s_batch1": round(1 / single, 1),
        "batch_speedup": round(single * n / batch, 2),
        "render_512_ms": round(render * 1000, 2),
        "naive_upsample_512_ms": round(naive_ms, 2),
        "render_512_vs_naive": round(render * 1000 / naive_ms, 2),
    }))


if __name__ == "__main__":
    main()
