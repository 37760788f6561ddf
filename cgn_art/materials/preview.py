"""One material on its own, at any size: what the Materials page and ``cgn-art materials preview`` show."""
from __future__ import annotations

from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.materials.fields import check_kind
from cgn_art.mechanisms.base import to_pil
from cgn_art.mechanisms.exemplar import material_zoom
from cgn_art.settings_checks import number, whole


def material_preview(model, kind: str, name: str | int, size: int = 1080, *, seed: int = 0,
                     material_scale: float = 0.0) -> tuple[Image.Image, dict]:
    """(picture, settings) of ``kind`` class ``name`` (or index) of ``model``, ``size`` px square."""
    kind = check_kind(kind)
    if not getattr(model, "exemplar_fields", False):
        raise CgnArtError(f"{model.name}: its {kind}s are drawn by a network, not from materials")
    names = model.class_names[kind]
    if isinstance(name, int):
        index = whole(f"{kind} class", name, 0, len(names) - 1)
    else:
        lowered = [n.lower() for n in names]
        if str(name).strip().lower() not in lowered:
            raise CgnArtError(f"no {kind} {name!r}; the model's {kind}s: {', '.join(names)}")
        index = lowered.index(str(name).strip().lower())
    size = whole("size", size, 16, 4096, unit="pixels")
    seed = whole("seed", seed, 0)
    material_scale = number("material scale", material_scale, 0, 1)
    zoom = material_zoom(size, model.config.exemplar_side, material_scale)
    noise = model.noise(kind, [seed], 1.0, size)
    picture = getattr(model, kind).paint(model.one_hot(kind, [index]), noise, size, size, zoom)
    settings = {"kind": "material", "model": model.name, "mechanism": kind, "class": names[index],
                "seed": seed, "size": size, "material_scale": material_scale}
    return to_pil(picture[0]), settings


def photos_preview(sources, side: int, size: int, *, seed: int = 0, material_scale: float = 0.0) -> Image.Image:
    """A ``size`` px picture of a material made from ``sources`` (``photos.photo_sources``) before it is
    saved into a model: what the class will look like, ``side`` px spanning a native image."""
    import torch

    from cgn_art.materials.synthesis import Material, paint
    from cgn_art.mechanisms.exemplar import SPAN, default_band, default_cell

    cell = min(default_cell(*s.pixels.shape[1:], s.tileable) for s in sources)
    material = Material(sources, cell, default_band(cell, all(s.tileable for s in sources)))
    zoom = material_zoom(size, side, material_scale)
    place = int(torch.special.ndtr(torch.tensor(float(seed % 1000) / 250 - 2)) * SPAN)
    rows = max(1, round(size / zoom))
    picture = paint(material, place, place, rows, rows)
    if rows != size:
        picture = torch.nn.functional.interpolate(picture[None], size=(size, size), mode="bilinear",
                                                  align_corners=False)[0]
    return to_pil(picture)
