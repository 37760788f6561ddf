"""Metrics that can see texture (issue 11): each one scores real data near its real baseline and
a constructed failure far from it. Small recipes and sample counts keep this file quick."""
import numpy as np
import pytest
import torch

from cgn_art import evaluate as fidelity
from cgn_art.data import letters
from cgn_art.evaluate.judges import _tensor
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig

QUICK = {"per_class": 50, "steps": 200, "cache": False}


@pytest.fixture(scope="module")
def judges():
    """Letters judges at native size (64 px crops) and a Wildlife one, trained on few real crops."""
    return {
        "letters": fidelity.structure_judge("letters", "texture", 1, 64, **QUICK),
        "letters-colour": fidelity.structure_judge("letters", "texture", 1, 32, colour=True, **QUICK),
        "wildlife": fidelity.structure_judge("wildlife", "texture", 1, 32, **QUICK),
    }


@pytest.mark.slow
def test_judges_beat_chance_by_far_on_held_out_real_data(judges):
    for judge in judges.values():
        assert judge.real_accuracy > 0.6 > 4 * judge.chance


@pytest.mark.slow
def test_texture_judge_classifies_rgb_crops_of_any_size(judges):
    judge = judges["letters"]
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(10), 6)
    crops = torch.from_numpy(letters.material_crops("texture", labels, 128, rng, scale=2.0)).permute(0, 3, 1, 2)
    # a 128 px crop at 2x holds four 64 px tiles at native scale... shrunk back it is the native view
    native = torch.nn.functional.interpolate(crops, size=(64, 64), mode="area")
    assert judge.classify(native).shape == (60,)
    assert judge.accuracy(native, labels) > 0.6
    assert judge.logits(crops).shape == (60, 10)  # tiles: logits averaged over four 64 px windows


@pytest.mark.slow
def test_real_crops_score_near_the_judges_real_accuracy_and_flat_colour_scores_chance(judges):
    structure, colour = judges["letters"], judges["letters-colour"]
    real = fidelity.RealDataModel("letters")
    flat = fidelity.RealDataModel("letters", flat=True)
    real_score = fidelity.structure_fidelity(real, structure, n=80, seed=1)
    assert real_score > 0.85 * structure.real_accuracy
    assert fidelity.structure_fidelity(real, colour, n=80, seed=1) > 0.85 * colour.real_accuracy
    flat_score = fidelity.structure_fidelity(flat, structure, n=80, seed=1)
    assert abs(flat_score - structure.chance) <= 0.1


@pytest.mark.slow
def test_flat_colour_with_dither_still_scores_chance(judges):
    judge = judges["wildlife"]
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 10)
    real = _tensor(fidelity.real_crops("wildlife", "texture", labels, 32, 1, rng))
    flat = real.mean(dim=(2, 3), keepdim=True).expand_as(real)
    dithered = (flat + torch.from_numpy(rng.uniform(-0.5, 0.5, flat.shape).astype(np.float32)) / 255).clamp(0, 1)
    assert judge.accuracy(real, labels) > 0.6
    assert abs(judge.accuracy(dithered, labels) - judge.chance) <= 0.1


@pytest.mark.slow
def test_judges_see_8_bit_pictures(judges):
    """Shades between two 8-bit levels, which no saved picture holds, change nothing a judge says,
    even in crops of low contrast (a sky), where contrast normalisation would magnify them."""
    rng = np.random.default_rng(4)
    crops = torch.from_numpy(letters.material_crops("texture", np.arange(10), 64, rng)).permute(0, 3, 1, 2)
    levels = torch.round((0.5 + 0.03 * (crops - 0.5)) * 255) / 255
    shaded = levels + torch.from_numpy(rng.uniform(-0.45, 0.45, levels.shape).astype(np.float32)) / 255
    for judge in (judges["letters"], judges["letters-colour"]):
        assert torch.equal(judge.logits(levels), judge.logits(shaded))


def test_grey_normalise_removes_hue_and_brightness():
    rng = np.random.default_rng(0)
    crop = torch.from_numpy(letters.material_crops("texture", [0], 32, rng)).permute(0, 3, 1, 2)
    tinted = (0.2 + 0.5 * crop * torch.tensor([1.0, 0.8, 0.6])[:, None, None]).clamp(0, 1)
    a, b = fidelity.grey_normalise(crop), fidelity.grey_normalise(tinted)
    assert a.shape == (1, 1, 32, 32)
    assert abs(float(a.mean())) < 1e-5 and abs(float(a.std()) - 1) < 1e-3
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.97
    assert float(fidelity.grey_normalise(torch.full((1, 3, 8, 8), 0.4)).abs().max()) == 0


def test_detail_of_real_texture_is_near_one_and_of_blurred_texture_below_0_3():
    real = fidelity.detail(fidelity.RealDataModel("letters"), "letters", n=10, seed=2)
    assert 0.75 < real["ratio"] < 1.33
    blurred = fidelity.detail(fidelity.RealDataModel("letters", blur=4.0), "letters", n=10, seed=2)
    assert blurred["ratio"] < 0.3
    flat = fidelity.detail(fidelity.RealDataModel("letters", flat=True), "letters", n=10, seed=2)
    assert flat["ratio"] == 0


def test_detail_share_reads_wavelength():
    x = torch.arange(128, dtype=torch.float32)
    fine = (0.5 + 0.4 * torch.sin(2 * np.pi * x / 6)).expand(1, 3, 128, 128)  # 6 px stripes
    coarse = (0.5 + 0.4 * torch.sin(2 * np.pi * x / 40)).expand(1, 3, 128, 128)  # 40 px stripes
    assert fidelity.detail_share(fine) > 0.95 and fidelity.detail_share(coarse) < 0.05


def test_diversity_of_real_crops_is_near_one_and_a_mechanism_that_ignores_its_noise_scores_below_0_1():
    real = fidelity.diversity(fidelity.RealDataModel("letters"), "letters", "background", seeds=5, scale=1, crop=32)
    assert 0.75 < real["ratio"] < 1.33
    stuck = fidelity.diversity(fidelity.RealDataModel("letters", ignore_noise=True), "letters", "background",
                               seeds=5, scale=1, crop=32)
    assert stuck["ratio"] < 0.1


@pytest.mark.slow
def test_a_small_cgn_that_ignores_its_noise_scores_diversity_below_0_1():
    names = letters.class_names()
    torch.manual_seed(0)
    model = SmallCGN(SmallCGNConfig(variant="letters", shape_classes=names["shape"], texture_classes=names["texture"],
                                    background_classes=names["background"], native_size=64, width=8,
                                    detail_levels=2)).eval()
    for p in model.texture.detail_out.parameters():  # detail levels start at zero: give them a say
        torch.nn.init.normal_(p, std=0.3)
    lively = fidelity.diversity(model, "letters", "texture", seeds=4, scale=1, crop=64)
    fixed = model.noise

    model.noise = lambda mechanism, seeds, truncation, size: fixed(mechanism, [0] * len(seeds), truncation, size)
    stuck = fidelity.diversity(model, "letters", "texture", seeds=4, scale=1, crop=64)
    assert stuck["ratio"] < 0.1
    assert lively["ratio"] > stuck["ratio"] + 0.05  # the same model with its noise does vary


def test_triples_have_three_different_classes():
    t = fidelity.distinct_triples(500, (26, 10, 8), seed=0)
    assert t.shape == (500, 3)
    assert (t[:, 0] != t[:, 1]).all() and (t[:, 2] != t[:, 0]).all() and (t[:, 2] != t[:, 1]).all()
    assert t[:, 0].max() >= 20 and t[:, 1].max() == 9 and t[:, 2].max() == 7
    one_background = fidelity.distinct_triples(100, (10, 10, 1), seed=0)
    assert (one_background[:, 2] == 0).all() and (one_background[:, 0] != one_background[:, 1]).all()


@pytest.mark.slow
def test_judges_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path))
    first = fidelity.structure_judge("wildlife", "texture", per_class=20, steps=50)
    files = list((tmp_path / "judges").glob("wildlife-texture-*.safetensors"))
    assert len(files) == 1
    again = fidelity.structure_judge("wildlife", "texture", per_class=20, steps=50)
    assert again.real_accuracy == first.real_accuracy
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(first.logits(x), again.logits(x))
    files[0].write_bytes(b"damaged")
    rebuilt = fidelity.structure_judge("wildlife", "texture", per_class=20, steps=50)
    assert rebuilt.real_accuracy == first.real_accuracy


def test_unknown_family_is_a_user_error():
    from cgn_art.errors import CgnArtError

    with pytest.raises(CgnArtError, match="no texture judges"):
        fidelity.structure_judge("fashion")
