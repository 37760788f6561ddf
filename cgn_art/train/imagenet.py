"""Training the ImageNet CGN against a frozen BigGAN (Sauer & Geiger 2021, Sec. 3.3 and App. B).

No dataset: each step samples classes and noise, the frozen BigGAN draws the target, and the three
mechanisms learn to reconstruct it as ``mask * foreground + (1 - mask) * background``. Losses:
- L1 and perceptual (Gram statistics of feature maps, as the paper's style-weighted VGG loss)
  reconstruction of the composite;
- binary mask loss (entropy of every mask pixel) and the mask-size interval loss (mean mask
  outside [0.1, 0.9] costs): masks must be decisive and neither empty nor full;
- texture loss: Gram loss between the foreground and a tiling of patches sampled from the most
  masked region of the BigGAN sample, so the texture mechanism learns the object's surface and
  not its outline;
- background loss: U^2-Net should find no salient object in the background.
Per-mechanism learning rates, gradient accumulation, autocast on CUDA, DistributedDataParallel
under torchrun; checkpoints (safetensors + JSON), resume, sample sheets.

Defaults are the paper's (loss weights, learning rates, truncation 1.0).
"""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.features import ENCODER_NAMES, make_encoder
from cgn_art.mechanisms.base import truncated_noise
from cgn_art.mechanisms.imagenet import PRECISIONS, ImageNetCGN, ImageNetCGNConfig
from cgn_art.mechanisms.imagenet_presets import SAMPLE_SHEET_CLASSES
from cgn_art.runtime.progress import Cancel, Progress, step_message
from cgn_art.settings_checks import Settings, check_seed, check_truncation, choice, number, whole
from cgn_art.train import checkpoint
from cgn_art.train.checkpoint import TrainResult

MECHANISM_PARTS = {"shape": "f_shape", "texture": "f_text", "background": "f_bg"}


@dataclass
class ImageNetTrainSettings(Settings):
    KIND = "ImageNet training"

    biggan: str = ""  # BigGAN folder (pytorch_model.bin + config.json); default <weights>/biggan-deep-256
    u2net: str = ""  # u2net.pth; default <weights>/u2net.pth
    weights: str = ""  # folder holding both; default $CGN_ART_IMAGENET
    init: str = ""  # optional ImageNet CGN folder to fine-tune instead of starting from BigGAN
    steps: int = 300  # optimiser updates
    batch_size: int = 1
    accumulate: int = 4000  # batches per update (the paper: 1 x 4000 on one GPU)
    truncation: float = 1.0
    lr_shape: float = 8e-6
    lr_texture: float = 3e-5
    lr_background: float = 1e-5
    weight_l1: float = 100.0
    weight_perceptual: float = 4.0
    weight_binary: float = 300.0
    weight_mask: float = 500.0
    mask_interval: tuple[float, float] = (0.1, 0.9)
    weight_texture: float = 5.0
    weight_background: float = 2000.0
    feature_extractor: str = "auto"  # vgg19 when its weights are cached, else the random encoder
    precision: str = "auto"  # CUDA: bf16 where supported, else fp16; CPU: always fp32
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    sample_every: int = 50
    checkpoint_every: int = 50

    def validate(self) -> "ImageNetTrainSettings":
        """Check every field that has a range (with :mod:`cgn_art.settings_checks`, as TrainSettings and every
        job's settings are); return self. Whole numbers refuse True and False, which Python would count as 1
        and 0; text ("300", "1e-5") is read as the CLI and a checkpoint's JSON give it."""
        for name in ("steps", "batch_size", "accumulate", "sample_every", "checkpoint_every"):
            setattr(self, name, whole(name.replace("_", " "), getattr(self, name), 1))
        self.seed = check_seed(self.seed)
        self.truncation = check_truncation(self.truncation)
        for name in ("lr_shape", "lr_texture", "lr_background"):
            setattr(self, name, number(name.replace("_", " "), getattr(self, name), 0, 1, high_open=True))
        for f in fields(self):
            if f.name.startswith("weight_"):
                setattr(self, f.name, number(f.name.replace("_", " "), getattr(self, f.name), 0))
        interval = self.mask_interval
        if isinstance(interval, str) or not hasattr(interval, "__len__") or len(interval) != 2:
            raise CgnArtError(f"mask interval {interval!r} is not two numbers: give low and high, "
                              "0 <= low < high <= 1")
        low, high = (number("mask interval", value, 0, 1) for value in interval)
        if not low < high:
            raise CgnArtError(f"mask interval ({low:g}, {high:g}) is empty: give two numbers 0 <= low < high <= 1")
        self.mask_interval = (low, high)
        self.feature_extractor = choice("feature extractor", self.feature_extractor, ENCODER_NAMES)
        self.precision = choice("precision", self.precision, PRECISIONS)
        return self

    def paths(self) -> tuple[Path, Path]:
        """(BigGAN folder, u2net.pth) with the defaults filled in; errors say what to download."""
        from cgn_art.mechanisms.biggan import biggan_download_hint
        from cgn_art.mechanisms.imagenet_weights import ENV, imagenet_folder
        from cgn_art.mechanisms.u2net import U2NET_URL

        root = imagenet_folder(self.weights)
        if root is None and not (self.biggan and self.u2net):
            raise CgnArtError(f"training needs BigGAN and U2-Net weights: give --weights FOLDER (or set {ENV}) "
                              f"holding biggan-deep-256/ ({biggan_download_hint()}) and u2net.pth "
                              f"(download {U2NET_URL}); or give --biggan and --u2net")
        return (Path(self.biggan) if self.biggan else root / "biggan-deep-256",
                Path(self.u2net) if self.u2net else root / "u2net.pth")


# Losses -----------------------------------------------------------------------------------------

def gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w).float()
    return f @ f.transpose(1, 2) / (c * h * w)


def gram_loss(encoder, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between Gram matrices of every feature map, x 5e3 as in the paper's style loss; per image."""
    total = x.new_zeros(x.shape[0])
    for fx, ft in zip(encoder(x), encoder(target)):
        total = total + 5e3 * (gram(fx) - gram(ft.detach())).abs().mean((1, 2))
    return total


def binary_entropy(mask: torch.Tensor) -> torch.Tensor:
    return -(mask * torch.log2(mask) + (1 - mask) * torch.log2(1 - mask))


def patch_tiling(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator,
                 grid: int = 6, top: int = 100) -> torch.Tensor:
    """Per image: tile grid x grid patches drawn from the ``top`` most-masked patch positions.

    Worked at 128 px at most with 15 px patches (the paper's sizes), scaled down for smaller images;
    the tiling is resized back to the image size.
    """
    size = image.shape[-1]
    work = min(128, size)
    patch = max(3, round(15 * work / 128))
    image = F.interpolate(image, size=(work, work), mode="bilinear", align_corners=False)
    score = F.avg_pool2d(F.interpolate(mask, size=(work, work), mode="bilinear", align_corners=False), patch, 1)
    positions = score.shape[-1]
    best = score.flatten(1).topk(min(top, positions * positions), dim=1).indices
    tiles = []
    for b in range(image.shape[0]):
        pick = best[b, torch.randint(best.shape[1], (grid * grid,), generator=generator).to(best.device)]
        ys, xs = (pick // positions).tolist(), (pick % positions).tolist()
        crops = torch.stack([image[b, :, y:y + patch, x:x + patch] for y, x in zip(ys, xs)])  # (g*g, 3, p, p)
        rows = crops.view(grid, grid, 3, patch, patch).permute(2, 0, 3, 1, 4).reshape(3, grid * patch, grid * patch)
        tiles.append(rows)
    return F.interpolate(torch.stack(tiles), size=(size, size), mode="bilinear", align_corners=False)


def cgn_losses(out: dict, s: ImageNetTrainSettings, encoder, generator: torch.Generator) -> dict:
    """Every loss term (per-batch means), images from the model in [-1, 1]."""
    def to01(x):  # the encoders take [0, 1]
        return (x + 1) / 2

    mask, fg, bg, x_gt = out["mask"], out["foreground"], out["background"], out["x_gt"]
    x = mask * fg + (1 - mask) * bg
    mean_mask = mask.mean((1, 2, 3))
    low, high = s.mask_interval
    target = patch_tiling(to01(x_gt), mask.detach(), generator)
    return {
        "l1": s.weight_l1 * (x - x_gt).abs().mean(),
        "perceptual": s.weight_perceptual ** 2 * gram_loss(encoder, to01(x), to01(x_gt)).mean(),
        "binary": s.weight_binary * binary_entropy(mask.float()).mean(),
        "mask": s.weight_mask * (F.relu(low - mean_mask) + F.relu(mean_mask - high)).mean(),
        "texture": s.weight_texture ** 2 * gram_loss(encoder, to01(fg), target).mean(),
        "background": s.weight_background * out["background_mask"].mean(),
    }


# The trainer ------------------------------------------------------------------------------------

ImageNetTrainResult = TrainResult  # the name this module has always exported


def build_model(s: ImageNetTrainSettings) -> ImageNetCGN:
    """All four BigGANs from the pretrained BigGAN and the frozen U^2-Net, or an ImageNet CGN to fine-tune."""
    from cgn_art.mechanisms.biggan import load_biggan_folder
    from cgn_art.mechanisms.imagenet_weights import load_imagenet_cgn
    from cgn_art.mechanisms.u2net import load_u2net

    if s.init:
        model = load_imagenet_cgn(s.init, torch.device("cpu"))
        if model.biggan_GT is None:  # imported without its training target: take it from BigGAN
            model.attach_target(load_biggan_folder(s.paths()[0]))
        return model
    biggan_path, u2net_path = s.paths()
    biggan, u2net = load_biggan_folder(biggan_path), load_u2net(u2net_path)
    model = ImageNetCGN(ImageNetCGNConfig(biggan=biggan.config.to_dict(), u2net_divisor=u2net.divisor))
    for part in ("biggan_GT", "f_shape", "f_text", "f_bg"):
        getattr(model, part).load_state_dict(biggan.state_dict())
    model.u2net.load_state_dict(u2net.state_dict())
    return model


class ImageNetTrainer:
    def __init__(self, settings: ImageNetTrainSettings, model: ImageNetCGN | None = None):
        self.settings = s = settings.validate()
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        # torchrun sets TORCHELASTIC_RUN_ID (and WORLD_SIZE): one process per GPU, gradients averaged by DDP
        self.distributed = self.world > 1 or "TORCHELASTIC_RUN_ID" in os.environ
        if self.distributed:
            import torch.distributed as dist

            local = int(os.environ.get("LOCAL_RANK", "0"))
            if torch.cuda.is_available():
                torch.cuda.set_device(local)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
        else:
            self.device = pick_device(s.device)
        self.model = (model or build_model(s)).to(self.device).train()
        self.model.requires_grad_(False)
        for part in MECHANISM_PARTS.values():
            getattr(self.model, part).requires_grad_(True)
        self.model.precision = s.precision
        self.net = self.model
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model,
                                               device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if s.compile:
            self.net.compile()
        self.optimizers = {m: torch.optim.Adam(getattr(self.model, part).parameters(), lr=getattr(s, f"lr_{m}"),
                                               betas=(0.5, 0.999)) for m, part in MECHANISM_PARTS.items()}
        self.encoder = make_encoder(s.feature_extractor, seed=s.seed, device=self.device)
        self.scaler = torch.amp.GradScaler("cuda",
                                           enabled=self.device.type == "cuda" and self._dtype() == torch.float16)
        self.step = 0
        self.history: list[dict] = []

    def _dtype(self):
        if self.device.type != "cuda" or self.settings.precision == "fp32":
            return None
        if self.settings.precision == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return {"bf16": torch.bfloat16, "fp16": torch.float16}[self.settings.precision]

    def batch(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
        """Noise and one class per image (the same class for all three mechanisms, as in the paper)."""
        g = torch.Generator().manual_seed(seed)
        n, z_dim = self.settings.batch_size, self.model.z_dim
        z = torch.stack([truncated_noise((z_dim,), int(torch.randint(2**31, (1,), generator=g)),
                                         self.settings.truncation)
                         for _ in range(n)])
        y = F.one_hot(torch.randint(1000, (n,), generator=g), 1000).float()
        return z.to(self.device), y.to(self.device), g

    def losses(self, seed: int, net=None) -> dict:
        z, y, g = self.batch(seed)
        dtype = self._dtype()
        with torch.autocast("cuda", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False):
            out = (net or self.net)(z, y, y, y, self.settings.truncation)
        out = {k: v.float() for k, v in out.items()}
        return cgn_losses(out, self.settings, self.encoder, g)

    def train_step(self) -> dict:
        """One optimiser update over ``accumulate`` batches; returns the mean of each loss."""
        s = self.settings
        sums: dict[str, float] = {}
        for micro in range(s.accumulate):
            seed = ((s.seed * 1_000_003 + self.step) * s.accumulate + micro) * self.world + self.rank
            last = micro == s.accumulate - 1
            sync = self.net.no_sync() if self.distributed and not last else nullcontext()
            with sync:
                terms = self.losses(seed)
                total = sum(terms.values())
                self.scaler.scale(total / s.accumulate).backward()
            for k, v in {**terms, "total": total}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / s.accumulate
        for opt in self.optimizers.values():
            self.scaler.step(opt)
        self.scaler.update()
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.step += 1
        return sums

    @torch.no_grad()
    def evaluate(self, seed: int = 12345) -> dict:
        """Losses on one fixed batch (no update): comparable across steps and runs."""
        self.model.eval()
        try:
            terms = {k: float(v) for k, v in self.losses(seed, self.model).items()}
            return {**terms, "total": sum(terms.values())}
        finally:
            self.model.train()

    def run(self, out_dir: str | Path | None = None, progress: Progress | None = None,
            cancel: Cancel | None = None) -> TrainResult[ImageNetCGN]:
        s = self.settings
        out = Path(out_dir) if out_dir is not None and self.rank == 0 else None
        if out:
            out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        while self.step < s.steps:
            if cancel is not None and cancel():
                break
            mean = self.train_step()
            self.history.append({"step": self.step, **mean})
            if progress:
                progress(self.step / s.steps, step_message(self.step, s.steps, mean))
            checkpoint.write_due(out, self.step, s, lambda: sample_sheet(self.model, truncation=s.truncation),
                                 self.save)
        if out and cancel is not None and self.step < s.steps and self.step:
            self.save(out)  # a cancelled run keeps what it learned
        return TrainResult(self.model, self.step, self.history, time.perf_counter() - start)

    # Checkpoints: the model as a loadable folder, the optimisers as safetensors, the rest as JSON ---

    def save(self, out_dir: str | Path) -> None:
        from cgn_art.mechanisms.imagenet_weights import save_imagenet_cgn

        out = Path(out_dir)
        save_imagenet_cgn(self.model, out / "model",
                          {"trained_steps": self.step, "train_settings": asdict(self.settings)})
        # the model is its own loadable folder; the checkpoint holds the optimisers beside it
        meta = {"step": self.step, "settings": asdict(self.settings), "history": self.history}
        checkpoint.save_checkpoint(out, meta, optimizers=self.optimizers, tensors_file="optimizer.safetensors")

    def resume(self, out_dir: str | Path) -> None:
        from cgn_art.mechanisms.imagenet_weights import load_imagenet_cgn

        out = Path(out_dir)
        checkpoint.read_meta(out)  # a missing or damaged checkpoint says so before the model loads
        loaded = load_imagenet_cgn(out / "model", torch.device("cpu"))
        self.model.load_state_dict(loaded.state_dict())
        meta = checkpoint.load_checkpoint(out, self.device, optimizers=self.optimizers,
                                          tensors_file="optimizer.safetensors")
        self.step, self.history = int(meta["step"]), list(meta.get("history", []))


@torch.no_grad()
def sample_sheet(model: ImageNetCGN, seed: int = 0, classes=SAMPLE_SHEET_CLASSES, truncation: float = 1.0):
    """One row per class: pre-mask | mask | foreground | background | composite | BigGAN sample."""
    from torchvision.utils import make_grid

    from cgn_art.mechanisms.base import to_pil

    was_training = model.training
    model.eval()
    z = model.noise("shape", [seed] * len(classes), truncation, model.native_size)[:, :-1]
    y = F.one_hot(torch.tensor(list(classes)), 1000).float().to(model.device)
    out = model(z, y, y, y, truncation)
    model.train(was_training)
    m = out["mask"]
    x = m * out["foreground"] + (1 - m) * out["background"]
    columns = [out["premask"], m.repeat(1, 3, 1, 1) * 2 - 1, out["foreground"], out["background"], x, out["x_gt"]]
    tiles = torch.stack(columns, 1).flatten(0, 1)  # row-major: class by class
    return to_pil(make_grid((tiles.float().cpu() + 1) / 2, nrow=len(columns), padding=2, pad_value=1))


def train(settings: ImageNetTrainSettings, out_dir: str | Path | None = None, resume: bool = False,
          progress: Progress | None = None, cancel: Cancel | None = None,
          model: ImageNetCGN | None = None) -> TrainResult[ImageNetCGN]:
    """Train an ImageNet CGN; with ``resume`` continue from the checkpoint in ``out_dir``."""
    trainer = ImageNetTrainer(settings, model=model)
    if resume:
        if out_dir is None:
            raise CgnArtError("resume needs the output folder that holds the checkpoint")
        trainer.resume(out_dir)
    return trainer.run(out_dir, progress, cancel)
