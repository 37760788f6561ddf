"""Every page's code path runs the ImageNet CGN (loaded from test-made weights in the released
layout) and gives finite images of the right size: the mixer, the dance and the stylizer."""
from __future__ import annotations

import pytest
import torch

import cgn_art
from cgn_art.mechanisms.imagenet_weights import import_cgn
from test_imagenet import save_released_layout, tiny_cgn


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
