"""Metrics that can see texture: structure fidelity, detail, diversity and shape fidelity on unseen
shapes, for every data family; :func:`texture_quality` runs them all. Each has a constructed failure
in tests/test_fidelity.py (:class:`RealDataModel` builds them), so it is shown that it can fail.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cgn_art.evaluate.judges import (
    FLAT_STD,
    Judge,
    _class_names,
    _tensor,
    family_spec,
    photo_crops,
    real_crops,
    shape_judge,
    structure_judge,
)
from cgn_art.mechanisms.base import Mechanisms

DETAIL_RENDER = 512
DETAIL_WAVELENGTH = 16  # px at the 512 px render
DETAIL_CROP = 128
DETAIL_CROPS = 4  # random crops per 512 px render (and real crops per sample)
# A seed no other code in cgn-art uses (the CGN trainer's encoder is seed 0, kernels (3, 5), 16 channels).
DIVERSITY_ENCODER = {"seed": 60221, "kernels": (3, 7), "channels": 16, "scales": 2}


# Detail and diversity ---------------------------------------------------------------------------

def detail_share(images: torch.Tensor, wavelength: float = DETAIL_WAVELENGTH) -> float:
    """Mean over crops (N, 3, H, W) of the share of the luminance's spectral energy (mean removed,
    Hann-windowed) at wavelengths under ``wavelength`` px, i.e. frequencies above 1/wavelength.
    A flat crop (luminance std under ``FLAT_STD``) counts as 0."""
    grey = (images.float().cpu() * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    h, w = grey.shape[-2:]
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None]
    power = torch.fft.fft2(grey * window).abs().pow(2)
    fy, fx = torch.fft.fftfreq(h)[:, None], torch.fft.fftfreq(w)[None]
    high = (fy ** 2 + fx ** 2).sqrt() > 1.0 / wavelength
    total = power.sum(dim=(1, 2))
    flat = grey.flatten(1).std(1) <= FLAT_STD
    share = torch.where(~flat & (total > 0), (power * high).sum(dim=(1, 2)) / total.clamp_min(1e-12),
                        torch.zeros_like(total))
    return float(share.mean())


_ENCODER = None


def diversity_features(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, D): channel means and stds of every map of a random encoder that no
    trainer uses (``DIVERSITY_ENCODER``), so the figure is not one the CGN optimised."""
    global _ENCODER
    if _ENCODER is None:
        from cgn_art.features import make_encoder

        _ENCODER = make_encoder("random", **DIVERSITY_ENCODER)
    with torch.no_grad():
        maps = _ENCODER(images.float().cpu())
    return torch.cat([torch.cat([m.mean(dim=(2, 3)), m.std(dim=(2, 3))], 1) for m in maps], 1)


def mean_pairwise_distance(features: torch.Tensor, labels, scale: torch.Tensor | None = None) -> float:
    """Mean over classes of the mean Euclidean distance between same-class rows of ``features``,
    each dimension divided by ``scale`` (e.g. the real features' std)."""
    if scale is not None:
        features = features / scale
    labels = np.asarray(labels)
    per_class = []
    for c in np.unique(labels):
        f = features[torch.from_numpy(labels == c)]
        if len(f) > 1:
            d = torch.cdist(f, f)
            per_class.append(float(d.sum() / (len(f) * (len(f) - 1))))
    return float(np.mean(per_class)) if per_class else float("nan")


# Evaluation -------------------------------------------------------------------------------------

def distinct_triples(n: int, counts: tuple[int, int, int], seed: int) -> np.ndarray:
    """``n`` (shape, texture, background) class triples whose three indices all differ (background
    excepted when a model has only one), so a mechanism that copies another's class is caught."""
    ks, kt, kb = counts
    rng = np.random.default_rng(seed)
    triples = []
    while len(triples) < n:
        s, t, b = int(rng.integers(ks)), int(rng.integers(kt)), int(rng.integers(kb))
        if s == t or (kb > 1 and b in (s, t)):
            continue
        triples.append((s, t, b))
    return np.array(triples, np.int64).reshape(-1, 3)


def _render(model, triples: np.ndarray, size: int, seed: int, batch: int = 50):
    """Counterfactuals of ``triples`` at ``size``, seeds ``seed``, ``seed + 1``, ... (one each)."""
    parts = []
    for i in range(0, len(triples), batch):
        part = triples[i: i + batch]
        cf = model.counterfactual(part[:, 0].tolist(), part[:, 1].tolist(), part[:, 2].tolist(),
                                  seed=list(range(seed + i, seed + i + len(part))), size=size)
        parts.append((cf.mask.cpu(), cf.foreground.cpu(), cf.background.cpu()))
    return [torch.cat(p) for p in zip(*parts)]


def _random_crops(images: torch.Tensor, crop: int, rng: np.random.Generator) -> torch.Tensor:
    size = images.shape[-1]
    out = []
    for image in images:
        y, x = rng.integers(0, size - crop + 1, 2)
        out.append(image[:, y: y + crop, x: x + crop])
    return torch.stack(out)


def _kinds(model) -> list[tuple[str, int]]:
    return [("texture", 1)] + ([("background", 2)] if model.num_classes("background") > 1 else [])


def _counts(model) -> tuple[int, int, int]:
    return tuple(model.num_classes(m) for m in ("shape", "texture", "background"))


def structure_fidelity(model, judge: Judge, n: int = 300, seed: int = 0) -> float:
    """Share of ``n`` counterfactual triples whose generated ``judge.kind`` part, rendered at
    ``judge.scale`` x native, has a random ``judge.crop`` px crop read as the requested class."""
    column = {"texture": 1, "background": 2}[judge.kind]
    triples = distinct_triples(n, _counts(model), seed)
    images = _render(model, triples, model.native_size * judge.scale, seed * 100_000)[column]
    return judge.accuracy(_random_crops(images, judge.crop, np.random.default_rng([seed, 22])), triples[:, column])


def detail(model, family: str, kind: str = "texture", n: int = 24, seed: int = 0) -> dict:
    """Detail of the ``kind`` part at the 512 px render: ``ratio`` = generated share /
    reference share (:func:`detail_share` of four random 128 px crops per sample, ``n`` samples
    cycling through the classes). The reference is the real material at the render scale (letters)
    or the source photo at its own resolution (MNIST Wildlife; ``data_ratio`` is then the
    training data's own texture at the render scale, against the same reference)."""
    column = {"texture": 1, "background": 2}[kind]
    counts = _counts(model)
    classes = np.arange(n) % counts[column]
    triples = distinct_triples(n, counts, seed + 1)
    triples[:, column] = classes
    rng = np.random.default_rng([seed, 23])
    images = _render(model, triples, DETAIL_RENDER, seed * 100_000 + 50_000, batch=8)[column]
    generated = detail_share(torch.cat([_random_crops(images, DETAIL_CROP, rng) for _ in range(DETAIL_CROPS)]))
    render_scale = DETAIL_RENDER / model.native_size
    out = {"generated_share": generated}
    many = np.tile(classes, DETAIL_CROPS)
    if family == "letters":
        out["real_share"] = detail_share(_tensor(real_crops(family, kind, many, DETAIL_CROP, render_scale, rng)))
    else:
        out["real_share"] = detail_share(_tensor(photo_crops(kind, many, DETAIL_CROP, rng)))
        data = detail_share(_tensor(real_crops(family, kind, many, DETAIL_CROP, render_scale, rng)))
        out["data_ratio"] = data / out["real_share"]
    out["ratio"] = generated / out["real_share"]
    return out


def diversity(model, family: str, kind: str = "texture", seeds: int = 6, scale: int | None = None,
              crop: int | None = None, seed: int = 0) -> dict:
    """``ratio``: mean pairwise feature distance (:func:`diversity_features`) between same-class
    samples with ``seeds`` different seeds, over every class, as a ratio to the same figure on as
    many real crops per class; each feature is divided by its std over the real crops. The
    generated crop is the same window of every render, so only the noise differs."""
    spec = family_spec(family)
    scale, crop = scale or spec.structure[0][0], crop or spec.structure[0][1]
    column = {"texture": 1, "background": 2}[kind]
    counts = _counts(model)
    classes = np.repeat(np.arange(counts[column]), seeds)
    triples = distinct_triples(len(classes), counts, seed + 2)
    triples[:, column] = classes
    images = _render(model, triples, model.native_size * scale, seed * 100_000 + 70_000)[column]
    start = (images.shape[-1] - crop) // 2
    generated = diversity_features(images[:, :, start: start + crop, start: start + crop])
    rng = np.random.default_rng([seed, 24])
    real = diversity_features(_tensor(real_crops(family, kind, classes, crop, scale, rng)))
    std = real.std(0).clamp_min(1e-3)
    real_d, gen_d = mean_pairwise_distance(real, classes, std), mean_pairwise_distance(generated, classes, std)
    return {"ratio": gen_d / real_d if real_d > 1e-6 else None, "real_distance": real_d, "generated_distance": gen_d}


def shape_fidelity(model, judge: Judge, n: int = 300, seed: int = 0) -> dict:
    """Shape judge's accuracy on the masks of ``n`` counterfactual triples at native size, the
    mask binary share (pixels < 0.1 or > 0.9) and the mean mask area."""
    triples = distinct_triples(n, _counts(model), seed)
    mask = _render(model, triples, model.native_size, seed * 100_000)[0]
    return {"shape_fidelity": judge.accuracy(mask, triples[:, 0]),
            "mask_binary_share": float(((mask < 0.1) | (mask > 0.9)).float().mean()),
            "mask_area_mean": float(mask.mean())}


def texture_quality(model, family: str | None = None, *, n: int = 300, detail_n: int = 24, diversity_seeds: int = 6,
                    seed: int = 0, judges: dict | None = None, shape: bool = True) -> dict:
    """Every figure above for one model, with the judges' real-data baselines (held-out accuracy,
    chance). ``family`` defaults to the model's ``config.variant``; ``judges`` may hold judges by
    name ('shape', 'texture@4', 'background@1', 'texture-colour', ...) instead of the cached ones.

    >>> texture_quality(load_model("wildlife"), n=100)["texture_structure_fidelity"]  # doctest: +SKIP
    """
    family = family or getattr(getattr(model, "config", None), "variant", None)
    spec = family_spec(family)
    judges = dict(judges or {})
    out: dict = {"family": family, "native_size": model.native_size, "triples": n}
    baselines: dict = {}
    if shape:
        judge = judges.get("shape") or shape_judge(family)
        out.update(shape_fidelity(model, judge, n, seed))
        baselines["shape"] = {"real_accuracy": judge.real_accuracy, "chance": judge.chance,
                              "real_mask_area": judge.extra.get("real_mask_area")}
    for kind, _ in _kinds(model):
        judge = judges.get(f"{kind}-colour") or structure_judge(family, kind, colour=True)
        out[f"{kind}_colour_fidelity"] = structure_fidelity(model, judge, n, seed)
        baselines[f"{kind}_colour"] = {"real_accuracy": judge.real_accuracy, "chance": judge.chance,
                                       "scale": judge.scale, "crop": judge.crop}
        if not spec.pattern:  # flat-colour classes: no pattern to judge, no detail to keep, and
            # real samples that differ by a colour jitter only give diversity no yardstick
            out[f"{kind}_structure_fidelity"] = out[f"{kind}_detail"] = out[f"{kind}_diversity"] = None
            continue
        by_scale = {}
        for scale, crop in spec.structure:
            judge = judges.get(f"{kind}@{scale}") or structure_judge(family, kind, scale, crop)
            by_scale[f"{scale}x"] = structure_fidelity(model, judge, n, seed)
            baselines[f"{kind}_structure_{scale}x"] = {"real_accuracy": judge.real_accuracy,
                                                       "chance": judge.chance, "crop": crop}
        out[f"{kind}_structure_fidelity"] = by_scale[f"{spec.structure[0][0]}x"]
        out[f"{kind}_structure_fidelity_by_scale"] = by_scale
        d = detail(model, family, kind, detail_n, seed)
        out[f"{kind}_detail"] = d["ratio"]
        if "data_ratio" in d:
            out[f"{kind}_detail_data"] = d["data_ratio"]
        baselines[f"{kind}_detail"] = {"generated_share": d["generated_share"], "real_share": d["real_share"]}
        v = diversity(model, family, kind, diversity_seeds, seed=seed)
        out[f"{kind}_diversity"] = v["ratio"]
        baselines[f"{kind}_diversity"] = {"real_distance": v["real_distance"],
                                          "generated_distance": v["generated_distance"]}
    out["baselines"] = baselines
    return out


class RealDataModel(Mechanisms):
    """Real data dressed as a model, to show what real textures score and to build the failures
    each metric must catch: the foreground / background of (class, seed) is a real crop of that
    material at the render scale (``size / native`` x), the mask a centred disc.

    - ``flat=True``: each part is its crop's mean colour (colour right, pattern gone);
    - ``blur``: Gaussian blur of that many render pixels (detail gone);
    - ``ignore_noise=True``: every seed gives the same crop (diversity gone).
    """

    def __init__(self, family: str, flat: bool = False, blur: float = 0.0, ignore_noise: bool = False):
        self.family = family
        self.native_size = family_spec(family).native_size
        self.name = f"real-{family}"
        self.flat, self.blur, self.ignore_noise = flat, blur, ignore_noise
        self._names = _class_names(family)

    @property
    def class_names(self) -> dict:
        return {k: list(v) for k, v in self._names.items()}

    def noise(self, mechanism, seeds, truncation, size):
        return torch.tensor([0 if self.ignore_noise else int(s) for s in seeds], dtype=torch.float64)[:, None]

    def mechanism(self, mechanism, weights, noise, size):
        n = len(weights)
        if mechanism == "shape":
            r = torch.linspace(-1, 1, size)
            disc = ((r[:, None] ** 2 + r[None] ** 2) < 0.5).float()
            return disc.expand(n, 1, size, size).clone()
        classes = weights.argmax(1).tolist()
        salt = {"texture": 1, "background": 2}[mechanism]
        crops = np.concatenate([real_crops(self.family, mechanism, [c], size, size / self.native_size,
                                           np.random.default_rng([int(z), salt, c]))
                                for c, z in zip(classes, noise[:, 0].tolist())])
        x = _tensor(crops)
        if self.flat:
            x = x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
        if self.blur > 0:
            x = gaussian_blur(x, self.blur)
        return x


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (reflect padding) of (N, C, H, W) by ``sigma`` pixels."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images, [radius, radius, 0, 0], mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    x = F.pad(x, [0, 0, radius, radius], mode="reflect")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)

