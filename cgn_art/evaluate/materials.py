"""Measures of a material's pictures that no synthesis step optimises: fine structure and repetition.

- :func:`fine_structure`: the mean absolute Laplacian of the grey picture, i.e. how much detail
  there is at the scale of single pixels. A texture stretched 7x scores about a tenth of the same
  texture at its own pixel scale; sharpening or added noise would raise it, which is why the figure
  is read beside a structure judge (``cgn_art.evaluate.judges``) that must still name the class.
- :func:`repetition`: the largest normalised autocorrelation of the grey picture at any shift of at
  least ``min_shift`` px. A picture tiled from one 256 px quilt scores about 1.0 at shift 256;
  a picture that never repeats itself stays low at every long shift.

>>> import torch
>>> tile = torch.rand(1, 3, 64, 64)
>>> round(repetition(tile.repeat(1, 1, 4, 4), min_shift=32), 2)   # a tiled texture repeats
1.0
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GREY = (0.299, 0.587, 0.114)


def grey(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, H, W) luminance."""
    return (images.float() * images.new_tensor(GREY, dtype=torch.float32)[:, None, None]).sum(1)


def fine_structure(images: torch.Tensor) -> float:
    """Mean |Laplacian| (4-neighbour, valid pixels only) of the grey pictures (N, 3, H, W) in [0, 1]."""
    g = grey(images)[:, None]
    kernel = g.new_tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
    return float(F.conv2d(g, kernel).abs().mean())


def repetition(images: torch.Tensor, min_shift: int = 64) -> float:
    """The largest normalised autocorrelation of the grey pictures (N, 3, H, W) over every shift
    (dy, dx) with max(|dy|, |dx|) >= ``min_shift`` and at most half the picture, averaged over the
    pictures first. 1: the picture repeats exactly at some such shift; about 0: it never does.

    Computed with the FFT on the mean-removed picture, zero-padded (no wrap-around), each shift's
    sum divided by its overlap, so long shifts are not favoured or penalised by their smaller overlap."""
    g = grey(images)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    n, h, w = g.shape
    size = (2 * h, 2 * w)
    spectrum = torch.fft.rfft2(g, s=size)
    correlation = torch.fft.irfft2(spectrum * spectrum.conj(), s=size)
    ones = torch.fft.rfft2(torch.ones(1, h, w, dtype=g.dtype), s=size)
    overlap = torch.fft.irfft2(ones * ones.conj(), s=size).round().clamp_min(1)
    correlation = (correlation / overlap).mean(0)
    correlation = correlation / correlation[0, 0].clamp_min(1e-12)
    dy = torch.fft.fftfreq(2 * h, 1 / (2 * h)).abs()[:, None]
    dx = torch.fft.fftfreq(2 * w, 1 / (2 * w)).abs()[None]
    shift = torch.maximum(dy, dx)
    allowed = (shift >= min_shift) & (dy <= h // 2) & (dx <= w // 2)
    return float(correlation[allowed].max()) if bool(allowed.any()) else float("nan")
