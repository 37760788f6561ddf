"""The stylizer's quality figures can fail: pure texture loses the photo (SSIM), an untouched photo
has no texture (judge), a striped grid and a frame are caught (spectrum, border band), and a real
photo passes the artefact checks against itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cgn_art.images import demo_photo
from cgn_art.stylize.quality import (
    BORDER_LIMIT,
    PEAK_LIMIT,
    artefacts,
    border_band,
    content_ssim,
    judge_crops,
    stride_amplitudes,
    stride_peaks,
    texture_judge,
    texture_share,
)

# one torch thread for the whole module (conftest.one_thread): the optimisations are tiny
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return demo_photo("astronaut").resize((256, 256), Image.Resampling.LANCZOS)


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]


def _real(class_index: int, size: int, scale: int, seed: int = 0) -> Image.Image:
    from cgn_art.data import letters

    crop = letters.material_crops("texture", [class_index], size, np.random.default_rng(seed), scale)[0]
    return Image.fromarray((crop * 255).round().astype(np.uint8))


def test_ssim_keeps_the_photo_and_drops_for_pure_texture(photo):
    assert content_ssim(photo, photo) == pytest.approx(1.0)
    mild = Image.blend(photo, _real(0, 256, 4), 0.25)
    texture = _real(0, 256, 4)
    assert content_ssim(mild, photo) >= 0.45
    assert content_ssim(texture, photo) < 0.2  # pure texture: the photo is gone


def test_a_striped_grid_is_caught_and_the_photo_itself_is_not(photo):
    clean = artefacts(photo, photo)
    assert not clean["streaks"] and not clean["frame"]
    grey = np.asarray(photo, np.float32) / 255
    for period in (2, 4, 8):
        grid = grey.copy()
        lines = (np.arange(256) % period) < period // 2
        grid[:, lines] *= 0.85            # vertical stripes with the encoder's stride period
        peaks = stride_peaks(grid, grey)
        assert peaks[period] > PEAK_LIMIT, (period, peaks)
        assert artefacts(grid, grey)["streaks"], period
    diagonal = grey * (1 - 0.12 * (((np.arange(256)[:, None] + np.arange(256)[None]) % 4) < 2))[..., None]
    assert max(stride_peaks(diagonal, grey).values()) > PEAK_LIMIT  # diagonal streaks too
    assert artefacts(diagonal, grey)["streaks"]


def test_a_ripple_too_faint_to_see_is_a_spike_but_not_a_streak(photo):
    # every other row lighter by a fraction of one 8-bit level: a spectral spike at 2 px (natural
    # photos have almost no power there), but nothing a screen can show; at 3 levels it is a streak
    grey = np.asarray(photo, np.float32) / 255
    rows = np.where(np.arange(256) % 2 == 0, 1.0, -1.0)[:, None, None]
    faint, strong = grey + 0.15 / 255 * rows, grey + 3 / 255 * rows
    assert stride_peaks(faint, grey)[2] > PEAK_LIMIT
    assert stride_amplitudes(faint)[2] == pytest.approx(stride_amplitudes(grey)[2] + 0.15 / 255, abs=0.05 / 255)
    found = artefacts(faint, grey)
    assert found["spikes"] and not found["streaks"]
    found = artefacts(strong, grey)
    assert found["spikes"] and found["streaks"]


def test_a_frame_is_caught(photo):
    framed = np.asarray(photo, np.float32).copy() / 255
    band = 6
    framed[:band] = framed[:band] * 0.6 + 0.4
    framed[:, :band] = framed[:, :band] * 0.6 + 0.4
    assert border_band(framed, photo) > BORDER_LIMIT
    assert border_band(photo, photo) == pytest.approx(0.0)


def test_the_judge_names_real_texture_and_not_an_untouched_photo(photo):
    """At the judge's own scale: a real brick crop is named brick, the astronaut is not."""
    judge = texture_judge("letters", tile=256, native=64)
    assert judge.scale == 4
    brick = _tensor(_real(0, 256, 4, seed=3))
    assert texture_share(brick, 0, tile=256, native=64, judge=judge) >= 0.7
    assert texture_share(_tensor(photo), 0, tile=256, native=64, judge=judge) < 0.5


def test_crops_are_rescaled_to_the_judge_and_masked():
    class Judge:
        scale, crop = 4, 64
    image = torch.rand(1, 3, 128, 256)
    # one tile (64 native px) spans 512 px; the judge sees 64 native px as 256 px: halve, then
    # 64 px crops: 1 row x 2
    assert judge_crops(image, tile=512, native=64, judge=Judge()).shape == (2, 3, 64, 64)
    assert judge_crops(image, tile=128, native=64, judge=Judge()).shape == (32, 3, 64, 64)  # doubled: 4 x 8
    mask = torch.zeros(1, 1, 128, 256)
    mask[..., :128] = 1
    assert judge_crops(image, tile=512, native=64, judge=Judge(), mask=mask).shape[0] == 1


def test_the_mirrored_margin_keeps_texture_blobs_off_the_edges(monkeypatch):
    # Optimised up to its edge, the china photo with coins got dark coin blobs along the top (a
    # frame: border check 1.07 at 128 px); inside a band of mirrored photo its border pixels are
    # optimised like the interior (0.38).
    from cgn_art.stylize import optimize
    from cgn_art.stylize.settings import StylizeSettings

    photo, texture = demo_photo("china"), _real(5, 64, 4)
    borders = []
    for margin in (optimize.BORDER_MARGIN, 0):
        monkeypatch.setattr(optimize, "BORDER_MARGIN", margin)
        result = optimize.stylize(photo, StylizeSettings(size=128, device="cpu"), texture_image=texture)
        assert result.image.size == (128, 85)
        borders.append(border_band(result.image, photo))
    assert borders[0] < 0.6 * borders[1], borders
