"""The Mechanisms contract every CGN in cgn-art implements, and the Counterfactual it returns.

A CGN is three independent mechanisms, each with its own class and noise:
shape -> mask, texture -> foreground, background -> background; the image is the composite
``mask * foreground + (1 - mask) * background``. The small MNIST CGN and the ImageNet CGN both
implement :class:`Mechanisms`, so the mixer, the dance and the stylizer never care which one runs.
"""
from __future__ import annotations

import abc
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import MAX_SIZE, check_size, check_truncation, model_class, whole

MECHANISMS = ("shape", "texture", "background")


@dataclass
class Counterfactual:
    """One batch of counterfactual images and everything that made them.

    Tensors are float in [0, 1], shaped (N, C, H, W): ``mask`` has one channel, the others three.
    """

    mask: torch.Tensor
    foreground: torch.Tensor
    background: torch.Tensor
    composite: torch.Tensor
    shape_class: list[int]
    texture_class: list[int]
    background_class: list[int]
    shape_seed: list[int]
    texture_seed: list[int]
    background_seed: list[int]
    truncation: float
    size: int
    model: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.composite.shape[0]

    def image(self, part: str = "composite", index: int = 0) -> Image.Image:
        """The ``part`` ('mask', 'foreground', 'background' or 'composite') of item ``index`` as a PIL image."""
        if part not in ("mask", "foreground", "background", "composite"):
            raise CgnArtError(f"unknown part {part!r}; use mask, foreground, background or composite")
        return to_pil(getattr(self, part)[index])

    def settings(self, index: int = 0) -> dict:
        """The inputs that reproduce item ``index`` exactly (written into PNG metadata, sidecars, URLs)."""
        return {
            "model": self.model,
            "shape_class": self.shape_class[index],
            "texture_class": self.texture_class[index],
            "background_class": self.background_class[index],
            "shape_seed": self.shape_seed[index],
            "texture_seed": self.texture_seed[index],
            "background_seed": self.background_seed[index],
            "truncation": self.truncation,
            "size": self.size,
        }


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) float tensor in [0, 1] -> PIL image (L for one channel, RGB for three)."""
    # +0.5 then truncation rounds; channels-last before the copy to numpy (PIL wants HxWxC bytes)
    array = (image.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0])
    return Image.fromarray(array)


def truncated_noise(shape: Sequence[int], seed: int, truncation: float) -> torch.Tensor:
    """Standard normal noise cut at +-2 (resampled, as BigGAN does) and scaled by ``truncation``.

    Deterministic for a seed on every device because it is drawn on the CPU.
    """
    generator = torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
    noise = torch.randn(*shape, generator=generator)
    outside = noise.abs() > 2
    while outside.any():
        noise[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = noise.abs() > 2
    return noise * truncation


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation item by item (a, b: (N, ...); t: (N,)): keeps Gaussian noise at a
    typical norm midway, where a straight line through the middle would shrink it (and wash the
    image out). Used by interpolation strips and the dance's noise walks."""
    shape = a.shape
    a, b = a.reshape(shape[0], -1), b.reshape(shape[0], -1)
    t = t.reshape(-1, 1).to(a)
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    cos = ((a * b).sum(dim=1, keepdim=True) / (na * nb).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    straight = sin.abs() < 1e-4  # (nearly) the same direction: slerp degenerates to lerp
    safe_sin = sin.where(~straight, torch.ones_like(sin))
    wa = torch.where(straight, 1 - t, torch.sin((1 - t) * omega) / safe_sin)
    wb = torch.where(straight, t, torch.sin(t * omega) / safe_sin)
    return (wa * a + wb * b).reshape(shape)


class Mechanisms(abc.ABC):
    """The contract: three mechanisms with their own class and noise, rendered at any size.

    Implementations provide the three ``*_noise``/render methods; the class inputs are weight
    vectors of shape (N, num_classes) so callers can blend classes (the dance does), and
    :meth:`counterfactual` turns plain class indices and seeds into a :class:`Counterfactual`.
    """

    name: str = "cgn"
    native_size: int = 32
    device: torch.device = torch.device("cpu")
    # Per mechanism, the classes worth showing first (the ImageNet CGN's curated lists); empty: all
    # of them, in order. Read-only here, so no model can change another's by accident.
    presets: Mapping[str, Sequence[int]] = types.MappingProxyType({})

    @property
    @abc.abstractmethod
    def class_names(self) -> dict[str, list[str]]:
        """Class names per mechanism: {'shape': [...], 'texture': [...], 'background': [...]}."""

    @abc.abstractmethod
    def noise(self, mechanism: str, seeds: Sequence[int], truncation: float, size: int) -> torch.Tensor:
        """The noise a mechanism takes for each seed, for an output of ``size`` pixels."""

    @abc.abstractmethod
    def mechanism(self, mechanism: str, weights: torch.Tensor, noise: torch.Tensor, size: int) -> torch.Tensor:
        """Run one mechanism alone: 'shape' -> mask (N, 1, size, size); 'texture' -> foreground and
        'background' -> background (N, 3, size, size); floats in [0, 1].

        Kept separate so a caller whose frames change only some mechanisms' inputs (the dance)
        can reuse the others' outputs instead of recomputing them.
        """

    def render(
        self,
        shape_weights: torch.Tensor,
        shape_noise: torch.Tensor,
        texture_weights: torch.Tensor,
        texture_noise: torch.Tensor,
        background_weights: torch.Tensor,
        background_noise: torch.Tensor,
        size: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (mask, foreground, background) at ``size`` x ``size``, floats in [0, 1]."""
        size = validate_size(size)
        return (self.mechanism("shape", shape_weights, shape_noise, size),
                self.mechanism("texture", texture_weights, texture_noise, size),
                self.mechanism("background", background_weights, background_noise, size))

    # Shared, concrete helpers --------------------------------------------------------------

    def num_classes(self, mechanism: str) -> int:
        return len(self.class_names[mechanism])

    def one_hot(self, mechanism: str, classes: Sequence[int]) -> torch.Tensor:
        n = self.num_classes(mechanism)
        index = torch.as_tensor([model_class(mechanism, c, n) for c in classes], dtype=torch.long)
        return torch.nn.functional.one_hot(index, n).float().to(self.device)

    @torch.no_grad()
    def counterfactual(
        self,
        shape: int | Sequence[int],
        texture: int | Sequence[int],
        background: int | Sequence[int],
        *,
        seed: int | Sequence[int] | None = 0,
        shape_seed: int | Sequence[int] | None = None,
        texture_seed: int | Sequence[int] | None = None,
        background_seed: int | Sequence[int] | None = None,
        truncation: float = 1.0,
        size: int | None = None,
    ) -> Counterfactual:
        """Generate counterfactuals: this shape, with that texture, on that background.

        Scalars broadcast against lists, so ``counterfactual(3, range(10), 7)`` is one shape in
        ten textures. Each mechanism's seed defaults to ``seed``.

        >>> from cgn_art import load_model
        >>> cf = load_model().counterfactual(shape=3, texture=5, background=1, seed=7, size=256)
        >>> cf.composite.shape, cf.settings()["texture_class"]
        (torch.Size([1, 3, 256, 256]), 5)
        >>> len(load_model().counterfactual(3, range(10), 7))  # one shape in ten textures
        10
        """
        size = validate_size(self.native_size if size is None else size)
        truncation = validate_truncation(truncation)
        columns = {
            "shape": _as_list(shape, "shape class"),
            "texture": _as_list(texture, "texture class"),
            "background": _as_list(background, "background class"),
            "shape_seed": _as_list(seed if shape_seed is None else shape_seed, "shape seed"),
            "texture_seed": _as_list(seed if texture_seed is None else texture_seed, "texture seed"),
            "background_seed": _as_list(seed if background_seed is None else background_seed, "background seed"),
        }
        n = max(len(v) for v in columns.values())
        for key, values in columns.items():
            if len(values) not in (1, n):
                raise CgnArtError(f"{key} has {len(values)} values but other inputs have {n}; give 1 or {n}")
            columns[key] = values * n if len(values) == 1 else values
        for key in ("shape_seed", "texture_seed", "background_seed"):
            columns[key] = [whole(key.replace("_", " "), s, 0) for s in columns[key]]
        mask, fg, bg = self.render(
            self.one_hot("shape", columns["shape"]),
            self.noise("shape", columns["shape_seed"], truncation, size),
            self.one_hot("texture", columns["texture"]),
            self.noise("texture", columns["texture_seed"], truncation, size),
            self.one_hot("background", columns["background"]),
            self.noise("background", columns["background_seed"], truncation, size),
            size,
        )
        return Counterfactual(
            mask=mask, foreground=fg, background=bg, composite=composite(mask, fg, bg),
            shape_class=[int(c) for c in columns["shape"]],
            texture_class=[int(c) for c in columns["texture"]],
            background_class=[int(c) for c in columns["background"]],
            shape_seed=[int(s) for s in columns["shape_seed"]],
            texture_seed=[int(s) for s in columns["texture_seed"]],
            background_seed=[int(s) for s in columns["background_seed"]],
            truncation=truncation, size=size, model=self.name,
        )


def composite(mask: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The CGN composite ``x = m * f + (1 - m) * b``."""
    return mask * foreground + (1 - mask) * background


def validate_size(size) -> int:
    """An image side in pixels, 1 to MAX_SIZE.

    >>> validate_size("256")
    256
    """
    return check_size(size, 1, MAX_SIZE)


def validate_truncation(truncation) -> float:
    """The noise truncation, in (0, 1]: 0 would draw no noise at all.

    >>> validate_truncation("0.5")
    0.5
    """
    return check_truncation(truncation)


def _as_list(value, what: str) -> list:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, (list, tuple, range, np.ndarray)):
        values = list(value)
        if not values:
            raise CgnArtError(f"{what}: got an empty list")
        return values
    return [value]
