"""Material fields: a texture or background mechanism that synthesises each class from its material.

Each class owns a material: one or more source pictures at their own pixel scale (quilts made at
training time from the pixels the found masks give the class, ``cgn_art.train.exemplars``; or a
user's photos, ``cgn_art.materials``). A render synthesises a new texture from it by tiling and
blending (``cgn_art.materials.synthesis``): any size, new pixels for every seed, never a repeat.
``exemplar_side`` source pixels span one native image: that is the *relative* scale, where a
render of any size shows the same composition (the scale the Letters CGN was trained at); the
*crisp* scale shows one source pixel per output pixel, however large the picture.

The noise (two numbers per sample) says where on the material's endless plane the picture lies;
moving it pans, so strips and dances move smoothly. Soft class weights blend the classes' pictures
with a variance-preserving blend, so a mix of two materials keeps their contrast.

The ``exemplars`` buffer keeps one seamless quilt per class, ``side`` px across one native image:
a model saved before materials existed has only those, and each becomes its class's one source.

Why not a network: on this CPU a convolutional field trained from the composites learned colour
and speckle but not pattern (docs, "The Letters CGN"); a material keeps the pattern the real
regions show (mortar lines, gravel edges, coin rims) at their own scale.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from cgn_art.materials import synthesis

NOISE_DIM = 2  # (vertical, horizontal) place of the picture on the material's plane
# Two seeds' places lie up to this many source px apart: four quilt cells, so two seeds' pictures
# rarely share a cell, near enough that a noise walk pans calmly.
SPAN = 1024
# Painted pictures are kept in tiles of the plane (uint8, like any picture): a dance or a strip that
# pans over the same places paints each tile once, and the places of every seed fit in a few tiles.
# A tile is two cells across (at least 256 px, at most 1024): the cells at its edges are painted whole,
# so a larger tile wastes less of them. At most CACHED_PIXELS are kept per field (72 MB).
CACHED_PIXELS = 24_000_000
MIN_SHARE = 0.02  # a class under this share of a mix is left out of its blend (see paint)


def tile_side(cell: int) -> int:
    return int(min(1024, max(256, 256 * math.ceil(2 * cell / 256))))


def default_cell(height: int, width: int, tileable: bool = False) -> int:
    """The cell of a source picture. A quilt is seamless: each cell shows the whole quilt (wrapped
    at a random place), so within a cell its pattern is as coherent as the quilt itself; cells
    smaller than the quilt cut stripes and skies into pieces (the structure judges read 0.77 at a
    half and 0.81 at a whole quilt for the backgrounds). A photo is not: a cell is half its shorter
    side, so a window (a cell and its blend bands) has room to lie anywhere in it."""
    return int(min(height, width)) if tileable else int(max(8, min(height, width) // 2))


def default_band(cell: int, tileable: bool = False) -> int:
    """px over which neighbouring windows blend: an eighth of a quilt's cell (its windows are
    coherent, so a narrow seam), a quarter of a photo's (independent places of a photo differ more)."""
    return max(2, cell // (8 if tileable else 4))


def material_zoom(span: float, side: int, material_scale: float) -> float:
    """Output px per material px for a picture (or a letter box) ``span`` px across: 1 at material
    scale 0 (crisp, the material's own pixels), ``span / side`` at 1 (relative: ``side`` material px
    span it, as at the model's native size), geometric in between."""
    return (span / side) ** material_scale


def material_of(sources: list[synthesis.Source]) -> synthesis.Material:
    """A class's sources made ready to synthesise from, with the cell and band that suit them."""
    tileable = all(s.tileable for s in sources)
    cell = min(default_cell(*s.pixels.shape[1:], s.tileable) for s in sources)
    return synthesis.Material(sources, cell, default_band(cell, tileable))


class ExemplarField(nn.Module):
    """(class weights (N, C), noise (N, 2), size) -> RGB field (N, 3, size, size) in [0, 1].

    ``sources``: one row per source picture, [class, height, width, tileable, share], in the order
    their pixels lie in the ``material`` buffer (share: how often the class draws from it; 0: by
    area); None for a model with quilts only (each class's exemplar its one source)."""

    def __init__(self, num_classes: int, side: int, sources: list | None = None):
        super().__init__()
        # uint8 like a picture: a quarter of float32's bytes, and no precision a texture can show is lost
        self.register_buffer("exemplars", torch.zeros(num_classes, 3, side, side, dtype=torch.uint8))
        self.sources = [(int(c), int(h), int(w), bool(t), float(share)) for c, h, w, t, share in sources] \
            if sources else None
        if self.sources is not None:
            total = sum(h * w for _, h, w, _, _ in self.sources)
            self.register_buffer("material", torch.zeros(3, total, dtype=torch.uint8))
        self._prepared: dict = {}
        self._tiles: OrderedDict = OrderedDict()

    @property
    def side(self) -> int:
        return self.exemplars.shape[-1]

    @property
    def num_classes(self) -> int:
        return self.exemplars.shape[0]

    def noise_shape(self) -> tuple[int, ...]:
        return (NOISE_DIM,)

    def places(self, noise: torch.Tensor) -> list[tuple[int, int]]:
        """Where each sample's picture starts on the plane, in source px: the normal CDF makes N(0, 1)
        noise uniform over ``SPAN``."""
        corner = (torch.special.ndtr(noise[:, :NOISE_DIM].double().cpu()) * SPAN).round().long()
        return [tuple(row) for row in corner.tolist()]

    def class_sources(self, c: int) -> list[synthesis.Source]:
        """The source pictures of class ``c``: its photos or quilts, else its one exemplar."""
        if self.sources is None:
            return [synthesis.Source(self.exemplars[c].cpu(), True)]
        out, start = [], 0
        for cls, h, w, tileable, share in self.sources:
            if cls == c:
                pixels = self.material[:, start: start + h * w].reshape(3, h, w).cpu()
                out.append(synthesis.Source(pixels, tileable, share or None))
            start += h * w
        return out or [synthesis.Source(self.exemplars[c].cpu(), True)]

    def prepared(self, c: int) -> synthesis.Material:
        """Class ``c``'s material, ready to synthesise from (made on first use, again if its pixels change)."""
        buffer = self.material if self.sources is not None else self.exemplars
        key = (c, buffer.data_ptr(), buffer._version, str(buffer.device))
        if self._prepared.get(c, (None,))[0] != key:
            sources = self.class_sources(c)
            self._prepared[c] = (key, material_of(sources).to(buffer.device))
            for old in [k for k in self._tiles if k[0] == c]:
                del self._tiles[old]
        return self._prepared[c][1]

    def _evict(self) -> None:
        """Drop the least recently used tiles beyond ``CACHED_PIXELS`` (never the newest)."""
        while len(self._tiles) > 1 and sum(t.shape[1] * t.shape[2] for t in self._tiles.values()) > CACHED_PIXELS:
            self._tiles.popitem(last=False)

    def picture(self, c: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """(3, height, width) float of class ``c``'s plane at its own pixel scale, from (top, left)."""
        material = self.prepared(c)
        tile = tile_side(material.cell)
        rows = range(top // tile, (top + height - 1) // tile + 1)
        cols = range(left // tile, (left + width - 1) // tile + 1)
        band = []
        for ty in rows:
            line = []
            for tx in cols:
                key = (c, ty, tx)
                if key not in self._tiles:
                    painted = synthesis.paint(material, ty * tile, tx * tile, tile, tile, salt=c)
                    self._tiles[key] = (painted * 255 + 0.5).to(torch.uint8)
                    self._evict()
                self._tiles.move_to_end(key)
                line.append(self._tiles[key])
            band.append(torch.cat(line, 2))
        whole = torch.cat(band, 1)
        y0, x0 = top - rows[0] * tile, left - cols[0] * tile
        return whole[:, y0: y0 + height, x0: x0 + width].float() / 255

    def paint(self, class_weights: torch.Tensor, noise: torch.Tensor, height: int, width: int,
              zoom: float = 1.0, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """(N, 3, height, width): each sample's picture with ``zoom`` output px per source px (1: crisp),
        its top-left corner ``offset`` (y, x) output px into the picture that starts at the sample's place."""
        zoom = float(zoom)
        rows, cols = math.ceil(height / zoom), math.ceil(width / zoom)
        dy, dx = int(offset[0] / zoom), int(offset[1] / zoom)
        weights = class_weights.detach().float().cpu()
        out = []
        for w, (y, x) in zip(weights, self.places(noise)):
            # a class under MIN_SHARE of the mix adds nothing the eye can see, and costs a whole picture
            classes = torch.nonzero(w > MIN_SHARE * w.sum())[:, 0].tolist() or [int(w.argmax())]
            pictures = [self.picture(c, y + dy, x + dx, rows, cols) for c in classes]
            if len(classes) == 1:
                out.append(pictures[0])
            else:
                share = w[classes] / w[classes].sum()
                means = torch.stack([self.prepared(c).mean for c in classes])
                out.append(synthesis.blend(pictures, share.to(pictures[0].device), means))
        return synthesis.resample(torch.stack(out), height, width)

    def forward(self, class_weights: torch.Tensor, noise: torch.Tensor, size: int) -> torch.Tensor:
        """At the relative scale: ``side`` source px span the render, whatever its size."""
        return self.paint(class_weights, noise, size, size, zoom=size / self.side)
