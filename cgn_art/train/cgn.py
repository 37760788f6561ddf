"""Training a small CGN on a registered data set (MNIST variants, letters), from composite images alone.

The recipe (why each part is there; see the README's ablation table for what each bought):
- adversarial hinge loss with a class-conditional projection discriminator on composites;
- texture and background mechanisms that are fully convolutional with circular padding: they
  cannot draw a digit, so the shape has to come from the mask;
- binary (entropy) mask loss, ramped up, and a tight mask-area prior (per image and per batch);
- a mask border prior: MNIST digits are centred, so the mask should be empty in the outer strips
  (without it, double-colored MNIST learned an inverted solution: a frame-shaped mask and the
  digit drawn by the background mechanism);
- a background texture loss: Gram statistics of the background output against the border strips
  of real images of the same class (pure background in MNIST). This breaks the symmetry that
  otherwise lets texture and background swap mechanisms;
- a composite texture loss: Gram statistics of the composite against a real image of its class;
- an exponential moving average of the generator, which is what gets saved and shipped.

For models with detail levels (letters), two more losses, both from real composites only:
- where the model's own masks say a class is confidently foreground (or background), real
  windows of the training images are cut; the generated foreground/background must match their
  texture statistics, at native size and, through the detail levels, at 4x on windows of the
  high-resolution training images (a fully convolutional mechanism makes a window of its field
  from the matching window of its noise, so the 4x field never has to be made whole);
- the detail levels must keep the coarse colours: their output shrunk back must equal the
  coarse field (they add detail, they do not repaint).
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cgn_art.data.registry import DATASETS
from cgn_art.data.registry import dataset as data_family
from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.features import ENCODER_NAMES, make_encoder, texture_distance
from cgn_art.mechanisms.base import composite
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
from cgn_art.mechanisms.weights import save_model
from cgn_art.runtime.progress import Progress, step_message
from cgn_art.settings_checks import Settings, choice, number, whole
from cgn_art.train import checkpoint, losses
from cgn_art.train.checkpoint import TrainResult

RECIPES = ("adversarial", "decomposed")
FIELDS = ("network", "exemplar")


@dataclass
class TrainSettings(Settings):
    KIND = "training"

    variant: str = "wildlife"
    steps: int = 6000
    batch_size: int = 32
    seed: int = 0
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    weight_binary: float = 1.0
    binary_ramp_steps: int = 2000
    weight_size: float = 5.0
    mask_area_per_image: tuple[float, float] = (0.05, 0.30)
    mask_area_batch: tuple[float, float] = (0.12, 0.16)
    weight_background_texture: float = 1.0
    weight_mask_border: float = 1.0
    weight_composite_texture: float = 0.5
    ema_decay: float = 0.999
    copies: int = 4
    # "random": the fixed random multi-scale encoder (offline, reproducible); "vgg19" or "auto" use
    # torchvision's VGG19 when its ImageNet weights are already in the torch cache.
    feature_extractor: str = "random"
    width: int = 32
    discriminator_width: int = 32
    device: str = "auto"
    sample_every: int = 500
    checkpoint_every: int = 1000
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    # detail levels (only for data sets that have them, e.g. letters)
    weight_foreground_texture: float = 1.0
    weight_detail_texture: float = 1.0
    weight_detail_consistency: float = 4.0
    detail_start: int = 1500  # the model's masks must mean something before they pick real windows
    # "adversarial" (MNIST variants): one discriminator on composites; "decomposed" (letters): each
    # mechanism on its own loss, from masks found in the composites (see train/decomposed.py)
    recipe: str = "adversarial"
    weight_kl: float = 4.0  # decomposed: the shape VAE's KL weight (high: the latent holds style, not the letter)
    weight_shape_class: float = 1.0  # decomposed: prior masks must be read as their class
    weight_colour: float = 10.0  # decomposed: colour mean/std of the fields against real regions
    detail_window: int = 16  # decomposed: native px of field refined to 4x per sample and step
    shape_substeps: int = 0  # decomposed: extra shape-only steps per step (the masks learn slowest)
    mask_steps: int = 1000  # decomposed: training steps of the net that finds the masks
    # decomposed: a critic telling found masks from prior masks (0: none; without it prior masks are blobs)
    weight_shape_adversarial: float = 0.0
    # decomposed: a patch critic on fine texture/background windows (0: none; see decomposed.PatchCritic)
    weight_field_adversarial: float = 0.0
    # decomposed: match the real regions' raw patch distributions on fine windows (0: none; see
    # decomposed.patch_distribution_loss)
    weight_field_patches: float = 0.0
    # decomposed: "network" (convolutional texture/background mechanisms trained on the losses above) or
    # "exemplar" (one seamless texture per class quilted from the found regions; see train/exemplars.py)
    fields: str = "network"

    @classmethod
    def for_data(cls, variant: str = "wildlife", **overrides) -> "TrainSettings":
        """Settings for a data set: the dataclass defaults, then the data set's own, then ``overrides``."""
        return cls(**{"variant": variant, **data_family(variant).train_defaults, **overrides})

    def validate(self) -> "TrainSettings":
        """Check every field that has a range (with :mod:`cgn_art.settings_checks`, as every job's settings
        are); return self. Whole numbers refuse True and False, which Python would count as 1 and 0."""
        self.variant = choice("data set", self.variant, DATASETS)
        for name in ("steps", "batch_size", "copies", "width", "sample_every", "checkpoint_every"):
            setattr(self, name, whole(name.replace("_", " "), getattr(self, name), 1))
        self.shape_substeps = whole("shape substeps", self.shape_substeps, 0)
        self.recipe = choice("recipe", self.recipe, RECIPES)
        self.fields = choice("fields", self.fields, FIELDS)
        if self.fields == "exemplar" and self.recipe != "decomposed":
            raise CgnArtError("exemplar fields are built from found masks, so they need --recipe decomposed")
        self.feature_extractor = choice("feature extractor", self.feature_extractor, ENCODER_NAMES)
        self.ema_decay = number("ema decay", self.ema_decay, 0, 1, high_open=True)
        for name in ("lr_generator", "lr_discriminator"):
            setattr(self, name, number(name.replace("_", " "), getattr(self, name), 0, 1, low_open=True,
                                       high_open=True))
        return self


class Trainer:
    """Holds the models, optimisers and data; ``run`` trains, ``save``/``resume`` checkpoint."""

    def _setup(self, settings: TrainSettings):
        """What every recipe starts from: settings, seeds, device, the training data, the generator
        and its EMA copy. Returns (data, class names, model config)."""
        self.settings = settings.validate()
        s = self.settings
        if s.threads:
            torch.set_num_threads(s.threads)
        torch.manual_seed(s.seed)
        self.device = pick_device(s.device)
        self.rng = np.random.default_rng(s.seed)
        self.family = data_family(s.variant)
        data = self.family.load("train", seed=s.seed, copies=s.copies)
        names = self.family.class_names()
        cfg = SmallCGNConfig(variant=s.variant, shape_classes=names["shape"], texture_classes=names["texture"],
                             background_classes=names["background"], width=s.width,
                             native_size=self.family.native_size, detail_levels=self.family.detail_levels,
                             fields=s.fields, exemplar_side=self.family.native_size * 2 ** self.family.detail_levels)
        self.generator = SmallCGN(cfg, device=self.device).train()
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.step = 0
        self.history: list[dict] = []
        return data, names, cfg

    def __init__(self, settings: TrainSettings):
        data, names, cfg = self._setup(settings)
        s = self.settings
        self.images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()  # uint8, CPU
        self.labels = torch.from_numpy(data.labels)
        self.texture_labels = torch.from_numpy(data.texture_class)
        self.background_labels = torch.from_numpy(data.background_class)
        self.discriminator = losses.Discriminator(len(names["shape"]), width=s.discriminator_width,
                                                  size=cfg.native_size).to(self.device)
        self.windows = None
        if cfg.detail_levels:
            self.windows = RealWindows(data, self.family.native_size, len(names["shape"]), self.rng)
        self.encoder = make_encoder(s.feature_extractor, seed=s.seed, device=self.device,
                                    **({"kernels": (3, 5), "channels": 16, "scales": 2}
                                       if s.feature_extractor != "vgg19" else {}))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), s.lr_generator, betas=s.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), s.lr_discriminator, betas=s.betas)

    # One step ------------------------------------------------------------------------------

    def _batch(self):
        idx = torch.from_numpy(self.rng.integers(0, len(self.labels), self.settings.batch_size))
        real = self.images[idx].to(self.device).float() / 255
        return (real, self.labels[idx].to(self.device), self.texture_labels[idx].to(self.device),
                self.background_labels[idx].to(self.device))

    def _generate(self, labels, texture_labels, background_labels):
        g, n = self.generator, len(labels)

        def onehot(y, k):
            return torch.nn.functional.one_hot(y, k).float()

        z_shape = torch.randn(n, g.config.shape_noise_dim, device=self.device)
        cells = g.native_size // 4
        z_tex = torch.randn(n, g.config.field_channels, cells, cells, device=self.device)
        z_bg = torch.randn(n, g.config.field_channels, cells, cells, device=self.device)
        logits = g.shape(onehot(labels, g.num_classes("shape")), z_shape)
        mask = torch.sigmoid(logits)
        self._fields = (g.texture.coarse(onehot(texture_labels, g.num_classes("texture")), z_tex),
                        g.background.coarse(onehot(background_labels, g.num_classes("background")), z_bg))
        fg, bg = (torch.sigmoid(state[1]) for state in self._fields)
        return mask, fg, bg, composite(mask, fg, bg)

    def train_step(self) -> dict:
        s = self.settings
        real, labels, texture_labels, background_labels = self._batch()

        # One generator pass serves both updates: the discriminator sees it detached, then the
        # generator's losses use the same graph (saves a forward pass per step).
        mask, fg, bg, fake = self._generate(labels, texture_labels, background_labels)
        loss_d = losses.d_hinge(self.discriminator(real, labels), self.discriminator(fake.detach(), labels))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        ramp = min(1.0, self.step / max(1, s.binary_ramp_steps))
        border = self.family.border
        self.discriminator.requires_grad_(False)  # the generator step needs no gradients for D's weights
        parts = {
            "adversarial": losses.g_hinge(self.discriminator(fake, labels)),
            "binary": ramp * s.weight_binary * losses.mask_binary_loss(mask),
            "size": s.weight_size * losses.mask_size_loss(mask, s.mask_area_per_image, s.mask_area_batch),
            "mask_border": s.weight_mask_border * losses.border_mosaic(mask, border).mean(),
            "background_texture": s.weight_background_texture * texture_distance(
                self.encoder, losses.border_mosaic(bg, border), losses.border_mosaic(real, border)),
            "composite_texture": s.weight_composite_texture * texture_distance(self.encoder, fake, real),
        }
        if self.windows is not None and self.step >= s.detail_start:
            if self.step == s.detail_start or self.step % 250 == 0 or not self.windows.ready:
                self.windows.update(self.ema)
            parts.update(self._detail_losses(labels))
        loss_g = sum(parts.values())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.discriminator.requires_grad_(True)
        self.opt_g.step()
        self._update_ema()
        self.step += 1
        record = {"step": self.step, "discriminator": loss_d.item(), **{k: v.item() for k, v in parts.items()},
                  "mask_area": mask.mean().item()}
        return record

    def _detail_losses(self, labels) -> dict:
        """Foreground texture at native size, and the detail levels on windows at 4x (see the docstring)."""
        s, g, w = self.settings, self.generator, self.windows
        out = {}
        (xt, lt, et), (xb, lb, eb) = self._fields
        fg_real, fg_ok = w.real("foreground", labels, 8, fine=False)
        if fg_ok.any():
            fg = torch.sigmoid(lt)[fg_ok]
            out["foreground_texture"] = s.weight_foreground_texture * texture_distance(
                self.encoder, fg, fg_real[fg_ok].to(self.device))
        total_detail, total_consistency = 0.0, 0.0
        for kind, mech, (x, logits, emb), size in (("foreground", g.texture, (xt, lt, et), 16),
                                                   ("background", g.background, (xb, lb, eb), 48)):
            # a quarter of the batch is enough for texture statistics, at a quarter of the cost
            real, ok = w.real(kind, labels, size, fine=True)
            ok[len(ok) // 4:] = False
            if not ok.any():
                continue
            fine, coarse = detail_window(mech, x[ok].detach(), logits[ok].detach(), emb[ok].detach(), self.rng)
            total_consistency = total_consistency + F.l1_loss(F.avg_pool2d(fine, 4), coarse)
            total_detail = total_detail + texture_distance(self.encoder, fine, real[ok].to(self.device))
        out["detail_texture"] = s.weight_detail_texture * total_detail
        out["detail_consistency"] = s.weight_detail_consistency * total_consistency
        return {k: v if torch.is_tensor(v) else torch.zeros((), device=self.device) for k, v in out.items()}

    @torch.no_grad()
    def _update_ema(self):
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1 - decay)

    # Loop ----------------------------------------------------------------------------------

    def run(self, out_dir: str | Path | None = None,
            progress: Progress | None = None) -> TrainResult[SmallCGN]:
        s = self.settings
        out = Path(out_dir) if out_dir else None
        if out:
            out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        window: list[dict] = []
        while self.step < s.steps:
            record = self.train_step()
            window.append(record)
            if self.step % 50 == 0 or self.step == s.steps:
                # losses that start later (detail) are averaged over the steps that had them
                mean = {k: float(np.mean([r[k] for r in window if k in r])) for k in record if k != "step"}
                self.history.append({"step": self.step, **mean})
                window = []
                if progress:
                    progress(self.step / s.steps, step_message(self.step, s.steps, mean))
            checkpoint.write_due(out, self.step, s, lambda: sample_sheet(self.ema, seed=s.seed), self.save)
        seconds = time.perf_counter() - start
        return TrainResult(self.ema, self.step, self.history, seconds)

    # Checkpoints ---------------------------------------------------------------------------

    def _parts(self):
        return ({"generator": self.generator, "ema": self.ema, "discriminator": self.discriminator},
                {"opt_g": self.opt_g, "opt_d": self.opt_d})

    def save(self, out_dir: str | Path) -> None:
        """Checkpoint (resumable) plus the EMA generator as a loadable model folder ``model/``."""
        out = Path(out_dir)
        modules, optimizers = self._parts()
        meta = {"step": self.step, "settings": asdict(self.settings), "history": self.history,
                "rng": self.rng.bit_generator.state}
        checkpoint.save_checkpoint(out, meta, modules, optimizers)
        save_model(self.ema, out / "model", extra={"trained_steps": self.step, "train_settings": asdict(self.settings)})

    def resume(self, out_dir: str | Path) -> None:
        modules, optimizers = self._parts()
        meta = checkpoint.load_checkpoint(out_dir, self.device, modules, optimizers)
        self.step = int(meta["step"])
        self.history = meta.get("history", [])
        self.rng.bit_generator.state = meta["rng"]
        torch.manual_seed(self.settings.seed + self.step)


@torch.no_grad()
def sample_sheet(model: SmallCGN, seed: int = 0, scale: int = 2):
    """Rows of mask | foreground | background | composite for each class (a training snapshot)."""
    from PIL import Image

    was_training = model.training
    model.eval()
    n = model.num_classes("shape")
    classes = list(range(0, n, max(1, n // 10)))[:13]
    cf = model.counterfactual(classes, [c % model.num_classes("texture") for c in classes],
                              [c % model.num_classes("background") for c in classes],
                              seed=[seed + c for c in classes], size=model.native_size * scale)
    model.train(was_training)
    tile = model.native_size * scale
    sheet = Image.new("RGB", (4 * tile, len(classes) * tile), "white")
    for row in range(len(classes)):
        for col, part in enumerate(("mask", "foreground", "background", "composite")):
            image = cf.image(part, row).convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(image, (col * tile, row * tile))
    return sheet


def train(settings: TrainSettings, out_dir: str | Path | None = None, resume: bool = False,
          progress: Progress | None = None) -> TrainResult[SmallCGN]:
    """Train a small CGN; with ``resume`` continue from the checkpoint in ``out_dir``."""
    if settings.validate().recipe == "decomposed":
        from cgn_art.train.decomposed import DecomposedTrainer

        trainer = DecomposedTrainer(settings, progress, out_dir, resume=resume)
    else:
        trainer = Trainer(settings)
    if resume:
        if out_dir is None:
            raise CgnArtError("resume needs the output folder that holds the checkpoint")
        trainer.resume(out_dir)
    return trainer.run(out_dir, progress)


def detail_window(mech, x, logits, emb, rng, window: int = 16, margin: int = 2):
    """Run a field mechanism's detail levels on one random window of its coarse field.

    Returns (the window's fine colours (N, 3, 4*window, ...), the same window's coarse colours).
    The field is circular, so the window is a roll and a crop; ``margin`` native pixels around it
    absorb the convolutions' edge effects and are cut off afterwards.
    """
    y, x0 = (int(v) for v in rng.integers(0, x.shape[-1], 2))
    span = window + 2 * margin

    def roll(t):
        return torch.roll(t, (-y, -x0), dims=(2, 3))[..., :span, :span]

    xw, lw = roll(x), roll(logits)
    levels = len(mech.detail)
    noises = [torch.randn(len(x), 1, span * 2 ** (lv + 1), span * 2 ** (lv + 1), device=x.device)
              for lv in range(levels)]
    fine = torch.sigmoid(mech.refine(xw, lw, emb, noises))
    f = 2 ** levels
    fine = fine[..., f * margin: f * (margin + window), f * margin: f * (margin + window)]
    coarse = torch.sigmoid(lw[..., margin: margin + window, margin: margin + window])
    return fine, coarse


class RealWindows:
    """Windows of real training images where the model's own masks say a class is foreground
    (mean mask > 0.85 over many noises) or background (< 0.03): texture references that need no
    ground-truth masks, only the composites and the model being trained."""

    def __init__(self, data, native_size: int, classes: int, rng):
        self.native = native_size
        self.classes = classes
        self.rng = rng
        self.images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
        self.labels = np.asarray(data.labels)
        self.fine = torch.from_numpy(data.fine_images).permute(0, 3, 1, 2).contiguous()
        self.fine_labels = np.asarray(data.labels)[np.asarray(data.fine_index)]
        self.sites = None
        self.ready = False

    @torch.no_grad()
    def update(self, model, samples: int = 24):
        was = model.training
        model.eval()
        means = []
        for c in range(self.classes):
            weights = model.one_hot("shape", [c] * samples)
            noise = torch.randn(samples, model.config.shape_noise_dim, device=model.device)
            means.append(torch.sigmoid(model.shape(weights, noise)).mean(0)[0].cpu())
        model.train(was)
        self.sites = {"foreground": [torch.nonzero(m > 0.85).numpy() for m in means],
                      "background": [torch.nonzero(m < 0.03).numpy() for m in means]}
        self.ready = True

    def real(self, kind: str, labels: torch.Tensor, size: int, fine: bool):
        """(windows (N, 3, size, size) float, ok (N,) bool): one real window per label, centred on
        a site of that class (scaled to the fine images when ``fine``); ok is False where the class
        has no site yet."""
        scale = self.fine.shape[-1] // self.native if fine else 1
        pool_images = self.fine if fine else self.images
        pool_labels = self.fine_labels if fine else self.labels
        side = pool_images.shape[-1]
        out = torch.zeros(len(labels), 3, size, size)
        ok = torch.zeros(len(labels), dtype=torch.bool)
        for i, c in enumerate(labels.tolist()):
            sites = self.sites[kind][c]
            candidates = np.flatnonzero(pool_labels == c)
            if len(sites) == 0 or len(candidates) == 0:
                continue
            cy, cx = sites[self.rng.integers(len(sites))] * scale + scale // 2
            y = int(np.clip(cy - size // 2, 0, side - size))
            x = int(np.clip(cx - size // 2, 0, side - size))
            image = pool_images[candidates[self.rng.integers(len(candidates))]]
            out[i] = image[:, y: y + size, x: x + size].float() / 255
            ok[i] = True
        return out, ok
