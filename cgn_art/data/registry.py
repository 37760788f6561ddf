"""Training data sets by name: what the small-CGN trainer (and the fidelity judges) need to know.

A new family is one data module plus one entry here; no trainer knows which data set it trains on.

>>> from cgn_art.data.registry import dataset, DATASETS
>>> dataset("letters").class_names()["shape"][:3]
['A', 'B', 'C']
>>> "wildlife" in DATASETS
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cgn_art.errors import CgnArtError


@dataclass(frozen=True)
class DataFamily:
    """One training data set.

    - ``class_names()``: {"shape", "texture", "background"} -> names;
    - ``load(split, seed, copies)``: an object with ``images`` (N, S, S, 3) uint8, ``labels``,
      ``texture_class``, ``background_class`` (and, when ``detail_levels``, ``fine_images`` /
      ``fine_index``: some training images at 4x resolution). Split "train" is biased (each shape
      class wears its own texture and background), "test" is randomised;
    - ``native_size``: image side in pixels; ``border``: outer strip (px) that is always background;
    - ``train_defaults``: TrainSettings values that suit this data set (flags override them).
    """

    name: str
    native_size: int
    class_names: Callable[[], dict[str, list[str]]]
    load: Callable[..., object]
    border: int
    detail_levels: int = 0
    train_defaults: dict = field(default_factory=dict)


def _mnist(variant: str) -> DataFamily:
    from cgn_art.data import mnist

    return DataFamily(
        name=variant, native_size=mnist.SIZE, border=4,
        class_names=lambda: mnist.class_names(variant),
        load=lambda split="train", seed=0, copies=1: mnist.load(variant, split, seed=seed, copies=copies),
    )


def _letters() -> DataFamily:
    from cgn_art.data import letters

    return DataFamily(
        name="letters", native_size=letters.SIZE, border=3, detail_levels=2,
        class_names=letters.class_names,
        load=lambda split="train", seed=0, copies=1: letters.load(split, seed=seed),
        # Letters cover 18 % of an image on average (measured on the built set's alpha), between
        # about 8 and 35 % each.
        train_defaults={"recipe": "decomposed", "mask_area_per_image": (0.06, 0.38),
                        "mask_area_batch": (0.16, 0.21), "width": 48, "steps": 1500, "weight_binary": 5.0,
                        "batch_size": 16, "lr_generator": 5e-4, "binary_ramp_steps": 1000, "shape_substeps": 3,
                        "weight_kl": 1.0, "weight_shape_adversarial": 1.0,
                        "sample_every": 250, "checkpoint_every": 250},
    )


DATASETS: dict[str, Callable[[], DataFamily]] = {
    "colored": lambda: _mnist("colored"),
    "double-colored": lambda: _mnist("double-colored"),
    "wildlife": lambda: _mnist("wildlife"),
    "letters": _letters,
}


def dataset(name: str) -> DataFamily:
    """The data family called ``name`` (raises CgnArtError naming the choices)."""
    if name not in DATASETS:
        raise CgnArtError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]()
