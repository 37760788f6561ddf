"""Materials: synthesis at any size and seed, blends that keep contrast, and materials from a user's photos."""
from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.evaluate.materials import fine_structure, grey, repetition
from cgn_art.materials import store
from cgn_art.materials.synthesis import Material, Source, blend, paint
from cgn_art.mechanisms.weights import load_model


def pebbles(seed: int, size=(320, 240), hue=(0.35, 0.55, 0.2)) -> np.ndarray:
    """A made-up photo (H, W, 3) uint8: soft blobs with grain, in one hue; no two seeds alike."""
    rng = np.random.default_rng(seed)
    w, h = size
    blobs = np.asarray(Image.fromarray((rng.random((h // 16, w // 16)) * 255).astype(np.uint8))
                       .resize((w, h), Image.Resampling.BICUBIC), np.float32) / 255
    grey = np.clip(0.7 * blobs + 0.3 * rng.random((h, w)), 0, 1)
    return (np.clip(grey[..., None] * 1.6 * np.array(hue), 0, 1) * 255).astype(np.uint8)


def encoded(array: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    monkeypatch.setenv(store.ENV, str(tmp_path / "user-models"))
    return tmp_path / "user-models"


def _material(seed=0, tileable=False) -> Material:
    from cgn_art.mechanisms.exemplar import material_of

    return material_of([Source(torch.from_numpy(pebbles(seed).transpose(2, 0, 1).copy()), tileable)])


# Synthesis -----------------------------------------------------------------------------------------

def test_a_place_is_the_same_texture_at_any_size_and_nothing_repeats():
    material = _material()
    big = paint(material, 100, 300, 400, 500)
    assert torch.equal(paint(material, 100, 300, 150, 170), big[:, :150, :170])  # a corner of the same plane
    assert torch.equal(paint(material, 180, 420, 50, 60), big[:, 80:130, 120:180])
    assert not torch.allclose(paint(material, 2000, 300, 150, 170), big[:, :150, :170])  # another place
    plane = paint(material, 0, 0, 1024, 1024)[None]
    tiled = paint(material, 0, 0, 128, 128)[None].repeat(1, 1, 8, 8)
    assert repetition(plane) < 0.5 < 0.99 < repetition(tiled)   # the check can fail, and synthesis passes it


def test_synthesis_keeps_the_photo_colours_and_its_pixel_scale():
    photo = pebbles(3)
    material = _material(3)
    picture = paint(material, 0, 0, 480, 480)
    source = torch.from_numpy(photo).permute(2, 0, 1).float()[None] / 255
    assert torch.allclose(picture.mean((1, 2)), source.mean((0, 2, 3)), atol=0.03)
    assert abs(float(picture.std()) - float(source.std())) < 0.03
    # crisp: the photo's own detail; the same photo stretched 4x has a fraction of it
    stretched = torch.nn.functional.interpolate(source, scale_factor=4, mode="bilinear")
    assert fine_structure(picture[None]) > 0.8 * fine_structure(source)
    assert fine_structure(stretched) < 0.35 * fine_structure(source)


def test_a_blend_keeps_its_contrast_where_an_average_turns_to_mud():
    a, b = paint(_material(1), 0, 0, 200, 200), paint(_material(2), 0, 0, 200, 200)
    means = torch.stack([a.mean((1, 2)), b.mean((1, 2))])
    half = blend(torch.stack([a, b]), torch.tensor([0.5, 0.5]), means)
    contrast = lambda x: float(grey(x[None]).std())  # noqa: E731
    ends = (contrast(a) + contrast(b)) / 2
    assert contrast(half) > 0.9 * ends
    assert contrast((a + b) / 2) < 0.8 * ends   # a plain average: two independent patterns cancel


@pytest.mark.parametrize("kind", ["texture", "background"])
def test_the_shipped_letters_model_paints_every_class_crisp_at_any_shape(kind):
    """Each class at 1 material px per px keeps its detail; the same class zoomed in 7.5x (a
    1920 px poster's stretch before materials) keeps under half of it."""
    from cgn_art.mechanisms.exemplar import material_zoom

    model = load_model("letters", device="cpu")
    field = getattr(model, kind)
    noise = model.noise(kind, [1], 1.0, 1)
    for c in range(model.num_classes(kind)):
        weights = model.one_hot(kind, [c])
        picture = field.paint(weights, noise, 270, 480)
        assert picture.shape == (1, 3, 270, 480)
        stretched = field.paint(weights, noise, 270, 480, zoom=material_zoom(1920, model.config.exemplar_side, 1))
        assert fine_structure(stretched) < 0.5 * fine_structure(picture), model.class_names[kind][c]


def test_an_old_single_quilt_model_still_loads_and_renders(tmp_path):
    from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
    from cgn_art.mechanisms.weights import save_model

    cfg = SmallCGNConfig(variant="letters", shape_classes=list("AB"), texture_classes=["t"], background_classes=["b"],
                         native_size=16, width=8, fields="exemplar", exemplar_side=64)
    model = SmallCGN(cfg)
    model.texture.exemplars.copy_(torch.from_numpy(pebbles(0, (64, 64)).transpose(2, 0, 1).copy())[None])
    save_model(model, tmp_path / "old")
    config = (tmp_path / "old" / "config.json").read_text()
    assert '"materials": null' in config
    again = load_model(tmp_path / "old", device="cpu")
    cf = again.counterfactual(0, 0, 0, seed=3, size=128)
    assert float(cf.foreground.std()) > 0.05


# Your own materials --------------------------------------------------------------------------------

def test_three_photos_become_a_texture_that_every_page_can_load(user_models):
    photos = [encoded(pebbles(i)) for i in range(3)]
    path = store.add_material("letters", "texture", "moss", photos, photo_names=["a.jpg", "b.jpg", "c.jpg"])
    assert path == user_models / "my-letters"
    assert "my-letters" in store.user_models()
    model = load_model("my-letters", device="cpu")
    assert model.name == "my-letters" and model.class_names["texture"][-1] == "moss"
    index = len(model.class_names["texture"]) - 1
    cf = model.counterfactual(0, index, 0, seed=2, size=128)
    green = cf.foreground[0].mean((1, 2))
    assert green[1] > green[0] and green[1] > green[2]     # it is the photos' green
    listed = store.list_materials("my-letters")["texture"]
    assert listed[-1] == ("moss", True) and listed[0] == ("brick", False)
    # a second material goes into the same user model; the first stays
    store.add_material("my-letters", "background", "dunes", [encoded(pebbles(9, hue=(0.6, 0.5, 0.3)))])
    again = load_model("my-letters", device="cpu")
    assert again.class_names["texture"][-1] == "moss" and again.class_names["background"][-1] == "dunes"
    store.remove_material("my-letters", "texture", "moss")
    assert "moss" not in load_model("my-letters", device="cpu").class_names["texture"]


@pytest.mark.parametrize("photo, name, message", [
    (b"not an image at all", "moss", "not an image"),
    (encoded(pebbles(0, (10, 10)), "PNG"), "moss", "only 10 x 10"),
    (encoded(np.full((200, 200, 3), 90, np.uint8), "PNG"), "moss", "one flat colour"),
    (encoded(pebbles(0)), "../etc", "path characters"),
    (encoded(pebbles(0)), "brick", "already exists"),
])
def test_bad_input_gets_one_line_and_writes_nothing(user_models, photo, name, message):
    with pytest.raises(CgnArtError, match=message):
        store.add_material("letters", "texture", name, [photo], photo_names=["x.jpg"])
    assert not user_models.exists() or not any(user_models.iterdir())


def test_odd_but_valid_photos_are_read_right(user_models):
    rgb = pebbles(4)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    sixteen = Image.fromarray(rgb[..., 1].astype(np.uint16) * 257)
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:])
    from cgn_art.materials.photos import read_photo

    assert abs(read_photo(_jpeg(cmyk)).mean() - rgb.mean()) < 8
    assert abs(read_photo(_png(sixteen)).mean() - rgb[..., 1].mean()) < 2         # not clipped to white
    assert abs(read_photo(animated.getvalue()).astype(float).mean() - rgb.mean()) < 12   # the first frame


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def _png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_limits_on_photos_and_on_removing(user_models, monkeypatch, tmp_path):
    from cgn_art.materials import photos

    monkeypatch.setattr(photos, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "huge.jpg"
    big.write_bytes(encoded(pebbles(0)))
    with pytest.raises(CgnArtError, match="huge.jpg: is 0 MB; a material photo may be at most"):
        store.add_material("letters", "texture", "moss", [big])
    monkeypatch.setattr(photos, "MAX_FILE_BYTES", 50 * 2**20)
    with pytest.raises(CgnArtError, match="a material takes 1 to 20"):
        store.add_material("letters", "texture", "moss", [encoded(pebbles(0))] * 21)
    with pytest.raises(CgnArtError, match="not a user model"):
        store.remove_material("letters", "texture", "brick")
    store.add_material("letters", "texture", "moss", [encoded(pebbles(0))])
    with pytest.raises(CgnArtError, match="came with the model"):
        store.remove_material("my-letters", "texture", "brick")
    with pytest.raises(CgnArtError, match="region"):
        store.add_material("my-letters", "texture", "lichen", [encoded(pebbles(1))], regions=[(0.5, 0, 0.2, 1)])


def test_a_save_cut_short_leaves_the_old_model_whole(user_models, monkeypatch):
    store.add_material("letters", "texture", "moss", [encoded(pebbles(0))])
    before = (user_models / "my-letters" / "model.safetensors").read_bytes()
    from cgn_art.mechanisms import weights

    def crash(model, folder, extra=None, format=None):
        (folder / "model.safetensors").write_bytes(b"half a mod")
        raise KeyboardInterrupt

    monkeypatch.setattr(weights, "save_model", crash)
    with pytest.raises(KeyboardInterrupt):
        store.add_material("my-letters", "texture", "lichen", [encoded(pebbles(1))])
    assert (user_models / "my-letters" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in user_models.iterdir()) == ["my-letters"]
    # a swap cut between its two renames: the old model is put back when the folder is next read,
    # once it is clearly stale (a swap under way in another session is left alone)
    old = user_models / f"{store.OLD}my-letters"
    (user_models / "my-letters").rename(old)
    assert list(store.user_models()) == [] and old.exists()
    os.utime(old, (time.time() - 2 * store.STALE_SECONDS,) * 2)
    assert list(store.user_models()) == ["my-letters"]
    assert load_model("my-letters", device="cpu").class_names["texture"][-1] == "moss"


def test_the_cli_adds_lists_previews_and_removes(user_models, tmp_path, capsys):
    photo = tmp_path / "moss.png"
    Image.fromarray(pebbles(5)).save(photo)
    assert main(["materials", "add", "letters", "--texture", "moss", str(photo)]) == 0
    assert "model my-letters" in capsys.readouterr().out
    assert main(["materials", "list", "my-letters"]) == 0
    assert "moss (yours)" in capsys.readouterr().out
    out = tmp_path / "moss-1080.png"
    assert main(["materials", "preview", "my-letters", "--texture", "moss", "-o", str(out), "--size", "300"]) == 0
    assert Image.open(out).size == (300, 300)
    assert main(["type", "MOSS", "--model", "my-letters", "--textures", "moss", "-o", str(tmp_path / "p.png"),
                 "--format", "square"]) == 0
    assert main(["materials", "remove", "my-letters", "--texture", "brick"]) == 1
    assert "came with the model" in capsys.readouterr().err
    assert main(["materials", "add", "letters", "--texture", "x", str(tmp_path / "missing.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    assert main(["materials", "remove", "my-letters", "--texture", "moss"]) == 0
