"""The offline MNIST variants: deterministic, cached, and biased only in the training split."""
import numpy as np
import pytest

from cgn_art.data import mnist, textures
from cgn_art.errors import CgnArtError


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    import os

    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("CGN_ART_CACHE")
    os.environ["CGN_ART_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CGN_ART_CACHE")
    else:
        os.environ["CGN_ART_CACHE"] = old


@pytest.mark.parametrize("variant", mnist.VARIANTS)
def test_build_is_deterministic_for_a_seed(variant):
    a = mnist.build(variant, "test", seed=3)
    b = mnist.build(variant, "test", seed=3)
    c = mnist.build(variant, "test", seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.texture_class, b.texture_class)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("variant", mnist.VARIANTS)
def test_training_split_ties_cues_to_the_digit_and_test_split_does_not(variant):
    train = mnist.build(variant, "train")
    test = mnist.build(variant, "test")
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(train.labels).tolist() == [400] * 10
    assert np.array_equal(train.texture_class, train.labels)
    agree = (test.texture_class == test.labels).mean()
    assert agree < 0.2  # random: about 1 in 10
    assert len(np.unique(test.texture_class)) == 10
    if variant != "colored":
        assert np.array_equal(train.background_class, train.labels)
        assert (test.background_class == test.labels).mean() < 0.2
    # The spurious cue is real: mean colour of the digit pixels separates the classes in train.
    digit = train.alpha > 200
    colours = np.stack([train.images[i][digit[i]].mean(0) for i in range(0, 4000, 40)])
    labels = train.labels[::40]
    centroids = np.stack([colours[labels == c].mean(0) for c in range(10)])
    nearest = np.argmin(((colours[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.9


def test_colored_background_is_black_and_double_colored_is_not():
    colored = mnist.build("colored", "train")
    double = mnist.build("double-colored", "train")
    border = (slice(None), slice(0, 3), slice(None))
    # Digits touch the outer rows only now and then: nearly every border pixel is background.
    assert (colored.images[border].max(-1) > 10).mean() < 0.02
    assert double.images[border].mean() > 20


def test_load_caches_on_disk_and_rebuilds_a_damaged_cache(cache):
    first = mnist.load("colored", "test", seed=1)
    files = list((cache / "data").glob("colored-test-seed1-*.npz"))
    assert len(files) == 1
    again = mnist.load("colored", "test", seed=1)
    assert np.array_equal(first.images, again.images)
    files[0].write_bytes(b"not a zip file")
    rebuilt = mnist.load("colored", "test", seed=1)
    assert np.array_equal(first.images, rebuilt.images)


def test_copies_lay_the_same_digits_on_new_textures():
    data = mnist.build("wildlife", "train", copies=2)
    assert len(data) == 8000
    assert np.array_equal(data.alpha[:4000], data.alpha[4000:])
    assert not np.array_equal(data.images[:4000], data.images[4000:])


def test_contact_sheet_has_one_row_per_digit():
    data = mnist.build("double-colored", "test")
    sheet = mnist.contact_sheet(data, rows=10, columns=6, scale=2)
    assert sheet.size == (6 * 64, 10 * 64)


def test_texture_classes_are_distinct():
    means = np.stack([textures.texture_sheet("texture", i).mean((0, 1)) for i in range(10)])
    backgrounds = np.stack([textures.texture_sheet("background", i).mean((0, 1)) for i in range(10)])
    # object textures are brighter than every background texture
    assert means.max(1).min() > backgrounds.max(1).max()
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(10)
    assert distances.min() > 0.05


def test_bad_variant_and_split_are_user_errors():
    with pytest.raises(CgnArtError, match="unknown dataset variant"):
        mnist.build("fashion")
    with pytest.raises(CgnArtError, match="split"):
        mnist.build("colored", "validation")


def test_the_cache_root_is_the_variable_and_an_empty_one_counts_as_unset(monkeypatch, tmp_path):
    from pathlib import Path

    from cgn_art.cache import cache_root

    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.setenv("CGN_ART_CACHE", "")
    assert cache_root() == Path.home() / ".cache" / "cgn-art"
    monkeypatch.delenv("CGN_ART_CACHE")
    assert cache_root() == Path.home() / ".cache" / "cgn-art"
