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
from cgn_art.runtime.progress import Progress, as_cancel
from cgn_art.stylize.optimizers import LBFGS, Adam
from cgn_art.stylize.settings import StylizeSettings
from cgn_art.stylize.textures import make_texture, pil_to_tensor

MIN_LEVEL_SIDE = 16
# Base weights: with strength = content weight = smoothness = 1 the texture clearly repaints the
# photo while its layout stays readable. The style weight was 5, set by eye; chosen now on
# benchmarks/stylize_quality.py (Letters CGN, 512 px, 4 photos x 3 classes x 2 seeds): at 10, grey
# SSIM 0.505 (every photo >= 0.46) and texture share 0.719, both bars met; with a 16 px border
# band instead of 24: at 5, SSIM 0.555 and share 0.643 (bar 0.7 not met); at 12.5, SSIM 0.450
# (the brick photo 0.40) and share 0.669.
STYLE_BASE = 10.0
CONTENT_BASE = 0.05
TV_BASE = 0.002
DETAIL = 1.0  # how much fine-scale noise each finer level starts with, in the texture's own contrast (see stylize)
# The result's fine luminance detail may exceed the photo's local contrast by at most this much
# (see cap_detail; None: no cap), measured in a Gaussian window of DETAIL_SIGMA px
DETAIL_FLOOR: float | None = 0.02
DETAIL_SIGMA = 2.0
# Between pyramid levels. torch's 2x bicubic prints an every-other-row ripple on the astronaut
# itself (a spectral spike at 2 px, 1.6 above the photo's, though far below one 8-bit level) that
# the finer level grew; bilinear has none (spikes at the defaults: 16 of 24 runs -> 12), and its
# softness costs nothing: the finer level makes the fine detail anyway.
UPSAMPLE = "bilinear"
# The image is optimised inside a band of mirrored photo this many pixels wide, cut off at the
# end. Without it the border pixels were the edge of the optimisation, where the encoder's reflect
# padding shows every feature twice: the style loss met its statistics cheaply there with dark
# texture blobs along the edges (a frame in 7 of 24 runs of benchmarks/stylize_quality.py). The
# encoder's reach is fixed in pixels (its 11 px filters at half size), so the band is too; at the
# coarser level it is half as wide. China with coins at 128 px, border check: 1.07 with no band,
# 0.75 with 16 px, 0.38 with 24 px (limit 0.35).
BORDER_MARGIN = 24
RANGE_BASE = 10.0  # keeps pixels in [0, 1] without clamping (clamping would stall L-BFGS)

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
            photo_features = encoder(photo)
            self.content_targets = content_maps(encoder, photo_features) if settings.content_weight else []
        # which feature maps the content targets belong to (content_maps keeps the last ones)
        count = len(photo_features)
        self.content_index = list(range(count - len(self.content_targets), count))

    def style(self, features) -> torch.Tensor:
        total = features[0].new_zeros(())
        for f, (g, m) in zip(features, self.style_targets):
            total = total + F.mse_loss(gram(f), g) + F.mse_loss(f.mean(dim=(2, 3)), m)
        return total

    def content(self, features) -> torch.Tensor:
        maps = content_maps(self.encoder, features)
        return sum(F.mse_loss(a, b) for a, b in zip(maps, self.content_targets)) / max(len(maps), 1)

    @torch.no_grad()
    def _feature_gradients(self, features) -> tuple[list[torch.Tensor], float, float]:
        """d(weighted style + content loss)/d(feature map) for every map, written out: the Gram
        and mean terms of a map's style loss and its content term reduce to one batched
        multiply-add, ``A f + b + beta (f - target)``. Autograd through the same losses makes
        about ten full-size temporaries per map (the Gram's two backward products, the broadcast
        mean, the content difference, their sums), which cost more than the encoder's
        convolutions here; the values are the same to float rounding
        (tests/test_stylize.py checks this against autograd)."""
        s = self.settings
        style_weight = STYLE_BASE * s.strength
        content_weight = CONTENT_BASE * s.content_weight
        content_targets = dict(zip(self.content_index, self.content_targets))
        grads, style, content = [], 0.0, 0.0
        for i, (f, (g, m)) in enumerate(zip(features, self.style_targets)):
            n, c, h, w = f.shape
            flat = f.reshape(n, c, h * w)
            gram_error = flat @ flat.transpose(1, 2) / (h * w) - g
            mean_error = flat.mean(dim=2) - m
            style += float(gram_error.pow(2).mean() + mean_error.pow(2).mean())
            # d mse(G, g)/d f = 4 (G - g) f / (n c^2 hw) (G - g is symmetric)
            # d mse(mean, m)/d f = 2 (mean - m) / (n c hw)
            a = gram_error * (style_weight * 4 / (n * c * c * h * w))
            b = (mean_error * (style_weight * 2 / (n * c * h * w)))[..., None]
            grad = torch.baddbmm(b, a, flat)
            if i in content_targets:
                difference = flat - content_targets[i].reshape(n, c, h * w)
                content += float(difference.pow(2).mean()) / len(content_targets)
                grad.add_(difference, alpha=content_weight * 2 / (n * c * h * w * len(content_targets)))
            grads.append(grad.view_as(f))
        return grads, style, content

    def loss_and_grad(self, image: torch.Tensor) -> tuple[float, float, float]:
        """The total loss; leaves its gradient in ``image.grad`` (a leaf that requires grad).
        The same numbers as :meth:`__call__` + ``backward()``, with about a fifth less CPU per step
        (measured at 256 and 512 px; benchmarks/stylize_speed.py --baseline autograd)."""
        s = self.settings
        features = self.encoder(image)
        grads, style, content = self._feature_gradients(features)
        extra = RANGE_BASE * (F.relu(image - 1).pow(2).mean() + F.relu(-image).pow(2).mean())
        if s.smoothness:
            extra = extra + TV_BASE * s.smoothness * total_variation(image)
        torch.autograd.backward([extra, *features], [torch.ones_like(extra), *grads])
        total = STYLE_BASE * s.strength * style + CONTENT_BASE * s.content_weight * content + float(extra.detach())
        return total, style, content

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


# The style and content losses' gradient written out (Objective.loss_and_grad); False: autograd
# through the same losses, as before (benchmarks/stylize_speed.py --baseline autograd times both)
WRITTEN_OUT_GRADIENT = True
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


def start_image(photo: torch.Tensor, size: tuple[int, int], settings: StylizeSettings) -> torch.Tensor:
    """The coarsest level's starting image: the photo (shrunk) plus a little seeded noise."""
    generator = torch.Generator().manual_seed(settings.seed)
    start = shrink(photo, size)
    return start + 0.02 * torch.randn(start.shape, generator=generator).to(start.device)


class _Stop(Exception):
    pass


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
    settings.validate(pick_device(settings.device))
    return stylize_validated(photo, settings, model=model, texture_image=texture_image, texture=texture, init=init,
                             encoder=encoder, progress=progress, preview=preview, preview_every=preview_every,
                             cancel=cancel, background_texture_image=background_texture_image, mask=mask)


def stylize_validated(photo: Image.Image, settings: StylizeSettings, *, model=None,
                      texture_image: Image.Image | None = None, texture: torch.Tensor | None = None,
                      init: torch.Tensor | None = None, encoder=None, progress: Progress | None = None,
                      preview: Preview | None = None, preview_every: float = 2.0, cancel=None,
                      background_texture_image: Image.Image | None = None, mask=None) -> StylizeResult:
    """:func:`stylize` for settings that have been validated already, and are used as they are (the
    texture walk's frames and the two regions run it many times over one checked settings)."""
    device = pick_device(settings.device)
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

    margin = border_margin(height, width)
    photo_full, texture = pad(photo_full, margin), pad(texture, margin)
    sizes = level_sizes(height + 2 * margin, width + 2 * margin, settings.levels)
    steps = level_steps(settings.steps, len(sizes))
    if init is not None:  # warm start: only the full-size level
        sizes, steps = sizes[-1:], steps[-1:]
        image = pad(init.to(device).float(), margin)
        if settings.colors == "luminance":
            image = luminance(image)
    else:
        image = start_image(photo_full, sizes[0], settings)
    # cost of a step ~ pixels: progress moves evenly in time, not in steps
    costs = [h * w * n for (h, w), n in zip(sizes, steps)]
    done_cost, total_cost = 0.0, float(sum(costs))
    last_preview = time.perf_counter()
    run_steps: list[int] = []
    cancelled, stop = False, as_cancel(cancel)

    for level, ((h, w), n) in enumerate(zip(sizes, steps)):
        level_texture = shrink(texture, (h, w))
        if level:
            image = F.interpolate(image.detach(), size=(h, w), mode=UPSAMPLE, align_corners=False)
            if DETAIL:
                # The coarse result has no detail finer than its own pixels, and upsampling cannot
                # make any; the style loss then grows it from its own gradient, which is largest at
                # the finest filters' favourite frequency and prints a 2 px grid. Start the level
                # with seeded white noise at the contrast of the texture's missing band instead: a
                # flat spectrum the optimisation shapes. (Adding the texture's own high-pass band
                # here, as before, pasted its tiling into the image: streaks at 1/4 and 1/8 px.)
                coarse = F.interpolate(shrink(level_texture, sizes[level - 1]), size=(h, w), mode=UPSAMPLE,
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
            if WRITTEN_OUT_GRADIENT:
                loss, style, _content = objective.loss_and_grad(image)
            else:
                loss, style, _content = objective(image)
                loss.backward()
            numbers.update(style=style)
            return loss

        try:
            for step in range(n):
                if stop():
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
                    preview(_to_image(image, colour_photo, settings, (height, width), margin), message)
        except _Stop:
            cancelled = True
        run_steps.append(taken)
        if cancelled:
            break

    result = _finish(image.detach(), colour_photo, settings, (height, width), margin)
    with torch.no_grad():
        style, content = measure(encoder, result.to(device), unpad(texture, margin), unpad(photo_full, margin),
                                 settings)
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


def border_margin(height: int, width: int) -> int:
    """Pixels of mirrored photo optimised around the image: BORDER_MARGIN, even (so the pyramid's
    halvings keep it aligned) and less than the shorter side (reflect padding needs that)."""
    return max(0, min(2 * (BORDER_MARGIN // 2), 2 * ((min(height, width) - 1) // 2)))


def pad(image: torch.Tensor, margin: int) -> torch.Tensor:
    return F.pad(image, [margin] * 4, mode="reflect") if margin else image


def unpad(image: torch.Tensor, margin: int) -> torch.Tensor:
    return image[..., margin:-margin, margin:-margin] if margin else image


def _finish(image: torch.Tensor, colour_photo: torch.Tensor, settings: StylizeSettings, size,
            margin: int = 0) -> torch.Tensor:
    """The optimised image as the user sees it: in [0, 1], at full size without the optimised
    margin, with the photo's colours put back in luminance mode."""
    image = image.detach()
    full = (size[0] + 2 * margin, size[1] + 2 * margin)
    if tuple(image.shape[-2:]) != full:
        image = F.interpolate(image, size=full, mode=UPSAMPLE, align_corners=False)
    image = unpad(image, margin)
    if settings.colors == "luminance":
        photo_yiq = _rgb_to_yiq(colour_photo)
        image = _yiq_to_rgb(torch.cat([image[:, :1], photo_yiq[:, 1:]], dim=1))
    if DETAIL_FLOOR is not None:
        image = cap_detail(image, colour_photo)
    return image.clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) by ``sigma`` pixels, reflect padding."""
    radius = max(1, min(int(3 * sigma), min(x.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, [radius, radius, 0, 0], mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, [0, 0, radius, radius], mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def cap_detail(image: torch.Tensor, photo: torch.Tensor, floor: float | None = None,
               sigma: float = DETAIL_SIGMA) -> torch.Tensor:
    """The result's fine light-and-dark detail, capped at the photo's own local contrast plus ``floor``.

    Gram statistics are global: the optimisation gives calm parts of the photo (a sky, a blurred
    background, a plain wall) the texture's full contrast, and there the photo is lost first. Here
    the luminance detail (the image minus its ``sigma`` px Gaussian mean) is scaled down wherever its
    local standard deviation exceeds the photo's plus ``floor``: the texture's pattern stays
    everywhere (faint on calm ground, up to the photo's own contrast where the photo is busy), its
    colours and coarser shapes are untouched (measured in benchmarks/stylize_quality.py at 256 px,
    real textures, 4 photos x 3 classes: grey SSIM 0.398 -> 0.468, texture share 0.615 -> 0.64)."""
    floor = DETAIL_FLOOR if floor is None else floor
    image_yiq, photo_y = _rgb_to_yiq(image), _rgb_to_yiq(photo)[:, :1]
    y = image_yiq[:, :1]
    mean = gaussian_blur(y, sigma)
    detail = y - mean
    photo_detail = photo_y - gaussian_blur(photo_y, sigma)
    spread = gaussian_blur(detail * detail, sigma).sqrt()
    photo_spread = gaussian_blur(photo_detail * photo_detail, sigma).sqrt()
    gain = ((photo_spread + floor) / (spread + 1e-4)).clamp(max=1.0)
    return _yiq_to_rgb(torch.cat([mean + gain * detail, image_yiq[:, 1:]], dim=1))


def _to_image(image, colour_photo, settings, size, margin: int = 0) -> Image.Image:
    with torch.no_grad():
        return to_pil(_finish(image, colour_photo, settings, size, margin)[0])


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
