"""Training exemplar fields: one seamless texture per class, from the pixels the found masks give it.

For each texture class, square blocks are cut from the 4x training images wherever a block lies
wholly inside the found mask (for a background class: wholly outside), a few pixels clear of the
mask's edge, since found masks are not exact there; a background block that holds the letters'
colours where the background has almost none (a serif the mask missed) is left out. The exemplar is
then quilted from those blocks (Efros & Freeman's image quilting, on a torus so that it tiles):
blocks go down in raster order, each chosen at random among those that agree best with what its
overlaps already hold, and joined along the seam of least difference. A seam still joins pieces of
different photos, lit differently: a step in brightness along every block's edge, which the eye and
the structure judges read as a grid. So the quilt is finished in the gradient domain (Perez et al.'s
Poisson image editing, on the torus, solved exactly with the FFT): every gradient inside a block is
kept, a gradient across a seam is replaced by the mean of its in-block neighbours, and the picture
whose gradients are closest is the exemplar (mean colour kept). Each class is quilted a few times
and the quilt whose own blocks are distributed most like the class's blocks is kept. Unsupervised
like the rest of the recipe: no ground-truth mask is read, only the composites, their class labels
and the masks found in them; no judge is read either.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cgn_art.errors import CgnArtError

BLOCK = 20     # px of a texture's block at the 4x scale: holds a gravel stone or a mortar joint, fits a stroke
OVERLAP = 4    # px two neighbouring blocks share; block - OVERLAP must divide the exemplar's side
EDGE = 4       # px kept between a texture's block and the found mask's edge
# Backgrounds have room for larger blocks (a pagoda's roof, a flag's star), and keep further from the
# letter: where a found mask misses a serif or a thin stroke, the piece it missed lies next to it.
BACKGROUND_BLOCK = 36
BACKGROUND_EDGE = 12
CANDIDATES = 4000  # blocks per class the quilting chooses from
# One quilt is one random draw, and a draw can drift: begun in the dark gaps between coins, it keeps
# choosing dark blocks, since they agree best with what it holds. So each class is quilted TRIES
# times and the draw whose own blocks are distributed most like the class's blocks is kept.
TRIES = 4
# A found mask misses a letter's serifs and thin strokes, and the pieces it missed lie in the
# background's blocks: a few pixels of the letter's colours in a sky, which quilting spreads about as
# specks. A background block is dropped if over STRAY_SHARE of its pixels have a stray colour: one
# rare among the class's background blocks (under RARE of their pixels, in an 8 x 8 x 8 RGB
# histogram) and commoner on the letters of the same pictures. A background's own rare colours stay
# unless its letters share them (the galaxy loses its largest galaxies to its letters' colours).
RARE = 1e-3
STRAY_SHARE = 0.01
TOLERANCE = 0.1    # a block is a candidate if its overlap error is within 10 % of the best one's
MIN_BLOCKS = 50


def region_blocks(images: torch.Tensor, regions: torch.Tensor, rng: np.random.Generator, block: int | None = None,
                  edge: int | None = None, limit: int = CANDIDATES) -> np.ndarray:
    """Up to ``limit`` blocks (n, 3, block, block), float32 in [0, 1], of ``images`` (M, 3, H, W)
    uint8 that lie wholly inside ``regions`` (M, 1, H, W) in [0, 1], ``edge`` px clear of its border
    (defaults: ``BLOCK`` and ``EDGE``)."""
    block = BLOCK if block is None else block
    edge = EDGE if edge is None else edge
    inside = (regions.float() > 0.99).float()
    if edge:
        inside = -F.max_pool2d(-inside, 2 * edge + 1, stride=1, padding=edge)
    ok = F.avg_pool2d(inside, block, stride=2) > 0.999  # block corners on a 2 px grid
    found = torch.nonzero(ok[:, 0])
    if len(found) == 0:
        return np.zeros((0, 3, block, block), np.float32)
    pick = found[torch.from_numpy(rng.choice(len(found), min(limit, len(found)), replace=False))]
    return np.stack([images[i, :, 2 * y: 2 * y + block, 2 * x: 2 * x + block].numpy()
                     for i, y, x in pick.tolist()]).astype(np.float32) / 255


def colour_bins(pixels: np.ndarray) -> np.ndarray:
    """The 8 x 8 x 8 RGB histogram bin (0-511) of each pixel of ``pixels`` (n, 3, ...) in [0, 1]."""
    q = np.clip((pixels * 8).astype(np.int64), 0, 7)
    return q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]


def stray_blocks(blocks: np.ndarray, letter_pixels: np.ndarray) -> np.ndarray:
    """Which background ``blocks`` (n, 3, B, B) in [0, 1] hold stray letter pieces (see ``STRAY_SHARE``),
    given pixels (m, 3) in [0, 1] of the letters in the same pictures: a bool per block."""
    own = colour_bins(blocks)
    background = np.bincount(own.ravel(), minlength=512) / own.size
    letter = np.bincount(colour_bins(letter_pixels), minlength=512) / max(len(letter_pixels), 1)
    stray = (background < RARE) & (letter > background)
    return stray[own].mean((1, 2)) > STRAY_SHARE


def seam(error: np.ndarray) -> np.ndarray:
    """The cheapest top-to-bottom path through ``error`` (h, w) (each row's step moves at most one
    column): returns a mask (h, w) that is True right of the path, where the new block is kept."""
    h, w = error.shape
    cost = error.astype(np.float64).copy()
    back = np.zeros((h, w), np.int64)
    for i in range(1, h):
        for j in range(w):
            lo = max(j - 1, 0)
            k = lo + int(np.argmin(cost[i - 1, lo: j + 2]))
            back[i, j], cost[i, j] = k, cost[i, j] + cost[i - 1, k]
    keep = np.zeros((h, w), bool)
    j = int(np.argmin(cost[-1]))
    for i in range(h - 1, -1, -1):
        keep[i, j:] = True
        j = back[i, j]
    return keep


def seamless(canvas: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """``canvas`` (3, H, W) in [0, 1] on a torus, its pixels taken from the pieces numbered in
    ``pieces`` (H, W): the picture whose gradients match the canvas's inside each piece, and across
    a seam the mean of the two in-piece gradients beside it (a step in brightness between pieces
    goes, their pattern stays). Periodic, so the FFT solves the Poisson equation exactly."""
    h, w = pieces.shape
    same_x = pieces == np.roll(pieces, -1, 1)  # the pixel and its right neighbour are one piece's
    same_y = pieces == np.roll(pieces, -1, 0)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None]
    laplacian = 2 * np.cos(2 * np.pi * fx) + 2 * np.cos(2 * np.pi * fy) - 4
    laplacian[0, 0] = 1  # the mean is not set by gradients: it is kept below
    out = np.empty_like(canvas)
    for c, u in enumerate(canvas):
        gx, gy = np.roll(u, -1, 1) - u, np.roll(u, -1, 0) - u
        gx = np.where(same_x, gx, (np.roll(gx, 1, 1) + np.roll(gx, -1, 1)) / 2)
        gy = np.where(same_y, gy, (np.roll(gy, 1, 0) + np.roll(gy, -1, 0)) / 2)
        divergence = gx - np.roll(gx, 1, 1) + gy - np.roll(gy, 1, 0)
        spectrum = np.fft.fft2(divergence) / laplacian
        spectrum[0, 0] = u.sum()
        out[c] = np.real(np.fft.ifft2(spectrum))
    return np.clip(out, 0, 1).astype(np.float32)


def quilt(blocks: np.ndarray, side: int, rng: np.random.Generator, overlap: int = OVERLAP,
          tolerance: float = TOLERANCE, smooth_seams: bool = True) -> np.ndarray:
    """A seamless (3, side, side) texture quilted from ``blocks`` (n, 3, B, B) on a torus, finished
    by :func:`seamless` unless ``smooth_seams`` is False."""
    block = blocks.shape[-1]
    step = block - overlap
    if side % step:
        raise CgnArtError(f"an exemplar of {side} px cannot be quilted from {block} px blocks overlapping {overlap}")
    canvas = np.zeros((3, side, side), np.float32)
    filled = np.zeros((side, side), bool)
    pieces = np.zeros((side, side), np.int64)  # which placement each pixel came from
    # a block agrees perfectly with its own copy, so without this rule quilting repeats a few blocks
    # in rows; each block is used once while there are enough, else never twice in a row
    once = len(blocks) >= 4 * (side // step) ** 2
    used = np.zeros(len(blocks), bool)
    last = -1
    for y in range(0, side, step):
        for x in range(0, side, step):
            ys, xs = (y + np.arange(block)) % side, (x + np.arange(block)) % side
            old, have = canvas[:, ys][:, :, xs], filled[ys][:, xs]
            if have.any():
                error = (((blocks - old) ** 2).sum(1) * have).sum((1, 2))
            else:
                error = np.zeros(len(blocks), np.float32)
            error[used if once else np.arange(len(blocks)) == last] = np.inf
            choice = rng.choice(np.nonzero(error <= error.min() * (1 + tolerance) + 1e-9)[0])
            used[choice], last = True, choice
            new = blocks[choice]
            diff = ((new - old) ** 2).sum(0)
            keep = np.ones((block, block), bool)
            if have[:, :overlap].all():   # left neighbour: the seam runs down the left strip
                keep[:, :overlap] &= seam(diff[:, :overlap])
            if have[:, -overlap:].all():  # right neighbour (the torus wraps to the first column)
                keep[:, -overlap:] &= seam(diff[:, -overlap:][:, ::-1])[:, ::-1]
            if have[:overlap].all():      # top neighbour
                keep[:overlap] &= seam(diff[:overlap].T).T
            if have[-overlap:].all():     # bottom neighbour (wraps to the first row)
                keep[-overlap:] &= seam(diff[-overlap:][::-1].T).T[::-1]
            keep |= ~have
            canvas[:, ys[:, None], xs[None]] = np.where(keep[None], new, old)
            pieces[ys[:, None], xs[None]] = np.where(keep, y * side + x, pieces[ys[:, None], xs[None]])
            filled[ys[:, None], xs[None]] = True
    return seamless(canvas, pieces) if smooth_seams else canvas


def block_features(blocks: np.ndarray) -> np.ndarray:
    """(n, 22) features of blocks (n, 3, B, B) in [0, 1]: mean colour, grey contrast, mean grey
    steps across and down, and the 4 x 4 layout of the contrast-normalised grey block."""
    grey = blocks.mean(1)
    normal = (grey - grey.mean((1, 2), keepdims=True)) / (grey.std((1, 2), keepdims=True) + 0.02)
    b = grey.shape[-1] // 4 * 4
    layout = normal[:, :b, :b].reshape(len(blocks), 4, b // 4, 4, b // 4).mean((2, 4)).reshape(len(blocks), 16)
    steps = [np.abs(np.diff(grey, axis=a)).mean((1, 2)) for a in (1, 2)]
    return np.concatenate([blocks.mean((2, 3)), grey.std((1, 2))[:, None], np.stack(steps, 1), layout], 1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and of ``b``."""
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(ca)
    root = (vectors * np.sqrt(values.clip(0))) @ vectors.T
    cross = np.sqrt(np.linalg.eigvalsh(root @ cb @ root).clip(0)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross)


def distance_to_blocks(picture: np.ndarray, blocks: np.ndarray, step: int = 8) -> float:
    """How unlike ``blocks`` (n, 3, B, B) are the blocks of ``picture`` (3, S, S), a torus, cut
    every ``step`` px: :func:`frechet_distance` of their :func:`block_features`."""
    size, side = blocks.shape[-1], picture.shape[-1]
    tiled = np.concatenate([picture, picture[:, :size]], 1)
    tiled = np.concatenate([tiled, tiled[:, :, :size]], 2)
    own = np.stack([tiled[:, y: y + size, x: x + size] for y in range(0, side, step) for x in range(0, side, step)])
    return frechet_distance(block_features(own.astype(np.float64)), block_features(blocks.astype(np.float64)))


def representative_quilt(blocks: np.ndarray, side: int, rng: np.random.Generator, tries: int | None = None,
                         **options) -> np.ndarray:
    """Of ``tries`` quilts (:func:`quilt`) from ``blocks``, the one whose own blocks are
    distributed most like ``blocks`` (:func:`distance_to_blocks`)."""
    quilts = [quilt(blocks, side, rng, **options) for _ in range(tries or TRIES)]
    return min(quilts, key=lambda q: distance_to_blocks(q, blocks))


def class_blocks(images: torch.Tensor, regions: torch.Tensor, classes: np.ndarray, c: int, kind: str,
                 rng: np.random.Generator, limit: int = CANDIDATES) -> np.ndarray:
    """The blocks (n, 3, B, B) in [0, 1] of class ``c``: cut from the ``images`` labelled c inside
    their ``regions``, a background's blocks without stray letter pieces (:func:`stray_blocks`)."""
    block, edge = (BLOCK, EDGE) if kind == "texture" else (BACKGROUND_BLOCK, BACKGROUND_EDGE)
    rows = torch.from_numpy(np.nonzero(np.asarray(classes) == c)[0])
    blocks = region_blocks(images[rows], regions[rows], rng, block=block, edge=edge, limit=limit)
    if kind == "background" and len(blocks):
        letters = images[rows].permute(0, 2, 3, 1)[regions[rows][:, 0] < 0.01]
        letters = letters[torch.from_numpy(rng.choice(len(letters), min(len(letters), 200_000), replace=False))]
        clean = blocks[~stray_blocks(blocks, letters.numpy().astype(np.float32) / 255)]
        blocks = clean if len(clean) >= MIN_BLOCKS else blocks  # too few clean: specks beat no picture
    if len(blocks) < MIN_BLOCKS:
        raise CgnArtError(f"{kind} class {c}: only {len(blocks)} blocks of {block} px lie {edge} px inside its "
                          f"found regions (need {MIN_BLOCKS}); its masks are too thin or too few to learn from")
    return blocks


def build_exemplars(images: torch.Tensor, regions: torch.Tensor, classes: np.ndarray, count: int, kind: str,
                    rng: np.random.Generator, side: int | None = None,
                    progress: Callable[[str], None] | None = None) -> torch.Tensor:
    """(count, 3, side, side) uint8 exemplars, class c quilted from the blocks of ``images`` whose
    label in ``classes`` is c, inside ``regions`` (the found masks, or their complement for a
    background). ``side`` defaults to the images' side (one native image at their scale)."""
    side = side or images.shape[-1]
    out = torch.zeros(count, 3, side, side, dtype=torch.uint8)
    for c in range(count):
        picture = representative_quilt(class_blocks(images, regions, classes, c, kind, rng), side, rng)
        out[c] = torch.from_numpy(np.round(picture * 255).clip(0, 255).astype(np.uint8))
        if progress:
            progress(f"{kind} {c + 1}/{count}")
    return out


# A material's sources: the class's training images split into ``sources`` groups at random, and
# each group's blocks quilted on its own (the most representative of TRIES draws). One source (the
# default) is one quilt of every block: the most faithful picture of the class, which the structure
# judges name best. More sources keep some of the differences between the regions a class was seen
# in (a darker corner of the gravel, a patch of sky with more stars), so pictures differ more from
# seed to seed, at a cost: on the Letters CGN three sources raised texture diversity from 0.61 to
# 0.85 of real crops but lowered texture structure from 0.86 to 0.72 (a third of the images quilts a
# less typical picture); grouping by look instead (k-means on colour and contrast) lowered it to 0.67.
SOURCES = 1


def material_sources(images: torch.Tensor, regions: torch.Tensor, classes: np.ndarray, c: int, kind: str,
                     side: int, rng: np.random.Generator, sources: int = SOURCES, tries: int = TRIES
                     ) -> list[tuple[np.ndarray, float]]:
    """[(quilt (3, side, side) uint8, share of the class's images), ...]: one seamless quilt per group
    of class ``c``'s images (a group with too few blocks joins the quilts of the others)."""
    rows = np.nonzero(np.asarray(classes) == c)[0]
    groups = [g for g in np.array_split(rows[rng.permutation(len(rows))], max(1, min(sources, len(rows)))) if len(g)]
    out = []
    for group in groups:
        mine = np.full(len(classes), -1)
        mine[group] = c
        try:
            blocks = class_blocks(images, regions, mine, c, kind, rng)
        except CgnArtError:
            continue
        picture = representative_quilt(blocks, side, rng, tries=tries)
        out.append((np.round(picture * 255).clip(0, 255).astype(np.uint8), len(group) / len(rows)))
    if not out:  # every group too thin alone: one quilt of them all (or the error that says why not)
        picture = representative_quilt(class_blocks(images, regions, classes, c, kind, rng), side, rng, tries=tries)
        out.append((np.round(picture * 255).clip(0, 255).astype(np.uint8), 1.0))
    return out


def fine_regions(data, masks: torch.Tensor):
    """(kind, 4x images (M, 3, H, W) uint8, their regions, their class labels) for 'texture' and
    'background' of a data set with 4x images (``data.fine_images`` (M, H, W, 3), the images
    ``data.fine_index``), inside and outside ``masks`` (N, 1, h, w) in [0, 1] found at native size
    (nearest-upsampled to the fine images)."""
    fine_index = np.asarray(data.fine_index)
    fine = torch.from_numpy(np.asarray(data.fine_images)).permute(0, 3, 1, 2)
    fine_masks = F.interpolate(masks[fine_index].float(), scale_factor=fine.shape[-1] // masks.shape[-1],
                               mode="nearest")
    for kind, region in (("texture", fine_masks), ("background", 1 - fine_masks)):
        yield kind, fine, region, np.asarray(data.texture_class if kind == "texture" else data.background_class)[
            fine_index]


def materials_from_masks(data, masks: torch.Tensor, counts: dict, side: int, rng: np.random.Generator,
                         progress: Callable[[str], None] | None = None, **options) -> dict[str, list]:
    """{'texture', 'background'}: per class, its :func:`material_sources` (:func:`fine_regions`)."""
    out = {}
    for kind, fine, region, classes in fine_regions(data, masks):
        out[kind] = []
        for c in range(counts[kind]):
            out[kind].append(material_sources(fine, region, classes, c, kind, side, rng, **options))
            if progress:
                progress(f"{kind} {c + 1}/{counts[kind]}")
    return out


def exemplars_from_masks(data, masks: torch.Tensor, counts: dict, side: int, rng: np.random.Generator,
                         progress: Callable[[str], None] | None = None) -> dict[str, torch.Tensor]:
    """{'texture', 'background'}: one exemplar per class, quilted inside and outside the masks
    (:func:`fine_regions`)."""
    return {kind: build_exemplars(fine, region, classes, counts[kind], kind, rng, side=side, progress=progress)
            for kind, fine, region, classes in fine_regions(data, masks)}
