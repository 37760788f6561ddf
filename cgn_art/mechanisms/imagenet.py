"""The ImageNet CGN (Sauer & Geiger 2021, Sec. 3.3): three BigGAN-deep mechanisms and U^2-Net.

- shape: BigGAN ``f_shape`` draws a "pre-mask" image; the frozen U^2-Net turns it into the mask;
- texture: BigGAN ``f_text`` draws the foreground; background: BigGAN ``f_bg``;
- ``biggan_GT``: a frozen copy of the original BigGAN, the target the mechanisms learn to
  reconstruct (needed for training only: a model imported without it renders, and
  ``attach_target`` gives it one before training; ``train-imagenet --init`` does that).
The attribute names are the released checkpoint's prefixes, so its state dict fits this module.
Class inputs are 1000-way weight vectors: BigGAN embeds a class vector linearly, so a blend of two
one-hot vectors is a blend of the two class embeddings (the dance relies on this).

Noise is BigGAN's truncated normal (cut at +-2, scaled by the truncation) with one extra column
holding the truncation itself: BigGAN's batch norms pick precomputed statistics by truncation, and
carrying it inside the noise keeps the ``mechanism(name, weights, noise, size)`` contract whole.

What matches the CGN authors' forward pass (imagenet/models/cgn.py, biggan.py, u2net.py and
generate_data.py in autonomousvision/counterfactual_generative_networks), and what does not:

- **Generators**: their BigGAN is pytorch-pretrained-biggan's BigGAN-deep (same modules, names,
  spectral norm and batch norm), which we use as is: ``BigGAN(u, y, truncation)``, class vector
  embedded by a bias-free linear layer and concatenated after the noise.
- **Mask**: ``clamp(u2net(premask), 1e-4, 1 - 1e-4)``, the pre-mask fed in as drawn, in [-1, 1]
  (no rescaling, no ImageNet normalisation); U^2-Net's details are in ``u2net.py``.
- **Composite**: ``mask * foreground + (1 - mask) * background`` on [-1, 1] images; we compose the
  same images mapped to [0, 1] by ``(x + 1) / 2``, which is the same picture (the map is linear).
  Their ``save_image(normalize=True)`` min-max stretches each saved image; that is display only.
- **Truncation**: BigGAN's batch norms read statistics at ``truncation / 0.02`` (51 rows for 0 to
  1) with ``math.modf``. Their code passes a Python float (0.5 in training, 1.0 by default when
  generating), so e.g. 0.3 / 0.02 is exactly 15 and row 15 is read. A float32 0.3 is
  0.30000001, 0.30000001 / 0.02 = 15.0000006, and the package's interpolation (which weights
  the *lower* row by the fraction, ``rows[i] * f + rows[i + 1] * (1 - f)``) then reads row 16:
  the statistics of truncation 0.32. So we round the truncation to 0.01 as a Python float
  (``biggan_truncation``) before calling BigGAN: on the 0.02 grid it reads the same row as theirs,
  and between grid points it interpolates exactly as theirs does (quirk included).
- **Noise**: both draw a standard normal truncated to [-2, 2] and scale it by the truncation; they
  use scipy's ``truncnorm`` with numpy's RandomState, we resample with torch's generator, so equal
  seeds give different (equally distributed) noise: pass their noise tensor to compare outputs.
- **Precision**: theirs runs in float32; on CUDA we default to bf16 autocast (``precision``),
  which changes outputs by rounding only; "fp32" restores full precision.
"""
from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN
from torch import nn

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import Mechanisms, truncated_noise, validate_size
from cgn_art.mechanisms.biggan import biggan_config, config_from_dict
from cgn_art.mechanisms.imagenet_presets import PRESETS
from cgn_art.mechanisms.u2net import U2Net

PARTS = ("biggan_GT", "f_shape", "f_text", "f_bg", "u2net")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, offline, from torchvision's weight metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass
class ImageNetCGNConfig:
    biggan: dict = field(default_factory=lambda: biggan_config(256).to_dict())
    u2net_divisor: int = 1  # 1: the released U^2-Net; larger: a narrower one (tests)
    target_biggan: bool = True  # whether biggan_GT (the frozen training target) is part of the model
    batch_size: int = 8  # images per generator call: bounds memory for long batches (a dance)

    @property
    def resolution(self) -> int:
        return int(self.biggan["output_dim"])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ImageNetCGNConfig":
        try:
            config = cls(**values)
            config_from_dict(config.biggan)
            if config.resolution < 8 or config.u2net_divisor < 1 or config.batch_size < 1:
                raise ValueError("resolution, u2net_divisor or batch_size out of range")
            if not isinstance(config.target_biggan, bool):
                raise ValueError("target_biggan must be true or false")
        except (TypeError, ValueError, KeyError) as e:
            raise CgnArtError(f"not an ImageNet CGN config this version of cgn-art understands ({e})") from None
        return config


class ImageNetCGN(nn.Module, Mechanisms):
    """The ImageNet CGN behind the Mechanisms contract (see the module docstring)."""

    def __init__(self, config: ImageNetCGNConfig | None = None):
        nn.Module.__init__(self)
        self.config = config or ImageNetCGNConfig()
        biggan = config_from_dict(self.config.biggan)
        # The paper starts all four from the same pretrained BigGAN; copying one is also much
        # faster than initialising four (loading overwrites the weights anyway).
        self.biggan_GT: BigGAN | None = None
        self.f_shape = BigGAN(biggan)
        if self.config.target_biggan:
            self.biggan_GT = copy.deepcopy(self.f_shape).requires_grad_(False)
        self.f_text = copy.deepcopy(self.f_shape)
        self.f_bg = copy.deepcopy(self.f_shape)
        self.u2net = U2Net(self.config.u2net_divisor)
        self.u2net.requires_grad_(False)
        self.name = "imagenet"
        self.native_size = self.config.resolution
        self.z_dim = int(biggan.z_dim)
        self.precision = "auto"
        self.presets = {k: list(v) for k, v in PRESETS.items()}

    def train(self, mode: bool = True):
        # The target BigGAN and U^2-Net stay frozen in eval mode, as in the paper's training.
        super().train(mode)
        if self.biggan_GT is not None:
            self.biggan_GT.eval()
        self.u2net.eval()
        return self

    def attach_target(self, biggan: BigGAN) -> "ImageNetCGN":
        """Give a model imported without ``biggan_GT`` its training target (a frozen BigGAN copy)."""
        mine = {k: tuple(v.shape) for k, v in self.f_shape.state_dict().items()}
        if mine != {k: tuple(v.shape) for k, v in biggan.state_dict().items()}:
            raise CgnArtError(f"the BigGAN given as training target is not the {self.native_size} px BigGAN "
                              "this ImageNet CGN's mechanisms are built on")
        self.biggan_GT = copy.deepcopy(biggan).to(self.device).eval().requires_grad_(False)
        self.config.target_biggan = True
        return self

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return next(self.parameters()).device

    @property
    def class_names(self) -> dict[str, list[str]]:
        names = list(imagenet_class_names())
        return {"shape": names, "texture": names, "background": names}

    # Noise --------------------------------------------------------------------------------

    def noise(self, mechanism: str, seeds: Sequence[int], truncation: float, size: int) -> torch.Tensor:
        """(N, z_dim + 1): truncated normal noise, then the truncation. Unlike the small CGN the three
        mechanisms share one stream per seed, as in the paper (one u drives all three BigGANs), so
        equal seeds give the shape, texture and background of one BigGAN sample."""
        if mechanism not in ("shape", "texture", "background"):
            raise CgnArtError(f"unknown mechanism {mechanism!r}: use 'shape', 'texture' or 'background'")
        rows = [torch.cat([truncated_noise((self.z_dim,), s, truncation), torch.tensor([float(truncation)])])
                for s in seeds]
        return torch.stack(rows).to(self.device)

    # Rendering ----------------------------------------------------------------------------

    def autocast(self):
        """bf16 (or fp16 where bf16 is missing) autocast on CUDA; full precision elsewhere."""
        if self.device.type != "cuda" or self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        if dtype is None:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def generate(self, part: str, weights: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Run BigGAN ``part`` on (weights, noise) in chunks of config.batch_size; rows that share a
        truncation run together (BigGAN takes one truncation per call). Output in [-1, 1]."""
        generator = getattr(self, part)
        weights = weights.to(self.device, torch.float32)
        noise = noise.to(self.device, torch.float32)
        if noise.ndim != 2 or noise.shape[1] != self.z_dim + 1 or weights.shape != (noise.shape[0], 1000):
            raise CgnArtError(f"ImageNet CGN inputs must be class weights (N, 1000) and noise (N, {self.z_dim + 1}) "
                              f"from model.noise(); got {tuple(weights.shape)} and {tuple(noise.shape)}")
        # Rounded to BigGAN's statistics grid (0.02 apart, interpolated): rows whose truncation a
        # blend or slerp nudged slightly still run as one batch.
        truncations = (noise[:, -1].clamp(0.01, 1.0) * 100).round() / 100
        pieces, order = [], []
        for value in torch.unique(truncations):
            rows = torch.nonzero(truncations == value).flatten()
            for chunk in rows.split(self.config.batch_size):
                with self.autocast():
                    pieces.append(generator(noise[chunk, :-1], weights[chunk], biggan_truncation(value)).float())
                order.append(chunk)
        # cat + inverse permutation rather than writing into a buffer: keeps autograd usable
        return torch.cat(pieces)[torch.argsort(torch.cat(order))]

    def mask_from_premask(self, premask: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            mask = self.u2net(premask).float()
        return mask.clamp(1e-4, 1 - 1e-4)  # the paper's clamp: keeps the binary loss finite

    def mechanism(self, mechanism, weights, noise, size):
        size = validate_size(size)
        if mechanism == "shape":
            return resize(self.mask_from_premask(self.generate("f_shape", weights, noise)), size)
        if mechanism == "texture":
            return resize((self.generate("f_text", weights, noise) + 1) / 2, size).clamp(0, 1)
        if mechanism == "background":
            return resize((self.generate("f_bg", weights, noise) + 1) / 2, size).clamp(0, 1)
        raise CgnArtError(f"unknown mechanism {mechanism!r}: use 'shape', 'texture' or 'background'")

    def forward(self, z: torch.Tensor, shape_weights, texture_weights, background_weights, truncation: float):
        """One training pass, as in the paper: every output the losses need, images in [-1, 1]."""
        if self.biggan_GT is None:
            raise CgnArtError("this ImageNet CGN was imported without biggan_GT, the frozen BigGAN its "
                              "mechanisms train against: it renders, but training needs it (start from "
                              "BigGAN with --weights, or import a checkpoint that has it)")
        truncation = float(truncation)  # a Python float, as theirs (see biggan_truncation)
        x_gt = self.biggan_GT(z, shape_weights, truncation).detach()
        premask = self.f_shape(z, shape_weights, truncation)
        mask = self.u2net(premask).clamp(1e-4, 1 - 1e-4)
        foreground = self.f_text(z, texture_weights, truncation)
        background = self.f_bg(z, background_weights, truncation)
        return {"x_gt": x_gt, "premask": premask, "mask": mask, "foreground": foreground,
                "background": background, "background_mask": self.u2net(background)}

    def compile(self, **options):  # type: ignore[override]
        """Compile the three mechanisms' generators and U^2-Net with torch.compile (helps on GPUs;
        the first call per size and truncation then takes a while)."""
        for part in ("f_shape", "f_text", "f_bg", "u2net"):
            getattr(self, part).compile(**options)  # in place: state-dict keys stay the same
        return self


def biggan_truncation(value) -> float:
    """The truncation as BigGAN should receive it: a Python float rounded to 0.01.

    Not a float32: BigGAN looks its batch-norm statistics up at ``truncation / 0.02`` with
    ``math.modf`` and weights the lower row by the fraction, so float32 0.3 (0.30000001) reads the
    row of 0.32, where the authors' 0.3 reads the row of 0.3 (see the module docstring).
    """
    return round(float(value), 2)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
