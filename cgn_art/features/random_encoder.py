"""A fixed, seeded random multi-scale convolutional encoder for Gram (texture) statistics.

Ustyuzhaninov et al. (2017) showed that Gram matrices of random filters at several sizes capture
texture about as well as a trained network does. This is the offline default feature extractor
for training losses and stylization: nothing to download, identical for a given seed everywhere.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RandomEncoder(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> list of ReLU feature maps, one per kernel size and scale."""

    def __init__(self, kernels=(3, 5, 7, 11), channels: int = 32, scales: int = 2, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.scales = scales
        for k in kernels:
            w = torch.randn(channels, 3, k, k, generator=generator)
            w = w - w.mean(dim=(1, 2, 3), keepdim=True)  # respond to pattern, not just brightness
            w = w / w.flatten(1).norm(dim=1)[:, None, None, None]
            self.register_buffer(f"w{k}", w)
            self.register_buffer(f"b{k}", 0.1 * torch.randn(channels, generator=generator))
        self.kernels = tuple(kernels)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) * 4
        features = []
        for scale in range(self.scales):
            if scale:
                x = F.avg_pool2d(x, 2)
            for k in self.kernels:
                if min(x.shape[-2:]) <= k // 2:  # reflect padding needs a larger map
                    continue
                w, b = getattr(self, f"w{k}"), getattr(self, f"b{k}")
                padded = F.pad(x, [k // 2] * 4, mode="reflect")  # no dark frame from zero padding
                features.append(F.relu(F.conv2d(padded, w, b)))
            # colour itself is a texture statistic too
            features.append(x)
        return features


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by the number of positions."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def texture_statistics(encoder: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Gram matrices and channel means of every feature map (the 'style' of an image)."""
    stats = []
    for f in encoder(images):
        stats.append(gram(f))
        stats.append(f.mean(dim=(2, 3)))
    return stats


def texture_distance(encoder: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of texture statistics between paired images (a scalar)."""
    total = a.new_zeros(())
    for sa, sb in zip(texture_statistics(encoder, a), texture_statistics(encoder, b)):
        total = total + F.mse_loss(sa, sb)
    return total
