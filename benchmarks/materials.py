"""Materials: crisp at poster size, no repetition, new for every seed, your own from photos, speed (one JSON line).

Every figure is measured for the materials of the shipped Letters CGN (or --model) and, in the same
process, for today's baseline: each class's one quilt shown as the exemplar field showed it before
materials (a window of the quilt's torus, stretched to the size asked; ``LegacyField`` below).

- crisp: fine structure (mean |Laplacian| of the grey picture, ``cgn_art.evaluate.materials``) of
  the background of a 1920x1080 poster and of a 1080 px lyric-video frame, and of the letters'
  texture on the poster, each over the same class's 256 px Mixer render (its native scale: one
  material pixel per pixel). Per class; the worst class beside the mean. Bar: >= 0.8.
- named: the structure judge (trained on real crops only, ``cgn_art.evaluate.judges``) votes over
  16 random 64 px crops of each crisp 1024 px picture; the share of pictures named right. Bar >= 0.8.
- repetition: the largest normalised autocorrelation at any shift >= 64 px of a crisp 2048 px
  picture. Bar <= 0.5; the baseline tiles the 256 px quilt (about 1.0 at shift 256).
- diversity / structure: as ``cgn_art.evaluate.metrics`` (random-encoder feature spread of 6+
  seeds per class over real crops'; the structure judge's accuracy on 300 triples at 256 px), per
  class. Bars: diversity >= 0.85 for every class, structure >= 0.80.
- yours: a texture class made from 3 photos that do not ship (cobbles drawn here); seconds to add
  on the CPU and draw its first picture (bar <= 30 s), and the share of its generated 64 px crops
  that a judge trained on real crops of those photos against the other classes names as it (bar
  >= 0.8), beside the share of the gravel class's generated crops it names so (should be near 0).
- speed: a 512 px Mixer render (new seeds each time; bar <= 0.3 s) and a 1080x1350 poster with a
  texture per letter (bar <= 1.5 s), cold (no painted tile kept from before) and warm (a session
  that has drawn the classes before: the places of every seed lie in a few cached tiles), beside
  the baseline's Mixer render. Lyric video and dance speed: benchmarks/lyric_video_speed.py and
  benchmarks/dance_speed.py.

    python benchmarks/materials.py [--model letters] [--quick]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

from cgn_art.evaluate import judges as J
from cgn_art.evaluate import metrics as M
from cgn_art.evaluate.materials import fine_structure, repetition
from cgn_art.mechanisms.weights import load_model


class LegacyField(torch.nn.Module):
    """The exemplar field before materials: one quilt per class, a window of its torus chosen by the
    noise, blended linearly between classes, stretched (bilinear) or shrunk to the size asked."""

    def __init__(self, field):
        super().__init__()
        self.exemplars, self.side = field.exemplars, field.side

    def noise_shape(self) -> tuple[int, ...]:
        return (2,)

    def forward(self, class_weights, noise, size):
        mix = torch.einsum("nc,cxyz->nxyz", class_weights.float(), self.exemplars.float() / 255)
        shifts = ((torch.special.ndtr(noise[:, :2].float()) * self.side).round().long() % self.side).tolist()
        field = torch.stack([torch.roll(m, (-dy, -dx), dims=(1, 2)) for m, (dy, dx) in zip(mix, shifts)])
        if size == self.side:
            return field
        mode = {"mode": "area"} if size < self.side else {"mode": "bilinear", "align_corners": False}
        return F.interpolate(field, size=(size, size), **mode)


def legacy(model):
    """A copy of ``model`` whose texture and background are :class:`LegacyField` (shape untouched)."""
    copy = load_model(model.name, device="cpu")
    copy.texture, copy.background = LegacyField(model.texture), LegacyField(model.background)
    return copy


def summary(values: dict) -> dict:
    numbers = [v for v in values.values() if v is not None and not math.isnan(v)]
    worst = min(values, key=lambda k: values[k]) if numbers else None
    return {"mean": round(float(np.mean(numbers)), 3), "worst": round(float(min(numbers)), 3), "worst_class": worst,
            "by_class": {k: round(float(v), 3) for k, v in values.items()}}


def _erode(mask: torch.Tensor, px: int) -> torch.Tensor:
    return -F.max_pool2d(-mask, 2 * px + 1, stride=1, padding=px)


def native_detail(model, kind: str, c: int, seeds=range(4)) -> float:
    """Fine structure of class ``c``'s part in 256 px Mixer renders (its native scale)."""
    column = {"texture": "foreground", "background": "background"}[kind]
    chosen = {"shape": 0, "texture": 0, "background": 0, kind: c}
    cf = model.counterfactual(**chosen, seed=list(seeds), size=4 * model.native_size)
    return fine_structure(getattr(cf, column))


def poster_detail(model, kind: str, c: int, seed: int = 0, legacy_model=None) -> float:
    """Fine structure of the background (or the letters' texture) of a 1920x1080 poster of class c."""
    from cgn_art.typeset.render import render_poster
    from cgn_art.typeset.settings import TypeSettings

    options = {"backgrounds": [c]} if kind == "background" else {"textures": [c]}
    settings = TypeSettings(text="MATERIAL WORLD", format="landscape", seed=seed, **options)
    poster = render_poster(model, settings)
    image = torch.from_numpy(np.asarray(poster.image, np.float32) / 255).permute(2, 0, 1)[None]
    mask = poster.mask[None]
    region = _erode((mask < 0.01).float(), 3) if kind == "background" else _erode((mask > 0.99).float(), 3)
    if legacy_model is not None:  # before materials: the 256 px painting stretched over the poster
        width, height = 1920, 1080
        field = getattr(legacy_model, kind)
        noise = model.noise(kind, [seed], settings.truncation, 1)
        canvas = field(model.one_hot(kind, [c]), noise, 256)
        if kind == "background":
            image = F.interpolate(canvas, size=(width, width), mode="bilinear", align_corners=False)[..., :height, :]
        else:  # each letter box showed the quilt once (one tile per letter box)
            period = float(np.median([g.side for g in poster.layout.glyphs]))
            image = F.interpolate(canvas, scale_factor=period / 256, mode="bilinear", align_corners=False)
            image = image.repeat(1, 1, math.ceil(height / image.shape[-2]), math.ceil(width / image.shape[-1]))
            image = image[..., :height, :width]
    return _region_detail(image, region)


def _region_detail(image: torch.Tensor, region: torch.Tensor) -> float:
    grey = (image * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
    lap = F.conv2d(grey, kernel, padding=1).abs()
    return float((lap * region).sum() / region.sum().clamp_min(1))


def lyric_detail(model, song: Path, classes: list[int], size: int = 1080) -> dict:
    """Fine structure of the background of a ``size`` px lyric-video frame, per background class."""
    from cgn_art.audio import analyse_file
    from cgn_art.dance.choreography import choreograph
    from cgn_art.dance.lyric_video import prepare_lyrics
    from cgn_art.dance.renderer import class_counts
    from cgn_art.dance.settings import DanceSettings
    from cgn_art.lyrics import parse_lyrics

    out = {}
    for c in classes:
        settings = DanceSettings.from_preset("groove", size=size, duration=4.0)
        settings.background.classes, settings.background.classes_by = [c], "fixed"
        settings = settings.validate()
        features = analyse_file(song, settings.start, settings.duration)
        choreography = choreograph(features, settings, class_counts(model), model.presets)
        _, renderer, _ = prepare_lyrics(model, song, features, choreography, settings, parse_lyrics("[00:00.00]HI"))
        frame = renderer.frames(24, 25)
        mask = renderer._masks(24, 25)
        out[model.class_names["background"][c]] = _region_detail(frame, _erode((mask < 0.01).float(), 3))
    return out


def crisp_pictures(model, kind: str, c: int, size: int, seeds) -> torch.Tensor:
    field = getattr(model, kind)
    return torch.cat([field.paint(model.one_hot(kind, [c]), model.noise(kind, [s], 1.0, 1), size, size, 1.0)
                      for s in seeds])


def named_share(judge, pictures: torch.Tensor, c: int, rng) -> float:
    """Share of pictures whose 16 random judge-sized crops vote for class ``c``."""
    right = 0
    for picture in pictures:
        crops = M._random_crops(picture[None].expand(16, -1, -1, -1), judge.crop, rng)
        votes = torch.bincount(judge.classify(crops), minlength=len(judge.class_names))
        right += int(votes.argmax()) == c
    return right / len(pictures)


def per_class_diversity(model, kind: str, seeds: int, seed: int = 0) -> dict:
    spec = J.family_spec("letters")
    scale, crop = spec.structure[0]
    column = {"texture": 1, "background": 2}[kind]
    counts = M._counts(model)
    classes = np.repeat(np.arange(counts[column]), seeds)
    triples = M.distinct_triples(len(classes), counts, seed + 2)
    triples[:, column] = classes
    images = M._render(model, triples, model.native_size * scale, seed * 100_000 + 70_000)[column]
    start = (images.shape[-1] - crop) // 2
    generated = M.diversity_features(images[:, :, start: start + crop, start: start + crop])
    real = M.diversity_features(J._tensor(J.real_crops("letters", kind, classes, crop, scale,
                                                       np.random.default_rng([seed, 24]))))
    std = real.std(0).clamp_min(1e-3)
    names = model.class_names[kind]
    out = {}
    for c in range(counts[column]):
        pick = classes == c
        out[names[c]] = (M.mean_pairwise_distance(generated[pick], classes[pick], std)
                         / M.mean_pairwise_distance(real[pick], classes[pick], std))
    return out


def per_class_structure(model, kind: str, n: int = 300, seed: int = 0) -> dict:
    judge = J.structure_judge("letters", kind, *J.family_spec("letters").structure[0])
    column = {"texture": 1, "background": 2}[kind]
    triples = M.distinct_triples(n, M._counts(model), seed)
    images = M._render(model, triples, model.native_size * judge.scale, seed * 100_000)[column]
    predicted = judge.classify(M._random_crops(images, judge.crop, np.random.default_rng([seed, 22]))).numpy()
    labels = triples[:, column]
    names = model.class_names[kind]
    return {names[c]: float((predicted[labels == c] == c).mean()) for c in range(len(names))}


# Photos that do not ship -------------------------------------------------------------------------

def cobbles(seed: int, size=(640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    image = Image.new("RGB", size, (70, 62, 55))
    draw = ImageDraw.Draw(image)
    for _ in range(260):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(14, 30)
        tone = rng.integers(120, 200)
        draw.ellipse((x - r, y - r * 0.8, x + r, y + r * 0.8), fill=(int(tone), int(tone * 0.93), int(tone * 0.85)))
    grain = rng.normal(0, 10, (h, w, 1))
    return Image.fromarray(np.clip(np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), np.float32) + grain,
                                   0, 255).astype(np.uint8))


def photo_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def yours(model_name: str, rng) -> dict:
    """Add a texture made from three cobble photos; time it and judge its crops."""
    import os

    from cgn_art.materials import store

    photos = [cobbles(i) for i in range(3)]
    with tempfile.TemporaryDirectory() as folder:
        old = os.environ.get(store.ENV)
        os.environ[store.ENV] = folder
        try:
            start = time.perf_counter()
            store.add_material(model_name, "texture", "cobbles", [photo_bytes(p) for p in photos])
            model = load_model("my-" + Path(model_name).name, device="cpu")
            c = len(model.class_names["texture"]) - 1
            model.counterfactual(0, c, 0, seed=0, size=256)  # ready to render: the first picture drawn
            seconds = time.perf_counter() - start
        finally:
            if old is None:
                os.environ.pop(store.ENV, None)
            else:
                os.environ[store.ENV] = old
        # A judge of real crops: the three photos (their own pixels) against the other classes' real crops.
        crop, per_class = 64, 200
        names = model.class_names["texture"]
        labels = np.repeat(np.arange(len(names)), per_class)
        own = [np.asarray(p, np.float32) / 255 for p in photos]
        others = J.real_crops("letters", "texture", labels[labels < c], crop, 4, np.random.default_rng([0, 11]))
        mine = np.stack([_crop(own[int(rng.integers(3))], crop, rng) for _ in range(per_class)])
        x = J.grey_normalise(J.as_picture(J._tensor(np.concatenate([others, mine]))))
        net = J.PatternNet(1, len(names))
        J._fit_pattern_net(net, x, torch.from_numpy(labels), 0, 400)
        judge = J.Judge(net, "letters", "texture", "structure", 4, crop, names, 0.0, {})
        real_check = np.stack([_crop(own[int(rng.integers(3))], crop, rng) for _ in range(60)])
        real_accuracy = judge.accuracy(J._tensor(real_check), np.full(60, c))
        pictures = crisp_pictures(model, "texture", c, 256, range(20))
        crops = M._random_crops(pictures, crop, rng)
        generated = judge.accuracy(crops, np.full(len(crops), c))
        # the failure the judge must catch: another class's pictures are not the photos' material
        other = M._random_crops(crisp_pictures(model, "texture", 2, 256, range(20)), crop, rng)
        false = float((judge.classify(other) == c).float().mean())
    return {"seconds_to_add": round(seconds, 2), "judge_names_generated": round(generated, 3),
            "judge_names_real_photos": round(real_accuracy, 3), "judge_names_gravel_as_it": round(false, 3)}


def _crop(picture: np.ndarray, size: int, rng) -> np.ndarray:
    y, x = rng.integers(0, picture.shape[0] - size), rng.integers(0, picture.shape[1] - size)
    return picture[y: y + size, x: x + size]


def timed(work, repeats: int = 5, before=None) -> float:
    """Median seconds of ``work(i)`` after one warm-up call; ``before()`` runs untimed before each."""
    work(0)
    times = []
    for i in range(1, repeats + 1):
        if before:
            before()
        start = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def forget_pictures(model):
    """Empty the fields' caches of painted tiles (not of prepared materials): a cold render."""
    def clear():
        for kind in ("texture", "background"):
            getattr(getattr(model, kind), "_tiles", {}).clear()
    return clear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="letters")
    parser.add_argument("--quick", action="store_true", help="fewer seeds and classes (a smoke run, not the figures)")
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    model = load_model(args.model, device="cpu")
    before = legacy(model)
    kinds = ("texture", "background")
    classes = {k: range(min(2, model.num_classes(k))) if args.quick else range(model.num_classes(k)) for k in kinds}
    out: dict = {"benchmark": "materials", "model": args.model, "machine": f"{torch.get_num_threads()} threads, CPU"}

    # Crisp at poster size -------------------------------------------------------------------------
    crisp, crisp_before = {}, {}
    for kind in kinds:
        native = {c: native_detail(model, kind, c) for c in classes[kind]}
        names = model.class_names[kind]
        crisp[f"poster_{kind}"] = summary({names[c]: poster_detail(model, kind, c) / native[c] for c in classes[kind]})
        crisp_before[f"poster_{kind}"] = summary({names[c]: poster_detail(model, kind, c, legacy_model=before)
                                                  / native_detail(before, kind, c) for c in classes[kind]})
    from cgn_art.audio.demo_song import SHIPPED as song

    lyric = lyric_detail(model, song, list(classes["background"]))
    native = {model.class_names["background"][c]: native_detail(model, "background", c) for c in classes["background"]}
    crisp["lyric_1080_background"] = summary({k: v / native[k] for k, v in lyric.items()})
    out["crisp"] = crisp
    out["crisp_baseline"] = crisp_before

    # Named at 1024 px, no repetition at 2048 px ------------------------------------------------------
    named, repeats, repeats_before = {}, {}, {}
    for kind in kinds:
        judge = J.structure_judge("letters", kind, *J.family_spec("letters").structure[0])
        names = model.class_names[kind]
        named[kind] = summary({names[c]: named_share(judge, crisp_pictures(model, kind, c, 1024,
                                                                           range(4 if args.quick else 10)), c, rng)
                               for c in classes[kind]})
        repeats[kind] = {names[c]: repetition(crisp_pictures(model, kind, c, 2048, [7])) for c in classes[kind]}
        tile = getattr(model, kind).exemplars
        repeats_before[kind] = {names[c]: repetition(tile[c: c + 1].float().div(255).repeat(1, 1, 8, 8))
                                for c in classes[kind]}
    out["named_1024"] = named
    out["repetition_2048"] = {k: {"max": round(max(v.values()), 3), "worst_class": max(v, key=v.get)}
                              for k, v in repeats.items()}
    out["repetition_2048_baseline"] = {k: round(min(v.values()), 3) for k, v in repeats_before.items()}

    # Diversity and structure, against the baseline -------------------------------------------------
    seeds = 3 if args.quick else 8
    for label, m in (("materials", model), ("baseline", before)):
        out[f"diversity_{label}"] = {k: summary(per_class_diversity(m, k, seeds)) for k in kinds}
        out[f"structure_{label}"] = {k: summary(per_class_structure(m, k, 100 if args.quick else 300)) for k in kinds}

    # Your own ------------------------------------------------------------------------------------
    out["yours"] = yours(args.model, rng)

    # Speed -----------------------------------------------------------------------------------------
    from cgn_art.typeset.render import render_poster
    from cgn_art.typeset.settings import TypeSettings

    def mixer(m):
        return lambda i: m.counterfactual(3, 5, 1, seed=1000 + i, size=512)

    def poster(scale):
        return lambda i: render_poster(model, TypeSettings(text="COUNTER FACTUAL", format="portrait", seed=i,
                                                           texture_by="letter", material_scale=scale))

    cold = forget_pictures(model)
    speed = {"mixer_512_s": timed(mixer(model), before=cold), "mixer_512_warm_s": timed(mixer(model)),
             "mixer_512_baseline_s": timed(mixer(before)),
             "poster_1080x1350_s": timed(poster(0.0), 3, before=cold),
             "poster_1080x1350_warm_s": timed(poster(0.0), 3),
             "poster_relative_scale_s": timed(poster(1.0), 3, before=cold)}
    speed["mixer_ratio_to_baseline"] = speed["mixer_512_s"] / speed["mixer_512_baseline_s"]
    out["speed"] = {k: round(v, 3) for k, v in speed.items()}
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
