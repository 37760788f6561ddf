"""Painting a poster through the Mechanisms contract: glyph masks, one texture and one background canvas.

- Each glyph's mask comes from the shape mechanism (class = its letter, noise = its own seed), at
  its own box size; masks are pasted onto a canvas-sized mask.
- A model with materials (the Letters CGN) synthesises texture and background straight at the
  poster's size: at ``material_scale`` 0 (crisp, the default) one material pixel per poster pixel,
  at 1 as large as the material is at the model's native size (a background spanning the poster,
  a letter's texture spanning its box). Each texture key (word, letter) is its own place on the
  material's plane and each letter shows where it stands, so no two letters repeat each other.
- A network field (the MNIST CGNs) is painted once over the whole canvas, at a working size where
  each painted pixel covers about as much of a letter as at the model's native size (more pixels
  would only be upscaled detail), then scaled up. One texture per word or per letter means one
  canvas per distinct class (or class blend, for walks), sampled under each glyph.
- ``texture_scale`` zooms in on either (paints a larger square and shows its corner).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import to_pil
from cgn_art.mechanisms.exemplar import material_zoom
from cgn_art.typeset.layout import Layout, Text, arrange, ink_extent, letter_seed, metrics_from_extents, split_text
from cgn_art.typeset.settings import TypeSettings

LETTERS = "letters"
CAPITALS = [chr(65 + i) for i in range(26)]
DIGITS = [str(i) for i in range(10)]
KIND = "cgn-art type"
NOT_SHIPPED = ("the Letters CGN is not shipped yet (assets/models/letters; it is being trained): until it is, "
               "give a letters model folder (a CGN with shape classes A to Z)")


# Models ------------------------------------------------------------------------------------------

def _classes_named(model, names: list[str]) -> dict[str, int]:
    found = {}
    for index, name in enumerate(model.class_names["shape"]):
        key = str(name).strip().upper()
        if key in names and key not in found:
            found[key] = index
    return found


def letter_classes(model) -> dict[str, int]:
    """'A'..'Z' -> the model's shape class index; CgnArtError when the model is not a letters model."""
    found = _classes_named(model, CAPITALS)
    if len(found) < 26:
        shown = ", ".join(map(str, model.class_names["shape"][:10]))
        raise CgnArtError(f"the model {getattr(model, 'name', '')!r} cannot set type: "
                          f"its shape classes are {shown}, ...; "
                          "a letters model has shape classes A to Z")
    return found


def is_letters_model(model) -> bool:
    return len(_classes_named(model, CAPITALS)) == 26


def digit_classes(model) -> dict[str, int]:
    return _classes_named(model, DIGITS)


def letters_status() -> tuple[bool, str]:
    """(shipped, one line): whether the Letters CGN ships in assets/models."""
    from cgn_art.mechanisms.weights import shipped_models

    return (True, "the Letters CGN") if LETTERS in shipped_models() else (False, NOT_SHIPPED)


def load_letters(name_or_path: str = LETTERS, device="auto"):
    """The Letters CGN (by name, or a model folder); CgnArtError when it is not shipped or not a letters model."""
    from cgn_art.mechanisms.weights import load_model, shipped_models

    if str(name_or_path) == LETTERS and LETTERS not in shipped_models():
        raise CgnArtError(NOT_SHIPPED)
    model = load_model(name_or_path, device=device)
    letter_classes(model)
    return model


def digit_model_name() -> str | None:
    """A shipped model whose shape classes are the digits 0-9 (the MNIST CGNs), preferring the default."""
    from cgn_art.mechanisms.weights import DEFAULT_MODEL, read_config, shipped_models

    shipped = shipped_models()
    for name in sorted(shipped, key=lambda n: n != DEFAULT_MODEL):
        try:
            classes = read_config(shipped[name])["config"].get("shape_classes", [])
        except CgnArtError:
            continue
        if {str(c).strip() for c in classes} >= set(DIGITS):
            return name
    return None


def load_digits(device="auto"):
    """The digit-shape model, or None when none is shipped."""
    from cgn_art.mechanisms.weights import load_model

    name = digit_model_name()
    return load_model(name, device=device) if name else None


# Glyph masks --------------------------------------------------------------------------------------

@torch.no_grad()
def glyph_masks(models: dict, text: Text, seeds: list[int], truncation: float, size: int | dict | None = None,
                noise: dict | None = None) -> torch.Tensor | dict:
    """Masks of every glyph of ``text``: {source: (N_source, 1, S, S)} rendered per model in one call.

    ``size``: px (one size, or a dict per source); default each model's native size.
    ``noise``: {source: noise} to use instead of the glyphs' seeds (the lyric video's pulses).
    """
    out = {}
    for source, model in models.items():
        chosen = [g for g in text.glyphs if g.source == source]
        if not chosen:
            continue
        s = model.native_size if size is None else size[source] if isinstance(size, dict) else size
        z = noise[source] if noise else model.noise("shape", [seeds[g.index] for g in chosen], truncation, s)
        weights = model.one_hot("shape", [g.shape_class for g in chosen])
        out[source] = model.mechanism("shape", weights, z.to(model.device), int(s)).float().cpu()
    return out


def measure(models: dict, text: Text, seeds: list[int], truncation: float, masks: dict | None = None):
    """Each glyph's Metrics (in caps) from its mask (``masks`` as glyph_masks gives them; default:
    rendered at each model's native size)."""
    masks = masks or glyph_masks(models, text, seeds, truncation)
    extents = np.zeros((len(text.glyphs), 4))
    native = np.zeros(len(text.glyphs))
    groups = np.zeros(len(text.glyphs), int)
    for g_index, source in enumerate(sorted(masks)):
        chosen = [g.index for g in text.glyphs if g.source == source]
        extents[chosen] = ink_extent(masks[source]) * models[source].native_size / masks[source].shape[-1]
        native[chosen] = models[source].native_size
        groups[chosen] = g_index
    return metrics_from_extents(extents, native, groups)


def fit_mask(mask: torch.Tensor, side: int) -> torch.Tensor:
    """(1, 1, S, S) -> (1, 1, side, side), antialiased when shrinking."""
    if mask.shape[-1] == side:
        return mask
    return F.interpolate(mask, size=(side, side), mode="bilinear", align_corners=False,
                         antialias=side < mask.shape[-1]).clamp_(0, 1)


def box_of(glyph, width: int, height: int, scale: float = 1.0):
    """Integer box (x0, y0, side) of a glyph, optionally scaled about its centre, and its visible part
    as canvas slices and mask slices (None when it lies outside the canvas)."""
    side = max(1, int(round(glyph.side * scale)))
    cx, cy = glyph.x + glyph.side / 2, glyph.y + glyph.side / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    ax, ay, bx, by = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if ax >= bx or ay >= by:
        return side, None
    return side, ((slice(ay, by), slice(ax, bx)), (slice(ay - y0, by - y0), slice(ax - x0, bx - x0)))


# Texture and background canvases ----------------------------------------------------------------

def work_size(layout: Layout, models: dict, texture_scale: float = 1.0, canvases: int = 1) -> int:
    """The side at which texture and background are painted for this layout (see the module docstring).

    Capped at 4x the model's native size for one canvas and 2x when there are several (a texture per
    letter or word): the small CGNs' fields have no more detail than that, and the cap keeps a poster
    with a texture per letter as quick as one with a single texture."""
    native = models["letters"].native_size
    side = max(layout.width, layout.height) * texture_scale
    px_per_native = float(np.median([g.side / models[g.source].native_size for g in layout.glyphs]))
    work = math.ceil(side / max(px_per_native, 1e-6))
    cap = (4 if canvases == 1 else 2) * native * texture_scale
    return int(max(1, min(side, cap, max(work, min(side, native)))))


@torch.no_grad()
def paint(model, mechanism: str, weights: torch.Tensor, seeds: list[int], truncation: float, work: int) -> torch.Tensor:
    """(K, 3, work, work) canvases of ``mechanism`` for K class-weight rows and seeds."""
    noise = model.noise(mechanism, seeds, truncation, work)
    return model.mechanism(mechanism, weights.to(model.device), noise, work).float().cpu()


def upscale(canvas: torch.Tensor, width: int, height: int, zoom: float = 1.0) -> torch.Tensor:
    """(K, 3, w, w) work canvases -> (K, 3, height, width): the painting spans a square ``zoom`` times
    the canvas's longer side; the canvas shows its top-left corner."""
    side = max(width, height)
    if zoom == 1 and canvas.shape[-1] == side:
        return canvas[..., :height, :width]
    if zoom == 1:
        return F.interpolate(canvas, size=(side, side), mode="bilinear", align_corners=False)[..., :height, :width]
    return torch.cat([sample(c[None], width, height, slice(0, height), slice(0, width), zoom) for c in canvas])


def sample(canvas: torch.Tensor, width: int, height: int, rows: slice, cols: slice, zoom: float = 1.0) -> torch.Tensor:
    """The part (rows, cols) of ``upscale(canvas)`` without scaling the whole canvas: (1, 3, h, w)."""
    side = max(width, height) * zoom
    ys = (torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5) / side * 2 - 1
    xs = (torch.arange(cols.start, cols.stop, dtype=torch.float32) + 0.5) / side * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]
    return F.grid_sample(canvas, grid, mode="bilinear", padding_mode="border", align_corners=False)


def band_weights(layout: Layout, rows: int, zoom: float = 1.0) -> torch.Tensor:
    """(lines, rows) weights that give each line its own background band, cross-faded between lines."""
    side = max(layout.width, layout.height) * zoom
    y = (torch.arange(rows, dtype=torch.float32) + 0.5) * side / rows
    centres = [b - layout.cap / 2 for b in layout.baselines]
    weights = torch.zeros(len(centres), rows)
    weights[0] = 1
    for j in range(len(centres) - 1):
        edge, fade = (centres[j] + centres[j + 1]) / 2, max(1.0, 0.4 * (centres[j + 1] - centres[j]))
        t = ((y - edge) / fade + 0.5).clamp(0, 1)
        t = t * t * (3 - 2 * t)
        weights[j + 1] += t
        weights[j] -= t
    return weights


def _blend(model, mechanism: str, classes: list[int], position: float) -> torch.Tensor:
    """Class weights at ``position`` along ``classes`` (0 = first, len-1 = last), linear between stops."""
    k = len(classes)
    position = min(max(position, 0.0), k - 1)
    a = int(math.floor(position))
    b, t = min(a + 1, k - 1), position - a
    return model.one_hot(mechanism, [classes[a]]).cpu() * (1 - t) + model.one_hot(mechanism, [classes[b]]).cpu() * t


def texture_keys(model, settings: TypeSettings, layout: Layout, seeds: list[int]):
    """(weights (K, C), seeds [K], key of each glyph) for the chosen texture_by."""
    from cgn_art.mixing import suggested_classes

    classes = settings.textures or suggested_classes(model, "texture")
    glyphs = sorted(layout.glyphs, key=lambda g: g.index)
    mode = settings.texture_by
    if mode == "all" or (mode == "walk" and len(glyphs) == 1):
        return model.one_hot("texture", classes[:1]).cpu(), [settings.seed], {g.index: 0 for g in glyphs}
    if mode == "walk":
        n = len(glyphs)
        rows = [_blend(model, "texture", classes, i * (len(classes) - 1) / (n - 1)) for i in range(n)]
        return torch.cat(rows), [settings.seed] * n, {g.index: i for i, g in enumerate(glyphs)}
    if mode == "word":
        words = sorted({g.word for g in glyphs})
        order = {w: i for i, w in enumerate(words)}
        weights = model.one_hot("texture", [classes[i % len(classes)] for i in range(len(words))]).cpu()
        return (weights, [letter_seed(settings.seed, 10_000 + w) for w in words],
                {g.index: order[g.word] for g in glyphs})
    weights = model.one_hot("texture", [classes[g.index % len(classes)] for g in glyphs]).cpu()
    return weights, [seeds[g.index] for g in glyphs], {g.index: i for i, g in enumerate(glyphs)}


def network_background(models: dict, settings: TypeSettings, layout: Layout, bg_classes: list[int]) -> torch.Tensor:
    """(1, 3, H, W): a network field's background, painted at its working size and scaled up."""
    model = models["letters"]
    if settings.background_by == "line" and layout.lines > 1:
        lines = range(layout.lines)
        work = work_size(layout, models, settings.texture_scale, canvases=layout.lines)
        bg = paint(model, "background", model.one_hot("background", [bg_classes[i % len(bg_classes)] for i in lines]),
                   [letter_seed(settings.seed, 20_000 + i) for i in lines], settings.truncation, work)
        bg = (bg * band_weights(layout, work, settings.texture_scale)[:, None, :, None]).sum(0, keepdim=True)
    else:
        bg = paint(model, "background", model.one_hot("background", bg_classes[:1]), [settings.seed],
                   settings.truncation, work_size(layout, models, settings.texture_scale))
    return upscale(bg, layout.width, layout.height, settings.texture_scale).clone()


def network_letters(models: dict, settings: TypeSettings, layout: Layout, weights: torch.Tensor, seeds: list[int]):
    """A function (texture key, rows, cols) -> (1, 3, h, w): a network field's texture canvas per key,
    painted at its working size and sampled where the letters stand."""
    work = work_size(layout, models, settings.texture_scale, canvases=len(weights))
    textures = paint(models["letters"], "texture", weights, seeds, settings.truncation, work)
    width, height, zoom = layout.width, layout.height, settings.texture_scale

    def letters(key: int, rows: slice, cols: slice) -> torch.Tensor:
        if (rows.stop - rows.start, cols.stop - cols.start) == (height, width):
            return upscale(textures[key:key + 1], width, height, zoom)
        return sample(textures[key:key + 1], width, height, rows, cols, zoom)
    return letters


def material_background(model, settings: TypeSettings, layout: Layout, bg_classes: list[int]) -> torch.Tensor:
    """(1, 3, H, W): the background synthesised from its material over the whole poster."""
    width, height = layout.width, layout.height
    zoom = settings.texture_scale * material_zoom(max(width, height), model.config.exemplar_side,
                                                  settings.material_scale)
    field = model.background
    if settings.background_by == "line" and layout.lines > 1:
        lines = range(layout.lines)
        weights = model.one_hot("background", [bg_classes[i % len(bg_classes)] for i in lines])
        noise = model.noise("background", [letter_seed(settings.seed, 20_000 + i) for i in lines],
                            settings.truncation, 1)
        bands = band_weights(layout, max(width, height))[:, :height]
        canvas = torch.zeros(1, 3, height, width)
        for i in lines:
            canvas += field.paint(weights[i:i + 1], noise[i:i + 1], height, width, zoom).cpu() * bands[i][:, None]
        return canvas.clamp(0, 1)
    noise = model.noise("background", [settings.seed], settings.truncation, 1)
    return field.paint(model.one_hot("background", bg_classes[:1]), noise, height, width, zoom).float().cpu()


def material_letters(model, settings: TypeSettings, layout: Layout, weights: torch.Tensor, seeds: list[int]):
    """A function (texture key, rows, cols) -> (1, 3, h, w) of the letters' material there. Each key
    is its own place on the material's plane, and each letter shows the part of it where it stands,
    so no two letters show the same pixels."""
    sides = [g.side for g in layout.glyphs if g.source == "letters"] or [g.side for g in layout.glyphs]
    zoom = settings.texture_scale * material_zoom(float(np.median(sides)), model.config.exemplar_side,
                                                  settings.material_scale)
    noise = model.noise("texture", seeds, settings.truncation, 1)
    weights = weights.to(model.device)

    def letters(key: int, rows: slice, cols: slice) -> torch.Tensor:
        return model.texture.paint(weights[key:key + 1], noise[key:key + 1], rows.stop - rows.start,
                                   cols.stop - cols.start, zoom, offset=(rows.start, cols.start)).float().cpu()
    return letters


# The poster ----------------------------------------------------------------------------------------

@dataclass
class Poster:
    image: Image.Image
    mask: torch.Tensor          # (1, H, W) every glyph's mask on the canvas
    layout: Layout
    text: Text
    settings: TypeSettings
    model: str
    digit_model: str | None

    @property
    def warning(self) -> str:
        """One line about skipped characters, or ''."""
        return self.text.skipped_message()

    def metadata(self) -> dict:
        """What a PNG stores: the settings plus the models, enough to make the poster again."""
        return {"kind": KIND, **self.settings.to_dict(), "model": self.model, "digit_model": self.digit_model}


def glyph_seeds(settings: TypeSettings, count: int) -> list[int]:
    return [settings.letter_seeds.get(i, letter_seed(settings.seed, i)) for i in range(count)]


@torch.no_grad()
def render_poster(model, settings: TypeSettings, digit_model=None) -> Poster:
    """Set ``settings.text`` with the letters ``model`` (and ``digit_model`` for digits, if given).

    >>> poster = render_poster(load_letters(), TypeSettings(text="Hello", texture_by="letter"))  # doctest: +SKIP
    >>> save_png(poster.image, "hello.png", poster.metadata())  # doctest: +SKIP
    """
    settings.validate(model)
    models = {"letters": model}
    digits = digit_classes(digit_model) if digit_model is not None else None
    if digits:
        models["digits"] = digit_model
    text = split_text(settings.text, letter_classes(model), digits)
    seeds = glyph_seeds(settings, len(text.glyphs))
    width, height = settings.size
    # One shape-mechanism call draws the masks at 4x native size, measured for the layout and shrunk
    # into the boxes; only letters larger than that are drawn again at their size.
    masks = glyph_masks(models, text, seeds, settings.truncation,
                        size={s: 4 * m.native_size for s, m in models.items()})
    metrics = measure(models, text, seeds, settings.truncation, masks)
    layout = arrange(text, metrics, width, height, margin=settings.margin, align=settings.align,
                     letter_size=settings.letter_size, tracking=settings.tracking, word_space=settings.word_space,
                     line_spacing=settings.line_spacing)
    weights, tex_seeds, key_of = texture_keys(model, settings, layout, seeds)
    from cgn_art.mixing import suggested_classes

    bg_classes = settings.backgrounds or suggested_classes(model, "background")
    if getattr(model, "exemplar_fields", False):
        image = material_background(model, settings, layout, bg_classes)
        letters = material_letters(model, settings, layout, weights, tex_seeds)
    else:
        image = network_background(models, settings, layout, bg_classes)
        letters = network_letters(models, settings, layout, weights, tex_seeds)
    need = {s: max(8, math.ceil(max(g.side for g in layout.glyphs if g.source == s)))
            for s in models if any(g.source == s for g in layout.glyphs)}
    if any(need[s] > 1.25 * masks[s].shape[-1] for s in need):
        masks = glyph_masks(models, text, seeds, settings.truncation, size=need)
    position = {g.index: i for s in masks for i, g in enumerate([g for g in text.glyphs if g.source == s])}
    canvas_mask = torch.zeros(1, 1, height, width)
    one_texture = len(weights) == 1
    for g in layout.glyphs:
        side, where = box_of(g, width, height)
        if where is None:
            continue
        (rows, cols), (mrows, mcols) = where
        m = fit_mask(masks[g.source][position[g.index]:position[g.index] + 1], side)[..., mrows, mcols]
        target = canvas_mask[..., rows, cols]
        if one_texture:
            torch.maximum(target, m, out=target)
            continue
        fg = letters(key_of[g.index], rows, cols)
        region = image[..., rows, cols]
        image[..., rows, cols] = region + m * (fg - region)
        torch.maximum(target, m, out=target)
    if one_texture:
        fg = letters(0, slice(0, height), slice(0, width))
        image = image + canvas_mask * (fg - image)
    return Poster(image=to_pil(image[0]), mask=canvas_mask[0], layout=layout, text=text, settings=settings,
                  model=getattr(model, "name", ""), digit_model=getattr(digit_model, "name", None) if digits else None)
