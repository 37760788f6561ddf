"""A user's photos made into a material: checked, cropped to a region, kept at their own pixel scale.

A photo is read safely (``cgn_art.images.read_image``: EXIF rotation, CMYK, 16-bit, transparency,
the first frame of an animation), cut to its region if one is given, and shrunk only if it is
larger than a material keeps (``MAX_SIDE`` px, and ``CLASS_PIXELS`` for all of a class's photos):
never enlarged, so what a crisp render shows are the photo's own pixels.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter

from cgn_art.errors import CgnArtError
from cgn_art.images import read_image
from cgn_art.materials.synthesis import Source

MAX_PHOTOS = 20
MAX_FILE_BYTES = 50 * 1024 * 1024   # a phone photo is 2-12 MB; 50 MB is a raw scan, not a material
MIN_SIDE = 64                       # px of a photo (after its region): less holds no pattern to draw from
MAX_SIDE = 1024                     # px a photo is kept at, at most (larger photos are shrunk to this)
CLASS_PIXELS = 4_000_000            # px of all of a class's photos together (12 MB in the model file)
FLAT_STD = 2 / 255                  # grey std under which a photo is one flat colour: no pattern
NAME = re.compile(r"^[\w][\w '&+-]{0,39}$")


def check_material_name(name: str) -> str:
    """A class name: 1-40 letters, digits, spaces, ' & + - or _, no path characters."""
    name = " ".join(str(name).split())
    if not NAME.match(name) or name in (".", ".."):
        raise CgnArtError(f"material name {name!r}: use 1-40 letters, digits, spaces or - _ ' & + "
                          "(no slashes, dots or other path characters)")
    return name


def _size_of(source) -> int | None:
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).stat().st_size
        except OSError:
            return None  # read_image says what is wrong with the path
    return getattr(source, "size", None)


def read_photo(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None,
               region: Sequence[float] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 of one photo, cut to ``region`` (left, top, right, bottom as fractions of its
    width and height) and shrunk to at most ``MAX_SIDE`` px; refuses what cannot be a material."""
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "the photo"))
    size = _size_of(source)
    if size is not None and size > MAX_FILE_BYTES:
        raise CgnArtError(f"{name}: is {size / 2**20:.0f} MB; a material photo may be at most "
                          f"{MAX_FILE_BYTES // 2**20} MB (save it as a JPEG first)")
    image = read_image(source, name=name, min_side=MIN_SIDE)
    if region is not None:
        image = image.crop(_box(region, image.size, name))
        if min(image.size) < MIN_SIDE:
            raise CgnArtError(f"{name}: its region is only {image.size[0]} x {image.size[1]} px; a material needs "
                              f"at least {MIN_SIDE} px on each side")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
                             Image.Resampling.LANCZOS)
    pixels = np.asarray(image, np.uint8)
    if (pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255).std() < FLAT_STD:
        raise CgnArtError(f"{name}: is one flat colour; a material is drawn from a pattern (grain, weave, "
                          "leaves, stones): give a photo that has one")
    return even_light(pixels)


EVEN_SPAN = 0.25   # light that changes over more than this share of a photo's shorter side is evened out


def even_light(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (H, W, 3) uint8 with the light evened out: the photo's colour blurred over
    ``EVEN_SPAN`` of its shorter side is replaced by its mean. A material is drawn from windows of
    its photos placed at random, and a window from the sunny corner beside one from the shaded
    corner shows as a patchwork of squares; the detail (every pixel's difference from its
    surroundings) is kept as it is: nothing is sharpened or added."""
    h, w = pixels.shape[:2]
    small = max(4, round(4 / EVEN_SPAN))
    scale = small / min(h, w)
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    image = Image.fromarray(pixels)
    light = np.asarray(image.resize(size, Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(2))
                       .resize((w, h), Image.Resampling.BICUBIC), np.float32)
    out = pixels.astype(np.float32) - light + light.reshape(-1, 3).mean(0)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _box(region: Sequence[float], size: tuple[int, int], name: str) -> tuple[int, int, int, int]:
    try:
        left, top, right, bottom = (float(v) for v in region)
    except (TypeError, ValueError):
        raise CgnArtError(f"{name}: a region is four fractions: left, top, right, bottom (e.g. 0,0,0.5,0.5)") from None
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise CgnArtError(f"{name}: region {left:g},{top:g},{right:g},{bottom:g} is not inside the photo; give "
                          "left < right and top < bottom, each from 0 to 1")
    width, height = size
    return round(left * width), round(top * height), round(right * width), round(bottom * height)


def photo_sources(photos: Sequence, names: Sequence[str] | None = None,
                  regions: Sequence[Sequence[float] | None] | None = None) -> list[Source]:
    """A class's sources from 1-``MAX_PHOTOS`` photos (paths, bytes or files), each with an optional
    region; together they are shrunk to ``CLASS_PIXELS`` if larger."""
    if not photos:
        raise CgnArtError("a material needs at least one photo")
    if len(photos) > MAX_PHOTOS:
        raise CgnArtError(f"{len(photos)} photos: a material takes 1 to {MAX_PHOTOS}")
    names = list(names) if names else [None] * len(photos)
    regions = list(regions) if regions else [None] * len(photos)
    if len(regions) != len(photos):
        raise CgnArtError(f"{len(regions)} regions for {len(photos)} photos: give one per photo (or none)")
    pictures = [read_photo(p, n, r) for p, n, r in zip(photos, names, regions)]
    total = sum(p.shape[0] * p.shape[1] for p in pictures)
    if total > CLASS_PIXELS:
        scale = (CLASS_PIXELS / total) ** 0.5
        pictures = [np.asarray(Image.fromarray(p).resize((max(MIN_SIDE, round(p.shape[1] * scale)),
                                                          max(MIN_SIDE, round(p.shape[0] * scale))),
                                                         Image.Resampling.LANCZOS)) for p in pictures]
    return [Source(torch.from_numpy(np.ascontiguousarray(p.transpose(2, 0, 1))), tileable=False) for p in pictures]
