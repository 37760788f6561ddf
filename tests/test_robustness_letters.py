"""Robustness Lab on letters (64 px, 26 classes): the classifier, counterfactual data from a
letters-shaped CGN, cue-conflict images, and a tiny experiment through the CLI.

The real letters splits take minutes to build on a busy CPU, so these tests swap in a tiny set made
the same way (letters from two training fonts, real texture and background crops, biased train /
random test) and a tiny random letters CGN.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cgn_art import save_model
from cgn_art.cli import main
from cgn_art.data import letters
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
from cgn_art.robustness import counterfactuals as cfdata
from cgn_art.robustness.classifier import accuracy, predict, train_classifier
from cgn_art.robustness.experiment import RobustnessSettings, biased_cues, cue_conflict_set, cue_following

TEXTURE_OF = np.array([letters.biased_pair(c)[0] for c in range(26)])
BACKGROUND_OF = np.array([letters.biased_pair(c)[1] for c in range(26)])
ONE_PER_LETTER = 5  # the tiny set's seed 5: one image per letter, so a letter's class names its alpha


def tiny_split(split: str, seed: int = 0) -> letters.LetterDataset:
    rng = np.random.default_rng([seed, split == "test"])
    alphas, labels = [], []
    fonts, copies = (1, 1) if seed == ONE_PER_LETTER else (2, 2)
    for font in letters.TRAIN_FONTS[:fonts]:
        for c, letter in enumerate(letters.LETTERS):
            for _ in range(copies):
                big = letters.render_glyph(letter, font, rng, letters.SIZE * letters.FINE)
                alphas.append(letters.shrink(big, letters.FINE))
                labels.append(c)
    labels = np.array(labels, np.int64)
    if split == "train":
        texture, background = TEXTURE_OF[labels], BACKGROUND_OF[labels]
    else:
        texture, background = rng.integers(0, 10, len(labels)), rng.integers(0, 8, len(labels))
    a = np.stack(alphas)[..., None]
    images = a * letters.material_crops("texture", texture, 64, rng) + (1 - a) * letters.material_crops(
        "background", background, 64, rng)
    return letters.LetterDataset(split, np.round(images * 255).astype(np.uint8), labels, texture, background,
                                 np.round(a[..., 0] * 255).astype(np.uint8), np.zeros((0, 256, 256, 3), np.uint8),
                                 np.zeros(0, np.int64))


@pytest.fixture(scope="module", autouse=True)
def tiny_letters():
    cache = {}

    def load(split="train", seed=0, rebuild=False):
        if (split, seed) not in cache:
            cache[split, seed] = tiny_split(split, seed)
        return cache[split, seed]

    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(letters, "load", load)
        yield load


@pytest.fixture(scope="module")
def letters_model(tmp_path_factory):
    names = letters.class_names()
    torch.manual_seed(0)
    model = SmallCGN(SmallCGNConfig(variant="letters", shape_classes=names["shape"], texture_classes=names["texture"],
                                    background_classes=names["background"], native_size=64, width=8,
                                    detail_levels=2)).eval()
    folder = save_model(model, tmp_path_factory.mktemp("letters-model") / "model")
    return model, folder


def test_classifier_takes_64px_images_and_26_classes():
    # Class = which of 26 cells of a 6 x 5 grid is lit: learnable only by looking at where.
    torch.manual_seed(0)
    y = torch.arange(26 * 8) % 26
    x = (torch.rand(len(y), 3, 64, 64) * 0.3 * 255).to(torch.uint8)  # uint8 images work as well as floats
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 6)
        x[i, :, 2 + 12 * r: 12 + 12 * r, 2 + 10 * q: 10 + 10 * q] += 150
    before = accuracy(train_classifier(x, y, epochs=1, lr=0.0, num_classes=26), x, y)
    model = train_classifier(x, y, epochs=12, batch_size=16, num_classes=26)
    assert accuracy(model, x, y) == 1.0 > before
    assert model(x[:3].float() / 255 - 0.5).shape == (3, 26)
    assert torch.equal(predict(model, x[:7]), predict(model, x[:7].float() / 255))
    with pytest.raises(CgnArtError, match="square images of at least 16 px"):
        train_classifier(torch.zeros(4, 3, 64, 32), torch.zeros(4, dtype=torch.long))
    with pytest.raises(CgnArtError, match="square images of at least 16 px"):
        train_classifier(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(CgnArtError, match="labels run from 0 to 25 but the classifier has 10 classes"):
        train_classifier(x, y, num_classes=10)


def test_counterfactual_data_from_a_letters_model(letters_model, tmp_path):
    model, _ = letters_model
    s = cfdata.CounterfactualDataSettings(model="letters", count=60, per_shape=2, seed=4)
    folder = cfdata.write_dataset(s, tmp_path / "cf", model=model)
    data = cfdata.load_dataset(folder)
    assert data.images.shape == (60, 64, 64, 3) and data.settings.size == 64  # the model's native size
    shapes = data.labels["shape_class"]
    assert shapes[::2].tolist() == list(range(26)) + [0, 1, 2, 3]  # 30 shape samples cycle through all 26
    assert (shapes[::2] == shapes[1::2]).all()
    assert (data.labels["shape_seed"][::2] == data.labels["shape_seed"][1::2]).all()
    assert data.labels["texture_class"].max() < 10 and data.labels["background_class"].max() < 8
    assert len(set(data.labels["texture_class"].tolist())) > 5  # drawn at random, not tied to the letter
    # A row re-rendered on its own from its labels is the stored image.
    k = 37
    cf = model.counterfactual(int(shapes[k]), int(data.labels["texture_class"][k]),
                              int(data.labels["background_class"][k]), shape_seed=int(data.labels["shape_seed"][k]),
                              texture_seed=int(data.labels["texture_seed"][k]),
                              background_seed=int(data.labels["background_seed"][k]), size=64)
    assert np.abs(np.asarray(cf.image("composite"), np.int16) - data.images[k].astype(np.int16)).max() <= 1


def test_biased_cues_are_the_letters_pairs(tiny_letters):
    cues = biased_cues(tiny_letters("train"), 26)
    assert cues["texture"].tolist() == TEXTURE_OF.tolist()
    assert cues["background"].tolist() == BACKGROUND_OF.tolist()


def test_letter_cue_conflict_images_have_conflicting_cues(tiny_letters):
    x, classes = cue_conflict_set("letters", 80, seed=ONE_PER_LETTER)
    assert x.shape == (80, 3, 64, 64) and 0 <= float(x.min()) and float(x.max()) <= 1
    shape, texture, background = classes["shape"], classes["texture"], classes["background"]
    # The letter never wears this texture or this background in training, and no letter wears both.
    assert (TEXTURE_OF[shape] != texture).all() and (BACKGROUND_OF[shape] != background).all()
    assert not any(((TEXTURE_OF == t) & (BACKGROUND_OF == b)).any() for t, b in zip(texture, background))
    assert len(set(texture.tolist())) >= 8 and len(set(background.tolist())) >= 6
    # The pixels carry the claimed cues: inside the letter the colour is nearer the claimed texture's
    # mean than the letter's own training texture's; outside, nearer the claimed background's.
    rng = np.random.default_rng(1)
    tex_mean = np.stack([letters.material_crops("texture", [k] * 12, 64, rng).mean((0, 1, 2)) for k in range(10)])
    bg_mean = np.stack([letters.material_crops("background", [k] * 12, 64, rng).mean((0, 1, 2)) for k in range(8)])
    alpha = tiny_letters("test", ONE_PER_LETTER).alpha[shape] / 255  # one test image per letter
    pixels = x.permute(0, 2, 3, 1).numpy()
    inside_near, outside_near = [], []
    for i in range(80):
        inside, outside = pixels[i][alpha[i] > 0.95].mean(0), pixels[i][alpha[i] < 0.05].mean(0)
        inside_near.append(np.linalg.norm(inside - tex_mean[texture[i]])
                           < np.linalg.norm(inside - tex_mean[TEXTURE_OF[shape[i]]]))
        outside_near.append(np.linalg.norm(outside - bg_mean[background[i]])
                            < np.linalg.norm(outside - bg_mean[BACKGROUND_OF[shape[i]]]))
    assert np.mean(inside_near) >= 0.8 and np.mean(outside_near) >= 0.8


def test_cue_following_maps_predictions_through_the_worn_cues():
    cues = {"texture": np.array([0, 1, 0, 1]), "background": np.array([0, 0, 1, 1])}
    classes = {"shape": np.array([0, 0, 0, 0, 0]), "texture": np.array([1, 1, 1, 1, 1]),
               "background": np.array([1, 1, 1, 1, 1])}
    # class 0: the shape; class 1 wears texture 1; class 2 wears background 1; class 3 wears both
    # (never in a real cue-conflict set, where no class wears both): counted for each cue.
    rates = cue_following([0, 1, 2, 0, 3], classes, cues=cues)
    assert rates == pytest.approx({"shape": 0.4, "texture": 0.4, "background": 0.4, "other": 0.0})


def test_tiny_letters_experiment_through_the_cli(letters_model, tmp_path, capsys):
    _, folder = letters_model
    out = tmp_path / "letters.json"
    assert main(["classify", "--variant", "letters", "--model", f"letters={folder}", "--counterfactuals", "52",
                 "--epochs", "1", "--cue-conflict", "20", "--threads", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| training data | letters (paper) |" in printed and "(-)" in printed
    saved = json.loads(out.read_text())
    assert saved["settings"]["variants"] == ["letters"] and saved["settings"]["models"] == {"letters": str(folder)}
    results = saved["results"]
    assert [r["training_data"] for r in results] == ["original", "counterfactual", "original + counterfactual"]
    assert [r["train_images"] for r in results] == [104, 52, 156]
    for r in results:
        assert 0 <= r["test_accuracy"] <= 1 and r["cue_following"]["background"] is not None
        assert sum(r["cue_following"].values()) == pytest.approx(1)
    # A digit CGN cannot stand in for letters; a missing one is named before any work.
    assert main(["classify", "--variant", "letters", "--model", "letters=wildlife", "--epochs", "1"]) == 1
    assert "makes 10 shape classes but letters has 26" in capsys.readouterr().err
    assert main(["classify", "--variant", "letters", "--model", f"letters={tmp_path / 'none'}"]) == 1
    assert "no CGN for letters" in capsys.readouterr().err


def test_letters_settings_explain_mistakes():
    with pytest.raises(CgnArtError, match="unknown data set 'latin'.*letters"):
        RobustnessSettings(variants=("latin",)).validate()
    with pytest.raises(CgnArtError, match="no CGN for letters.*--model letters=FOLDER"):
        RobustnessSettings(variants=("letters",), models={"letters": "no/such/folder"}).validate()
