"""Every page's code path runs the ImageNet CGN (loaded from test-made weights in the released
layout) and gives finite images of the right size: the mixer, the dance and the stylizer."""
from __future__ import annotations

import pytest
import torch
from helpers.imagenet import save_released_layout, tiny_cgn

import cgn_art
from cgn_art.mechanisms.imagenet_weights import import_cgn


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    checkpoint = save_released_layout(tiny_cgn(20), folder / "cgn.pth", module_prefix=True)
    return cgn_art.load_model(import_cgn(checkpoint, folder / "imagenet-cgn", resolution=32), device="cpu")


def finite_images(x: torch.Tensor, shape: tuple) -> bool:
    return tuple(x.shape) == shape and bool(torch.isfinite(x).all()) and x.min() >= 0 and x.max() <= 1


def test_mixer_render_and_interpolation(model):
    from cgn_art.mixing import MixSettings, interpolate, render

    mix = MixSettings(shape=model.presets["shape"][0], texture=model.presets["texture"][1],
                      background=model.presets["background"][2], texture_seed=4, truncation=0.5, size=64)
    cf = render(model, mix)
    assert finite_images(cf.composite, (1, 3, 64, 64)) and finite_images(cf.mask, (1, 1, 64, 64))
    walk = interpolate(model, mix, "texture", to_class=980, to_seed=9, steps=4)
    assert finite_images(walk.composite, (4, 3, 64, 64))
    assert not torch.equal(walk.foreground[0], walk.foreground[-1])
    assert torch.equal(walk.mask[0], walk.mask[-1])  # only the texture walked


def test_short_stylization(model):
    from cgn_art.images import demo_photo
    from cgn_art.stylize import StylizeSettings, stylize

    settings = StylizeSettings(size=48, texture_class=15, blend_class=980, steps=2, levels=1, encoder="random",
                               optimizer="adam", device="cpu")
    result = stylize(demo_photo("chelsea"), settings, model=model)
    pixels = torch.tensor(list(result.image.convert("RGB").getdata()), dtype=torch.float32)
    assert max(result.image.size) == 48 and torch.isfinite(pixels).all() and pixels.std() > 0


def test_two_second_dance(model, tmp_path, monkeypatch):
    import imageio_ffmpeg
    import numpy as np
    import soundfile

    from cgn_art.dance import DanceSettings, render_dance

    rate = 22050
    t = np.arange(int(2.5 * rate)) / rate
    song = tmp_path / "song.wav"  # a 120 BPM kick and a chord: beats for the choreography to follow
    soundfile.write(song, (0.6 * np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 12)
                           + 0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    seen = []
    run = model.mechanism

    def checked(mechanism, weights, noise, size):  # every output the dance takes from the model
        out = run(mechanism, weights, noise, size)
        seen.append((mechanism, tuple(out.shape), bool(torch.isfinite(out).all())))
        return out

    monkeypatch.setattr(model, "mechanism", checked)
    presets = {f"{m}.classes": ",".join(map(str, model.presets[m][:6])) for m in model.presets}
    settings = DanceSettings.from_preset("groove", size=64, fps=8, duration=2.0).with_changes(presets)
    result = render_dance(model, song, tmp_path / "dance.mp4", settings)
    assert result.frames == 16 and result.render_size == 64
    assert {m for m, _, _ in seen} == {"shape", "texture", "background"} and all(ok for _, _, ok in seen)
    assert all(shape[1:] == ((1 if m == "shape" else 3), 64, 64) for m, shape, _ in seen)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "dance.mp4"))
    meta = next(reader)
    frames = list(reader)
    assert tuple(meta["size"]) == (64, 64) and len(frames) == 16
