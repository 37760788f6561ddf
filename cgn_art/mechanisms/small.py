"""The small CGN: three light generators that train on a CPU and render at any size.

- shape: class + noise vector -> mask logits at the native size (32 px); the mask is upsampled as
  logits (bicubic) and squashed afterwards, so a 32 px mask becomes a smooth, crisp 1024 px one.
- texture and background: class + a spatial noise field -> an RGB field. They are fully
  convolutional with circular padding, so they know no position: they can only make stationary
  texture (never a digit shape), tile without seams, and grow to any size by growing the field.
- detail levels (``detail_levels`` > 0, the Letters CGN): each level doubles the field's resolution
  with its own fine noise and adds detail to the upsampled colours. A 512 px render of a 64 px
  model makes its field at 256 px, so the detail comes from the mechanism, not from upscaling.
  The fine noise of every level is packed into the same noise tensor (pixel-unshuffled onto the
  coarse grid), so a seed still means one tensor that strips and dances can interpolate.
- exemplar fields (``fields="exemplar"``): instead of the two networks, one seamless texture per class
  quilted at training time, made at the render scale (see mechanisms/exemplar.py).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import Mechanisms, truncated_noise, validate_size
from cgn_art.mechanisms.exemplar import ExemplarField
from cgn_art.settings_checks import whole

# How much finer than native the texture field is computed when rendering large: 2 keeps texture
# detail crisp at 512 px for a few milliseconds; beyond the factor the field is upsampled.
DEFAULT_TEXTURE_DETAIL = 2


@dataclass
class SmallCGNConfig:
    variant: str = "wildlife"
    shape_classes: list[str] = field(default_factory=lambda: [str(i) for i in range(10)])
    texture_classes: list[str] = field(default_factory=lambda: [f"texture {i}" for i in range(10)])
    background_classes: list[str] = field(default_factory=lambda: [f"background {i}" for i in range(10)])
    native_size: int = 32
    shape_noise_dim: int = 32
    field_channels: int = 8  # noise channels per texture/background field cell (one cell = 4 px)
    embed_dim: int = 16
    width: int = 64
    detail_levels: int = 0  # 2x refinement stages of the texture/background field (0: none)
    # "network": texture/background are the convolutional FieldMechanism; "exemplar": one seamless
    # texture per class quilted at training time (mechanisms/exemplar.py), ``exemplar_side`` px across one image
    fields: str = "network"
    exemplar_side: int = 256
    # Exemplar fields with materials: per mechanism ("texture", "background"), one row per source
    # picture, [class, height, width, tileable (0/1), share]; None: each class's one exemplar is its source.
    materials: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> SmallCGNConfig:
        """Refuse, in one line, a config no model of this kind has: wrong types, sizes out of range,
        or buffers too large to hold (a hand-edited or hostile config.json must not reach torch,
        whose errors are tracebacks and whose allocations can take the machine's memory). Returns self."""
        for name, (low, high) in CONFIG_LIMITS.items():
            setattr(self, name, whole(f"config {name}", getattr(self, name), low, high))
        for name in ("shape_classes", "texture_classes", "background_classes"):
            names = getattr(self, name)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CgnArtError(f"config {name}: must be a list of class names")
            if not 1 <= len(names) <= MAX_CLASSES:
                raise CgnArtError(f"config {name}: {len(names)} classes; a small CGN has 1 to {MAX_CLASSES}")
        if self.fields not in ("network", "exemplar"):
            raise CgnArtError(f"config fields {self.fields!r}: use 'network' or 'exemplar'")
        if self.fields == "exemplar":
            count = len(self.texture_classes) + len(self.background_classes)
            pixels = count * self.exemplar_side ** 2
            for kind, rows in (self.materials or {}).items():
                if kind == "added":
                    continue
                if kind not in ("texture", "background") or not isinstance(rows, list):
                    raise CgnArtError(f"config materials: {kind!r} is not a mechanism with a list of sources")
                for row in rows:
                    if not (isinstance(row, list) and len(row) == 5 and all(isinstance(v, (int, float)) and
                                                                            not isinstance(v, bool) for v in row)):
                        raise CgnArtError(f"config materials {kind}: a source is [class, height, width, tileable, "
                                          "share]")
                    c, h, w = (whole(f"config materials {kind} {what}", v, 0) for what, v in zip(
                        ("class", "height", "width"), row[:3]))
                    if c >= len(getattr(self, f"{kind}_classes")) or not (8 <= h <= 8192 and 8 <= w <= 8192):
                        raise CgnArtError(f"config materials {kind}: source {row[:3]} does not fit the model")
                    pixels += h * w
            if 3 * pixels > MAX_PICTURE_BYTES:
                raise CgnArtError(f"config: its textures and backgrounds would take {3 * pixels / 2**30:.1f} GB; "
                                  f"a small CGN holds at most {MAX_PICTURE_BYTES / 2**30:.0f} GB of them")
        return self


# What a config.json may say (SmallCGNConfig.check): every shipped or trained model is far inside.
CONFIG_LIMITS = {"native_size": (8, 512), "shape_noise_dim": (1, 1024), "field_channels": (1, 256),
                 "embed_dim": (1, 1024), "width": (1, 1024), "detail_levels": (0, 4), "exemplar_side": (8, 2048)}
MAX_CLASSES = 1000
MAX_PICTURE_BYTES = 2 * 2**30


class PixelNorm(nn.Module):
    """Per-pixel feature normalisation: like BatchNorm for stability, but each image on its own,
    so an image never depends on what else is in the batch."""

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class FiLMBlock(nn.Module):
    """(optional 2x upsample) -> 3x3 conv -> PixelNorm -> class-dependent scale/shift -> LeakyReLU."""

    def __init__(self, cin, cout, embed_dim, upsample, padding_mode):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode)
        self.norm = PixelNorm()
        self.film = nn.Linear(embed_dim, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x, emb):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.norm(self.conv(x))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        return F.leaky_relu(x * (1 + scale) + shift, 0.2)


class ShapeMechanism(nn.Module):
    def __init__(self, cfg: SmallCGNConfig):
        super().__init__()
        w = cfg.width
        self.embed = nn.Linear(len(cfg.shape_classes), cfg.embed_dim, bias=False)
        self.fc = nn.Linear(cfg.shape_noise_dim + cfg.embed_dim, 2 * w * 4 * 4)
        self.blocks = nn.ModuleList()
        channels, res = 2 * w, 4
        while res < cfg.native_size:
            self.blocks.append(FiLMBlock(channels, max(channels // 2, 16), cfg.embed_dim, True, "zeros"))
            channels, res = max(channels // 2, 16), res * 2
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        self.width = 2 * w

    def forward(self, class_weights, noise):
        emb = self.embed(class_weights)
        x = F.leaky_relu(self.fc(torch.cat([noise, emb], 1)), 0.2).view(-1, self.width, 4, 4)
        for block in self.blocks:
            x = block(x, emb)
        return self.out(x)  # mask logits


class FieldMechanism(nn.Module):
    """Texture or background: noise field (N, k, s/4, s/4) + class -> RGB (N, 3, s, s), and with
    detail levels, (N, 3, s * 2**levels, ...) from the extra fine-noise channels."""

    CELL = 4  # native pixels per noise cell

    def __init__(self, cfg: SmallCGNConfig, num_classes: int):
        super().__init__()
        w = cfg.width
        self.field_channels = cfg.field_channels
        self.embed = nn.Linear(num_classes, cfg.embed_dim, bias=False)
        self.blocks = nn.ModuleList([
            FiLMBlock(cfg.field_channels, w, cfg.embed_dim, False, "circular"),
            FiLMBlock(w, w // 2, cfg.embed_dim, True, "circular"),
            FiLMBlock(w // 2, w // 4, cfg.embed_dim, True, "circular"),
        ])
        self.out = nn.Conv2d(w // 4, 3, 3, padding=1, padding_mode="circular")
        # each detail level: upsample the features, add one channel of fine noise, two convs, and a
        # residual on the colour logits (so a level only adds detail to what the coarse field says)
        self.detail = nn.ModuleList()
        self.detail_out = nn.ModuleList()
        c = w // 4
        for _ in range(cfg.detail_levels):
            self.detail.append(nn.ModuleList([FiLMBlock(c + 1, c, cfg.embed_dim, False, "circular"),
                                              FiLMBlock(c, c, cfg.embed_dim, False, "circular")]))
            out = nn.Conv2d(c, 3, 3, padding=1, padding_mode="circular")
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
            self.detail_out.append(out)

    def noise_channels(self, levels: int | None = None) -> int:
        levels = len(self.detail) if levels is None else levels
        return self.field_channels + sum((self.CELL * 2 ** (lv + 1)) ** 2 for lv in range(levels))

    def fine_noise(self, noise: torch.Tensor, level: int) -> torch.Tensor:
        """Level ``level`` (1-based) fine noise (N, 1, H * 2**level, ...) unpacked from the tensor."""
        start = self.noise_channels(level - 1)
        factor = self.CELL * 2 ** level
        return F.pixel_shuffle(noise[:, start: start + factor * factor], factor)

    def coarse(self, class_weights, noise):
        """(features, colour logits, embedding) at native resolution."""
        emb = self.embed(class_weights)
        x = noise[:, : self.field_channels]
        for block in self.blocks:
            x = block(x, emb)
        return x, self.out(x), emb

    def refine(self, x, logits, emb, noise_levels):
        """Run detail levels on features ``x``/``logits`` with the given fine noises (one per level)."""
        for blocks, out, z in zip(self.detail, self.detail_out, noise_levels):
            x = blocks[1](blocks[0](torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"),
                                               F.interpolate(z, size=(2 * x.shape[-2], 2 * x.shape[-1]),
                                                             mode="nearest")], 1), emb), emb)
            logits = F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False) + out(x)
        return logits

    def forward(self, class_weights, noise_field, levels: int = 0):
        x, logits, emb = self.coarse(class_weights, noise_field)
        levels = min(levels, len(self.detail))
        if levels:
            logits = self.refine(x, logits, emb, [self.fine_noise(noise_field, lv + 1) for lv in range(levels)])
        return torch.sigmoid(logits)


class SmallCGN(nn.Module, Mechanisms):
    """The CPU-trainable CGN shipped as cgn-art's default model."""

    def __init__(self, config: SmallCGNConfig | None = None, device: str | torch.device | None = "cpu"):
        nn.Module.__init__(self)
        self.config = config or SmallCGNConfig()
        self.name = f"small-{self.config.variant}"
        self.native_size = self.config.native_size
        self.shape = ShapeMechanism(self.config)
        if self.config.fields == "exemplar":
            sources = self.config.materials or {}
            self.texture = ExemplarField(len(self.config.texture_classes), self.config.exemplar_side,
                                         sources.get("texture"))
            self.background = ExemplarField(len(self.config.background_classes), self.config.exemplar_side,
                                            sources.get("background"))
        elif self.config.fields == "network":
            self.texture = FieldMechanism(self.config, len(self.config.texture_classes))
            self.background = FieldMechanism(self.config, len(self.config.background_classes))
        else:
            raise CgnArtError(f"unknown fields {self.config.fields!r}: use 'network' or 'exemplar'")
        self.texture_detail = DEFAULT_TEXTURE_DETAIL
        self.to(pick_device(device))

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return next(self.parameters()).device

    @property
    def exemplar_fields(self) -> bool:
        return self.config.fields == "exemplar"

    @property
    def class_names(self) -> dict[str, list[str]]:
        c = self.config
        return {"shape": list(c.shape_classes), "texture": list(c.texture_classes),
                "background": list(c.background_classes)}

    # Noise --------------------------------------------------------------------------------

    def field_size(self, size: int) -> int:
        """Side of the texture field (in pixels, a multiple of 4) used for an output of ``size``."""
        if self.config.detail_levels:  # the field always spans one native image; levels add detail
            return self.native_size
        target = min(max(size, self.native_size), self.native_size * self.texture_detail)
        return 4 * math.ceil(target / 4)

    def noise(self, mechanism: str, seeds: Sequence[int], truncation: float, size: int) -> torch.Tensor:
        if mechanism == "shape":
            shape = (self.config.shape_noise_dim,)
        elif self.exemplar_fields:
            shape = getattr(self, mechanism).noise_shape()
        else:
            cells = self.field_size(validate_size(size)) // 4
            channels = getattr(self, mechanism).noise_channels()
            shape = (channels, cells, cells)
        # Each mechanism draws from its own stream, so equal seeds do not mean equal noise.
        offset = {"shape": 0, "texture": 1_000_003, "background": 2_000_003}[mechanism]
        return torch.stack([truncated_noise(shape, s + offset, truncation) for s in seeds]).to(self.device)

    # Rendering ----------------------------------------------------------------------------

    def detail_levels_for(self, size: int) -> int:
        """How many detail levels a render at ``size`` needs: until the field is at least half the size."""
        levels = 0
        while levels < self.config.detail_levels and self.native_size * 2 ** levels * 2 <= size:
            levels += 1
        return levels

    def mechanism(self, mechanism, weights, noise, size):
        size = validate_size(size)
        if mechanism == "shape":
            return torch.sigmoid(resize(self.shape(weights, noise), size, smooth=True))
        if mechanism in ("texture", "background") and self.exemplar_fields:
            return getattr(self, mechanism)(weights, noise, size).clamp(0, 1)
        if mechanism in ("texture", "background"):
            field = getattr(self, mechanism)(weights, noise, self.detail_levels_for(size))
            return resize(field, size).clamp(0, 1)
        raise CgnArtError(f"unknown mechanism {mechanism!r}: use 'shape', 'texture' or 'background'")


# Not imagenet.resize on purpose: the 32 px mask logits are blown up many times, so they need bicubic.
def resize(x: torch.Tensor, size: int, smooth: bool = False) -> torch.Tensor:
    """Resize a square batch; bicubic for mask logits (smooth contours), bilinear for colours,
    area when shrinking (no aliasing)."""
    if x.shape[-1] == size:
        return x
    if size < x.shape[-1]:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bicubic" if smooth else "bilinear", align_corners=False)
