"""Make a trained exemplar model's materials again with the current quilting.

The materials (each class's source quilts, ``cgn_art.train.exemplars.material_sources``) are made
once, before the shape mechanism trains, and the shape never sees them; so when the quilting
improves, a model gets new materials without training again: its data is rebuilt, the masks are
found in the composites as in training (same seed and steps), and the materials are quilted from
them. The shape mechanism's weights are kept as they are. A model from before materials (one quilt
per class) comes out with materials, and each class's first source becomes its exemplar.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cgn_art.data.registry import dataset as data_family
from cgn_art.errors import CgnArtError
from cgn_art.materials.fields import MaterialClass, material_classes, set_material_classes
from cgn_art.materials.synthesis import Source
from cgn_art.mechanisms.weights import load_model, read_config, save_model, shipped_models
from cgn_art.runtime.progress import Progress, reporter, sub_progress
from cgn_art.settings_checks import whole
from cgn_art.train import pseudo_masks
from cgn_art.train.exemplars import SOURCES, materials_from_masks


def checked_source(source: str | Path, out: str | Path):
    """(folder, model) of ``source`` after the checks that need no work: it loads, it is an exemplar
    model, and ``out`` is another folder. Raises :class:`CgnArtError` in words."""
    folder = shipped_models().get(str(source), Path(source))
    if Path(out).resolve() == folder.resolve():
        raise CgnArtError(f"{out}: that is the model being read; write the new one to another folder")
    model = load_model(folder, device="cpu")
    if not getattr(model, "exemplar_fields", False):
        raise CgnArtError(f"{source}: its texture and background mechanisms are networks, not exemplars; "
                          "only an exemplar model (trained with --fields exemplar) can be quilted again")
    return folder, model


def requilt(source: str | Path, out: str | Path, progress: Progress | None = None, sources: int = SOURCES) -> Path:
    """Write to ``out`` the model ``source`` (a shipped name or a folder) with its materials quilted
    again from its own training data, ``sources`` quilts a class (see ``exemplars.SOURCES``); returns
    ``out``. Finding the masks is about the first third of the time, quilting the rest."""
    sources = whole("sources", sources, 1, 8)
    say = reporter(progress)
    folder, model = checked_source(source, out)
    facts = {k: v for k, v in read_config(folder).items() if k not in ("format", "config")}
    trained = facts.get("train_settings", {})
    seed, steps = int(trained.get("seed", 0)), int(trained.get("mask_steps", 1000))
    family = data_family(model.config.variant)
    say(0.0, "building the training data")
    data = family.load("train", seed=seed, copies=int(trained.get("copies", 1)))
    counts = {kind: model.num_classes(kind) for kind in ("texture", "background")}
    found = pseudo_masks.find_masks(data.images, data.texture_class, data.background_class, counts["texture"],
                                    counts["background"], family.border, seed=seed, steps=steps,
                                    progress=sub_progress(say, 0.0, 0.35, "finding the masks"))
    masks = torch.from_numpy(found.astype(np.float32))[:, None]
    done = iter(range(1, sum(counts.values()) + 1))
    made = materials_from_masks(data, masks, counts, model.texture.side, np.random.default_rng(seed),
                                progress=lambda m: say(0.35 + 0.65 * next(done) / sum(counts.values()),
                                                       f"quilting the materials: {m}"), sources=sources)
    for kind, per_class in made.items():
        classes = [MaterialClass(old.name, [Source(torch.from_numpy(q), True, share) for q, share in quilts],
                                 torch.from_numpy(quilts[0][0]))
                   for old, quilts in zip(material_classes(model, kind), per_class)]
        set_material_classes(model, kind, classes)
    facts["requilted"] = {"from": str(source), "seed": seed, "mask_steps": steps, "sources": sources,
                          "note": "materials quilted again: per class, its training images in `sources` random "
                                  "groups, each group's blocks quilted (the most representative of four draws, "
                                  "smoothed seams, backgrounds without stray letter pieces); shape unchanged"}
    return save_model(model, Path(out), extra=facts)
