"""Masks for training images, found from the composites and their class labels alone.

The Letters CGN cannot see ground-truth masks, and a GAN that must find the letters by itself on
this CPU did not within hours (README: step 4,000 of the first run drew the wrong letters). The
paper's ImageNet CGN does not find them unaided either: it reads its masks off a pretrained
saliency network. Here the biased training split itself holds what a saliency network would know.

Every training image is labelled with its texture class t and background class b, and every
pixel is one or the other. A small fully convolutional net that sees only a small patch
(``RECEPTIVE_FIELD`` px, too small to read a letter's shape) is trained to put each pixel in
{t, b}: the loss is -log(p_t + p_b), so it is free to say which of the two. It cannot cheat by
calling everything texture: a patch of galaxy appears under letters A, I, Q and Y, each in a
different texture, and only "galaxy (background)" is right for all four; a brick patch appears on
three different backgrounds, and only "brick (texture)" is right for all of them. So the one
answer that fits every image is the true split, and p_t / (p_t + p_b) is the pixel's mask.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The Letters labeller. Measured on the built set's alpha, for checking only (training never reads
# it): mean IoU 0.63 (0.45 before its GroupNorm was removed: a per-image norm let the net see the
# whole image's background).
LETTERS_LABELLER = {"receptive_field": 9, "width": 32, "weight_area": 5.0}


class PatchLabeller(nn.Module):
    """(N, 3, H, W) in [0, 1] -> per-pixel logits over texture classes then background classes."""

    def __init__(self, classes: int, width: int = 32, receptive_field: int = 9):
        super().__init__()
        layers, c = [], 3
        for _ in range((receptive_field - 1) // 2):  # each 3x3 conv grows the field by 2 px
            # no normalisation layer: GroupNorm's per-image statistics would show every pixel the
            # whole image (its background), and the net would use that to skip the real question
            layers += [nn.Conv2d(c, width, 3, padding=1, padding_mode="replicate"), nn.LeakyReLU(0.2)]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        return self.head(self.body((x - 0.5) * 4))


def _pair_probabilities(logits, texture, background, textures: int):
    """(p_t, p_b) per pixel (N, H, W) for each image's own texture and background class."""
    p = logits.softmax(1)
    n = torch.arange(len(texture))
    return p[n, texture], p[n, textures + background]


def fit(images: np.ndarray, texture: np.ndarray, background: np.ndarray, textures: int, backgrounds: int,
        steps: int = 1000, batch: int = 32, crop: int = 64, seed: int = 0, area_range=(0.06, 0.38),
        weight_area: float = 20.0, width: int = 32, receptive_field: int = 9, progress=None) -> PatchLabeller:
    """Train the patch labeller on uint8 images (N, H, W, 3) with their class labels, on random
    ``crop`` px windows (the net sees 13 px at a time, so whole images would only cost more)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = PatchLabeller(textures + backgrounds, width, receptive_field)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2)
    t_all, b_all = torch.from_numpy(np.asarray(texture)), torch.from_numpy(np.asarray(background))
    crop = min(crop, x_all.shape[-1])
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(x_all), batch))
        y0, x0 = (int(v) for v in rng.integers(0, x_all.shape[-1] - crop + 1, 2))
        x = x_all[idx, :, y0: y0 + crop, x0: x0 + crop].float() / 255
        if rng.random() < 0.5:  # the split cannot depend on orientation
            x = x.flip(3)
        pt, pb = _pair_probabilities(net(x), t_all[idx], b_all[idx], textures)
        share = (pt / (pt + pb).clamp_min(1e-6)).mean(dim=(1, 2))
        # the same area prior the CGN's own mask loss uses: a letter is some, never all, of an image
        area = F.relu(area_range[0] - share) + F.relu(share - area_range[1])
        loss = -(pt + pb).clamp_min(1e-6).log().mean() + weight_area * area.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress and (step + 1) % 100 == 0:
            progress((step + 1) / steps, f"masks {step + 1}/{steps}  loss {loss.item():.3f}")
    return net.eval()


@torch.no_grad()
def masks(net: PatchLabeller, images: np.ndarray, texture: np.ndarray, background: np.ndarray,
          textures: int, batch: int = 256) -> np.ndarray:
    """Soft masks (N, H, W) float32 in [0, 1]: p_t / (p_t + p_b) for each image's own classes."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i: i + batch]).permute(0, 3, 1, 2).float() / 255
        t = torch.from_numpy(np.asarray(texture[i: i + batch]))
        b = torch.from_numpy(np.asarray(background[i: i + batch]))
        pt, pb = _pair_probabilities(net(x), t, b, textures)
        out.append((pt / (pt + pb).clamp_min(1e-6)).numpy())
    return np.concatenate(out).astype(np.float32)


def _smoothed(soft: np.ndarray, border: int) -> torch.Tensor:
    """(N, H, W) soft masks lightly blurred (one noisy pixel is not a shape), the outer ``border``
    px cleared (the data set keeps letters clear of the edges)."""
    x = torch.from_numpy(soft)[:, None]
    x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    if border:
        x[:, :border] = x[:, -border:] = 0
        x[:, :, :border] = x[:, :, -border:] = 0
    return x


def clean(soft: np.ndarray, border: int) -> np.ndarray:
    """The confident cut: where the texture is the likelier of the two (the ratio over 0.5). The
    exemplars read these: a texture block must lie inside the material."""
    return (_smoothed(soft, border) > 0.5).float().numpy()


# Cuts tried by :func:`letter_sized`, most confident first.
CUTS = (0.5, 0.4, 0.3, 0.2, 0.1, 0.05)


def letter_sized(soft: np.ndarray, border: int, least_area: float) -> np.ndarray:
    """The letter's extent: each image cut at the highest of :data:`CUTS` at which its mask covers
    ``least_area`` of the image (the lowest cut if none does). The shape mechanism learns these.

    Why not the confident cut: where the labeller is unsure (G's tissue on the garage's browns, Z's
    dark coin gaps on the retina) the ratio inside the letter sits at 0.2-0.5 and outside near 0;
    it ranks the pixels right (checked on the hidden alpha: area under the ROC curve 0.89 for G,
    0.997 for Z) but the 0.5 cut keeps a stroke or two, and taught those, the shape mechanism drew a
    faint ring for G. Lowering the cut only until the mask is letter-sized leaves the confident
    letters as they were."""
    x = _smoothed(soft, border)
    out = (x > CUTS[-1]).float()
    done = torch.zeros(len(x), dtype=torch.bool)
    for cut in CUTS:
        hard = (x > cut).float()
        take = ~done & (hard.mean(dim=(1, 2)) >= least_area)
        out[take] = hard[take]
        done |= take
    return out.numpy()


def find_soft_masks(images: np.ndarray, texture: np.ndarray, background: np.ndarray, textures: int,
                    backgrounds: int, seed: int = 0, steps: int = 1000, progress=None) -> np.ndarray:
    """Soft masks (N, H, W) float32 for uint8 images (N, H, W, 3): fit a labeller and read it."""
    net = fit(images, texture, background, textures, backgrounds, steps=steps, seed=seed, progress=progress,
              **LETTERS_LABELLER)
    return masks(net, images, texture, background, textures)


def find_masks(images: np.ndarray, texture: np.ndarray, background: np.ndarray, textures: int, backgrounds: int,
               border: int, seed: int = 0, steps: int = 1000, progress=None) -> np.ndarray:
    """Hard masks (N, H, W) float32, the confident cut (:func:`clean`) of :func:`find_soft_masks`."""
    return clean(find_soft_masks(images, texture, background, textures, backgrounds, seed, steps, progress), border)
