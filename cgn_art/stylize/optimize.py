"""Repaint a photo with a texture: Gram-matrix style loss + content loss, optimised coarse to fine.

Gatys et al. optimise every pixel of the full-size image for hundreds of steps, and each step
costs a full-size pass of the encoder. Most of that work settles the image's large-scale layout,
which a small image settles just as well at a fraction of the price: by default we optimise at
1/2 size, upsample, and only polish the fine detail at full size (``levels`` sets how many halvings;
a 1/4-size level was dropped because the texture overran the photo's layout there). Each coarser
level is 4x cheaper per step and gets twice the steps of the one above it.

The style target at every level is the full-size texture shrunk by the same factor as the image,
so the statistics each level matches are the ones the full-size result will have.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.features import RandomEncoder, gram, make_encoder
from cgn_art.mechanisms.base import to_pil
from cgn_art.stylize.optimizers import LBFGS, Adam
from cgn_art.stylize.settings import StylizeSettings
from cgn_art.stylize.textures import make_texture, pil_to_tensor

MIN_LEVEL_SIDE = 16
# Base weights: with strength = content weight = smoothness = 1 the texture clearly repaints the
# photo while its layout stays readable (set by eye on the demo photos with the random encoder).
STYLE_BASE = 5.0
CONTENT_BASE = 0.05
TV_BASE = 0.002
DETAIL = 1.0  # how much fine-scale noise each finer level starts with, in the texture's own contrast (see stylize)
RANGE_BASE = 10.0  # keeps pixels in [0, 1] without clamping (clamping would stall L-BFGS)

Progress = Callable[[float, str], None]
Preview = Callable[[Image.Image, str], None]


@dataclass
class StylizeResult:
    image: Image.Image
    tensor: torch.Tensor           # (1, 3, H, W) in [0, 1], on the CPU
    settings: dict
    seconds: float
    style_loss: float              # at full size, of the returned image, unweighted
    content_loss: float
    steps: list[int] = field(default_factory=list)  # steps run at each level, coarse to fine
    cancelled: bool = False
    mask: Image.Image | None = None  # two regions: the subject's mask (mode "L", the photo's size)


class Objective:
    """Style, content, smoothness and range losses for one pyramid level (targets precomputed)."""

    def __init__(self, encoder, photo: torch.Tensor, texture: torch.Tensor, settings: StylizeSettings):
        self.encoder = encoder
        self.settings = settings
        with torch.no_grad():
            self.style_targets = [(gram(f), f.mean(dim=(2, 3))) for f in encoder(texture)]
            self.content_targets = content_maps(encoder, encoder(photo)) if settings.content_weight else []

    def style(self, features) -> torch.Tensor:
        total = features[0].new_zeros(())
        for f, (g, m) in zip(features, self.style_targets):
            total = total + F.mse_loss(gram(f), g) + F.mse_loss(f.mean(dim=(2, 3)), m)
        return total

    def content(self, features) -> torch.Tensor:
        maps = content_maps(self.encoder, features)
        return sum(F.mse_loss(a, b) for a, b in zip(maps, self.content_targets)) / max(len(maps), 1)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        s = self.settings
        features = self.encoder(image)
        style = self.style(features)
        total = STYLE_BASE * s.strength * style
        content = self.content(features) if s.content_weight else image.new_zeros(())
        total = total + CONTENT_BASE * s.content_weight * content
        if s.smoothness:
            total = total + TV_BASE * s.smoothness * total_variation(image)
        total = total + RANGE_BASE * (F.relu(image - 1).pow(2).mean() + F.relu(-image).pow(2).mean())
        return total, float(style.detach()), float(content.detach())


CONTENT_SCALES = "all"  # "all" scales of the random encoder, or "coarsest"


def content_maps(encoder, features: list[torch.Tensor]) -> list[torch.Tensor]:
    """The maps the content loss compares: every scale of the random encoder (its coarsest alone
    kept the layout but let the texture wipe out the edges: grey SSIM 0.41 against 0.44 with all,
    astronaut with real gravel at 256 px), or VGG's deepest layer."""
    if isinstance(encoder, RandomEncoder):
        if CONTENT_SCALES == "all":
            return features
        per_scale = len(features) // encoder.scales
        return features[-per_scale:]
    return features[-1:]


def total_variation(image: torch.Tensor) -> torch.Tensor:
    return ((image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
            + (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean())


def working_size(photo: Image.Image, size: int) -> tuple[int, int]:
    """(height, width) with the longer side ``size``, keeping the photo's aspect ratio."""
    scale = size / max(photo.size)
    return max(MIN_LEVEL_SIDE, round(photo.height * scale)), max(MIN_LEVEL_SIDE, round(photo.width * scale))


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Pyramid sizes coarse to fine, halving each time, never below MIN_LEVEL_SIDE on the short side."""
    sizes = [(height, width)]
    while len(sizes) < levels and min(sizes[-1]) // 2 >= MIN_LEVEL_SIDE:
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes[::-1]


def level_steps(steps: int, count: int) -> list[int]:
    """Steps per level, coarse to fine: the finest gets ``steps``, each coarser one twice as many."""
    return [steps * 2 ** (count - 1 - i) for i in range(count)]


def shrink(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return image if tuple(image.shape[-2:]) == size else F.interpolate(image, size=size, mode="area")


def _rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    m = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    return torch.einsum("ij,njhw->nihw", m, x)


def _yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    m = x.new_tensor([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    return torch.einsum("ij,njhw->nihw", m, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Luminance (Y of YIQ) repeated to three channels, so the encoder sees a grey image."""
    return _rgb_to_yiq(x)[:, :1].repeat(1, 3, 1, 1)


def match_palette(texture: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Recolour the texture so its colour mean and covariance are the photo's (Gatys et al. 2017,
    colour histogram matching, linear version)."""
    def stats(x):
        flat = x.reshape(3, -1)
        mean = flat.mean(1, keepdim=True)
        cov = torch.cov(flat) + 1e-5 * torch.eye(3)
        return flat, mean, cov
    t, t_mean, t_cov = stats(texture[0].double())
    _, p_mean, p_cov = stats(photo[0].double())
    # A = chol(P) chol(T)^-1 maps the texture's covariance onto the photo's
    transform = torch.linalg.cholesky(p_cov) @ torch.linalg.inv(torch.linalg.cholesky(t_cov))
    out = transform @ (t - t_mean) + p_mean
    return out.reshape(texture.shape).float().clamp(0, 1)


def match_luminance(texture_grey: torch.Tensor, photo_grey: torch.Tensor) -> torch.Tensor:
    """Shift and scale the texture's luminance to the photo's mean and spread, so luminance-only
    transfer keeps the photo's overall brightness (Gatys et al. 2017)."""
    t_mean, t_std = texture_grey.mean(), texture_grey.std() + 1e-6
    return ((texture_grey - t_mean) / t_std * photo_grey.std() + photo_grey.mean()).clamp(0, 1)


class _Stop(Exception):
    pass


def _should_stop(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def stylize(photo: Image.Image, settings: StylizeSettings | None = None, *, model=None,
            texture_image: Image.Image | None = None, texture: torch.Tensor | None = None,
            init: torch.Tensor | None = None, encoder=None, progress: Progress | None = None,
            preview: Preview | None = None, preview_every: float = 2.0, cancel=None,
            background_texture_image: Image.Image | None = None, mask=None) -> StylizeResult:
    """Repaint ``photo`` with a texture: the uploaded ``texture_image`` if given, else ``model``'s
    texture class (see :class:`StylizeSettings`), or a ready ``texture`` tensor at the working size.

    ``init`` (1, 3, H, W) warm-starts the full-size level from an earlier result (the texture walk
    does this) and skips the coarser levels. ``progress(fraction, message)`` is called after every
    step, ``preview(image, message)`` at most every ``preview_every`` seconds, and ``cancel`` (a
    threading.Event or a function returning True) stops early: the result so far is returned with
    ``cancelled=True``.

    Two regions (``settings.regions == "two"``): the subject, found by GrabCut in
    ``settings.subject_box`` (default: the centre) or given as ``mask`` (a PNG path, bytes or PIL
    image, white = subject), gets the texture, or keeps the photo with ``keep_subject_photo``; the
    background gets ``background_texture_class`` or ``background_texture_image``, or keeps the photo;
    the seam is feathered. ``result.mask`` is the subject's mask.

    >>> settings = StylizeSettings(size=256, texture_class=3)  # doctest: +SKIP
    >>> result = stylize(demo_photo("chelsea"), settings, model=load_model())  # doctest: +SKIP
    >>> result.image.save("cat.png")  # doctest: +SKIP
    """
    settings = (settings or StylizeSettings()).replace()  # a copy: validate() normalises in place
    device = pick_device(settings.device)
    settings.validate(device)
    if settings.regions == "two":
        from cgn_art.stylize.regions import stylize_two_regions

        if init is not None or texture is not None:
            raise CgnArtError("two regions take no init or ready texture tensor; give texture classes or images")
        return stylize_two_regions(photo, settings, model=model, texture_image=texture_image,
                                   background_texture_image=background_texture_image, mask=mask, encoder=encoder,
                                   progress=progress, preview=preview, preview_every=preview_every, cancel=cancel)
    began = time.perf_counter()
    height, width = working_size(photo, settings.size)
    if encoder is None:
        encoder = make_stylize_encoder(settings.encoder, device)
    photo_full = pil_to_tensor(photo.resize((width, height), Image.Resampling.LANCZOS)).to(device)
    if texture is None:
        texture = make_texture(settings, height, width, model=model, texture_image=texture_image)
    texture = texture.to(device)
    if tuple(texture.shape[-2:]) != (height, width):
        raise CgnArtError(f"the texture is {tuple(texture.shape[-2:])} but the image is {(height, width)}")

    colour_photo = photo_full
    if settings.colors == "palette":
        texture = match_palette(texture.cpu(), photo_full.cpu()).to(device)
    elif settings.colors == "luminance":
        photo_full = luminance(photo_full)
        texture = match_luminance(luminance(texture), photo_full)

    sizes = level_sizes(height, width, settings.levels)
    steps = level_steps(settings.steps, len(sizes))
    if init is not None:  # warm start: only the full-size level
        sizes, steps = sizes[-1:], steps[-1:]
        image = init.to(device).float()
        if settings.colors == "luminance":
            image = luminance(image)
    else:
        generator = torch.Generator().manual_seed(settings.seed)
        start = shrink(photo_full, sizes[0])
        image = start + 0.02 * torch.randn(start.shape, generator=generator).to(device)
    # cost of a step ~ pixels: progress moves evenly in time, not in steps
    costs = [h * w * n for (h, w), n in zip(sizes, steps)]
    done_cost, total_cost = 0.0, float(sum(costs))
    last_preview = time.perf_counter()
    run_steps: list[int] = []
    cancelled = False

    for level, ((h, w), n) in enumerate(zip(sizes, steps)):
        level_texture = shrink(texture, (h, w))
        if level:
            image = F.interpolate(image.detach(), size=(h, w), mode="bicubic", align_corners=False)
            if DETAIL:
                # The coarse result has no detail finer than its own pixels, and upsampling cannot
                # make any; the style loss then grows it from its own gradient, which is largest at
                # the finest filters' favourite frequency and prints a 2 px grid. Start the level
                # with seeded white noise at the contrast of the texture's missing band instead: a
                # flat spectrum the optimisation shapes. (Adding the texture's own high-pass band
                # here, as before, pasted its tiling into the image: streaks at 1/4 and 1/8 px.)
                coarse = F.interpolate(shrink(level_texture, sizes[level - 1]), size=(h, w), mode="bicubic",
                                       align_corners=False)
                contrast = float((level_texture - coarse).std())
                noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(settings.seed + level))
                image = image + DETAIL * contrast * noise.to(device)
        objective = Objective(encoder, shrink(photo_full, (h, w)), level_texture, settings)
        image = image.detach().clone().contiguous().requires_grad_(True)
        optimizer = _make_optimizer(settings.optimizer, image)
        taken = 0
        numbers = {"style": 0.0}

        def closure(image=image, objective=objective, numbers=numbers):
            image.grad = None
            loss, style, _content = objective(image)
            loss.backward()
            numbers.update(style=style)
            return loss

        try:
            for step in range(n):
                if _should_stop(cancel):
                    raise _Stop
                optimizer.step(closure)
                taken += 1
                if not math.isfinite(numbers["style"]):
                    raise CgnArtError("the optimisation diverged (loss is not finite); lower the strength, "
                                      "or use the adam optimizer")
                done_cost += h * w
                message = (f"level {level + 1}/{len(sizes)} ({w}x{h}) step {step + 1}/{n}, "
                           f"style loss {numbers['style']:.4g}")
                if progress:
                    progress(min(1.0, done_cost / total_cost), message)
                if preview and time.perf_counter() - last_preview >= preview_every:
                    last_preview = time.perf_counter()
                    preview(_to_image(image, colour_photo, settings, (height, width)), message)
        except _Stop:
            cancelled = True
        run_steps.append(taken)
        if cancelled:
            break

    result = _finish(image.detach(), colour_photo, settings, (height, width))
    with torch.no_grad():
        style, content = measure(encoder, result.to(device), texture, photo_full, settings)
    if progress and not cancelled:
        progress(1.0, f"done in {time.perf_counter() - began:.1f} s")
    return StylizeResult(image=to_pil(result[0]), tensor=result.cpu(), settings=settings.to_dict(),
                         seconds=time.perf_counter() - began, style_loss=style, content_loss=content,
                         steps=run_steps, cancelled=cancelled)


def measure(encoder, image: torch.Tensor, texture: torch.Tensor, photo: torch.Tensor,
            settings: StylizeSettings) -> tuple[float, float]:
    """(style loss, content loss) of a finished image against the targets, at the image's size,
    unweighted: the figure to compare runs by (the benchmark compares with Gatys' single scale)."""
    if settings.colors == "luminance":  # the style was imposed on luminance only
        image = luminance(image)
    objective = Objective(encoder, shrink(photo, tuple(image.shape[-2:])), shrink(texture, tuple(image.shape[-2:])),
                          settings.replace(content_weight=1.0))
    features = encoder(image)
    return float(objective.style(features)), float(objective.content(features))


def _finish(image: torch.Tensor, colour_photo: torch.Tensor, settings: StylizeSettings, size) -> torch.Tensor:
    """The optimised image as the user sees it: in [0, 1], at full size, with the photo's colours
    put back in luminance mode."""
    image = image.detach()
    if tuple(image.shape[-2:]) != tuple(size):
        image = F.interpolate(image, size=size, mode="bicubic", align_corners=False)
    if settings.colors == "luminance":
        photo_yiq = _rgb_to_yiq(colour_photo)
        image = _yiq_to_rgb(torch.cat([image[:, :1], photo_yiq[:, 1:]], dim=1))
    return image.clamp(0, 1)


def _to_image(image, colour_photo, settings, size) -> Image.Image:
    with torch.no_grad():
        return to_pil(_finish(image, colour_photo, settings, size)[0])


def _make_optimizer(name: str, image: torch.Tensor):
    # one function evaluation per step (no line search), so steps cost the same in both
    return Adam(image, lr=0.02) if name == "adam" else LBFGS(image, history=20)


def blur_down(x: torch.Tensor) -> torch.Tensor:
    """Half size through a binomial [1, 3, 3, 1] / 8 low-pass (stride 2, reflect padding).

    Average pooling's gradient is constant over each 2x2 block, so every step of the optimisation
    writes a 2 px grid into the image, which the 2x upsampling between pyramid levels turns into
    4 and 8 px streaks. A 4-tap kernel at stride 2 covers every pixel evenly: no grid."""
    k = x.new_tensor([1.0, 3.0, 3.0, 1.0]) / 8
    kernel = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 4, 4)
    return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), kernel, stride=2, groups=x.shape[1])


class StylizeEncoder(RandomEncoder):
    """The random encoder (same filters) with :func:`blur_down` between its scales instead of
    average pooling (the stylizer's only change: the training losses keep the plain encoder)."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) * 4
        features = []
        for scale in range(self.scales):
            if scale:
                x = blur_down(x)
            for k in self.kernels:
                if min(x.shape[-2:]) <= k // 2:
                    continue
                padded = F.pad(x, [k // 2] * 4, mode="reflect")
                features.append(F.relu(F.conv2d(padded, getattr(self, f"w{k}"), getattr(self, f"b{k}"))))
            features.append(x)
        return features


_ENCODERS: dict = {}


def make_stylize_encoder(name: str, device) -> torch.nn.Module:
    """The style encoder, built once per process and device (the random one is fixed by seed 0
    and downsamples with :func:`blur_down`)."""
    key = (name, str(device))
    if key not in _ENCODERS:
        encoder = make_encoder(name, seed=0, device=device)
        if type(encoder) is RandomEncoder:
            channels = getattr(encoder, f"w{encoder.kernels[0]}").shape[0]
            smooth = StylizeEncoder(kernels=encoder.kernels, channels=channels, scales=encoder.scales, seed=0)
            smooth.load_state_dict(encoder.state_dict())
            encoder = smooth.to(next(encoder.buffers()).device).eval()
        _ENCODERS[key] = encoder
    return _ENCODERS[key]
