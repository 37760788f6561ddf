"""Losses for training a small CGN from composite images alone."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

BORDER = 4  # MNIST digits sit inside a 20 px box centred in 28 px: the outer 4 px are background


class Discriminator(nn.Module):
    """Class-conditional projection discriminator (spectral norm) on composites of ``size`` px
    (32: three halvings to 4x4; each doubling of the size starts with one strided layer more,
    which keeps a 64 px discriminator about as cheap as a 32 px one)."""

    def __init__(self, num_classes: int = 10, width: int = 64, size: int = 32):
        super().__init__()
        layers = []
        while size > 32:
            layers += [spectral_norm(nn.Conv2d(3 if not layers else width, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
            size //= 2
        layers += [
            spectral_norm(nn.Conv2d(3 if not layers else width, width, 3, 1, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, width, 4, 2, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * width, 4 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
        ]
        self.body = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(4 * width, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, 4 * width))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.body(images * 2 - 1).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(1)


def d_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def g_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def mask_binary_loss(mask: torch.Tensor) -> torch.Tensor:
    """Mean binary entropy of the mask: zero only when every pixel is 0 or 1."""
    m = mask.clamp(1e-6, 1 - 1e-6)
    return -(m * m.log() + (1 - m) * (1 - m).log()).mean()


def mask_size_loss(mask: torch.Tensor, per_image: tuple[float, float], batch_mean: tuple[float, float]) -> torch.Tensor:
    """Hinge prior on mask area: each image's area inside ``per_image``, the batch mean inside
    ``batch_mean`` (a tight interval: a digit covers a known share of the picture on average)."""
    area = mask.mean(dim=(1, 2, 3))
    lo, hi = per_image
    per = (F.relu(lo - area) + F.relu(area - hi)).mean()
    mean = area.mean()
    blo, bhi = batch_mean
    return per + F.relu(blo - mean) + F.relu(mean - bhi)


def border_mosaic(images: torch.Tensor, width: int = BORDER) -> torch.Tensor:
    """The four border strips of each image laid into one (N, 3, 4*width, W) picture.

    For real MNIST composites these strips are pure background. Applying the same cut to the
    background mechanism's output and matching texture statistics ties that mechanism to the
    background, which stops it trading places with the texture mechanism.
    """
    top = images[:, :, :width]
    bottom = images[:, :, -width:]
    left = images[:, :, :, :width].transpose(2, 3)
    right = images[:, :, :, -width:].transpose(2, 3)
    return torch.cat([top, bottom, left, right], dim=2)
