"""Texture sources for the stylizer: a class of the CGN's texture mechanism (or a blend of two), or
an uploaded image, filled out to the working size without visible seams.

Only the Mechanisms contract is used. The small CGN's texture mechanism wraps around (circular
padding), so its tiles repeat seamlessly; a model whose texture is a fixed-size picture (the
ImageNet CGN), or a photo, does not wrap, so those are tiled mirrored, which is continuous at every
edge. :func:`wraps_seamlessly` tells the two apart from the pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import to_pil
from cgn_art.stylize.settings import StylizeSettings

MIN_TILE = 16


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float tensor in [0, 1]."""
    data = torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8)
    return data.view(image.height, image.width, 3).permute(2, 0, 1)[None].float() / 255


def tile_size(settings: StylizeSettings, height: int, width: int) -> int:
    return max(MIN_TILE, round(settings.texture_scale * max(height, width)))


def _check_class(model, settings: StylizeSettings) -> None:
    count = model.num_classes(settings.texture_mechanism)
    for what, value in (("texture class", settings.texture_class), ("blend class", settings.blend_class)):
        if value is not None and value >= count:
            raise CgnArtError(f"{what} {value} is out of range: the model's {settings.texture_mechanism} mechanism "
                              f"has {count} classes (0 to {count - 1})")


def class_weights(model, settings: StylizeSettings) -> torch.Tensor:
    """The class input (1, C) of the mechanism that paints the texture (``settings.texture_mechanism``,
    the texture mechanism unless a background is painted): one class, or a blend of two."""
    mechanism = settings.texture_mechanism
    _check_class(model, settings)
    first = model.one_hot(mechanism, [settings.texture_class])
    if settings.blend_class is None:
        return first
    second = model.one_hot(mechanism, [settings.blend_class])
    return (1 - settings.blend) * first + settings.blend * second


@torch.no_grad()
def render_class_tile(model, settings: StylizeSettings, tile: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """One (1, 3, tile, tile) texture from the model's texture mechanism (or its background
    mechanism, ``settings.texture_mechanism``), on the CPU."""
    if weights is None:
        weights = class_weights(model, settings)
    mechanism = settings.texture_mechanism
    noise = model.noise(mechanism, [settings.texture_seed], settings.truncation, tile)
    return model.mechanism(mechanism, weights.to(model.device), noise, tile).float().cpu()


def wraps_seamlessly(tile: torch.Tensor, tolerance: float = 1.5) -> bool:
    """True if the tile's opposite edges meet as smoothly as nearby pixels inside it do.

    The jump across the wrap-around edge is compared with the typical difference between pixels 1
    and 2 apart inside (the larger: bilinear upsampling smooths neighbours but not the edge jump).
    Judge a tile at the mechanism's native size (see :func:`model_texture_wraps`): a texture made
    with circular padding passes; a crop of a photo, or a fixed-size texture picture, does not.
    """
    lags = [lag for lag in (1, 2) if lag < min(tile.shape[-2:]) // 2]
    inside = max(((tile[..., lag:, :] - tile[..., :-lag, :]).abs().mean()
                  + (tile[..., :, lag:] - tile[..., :, :-lag]).abs().mean()) / 2 for lag in lags)
    across = ((tile[..., 0, :] - tile[..., -1, :]).abs().mean() + (tile[..., :, 0] - tile[..., :, -1]).abs().mean()) / 2
    return bool(across <= tolerance * inside + 1e-6)


def model_texture_wraps(model, settings: StylizeSettings) -> bool:
    """Whether the model's texture mechanism wraps around, judged at its native size (no resizing
    between the mechanism and the check to smooth the edge jump away)."""
    return wraps_seamlessly(render_class_tile(model, settings, max(MIN_TILE, model.native_size)))


def fill(tile: torch.Tensor, height: int, width: int, mirrored: bool | None = None) -> torch.Tensor:
    """Repeat a (1, 3, h, w) tile to cover (height, width): plainly if it wraps, else mirrored."""
    if mirrored is None:
        mirrored = not wraps_seamlessly(tile)
    if mirrored:  # tile, flipped tile, ...: every edge meets its own mirror image
        tile = torch.cat([tile, tile.flip(-1)], dim=-1)
        tile = torch.cat([tile, tile.flip(-2)], dim=-2)
    reps_y = -(-height // tile.shape[-2])
    reps_x = -(-width // tile.shape[-1])
    return tile.repeat(1, 1, reps_y, reps_x)[..., :height, :width].contiguous()


def image_tile(image: Image.Image, tile: int) -> torch.Tensor:
    """An uploaded texture scaled so its shorter side is ``tile`` pixels."""
    scale = tile / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return pil_to_tensor(image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC))


def make_texture(settings: StylizeSettings, height: int, width: int, *, model=None,
                 texture_image: Image.Image | None = None) -> torch.Tensor:
    """The texture at the working size (1, 3, height, width): the uploaded image if given, else the
    model's texture class (blended if ``settings.blend_class`` is set)."""
    tile = tile_size(settings, height, width)
    if texture_image is not None:
        return fill(image_tile(texture_image, tile), height, width, mirrored=True)
    if model is None:
        raise CgnArtError("no texture: give a model (for a texture class) or a texture image")
    mirrored = not model_texture_wraps(model, settings)
    return fill(render_class_tile(model, settings, tile), height, width, mirrored=mirrored)


def texture_preview(settings: StylizeSettings, *, model=None, texture_image: Image.Image | None = None,
                    size: int = 256) -> Image.Image:
    """A ``size`` px square of the texture as the stylizer will use it (at the scale it will have)."""
    scale = size / max(settings.size, 1)
    tile = max(MIN_TILE, round(settings.texture_scale * settings.size))
    if texture_image is not None:
        texture = fill(image_tile(texture_image, tile), tile * 2, tile * 2, mirrored=True)
    else:
        texture = fill(render_class_tile(model, settings, tile), tile * 2, tile * 2,
                       mirrored=not model_texture_wraps(model, settings))
    side = max(1, round(tile * 2 * scale))
    texture = F.interpolate(texture, size=(side, side), mode="area" if scale < 1 else "bilinear")
    return to_pil(fill(texture, size, size, mirrored=False)[0])
