"""Texture Stylizer speed and quality, and the texture walk (one JSON line).

- Stylize a 512x512 photo (scikit-image's astronaut) with default settings (coarse-to-fine:
  1/2 size, full size; L-BFGS; the random encoder): wall and CPU seconds, SSIM to the photo.
- ``--baseline gatys`` (the default): the pyramid against Gatys' single scale (the same encoder,
  loss weights, texture and L-BFGS, full size only), on a grid of ``--photos`` x ``--classes`` x
  ``--seeds`` (default 3 x 3 x 2, at ``--grid-size`` 256 px). Every result is scored by an
  encoder the optimisation never saw (the random encoder with another seed; VGG19 too when its
  weights are cached): its Gram style loss against the same texture, and grey SSIM to the photo.
  One single-scale run per case (``--baseline-steps``, 300) gives both comparisons: **equal time**
  (the single-scale image when it had run as long as the pyramid took) and **equal quality** (how
  long single-scale took to reach the pyramid's held-out style loss, if it did). The snapshots are
  scored between steps and that time is not counted. The pyramid is also run without its detail
  injection (``DETAIL = 0``: the finer level starts from the plain upsampled image) to show what the
  injection buys and costs (held-out style loss, SSIM, the 2/4/8 px stride peaks, seconds).
  ``--baseline autograd``: the same defaults with the gradient taken by autograd through the same
  losses (the code before the gradient was written out), run right after the defaults: ``speedup``
  is then that change's alone, and ``max_abs_difference`` shows they are the same optimisation.
  Wall seconds on a shared machine follow its load, so CPU seconds and the load average are printed
  beside them.
- Texture walk: 4 s at 12 fps (48 frames), 256 px, class 0 -> class 5, warm-started frames:
  total seconds. Then a 1 s walk (12 frames) on the same path twice, warm-started and with every
  frame started from the photo instead: mean absolute frame-to-frame change of each (0-1 scale).

- ``--large 1024``: the same photo at 1024 px at the defaults (``large_seconds``; the issue's bar is
  4 minutes), and ``--two-regions``: the 512 px photo with subject and background each getting a
  texture class (two stylizations and GrabCut: ``two_regions_seconds``).

    python benchmarks/stylize_speed.py [--size 512] [--baseline gatys|autograd|none] [--baseline-steps 300]
        [--grid-size 256] [--photos astronaut,chelsea,coffee] [--classes 0,4,7] [--seeds 0,1]
        [--threads 2] [--skip-walk] [--skip-default] [--large 1024] [--two-regions] [--model letters]
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


def compare_with_gatys(args, model, out: Path) -> dict:
    """The pyramid (the defaults) against single-scale Gatys at equal time and equal quality, and the
    pyramid without its detail injection, on photos x texture classes x seeds; scored by encoders the
    optimisation never saw (see the module doc). Per case figures and a summary."""
    import statistics

    from cgn_art.features import make_encoder
    from cgn_art.images import demo_photo
    from cgn_art.stylize import StylizeSettings, optimize, stylize
    from cgn_art.stylize.optimize import measure, working_size
    from cgn_art.stylize.quality import artefacts, content_ssim
    from cgn_art.stylize.textures import make_texture, pil_to_tensor

    judges = {"random_seed_1": make_encoder("random", seed=1, device=args.device)}
    try:
        judges["vgg19"] = make_encoder("vgg19", device=args.device)
    except Exception as e:  # not cached: no download from a benchmark
        say(f"vgg19 not used: {str(e).splitlines()[0]}")

    judge = next(iter(judges))  # the one that decides "equal quality"

    def scores(image, texture, photo_t, settings, only=None) -> dict:
        with torch.no_grad():
            return {name: measure(encoder, image, texture, photo_t, settings)[0] for name, encoder in judges.items()
                    if only in (None, name)}

    cases = []
    for name in args.photos.split(","):
        photo = demo_photo(name).resize((args.grid_size, args.grid_size))
        for texture_class in (int(c) for c in args.classes.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                settings = StylizeSettings(size=args.grid_size, texture_class=texture_class, texture_seed=seed,
                                           seed=seed, device=args.device)
                height, width = working_size(photo, settings.size)
                texture = make_texture(settings, height, width, model=model)
                photo_t = pil_to_tensor(photo.resize((width, height), Image.Resampling.LANCZOS))
                case = {"photo": name, "texture_class": texture_class, "seed": seed}

                began = time.perf_counter()
                pyramid = stylize(photo, settings, texture=texture)
                pyramid_seconds = time.perf_counter() - began
                # Every result is scored as the 8-bit image a user gets (the snapshots below are too).
                pyramid_t = pil_to_tensor(pyramid.image)
                target = scores(pyramid_t, texture, photo_t, settings)
                case["pyramid"] = {"seconds": round(pyramid_seconds, 2), "steps": pyramid.steps,
                                   "own_style": round(pyramid.style_loss, 5),
                                   "held_out_style": {k: round(v, 5) for k, v in target.items()},
                                   "ssim": round(content_ssim(pyramid_t, photo_t), 4),
                                   "worst_peak": artefacts(pyramid_t, photo_t)["worst_peak"]}

                detail, optimize.DETAIL = optimize.DETAIL, 0.0
                try:
                    began = time.perf_counter()
                    plain = stylize(photo, settings, texture=texture)
                    plain_seconds = time.perf_counter() - began
                finally:
                    optimize.DETAIL = detail
                plain_t = pil_to_tensor(plain.image)
                case["pyramid_without_detail"] = {
                    "seconds": round(plain_seconds, 2),
                    "held_out_style": {k: round(v, 5) for k, v in scores(plain_t, texture, photo_t,
                                                                         settings).items()},
                    "ssim": round(content_ssim(plain_t, photo_t), 4),
                    "worst_peak": artefacts(plain_t, photo_t)["worst_peak"]}

                # Single scale: every step's image is scored (off the clock) by the first judge.
                clock = {"start": time.perf_counter(), "paused": 0.0, "steps": 0}
                seen = {"equal_time": None, "equal_quality": None}

                def snapshot(image, message, clock=clock, seen=seen, texture=texture, photo_t=photo_t,
                             settings=settings, target=target, limit=pyramid_seconds):
                    paused = time.perf_counter()
                    elapsed = paused - clock["start"] - clock["paused"]
                    clock["steps"] += 1
                    tensor = pil_to_tensor(image)
                    if elapsed <= limit:
                        seen["equal_time"] = (clock["steps"], elapsed, tensor)
                    if seen["equal_quality"] is None:
                        style = scores(tensor, texture, photo_t, settings, only=judge)[judge]
                        if style <= target[judge]:
                            seen["equal_quality"] = (clock["steps"], elapsed, tensor)
                    clock["paused"] += time.perf_counter() - paused

                single = stylize(photo, settings.replace(levels=1, steps=args.baseline_steps), texture=texture,
                                 preview=snapshot, preview_every=0.0)
                if seen["equal_time"] is None:  # not one step in the pyramid's time
                    seen["equal_time"] = (0, 0.0, pil_to_tensor(photo.resize((width, height))))
                steps, elapsed, image = seen["equal_time"]
                case["single_scale_equal_time"] = {
                    "steps": steps, "seconds": round(elapsed, 2),
                    "ran_out_of_steps": steps == sum(single.steps),  # --baseline-steps ended it before the time
                    "held_out_style": {k: round(v, 5) for k, v in scores(image, texture, photo_t, settings).items()},
                    "ssim": round(content_ssim(image, photo_t), 4)}
                reached = seen["equal_quality"]
                case["single_scale_equal_quality"] = (
                    {"reached": False, "steps": sum(single.steps)} if reached is None else
                    {"reached": True, "steps": reached[0], "seconds": round(reached[1], 2),
                     "ssim": round(content_ssim(reached[2], photo_t), 4)})
                say(f"{name} class {texture_class} seed {seed}: {json.dumps(case)}")
                cases.append(case)
                if name == args.photos.split(",")[0] and seed == int(args.seeds.split(",")[0]):
                    pyramid.image.save(out / f"grid-{name}-{texture_class}-pyramid.png")
                    to_pil_image(image).save(out / f"grid-{name}-{texture_class}-single-equal-time.png")

    def mean(values):
        values = list(values)
        return round(statistics.fmean(values), 4) if values else None

    def geomean(values):
        values = list(values)
        return float(f"{statistics.geometric_mean(values):.3g}") if values else None

    reached = [c for c in cases if c["single_scale_equal_quality"]["reached"]]
    summary = {
        "cases": len(cases), "judges": list(judges), "size": args.grid_size, "baseline_steps": args.baseline_steps,
        "pyramid_seconds": mean(c["pyramid"]["seconds"] for c in cases),
        # < 1: the pyramid's held-out style loss is lower than single scale's in the same time
        "equal_time_style_ratio": {j: geomean(c["pyramid"]["held_out_style"][j] /
                                              c["single_scale_equal_time"]["held_out_style"][j] for c in cases)
                                   for j in judges},
        "equal_time_pyramid_better": {j: sum(c["pyramid"]["held_out_style"][j] <
                                             c["single_scale_equal_time"]["held_out_style"][j] for c in cases)
                                      for j in judges},
        "equal_time_ssim": {"pyramid": mean(c["pyramid"]["ssim"] for c in cases),
                            "single_scale": mean(c["single_scale_equal_time"]["ssim"] for c in cases)},
        "equal_quality_reached": len(reached),
        # single-scale seconds to reach the pyramid's held-out style loss / the pyramid's seconds
        "equal_quality_speedup": geomean(c["single_scale_equal_quality"]["seconds"] / c["pyramid"]["seconds"]
                                         for c in reached),
        "equal_quality_ssim": {"pyramid": mean(c["pyramid"]["ssim"] for c in reached),
                               "single_scale": mean(c["single_scale_equal_quality"]["ssim"] for c in reached)},
        # the detail injection: > 1 means the held-out style loss is higher without it
        "without_detail_style_ratio": {j: geomean(c["pyramid_without_detail"]["held_out_style"][j] /
                                                  c["pyramid"]["held_out_style"][j] for c in cases) for j in judges},
        "ssim_with_and_without_detail": [mean(c["pyramid"]["ssim"] for c in cases),
                                         mean(c["pyramid_without_detail"]["ssim"] for c in cases)],
        "worst_peak_with_and_without_detail": [mean(c["pyramid"]["worst_peak"] for c in cases),
                                               mean(c["pyramid_without_detail"]["worst_peak"] for c in cases)],
        "seconds_with_and_without_detail": [mean(c["pyramid"]["seconds"] for c in cases),
                                            mean(c["pyramid_without_detail"]["seconds"] for c in cases)],
    }
    return {"summary": summary, "cases": cases}


def to_pil_image(tensor: torch.Tensor) -> Image.Image:
    from cgn_art.mechanisms.base import to_pil

    return to_pil(tensor[0].clamp(0, 1))


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
    parser.add_argument("--model", default="letters", help="model name or folder (default: the shipped default)")
    parser.add_argument("--grid-size", type=int, default=256, help="side of the pyramid vs single-scale grid")
    parser.add_argument("--photos", default="astronaut,chelsea,coffee")
    parser.add_argument("--classes", default="0,4,7", help="texture classes of the grid")
    parser.add_argument("--seeds", default="0,1", help="seeds of the grid (the texture's noise and the start)")
    parser.add_argument("--skip-default", action="store_true", help="leave out the 512 px default timing")
    args = parser.parse_args()
    if args.skip_default and args.baseline == "autograd" and not args.skip_baseline:
        parser.error("--baseline autograd compares against the default run: drop --skip-default")
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

    figures = {"model": model.name, "size": args.size, "threads": torch.get_num_threads(), "device": args.device,
               "settings": {k: v for k, v in settings.to_dict().items() if k in ("steps", "levels", "texture_scale")}}
    out = Path(tempfile.mkdtemp(prefix="stylize-bench-"))
    figures["images"] = str(out)
    if not args.skip_default:
        say("default settings...")
        load_before = load()
        cpu = time.process_time()
        default = stylize(photo, settings, model=model)
        default_cpu = time.process_time() - cpu  # on a shared machine wall time counts the others' work too
        say(f"default: {default.seconds:.1f} s, {default_cpu:.1f} CPU-s, load {load()}")
        figures.update({
            "default_seconds": round(default.seconds, 2), "default_cpu_seconds": round(default_cpu, 2),
            "load_average": load_before, "load_average_after": load(), "default_steps": default.steps,
            "default_ssim": round(ssim(default.tensor, photo_tensor), 4)})
        default.image.save(out / "default.png")
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
    if not (args.skip_baseline or args.baseline != "gatys"):
        figures["gatys"] = compare_with_gatys(args, model, out)
        say(f"grid: {json.dumps(figures['gatys']['summary'])}")

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
