"""How good a stylized image is, in figures that can fail: the photo kept, the texture arrived, no
artefacts.

- :func:`content_ssim`: SSIM of the result's grey image to the photo's (layout and light kept).
- :func:`texture_share`: the share of crops of the result a texture judge trained on real texture
  crops names as the chosen class (the texture's pattern arrived, not just its colours: the judge
  sees grey, contrast-normalised crops). The judge comes from :func:`texture_judge`, an adapter.
- :func:`stride_peaks`: periodic streaks at the periods a strided encoder or a 2x pyramid prints
  (2, 4, 8 px): the result's spectral peak there, above the photo's own; :func:`stride_amplitudes`
  says whether such a ripple is strong enough to see.
- :func:`border_band`: a frame: the outer band of the result differs from the strip just inside it
  more than the photo's does.

Each has a constructed failure in the tests (pure texture, untouched photo, a striped grid, a
framed image). None of them uses the stylizer's own encoder: a figure scored by what the method
optimised would flatter it.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

STRIDE_PERIODS = (2, 4, 8)
PEAK_LIMIT = 1.0       # natural-log excess power over the photo's at a stride period that counts as a spike
# A spike is a streak when its ripple is also visible: at least this amplitude (grey, 0-1; one
# 8-bit level). Natural photos have so little power at 2 px that ripples of 0.01-0.07 levels (at
# most 0.55 at 8 px), far below what a screen shows or a PNG stores, stood out as spikes: 16 of 24
# runs at the old defaults, none of them visible (benchmarks/stylize_quality.py reports both counts).
VISIBLE_AMPLITUDE = 1 / 255
BORDER_LIMIT = 0.35    # excess band-vs-inside difference (in the inside's standard deviations) that counts as a frame


def _grey(image) -> np.ndarray:
    """PIL image, (1, 3, H, W) / (3, H, W) tensor, or (H, W[, 3]) array in [0, 1] -> (H, W) float64 grey."""
    if hasattr(image, "convert"):
        image = np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    elif isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        t = t[0] if t.dim() == 4 else t
        image = t.permute(1, 2, 0).numpy().astype(np.float64) if t.dim() == 3 else t.numpy().astype(np.float64)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return image


def _same_size(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` resized (area / bilinear) to ``a``'s size."""
    if a.shape == b.shape:
        return b
    t = torch.from_numpy(b)[None, None]
    mode = "area" if b.shape[0] > a.shape[0] else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(t, size=a.shape, mode=mode, **kwargs)[0, 0].numpy()


def content_ssim(result, photo) -> float:
    """SSIM of the result's grey image to the photo's (the photo resized to the result's size)."""
    from skimage.metrics import structural_similarity

    r = _grey(result)
    p = _same_size(r, _grey(photo))
    return float(structural_similarity(r, p, data_range=1.0))


# Artefacts ------------------------------------------------------------------------------------

def _log_power(grey: np.ndarray) -> np.ndarray:
    g = grey - grey.mean()
    window = np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))  # edges would put a cross in the spectrum
    return np.log(np.abs(np.fft.fft2(g * window)) ** 2 + 1e-12)


def _peak(log_power: np.ndarray, period: int, reach: int = 6) -> float:
    """How far the power at frequency 1/period (on both axes and the diagonal) stands above the
    power around it: the peak bin (either sign) against the median of the bins up to ``reach``
    away, the 3 x 3 around the peak left out (natural log; the largest of the three places).
    A streak or grid is a spike; a spectrum that merely falls or rises smoothly is not."""
    h, w = log_power.shape
    fy, fx = np.abs(np.fft.fftfreq(h)), np.abs(np.fft.fftfreq(w))
    f = 1.0 / period
    offsets = np.arange(-reach, reach + 1)
    around = (np.abs(offsets)[:, None] > 1) | (np.abs(offsets)[None, :] > 1)
    best = -np.inf
    for ty, tx in ((0.0, f), (f, 0.0), (f, f)):
        iy, ix = int(np.argmin(np.abs(fy - ty))), int(np.argmin(np.abs(fx - tx)))
        at = max(log_power[y % h, x % w] for y in (iy, -iy) for x in (ix, -ix))
        window = log_power[np.ix_((iy + offsets) % h, (ix + offsets) % w)]
        best = max(best, float(at - np.median(window[around])))
    return best


def stride_peaks(result, photo, periods=STRIDE_PERIODS) -> dict[int, float]:
    """Period (px) -> the result's spectral peak at that period minus the photo's (natural log).
    Above :data:`PEAK_LIMIT` the result has streaks or a grid the photo does not."""
    r = _grey(result)
    p = _same_size(r, _grey(photo))
    lr, lp = _log_power(r), _log_power(p)
    return {period: _peak(lr, period) - _peak(lp, period) for period in periods}


def stride_amplitudes(result, periods=STRIDE_PERIODS) -> dict[int, float]:
    """Period (px) -> the largest amplitude (grey, 0-1) of a ripple at that period in the result,
    along either axis or either diagonal: how strong a streak there would look."""
    g = _grey(result)
    g = g - g.mean()
    h, w = g.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    y, x = np.mgrid[:h, :w]
    out = {}
    for period in periods:
        f, best = 1.0 / period, 0.0
        for fy, fx in ((0.0, f), (f, 0.0), (f, f), (-f, f)):
            amplitude = abs((window * g * np.exp(-2j * np.pi * (fy * y + fx * x))).sum()) / window.sum()
            # a cosine's energy sits in two bins, except at 0 and 1/2 cycle per pixel, where they are one
            best = max(best, amplitude * (1 if {abs(fy), fx} <= {0.0, 0.5} else 2))
        out[period] = float(best)
    return out


def _band_difference(grey: np.ndarray, band: int) -> float:
    """Largest, over the four sides, of |mean(outer band) - mean(strip inside it)| plus the
    difference of their gradient energies, in units of the inside strip's standard deviation."""
    worst = 0.0
    gy, gx = np.gradient(grey)
    energy = np.sqrt(gy ** 2 + gx ** 2)
    for rotation in range(4):
        g, e = np.rot90(grey, rotation), np.rot90(energy, rotation)
        outer, inner = g[:band], g[band: 3 * band]
        eo, ei = e[1:band], e[band: 3 * band]
        scale = inner.std() + 0.02
        worst = max(worst, (abs(outer.mean() - inner.mean()) + abs(eo.mean() - ei.mean())) / scale)
    return float(worst)


def border_band(result, photo, band: int | None = None) -> float:
    """The result's band-vs-inside difference minus the photo's (see :func:`_band_difference`);
    ``band`` defaults to 2% of the shorter side (at least 3 px). Above :data:`BORDER_LIMIT`: a frame."""
    r = _grey(result)
    p = _same_size(r, _grey(photo))
    band = band or max(3, round(0.02 * min(r.shape)))
    return _band_difference(r, band) - _band_difference(p, band)


def artefacts(result, photo) -> dict:
    """Both artefact checks and whether each fails: ``spikes`` (a stride period's spectral peak
    above the photo's by more than PEAK_LIMIT), ``streaks`` (such a spike whose ripple is visible,
    VISIBLE_AMPLITUDE or more) and ``frame``."""
    peaks = stride_peaks(result, photo)
    amplitudes = stride_amplitudes(result)
    border = border_band(result, photo)
    spiked = [k for k, v in peaks.items() if v > PEAK_LIMIT]
    return {"stride_peaks": {str(k): round(v, 3) for k, v in peaks.items()},
            "stride_amplitudes": {str(k): round(v * 255, 2) for k, v in amplitudes.items()},  # in 8-bit levels
            "worst_peak": round(max(peaks.values()), 3), "border": round(border, 3), "spikes": bool(spiked),
            "streaks": any(amplitudes[k] >= VISIBLE_AMPLITUDE for k in spiked), "frame": border > BORDER_LIMIT}


# Texture ---------------------------------------------------------------------------------------

class _FallbackJudge:
    """Used only while the project's texture judge (cgn_art.evaluate.judges) is not there: nearest
    class mean of grey, contrast-normalised statistics of a seeded random filter bank (seed and
    kernels unlike the stylizer's encoder) plus the radial power spectrum, fitted on real crops."""

    def __init__(self, family: str, scale: int, crop: int, per_class: int = 60, seed: int = 0):
        from cgn_art.errors import CgnArtError

        if family != "letters":
            raise CgnArtError(f"no texture judge for {family!r}: the stylizer's judge knows the letters textures")
        from cgn_art.data import letters as data

        self.class_names = list(data.class_names()["texture"])
        self.scale, self.crop = scale, crop
        g = torch.Generator().manual_seed(7919)
        self.banks = [torch.randn(16, 1, k, k, generator=g) for k in (3, 9)]
        self.banks = [(w - w.mean(dim=(1, 2, 3), keepdim=True)) for w in self.banks]
        rng = np.random.default_rng([seed, 5])
        labels = np.repeat(np.arange(len(self.class_names)), per_class)
        crops = torch.from_numpy(data.material_crops("texture", labels, crop, rng, scale)).permute(0, 3, 1, 2)
        f = self._features(crops)
        self.mean, self.std = f.mean(0), f.std(0).clamp_min(1e-4)
        f = (f - self.mean) / self.std
        self.centres = torch.stack([f[torch.from_numpy(labels == c)].mean(0) for c in range(len(self.class_names))])

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        grey = (images.float() * images.new_tensor([0.299, 0.587, 0.114]).float()[:, None, None]).sum(1, keepdim=True)
        grey = (grey - grey.mean(dim=(2, 3), keepdim=True)) / grey.std(dim=(2, 3), keepdim=True).clamp_min(1e-4)
        stats, x = [], grey
        for level in range(3):
            if level:
                x = F.avg_pool2d(x, 2)
            for w in self.banks:
                r = F.relu(F.conv2d(F.pad(x, [w.shape[-1] // 2] * 4, mode="reflect"), w))
                stats += [r.mean(dim=(2, 3)), r.std(dim=(2, 3))]
        power = torch.fft.fft2(grey[:, 0]).abs().pow(2)
        h, w = grey.shape[-2:]
        radius = (torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None] ** 2).sqrt()
        band = torch.log2(radius.clamp_min(1e-6) * 64).clamp(0, 5).floor().long()
        bands = torch.stack([(power * (band == b) * (radius > 0)).sum(dim=(1, 2)) for b in range(6)], 1)
        stats.append(torch.log(bands / bands.sum(1, keepdim=True) + 1e-6))
        return torch.cat(stats, 1)

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        f = (self._features(images) - self.mean) / self.std
        return torch.cdist(f, self.centres).argmin(1)


JUDGE_SCALES = (1, 4)  # the letters judges' settings: the native view and the 4x (detail) view


def texture_judge(family: str = "letters", *, tile: int | None = None, native: int = 64):
    """The texture judge: an object with ``classify(crops (N, 3, C, C) in [0, 1]) -> (N,) class
    indices``, ``scale`` (it judges images rendered ``scale`` x the model's native size), ``crop``
    and ``class_names``. The project's grey, contrast-normalised structure judge
    (``cgn_art.evaluate.judges.texture_judge``) when it is there, else a stand-in of our own.
    With ``tile`` (px one texture tile spans in the result) the judge whose scale is nearest to
    ``tile / native`` is taken, so the result is resized as little as possible before judging."""
    scale = 4
    if tile is not None:
        scale = min(JUDGE_SCALES, key=lambda s: abs(math.log(s * native / tile)))
    return _judge(family, scale)


@functools.lru_cache(maxsize=4)
def _judge(family: str, scale: int):
    try:
        from cgn_art.evaluate.judges import texture_judge as project_judge
    except ImportError:
        return _FallbackJudge(family, scale=scale, crop=64)
    return project_judge(family, scale=scale)


def judge_crops(image: torch.Tensor, tile: int, native: int, judge, mask: torch.Tensor | None = None,
                inside: float = 0.98) -> torch.Tensor:
    """Crops of ``image`` (1, 3, H, W) for ``judge``, rescaled so the texture is at the judge's scale.

    In the result one texture tile (``native`` px of the model's texture field) spans ``tile`` px;
    the judge reads crops of images rendered ``judge.scale`` x native, so the result is resized by
    ``native * judge.scale / tile`` and cut into ``judge.crop`` px crops (a grid, no overlap).
    With ``mask`` (1, 1, H, W) only crops at least ``inside`` inside the mask are kept."""
    factor = native * judge.scale / tile
    h, w = image.shape[-2:]
    size = (max(judge.crop, round(h * factor)), max(judge.crop, round(w * factor)))
    image = F.interpolate(image.float(), size=size, mode="area" if factor < 1 else "bicubic",
                          **({} if factor < 1 else {"align_corners": False})).clamp(0, 1)
    c = judge.crop
    crops = image.unfold(2, c, c).unfold(3, c, c)[0].permute(1, 2, 0, 3, 4).reshape(-1, 3, c, c)
    if mask is not None:
        m = F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False)
        cover = m.unfold(2, c, c).unfold(3, c, c)[0, 0].mean(dim=(-2, -1)).reshape(-1)
        crops = crops[cover >= inside]
    return crops


def texture_share(image: torch.Tensor, texture_class: int, tile: int, native: int, judge=None,
                  mask: torch.Tensor | None = None) -> float:
    """The share of crops of ``image`` the judge names ``texture_class`` (nan when no crop fits)."""
    judge = judge or texture_judge(tile=tile, native=native)
    crops = judge_crops(image, tile, native, judge, mask)
    if not len(crops):
        return float("nan")
    return float((judge.classify(crops) == texture_class).float().mean())
