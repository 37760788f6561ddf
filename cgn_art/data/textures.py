"""Texture classes cut and tinted from photos that ship inside PyPI packages (no download).

Each class is a region of a bundled photo turned into a 128 px grey 'sheet' and tinted with its
own hue. Object textures are bright and background textures dark, so a digit made of any object
texture stays visible on any background texture; hues are 36 degrees apart within each group
and 18 degrees apart between groups.
"""
from __future__ import annotations

import colorsys
import functools

import numpy as np
from PIL import Image

SHEET = 128
HUE_NAMES = ["red", "orange", "lime", "green", "jade", "cyan", "azure", "blue", "violet", "magenta"]
DARK_HUE_NAMES = ["amber", "gold", "chartreuse", "emerald", "teal", "cerulean", "cobalt", "indigo", "plum", "crimson"]

# (pattern name, loader, crop box as fractions y0, x0, y1, x1)
OBJECT_PATTERNS = [
    ("cat fur", "chelsea", (0.45, 0.05, 0.95, 0.40)),
    ("brick", "brick", (0.0, 0.0, 0.5, 0.5)),
    ("grass", "grass", (0.0, 0.0, 0.5, 0.5)),
    ("gravel", "gravel", (0.0, 0.0, 0.5, 0.5)),
    ("coffee beans", "coffee", (0.05, 0.05, 0.45, 0.35)),
    ("starfield", "hubble_deep_field", (0.1, 0.1, 0.6, 0.6)),
    ("tissue", "immunohistochemistry", (0.2, 0.2, 0.7, 0.7)),
    ("coins", "coins", (0.0, 0.0, 0.6, 0.8)),
    ("moon craters", "moon", (0.2, 0.2, 0.7, 0.7)),
    ("cells", "cell", (0.2, 0.2, 0.7, 0.7)),
]
BACKGROUND_PATTERNS = [
    ("retina", "retina", (0.3, 0.3, 0.7, 0.7)),
    ("rocket", "rocket", (0.0, 0.0, 0.6, 0.6)),
    ("astronaut", "astronaut", (0.0, 0.4, 0.6, 1.0)),
    ("pagoda", "sklearn:china.jpg", (0.0, 0.0, 0.8, 0.6)),
    ("flower", "sklearn:flower.jpg", (0.1, 0.2, 0.9, 0.8)),
    ("portrait", "matplotlib:grace_hopper.jpg", (0.0, 0.0, 0.6, 1.0)),
    ("camera", "camera", (0.0, 0.0, 0.6, 0.6)),
    ("text", "text", (0.0, 0.0, 1.0, 0.6)),
    ("clock", "clock", (0.0, 0.0, 0.8, 0.8)),
    ("page", "page", (0.0, 0.0, 1.0, 0.6)),
]


def object_hues() -> list[float]:
    return [i / 10 for i in range(10)]


def background_hues() -> list[float]:
    return [(i + 0.5) / 10 for i in range(10)]


def object_texture_names() -> list[str]:
    return [f"{c} {p}" for c, (p, _, _) in zip(HUE_NAMES, OBJECT_PATTERNS)]


def background_texture_names() -> list[str]:
    return [f"{c} {p}" for c, (p, _, _) in zip(DARK_HUE_NAMES, BACKGROUND_PATTERNS)]


def _load_photo(name: str) -> np.ndarray:
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(name.split(":", 1)[1])
    if name.startswith("matplotlib:"):
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data(name.split(":", 1)[1]) as f:
            return np.asarray(Image.open(f).convert("RGB"))
    import skimage.data

    if name == "motorcycle_left":  # ships with scikit-image but has no loader of its own
        from pathlib import Path

        return np.asarray(Image.open(Path(skimage.data.__file__).parent / "motorcycle_left.png").convert("RGB"))
    return np.asarray(getattr(skimage.data, name)())


@functools.lru_cache(maxsize=None)
def grey_sheet(source: str, box: tuple[float, float, float, float]) -> np.ndarray:
    """A 128x128 float sheet in [0, 1] with stretched contrast, from a region of a bundled photo."""
    photo = _load_photo(source)
    if photo.ndim == 3:
        photo = photo[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = photo.shape[:2]
    y0, x0, y1, x1 = box
    crop = np.asarray(photo[int(y0 * h): int(y1 * h), int(x0 * w): int(x1 * w)], np.float32)
    crop = np.asarray(Image.fromarray(crop).resize((SHEET, SHEET), Image.Resampling.BILINEAR))
    lo, hi = np.percentile(crop, [2, 98])
    return np.clip((crop - lo) / max(hi - lo, 1e-3), 0, 1)


def tint(grey: np.ndarray, hue: float, saturation: float, value_range: tuple[float, float]) -> np.ndarray:
    """Grey [0, 1] -> RGB [0, 1]: fixed hue and saturation, brightness follows the grey pattern."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, 1.0)
    lo, hi = value_range
    value = lo + (hi - lo) * grey
    return value[..., None] * np.array([r, g, b], np.float32)


OBJECT_LOOK = (0.8, (0.5, 1.0))  # saturation, value range: bright
BACKGROUND_LOOK = (0.65, (0.08, 0.42))  # dark


@functools.lru_cache(maxsize=None)
def texture_sheet(kind: str, index: int) -> np.ndarray:
    """The tinted 128x128x3 float sheet of object ('texture') or 'background' class ``index``."""
    if kind == "texture":
        _, source, box = OBJECT_PATTERNS[index]
        saturation, values = OBJECT_LOOK
        return tint(grey_sheet(source, box), object_hues()[index], saturation, values)
    if kind == "background":
        _, source, box = BACKGROUND_PATTERNS[index]
        saturation, values = BACKGROUND_LOOK
        return tint(grey_sheet(source, box), background_hues()[index], saturation, values)
    raise ValueError(f"kind must be 'texture' or 'background', not {kind!r}")


def random_crops(sheet: np.ndarray, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size`` px crops (random position, flips and 90 degree turns) of a sheet."""
    out = np.empty((n, size, size, 3), np.float32)
    limit = sheet.shape[0] - size
    for i in range(n):
        y, x = rng.integers(0, limit + 1, size=2)
        crop = sheet[y: y + size, x: x + size]
        crop = np.rot90(crop, k=int(rng.integers(4)))
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out
