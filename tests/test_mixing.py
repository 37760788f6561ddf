"""Mixing by hand: settings that survive a URL, grids that vary one mechanism, interpolation strips."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import cgn_art
from cgn_art import mixing
from cgn_art.errors import CgnArtError
from cgn_art.io import read_png_settings
from cgn_art.settings_checks import MAX_SEED


def test_settings_round_trip_through_a_url(model):
    mix = mixing.MixSettings(shape=2, texture=4, background=5, shape_seed=11, texture_seed=0,
                             background_seed=MAX_SEED, truncation=0.35, size=512).validate(model)
    back, problems = mixing.MixSettings.from_query(mix.to_query(), model)
    assert problems == [] and back == mix
    assert torch.equal(mixing.render(model, back).composite, mixing.render(model, mix).composite)


def test_bad_url_values_fall_back_one_by_one_with_a_reason(model):
    query = {"shape": "999", "texture": "test texture 3", "background": "-1", "shape_seed": "abc",
             "texture_seed": "7", "truncation": "nan", "size": "0", "unknown": "x"}
    mix, problems = mixing.MixSettings.from_query(query, model)
    assert (mix.shape, mix.texture, mix.background, mix.shape_seed, mix.texture_seed) == (0, 3, 0, 0, 7)
    assert mix.truncation == 1.0 and mix.size == 256
    joined = "\n".join(problems)
    assert len(problems) == 5
    for name in ("shape='999'", "background='-1'", "shape_seed='abc'", "truncation='nan'", "size='0'"):
        assert name in joined
    assert "classes 0 to 3" in joined  # the test model has 4 shapes: the message says which exist


def test_validate_refuses_out_of_range_values(model):
    with pytest.raises(CgnArtError, match="texture class 5 is out of range"):
        mixing.MixSettings(texture=5).validate(model)
    with pytest.raises(CgnArtError, match="seed"):
        mixing.MixSettings(background_seed=-3).validate(model)
    with pytest.raises(CgnArtError):
        mixing.MixSettings(size=5000).validate(model)


@pytest.mark.parametrize("mechanism", ["shape", "texture", "background"])
def test_vary_walks_one_mechanism_and_holds_the_others(model, mechanism):
    mix = mixing.MixSettings(shape=1, texture=2, background=3, shape_seed=4, texture_seed=5, background_seed=6,
                             size=32)
    cf = mixing.vary(model, mix, mechanism)
    assert len(cf) == model.num_classes(mechanism)
    assert getattr(cf, f"{mechanism}_class") == list(range(len(cf)))
    part = {"shape": "mask", "texture": "foreground", "background": "background"}
    for other in {"shape", "texture", "background"} - {mechanism}:
        held = getattr(cf, part[other])
        # The same for every tile, up to float rounding: a batch's rows may take different CPU
        # kernels (AVX-512 machines differ in the last bits); another seed or class differs by far more.
        assert torch.allclose(held, held[:1].expand_as(held), atol=1e-5, rtol=0)
    varied = getattr(cf, part[mechanism])
    assert not torch.equal(varied[0], varied[1])
    single = mixing.render(model, mixing.MixSettings(**{**vars(mix), mechanism: 1}))
    assert torch.allclose(cf.composite[1], single.composite[0], atol=1e-5)


def test_shapes_by_textures_is_row_major(model):
    mix = mixing.MixSettings(background=2, size=16)
    cf, rows, cols = mixing.shapes_by_textures(model, mix)
    assert (rows, cols) == ([0, 1, 2, 3], [0, 1, 2, 3, 4])
    assert cf.shape_class == [r for r in rows for _ in cols] and cf.texture_class == cols * len(rows)
    assert set(cf.background_class) == {2}


def test_zip_holds_every_tile_with_its_settings(model):
    mix = mixing.MixSettings(shape=1, texture=2, background=3, size=24)
    cf = mixing.vary(model, mix, "background")
    data = mixing.zip_of(cf, model.class_names, Image.new("RGB", (8, 8)))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        assert len(names) == len(cf) + 1 and "grid.png" in names
        first = [n for n in names if n.startswith("004-")][0]
        assert "test_background_4" in first
        settings = read_png_settings(io.BytesIO(archive.read(first)))
    assert settings == json.loads(json.dumps(cf.settings(4)))


def test_interpolation_starts_and_ends_on_the_two_mixes(model):
    mix = mixing.MixSettings(shape=1, texture=0, background=2, shape_seed=3, texture_seed=8, size=48)
    strip = mixing.interpolate(model, mix, "texture", to_class=4, to_seed=99, steps=5)
    assert len(strip) == 5
    start = mixing.render(model, mix).composite[0]
    end = mixing.render(model, mixing.MixSettings(**{**vars(mix), "texture": 4, "texture_seed": 99})).composite[0]
    assert torch.allclose(strip.composite[0], start, atol=1e-5)
    assert torch.allclose(strip.composite[-1], end, atol=1e-5)
    steps = [(strip.composite[i + 1] - strip.composite[i]).abs().mean().item() for i in range(4)]
    assert all(s > 0 for s in steps)
    assert torch.allclose(strip.mask, strip.mask[:1].expand_as(strip.mask), atol=1e-5, rtol=0)  # the shape held
    assert strip.extra["interpolation"]["to"]["texture"] == 4


def test_slerp_keeps_the_noise_norm_midway():
    torch.manual_seed(0)
    a, b = torch.randn(1, 512), torch.randn(1, 512)
    mid = mixing.slerp(a, b, torch.tensor([0.5]))
    lerp = 0.5 * (a + b)
    assert abs(mid.norm() / a.norm() - 1) < 0.05
    assert lerp.norm() / a.norm() < 0.8  # what slerp is for


def test_interpolation_rejects_silly_steps(model):
    mix = mixing.MixSettings(size=16)
    for steps in (1, 0, 65, 2.5, True):
        with pytest.raises(CgnArtError, match="steps"):
            mixing.interpolate(model, mix, "shape", to_class=1, steps=steps)
    with pytest.raises(CgnArtError, match="unknown mechanism"):
        mixing.interpolate(model, mix, "colour", steps=4)


def test_gif_loops_forwards_then_back(model):
    strip = mixing.interpolate(model, mixing.MixSettings(size=16), "background", to_class=3, steps=4)
    gif = Image.open(io.BytesIO(mixing.gif_bytes(strip)))
    assert gif.n_frames == 6 and gif.info.get("loop") == 0
    assert mixing.strip_image(strip).size == (4 * 16 + 3 * 2, 16)


def test_mp4_plays_the_loop_a_few_times(model, tmp_path):
    import imageio_ffmpeg

    strip = mixing.interpolate(model, mixing.MixSettings(size=48), "texture", to_class=2, steps=4)
    path = tmp_path / "walk.mp4"
    path.write_bytes(mixing.mp4_bytes(strip, fps=8, repeats=2))
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == 2 * 6  # 4 steps bounced (0 1 2 3 2 1), twice
    assert abs(seconds - 12 / 8) < 0.2


def test_grids_start_from_a_model_s_presets(model_dir):
    model = cgn_art.load_model(model_dir, device="cpu")
    assert mixing.suggested_classes(model, "texture") == [0, 1, 2, 3, 4]
    model.presets = {"shape": [3, 1], "texture": [4, 0, 2]}  # what the ImageNet CGN carries
    assert mixing.vary(model, mixing.MixSettings(size=16), "texture").texture_class == [4, 0, 2]
    cf, rows, cols = mixing.shapes_by_textures(model, mixing.MixSettings(size=16))
    assert (rows, cols) == ([3, 1], [4, 0, 2]) and cf.shape_class == [3, 3, 3, 1, 1, 1]
    assert mixing.suggested_classes(model, "background") == list(range(6))  # no preset: all


def test_thumbnails_are_the_parts_shrunk(model):
    cf = mixing.render(model, mixing.MixSettings(shape=1, texture=2, background=3, size=64))
    thumbs = mixing.thumbnails(cf, 32)
    assert thumbs["mask"].mode == "L" and thumbs["composite"].mode == "RGB"
    for part, image in thumbs.items():
        assert image.size == (32, 32)
        expected = cf.image(part).resize((32, 32), Image.Resampling.BOX)
        diff = [abs(a - b) for a, b in zip(image.tobytes(), expected.tobytes())]
        assert max(diff) <= 2, part  # the same picture, up to rounding


def test_the_mixers_jpeg_looks_like_the_png_and_keeps_colour_at_full_resolution():
    """The Mixer shows JPEG (fast to encode and fetch); it must not look worse than the PNG it replaced:
    4:2:0 chroma subsampling would blur a one-pixel red/green checker to brown."""
    from cgn_art.io import quick_jpeg

    model = cgn_art.load_model("letters")
    composite = mixing.render(model, mixing.MixSettings(shape=6, texture=1, background=2, size=512)).image("composite")
    shown = np.asarray(Image.open(io.BytesIO(quick_jpeg(composite))).convert("RGB"), dtype=np.float32)
    assert np.abs(shown - np.asarray(composite, dtype=np.float32)).mean() < 2.0  # of 255 levels
    checker = np.zeros((64, 64, 3), np.uint8)
    checker[::2, ::2, 0] = checker[1::2, 1::2, 0] = 255
    checker[1::2, ::2, 1] = checker[::2, 1::2, 1] = 255
    back = np.asarray(Image.open(io.BytesIO(quick_jpeg(Image.fromarray(checker)))).convert("RGB"), dtype=np.float32)
    assert np.abs(back - checker).mean() < 40  # subsampled it is ~100: every pixel turns brown
