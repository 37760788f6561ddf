"""The Texture Stylizer: texture sources, settings, the coarse-to-fine optimisation, colours, progress,
cancel, VGG19 with test-made weights, the texture walk and the CLI. Everything runs tiny (<= 64 px)."""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.stylize import tiny
from PIL import Image

import cgn_art
from cgn_art.errors import CgnArtError
from cgn_art.images import demo_photo
from cgn_art.stylize import StylizeSettings, fill, make_texture, stylize, texture_preview, wraps_seamlessly
from cgn_art.stylize.optimize import (
    _rgb_to_yiq,
    level_sizes,
    level_steps,
    luminance,
    make_stylize_encoder,
    match_palette,
    measure,
    working_size,
)
from cgn_art.stylize.textures import model_texture_wraps, pil_to_tensor, render_class_tile
from cgn_art.stylize.walk import WalkSettings, texture_walk, walk_textures

TINY = tiny(steps=3)  # the step counts below are checked


# one torch thread for the whole module (conftest.one_thread): the optimisations are tiny
pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return demo_photo("chelsea").resize((96, 64))


@pytest.fixture(scope="module")
def brick() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.brick()[:128, :128]).convert("RGB")


# Settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, words", [
    ({"size": 4000}, "size 4000 is out of range"),
    ({"size": "big"}, "not a whole number"),
    ({"strength": -1}, "strength -1 is out of range"),
    ({"blend": 1.5}, "blend"),
    ({"truncation": 0}, r"truncation 0 is out of range: give a number in \(0"),
    ({"colors": "sepia"}, "choose one of texture, luminance, palette"),
    ({"optimizer": "sgd"}, "choose one of lbfgs, adam"),
    ({"steps": 0}, "steps 0"),
    ({"strength": 0, "content_weight": 0}, "nothing to optimise"),
])
def test_settings_refuse_bad_values_with_a_message(changes, words):
    with pytest.raises(CgnArtError, match=words):
        StylizeSettings(**changes).validate()


def test_size_limit_depends_on_the_device():
    with pytest.raises(CgnArtError, match="too large for a CPU.*2048 on a GPU"):
        StylizeSettings(size=1500).validate(torch.device("cpu"))
    assert StylizeSettings(size=1500).validate(torch.device("cuda")).size == 1500


def test_settings_round_trip_through_a_dict():
    settings = StylizeSettings(texture_class=2, blend_class=3, blend=0.25, colors="luminance").validate()
    assert StylizeSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(CgnArtError, match="unknown stylize setting"):
        StylizeSettings.from_dict({"sise": 3})


# Texture sources ---------------------------------------------------------------------------

def test_cgn_texture_wraps_and_a_photo_crop_does_not(model, brick):
    tile = render_class_tile(model, StylizeSettings(texture_class=1), 32)
    assert wraps_seamlessly(tile)
    assert model_texture_wraps(model, StylizeSettings(texture_class=4))
    for name in ("astronaut", "coffee", "chelsea"):
        assert not wraps_seamlessly(pil_to_tensor(demo_photo(name).resize((64, 64))))
        assert not wraps_seamlessly(pil_to_tensor(demo_photo(name).resize((32, 32))))


def test_fill_is_seamless_both_ways(model, brick):
    tile = render_class_tile(model, StylizeSettings(texture_class=1), 32)
    plain = fill(tile, 70, 90)
    assert plain.shape == (1, 3, 70, 90)
    assert torch.equal(plain[..., :32, :32], tile) and torch.equal(plain[..., 32:64, 32:64], tile)
    photo_tile = pil_to_tensor(demo_photo("astronaut").resize((32, 32)))
    mirrored = fill(photo_tile, 64, 64, mirrored=True)
    assert torch.equal(mirrored[..., :32, 32:64], photo_tile.flip(-1))
    assert torch.equal(mirrored[..., 32:64, :32], photo_tile.flip(-2))
    # across every tile boundary the jump is no larger than a jump between neighbours inside
    jumps = (mirrored[..., :, 1:] - mirrored[..., :, :-1]).abs().mean(dim=(0, 1, 2))
    assert jumps[31] <= jumps.max()
    assert jumps[31] < (photo_tile[..., :, 0] - photo_tile[..., :, -1]).abs().mean()


def test_blend_goes_from_one_class_to_the_other(model):
    a = make_texture(StylizeSettings(texture_class=0), 32, 32, model=model)
    b = make_texture(StylizeSettings(texture_class=3), 32, 32, model=model)
    assert not torch.allclose(a, b, atol=1e-3)
    def blended(weight):
        return make_texture(StylizeSettings(texture_class=0, blend_class=3, blend=weight), 32, 32, model=model)

    assert torch.allclose(blended(0.0), a)
    assert torch.allclose(blended(1.0), b)
    middle = make_texture(StylizeSettings(texture_class=0, blend_class=3, blend=0.5), 32, 32, model=model)
    assert (middle - a).abs().mean() > 1e-3 and (middle - b).abs().mean() > 1e-3


def test_uploaded_texture_and_previews(model, brick):
    texture = make_texture(StylizeSettings(texture_scale=0.5), 40, 60, texture_image=brick)
    assert texture.shape == (1, 3, 40, 60)
    preview = texture_preview(StylizeSettings(texture_class=2), model=model, size=64)
    assert preview.size == (64, 64) and preview.mode == "RGB"
    assert texture_preview(StylizeSettings(), texture_image=brick, size=32).size == (32, 32)
    with pytest.raises(CgnArtError, match="no texture"):
        make_texture(StylizeSettings(), 8, 8)
    with pytest.raises(CgnArtError, match="texture class 9 is out of range"):
        make_texture(StylizeSettings(texture_class=9), 8, 8, model=model)


# The optimisation ---------------------------------------------------------------------------

def test_pyramid_halves_and_gives_coarse_levels_more_steps():
    assert level_sizes(512, 341, 3) == [(128, 85), (256, 170), (512, 341)]
    assert level_sizes(64, 64, 4) == [(16, 16), (32, 32), (64, 64)]  # never below 16 px
    assert level_steps(25, 3) == [100, 50, 25]
    assert working_size(Image.new("RGB", (300, 200)), 96) == (64, 96)


@pytest.mark.parametrize("changes", [{}, {"content_weight": 0, "smoothness": 0, "strength": 2},
                                     {"strength": 0.3, "content_weight": 3}, {"encoder_scales": "coarsest"}])
def test_written_out_gradient_is_autograds(changes, monkeypatch):
    """Objective.loss_and_grad (the gradient written out, what stylize runs) gives autograd's loss and
    gradient through the same losses, including the smoothness and range terms."""
    from cgn_art.stylize import optimize

    changes = dict(changes)
    if changes.pop("encoder_scales", None):
        monkeypatch.setattr(optimize, "CONTENT_SCALES", "coarsest")
    encoder = make_stylize_encoder("random", "cpu")
    g = torch.Generator().manual_seed(0)
    photo, texture = torch.rand(1, 3, 40, 56, generator=g), torch.rand(1, 3, 40, 56, generator=g)
    objective = optimize.Objective(encoder, photo, texture, StylizeSettings(**changes))
    image = (photo + 0.3 * torch.randn(photo.shape, generator=g)).requires_grad_(True)  # some pixels outside [0, 1]
    loss, style, content = objective(image)
    loss.backward()
    expected, image.grad = image.grad.clone(), None
    total, style2, content2 = objective.loss_and_grad(image)
    assert total == pytest.approx(float(loss.detach()), rel=1e-5) and style2 == pytest.approx(style, rel=1e-5)
    assert content2 == pytest.approx(content, rel=1e-5, abs=1e-9)
    assert float((image.grad - expected).abs().max()) < 1e-5 * float(expected.abs().max())


def test_detail_is_capped_at_the_photos_local_contrast():
    """cap_detail: on a calm half of the photo a strong pattern is turned down to about the floor (still
    there, same sign), on a busy half it keeps its contrast; colour (I, Q) is untouched."""
    from cgn_art.stylize.optimize import cap_detail, gaussian_blur

    g = torch.Generator().manual_seed(0)
    photo = torch.full((1, 3, 64, 128), 0.5)
    photo[..., 64:] += 0.3 * (torch.rand(1, 1, 64, 64, generator=g) - 0.5)  # busy right half
    stripes = 0.2 * torch.sign(torch.sin(torch.arange(128.0) * 2.1)).expand(1, 3, 64, 128)
    result = (0.5 + stripes * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)).clamp(0, 1)
    capped = cap_detail(result, photo, floor=0.02)

    def detail(x):
        y = _rgb_to_yiq(x)[:, :1]
        return y - gaussian_blur(y, 2.0)
    calm_before, calm_after = detail(result)[..., 8:56, 8:56], detail(capped)[..., 8:56, 8:56]
    assert float(calm_after.std()) < 0.04 < 0.5 * float(calm_before.std())
    assert float((calm_after * calm_before).mean()) > 0  # the same pattern, fainter
    busy_before, busy_after = detail(result)[..., 8:56, 72:120], detail(capped)[..., 8:56, 72:120]
    assert float(busy_after.std()) > 0.6 * float(busy_before.std())
    assert torch.allclose(_rgb_to_yiq(capped)[:, 1:], _rgb_to_yiq(result)[:, 1:], atol=1e-3)  # YIQ is rounded
    assert torch.allclose(cap_detail(photo, photo, floor=0.02), photo, atol=1e-3)  # the photo itself passes


def test_stylize_moves_the_photo_toward_the_texture(model, photo):
    settings = StylizeSettings(texture_class=2, **TINY)
    result = stylize(photo, settings, model=model)
    assert result.image.size == (48, 32) and result.steps == [6, 3] and not result.cancelled
    encoder = make_stylize_encoder("random", "cpu")
    texture = make_texture(settings, 32, 48, model=model)
    photo_tensor = pil_to_tensor(photo.resize((48, 32), Image.Resampling.LANCZOS))
    before, _ = measure(encoder, photo_tensor, texture, photo_tensor, settings)
    assert result.style_loss < 0.5 * before
    assert result.settings["texture_class"] == 2
    again = stylize(photo, settings, model=model)
    assert torch.equal(again.tensor, result.tensor)  # deterministic for the seed


def test_strength_and_content_weight_trade_off(model, photo):
    photo_tensor = pil_to_tensor(photo.resize((48, 32), Image.Resampling.LANCZOS))
    gentle = stylize(photo, StylizeSettings(texture_class=2, strength=0.05, content_weight=5, **TINY), model=model)
    strong = stylize(photo, StylizeSettings(texture_class=2, strength=5, content_weight=0.2, **TINY), model=model)
    assert (gentle.tensor - photo_tensor).abs().mean() < (strong.tensor - photo_tensor).abs().mean()
    assert strong.style_loss < gentle.style_loss


def test_adam_and_single_scale_also_reduce_the_style_loss(model, photo):
    settings = StylizeSettings(texture_class=2, size=32, steps=8, levels=1, optimizer="adam", device="cpu")
    result = stylize(photo, settings, model=model)
    photo_tensor = pil_to_tensor(photo.resize((48, 32), Image.Resampling.LANCZOS))
    assert result.steps == [8]
    assert (result.tensor - photo_tensor[..., :, :].new_zeros(1)).shape[-1] == 32
    assert result.style_loss < stylize(photo, settings.replace(steps=1), model=model).style_loss


def test_keep_colours_luminance_and_palette(model, photo):
    result = stylize(photo, StylizeSettings(texture_class=2, colors="luminance", **TINY), model=model)
    photo_yiq = _rgb_to_yiq(pil_to_tensor(photo.resize((48, 32), Image.Resampling.LANCZOS)))
    result_yiq = _rgb_to_yiq(result.tensor)
    # chroma (I, Q) is the photo's; only luminance changed (up to clamping to [0, 1] and 8-bit output)
    assert (result_yiq[:, 1:] - photo_yiq[:, 1:]).abs().mean() < 0.02
    texture = torch.rand(1, 3, 16, 16) * torch.tensor([1.0, 0.2, 0.1]).view(1, 3, 1, 1)
    target = torch.rand(1, 3, 16, 16) * 0.5 + 0.25
    matched = match_palette(texture, target)
    assert torch.allclose(matched.mean(dim=(2, 3)), target.mean(dim=(2, 3)), atol=0.02)
    palette = stylize(photo, StylizeSettings(texture_class=2, colors="palette", **TINY), model=model)
    assert palette.image.size == (48, 32)
    assert luminance(result.tensor).shape == (1, 3, 32, 48)


def test_progress_previews_and_cancel(model, photo):
    fractions, previews = [], []
    stylize(photo, StylizeSettings(texture_class=1, **TINY), model=model,
            progress=lambda f, m: fractions.append((f, m)), preview=lambda image, m: previews.append(image),
            preview_every=0)
    assert len(fractions) == 6 + 3 + 1 and fractions[-1][0] == 1.0
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(fractions))
    assert "level 1/2" in fractions[0][1] and previews and previews[-1].size == (48, 32)

    stop = threading.Event()
    calls = []

    def progress(fraction, message):
        calls.append(fraction)
        if len(calls) == 2:
            stop.set()
    result = stylize(photo, StylizeSettings(texture_class=1, **TINY), model=model, progress=progress, cancel=stop)
    assert result.cancelled and result.steps == [2] and result.image.size == (48, 32)
    assert stylize(photo, StylizeSettings(texture_class=1, **TINY), model=model, cancel=lambda: True).steps == [0]


def test_uploaded_texture_stylizes_without_a_model(photo, brick):
    result = stylize(photo, StylizeSettings(**TINY), texture_image=brick)
    assert result.image.size == (48, 32) and math.isfinite(result.style_loss)


def test_vgg19_encoder_with_test_made_weights(monkeypatch, tmp_path, photo, model):
    """VGG19 as the style encoder, loaded from a torch hub cache laid out here (weights made by the test)."""
    from torch import nn

    from cgn_art.features import vgg19_weights_path

    monkeypatch.delenv("TORCH_HUB", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = vgg19_weights_path()
    path.parent.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    state, index, channels = {}, 0, 3
    for item in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512]:  # up to conv4_1 (relu4_1)
        if item == "M":
            index += 1
            continue
        scale = math.sqrt(2 / (9 * channels))
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3, generator=generator) * scale
        state[f"features.{index}.bias"] = torch.zeros(item)
        index, channels = index + 2, item
    torch.save(state, path)
    encoder = make_stylize_encoder("vgg19", torch.device("cpu"))
    assert not isinstance(encoder, nn.Identity) and type(encoder).__name__ == "VGGEncoder"
    result = stylize(photo, StylizeSettings(texture_class=2, encoder="vgg19", size=32, steps=2, levels=1, device="cpu"),
                     model=model, encoder=encoder)
    assert result.image.size == (32, 21) and math.isfinite(result.style_loss)


# Texture walk --------------------------------------------------------------------------------

def video_frames(path: Path) -> tuple[list[np.ndarray], dict]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
    return frames, meta


def probe(path: Path) -> str:
    from cgn_art.video import ffmpeg_exe

    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                          check=False).stderr


def test_texture_walk_is_a_browser_playable_mp4_and_warm_start_is_calmer(model, photo, tmp_path):
    settings = StylizeSettings(texture_class=0, size=48, steps=3, levels=2, device="cpu")
    walk = WalkSettings(seconds=1, fps=6, path="class", to_class=3, frame_steps=3)
    warm = texture_walk(photo, tmp_path / "warm.mp4", settings, walk, model=model, keep_frames=True)
    cold_walk = walk.__class__(**{**walk.to_dict(), "warm_start": False})
    cold = texture_walk(photo, tmp_path / "cold.mp4", settings, cold_walk, model=model, keep_frames=True)
    frames, meta = video_frames(tmp_path / "warm.mp4")
    assert len(frames) == warm["frames"] == 6 and meta["size"] == (48, 32)
    info = probe(tmp_path / "warm.mp4")
    assert "h264" in info and "yuv420p" in info
    assert warm["mean_frame_change"] < cold["mean_frame_change"]
    # the walk really moves: the last frame is not the first
    assert (warm["frames_tensors"][-1] - warm["frames_tensors"][0]).abs().mean() > 1e-3


def test_seed_walk_and_bad_walks(model, photo, tmp_path):
    settings = StylizeSettings(texture_class=1, size=32, steps=2, levels=1, device="cpu")
    summary = texture_walk(photo, tmp_path / "seed.mp4", settings,
                           WalkSettings(seconds=0.5, fps=4, path="seed", to_seed=5, frame_steps=1), model=model)
    assert summary["frames"] == 2 and (tmp_path / "seed.mp4").is_file()
    with pytest.raises(CgnArtError, match="mp4"):
        texture_walk(photo, tmp_path / "walk.gif", settings, WalkSettings(), model=model)
    with pytest.raises(CgnArtError, match="path"):
        WalkSettings(path="spiral").validate()
    with pytest.raises(CgnArtError, match="out of range"):
        texture_walk(photo, tmp_path / "walk.mp4", settings, WalkSettings(to_class=99), model=model)
    stop = threading.Event()
    stop.set()
    with pytest.raises(CgnArtError, match="cancelled"):
        texture_walk(photo, tmp_path / "stopped.mp4", settings, WalkSettings(seconds=0.5, fps=4), model=model,
                     cancel=stop)
    assert not (tmp_path / "stopped.mp4").exists()


def test_seed_walk_runs_from_one_seed_to_the_other_and_stays_put_on_one_seed(model):
    settings = StylizeSettings(texture_class=1, texture_seed=2, size=32, device="cpu").validate()
    walk = WalkSettings(seconds=1, fps=5, path="seed", to_seed=9).validate()
    frames = list(walk_textures(model, settings, walk, 24, 24))
    ends = [list(walk_textures(model, settings.replace(texture_seed=seed),
                               WalkSettings(seconds=1, fps=2, path="seed", to_seed=seed).validate(), 24, 24))[0]
            for seed in (2, 9)]
    torch.testing.assert_close(frames[0], ends[0])
    torch.testing.assert_close(frames[-1], ends[1], atol=1e-5, rtol=1e-5)
    # the same seed at both ends: every frame is that seed's texture (the noise neither grows nor shrinks midway)
    still = list(walk_textures(model, settings, WalkSettings(seconds=1, fps=5, path="seed", to_seed=2).validate(),
                               24, 24))
    for frame in still:
        torch.testing.assert_close(frame, ends[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(CgnArtError, match="to seed True is not a whole number"):
        WalkSettings(to_seed=True).validate()


# Command line --------------------------------------------------------------------------------

def test_cli_stylize_writes_a_png_with_its_settings(model_dir, tmp_path, capsys):
    from cgn_art.cli import main
    from cgn_art.io import read_png_settings

    photo = tmp_path / "photo.jpg"
    demo_photo("coffee").resize((60, 40)).save(photo)
    out = tmp_path / "out.png"
    assert main(["stylize", str(photo), "-o", str(out), "--model", str(model_dir), "--device", "cpu",
                 "--texture-class", "test texture 2", "--size", "48", "--steps", "2", "--levels", "2",
                 "--strength", "2", "--keep-colors"]) == 0
    settings = read_png_settings(out)
    assert settings["texture_class"] == 2 and settings["colors"] == "luminance" and settings["strength"] == 2
    assert settings["photo"] == "photo.jpg" and settings["texture"] == "test texture 2"
    assert Image.open(out).size == (48, 32)


@pytest.mark.parametrize("argv, words", [
    (["stylize", "demo:chelsea", "-o", "x.jpg"], "ending in .png"),
    (["stylize", "demo:eagle", "-o", "x.png"], "unknown demo photo"),
    (["stylize", "demo:chelsea", "-o", "x.png", "--size", "5000"], "size 5000 is out of range"),
    (["stylize", "demo:chelsea", "-o", "x.png", "--texture-class", "plaid"], "unknown texture class 'plaid'"),
    (["stylize", "demo:chelsea", "-o", "x.png", "--keep-colors", "--colors", "palette"], "disagree"),
    (["stylize-walk", "demo:chelsea", "-o", "x.gif"], "ending in .mp4"),
])
def test_cli_mistakes_end_in_one_line(argv, words, capsys, tmp_path, monkeypatch):
    from cgn_art.cli import main

    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 or err[-1].startswith("cgn-art: error:"), err
    assert err[-1].startswith("cgn-art: error:") and words in err[-1]


def test_cli_bad_photo_file(tmp_path, capsys):
    from cgn_art.cli import main

    fake = tmp_path / "holiday.jpg"
    fake.write_text("not really a photo")
    assert main(["stylize", str(fake), "-o", str(tmp_path / "o.png"), "--device", "cpu"]) == 1
    assert "holiday.jpg: is not an image" in capsys.readouterr().err


def test_cli_stylize_walk(model_dir, tmp_path):
    from cgn_art.cli import main

    out = tmp_path / "walk.mp4"
    assert main(["stylize-walk", "demo:chelsea", "-o", str(out), "--model", str(model_dir), "--device", "cpu",
                 "--size", "32", "--steps", "1", "--levels", "1", "--seconds", "0.5", "--fps", "4",
                 "--to-class", "test texture 3", "--frame-steps", "1"]) == 0
    frames, _ = video_frames(out)
    assert len(frames) == 2 and "h264" in probe(out)


# The page (Streamlit AppTest) ----------------------------------------------------------------

@pytest.fixture
def app(model_dir):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app/Home.py", default_timeout=120)
    at.switch_page("views/stylizer.py").run()
    assert not at.exception, at.exception
    at.text_input(key="model_folder").input(str(model_dir)).run()  # the test model: classes look different
    assert not at.exception and not at.error
    return at


def finish_jobs(at):
    """Wait for the heavy jobs the page queued (they run on their own threads), then rerun the page."""
    from cgn_art.runtime.jobs import default_queue

    for job in default_queue().jobs():
        job.wait()
    return at.run()


def fast(at):
    """Settings that make a stylization take a second or two."""
    at.select_slider(key="sty_size").set_value(256)
    at.slider(key="sty_steps").set_value(5)
    at.slider(key="sty_levels").set_value(2)
    return at.run()


def test_page_demo_photo_to_stylized_png_download(app):
    from cgn_art.io import read_png_settings

    app.selectbox(key="sty_demo").select("chelsea")
    app.selectbox(key="sty_class").select(2)
    fast(app)
    captions = [image.proto.imgs[0].caption for image in app.image]
    assert any(c.startswith("Photo: chelsea") for c in captions)
    assert any(c.startswith("Texture: test texture 2") for c in captions)
    widgets = [*app.selectbox, *app.slider, *app.select_slider, *app.button, *app.radio]
    assert all(widget.help for widget in widgets), [w.label for w in widgets if not w.help]
    finish_jobs(app.button(key="sty_run").click().run())
    assert not app.exception and not app.error
    captions = [image.proto.imgs[0].caption for image in app.image]
    assert "Before" in captions and any(c.startswith("After (256 x 170") for c in captions)
    saved = app.session_state["sty_result"]
    settings = read_png_settings(__import__("io").BytesIO(saved["png"]))
    assert settings["texture_class"] == 2 and settings["photo"] == "chelsea" and settings["size"] == 256
    assert app.get("download_button")[0].label == "Download PNG"


def test_page_upload_photo_and_texture_and_bad_files(app):
    import io

    buffer = io.BytesIO()
    demo_photo("coffee").resize((120, 80)).save(buffer, format="JPEG")
    app.radio(key="sty_photo_from").set_value("My photo").run()
    assert any("Upload a photo" in info.value for info in app.info)
    app.file_uploader(key="sty_photo_upload").upload("holiday.jpg", b"just some text, renamed", "image/jpeg").run()
    assert not app.exception
    assert "holiday.jpg: is not an image" in app.error[0].value
    app.file_uploader(key="sty_photo_upload").upload("coffee.jpg", buffer.getvalue(), "image/jpeg").run()
    assert not app.exception and not app.error
    texture = io.BytesIO()
    Image.fromarray(__import__("skimage").data.brick()[:96, :96]).convert("RGB").save(texture, format="PNG")
    app.radio(key="sty_texture_from").set_value("My texture image").run()
    app.file_uploader(key="sty_texture_upload").upload("brick.png", texture.getvalue(), "image/png").run()
    fast(app)
    finish_jobs(app.button(key="sty_run").click().run())
    assert not app.exception and not app.error
    assert read_png_settings_from(app)["texture"] == "brick.png"
    assert any("pick a texture class" in info.value for info in app.info)  # no walk for an uploaded texture


def read_png_settings_from(app) -> dict:
    import io

    from cgn_art.io import read_png_settings

    return read_png_settings(io.BytesIO(app.session_state["sty_result"]["png"]))


def test_page_texture_walk_video(app):
    app.selectbox(key="sty_demo").select("chelsea")
    fast(app)
    app.select_slider(key="sty_walk_size").set_value(128)
    app.slider(key="sty_walk_seconds").set_value(1.0)
    app.select_slider(key="sty_walk_fps").set_value(6)
    app.slider(key="sty_walk_steps").set_value(1)
    finish_jobs(app.button(key="sty_walk_run").click().run())
    assert not app.exception and not app.error
    walked = app.session_state["sty_walk"]
    assert walked["frames"] == 6 and Path(walked["path"]).is_file()
    assert app.get("video") and app.get("download_button")[-1].label == "Download the walk (mp4)"


class FixedSizeTexture(cgn_art.Mechanisms):
    """Like the ImageNet CGN's texture: a fixed-size picture (a gradient plus noise, which does not
    wrap around) resized to whatever size is asked for. Only the Mechanisms contract is implemented."""

    native_size = 16

    @property
    def class_names(self):
        return {"shape": ["s"], "texture": ["t0", "t1"], "background": ["b"]}

    def noise(self, mechanism, seeds, truncation, size):
        return torch.stack([torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(s)) for s in seeds])

    def mechanism(self, mechanism, weights, noise, size):
        ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(len(noise), 3, 16, 16)
        picture = 0.7 * ramp + 0.3 * noise * (1 + weights[:, 1:2, None, None])
        return torch.nn.functional.interpolate(picture, size=(size, size), mode="bilinear").clamp(0, 1)


def test_a_fixed_size_texture_is_tiled_mirrored_without_seams(photo):
    model = FixedSizeTexture()
    settings = StylizeSettings(texture_class=1, **TINY)
    assert not model_texture_wraps(model, settings)
    texture = make_texture(settings.replace(texture_scale=0.5), 32, 48, model=model)
    tile = render_class_tile(model, settings, 24)
    assert torch.allclose(texture[..., :24, :24], tile) and torch.allclose(texture[..., :24, 24:48], tile.flip(-1))
    result = stylize(photo, settings, model=model)
    assert result.image.size == (48, 32) and math.isfinite(result.style_loss)


@pytest.mark.slow
def test_page_two_regions_box_mask_download_and_upload(app):
    """Two regions on the page: the box (four sliders) finds the subject, the mask shows and downloads,
    the result records both textures; an uploaded mask replaces the box; a wrong-size mask gets one line."""
    import io

    app.selectbox(key="sty_demo").select("chelsea")
    app.selectbox(key="sty_class").select(1)
    fast(app)
    app.radio(key="sty_regions").set_value("two").run()
    assert not app.exception and not app.error
    if "sty_box_way" in [r.key for r in app.radio]:
        app.radio(key="sty_box_way").set_value("Four sliders").run()
    app.slider(key="sty_box_x").set_value((60, 380)).run()
    app.slider(key="sty_box_y").set_value((20, 290)).run()
    app.selectbox(key="sty_background").select("background:2").run()
    assert not app.exception and not app.error
    captions = [image.proto.imgs[0].caption for image in app.image]
    assert any(c.startswith("The mask (GrabCut)") for c in captions)
    labels = [b.label for b in app.get("download_button")]
    assert "Download the mask (PNG)" in labels
    widgets = [*app.selectbox, *app.slider, *app.radio]
    assert all(widget.help for widget in widgets), [w.label for w in widgets if not w.help]
    finish_jobs(app.button(key="sty_run").click().run())
    assert not app.exception and not app.error
    settings = read_png_settings_from(app)
    assert settings["regions"] == "two" and settings["subject_box"] == "60,20,380,290"
    assert settings["background_mechanism"] == "background" and settings["background_texture_class"] == 2
    mask_png = app.session_state["sty_result"]["mask"]
    assert Image.open(io.BytesIO(mask_png)).size == (451, 300)

    app.radio(key="sty_mask_from").set_value("upload").run()
    wrong = io.BytesIO()
    Image.new("L", (100, 100), 255).save(wrong, format="PNG")
    app.file_uploader(key="sty_mask_upload").upload("square.png", wrong.getvalue(), "image/png").run()
    assert not app.exception
    assert "square.png is 100 x 100 but the photo is 451 x 300" in app.error[0].value
    app.file_uploader(key="sty_mask_upload").upload("mask.png", mask_png, "image/png").run()
    app.radio(key="sty_subject_gets").set_value("photo").run()  # only the background is stylized
    assert not app.exception and not app.error
    finish_jobs(app.button(key="sty_run").click().run())
    settings = read_png_settings_from(app)
    assert settings["subject_mask"] == "mask.png" and settings["keep_subject_photo"] is True
