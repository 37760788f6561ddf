"""BoxLetters: a Mechanisms whose letters are boxes of known widths and whose textures and
backgrounds are flat class colours, so layout numbers can be predicted."""
from __future__ import annotations

import torch

from cgn_art.mechanisms.base import Mechanisms, truncated_noise

CAPS = [chr(65 + i) for i in range(26)]


TEXTURES = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])


BACKGROUNDS = torch.tensor([[0.0, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0.4]])


def box_width(letter_class: int) -> float:
    """Ink width of a BoxLetters letter in native px (its height is always 40)."""
    return 8 + 1.5 * letter_class


class BoxLetters(Mechanisms):
    """Letters A-Z as boxes 40 px high (native 64) and 8 + 1.5 * class wide, bottom at y = 52, with a
    small hole placed by the noise; textures and backgrounds are flat colours of their class."""

    native_size = 64
    name = "box-letters"

    def __init__(self, digits: bool = False):
        self.shapes = [str(i) for i in range(10)] if digits else CAPS

    @property
    def class_names(self):
        return {"shape": list(self.shapes), "texture": ["red", "green", "blue", "white"],
                "background": ["black", "grey", "navy"]}

    def noise(self, mechanism, seeds, truncation, size):
        return torch.stack([truncated_noise((1,), s, truncation) for s in seeds])

    def mechanism(self, mechanism, weights, noise, size):
        n = len(weights)
        if mechanism == "texture":
            return (weights @ TEXTURES)[:, :, None, None].expand(n, 3, size, size).clone()
        if mechanism == "background":
            return (weights @ BACKGROUNDS)[:, :, None, None].expand(n, 3, size, size).clone()
        x = (torch.arange(size, dtype=torch.float32) + 0.5) * 64 / size
        cls = weights.argmax(1).float()
        half = (8 + 1.5 * cls)[:, None] / 2
        inside_x = (x[None] - 32).abs() < half                                   # (N, S)
        inside_y = (x > 12) & (x < 52)                                           # (S,)
        mask = (inside_y[None, :, None] & inside_x[:, None, :]).float()
        hole_x = 32 + noise[:, 0].clamp(-1, 1) * 0.25 * half[:, 0]                # where the seed puts the hole
        hole = ((x[None] - hole_x[:, None]).abs() < 2)[:, None, :] & ((x - 30).abs() < 3)[None, :, None]
        return (mask * (~hole).float())[:, None]
