"""Putting materials into a model: a texture or background mechanism rebuilt with new classes or sources.

A model's material field holds its sources in one buffer and lists them in its config
(``SmallCGNConfig.materials``), so a model with new materials is a model folder like any other
(safetensors + JSON) that ``load_model`` reads. The shape mechanism is never touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cgn_art.errors import CgnArtError
from cgn_art.materials.synthesis import Source

KINDS = ("texture", "background")


@dataclass
class MaterialClass:
    """One class of a material field: its name, its source pictures and its preview exemplar
    (3, side, side) uint8 (what a model from before materials would show)."""

    name: str
    sources: list[Source]
    exemplar: torch.Tensor


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise CgnArtError(f"a material is a 'texture' or a 'background', not {kind!r}")
    return kind


def material_classes(model, kind: str) -> list[MaterialClass]:
    """The classes of ``model``'s ``kind`` mechanism as they are now."""
    field = getattr(model, check_kind(kind))
    names = model.class_names[kind]
    return [MaterialClass(names[c], field.class_sources(c), field.exemplars[c].cpu().clone())
            for c in range(len(names))]


def set_material_classes(model, kind: str, classes: list[MaterialClass]) -> None:
    """Rebuild ``model``'s ``kind`` mechanism to hold exactly ``classes``, in this order."""
    from cgn_art.mechanisms.exemplar import ExemplarField

    if not getattr(model, "exemplar_fields", False):
        raise CgnArtError(f"{model.name}: its {kind} mechanism is a network, not materials; materials can be "
                          "added to a model whose textures are exemplars (the Letters CGN, or --fields exemplar)")
    if not classes:
        raise CgnArtError(f"a model needs at least one {kind} class")
    side = model.config.exemplar_side
    rows, pixels = [], []
    for c, cls in enumerate(classes):
        for source in cls.sources:
            h, w = source.pixels.shape[1:]
            rows.append([c, int(h), int(w), int(bool(source.tileable)), float(source.share or 0.0)])
            pixels.append(source.pixels.reshape(3, -1))
    field = ExemplarField(len(classes), side, rows)
    field.exemplars.copy_(torch.stack([cls.exemplar for cls in classes]))
    field.material.copy_(torch.cat(pixels, 1))
    setattr(model, kind, field.to(model.device))
    setattr(model.config, f"{kind}_classes", [cls.name for cls in classes])
    model.config.materials = {**(model.config.materials or {}), kind: rows}
