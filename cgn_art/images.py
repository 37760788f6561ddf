"""Reading photos users give us, safely: every odd-but-valid file becomes a plain RGB image, every bad
one becomes one CgnArtError that says what was wrong and what to do.

Handled: EXIF orientation (phones store portraits sideways plus a rotate tag), CMYK JPEGs, 16-bit
PNGs (scaled, not clipped to white), palette/greyscale images with transparency (flattened on
white), animated GIF/WebP/PNG (first frame), greyscale and 1-bit images; refused with a message:
decompression bombs (checked from the header, before any pixel is decoded), corrupt, truncated or
renamed files, and images too small to stylize.

>>> import io
>>> png = io.BytesIO()
>>> Image.new("LA", (64, 48)).save(png, "PNG")    # greyscale with transparency
>>> image = read_image(png.getvalue())            # or a path, or an open file
>>> image.mode, image.size, image.getpixel((0, 0))
('RGB', (64, 48), (255, 255, 255))
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import choice

# 40 megapixels: more than any phone photo, far less than a bomb. Pillow's own guard (89 MP warning,
# 179 MP error) is global state we should not lower for the whole process, so we check ourselves.
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
# Demo photos that ship inside scikit-image and scikit-learn (no download).
DEMO_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")


def read_image(source: str | os.PathLike | bytes | BinaryIO, *, name: str | None = None,
               max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> Image.Image:
    """Open a photo (path, bytes or binary file) and return it as an RGB PIL image, upright.

    ``name`` is how the file is called in messages (default: its path or "the image").
    """
    if name is None:
        name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "the image")
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                _check_size(image, name, max_pixels, min_side)
                return _to_rgb(image, name)
    except CgnArtError:
        raise
    except FileNotFoundError:
        raise CgnArtError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CgnArtError(f"{name}: is a folder, not an image file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard fired first, while reading the header ("Image size (N pixels) exceeds ...")
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
        raise CgnArtError(f"{name}: has too many pixels to open safely{size}, like a 'decompression bomb'; "
                          f"give an image of at most {max_pixels / 1e6:.0f} megapixels") from None
    except UnidentifiedImageError:
        raise CgnArtError(f"{name}: is not an image Pillow can read (a renamed or damaged file?); "
                          "give a JPEG, PNG or WebP photo") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated data, bad chunks, bad CRCs
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise CgnArtError(f"{name}: the image data is damaged or cut short ({detail}); "
                          "save or download it again") from None


def _check_size(image: Image.Image, name: str, max_pixels: int, min_side: int) -> None:
    width, height = image.size  # from the header: nothing is decoded yet
    if width * height > max_pixels:
        raise CgnArtError(f"{name}: is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); "
                          f"give an image of at most {max_pixels / 1e6:.0f} megapixels (shrink it first)")
    if min(width, height) < min_side:
        raise CgnArtError(f"{name}: is only {width} x {height} pixels; give an image at least "
                          f"{min_side} pixels on each side")


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    image.seek(0)  # an animated GIF/WebP/APNG: the first frame
    image.load()   # decode now, inside read_image's error handling (truncated files fail here)
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _scaled_to_8bit(image).convert("RGB")
    if mode == "P" and "transparency" in image.info or mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Transparent parts become white, as most viewers show them, not the arbitrary colour hidden
        # under alpha 0 (often black).
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        return flat.convert("RGB")
    if mode == "CMYK":
        return image.convert("RGB")
    return image.convert("RGB")


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit or float greyscale image as 8-bit L. Pillow's convert("L") clips 16-bit values at 255,
    which turns almost every 16-bit photo white."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        array = (array - low) / (high - low or 1.0) * 255
    else:
        array = array / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(np.nan_to_num(array), 0, 255).round().astype(np.uint8))


def demo_photo(name: str) -> Image.Image:
    """One of the photos that ship inside scikit-image or scikit-learn, as an RGB image (no download)."""
    key = choice("demo photo", str(name), DEMO_PHOTOS)
    if key in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{key}.jpg")
    else:
        from skimage import data

        array = getattr(data, key)()
    return Image.fromarray(np.asarray(array)[..., :3].astype(np.uint8)).convert("RGB")


def photo_source(value: str) -> Image.Image:
    """A CLI-style photo argument: ``demo:NAME`` for a demo photo, else a file path."""
    if str(value).startswith("demo:"):
        return demo_photo(str(value)[5:])
    return read_image(Path(value))
