"""By-example texture synthesis: a new texture for any seed and any size from a class's material.

A material is a few source pictures of one texture (quilts made at training time, or a user's
photos) at their own pixel scale. A texture is painted by tiling and blending (after Heitz &
Neyret, "High-Performance By-Example Noise using a Histogram-Preserving Blending Operator", HPG
2018): an endless plane is cut into square cells; each cell shows a window of a source (one cell
plus a blend band on every side) at a random place, and neighbouring windows blend where their
bands overlap. Three things make it hold up:

- the blend preserves variance: in a space where the material's colours are Gaussian (decorrelated
  by PCA, each axis mapped through its own histogram to a normal law), ``sum(w * g) / sqrt(sum(w**2))``
  is again a standard normal, so halfway between two windows has the contrast of either, not the
  grey mush of a plain average; the material's own histogram is then put back.
- each cell shows one window whole; neighbouring windows blend only over a narrow band.
- which source and where a cell's window lies is a hash of the cell's integer position: the same
  plane at any size, nothing to store, and nothing repeats (a canvas of any size is new pixels of
  the plane).

A seed is a place on the plane; moving the noise pans over it, so strips and dances move smoothly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LUT_BINS = 4096       # histogram resolution of the way back from Gaussian to the material's values
GAUSS_RANGE = 5.0     # Gaussian values beyond +-5 (one in 3.5 million) take the extreme colours
_SALT = {"y": 0x2545F491, "x": 0x4F6CDD1D, "k": 0x1B873593}


@dataclass
class Source:
    """One picture of a material: (3, H, W) uint8, whether it tiles (a quilt) or not (a photo), and
    its share of the material's cells (None: by area, so a big photo is drawn from more than a small one)."""

    pixels: torch.Tensor
    tileable: bool
    share: float | None = None


class Material:
    """A class's sources prepared for synthesis: their pixels in the Gaussianised colour space (a
    quilt padded with its own wrap), the odds of each, and the way back to the material's colours."""

    def __init__(self, sources: list[Source], cell: int, band: int | None = None):
        if not sources:
            raise ValueError("a material needs at least one source picture")
        self.cell = int(cell)
        # px over which neighbouring windows blend: narrow, so a blend's ghost of two patterns is rare
        self.band = max(2, (self.cell // 4 if band is None else int(band)) // 2 * 2)
        flat = torch.cat([s.pixels.reshape(3, -1) for s in sources], 1).float()
        # Dithered by up to half an 8-bit level, so the pixels of one value (a flat sky) are ranked at
        # random rather than in raster order: in raster order their Gaussian values would form a ramp
        # down the source, and a blend of two windows would draw that ramp as bands in the sky.
        flat = (flat + torch.rand(flat.shape, generator=torch.Generator().manual_seed(0)) - 0.5) / 255
        self.mean = flat.mean(1)
        centred = flat - self.mean[:, None]
        cov = centred @ centred.T / max(flat.shape[1] - 1, 1)
        _, vectors = torch.linalg.eigh(cov.double())
        self.basis = vectors.float()                       # columns: principal colour axes
        projected = self.basis.T @ centred                 # (3, n) decorrelated colours
        # Gaussianise each axis by rank: the value of rank r becomes the normal quantile of (r + 0.5) / n.
        n = projected.shape[1]
        values, order = projected.sort(dim=1)
        gauss_of_rank = torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n).float()
        gaussian = torch.empty_like(projected)
        gaussian.scatter_(1, order, gauss_of_rank.expand(3, -1).contiguous())
        at = ((torch.arange(LUT_BINS, dtype=torch.float64) + 0.5) / LUT_BINS * n).long().clamp(max=n - 1)
        self.lut = values[:, at].contiguous()
        # The way back, indexed by the Gaussian value itself (no normal CDF per pixel at render time).
        grid = torch.linspace(-GAUSS_RANGE, GAUSS_RANGE, LUT_BINS, dtype=torch.float64)
        self.back = self.lut[:, (torch.special.ndtr(grid) * LUT_BINS).long().clamp(0, LUT_BINS - 1)].contiguous()
        # Each source in the Gaussian space, a quilt padded with its own wrap by a window, so that a
        # window anywhere on its torus is one plain slice.
        self.pictures, start = [], 0
        pad = self.cell + self.band
        for source in sources:
            h, w = source.pixels.shape[1:]
            g = gaussian[:, start: start + h * w].reshape(3, h, w)
            start += h * w
            if source.tileable:
                g = torch.cat([g, g[:, :, :pad].repeat(1, 1, pad // w + 1)[:, :, :pad]], 2)
                g = torch.cat([g, g[:, :pad].repeat(1, pad // h + 1, 1)[:, :pad]], 1)
            self.pictures.append(g.contiguous())
        self.shapes = [(int(x.pixels.shape[1]), int(x.pixels.shape[2]), bool(x.tileable)) for x in sources]
        shares = torch.tensor([x.share if x.share else h * w for x, (h, w, _) in zip(sources, self.shapes)],
                              dtype=torch.float64)
        self.odds = torch.cumsum(shares / shares.sum(), 0)  # a cell picks its source by these odds

    def to(self, device) -> Material:
        for name in ("mean", "basis", "lut", "back"):
            setattr(self, name, getattr(self, name).to(device))
        self.pictures = [p.to(device) for p in self.pictures]
        return self


def _hash(*values: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash of integer tensors (broadcast): the same numbers, the same hash, on any device."""
    h = torch.zeros((), dtype=torch.int64, device=values[0].device)
    for v in values:
        h = (h ^ (v.long() & 0xFFFFFFFF)) * 0x01000193 & 0xFFFFFFFF
        h = h ^ (h >> 15)
        h = h * 0x2C1B3C6D & 0xFFFFFFFF
        h = h ^ (h >> 12)
        h = h * 0x297A2D39 & 0xFFFFFFFF
        h = h ^ (h >> 15)
    return h


def _uniform(*values: torch.Tensor) -> torch.Tensor:
    return _hash(*values).double() / 4294967296.0


def _window_weights(cell: int, band: int, device) -> torch.Tensor:
    """(cell + band,) weights of a cell's window: a smooth rise over ``band`` px, 1 across the cell,
    a smooth fall over ``band`` px; neighbouring windows overlap by ``band`` and their weights add up to 1."""
    t = (torch.arange(band, device=device, dtype=torch.float32) + 0.5) / band
    rise = t * t * (3 - 2 * t)
    return torch.cat([rise, torch.ones(cell - band, device=device), 1 - rise])


def gaussian_plane(material: Material, top: int, left: int, height: int, width: int, salt: int = 0) -> torch.Tensor:
    """(3, height, width) of the plane, Gaussianised: pixels ``top``..``top + height`` by
    ``left``..``left + width``; every axis a standard normal wherever one looks.

    Each cell of the plane shows a window of a source one blend band larger than the cell, weighted
    by a fixed kernel and added where it lies (``F.fold``); the variance-preserving normalisation
    divides by the root of the summed squared weights."""
    device = material.back.device
    p, band = material.cell, material.band
    size = p + band
    cy0, cx0 = (top + band // 2) // p - 1, (left + band // 2) // p - 1
    cy = torch.arange(cy0, (top + height + band // 2) // p + 1)
    cx = torch.arange(cx0, (left + width + band // 2) // p + 1)
    gy, gx = torch.meshgrid(cy, cx, indexing="ij")
    gy, gx, salt_t = gy.reshape(-1), gx.reshape(-1), torch.tensor(int(salt))
    pick = _uniform(gy, gx, salt_t, torch.tensor(_SALT["k"]))
    k = torch.searchsorted(material.odds, pick.clamp(max=float(material.odds[-1]) - 1e-9)).tolist()
    fy = _uniform(gy, gx, salt_t, torch.tensor(_SALT["y"])).tolist()
    fx = _uniform(gy, gx, salt_t, torch.tensor(_SALT["x"])).tolist()
    windows = []
    for kk, ry, rx in zip(k, fy, fx):
        h, w, tileable = material.shapes[kk]
        # A photo's window must lie inside it; a quilt is a torus (padded, so no window wraps).
        uy = int(ry * (h if tileable else max(h - size + 1, 1)))
        ux = int(rx * (w if tileable else max(w - size + 1, 1)))
        windows.append(material.pictures[kk][:, uy: uy + size, ux: ux + size])
    count = len(windows)
    windows = torch.stack(windows, 1)                                   # (3, V, size, size)
    kernel = _window_weights(p, band, device)
    kernel = kernel[:, None] * kernel[None]
    windows = (windows * kernel).reshape(3, count, size * size).permute(0, 2, 1).reshape(1, -1, count)
    out_h, out_w = (len(cy) - 1) * p + size, (len(cx) - 1) * p + size
    canvas = F.fold(windows, (out_h, out_w), kernel_size=size, stride=p)[0]
    norm = F.fold((kernel ** 2).reshape(1, -1, 1).expand(1, -1, count).contiguous(), (out_h, out_w),
                  kernel_size=size, stride=p)[0]
    y0, x0 = top - (cy0 * p - band // 2), left - (cx0 * p - band // 2)
    return (canvas / norm.sqrt())[:, y0: y0 + height, x0: x0 + width]


def from_gaussian(material: Material, gaussian: torch.Tensor) -> torch.Tensor:
    """Gaussianised (3, H, W) -> RGB in [0, 1] with the material's colour histogram."""
    bins = ((gaussian + GAUSS_RANGE) * ((LUT_BINS - 1) / (2 * GAUSS_RANGE)) + 0.5).long().clamp_(0, LUT_BINS - 1)
    projected = torch.stack([material.back[c][bins[c]] for c in range(3)])
    rgb = torch.einsum("ij,jhw->ihw", material.basis, projected) + material.mean[:, None, None]
    return rgb.clamp(0, 1)


def paint(material: Material, top: int, left: int, height: int, width: int, salt: int = 0) -> torch.Tensor:
    """(3, height, width) RGB in [0, 1]: the material's plane at its own pixel scale, from (top, left)."""
    return from_gaussian(material, gaussian_plane(material, top, left, height, width, salt))


def blend(pictures, weights: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Variance-preserving blend of K pictures (a list or (K, 3, H, W)) with weights (K,) summing to
    1, each about its mean colour ``means`` (K, 3): halfway between two materials keeps their contrast.
    ``mean + sum(w * (picture - its mean)) / sqrt(sum(w ** 2))``, accumulated picture by picture."""
    gain = weights / weights.pow(2).sum().sqrt()
    offset = (weights[:, None] * means).sum(0) - (gain[:, None] * means).sum(0)
    out = pictures[0] * gain[0]
    for picture, g in zip(pictures[1:], gain[1:]):
        out.add_(picture, alpha=float(g))
    return out.add_(offset[:, None, None]).clamp_(0, 1)


def resample(picture: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(..., 3, h, w) -> (..., 3, height, width): area when shrinking, bilinear when enlarging."""
    if picture.shape[-2:] == (height, width):
        return picture
    squeeze = picture.dim() == 3
    x = picture[None] if squeeze else picture
    shrink = height <= x.shape[-2] and width <= x.shape[-1]
    x = F.interpolate(x, size=(height, width), mode="area") if shrink else \
        F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x[0] if squeeze else x
