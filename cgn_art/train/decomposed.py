"""The decomposed recipe: a small CGN trained mechanism by mechanism from composites (the Letters CGN).

The adversarial recipe (``train/cgn.py``) lets a discriminator on whole composites sort out which
mechanism draws what. At 64 px with 26 letters that did not converge in a CPU's hours (the first
Letters run drew the wrong letters at step 4,000, with one leopard pattern for every texture).
The paper's ImageNet CGN does not do it that way either: it reads masks off a pretrained saliency
net and trains each mechanism on its own loss. This recipe does the same with what the training
composites themselves say:

1. masks: :mod:`cgn_art.train.pseudo_masks` finds each training image's letter from the images and
   their texture/background labels alone (no ground-truth alpha);
2. shape: the shape mechanism is the decoder of a conditional VAE on those masks (its noise is the
   latent, so seeds give different fonts, slants and weights of the same letter), plus the
   binary and area losses of the adversarial recipe on masks drawn from the prior;
3. texture and background: each field mechanism learns its classes' texture statistics from the
   real pixels inside (or outside) the masks: channel means and stds of a fixed random encoder's
   maps, matched as a distribution (sliced Wasserstein between generated and real per-image
   statistics, so samples vary as much as real regions do, not all equal to the class mean), and
   the class's mean Gram matrices (cross-channel pattern). Both at native size on whole fields and
   at 4x on windows of the detail levels against the 256 px training images (a fully
   convolutional mechanism makes a window of its field from the matching window of its noise).
   Optionally (``weight_field_patches``), the fine windows also match the distribution of the real
   regions' raw 7 px patches at three pyramid levels (sliced Wasserstein, as in Elnekave & Weiss's
   patch-distribution matching): Gram statistics of random filters make grass and gravel but not
   the mortar of a brick wall, which the patches' distribution does carry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cgn_art.errors import CgnArtError
from cgn_art.features import RandomEncoder
from cgn_art.runtime.progress import Progress, reporter
from cgn_art.train import losses, pseudo_masks
from cgn_art.train.cgn import Trainer, detail_window
from cgn_art.train.exemplars import exemplars_from_masks


def mask_body(size: int, width: int) -> tuple[nn.Sequential, int]:
    """Stride-2 convolutions from a (N, 1, size, size) mask down to 4 x 4, flattened: the trunk of
    the VAE's encoder and of the mask critic. Returns (trunk, number of features)."""
    layers, c, res = [], 1, size
    while res > 4:
        layers += [nn.Conv2d(c, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c, res = width, res // 2
        width = min(width * 2, 128)
    return nn.Sequential(*layers, nn.Flatten()), c * 16


class MaskEncoder(nn.Module):
    """The VAE's encoder: mask (N, 1, S, S) + class -> latent mean and log-variance. Used in
    training only; the shipped model is the decoder (the shape mechanism)."""

    def __init__(self, classes: int, latent: int, size: int, width: int = 32):
        super().__init__()
        self.body, c = mask_body(size, width)
        self.head = nn.Linear(c + classes, 2 * latent)

    def forward(self, mask, class_weights):
        return self.head(torch.cat([self.body(mask * 2 - 1), class_weights], 1)).chunk(2, dim=1)


class MaskClassifier(nn.Module):
    """Which class a mask shows; trained on the found masks as the run goes. Masks drawn from the
    VAE's prior must be read as their class (as in an auxiliary-classifier GAN): without it the
    latent carries the letter's identity and prior samples are letters of any class, or blobs."""

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(16 * width, classes))

    def forward(self, mask):
        return self.net(F.interpolate(mask, size=(32, 32), mode="area") * 2 - 1)


class MaskCritic(nn.Module):
    """Tells found masks from masks drawn from the VAE's prior, per class (a projection
    discriminator). A VAE's prior samples are the blurred average of the letters it encodes and
    the binary loss turns that average into a blob; this critic is what makes them letter-shaped."""

    def __init__(self, classes: int, size: int, width: int = 32):
        super().__init__()
        self.body, c = mask_body(size, width)
        self.score = nn.Linear(c, 1)
        self.embed = nn.Embedding(classes, c)

    def forward(self, mask, labels):
        h = self.body(mask * 2 - 1)
        return self.score(h)[:, 0] + (self.embed(labels) * h).sum(1)


class PatchCritic(nn.Module):
    """Tells real texture from generated texture, position by position, per class (a fully
    convolutional projection discriminator). It sees RGB windows at the fine (4x) scale and says,
    for each 4 px step, how real the 26 px around it look as the labelled class. Real windows come
    from the 256 px training images, labelled by the found masks (texture class well inside a
    letter, background class well outside, nothing near an edge); generated windows are the detail
    levels' windows. A learned judge of pattern, where a random encoder's statistics see only
    colour, contrast and grain."""

    RECEPTIVE_FIELD = 26  # px at the fine scale: a letter's stroke is 20-40 px there

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        w = width
        self.body = nn.Sequential(
            sn(nn.Conv2d(3, w, 3, 1, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * w, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(2 * w, 2 * w, 4, 2, 1)),
            nn.LeakyReLU(0.2), sn(nn.Conv2d(2 * w, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2))
        self.score = sn(nn.Conv2d(2 * w, 1, 1))
        self.embed = nn.Embedding(classes, 2 * w)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1], labels (N, H/4, W/4) class per position (-1: none, scored
        as class 0 and to be ignored by the caller) -> scores (N, H/4, W/4)."""
        h = self.body(images * 2 - 1)
        e = self.embed(labels.clamp_min(0)).permute(0, 3, 1, 2)
        return self.score(h)[:, 0] + (e * h).sum(1)


def position_labels(masks: torch.Tensor, texture: np.ndarray, background: np.ndarray, texture_count: int,
                    margin: int) -> torch.Tensor:
    """Per 4 px position of fine-scale masks (N, 1, S, S): the texture class where the mask is 1 for
    ``margin`` px around, texture_count + the background class where it is 0 for ``margin`` px
    around, -1 elsewhere -> (N, S/4, S/4) long."""
    inside = _erode(masks, margin)[:, 0, 2::4, 2::4] > 0.5
    outside = _erode(1 - masks, margin)[:, 0, 2::4, 2::4] > 0.5
    t = torch.as_tensor(np.asarray(texture), dtype=torch.long)[:, None, None]
    b = torch.as_tensor(np.asarray(background), dtype=torch.long)[:, None, None] + texture_count
    labels = torch.full(inside.shape, -1, dtype=torch.long)
    return torch.where(inside, t.expand_as(labels), torch.where(outside, b.expand_as(labels), labels))


def shape_pool(found: np.ndarray, labels: np.ndarray, least_area: float) -> np.ndarray:
    """Indices of the found masks the shape mechanism learns from: those covering at least
    ``least_area`` of the image (the size the CGN's own masks must reach). Taught a stroke or two
    where the labeller lost a letter, the shape mechanism drew specks; the letter-sized cut
    (:func:`pseudo_masks.letter_sized`) rarely leaves one that small, and this drops the rest. A
    class none of whose masks is that large keeps them all rather than vanish."""
    area = found.reshape(len(found), -1).mean(1)
    keep = area >= least_area
    for c in np.unique(labels):
        if not keep[labels == c].any():
            keep[labels == c] = True
    return np.flatnonzero(keep)


# Texture statistics ------------------------------------------------------------------------------

def _erode(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """The minimum over the (2 ``pixels`` + 1)^2 square around each pixel (the image's edge does not
    count), taken as a row pass then a column pass: the same result as one square max-pool, at
    2k instead of k^2 comparisons a pixel (a 41 px square cost minutes on 256 px training masks)."""
    if not pixels:
        return mask
    k = 2 * pixels + 1
    rows = -F.max_pool2d(-mask, (1, k), stride=1, padding=(0, pixels))
    return -F.max_pool2d(-rows, (k, 1), stride=1, padding=(pixels, 0))


def region_statistics(encoder: RandomEncoder, images: torch.Tensor, region: torch.Tensor | None = None,
                      min_pixels: int = 6):
    """Per image: (vector of channel means and stds of every map, [Gram per map], valid (N,)).

    ``region`` (N, 1, H, W) in {0, 1} limits the statistics to the pixels whose filter footprint
    lies inside it (the region is eroded by each map's filter radius at that map's scale); an
    image with fewer than ``min_pixels`` such pixels in some map is not ``valid``."""
    maps = encoder(images)
    vectors, grams = [], []
    valid = torch.ones(len(images), dtype=torch.bool, device=images.device)
    kernels = list(encoder.kernels) + [1]  # each scale: one map per kernel, then the colours
    for i, f in enumerate(maps):
        if region is None:
            w = torch.ones_like(f[:, :1])
        else:
            r = F.adaptive_avg_pool2d(region, f.shape[-2:]) > 0.99
            w = _erode(r.float(), kernels[i % len(kernels)] // 2)
        count = w.sum(dim=(2, 3))
        valid &= count[:, 0] >= min_pixels
        count = count.clamp_min(1)
        mean = (f * w).sum(dim=(2, 3)) / count
        centred = (f - mean[..., None, None]) * w
        std = (centred.pow(2).sum(dim=(2, 3)) / count + 1e-6).sqrt()
        vectors += [mean, std]
        flat = (f * w).flatten(2)
        grams.append(flat @ flat.transpose(1, 2) / count[..., None])
    return torch.cat(vectors, 1), grams, valid


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Squared sliced Wasserstein distance between two equal-sized sets of vectors (M, D)."""
    pa, pb = (a @ projections).sort(0)[0], (b @ projections).sort(0)[0]
    return (pa - pb).pow(2).mean()


def colour_statistics(images: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 6): mean and std of R, G, B over the region (or the whole image). The encoder's maps
    cannot carry this: its filters are zero-mean, and a Gram matrix of the colours themselves is
    blind to sign (black and white give the same one)."""
    w = torch.ones_like(images[:, :1]) if region is None else region
    count = w.sum(dim=(2, 3)).clamp_min(1)
    mean = (images * w).sum(dim=(2, 3)) / count
    std = (((images - mean[..., None, None]) * w).pow(2).sum(dim=(2, 3)) / count + 1e-6).sqrt()
    return torch.cat([mean, std], 1)


class RealStatistics:
    """Per-image texture statistics of the real regions of one kind ('texture' inside the masks,
    'background' outside), grouped by class, for one encoder and one resolution."""

    def __init__(self, encoder, images: torch.Tensor, regions: torch.Tensor, classes: np.ndarray,
                 num_classes: int, batch: int = 64):
        vectors, grams, valid, colours = [], [], [], []
        with torch.no_grad():
            for i in range(0, len(images), batch):
                x = images[i: i + batch].float() / 255
                v, g, ok = region_statistics(encoder, x, regions[i: i + batch])
                vectors.append(v)
                grams.append(g)
                valid.append(ok)
                colours.append(colour_statistics(x, _erode(regions[i: i + batch], 1)))
        vectors, valid, colours = torch.cat(vectors), torch.cat(valid), torch.cat(colours)
        grams = [torch.cat([g[k] for g in grams]) for k in range(len(grams[0]))]
        ok = valid.numpy()
        # every statistic counts alike; with fewer than two clean regions (a tiny data set), every
        # region counts, and a lone one gives no spread at all (scale 1, not NaN)
        usable = vectors[valid] if int(valid.sum()) >= 2 else vectors
        self.scale = usable.std(0).nan_to_num(1.0).clamp_min(1e-3)
        self.by_class = []
        self.colour_by_class = []
        self.mean_gram = []
        for c in range(num_classes):
            rows = np.flatnonzero(ok & (classes == c))
            if len(rows) == 0:  # no clean region of this class: fall back on every image of it
                rows = np.flatnonzero(classes == c)
            self.by_class.append(vectors[rows] / self.scale)
            self.colour_by_class.append(colours[rows])
            self.mean_gram.append([g[rows].mean(0) for g in grams])

    def sample(self, c: int, m: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
        """``m`` real images' (statistics vectors, colour statistics) of class ``c``."""
        pick = torch.from_numpy(rng.integers(0, len(self.by_class[c]), m))
        return self.by_class[c][pick], self.colour_by_class[c][pick]


# Patch distributions -----------------------------------------------------------------------------

PATCH = 7          # px: the side of the patches whose distribution the fine fields match
PATCH_LEVELS = 3   # the fine scale and two halvings: patches span 7, 14 and 28 fine px


def image_patches(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, positions, C * PATCH * PATCH): every PATCH x PATCH patch, flattened."""
    return F.unfold(images, PATCH).transpose(1, 2)


class PatchBank:
    """Real patches of each class at each pyramid level: from every image, up to ``per_image`` of
    the patches that lie wholly inside its class's region (the found masks for textures, their
    complement for backgrounds). Kept as float16; a level a class has no patch at is borrowed
    from the finer level."""

    def __init__(self, images: torch.Tensor, regions: torch.Tensor, classes: np.ndarray, num_classes: int,
                 rng: np.random.Generator, per_image: int = 600):
        found: list[list[list[torch.Tensor]]] = [[[] for _ in range(PATCH_LEVELS)] for _ in range(num_classes)]
        with torch.no_grad():
            for i in range(len(images)):
                x = images[i: i + 1].float() / 255
                r = regions[i: i + 1].float()
                for level in range(PATCH_LEVELS):
                    if level:
                        x, r = F.avg_pool2d(x, 2), F.avg_pool2d(r, 2)
                    inside = image_patches((r > 0.99).float()).amin(2)[0] > 0.5
                    rows = torch.nonzero(inside)[:, 0]
                    if len(rows) == 0:
                        continue
                    pick = rows[torch.from_numpy(rng.choice(len(rows), min(per_image, len(rows)), replace=False))]
                    found[int(classes[i])][level].append(image_patches(x)[0, pick].half())
        self.by_class = []
        for c in range(num_classes):
            levels = []
            for level in range(PATCH_LEVELS):
                bank = torch.cat(found[c][level]) if found[c][level] else None
                levels.append(bank if bank is not None else (levels[-1] if levels else None))
            if levels[0] is None:
                raise CgnArtError(f"class {c} has no real region wide enough for a {PATCH} px patch")
            self.by_class.append(levels)

    def sample(self, c: int, level: int, m: int, rng: np.random.Generator) -> torch.Tensor:
        bank = self.by_class[c][level]
        return bank[torch.from_numpy(rng.integers(0, len(bank), m))].float()


def patch_distribution_loss(fine: torch.Tensor, classes: np.ndarray, bank: PatchBank, rng: np.random.Generator,
                            projections: int = 64, max_patches: int = 4096) -> torch.Tensor:
    """Sliced Wasserstein distance between each class's generated patches (of ``fine``, one class
    per row in ``classes``) and its real ones, at every pyramid level; each projection is divided
    by the real patches' spread there, so a level and a class count alike whatever their contrast."""
    total, terms = fine.new_zeros(()), 0
    x = fine
    for level in range(PATCH_LEVELS):
        if level:
            x = F.avg_pool2d(x, 2)
        if min(x.shape[-2:]) < PATCH:
            break
        patches = image_patches(x)
        for c in np.unique(classes):
            mine = patches[torch.from_numpy(classes == c)].reshape(-1, patches.shape[-1])
            mine = mine[torch.randperm(len(mine), device=mine.device)[:max_patches]]
            real = bank.sample(int(c), level, len(mine), rng).to(fine.device)
            directions = F.normalize(torch.randn(patches.shape[-1], projections, device=fine.device), dim=0)
            a, b = (mine @ directions).sort(0)[0], (real @ directions).sort(0)[0]
            total = total + ((a - b).pow(2).mean(0) / (b.var(0) + 1e-4)).mean()
            terms += 1
    return total / max(terms, 1)


# The trainer ---------------------------------------------------------------------------------------

class DecomposedTrainer(Trainer):
    """The adversarial :class:`~cgn_art.train.cgn.Trainer`'s loop and checkpoints, with its own models and losses."""

    PER_CLASS = 4  # samples per class in a step's field batch (the sliced Wasserstein sets)

    def __init__(self, settings, progress: Progress | None = None, out_dir=None,
                 resume: bool = False):
        data, names, cfg = self._setup(settings)
        s = self.settings
        self.mask_encoder = MaskEncoder(len(names["shape"]), cfg.shape_noise_dim, cfg.native_size).to(self.device)
        self.mask_classifier = MaskClassifier(len(names["shape"])).to(self.device)
        self.mask_critic = MaskCritic(len(names["shape"]), cfg.native_size).to(self.device)
        self.counts = {k: len(v) for k, v in names.items()}

        # 1. masks from the composites (the data set's alpha is never read), cut twice: confidently for
        # the exemplars and fields (their regions must be the material), to a letter's size for the shape
        say = reporter(progress)
        cached = Path(out_dir) / "masks.npz" if out_dir else None
        soft = None
        if cached and cached.is_file():
            with np.load(cached) as stored:
                soft = stored["soft"].astype(np.float32) if "soft" in stored else None
        if soft is None:  # (a cache from before the two cuts holds only the confident one: found again)
            soft = pseudo_masks.find_soft_masks(
                data.images, data.texture_class, data.background_class, self.counts["texture"],
                self.counts["background"], seed=s.seed, steps=s.mask_steps,
                progress=lambda f, m: say(None, f"finding the letters in the training images: {m}"))
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(cached, soft=soft)
        found = pseudo_masks.clean(soft, self.family.border)
        self.masks = torch.from_numpy(found)[:, None]
        shapes = pseudo_masks.letter_sized(soft, self.family.border, s.mask_area_batch[0])
        self.shape_masks = torch.from_numpy(shapes)[:, None]
        self.labels = torch.from_numpy(np.asarray(data.labels))
        self.shape_pool = shape_pool(shapes, np.asarray(data.labels), s.mask_area_per_image[0])

        images = torch.from_numpy(data.images).permute(0, 3, 1, 2)
        fine_index = np.asarray(data.fine_index)
        fine = torch.from_numpy(data.fine_images).permute(0, 3, 1, 2)
        fine_masks = F.interpolate(self.masks[fine_index], scale_factor=fine.shape[-1] // images.shape[-1],
                                   mode="nearest")
        if self.generator.exemplar_fields and not resume:  # (a resumed run's are in its checkpoint)
            # 2'. exemplar fields: quilted once from the real regions; only the shape trains after that
            quilted = exemplars_from_masks(data, self.masks, self.counts, cfg.exemplar_side, self.rng,
                                           progress=lambda m: say(None, f"quilting the exemplars: {m}"))
            for kind, pictures in quilted.items():
                for model in (self.generator, self.ema):
                    getattr(model, kind).exemplars.copy_(pictures)
        # 2. real texture statistics, native and fine, inside and outside the masks
        say(None, "measuring the real textures")
        self.native_encoder = RandomEncoder(kernels=(3, 5), channels=16, scales=1, seed=s.seed).to(self.device)
        self.fine_encoder = RandomEncoder(kernels=(3, 5), channels=16, scales=2, seed=s.seed + 1).to(self.device)
        self.real = {}
        for kind, inside in (("texture", True), ("background", False)) if not self.generator.exemplar_fields else ():
            classes = np.asarray(data.texture_class if inside else data.background_class)
            region, fine_region = (self.masks, fine_masks) if inside else (1 - self.masks, 1 - fine_masks)
            self.real[kind] = (
                RealStatistics(self.native_encoder, images, region, classes, self.counts[kind]),
                RealStatistics(self.fine_encoder, fine, fine_region, classes[fine_index], self.counts[kind]))
        self.mask_area = float(self.masks.mean())
        # 3. real fine windows for the patch critic: every position labelled by the found masks
        self.fine_images = fine
        self.fine_labels = position_labels(fine_masks, np.asarray(data.texture_class)[fine_index],
                                           np.asarray(data.background_class)[fine_index], self.counts["texture"],
                                           PatchCritic.RECEPTIVE_FIELD // 2)
        self.patch_critic = PatchCritic(self.counts["texture"] + self.counts["background"]).to(self.device)
        self._fakes: dict = {}
        self.patch_banks = {}
        if s.weight_field_patches:
            say(None, "collecting the real patches")
            for kind, region in (("texture", fine_masks), ("background", 1 - fine_masks)):
                classes = np.asarray(data.texture_class if kind == "texture" else data.background_class)[fine_index]
                self.patch_banks[kind] = PatchBank(fine, region, classes, self.counts[kind], self.rng)

        self.opt_g = torch.optim.Adam(self.generator.parameters(), s.lr_generator, betas=(0.5, 0.99))
        self.opt_e = torch.optim.Adam(list(self.mask_encoder.parameters()) + list(self.mask_classifier.parameters()),
                                      s.lr_generator, betas=(0.5, 0.99))
        self.opt_c = torch.optim.Adam(self.mask_critic.parameters(), s.lr_discriminator, betas=(0.5, 0.99))
        self.opt_p = torch.optim.Adam(self.patch_critic.parameters(), s.lr_discriminator, betas=(0.0, 0.99))
        self._critic_batch = None

    # Losses ----------------------------------------------------------------------------------

    def _shape_losses(self) -> dict:
        s, g = self.settings, self.generator
        idx = torch.from_numpy(self.shape_pool[self.rng.integers(0, len(self.shape_pool), s.batch_size)])
        target = self.shape_masks[idx].to(self.device)
        onehot = g.one_hot("shape", self.labels[idx].tolist())
        mu, logvar = self.mask_encoder(target, onehot)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = g.shape(onehot, z)
        pixels = target[0].numel()
        recon = F.binary_cross_entropy_with_logits(logits, target)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean() / pixels
        # masks drawn from the prior (what users see) must be crisp, of a letter's size, and read as
        # their letter by the classifier (which learns from the found masks only, not from these)
        prior = torch.sigmoid(g.shape(onehot, torch.randn_like(mu)))
        ramp = min(1.0, self.step / max(1, s.binary_ramp_steps))
        labels = self.labels[idx].to(self.device)
        self.mask_classifier.requires_grad_(False)
        read_as = F.cross_entropy(self.mask_classifier(prior), labels)
        self.mask_classifier.requires_grad_(True)
        learn = F.cross_entropy(self.mask_classifier(target), labels)
        out = {"mask_reconstruction": recon, "mask_kl": s.weight_kl * kl, "mask_classifier": learn,
               "mask_class": s.weight_shape_class * read_as,
               "binary": ramp * s.weight_binary * losses.mask_binary_loss(prior),
               "size": s.weight_size * losses.mask_size_loss(prior, s.mask_area_per_image, s.mask_area_batch)}
        if s.weight_shape_adversarial:
            self.mask_critic.requires_grad_(False)
            out["mask_adversarial"] = s.weight_shape_adversarial * F.softplus(-self.mask_critic(prior, labels)).mean()
            self.mask_critic.requires_grad_(True)
            self._critic_batch = (target, prior.detach(), labels)
        return out

    def _critic_step(self) -> None:
        """One step of the mask critic on the last shape batch: found masks real, prior masks fake."""
        if self._critic_batch is None:
            return
        target, prior, labels = self._critic_batch
        loss = F.softplus(-self.mask_critic(target, labels)).mean() + F.softplus(self.mask_critic(prior, labels)).mean()
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        self._critic_batch = None

    def _field_losses(self, kind: str) -> dict:
        s, g = self.settings, self.generator
        mech = getattr(g, kind)
        k = self.counts[kind]
        chosen = self.rng.choice(k, size=min(k, max(1, s.batch_size // self.PER_CLASS)), replace=False)
        classes = np.repeat(chosen, self.PER_CLASS)
        onehot = g.one_hot(kind, classes.tolist())
        cells = g.native_size // mech.CELL
        noise = torch.randn(len(classes), g.config.field_channels, cells, cells, device=self.device)
        x, logits, emb = mech.coarse(onehot, noise)
        coarse = torch.sigmoid(logits)
        fine, coarse_window = detail_window(mech, x, logits, emb, self.rng, window=s.detail_window)
        native_real, fine_real = self.real[kind]
        out = {}
        for name, images, encoder, real in (("native", coarse, self.native_encoder, native_real),
                                            ("fine", fine, self.fine_encoder, fine_real)):
            vectors, grams, _ = region_statistics(encoder, images)
            vectors = vectors / real.scale
            colours = colour_statistics(images)
            projections = F.normalize(torch.randn(vectors.shape[1], 64, device=self.device), dim=0)
            colour_projections = F.normalize(torch.randn(6, 16, device=self.device), dim=0)
            swd, gram_loss, colour_loss = 0.0, 0.0, 0.0
            for j, c in enumerate(chosen):
                rows = slice(j * self.PER_CLASS, (j + 1) * self.PER_CLASS)
                real_rows, real_colours = real.sample(int(c), self.PER_CLASS, self.rng)
                swd = swd + sliced_wasserstein(vectors[rows], real_rows, projections)
                colour_loss = colour_loss + sliced_wasserstein(colours[rows], real_colours, colour_projections)
                gram_loss = gram_loss + sum(F.mse_loss(gm[rows].mean(0), target) / (target.pow(2).mean() + 1e-6)
                                            for gm, target in zip(grams, real.mean_gram[int(c)]))
            out[f"{kind}_{name}_statistics"] = s.weight_foreground_texture * swd / len(chosen)
            out[f"{kind}_{name}_gram"] = s.weight_detail_texture * gram_loss / len(chosen)
            out[f"{kind}_{name}_colour"] = s.weight_colour * colour_loss / len(chosen)
        out[f"{kind}_consistency"] = s.weight_detail_consistency * F.l1_loss(F.avg_pool2d(fine, 4), coarse_window)
        if s.weight_field_patches:
            out[f"{kind}_patches"] = s.weight_field_patches * patch_distribution_loss(
                fine, classes, self.patch_banks[kind], self.rng)
        if s.weight_field_adversarial:
            offset = 0 if kind == "texture" else self.counts["texture"]
            labels = torch.as_tensor(classes + offset, device=self.device)[:, None, None]
            labels = labels.expand(len(classes), fine.shape[-2] // 4, fine.shape[-1] // 4)
            self.patch_critic.requires_grad_(False)
            out[f"{kind}_adversarial"] = -s.weight_field_adversarial * self.patch_critic(fine, labels).mean()
            self.patch_critic.requires_grad_(True)
            self._fakes[kind] = (fine.detach(), labels)
        return out

    def _real_windows(self, n: int, size: int):
        """``n`` random ``size`` px windows (4 px aligned) of the fine training images and their
        position labels; half of them centred on a texture position (letters are a small share)."""
        side = self.fine_images.shape[-1]
        windows, labels = [], []
        for i in self.rng.integers(0, len(self.fine_images), n):
            sites = torch.nonzero((self.fine_labels[i] >= 0) & (self.fine_labels[i] < self.counts["texture"]))
            if len(sites) and self.rng.random() < 0.5:
                cy, cx = (sites[self.rng.integers(len(sites))] * 4).tolist()
            else:
                cy, cx = (int(v) for v in self.rng.integers(0, side, 2))
            y = int(np.clip(cy - size // 2, 0, side - size)) // 4 * 4
            x = int(np.clip(cx - size // 2, 0, side - size)) // 4 * 4
            windows.append(self.fine_images[i, :, y: y + size, x: x + size])
            labels.append(self.fine_labels[i, y // 4: (y + size) // 4, x // 4: (x + size) // 4])
        return torch.stack(windows).float().to(self.device) / 255, torch.stack(labels).to(self.device)

    def _patch_critic_step(self) -> None:
        """Hinge loss: real positions (labelled) score above 1, generated below -1."""
        if not self._fakes:
            return
        fakes = list(self._fakes.values())
        fake = torch.cat([f for f, _ in fakes])
        fake_labels = torch.cat([lab for _, lab in fakes])
        real, real_labels = self._real_windows(len(fake), fake.shape[-1])
        known = real_labels >= 0
        loss = F.relu(1 - self.patch_critic(real, real_labels))[known].mean() \
            + F.relu(1 + self.patch_critic(fake, fake_labels)).mean()
        self.opt_p.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_p.step()
        self._fakes = {}

    def _shape_only_step(self) -> None:
        """One more step of the shape VAE alone: the masks need more steps than the fields, and
        they cost a small part of a full step."""
        loss = sum(self._shape_losses().values())
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_e.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()  # only the shape mechanism has gradients; Adam skips the rest
        self.opt_e.step()
        self._critic_step()

    def train_step(self) -> dict:
        for _ in range(self.settings.shape_substeps):
            self._shape_only_step()
        parts = self._shape_losses()
        for kind in ("texture", "background") if not self.generator.exemplar_fields else ():
            parts.update(self._field_losses(kind))
        loss = sum(parts.values())
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_e.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.opt_e.step()
        self._critic_step()
        self._patch_critic_step()
        self._update_ema()
        self.step += 1
        return {"step": self.step, **{k: float(v.detach()) for k, v in parts.items()}}

    # run, save, resume and the EMA update are the adversarial trainer's (same files, same loop)

    def _parts(self):
        return ({"generator": self.generator, "ema": self.ema, "mask_encoder": self.mask_encoder,
                 "mask_classifier": self.mask_classifier, "mask_critic": self.mask_critic,
                 "patch_critic": self.patch_critic},
                {"opt_g": self.opt_g, "opt_e": self.opt_e, "opt_c": self.opt_c, "opt_p": self.opt_p})
