"""The Letters data set, the detail levels of the small CGN, and training on a registered data set."""
import numpy as np
import pytest
import torch
from helpers.letters import tiny_letters_model

from cgn_art.data import letters
from cgn_art.data.registry import DATASETS, dataset
from cgn_art.errors import CgnArtError


def test_held_out_fonts_never_build_training_images():
    assert not set(letters.HELD_OUT_FONTS) & set(letters.TRAIN_FONTS)
    assert len(letters.HELD_OUT_FONTS) >= 4
    for font in letters.TRAIN_FONTS + letters.HELD_OUT_FONTS:
        assert letters.font_path(font).is_file()


def test_every_glyph_renders_inside_the_image_with_a_free_border():
    rng = np.random.default_rng(0)
    for font in letters.TRAIN_FONTS + letters.HELD_OUT_FONTS:
        for letter in "AMWQJ":
            alpha = letters.shrink(letters.render_glyph(letter, font, rng), letters.FINE)
            assert alpha.shape == (64, 64)
            assert 0.04 < alpha.mean() < 0.45, (font, letter)
            # the outer strips are background: the trainer's border prior relies on it
            border = dataset("letters").border
            strips = np.concatenate([alpha[:border].ravel(), alpha[-border:].ravel(),
                                     alpha[:, :border].ravel(), alpha[:, -border:].ravel()])
            assert strips.max() < 0.5, (font, letter)


def test_biased_pairs_are_distinct_and_cover_every_class():
    pairs = [letters.biased_pair(c) for c in range(26)]
    assert len(set(pairs)) == 26
    assert {t for t, _ in pairs} == set(range(len(letters.TEXTURES)))
    assert {b for _, b in pairs} == set(range(len(letters.BACKGROUNDS)))


def test_material_crops_show_the_same_pattern_finer_at_a_larger_scale():
    rng = np.random.default_rng(0)
    native = letters.material_crops("texture", [0] * 8, 64, rng, scale=1)
    fine = letters.material_crops("texture", [0] * 8, 64, rng, scale=4)
    assert native.shape == fine.shape == (8, 64, 64, 3)
    assert 0 <= native.min() and native.max() <= 1

    def gradient(x):  # a 4x view shows a quarter of the area: smoother per pixel
        return np.abs(np.diff(x.mean(-1), axis=1)).mean()

    assert gradient(fine) < gradient(native)
    with pytest.raises(CgnArtError):
        letters.material_crops("nonsense", [0], 8, rng)


def test_grey_photos_get_a_colour_map_not_grey():
    region, _ = letters.sheet("texture", [m.name for m in letters.TEXTURES].index("grass"))
    r, g, b = region.reshape(-1, 3).mean(0)
    assert g > r + 0.1 and g > b + 0.1


def test_small_build_is_biased_in_train_and_random_in_test():
    train = letters.build("train", per_font=1, fine_per_letter=1)
    test = letters.build("test", per_font=1)
    assert train.images.shape[1:] == (64, 64, 3) and train.images.dtype == np.uint8
    for c in range(26):
        pair = letters.biased_pair(c)
        picked = train.labels == c
        assert set(train.texture_class[picked]) == {pair[0]} and set(train.background_class[picked]) == {pair[1]}
    mismatch = [(t, b) != letters.biased_pair(c)
                for c, t, b in zip(test.labels, test.texture_class, test.background_class)]
    assert np.mean(mismatch) > 0.8
    assert train.fine_images.shape[1:] == (256, 256, 3)
    # a fine image is the same picture as its 64 px version
    i = train.fine_index[0]
    shrunk = letters.shrink(train.fine_images[0].astype(np.float32), letters.FINE)
    assert np.abs(shrunk - train.images[i]).mean() < 2


def test_glyphs_for_the_shape_judge():
    alphas, labels = letters.glyphs("held_out", per_font=1)
    assert alphas.shape == (len(letters.HELD_OUT_FONTS) * 26, 64, 64)
    assert sorted(set(labels)) == list(range(26))
    with pytest.raises(CgnArtError):
        letters.glyphs("other")


def test_detail_levels_follow_the_render_size():
    model = tiny_letters_model()
    assert [model.detail_levels_for(s) for s in (32, 64, 127, 128, 255, 256, 512, 1024)] == [0, 0, 0, 1, 1, 2, 2, 2]
    # one noise tensor per seed, the same shape at every size, so strips and dances can interpolate it
    shapes = {tuple(model.noise("texture", [1], 1.0, s).shape) for s in (64, 256, 512)}
    assert shapes == {(1, model.texture.noise_channels(), 16, 16)}


def test_fine_noise_changes_only_the_fine_detail():
    model = tiny_letters_model()
    w = model.one_hot("texture", [0])
    noise = model.noise("texture", [3], 1.0, 256)
    other = noise.clone()
    other[:, model.config.field_channels:] = model.noise("texture", [4], 1.0, 256)[:, model.config.field_channels:]
    with torch.no_grad():
        a, b = model.mechanism("texture", w, noise, 256), model.mechanism("texture", w, other, 256)
        coarse_a, coarse_b = model.mechanism("texture", w, noise, 64), model.mechanism("texture", w, other, 64)
    assert torch.equal(coarse_a, coarse_b)  # the native field ignores the fine noise
    assert (a - b).abs().mean() > 1e-3


def test_detail_models_save_and_load(tmp_path):
    from cgn_art import load_model
    from cgn_art.mechanisms.weights import save_model

    model = tiny_letters_model()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu")
    cf = loaded.counterfactual(0, 1, 2, seed=5, size=512)
    ref = model.counterfactual(0, 1, 2, seed=5, size=512)
    assert torch.allclose(cf.composite, ref.composite, atol=1e-6)


def test_detail_window_is_the_matching_window_of_the_coarse_field():
    from cgn_art.train.cgn import detail_window

    model = tiny_letters_model()
    mech = model.texture
    w = model.one_hot("texture", [1])
    noise = model.noise("texture", [2], 1.0, 256)
    with torch.no_grad():
        x, logits, emb = mech.coarse(w, noise)
        fine, coarse = detail_window(mech, x, logits, emb, np.random.default_rng(0))
    assert fine.shape == (1, 3, 64, 64) and coarse.shape == (1, 3, 16, 16)
    y, x0 = np.random.default_rng(0).integers(0, 64, 2)  # the window the helper drew on the 64 px field
    expected = torch.sigmoid(torch.roll(logits, (-int(y), -int(x0)), dims=(2, 3)))[..., 2:18, 2:18]
    assert torch.allclose(coarse, expected)


def test_registry_knows_every_family_and_refuses_others():
    assert set(DATASETS) >= {"colored", "double-colored", "wildlife", "letters"}
    assert dataset("letters").native_size == 64 and dataset("wildlife").native_size == 32
    with pytest.raises(CgnArtError, match="letters"):
        dataset("fonts")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["decomposed", "adversarial"])
def test_trainer_runs_on_letters(tmp_path, recipe, monkeypatch):
    from cgn_art.train.cgn import TrainSettings, train

    # one copy of each letter per font (416 images) instead of six: the real texture statistics of
    # the whole set took minutes, and every letter, texture and background is still there
    monkeypatch.setattr(letters, "load", lambda split="train", seed=0, rebuild=False:
                        letters.build(split, seed, per_font=1, fine_per_letter=2))

    settings = TrainSettings.for_data("letters", recipe=recipe, steps=3, batch_size=4, width=8, discriminator_width=8,
                                      detail_start=1, mask_steps=5, sample_every=3, checkpoint_every=3, threads=1)
    assert settings.mask_area_batch == (0.16, 0.21)  # the data set's own defaults apply
    result = train(settings, tmp_path)
    assert result.step == 3
    assert (tmp_path / "model" / "config.json").is_file() and (tmp_path / "samples-000003.png").is_file()
    assert result.model.config.detail_levels == 2 and result.model.native_size == 64
