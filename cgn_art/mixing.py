"""Mixing counterfactuals by hand: one mix's settings, grids that vary one mechanism, interpolation strips.

The Mixer page, its URL and ``cgn-art mix|vary|interpolate`` share :class:`MixSettings`, so a mix
made in one reproduces exactly in the others.

>>> from cgn_art import load_model
>>> model = load_model()
>>> mix = MixSettings(shape=3, texture=5, background=1, size=256).validate(model)
>>> strip = interpolate(model, mix, "texture", to_class=7, steps=8)
>>> strip_image(strip).save("three-from-5-to-7.png")
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass, fields, replace
from typing import Mapping

import torch
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.io import png_bytes
from cgn_art.mechanisms.base import (
    MECHANISMS,
    Counterfactual,
    Mechanisms,
    composite,
    slerp,
    validate_size,
    validate_truncation,
)
from cgn_art.settings_checks import MAX_SEED, choice, model_class, whole

MAX_STEPS = 64      # an interpolation strip wider than this is a video, not a strip
MAX_VARY = 64       # classes in one 'vary' grid; an ImageNet model has 1,000


@dataclass
class MixSettings:
    """Everything that decides one counterfactual: a class and a seed per mechanism, truncation, size."""

    shape: int = 0
    texture: int = 0
    background: int = 0
    shape_seed: int = 0
    texture_seed: int = 0
    background_seed: int = 0
    truncation: float = 1.0
    size: int = 256

    def validate(self, model: Mechanisms) -> "MixSettings":
        for mechanism in MECHANISMS:
            setattr(self, mechanism, model_class(mechanism, getattr(self, mechanism), model.num_classes(mechanism)))
            name = f"{mechanism}_seed"
            setattr(self, name, whole(name.replace("_", " "), getattr(self, name), 0, MAX_SEED))
        self.truncation = validate_truncation(self.truncation)
        self.size = validate_size(self.size)
        return self

    def to_query(self) -> dict[str, str]:
        """The mix as URL query parameters (all strings)."""
        return {f.name: f"{getattr(self, f.name):g}" if f.type == "float" else str(getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_query(cls, query: Mapping[str, str], model: Mechanisms,
                   default: "MixSettings | None" = None) -> tuple["MixSettings", list[str]]:
        """Read a mix from URL query parameters, keeping the default for each value that is wrong.

        Returns the settings and one readable sentence per value that was ignored, so a bad link
        still opens (on the defaults) and says what was wrong with it.
        """
        mix = replace(default) if default else cls()
        problems = []
        for f in fields(cls):
            if f.name not in query:
                continue
            text = str(query[f.name]).strip()
            try:
                if f.name in MECHANISMS:
                    value = class_index(model, f.name, text)
                elif f.name == "truncation":
                    value = validate_truncation(text)
                elif f.name == "size":
                    value = validate_size(text)
                else:
                    value = whole(f.name.replace("_", " "), text, 0, MAX_SEED)
            except CgnArtError as e:
                problems.append(f"{f.name}={text[:40]!r} ignored: {e}")
                continue
            setattr(mix, f.name, value)
        return mix, problems


def class_index(model: Mechanisms, mechanism: str, text) -> int:
    """A class given by index or by name (case-insensitive), checked against the model."""
    names = model.class_names[mechanism]
    wanted = str(text).strip().casefold()
    for index, name in enumerate(names):
        if name.casefold() == wanted:
            return index
    try:
        index = int(wanted)
    except ValueError:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise CgnArtError(f"unknown {mechanism} class {str(text)[:40]!r}: give an index 0 to {len(names) - 1} "
                          f"or a name ({shown})") from None
    return model_class(mechanism, index, len(names))


# One mix, and grids around it ---------------------------------------------------------------

def suggested_classes(model: Mechanisms, mechanism: str) -> list[int]:
    """The classes worth showing first: a model's curated presets when it has them (the ImageNet
    CGN's lists of classes that work well as shapes, textures, backgrounds), else all of them."""
    presets = model.presets.get(mechanism)
    return list(presets) if presets else list(range(model.num_classes(mechanism)))


def render(model: Mechanisms, mix: MixSettings) -> Counterfactual:
    mix.validate(model)
    return model.counterfactual(mix.shape, mix.texture, mix.background, shape_seed=mix.shape_seed,
                                texture_seed=mix.texture_seed, background_seed=mix.background_seed,
                                truncation=mix.truncation, size=mix.size)


def vary(model: Mechanisms, mix: MixSettings, mechanism: str, classes: list[int] | None = None,
         size: int | None = None) -> Counterfactual:
    """Hold two mechanisms at ``mix`` and walk the third across ``classes`` (default: the suggested
    classes, up to MAX_VARY)."""
    mechanism = choice("mechanism", mechanism, MECHANISMS)
    mix.validate(model)
    classes = suggested_classes(model, mechanism)[:MAX_VARY] if classes is None else list(classes)
    if not 1 <= len(classes) <= MAX_VARY:
        raise CgnArtError(f"give 1 to {MAX_VARY} {mechanism} classes to vary (got {len(classes)})")
    chosen = {m: getattr(mix, m) for m in MECHANISMS}
    chosen[mechanism] = classes
    return model.counterfactual(**chosen, shape_seed=mix.shape_seed, texture_seed=mix.texture_seed,
                                background_seed=mix.background_seed, truncation=mix.truncation,
                                size=mix.size if size is None else size)


def shapes_by_textures(model: Mechanisms, mix: MixSettings, limit: int = 12) -> tuple[Counterfactual, list, list]:
    """Every shape (rows) in every texture (columns) on ``mix``'s background, up to ``limit`` of each.

    Returns the counterfactuals row by row, and the row and column classes.
    """
    mix.validate(model)
    rows = suggested_classes(model, "shape")[:limit]
    cols = suggested_classes(model, "texture")[:limit]
    cf = model.counterfactual([r for r in rows for _ in cols], [c for _ in rows for c in cols], mix.background,
                              shape_seed=mix.shape_seed, texture_seed=mix.texture_seed,
                              background_seed=mix.background_seed, truncation=mix.truncation, size=mix.size)
    return cf, rows, cols


def thumbnails(cf: Counterfactual, size: int, index: int = 0) -> dict[str, Image.Image]:
    """Mask, foreground, background and composite of item ``index`` shrunk to ``size`` px (area
    averaging on the tensors: cheaper than four full-size PIL images resized one by one)."""
    from cgn_art.mechanisms.base import to_pil

    parts = ("mask", "foreground", "background", "composite")
    stack = torch.cat([getattr(cf, p)[index:index + 1].expand(1, 3, -1, -1) for p in parts])
    small = torch.nn.functional.interpolate(stack, size=(size, size), mode="area")
    return {p: to_pil(small[i] if p != "mask" else small[i, :1]) for i, p in enumerate(parts)}


def zip_of(cf: Counterfactual, names: dict[str, list[str]], grid: Image.Image | None = None) -> bytes:
    """A ZIP of every composite in ``cf`` as its own PNG (settings inside), plus the whole grid."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for i in range(len(cf)):
            s = cf.settings(i)
            label = "-".join(names[m][s[f"{m}_class"]] for m in MECHANISMS)
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
            archive.writestr(f"{i:03d}-{safe}.png", png_bytes(cf.image("composite", i), s))
        if grid is not None:
            archive.writestr("grid.png", png_bytes(grid, {"model": cf.model, "tiles": len(cf)}))
    return buffer.getvalue()


# Interpolation ------------------------------------------------------------------------------

@torch.no_grad()
def interpolate(model: Mechanisms, mix: MixSettings, mechanism: str, *, to_class: int | None = None,
                to_seed: int | None = None, steps: int = 8) -> Counterfactual:
    """Walk one mechanism from ``mix``'s class and seed to ``to_class`` / ``to_seed`` in ``steps`` images,
    the other two held still: class weights blend linearly, noise moves along a great circle."""
    mechanism = choice("mechanism", mechanism, MECHANISMS)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise CgnArtError(f"steps must be a whole number from 2 to {MAX_STEPS} (got {steps!r})")
    mix.validate(model)
    start = replace(mix)
    end = replace(mix, **{mechanism: getattr(mix, mechanism) if to_class is None else to_class,
                          f"{mechanism}_seed": getattr(mix, f"{mechanism}_seed") if to_seed is None else to_seed})
    end.validate(model)
    t = torch.linspace(0, 1, steps, device=model.device)
    parts = {}
    for m in MECHANISMS:
        a_class, b_class = getattr(start, m), getattr(end, m)
        a_seed, b_seed = getattr(start, f"{m}_seed"), getattr(end, f"{m}_seed")
        weights = model.one_hot(m, [a_class]) * (1 - t[:, None]) + model.one_hot(m, [b_class]) * t[:, None]
        a_noise = model.noise(m, [a_seed], mix.truncation, mix.size)
        b_noise = model.noise(m, [b_seed], mix.truncation, mix.size)
        a_noise, b_noise = (x.repeat(steps, *[1] * (x.dim() - 1)) for x in (a_noise, b_noise))
        noise = a_noise if a_seed == b_seed else slerp(a_noise, b_noise, t)
        parts[m] = model.mechanism(m, weights, noise, mix.size)
    mask, fg, bg = parts["shape"], parts["texture"], parts["background"]
    n = steps
    return Counterfactual(
        mask=mask, foreground=fg, background=bg, composite=composite(mask, fg, bg),
        shape_class=[start.shape] * n, texture_class=[start.texture] * n, background_class=[start.background] * n,
        shape_seed=[start.shape_seed] * n, texture_seed=[start.texture_seed] * n,
        background_seed=[start.background_seed] * n, truncation=mix.truncation, size=mix.size, model=model.name,
        extra={"interpolation": {"mechanism": mechanism, "from": asdict(start), "to": asdict(end), "steps": steps,
                                 "t": [round(float(x), 6) for x in t]}})


def strip_image(cf: Counterfactual, gap: int = 2) -> Image.Image:
    """All composites of ``cf`` side by side."""
    tiles = [cf.image("composite", i) for i in range(len(cf))]
    w, h = tiles[0].size
    strip = Image.new("RGB", (len(tiles) * (w + gap) - gap, h), "white")
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * (w + gap), 0))
    return strip


def _loop(cf: Counterfactual, bounce: bool) -> list[Image.Image]:
    frames = [cf.image("composite", i) for i in range(len(cf))]
    return frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames


def gif_bytes(cf: Counterfactual, fps: float = 8.0, bounce: bool = True) -> bytes:
    """The strip as a looping GIF; ``bounce`` plays it forwards then backwards, so the loop has no jump."""
    frames = _loop(cf, bounce)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=max(20, round(1000 / fps)), optimize=False)
    return buffer.getvalue()


def mp4_bytes(cf: Counterfactual, fps: float = 8.0, bounce: bool = True, repeats: int = 3) -> bytes:
    """The strip as a short H.264 mp4 that plays in browsers: the (bounced) walk ``repeats`` times,
    since mp4 players do not loop on their own. Sides below 64 px are scaled up by the encoder."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from cgn_art.video import write_video

    frames = [np.asarray(frame.convert("RGB")) for frame in _loop(cf, bounce)] * repeats
    size = max(64, cf.size + cf.size % 2)
    with tempfile.TemporaryDirectory(prefix="cgn-art-walk-") as folder:
        path = write_video(Path(folder) / "walk.mp4", frames, fps=fps, size=size)
        return Path(path).read_bytes()
