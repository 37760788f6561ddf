"""Texture Stylizer speed and quality, and the texture walk (one JSON line).

- Stylize a 512x512 photo (scikit-image's astronaut) with default settings (coarse-to-fine:
  1/2 size, full size; L-BFGS; the random encoder). Baseline in the same process
  (``--baseline gatys``, the default): Gatys' single scale, the same encoder, loss weights and
  texture, L-BFGS for 300 steps at full size. Both results are measured the same way at full size:
  style loss (the Gram loss the optimisation minimises, unweighted), content loss, and SSIM to the
  photo. ``speedup`` = baseline seconds / default seconds; ``style_ratio`` = default / baseline
  style loss. ``--baseline autograd``: the same defaults with the gradient taken by autograd
  through the same losses (the code before the gradient was written out), run right after the
  defaults: ``speedup`` is then that change's alone, and ``max_abs_difference`` between the two
  results shows they are the same optimisation. Wall seconds on a shared machine follow its load,
  so CPU seconds and the load average (before and after each run) are printed beside them.
- Texture walk: 4 s at 12 fps (48 frames), 256 px, class 0 -> class 5, warm-started frames:
  total seconds. Then a 1 s walk (12 frames) on the same path twice, warm-started and with every
  frame started from the photo instead: mean absolute frame-to-frame change of each (0-1 scale).

- ``--large 1024``: the same photo at 1024 px at the defaults (``large_seconds``; the issue's bar is
  4 minutes), and ``--two-regions``: the 512 px photo with subject and background each getting a
  texture class (two stylizations and GrabCut: ``two_regions_seconds``).

    python benchmarks/stylize_speed.py [--size 512] [--baseline gatys|autograd|none] [--baseline-steps 300]
        [--threads 2] [--skip-walk] [--skip-baseline] [--large 1024] [--two-regions] [--model wildlife]

Takes about 10 minutes on a quiet 2-core CPU (the baseline alone is most of it).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    def to_np(t):
        return t[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    return float(structural_similarity(to_np(a), to_np(b), channel_axis=2, data_range=1.0))


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def say(message: str) -> None:
    """Where the benchmark is, on stderr (stdout carries only the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--baseline-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texture-class", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-walk", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true", help="the same as --baseline none")
    parser.add_argument("--baseline", choices=("gatys", "autograd", "none"), default="gatys")
    parser.add_argument("--large", type=int, default=0, help="also time this size at the defaults (e.g. 1024)")
    parser.add_argument("--two-regions", action="store_true")
    parser.add_argument("--model", default="wildlife")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import cgn_art
    from cgn_art.images import demo_photo
    from cgn_art.stylize import StylizeSettings, stylize
    from cgn_art.stylize.optimize import make_stylize_encoder
    from cgn_art.stylize.textures import pil_to_tensor
    from cgn_art.stylize.walk import WalkSettings, texture_walk

    model = cgn_art.load_model(args.model, device=args.device)
    photo = demo_photo("astronaut").resize((args.size, args.size))
    photo_tensor = pil_to_tensor(photo)
    settings = StylizeSettings(size=args.size, texture_class=args.texture_class, device=args.device)
    make_stylize_encoder(settings.encoder, torch.device(args.device))  # built once, outside the timings
    stylize(photo.resize((64, 64)), settings.replace(size=64, steps=1), model=model)  # warm-up

    say("default settings...")
    load_before = load()
    cpu = time.process_time()
    default = stylize(photo, settings, model=model)
    default_cpu = time.process_time() - cpu  # on a shared machine wall time counts the others' work too
    say(f"default: {default.seconds:.1f} s, {default_cpu:.1f} CPU-s, load {load()}")
    figures = {
        "model": model.name, "size": args.size, "threads": torch.get_num_threads(), "device": args.device,
        "default_seconds": round(default.seconds, 2), "default_cpu_seconds": round(default_cpu, 2),
        "load_average": load_before, "load_average_after": load(), "default_steps": default.steps,
        "default_ssim": round(ssim(default.tensor, photo_tensor), 4),
        "settings": {k: v for k, v in settings.to_dict().items() if k in ("steps", "levels", "texture_scale")},
    }
    if args.baseline == "autograd" and not args.skip_baseline:
        from cgn_art.stylize import optimize

        say("the same defaults, gradient by autograd...")
        optimize.WRITTEN_OUT_GRADIENT = False
        load_before, cpu = load(), time.process_time()
        try:
            autograd = stylize(photo, settings, model=model)
        finally:
            optimize.WRITTEN_OUT_GRADIENT = True
        autograd_cpu = time.process_time() - cpu
        figures.update(baseline="autograd", baseline_seconds=round(autograd.seconds, 2),
                       baseline_cpu_seconds=round(autograd_cpu, 2),
                       baseline_load_average=load_before, baseline_load_average_after=load(),
                       speedup=round(autograd.seconds / default.seconds, 3),
                       cpu_speedup=round(autograd_cpu / default_cpu, 3),
                       max_abs_difference=float((autograd.tensor - default.tensor).abs().max()))
        say(f"autograd: {autograd.seconds:.1f} s, {autograd_cpu:.1f} CPU-s, load {load()}")
    if args.large:
        say(f"{args.large} px at the defaults...")
        load_before = load()
        cpu = time.process_time()
        large = stylize(photo.resize((args.large, args.large), Image.Resampling.LANCZOS),
                        settings.replace(size=args.large), model=model)
        figures.update(large_size=args.large, large_seconds=round(large.seconds, 2),
                       large_cpu_seconds=round(time.process_time() - cpu, 2), large_steps=large.steps,
                       large_load_average=load_before, large_load_average_after=load())
        say(f"{args.large} px: {large.seconds:.1f} s")
    if args.two_regions:
        two = stylize(photo, settings.replace(regions="two", background_texture_class=(args.texture_class + 1)
                                              % model.num_classes("texture")), model=model)
        figures.update(two_regions_seconds=round(two.seconds, 2))
        say(f"two regions: {two.seconds:.1f} s")
    out = Path(tempfile.mkdtemp(prefix="stylize-bench-"))
    default.image.save(out / "default.png")
    figures["images"] = str(out)
    if args.skip_baseline or args.baseline != "gatys":
        print(json.dumps(figures))
        return
    say(f"baseline ({args.baseline_steps} L-BFGS steps at full size)...")
    baseline = stylize(photo, settings.replace(levels=1, steps=args.baseline_steps), model=model)
    say(f"baseline: {baseline.seconds:.1f} s")
    figures.update({
        "baseline_seconds": round(baseline.seconds, 2), "baseline_steps": baseline.steps,
        "speedup": round(baseline.seconds / default.seconds, 2),
        "default_style_loss": default.style_loss, "baseline_style_loss": baseline.style_loss,
        "style_ratio": round(default.style_loss / baseline.style_loss, 3),
        "default_content_loss": round(default.content_loss, 5),
        "baseline_content_loss": round(baseline.content_loss, 5),
        "baseline_ssim": round(ssim(baseline.tensor, photo_tensor), 4),
    })
    baseline.image.save(out / "baseline.png")

    if not args.skip_walk:
        walk_settings = StylizeSettings(size=256, texture_class=0, device=args.device)
        walk = WalkSettings(seconds=4, fps=12, path="class", to_class=5)
        say("texture walk, 48 frames...")
        summary = texture_walk(photo, out / "walk.mp4", walk_settings, walk, model=model)
        say(f"walk: {summary['seconds']:.1f} s; 12-frame walks, warm and cold...")
        figures.update(walk_frames=summary["frames"], walk_seconds=round(summary["seconds"], 1),
                       walk_mean_change=round(summary["mean_frame_change"], 5))
        short = WalkSettings(seconds=1, fps=12, path="class", to_class=5)
        warm = texture_walk(photo, out / "warm.mp4", walk_settings, short, model=model)
        cold = texture_walk(photo, out / "cold.mp4", walk_settings,
                            WalkSettings(**{**short.to_dict(), "warm_start": False}), model=model)
        figures.update(change_warm=round(warm["mean_frame_change"], 5), change_cold=round(cold["mean_frame_change"], 5),
                       change_ratio_cold_over_warm=round(cold["mean_frame_change"] / warm["mean_frame_change"], 2),
                       cold_walk_seconds=round(cold["seconds"], 1), warm_walk_seconds=round(warm["seconds"], 1))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
