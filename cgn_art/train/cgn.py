"""Training a small CGN on an MNIST variant, from composite images alone.

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
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cgn_art.data import mnist
from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.features import ENCODER_NAMES, make_encoder, texture_distance
from cgn_art.mechanisms.base import composite
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
from cgn_art.mechanisms.weights import save_model
from cgn_art.train import losses


@dataclass
class TrainSettings:
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

    def validate(self) -> "TrainSettings":
        mnist.check_variant(self.variant)
        for name in ("steps", "batch_size", "copies", "width", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CgnArtError(f"{name.replace('_', ' ')} must be a whole number >= 1, not {value!r}")
        if self.feature_extractor not in ENCODER_NAMES:
            raise CgnArtError(f"feature extractor must be one of {', '.join(ENCODER_NAMES)}, not {self.feature_extractor!r}")
        if not 0 <= self.ema_decay < 1:
            raise CgnArtError(f"ema decay must be in [0, 1), not {self.ema_decay}")
        for name in ("lr_generator", "lr_discriminator"):
            if not 0 < getattr(self, name) < 1:
                raise CgnArtError(f"{name.replace('_', ' ')} must be in (0, 1)")
        return self


@dataclass
class TrainResult:
    model: SmallCGN
    step: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Holds the models, optimisers and data; ``run`` trains, ``save``/``resume`` checkpoint."""

    def __init__(self, settings: TrainSettings):
        self.settings = settings.validate()
        s = self.settings
        if s.threads:
            torch.set_num_threads(s.threads)
        torch.manual_seed(s.seed)
        self.device = pick_device(s.device)
        self.rng = np.random.default_rng(s.seed)
        data = mnist.load(s.variant, "train", seed=s.seed, copies=s.copies)
        self.images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()  # uint8, CPU
        self.labels = torch.from_numpy(data.labels)
        self.background_labels = torch.from_numpy(data.background_class)
        names = mnist.class_names(s.variant)
        cfg = SmallCGNConfig(variant=s.variant, shape_classes=names["shape"], texture_classes=names["texture"],
                             background_classes=names["background"], width=s.width)
        self.generator = SmallCGN(cfg, device=self.device).train()
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.discriminator = losses.Discriminator(10, width=s.discriminator_width).to(self.device)
        self.encoder = make_encoder(s.feature_extractor, seed=s.seed, device=self.device,
                                    **({"kernels": (3, 5), "channels": 16, "scales": 2}
                                       if s.feature_extractor != "vgg19" else {}))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), s.lr_generator, betas=s.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), s.lr_discriminator, betas=s.betas)
        self.step = 0
        self.history: list[dict] = []

    # One step ------------------------------------------------------------------------------

    def _batch(self):
        idx = torch.from_numpy(self.rng.integers(0, len(self.labels), self.settings.batch_size))
        real = self.images[idx].to(self.device).float() / 255
        return real, self.labels[idx].to(self.device), self.background_labels[idx].to(self.device)

    def _generate(self, labels, background_labels):
        g, n = self.generator, len(labels)
        onehot = lambda y, k: torch.nn.functional.one_hot(y, k).float()
        z_shape = torch.randn(n, g.config.shape_noise_dim, device=self.device)
        cells = g.native_size // 4
        z_tex = torch.randn(n, g.config.field_channels, cells, cells, device=self.device)
        z_bg = torch.randn(n, g.config.field_channels, cells, cells, device=self.device)
        logits = g.shape(onehot(labels, g.num_classes("shape")), z_shape)
        mask = torch.sigmoid(logits)
        fg = g.texture(onehot(labels, g.num_classes("texture")), z_tex)
        bg = g.background(onehot(background_labels, g.num_classes("background")), z_bg)
        return mask, fg, bg, composite(mask, fg, bg)

    def train_step(self) -> dict:
        s = self.settings
        real, labels, background_labels = self._batch()

        # One generator pass serves both updates: the discriminator sees it detached, then the
        # generator's losses use the same graph (saves a forward pass per step).
        mask, fg, bg, fake = self._generate(labels, background_labels)
        loss_d = losses.d_hinge(self.discriminator(real, labels), self.discriminator(fake.detach(), labels))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        ramp = min(1.0, self.step / max(1, s.binary_ramp_steps))
        self.discriminator.requires_grad_(False)  # the generator step needs no gradients for D's weights
        parts = {
            "adversarial": losses.g_hinge(self.discriminator(fake, labels)),
            "binary": ramp * s.weight_binary * losses.mask_binary_loss(mask),
            "size": s.weight_size * losses.mask_size_loss(mask, s.mask_area_per_image, s.mask_area_batch),
            "mask_border": s.weight_mask_border * losses.border_mosaic(mask).mean(),
            "background_texture": s.weight_background_texture * texture_distance(
                self.encoder, losses.border_mosaic(bg), losses.border_mosaic(real)),
            "composite_texture": s.weight_composite_texture * texture_distance(self.encoder, fake, real),
        }
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

    @torch.no_grad()
    def _update_ema(self):
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1 - decay)

    # Loop ----------------------------------------------------------------------------------

    def run(self, out_dir: str | Path | None = None, progress: Callable[[float, str], None] | None = None) -> TrainResult:
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
                mean = {k: float(np.mean([r[k] for r in window])) for k in record if k != "step"}
                self.history.append({"step": self.step, **mean})
                window = []
                if progress:
                    progress(self.step / s.steps, f"step {self.step}/{s.steps}  " +
                             "  ".join(f"{k} {v:.3f}" for k, v in mean.items()))
            if out and (self.step % s.sample_every == 0 or self.step == s.steps):
                sample_sheet(self.ema, seed=s.seed).save(out / f"samples-{self.step:06d}.png")
            if out and (self.step % s.checkpoint_every == 0 or self.step == s.steps):
                self.save(out)
        seconds = time.perf_counter() - start
        return TrainResult(self.ema, self.step, self.history, seconds)

    # Checkpoints ---------------------------------------------------------------------------

    def save(self, out_dir: str | Path) -> None:
        """Checkpoint (resumable) plus the EMA generator as a loadable model folder ``model/``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for prefix, module in (("generator.", self.generator), ("ema.", self.ema), ("discriminator.", self.discriminator)):
            tensors.update({prefix + k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
        for prefix, opt in (("opt_g.", self.opt_g), ("opt_d.", self.opt_d)):
            for i, state in opt.state_dict()["state"].items():
                for k, v in state.items():
                    tensors[f"{prefix}{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        save_file(tensors, str(out / "checkpoint.safetensors"))
        meta = {"step": self.step, "settings": asdict(self.settings), "history": self.history,
                "rng": self.rng.bit_generator.state}
        (out / "checkpoint.json").write_text(json.dumps(meta, default=str))
        save_model(self.ema, out / "model", extra={"trained_steps": self.step, "train_settings": asdict(self.settings)})

    def resume(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        path = out / "checkpoint.safetensors"
        if not path.is_file() or not (out / "checkpoint.json").is_file():
            raise CgnArtError(f"{out}: no checkpoint to resume from (checkpoint.safetensors + checkpoint.json)")
        tensors = load_file(str(path))
        for prefix, module in (("generator.", self.generator), ("ema.", self.ema), ("discriminator.", self.discriminator)):
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for prefix, opt in (("opt_g.", self.opt_g), ("opt_d.", self.opt_d)):
            state = opt.state_dict()
            restored = {}
            for key, value in tensors.items():
                if key.startswith(prefix):
                    i, name = key[len(prefix):].split(".", 1)
                    restored.setdefault(int(i), {})[name] = value.to(self.device) if name != "step" else value
            state["state"] = restored
            opt.load_state_dict(state)
        meta = json.loads((out / "checkpoint.json").read_text())
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
    classes = list(range(10))
    bg_classes = [c % model.num_classes("background") for c in classes]
    cf = model.counterfactual(classes, classes, bg_classes, seed=[seed + c for c in classes])
    model.train(was_training)
    tile = model.native_size * scale
    sheet = Image.new("RGB", (4 * tile, 10 * tile), "white")
    for row in range(10):
        for col, part in enumerate(("mask", "foreground", "background", "composite")):
            image = cf.image(part, row).convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(image, (col * tile, row * tile))
    return sheet


def train(settings: TrainSettings, out_dir: str | Path | None = None, resume: bool = False,
          progress: Callable[[float, str], None] | None = None) -> TrainResult:
    """Train a small CGN; with ``resume`` continue from the checkpoint in ``out_dir``."""
    trainer = Trainer(settings)
    if resume:
        if out_dir is None:
            raise CgnArtError("resume needs the output folder that holds the checkpoint")
        trainer.resume(out_dir)
    return trainer.run(out_dir, progress)
