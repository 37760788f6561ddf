"""Texture Stylizer quality at the default settings (one JSON line on stdout).

Photos of four kinds x texture classes x seeds, each stylized with ``StylizeSettings()`` (only the
size, texture class and seeds set); each result is scored with cgn_art.stylize.quality:

- content: SSIM of the result's grey image to the photo's (target >= 0.45);
- texture: the share of crops of the result that the texture judge (grey, contrast-normalised,
  trained on real texture crops only) names as the chosen class (target >= 0.7); the result is
  resized so its texture is at the judge's scale first;
- artefacts: spectral peaks at the stride periods 2/4/8 px above the photo's own (``spike_runs``),
  those among them whose ripple is visible, one 8-bit level or more (``streak_runs``: streaks,
  grids), and the border band against the strip inside it (``frame_runs``: a frame).

Photos: astronaut (portrait), china (landscape), brick (fine horizontal mortar lines), and a
2400 px WebP made from scikit-learn's flower (a large file through the upload path).
``--source real`` stylizes with real crops of the texture classes instead of the CGN's textures
(the stylizer's share of the job, apart from how good the CGN's textures are).

    python benchmarks/stylize_quality.py [--model letters] [--size 512] [--classes brick,gravel,coins]
        [--photos astronaut,china,brick,webp] [--seeds 0,1] [--source cgn|real] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PHOTOS = ("astronaut", "china", "brick", "webp")
# the judge knows the Letters textures at their native 64 px (and 4x); a texture tile of the result
# is judged as one native Letters tile whatever model painted it
JUDGE_NATIVE = 64
SHOWN = ("strength", "content_weight", "smoothness", "texture_scale", "steps", "levels", "colors")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_photo(name: str, folder: Path) -> Image.Image:
    from cgn_art.images import demo_photo, read_image

    if name == "brick":
        from skimage import data

        return Image.fromarray(data.brick()).convert("RGB")
    if name == "webp":
        path = folder / "flower-2400.webp"
        if not path.exists():
            flower = demo_photo("flower")
            flower.resize((2400, round(2400 * flower.height / flower.width)), Image.Resampling.LANCZOS).save(
                path, "WEBP", quality=90)
        return read_image(path)
    return demo_photo(name)


def real_texture(class_index: int, size: int, judge_scale: int, seed: int) -> Image.Image:
    """A real crop of the class, ``size`` px, showing what ``size`` px of a render ``judge_scale``
    x native would show."""
    from cgn_art.data import letters

    crop = letters.material_crops("texture", [class_index], size, np.random.default_rng([seed, 3]), judge_scale)[0]
    return Image.fromarray((crop * 255).round().astype(np.uint8))


def judged_class(judge, name: str) -> int:
    """The judge's class for a model's texture class, by name: the Letters CGN's classes are the
    judge's own; another model's are matched by the judge class named in them ("orange brick" ->
    brick), so any CGN with brick, gravel or coins among its textures can be scored."""
    names = list(judge.class_names)
    if name in names:
        return names.index(name)
    found = [i for i, n in enumerate(names) if n in name.split() or f" {n}" in f" {name}"]
    if not found:
        raise SystemExit(f"texture class {name!r} is none of the judge's classes ({', '.join(names)})")
    return found[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="letters", help="model name or folder (default: letters)")
    parser.add_argument("--size", type=int, default=None, help="default: StylizeSettings().size")
    parser.add_argument("--classes", default="brick,gravel,coins")
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--source", choices=("cgn", "real"), default="cgn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder for the result PNGs (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="change a StylizeSettings field from its default (to compare candidates)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import cgn_art
    from cgn_art.cli.common import resolve_class
    from cgn_art.stylize import StylizeSettings, stylize
    from cgn_art.stylize.quality import BORDER_LIMIT, PEAK_LIMIT, artefacts, content_ssim, texture_judge, texture_share
    from cgn_art.stylize.textures import tile_size

    model = cgn_art.load_model(args.model, device="cpu")
    changes = {}
    for item in args.set:
        key, _, value = item.partition("=")
        changes[key] = json.loads(value) if value[:1] in "-0123456789tfn[" else value
    defaults = StylizeSettings(**changes)
    size = args.size or defaults.size
    classes = [resolve_class(model, "texture", c) for c in args.classes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="stylize-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()

    rows = []
    for photo_name in args.photos.split(","):
        photo = load_photo(photo_name, out)
        for c in classes:
            for seed in seeds:
                settings = defaults.replace(size=size, texture_class=c, texture_seed=seed, seed=seed, device="cpu")
                from cgn_art.stylize.optimize import working_size

                h, w = working_size(photo, size)
                tile = tile_size(settings, h, w)
                judge = texture_judge("letters", tile=tile, native=JUDGE_NATIVE)
                target = judged_class(judge, model.class_names["texture"][c])
                texture_image = real_texture(target, tile, judge.scale, seed) if args.source == "real" else None
                result = stylize(photo, settings, model=model, texture_image=texture_image)
                name = f"{photo_name}-{model.class_names['texture'][c].replace(' ', '_')}-s{seed}"
                result.image.save(out / f"{name}.png")
                checks = artefacts(result.image, photo)
                row = {"photo": photo_name, "class": model.class_names["texture"][c], "seed": seed,
                       "ssim": round(content_ssim(result.image, photo), 4),
                       "texture": round(texture_share(result.tensor, target, tile, JUDGE_NATIVE, judge), 3),
                       "untouched_texture": round(texture_share(
                           torch.from_numpy(np.asarray(photo.resize(result.image.size), np.float32) / 255)
                           .permute(2, 0, 1)[None], target, tile, JUDGE_NATIVE, judge), 3),
                       **checks, "seconds": round(result.seconds, 1)}
                rows.append(row)
                say(json.dumps(row))

    ssim = [r["ssim"] for r in rows]
    texture = [r["texture"] for r in rows]
    figures = {
        "model": str(args.model), "model_name": model.name, "source": args.source, "size": size,
        "settings": {k: v for k, v in defaults.to_dict().items() if k in SHOWN},
        "photos": args.photos.split(","), "classes": [model.class_names["texture"][c] for c in classes], "seeds": seeds,
        "runs": len(rows), "judge": type(judge).__module__ + "." + type(judge).__name__,
        "judge_scale": judge.scale, "judge_real_accuracy": getattr(judge, "real_accuracy", None),
        "ssim_mean": round(float(np.mean(ssim)), 4), "ssim_min": round(float(np.min(ssim)), 4),
        "ssim_pass": float(np.mean(ssim)) >= 0.45,
        "texture_share": round(float(np.mean(texture)), 3), "texture_pass": float(np.mean(texture)) >= 0.7,
        "untouched_texture_share": round(float(np.mean([r["untouched_texture"] for r in rows])), 3),
        "streak_runs": sum(r["streaks"] for r in rows), "spike_runs": sum(r["spikes"] for r in rows),
        "frame_runs": sum(r["frame"] for r in rows),
        "worst_peak": max(r["worst_peak"] for r in rows), "peak_limit": PEAK_LIMIT,
        "worst_spike_amplitude_levels": max([max(r["stride_amplitudes"][k] for k, v in r["stride_peaks"].items()
                                                 if v > PEAK_LIMIT) for r in rows if r["spikes"]] or [0.0]),
        "worst_border": max(r["border"] for r in rows), "border_limit": BORDER_LIMIT,
        "per_photo_ssim": {p: round(float(np.mean([r["ssim"] for r in rows if r["photo"] == p])), 4)
                           for p in args.photos.split(",")},
        "per_class_texture": {n: round(float(np.mean([r["texture"] for r in rows if r["class"] == n])), 3)
                              for n in {r["class"] for r in rows}},
        "mean_seconds": round(float(np.mean([r["seconds"] for r in rows])), 1), "threads": torch.get_num_threads(),
        "total_seconds": round(time.perf_counter() - began, 1), "images": str(out),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
