"""The Letters data set: capital letters A-Z in real textures on real photo backgrounds, built offline.

- shapes: the 26 capitals rasterised from the TrueType fonts that ship with matplotlib, with small
  random scale, shift, rotation, shear and stroke changes. Five fonts are held out of training and
  only ever shown to the shape judge (see :func:`glyphs`).
- textures and backgrounds: regions of the photos that ship with scikit-image, scikit-learn and
  matplotlib, with their real colours (grey photos get a natural colour map, see ``PALETTES``),
  cut at a per-class ``zoom`` (photo pixels per image pixel) chosen so the pattern reads at 64 px.
- biased like Wildlife MNIST: in the training split every letter comes in its own texture and its
  own background; in the test split both are drawn at random.

Every image is ``alpha * texture + (1 - alpha) * background``, made at 4x (256 px) and shrunk to
64 px. A few training images per letter are also kept at 256 px (``fine_images``): the real photos
at the resolution the texture detail is learned at. CGN training reads images only, never alpha.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from cgn_art.data.store import CompositeDataset, cache_dir, cached
from cgn_art.data.textures import _load_photo as load_photo
from cgn_art.errors import CgnArtError

NAME = "letters"
SIZE = 64
FINE = 4  # fine images are FINE x SIZE px
LETTERS = [chr(ord("A") + i) for i in range(26)]
BUILD_VERSION = 2
MARGIN = 4  # native pixels around every letter that stay background

TRAIN_FONTS = [
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
    "cmr10", "cmb10", "cmti10",
]
# Never used to build training images: the shape judge learns letters from these fonts only.
HELD_OUT_FONTS = ["DejaVuSansMono-BoldOblique", "DejaVuSerif-BoldItalic", "STIXGeneralBolIta", "cmss10", "cmtt10"]

# Grey photos get a colour map from dark to light (RGB in [0, 1]): what the material looks like.
PALETTES = {
    "terracotta": ((0.30, 0.13, 0.09), (0.86, 0.47, 0.32)),
    "meadow": ((0.04, 0.16, 0.02), (0.62, 0.86, 0.28)),
    "sand": ((0.22, 0.19, 0.16), (0.90, 0.84, 0.72)),
    "gold": ((0.16, 0.09, 0.02), (1.00, 0.82, 0.42)),
    "ink": ((0.10, 0.09, 0.14), (0.97, 0.94, 0.84)),
}


@dataclass(frozen=True)
class Material:
    """A texture or background class: a region of a bundled photo, shown at ``zoom`` photo px per px."""

    name: str
    photo: str
    box: tuple[float, float, float, float]  # y0, x0, y1, x1 as fractions of the photo
    zoom: float
    palette: str | None = None  # for grey photos


TEXTURES = [
    Material("brick", "brick", (0.0, 0.0, 1.0, 1.0), 2.5, "terracotta"),
    Material("grass", "grass", (0.0, 0.0, 1.0, 1.0), 2.0, "meadow"),
    Material("gravel", "gravel", (0.0, 0.0, 1.0, 1.0), 2.0, "sand"),
    Material("cat fur", "chelsea", (0.0, 0.30, 0.28, 0.72), 1.0),
    Material("wood grain", "coffee", (0.25, 0.0, 1.0, 0.16), 1.0),
    Material("coins", "coins", (0.0, 0.0, 1.0, 1.0), 1.6, "gold"),
    Material("tissue", "immunohistochemistry", (0.0, 0.0, 1.0, 1.0), 2.0),
    Material("dahlia petals", "sklearn:flower.jpg", (0.20, 0.32, 0.72, 0.63), 1.2),
    Material("print", "page", (0.12, 0.0, 0.78, 1.0), 1.1, "ink"),
    Material("foliage", "sklearn:china.jpg", (0.30, 0.80, 1.0, 1.0), 1.2),
]
BACKGROUNDS = [
    Material("galaxy", "hubble_deep_field", (0.0, 0.0, 1.0, 1.0), 3.0),
    Material("retina", "retina", (0.25, 0.25, 0.75, 0.75), 3.0),
    Material("stars and stripes", "matplotlib:grace_hopper.jpg", (0.0, 0.0, 0.42, 0.30), 1.2),
    Material("handwriting", "text", (0.0, 0.0, 1.0, 1.0), 1.2, "ink"),
    Material("pagoda", "sklearn:china.jpg", (0.05, 0.08, 0.90, 0.55), 1.6),
    Material("launch tower", "rocket", (0.0, 0.0, 1.0, 0.32), 1.5),
    Material("garage", "motorcycle_left", (0.0, 0.0, 0.45, 0.55), 1.5),
    Material("bokeh", "sklearn:flower.jpg", (0.0, 0.0, 1.0, 0.30), 1.6),
]


@dataclass
class LetterDataset(CompositeDataset):
    """Images (N, 64, 64, 3) uint8 with the letter, texture and background class of each.

    ``alpha`` (N, 64, 64) uint8 is each letter's coverage, kept for benchmarks only (training never
    reads it). ``fine_images`` (M, 256, 256, 3) uint8 are images ``fine_index`` at 4x resolution.
    """

    fine_images: np.ndarray
    fine_index: np.ndarray


def class_names() -> dict[str, list[str]]:
    return {"shape": list(LETTERS), "texture": [m.name for m in TEXTURES],
            "background": [m.name for m in BACKGROUNDS]}


def biased_pair(letter: int) -> tuple[int, int]:
    """The (texture, background) a letter always wears in the training split. 10 and 8 classes
    have a common multiple of 40 > 26, so no two letters share the pair."""
    return letter % len(TEXTURES), letter % len(BACKGROUNDS)


# Photos -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def sheet(kind: str, index: int) -> tuple[np.ndarray, float]:
    """(float RGB region of the photo in [0, 1], zoom) of a 'texture' or 'background' class."""
    materials = {"texture": TEXTURES, "background": BACKGROUNDS}.get(kind)
    if materials is None:
        raise CgnArtError(f"kind must be 'texture' or 'background', not {kind!r}")
    m = materials[index]
    photo = load_photo(m.photo)
    h, w = photo.shape[:2]
    y0, x0, y1, x1 = m.box
    region = np.asarray(photo[int(y0 * h): int(y1 * h), int(x0 * w): int(x1 * w)], np.float32) / 255.0
    if region.ndim == 3:
        region = region[..., :3]
    if m.palette is not None:
        grey = region if region.ndim == 2 else region @ np.array([0.299, 0.587, 0.114], np.float32)
        lo, hi = np.percentile(grey, [1, 99])
        t = np.clip((grey - lo) / max(hi - lo, 1e-3), 0, 1)[..., None]
        dark, light = (np.array(c, np.float32) for c in PALETTES[m.palette])
        region = dark + t * (light - dark)
    return np.ascontiguousarray(region, np.float32), m.zoom


def material_crops(kind: str, classes, size: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Real crops (N, size, size, 3) float in [0, 1] of each class, as they look in an image shown
    ``scale`` x larger than native: a ``size`` px crop covers ``size * zoom / scale`` photo pixels.
    Random position and horizontal flip; ``scale=4`` gives the 4x (fine) view of the same patterns."""
    out = np.empty((len(classes), size, size, 3), np.float32)
    for i, c in enumerate(classes):
        region, zoom = sheet(kind, int(c))
        span = max(2, int(round(size * zoom / scale)))
        h, w = region.shape[:2]
        if span > min(h, w):
            raise CgnArtError(f"{kind} class {c}: the photo region is smaller than a {size} px crop at scale {scale}")
        y, x = rng.integers(0, h - span + 1), rng.integers(0, w - span + 1)
        crop = region[y: y + span, x: x + span]
        crop = np.stack([np.asarray(Image.fromarray(crop[..., k]).resize((size, size), Image.Resampling.BICUBIC
                                                                          if span < size else Image.Resampling.BOX))
                         for k in range(3)], -1)
        out[i] = np.clip(crop[:, ::-1] if rng.random() < 0.5 else crop, 0, 1)
    return out


# Glyphs -------------------------------------------------------------------------------------

def font_path(name: str) -> Path:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"
    if not path.is_file():
        raise CgnArtError(f"font {name} not found at {path}; it ships with matplotlib")
    return path


@functools.lru_cache(maxsize=None)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(name)), px)


def render_glyph(letter: str, font: str, rng: np.random.Generator | None, size: int = SIZE * FINE) -> np.ndarray:
    """Alpha (size, size) float in [0, 1] of one capital, centred; with ``rng``, jittered in scale
    (cap height 62-78 % of the image), shift, rotation (+-8 degrees), shear and stroke weight."""
    jitter = rng is not None
    height = size * (rng.uniform(0.62, 0.78) if jitter else 0.70)
    big = size * 2
    f = _font(font, int(round(height * 1.4)))
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    stroke = int(rng.integers(0, 3)) * size // 128 if jitter else 0
    x0, y0, x1, y1 = draw.textbbox((0, 0), letter, font=f, stroke_width=stroke)
    draw.text(((big - (x1 - x0)) / 2 - x0, (big - (y1 - y0)) / 2 - y0), letter, fill=255, font=f,
              stroke_width=stroke, stroke_fill=255)
    bbox = canvas.getbbox()
    if bbox is None:
        raise CgnArtError(f"font {font} has no glyph for {letter!r}")
    # scale the glyph so its height is `height`, then rotate/shear/shift about the centre
    glyph_h = bbox[3] - bbox[1]
    s = height / glyph_h
    angle = np.deg2rad(rng.uniform(-8, 8)) if jitter else 0.0
    shear = rng.uniform(-0.15, 0.15) if jitter else 0.0
    shift = rng.uniform(-0.05, 0.05, 2) * size if jitter else np.zeros(2)
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    # output -> input map: p_in = A^-1 (p_out - centre_out - shift) + centre_in
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = s * rot @ np.array([[1.0, shear], [0.0, 1.0]])
    # wide letters (W, M in bold) shrink until they keep a margin: the outer strips of every
    # image are background, which the trainer's border prior relies on
    corners = np.array([[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[0], bbox[3]], [bbox[2], bbox[3]]]) - [cx, cy]
    extent = np.abs(corners @ forward.T).max(axis=0)
    room = size / 2 - MARGIN * size / SIZE - np.abs(shift)
    forward = forward * min(1.0, float((room / extent).min()))
    inv = np.linalg.inv(forward)
    centre_out = np.array([size / 2, size / 2]) + shift
    offset = np.array([cx, cy]) - inv @ centre_out
    glyph = canvas.transform((size, size), Image.Transform.AFFINE,
                             (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1]),
                             resample=Image.Resampling.BILINEAR)
    if jitter and rng.random() < 0.25:  # a lighter weight now and then
        glyph = glyph.filter(ImageFilter.MinFilter(3))
    return np.asarray(glyph, np.float32) / 255.0


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downsampling of (H, W[, C]) by an integer factor."""
    h, w = image.shape[:2]
    return image.reshape(h // factor, factor, w // factor, factor, *image.shape[2:]).mean(axis=(1, 3))


def glyphs(fonts: str = "held_out", per_font: int = 4, seed: int = 0,
           size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Letter alphas (N, size, size) float and labels from the ``"held_out"`` or ``"train"`` fonts,
    jittered like the data set. The shape judge learns from held-out fonts the CGN never saw."""
    names = {"held_out": HELD_OUT_FONTS, "train": TRAIN_FONTS}.get(fonts)
    if names is None:
        raise CgnArtError(f"fonts must be 'held_out' or 'train', not {fonts!r}")
    rng = np.random.default_rng([seed, 7])
    alphas, labels = [], []
    for font in names:
        for c, letter in enumerate(LETTERS):
            for _ in range(per_font):
                alphas.append(shrink(render_glyph(letter, font, rng, size * FINE), FINE))
                labels.append(c)
    return np.stack(alphas).astype(np.float32), np.array(labels, np.int64)


# Building -----------------------------------------------------------------------------------

def build(split: str = "train", seed: int = 0, per_font: int = 6, fine_per_letter: int = 24) -> LetterDataset:
    """Build a split from scratch (tens of seconds); :func:`load` caches it.

    ``per_font`` jittered copies of each letter in each training font; in "train" each letter wears
    its :func:`biased_pair`, in "test" random ones. ``fine_per_letter`` images per letter are also
    kept at 4x resolution (train only).
    """
    if split not in ("train", "test"):
        raise CgnArtError(f"split must be 'train' or 'test', not {split!r}")
    salt = int(hashlib.sha256(f"{NAME}/{split}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng([seed, salt])
    big = SIZE * FINE
    images, labels, tex, bgs, alphas, fine, fine_index = [], [], [], [], [], [], []
    kept = np.zeros(len(LETTERS), int)
    for font in TRAIN_FONTS:
        for c, letter in enumerate(LETTERS):
            for _ in range(per_font):
                alpha = render_glyph(letter, font, rng, big)
                if split == "train":
                    t, b = biased_pair(c)
                else:
                    t, b = int(rng.integers(len(TEXTURES))), int(rng.integers(len(BACKGROUNDS)))
                fg = material_crops("texture", [t], big, rng, scale=FINE)[0]
                bg = material_crops("background", [b], big, rng, scale=FINE)[0]
                image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
                if split == "train" and kept[c] < fine_per_letter and rng.random() < 0.3:
                    kept[c] += 1
                    fine_index.append(len(labels))
                    fine.append(np.round(image * 255).astype(np.uint8))
                images.append(np.round(shrink(image, FINE) * 255).astype(np.uint8))
                alphas.append(np.round(shrink(alpha, FINE) * 255).astype(np.uint8))
                labels.append(c)
                tex.append(t)
                bgs.append(b)
    fine_array = np.stack(fine) if fine else np.zeros((0, big, big, 3), np.uint8)
    return LetterDataset(split, np.stack(images), np.array(labels, np.int64), np.array(tex, np.int64),
                         np.array(bgs, np.int64), np.stack(alphas), fine_array, np.array(fine_index, np.int64))


FIELDS = ("images", "labels", "texture_class", "background_class", "alpha", "fine_images", "fine_index")


def load(split: str = "train", seed: int = 0, rebuild: bool = False) -> LetterDataset:
    """The split from the on-disk cache, built on first use."""
    path = cache_dir() / f"{NAME}-{split}-seed{seed}-v{BUILD_VERSION}.npz"
    return cached(path, FIELDS, lambda: build(split, seed), lambda arrays: LetterDataset(split, **arrays), rebuild)


def contact_sheet(data: LetterDataset, rows: int = 26, columns: int = 8, scale: int = 1) -> Image.Image:
    """A grid of samples, one row per letter (when ``rows`` is 26)."""
    tile = SIZE * scale
    sheet_image = Image.new("RGB", (columns * tile, rows * tile), "white")
    for r in range(rows):
        pool = np.flatnonzero(data.labels == r) if rows == 26 else np.arange(r * columns, (r + 1) * columns)
        for k, i in enumerate(pool[:columns]):
            image = Image.fromarray(data.images[i]).resize((tile, tile), Image.Resampling.NEAREST)
            sheet_image.paste(image, (k * tile, r * tile))
    return sheet_image
