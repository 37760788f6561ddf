"""Robustness Lab: counterfactual datasets (labels, shards, merge), the classifier, cue-conflict counts,
the experiment end to end at a tiny size, and the CLI. Uses the shipped colored CGN (fast) and
datasets cached in a per-module folder."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cgn_art import load_model
from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.robustness import counterfactuals as cfdata
from cgn_art.robustness.classifier import accuracy, predict, train_classifier
from cgn_art.robustness.experiment import RobustnessSettings, cue_conflict_set, cue_following, run_experiment
from cgn_art.robustness.validation import validation_cut


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    # One cache for this session's Robustness Lab tests: building a variant costs seconds.
    path = tmp_path_factory.getbasetemp() / "robustness-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CGN_ART_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model("wildlife", device="cpu")


def settings(**kw) -> cfdata.CounterfactualDataSettings:
    return cfdata.CounterfactualDataSettings(**{"model": "wildlife", "count": 40, "per_shape": 4, **kw})


# Dataset writer ------------------------------------------------------------------------------

def test_labels_match_what_was_generated(model, tmp_path):
    folder = cfdata.write_dataset(settings(format="png", seed=3), tmp_path / "d", model=model)
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40
    # Re-render a few rows one at a time from their CSV labels: the stored PNG is that image.
    for r in rows[::7]:
        cf = model.counterfactual(int(r["shape_class"]), int(r["texture_class"]), int(r["background_class"]),
                                  shape_seed=int(r["shape_seed"]), texture_seed=int(r["texture_seed"]),
                                  background_seed=int(r["background_seed"]), size=32)
        expected = np.asarray(cf.image("composite"), dtype=np.int16)
        stored = np.asarray(Image.open(folder / r["file"]), dtype=np.int16)
        assert np.abs(expected - stored).max() <= 1  # one grey level of float rounding across batch sizes
    # k counterfactuals per shape sample: same shape class and seed (so the same mask), new texture draws.
    samples = [rows[i: i + 4] for i in range(0, 40, 4)]
    for group in samples:
        assert len({(r["shape_class"], r["shape_seed"]) for r in group}) == 1
        assert len({r["texture_seed"] for r in group}) == 4
    assert sorted({int(g[0]["shape_class"]) for g in samples}) == list(range(10))
    loaded = cfdata.load_dataset(folder)
    assert loaded.images.shape == (40, 32, 32, 3)
    assert loaded.labels["texture_class"].tolist() == [int(r["texture_class"]) for r in rows]


def test_same_mask_within_a_shape_sample(model):
    data = cfdata.generate(model, settings(count=8, per_shape=4))
    seeds = data.labels["shape_seed"]
    masks = model.counterfactual(data.labels["shape_class"].tolist(), 0, 0, shape_seed=seeds.tolist(),
                                 texture_seed=0, background_seed=0).mask
    assert torch.equal(masks[0], masks[3]) and not torch.equal(masks[0], masks[4])


def test_shards_merge_to_the_dataset_one_run_makes(model, tmp_path):
    count = 2 * cfdata.BATCH + 30  # three batches, the last one short
    whole = cfdata.write_dataset(settings(count=count), tmp_path / "whole", model=model)
    parts = [cfdata.write_dataset(settings(count=count, shard=(i, 2)), tmp_path / f"part{i}", model=model)
             for i in (1, 0)]
    assert {len(cfdata.load_dataset(p)) for p in parts} == {cfdata.BATCH, cfdata.BATCH + 30}
    merged = cfdata.merge_datasets(parts, tmp_path / "merged")
    assert (merged / "labels.csv").read_bytes() == (whole / "labels.csv").read_bytes()
    a, b = cfdata.load_dataset(merged), cfdata.load_dataset(whole)
    assert np.array_equal(a.images, b.images)
    assert a.settings == b.settings


def test_merge_refuses_incomplete_or_mismatched_shards(model, tmp_path):
    count = 3 * cfdata.BATCH
    p0 = cfdata.write_dataset(settings(count=count, shard=(0, 3)), tmp_path / "p0", model=model)
    p1 = cfdata.write_dataset(settings(count=count, shard=(1, 3)), tmp_path / "p1", model=model)
    other = cfdata.write_dataset(settings(count=count, shard=(2, 3), seed=9), tmp_path / "p2", model=model)
    with pytest.raises(CgnArtError, match="missing 2/3"):
        cfdata.merge_datasets([p0, p1], tmp_path / "m1")
    with pytest.raises(CgnArtError, match="different settings .*seed"):
        cfdata.merge_datasets([p0, p1, other], tmp_path / "m2")
    with pytest.raises(CgnArtError, match="not empty"):
        cfdata.write_dataset(settings(), p0, model=model)


@pytest.mark.parametrize("bad, message", [
    ({"count": 0}, "at least 1"), ({"per_shape": 0}, "per shape"), ({"format": "jpeg"}, "png or tensors"),
    ({"shard": "3/3"}, "out of range"), ({"shard": "a/b"}, "i/n"), ({"shard": "0/9"}, "at most 1 shards"),
    ({"size": 0}, "size"), ({"truncation": 2}, "truncation"),
])
def test_data_settings_explain_mistakes(bad, message):
    with pytest.raises(CgnArtError, match=message):
        settings(**bad).validate()


# Classifier and cue conflict ---------------------------------------------------------------

def test_classifier_trains_on_a_tiny_set():
    # Class = which quadrant is lit: learnable only by looking at where, like a digit's shape.
    torch.manual_seed(0)
    y = torch.arange(200) % 4
    x = torch.rand(200, 3, 32, 32) * 0.3
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, :, 16 * r: 16 * r + 16, 16 * q: 16 * q + 16] += 0.6
    before = accuracy(train_classifier(x, y, epochs=1, lr=0.0, num_classes=4), x, y)
    model = train_classifier(x, y, epochs=15, batch_size=32, num_classes=4)
    assert accuracy(model, x, y) == 1.0 > before
    assert predict(model, x[:5]).shape == (5,)
    with pytest.raises(CgnArtError, match="square images"):
        train_classifier(torch.zeros(4, 3, 28, 32), torch.zeros(4, dtype=torch.long))


def test_cue_following_counts_a_constructed_example():
    classes = {"shape": np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3]),
               "texture": np.array([5, 5, 5, 5, 6, 6, 6, 6, 7, 7]),
               "background": np.array([9, 9, 9, 9, 0, 0, 0, 0, 8, 8])}
    # 4 follow the shape, 3 the texture, 2 the background, 1 none of them.
    predictions = [1, 1, 5, 9, 2, 6, 6, 0, 3, 4]
    rates = cue_following(predictions, classes)
    assert rates == pytest.approx({"shape": 0.4, "texture": 0.3, "background": 0.2, "other": 0.1})
    no_background = cue_following(predictions, classes, has_background=False)
    assert no_background["background"] is None and no_background["other"] == pytest.approx(0.3)


@pytest.mark.parametrize("variant, n_background", [("colored", 1), ("wildlife", 10)])
def test_cue_conflict_images_have_three_different_classes(variant, n_background):
    x, classes = cue_conflict_set(variant, 60, seed=1)
    assert x.shape == (60, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert (classes["shape"] != classes["texture"]).all()
    if n_background > 1:
        assert (classes["background"] != classes["shape"]).all()
        assert (classes["background"] != classes["texture"]).all()
    else:
        assert (classes["background"] == 0).all()


# Experiment and CLI ------------------------------------------------------------------------

def test_experiment_reports_progress_and_can_be_cancelled():
    s = RobustnessSettings(variants=("colored",), counterfactuals=2_000, epochs=1, cue_conflict=40)
    seen = []
    with pytest.raises(CgnArtError, match="cancelled"):
        run_experiment(s, progress=lambda f, m: seen.append((f, m)), cancel=lambda: len(seen) >= 3)
    fractions = [f for f, _ in seen]
    assert len(seen) == 3 and fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1
    assert all(m.startswith("colored, counterfactual data: counterfactuals ") for _, m in seen)


@pytest.mark.parametrize("bad, message", [
    ({"variants": ()}, "at least one"), ({"variants": ("grey",)}, "unknown data set 'grey'"),
    ({"epochs": 0}, "epochs 0 is out of range"), ({"counterfactuals": 1.5}, "not a whole number"),
    ({"models": {"wildlife": "x"}, "variants": ("colored",)}, "not among the variants"),
    ({"counterfactual_data": {"colored": "no-such-folder"}}, "no dataset.json"),
    ({"dropout": 1}, r"dropout 1 is out of range: give a number in \[0, 1\)"),
])
def test_experiment_settings_explain_mistakes(bad, message):
    with pytest.raises(CgnArtError, match=message):
        RobustnessSettings(**bad).validate()


def test_counterfactual_classifier_beats_the_original_on_a_tiny_run():
    """The paper's claim, small: on the randomised test split the classifier trained on 2,000 CGN
    counterfactuals reads shapes and the one trained on the biased split reads colours."""
    torch.set_num_threads(1)
    result = run_experiment(RobustnessSettings(variants=("colored",), counterfactuals=2_000, epochs=2,
                                               cue_conflict=200))
    original, counterfactual = result.get("colored", "original"), result.get("colored", "counterfactual")
    assert counterfactual.test_accuracy > original.test_accuracy + 0.2
    assert counterfactual.cue_following["shape"] > original.cue_following["shape"] + 0.2
    assert original.cue_following["texture"] > counterfactual.cue_following["texture"]


def test_validation_split_holds_out_whole_shape_samples():
    groups = np.arange(1_000) // 10  # 100 shape samples of 10 counterfactuals each
    fit, held = validation_cut(groups, 0.1, seed=0)
    assert len(held) == 100 and len(fit) == 900 and not set(groups[fit]) & set(groups[held])
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(1_000))
    again, other = validation_cut(groups, 0.1, seed=0)[1], validation_cut(groups, 0.1, seed=1)[1]
    assert (again == held).all() and set(other) != set(held)
    with pytest.raises(CgnArtError, match="at least two shape samples"):
        validation_cut(np.zeros(5, int), 0.1, seed=0)


def test_settings_are_chosen_without_the_test_split(monkeypatch):
    from cgn_art.data import mnist
    from cgn_art.robustness import validation

    real_load = mnist.load

    def load(variant, split="train", **kw):
        assert split != "test", "choosing settings read the test split"
        return real_load(variant, split, **kw)

    monkeypatch.setattr(mnist, "load", load)
    seen = []
    real_train = validation.train_classifier

    def train(x, y, *args, **kw):
        seen.append((len(y), kw["dropout"]))
        return real_train(x, y, *args, **kw)

    monkeypatch.setattr(validation, "train_classifier", train)
    settings = RobustnessSettings(variants=("colored",), counterfactuals=300, epochs=1)
    chosen = validation.choose_on_validation(settings, "colored", {"a": {}, "b": {"dropout": 0.0, "per_shape": 5}})
    assert seen == [(270, 0.5), (270, 0.0)]
    assert [r["validation_images"] for r in chosen.values()] == [30, 30]
    assert all(0 <= r["validation_accuracy"] <= 1 for r in chosen.values())
    assert chosen["b"]["changes"] == {"dropout": 0.0, "per_shape": 5}


def test_cli_shards_merge_and_classify(tmp_path, capsys):
    common = ["cf-data", "make", "--model", "colored", "-n", "300", "-k", "5", "--threads", "1"]
    for i in range(2):
        assert main(common + ["--shard", f"{i}/2", "-o", str(tmp_path / f"s{i}")]) == 0
    assert main(["cf-data", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o", str(tmp_path / "all")]) == 0
    assert len(cfdata.load_dataset(tmp_path / "all")) == 300
    capsys.readouterr()
    out = tmp_path / "table.json"
    assert main(["classify", "--variant", "colored", "--epochs", "1", "--cue-conflict", "20",
                 "--counterfactual-data", f"colored={tmp_path / 'all'}", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| original + counterfactual |" in printed and "(35.9)" in printed and "Cue-conflict" in printed
    saved = json.loads(out.read_text())
    results = saved["results"]
    assert [r["training_data"] for r in results] == ["original", "counterfactual", "original + counterfactual"]
    assert [r["train_images"] for r in results] == [4000, 300, 4300]
    assert all(0 <= r["test_accuracy"] <= 1 and r["cue_following"]["background"] is None for r in results)
    assert all(sum(v for v in r["cue_following"].values() if v is not None) == pytest.approx(1) for r in results)
    # A shard alone is refused with a one-line explanation.
    assert main(["classify", "--variant", "colored", "--counterfactual-data", f"colored={tmp_path / 's0'}"]) == 1
    assert "merge the shards first" in capsys.readouterr().err
    assert main(["cf-data", "make", "-n", "10", "--shard", "2/2", "-o", str(tmp_path / "x")]) == 2
    assert "out of range" in capsys.readouterr().err
