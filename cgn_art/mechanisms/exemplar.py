"""Exemplar fields: a texture or background mechanism that holds one texture per class, made at training time.

Each class owns an exemplar: a seamless (toroidal) RGB texture, ``side`` px across, that spans one
native image at ``side / native_size`` times its resolution (256 px for a 64 px model: the field
a 256 px render needs, made at that scale, not upscaled). It is built at training time from the
pixels that the found masks give the class (``cgn_art.train.exemplars``), so it is part of the
trained model like any weight; a render only reads it. The noise (two numbers per sample) says
where the window falls on the torus: moving the noise pans the texture without a seam, so strips
and dances interpolate it smoothly. Soft class weights blend exemplars, as they blend embeddings
in the network fields.

Why not a network: on this CPU a convolutional field trained from the composites learned colour
and speckle but not pattern (README, "The Letters CGN"); an exemplar keeps the pattern the real
regions show (mortar lines, gravel edges, coin rims) at the render scale.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NOISE_DIM = 2  # (vertical, horizontal) position of the window on the exemplar's torus


class ExemplarField(nn.Module):
    """(class weights (N, C), noise (N, 2), size) -> RGB field (N, 3, size, size) in [0, 1]."""

    def __init__(self, num_classes: int, side: int):
        super().__init__()
        # uint8 like a picture: a quarter of float32's bytes, and no precision a texture can show is lost
        self.register_buffer("exemplars", torch.zeros(num_classes, 3, side, side, dtype=torch.uint8))

    @property
    def side(self) -> int:
        return self.exemplars.shape[-1]

    def noise_shape(self) -> tuple[int, ...]:
        return (NOISE_DIM,)

    def offsets(self, noise: torch.Tensor) -> torch.Tensor:
        """Window corners in exemplar pixels: the normal CDF makes N(0, 1) noise uniform on the torus."""
        return (torch.special.ndtr(noise[:, :NOISE_DIM].float()) * self.side).round().long() % self.side

    def forward(self, class_weights: torch.Tensor, noise: torch.Tensor, size: int) -> torch.Tensor:
        mix = torch.einsum("nc,cxyz->nxyz", class_weights.float(), self.exemplars.float() / 255)
        shifts = self.offsets(noise).tolist()
        field = torch.stack([torch.roll(m, (-dy, -dx), dims=(1, 2)) for m, (dy, dx) in zip(mix, shifts)])
        if size == self.side:
            return field
        if size < self.side:
            return F.interpolate(field, size=(size, size), mode="area")
        return F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
