"""Every page's code path runs a letters-shaped model (64 px, 26 shapes, detail levels): the mixer,
the interpolation strip, the stylizer and the dance, with finite images of the right size."""
from __future__ import annotations

import pytest
import torch
from helpers.letters import tiny_letters_model


@pytest.fixture(scope="module")
def model():
    return tiny_letters_model()


def finite_images(x: torch.Tensor, shape: tuple) -> bool:
    return tuple(x.shape) == shape and bool(torch.isfinite(x).all()) and x.min() >= 0 and x.max() <= 1


def test_mixer_at_512_px_and_a_texture_walk(model):
    from cgn_art.mixing import MixSettings, interpolate, render

    cf = render(model, MixSettings(shape=0, texture=3, background=7, size=512))
    assert finite_images(cf.composite, (1, 3, 512, 512)) and finite_images(cf.mask, (1, 1, 512, 512))
    walk = interpolate(model, MixSettings(shape=25, texture=0, background=1, size=256), "texture",
                       to_class=9, to_seed=5, steps=4)
    assert finite_images(walk.foreground, (4, 3, 256, 256))
    assert not torch.equal(walk.foreground[0], walk.foreground[-1])
    assert torch.equal(walk.mask[0], walk.mask[-1])  # only the texture walked


def test_short_stylization(model):
    from cgn_art.images import demo_photo
    from cgn_art.stylize import StylizeSettings, stylize

    settings = StylizeSettings(size=64, texture_class=2, steps=2, levels=1, encoder="random", optimizer="adam",
                               device="cpu")
    result = stylize(demo_photo("chelsea"), settings, model=model)
    assert max(result.image.size) == 64


def test_two_second_dance_at_128_px(model, tmp_path):
    import numpy as np
    import soundfile

    from cgn_art.dance import DanceSettings, render_dance

    rate = 22050
    t = np.arange(int(2.5 * rate)) / rate
    song = tmp_path / "song.wav"
    soundfile.write(song, (0.6 * np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 12)
                           + 0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    settings = DanceSettings.from_preset("groove", size=128, fps=8, duration=2.0)
    result = render_dance(model, song, tmp_path / "dance.mp4", settings)
    assert result.frames == 16 and (tmp_path / "dance.mp4").stat().st_size > 0
