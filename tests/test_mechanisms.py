"""The Mechanisms contract on the small CGN: composite, independence, sizes, bad input."""
import pytest
import torch

import cgn_art
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import composite
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = SmallCGN(SmallCGNConfig(width=16), device="cpu").eval()
    # Random class embeddings so that every class input matters (an untrained FiLM starts at 0).
    for module in m.modules():
        if hasattr(module, "film"):
            torch.nn.init.normal_(module.film.weight, std=0.5)
    return m


def test_composite_formula():
    m = torch.rand(2, 1, 8, 8)
    f, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.allclose(composite(m, f, b), m * f + (1 - m) * b)
    ones = torch.ones_like(m)
    assert torch.equal(composite(ones, f, b), f) and torch.equal(composite(ones * 0, f, b), b)


def test_counterfactual_parts_compose(model):
    cf = model.counterfactual(1, 2, 3, seed=5, size=48)
    assert cf.mask.shape == (1, 1, 48, 48) and cf.composite.shape == (1, 3, 48, 48)
    assert torch.allclose(cf.composite, cf.mask * cf.foreground + (1 - cf.mask) * cf.background)
    for t in (cf.mask, cf.foreground, cf.background, cf.composite):
        assert t.min() >= 0 and t.max() <= 1
    assert cf.settings() == {"model": model.name, "shape_class": 1, "texture_class": 2, "background_class": 3,
                             "shape_seed": 5, "texture_seed": 5, "background_seed": 5, "truncation": 1.0,
                             "size": 48}


def test_changing_texture_or_background_leaves_the_mask_alone(model):
    base = model.counterfactual(4, 1, 2, seed=9)
    texture = model.counterfactual(4, 7, 2, seed=9)
    background = model.counterfactual(4, 1, 8, seed=9, background_seed=123)
    assert torch.equal(base.mask, texture.mask) and torch.equal(base.mask, background.mask)
    assert not torch.equal(base.foreground, texture.foreground)
    assert torch.equal(base.background, texture.background)
    assert not torch.equal(base.background, background.background)
    assert torch.equal(base.foreground, background.foreground)
    shape = model.counterfactual(5, 1, 2, seed=9)
    assert not torch.equal(base.mask, shape.mask)
    assert torch.equal(base.foreground, shape.foreground) and torch.equal(base.background, shape.background)


def test_batches_broadcast_and_match_single_renders(model):
    batch = model.counterfactual(3, list(range(10)), 0, seed=list(range(10)), size=40)
    assert len(batch) == 10 and batch.texture_class == list(range(10)) and batch.shape_class == [3] * 10
    single = model.counterfactual(3, 6, 0, seed=6, size=40)
    assert torch.allclose(batch.composite[6], single.composite[0], atol=1e-5)


def test_seeds_are_deterministic_and_matter(model):
    a = model.counterfactual(2, 2, 2, seed=11)
    b = model.counterfactual(2, 2, 2, seed=11)
    c = model.counterfactual(2, 2, 2, seed=12)
    assert torch.equal(a.composite, b.composite)
    assert not torch.equal(a.composite, c.composite)


@pytest.mark.parametrize("size", [1, 16, 32, 33, 100, 512, 1024])
def test_renders_at_any_size(model, size):
    cf = model.counterfactual(0, 0, 0, size=size)
    assert cf.composite.shape[-2:] == (size, size) and cf.size == size
    assert torch.isfinite(cf.composite).all()


def test_large_masks_are_smooth_not_blocky(model):
    """Upsampled as logits (bicubic), a 32 px mask has no 16x16 flat blocks at 512 px."""
    cf = model.counterfactual(1, 0, 0, seed=3, size=512)
    mask = cf.mask[0, 0]
    # Inside a blocky (nearest) upsample every 16x16 block is constant; here values vary within blocks.
    blocks = mask.reshape(32, 16, 32, 16).permute(0, 2, 1, 3).reshape(32 * 32, 256)
    edge_blocks = blocks[(blocks.max(1).values > 0.1) & (blocks.min(1).values < 0.9)]
    assert len(edge_blocks) > 0
    assert (edge_blocks.std(1) > 1e-3).float().mean() > 0.9
    # Neighbouring pixels never jump by more than a small step: no staircase edges.
    assert (mask[:, 1:] - mask[:, :-1]).abs().max() < 0.5


def test_textures_tile_without_seams(model):
    """Circular padding: the texture field wraps around, so copies side by side have no seam."""
    cf = model.counterfactual(0, 3, 3, seed=1, size=32)
    fg = cf.foreground[0]
    wrap = (fg[:, :, 0] - fg[:, :, -1]).abs().mean()
    inner = (fg[:, :, 1:] - fg[:, :, :-1]).abs().mean()
    assert wrap < 3 * inner


@pytest.mark.parametrize("kwargs, message", [
    (dict(shape=10, texture=0, background=0), "shape class 10 is out of range"),
    (dict(shape=0, texture=-1, background=0), "texture class -1 is out of range"),
    (dict(shape=0, texture=0, background=0, size=0), "size 0 is out of range"),
    (dict(shape=0, texture=0, background=0, size=5000), "size 5000 is out of range"),
    (dict(shape=0, texture=0, background=0, truncation=0), "truncation"),
    (dict(shape=0, texture=0, background=0, truncation=1.5), "truncation"),
    (dict(shape=0, texture=0, background=0, seed=-3), "seed"),
    (dict(shape=[0, 1], texture=[0, 1, 2], background=0), "give 1 or"),
])
def test_bad_input_is_a_clear_user_error(model, kwargs, message):
    with pytest.raises(CgnArtError, match=message):
        model.counterfactual(**kwargs)


def test_device_is_picked_automatically_and_overridable():
    assert cgn_art.pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert cgn_art.pick_device("auto").type == expected
    with pytest.raises(CgnArtError):
        cgn_art.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CgnArtError, match="no CUDA"):
            cgn_art.pick_device("cuda")
