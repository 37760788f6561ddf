"""Exemplar fields: the quilted per-class textures of the Letters CGN (mechanisms/exemplar.py,
train/exemplars.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.exemplar import ExemplarField
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
from cgn_art.train import exemplars


def _brick_blocks(n: int = 600, block: int = 20, seed: int = 0) -> np.ndarray:
    """Blocks of scikit-image's brick photo (grey, as RGB), float32 in [0, 1]."""
    brick = skdata.brick().astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, brick.shape[0] - block, n), rng.integers(0, brick.shape[1] - block, n)
    return np.stack([np.repeat(brick[None, y: y + block, x: x + block], 3, 0) for y, x in zip(ys, xs)])


def _wrap_jump(canvas: np.ndarray) -> float:
    """Mean difference across the torus' wrap (last column -> first, last row -> first) as a
    ratio to the mean difference between neighbouring columns and rows inside it."""
    inside = (np.abs(np.diff(canvas, axis=2)).mean() + np.abs(np.diff(canvas, axis=1)).mean()) / 2
    wrap = (np.abs(canvas[:, :, 0] - canvas[:, :, -1]).mean() + np.abs(canvas[:, 0] - canvas[:, -1]).mean()) / 2
    return float(wrap / inside)


def test_a_quilted_exemplar_tiles_without_a_seam_and_a_cut_photo_does_not():
    rng = np.random.default_rng(0)
    canvas = exemplars.quilt(_brick_blocks(), 64, rng)
    assert canvas.shape == (3, 64, 64)
    assert _wrap_jump(canvas) < 1.5
    # the constructed failure: a 64 px cut of the same photo has an edge where it wraps
    photo = np.repeat(skdata.brick()[None, 100:164, 37:101].astype(np.float32) / 255, 3, 0)
    assert _wrap_jump(photo) > 2.5


def test_quilting_keeps_the_material_sharp():
    """Whole blocks joined at seams, not averaged: the exemplar keeps the photo's local contrast."""
    blocks = _brick_blocks()
    canvas = exemplars.quilt(blocks, 64, np.random.default_rng(1))
    contrast = lambda x: float(np.abs(np.diff(x, axis=-1)).mean())  # noqa: E731
    assert contrast(canvas) > 0.8 * contrast(blocks)


def _seam_step(canvas: np.ndarray, pieces: np.ndarray) -> float:
    """Mean brightness jump between horizontally neighbouring pixels of different pieces, as a
    ratio to the mean jump between neighbours of one piece."""
    jump = np.abs(np.roll(canvas, -1, 2) - canvas).mean(0)
    across = pieces != np.roll(pieces, -1, 1)
    return float(jump[across].mean() / jump[~across].mean())


def test_smoothing_the_seams_removes_a_step_in_brightness_and_keeps_the_pattern():
    """Two halves of one brick picture, one lit 0.25 brighter: the step at their seams (the middle,
    and the wrap of the torus) goes, the mortar lines stay and the mean colour stays."""
    brick = np.repeat(skdata.brick()[None, :64, :64].astype(np.float32) / 255, 3, 0) * 0.6
    pieces = np.zeros((64, 64), np.int64)
    pieces[:, 32:] = 1
    lit = np.where(pieces[None] == 1, brick + 0.25, brick)
    assert _seam_step(lit, pieces) > 3  # the constructed failure: a quilt of differently lit pieces
    smooth = exemplars.seamless(lit, pieces)
    assert _seam_step(smooth, pieces) < 1.5
    assert abs(smooth.mean() - lit.mean()) < 1e-3
    inside = np.abs(np.diff(lit[:, :, 4:28], axis=2)).mean()
    assert np.abs(np.diff(smooth[:, :, 4:28], axis=2)).mean() > 0.9 * inside  # the pattern keeps its contrast


def _coin_blocks(n: int = 800, block: int = 20) -> np.ndarray:
    """Blocks of scikit-image's coins photo (grey coins on a dark ground, as RGB) in [0, 1]."""
    coins = skdata.coins().astype(np.float32) / 255
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, coins.shape[0] - block, n), rng.integers(0, coins.shape[1] - block, n)
    return np.stack([np.repeat(coins[None, y: y + block, x: x + block], 3, 0) for y, x in zip(ys, xs)])


def test_the_quilt_kept_is_the_one_whose_blocks_look_like_the_material(monkeypatch):
    """A quilt that drifted into the dark ground between the coins (quilted from the darkest third of
    the blocks) is further from the material's blocks than a fair quilt, and is not the one kept."""
    blocks = _coin_blocks()
    rng = np.random.default_rng(0)
    fair = exemplars.quilt(blocks, 128, rng)  # 128 px: 256 blocks of its own, enough for a covariance
    dark = exemplars.quilt(blocks[np.argsort(blocks.mean((1, 2, 3)))[: len(blocks) // 3]], 128, rng)
    flat = np.broadcast_to(blocks.mean((0, 2, 3))[:, None, None], (3, 128, 128)).copy()
    near = exemplars.distance_to_blocks(fair, blocks)
    assert exemplars.distance_to_blocks(dark, blocks) > 2 * near
    assert exemplars.distance_to_blocks(flat, blocks) > 2 * near
    draws = iter([dark, fair, flat])
    monkeypatch.setattr(exemplars, "quilt", lambda *args, **kwargs: next(draws))
    assert exemplars.representative_quilt(blocks, 128, rng, tries=3) is fair


def test_blocks_come_only_from_inside_the_region_and_clear_of_its_edge():
    images = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    images[:, 0, :, :32] = 255       # red inside the region (left half)
    images[:, 1, :, 29:32] = 255     # a green rim along its edge (red + green = yellow)
    images[:, 2, :, 32:] = 255       # blue outside
    regions = torch.zeros(2, 1, 64, 64)
    regions[:, :, :, :32] = 1
    blocks = exemplars.region_blocks(images, regions, np.random.default_rng(0), block=12, edge=4)
    assert len(blocks) > 0
    assert blocks[:, 0].min() == 1.0 and blocks[:, 1:].max() == 0.0  # all red: no rim, no outside
    rim = exemplars.region_blocks(images, regions, np.random.default_rng(0), block=12, edge=0)
    assert rim[:, 1].max() == 1.0  # without the edge margin the rim is taken


def _night_blocks(n: int = 400, block: int = 20, seed: int = 0) -> np.ndarray:
    """Dark, slightly noisy sky blocks (n, 3, block, block) in [0, 1]."""
    rng = np.random.default_rng(seed)
    return (0.08 + 0.02 * rng.standard_normal((n, 3, block, block))).clip(0, 1).astype(np.float32)


def _dot(blocks: np.ndarray, rows, rgb) -> None:
    """Paint a 3 x 4 px dot (3 % of a 20 px block) of colour ``rgb`` into ``blocks[rows]``."""
    blocks[rows, :, 8:11, 8:12] = np.asarray(rgb, np.float32)[:, None, None]


def test_background_blocks_with_the_letters_colours_in_them_are_stray_and_a_backgrounds_own_rare_colours_are_not():
    blocks = _night_blocks()
    _dot(blocks, [3, 50, 99], (1.0, 0.55, 0.0))   # orange specks: pieces of an orange letter
    _dot(blocks, [7, 200, 301], (1.0, 1.0, 1.0))  # white stars: rare, but the night's own
    orange_letters = np.tile([[1.0, 0.55, 0.0]], (1000, 1)).astype(np.float32)
    stray = exemplars.stray_blocks(blocks, orange_letters)
    assert set(np.nonzero(stray)[0]) == {3, 50, 99}
    # the same stars are stray where the letters are white: it is the letters' colours that are dropped
    white_letters = np.ones((1000, 3), np.float32)
    assert set(np.nonzero(exemplars.stray_blocks(blocks, white_letters))[0]) == {7, 200, 301}


def test_a_background_is_quilted_without_the_letter_pieces_its_found_mask_missed(monkeypatch):
    n, orange = 4, torch.tensor([255, 140, 0], dtype=torch.uint8)[:, None, None]
    images = 20 + torch.randint(0, 6, (n, 3, 256, 256), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    images[:, :, 100:156, 100:156] = orange  # the letter, which its found mask covers
    for i in range(n):  # a serif the mask missed: a 5 x 5 px speck out in the sky
        images[i, :, 200:205, 20 + 50 * i: 25 + 50 * i] = orange
    letter = torch.zeros(n, 1, 256, 256)
    letter[:, :, 100:156, 100:156] = 1
    given = []
    monkeypatch.setattr(exemplars, "representative_quilt",
                        lambda blocks, side, rng: given.append(blocks) or np.zeros((3, side, side)))
    exemplars.build_exemplars(images, 1 - letter, np.zeros(n), 1, "background", np.random.default_rng(0), side=64)
    blocks = given[0]
    assert len(blocks) >= exemplars.MIN_BLOCKS
    # a block may keep a sliver of a speck (its own edge cut through it), never more than STRAY_SHARE
    assert (blocks[:, 0] > 0.5).mean((1, 2)).max() <= exemplars.STRAY_SHARE
    # and there were whole specks to leave out (25 px: 1.9 % of a block)
    every = exemplars.region_blocks(images, 1 - letter, np.random.default_rng(0), block=exemplars.BACKGROUND_BLOCK,
                                    edge=exemplars.BACKGROUND_EDGE)
    assert (every[:, 0] > 0.5).mean((1, 2)).max() > 0.015


def test_a_class_with_no_room_for_a_block_is_refused_in_words():
    images = torch.zeros(3, 3, 64, 64, dtype=torch.uint8)
    regions = torch.zeros(3, 1, 64, 64)
    regions[:, :, 10:20, 10:20] = 1  # 10 px: no 20 px block fits
    with pytest.raises(CgnArtError, match="texture class 0: only 0 blocks"):
        exemplars.build_exemplars(images, regions, np.zeros(3), 1, "texture", np.random.default_rng(0), side=64)


def _exemplar_field() -> ExemplarField:
    field = ExemplarField(2, 64)
    g = torch.Generator().manual_seed(0)
    field.exemplars.copy_(torch.randint(0, 256, (2, 3, 64, 64), generator=g, dtype=torch.uint8))
    return field


def test_the_noise_pans_the_plane_and_class_blends_keep_their_contrast():
    field = _exemplar_field()
    one = torch.tensor([[1.0, 0.0]])
    a = field(one, torch.tensor([[0.3, -1.2]]), 64)
    assert torch.equal(a, field(one, torch.tensor([[0.3, -1.2]]), 64))  # a seed is a picture
    b = field(one, torch.tensor([[0.5, -1.2]]), 64)
    assert not torch.allclose(a, b)
    # nearby noise is a nearby place on the same plane: the picture moves, it is not redrawn
    (y, x), = field.places(torch.tensor([[0.3, -1.2]]))
    moved = field.paint(one, torch.tensor([[0.3, -1.2]]), 64, 64, offset=(0, 3))
    assert torch.equal(moved[..., :61], field.paint(one, torch.tensor([[0.3, -1.2]]), 64, 67)[..., 3:64])
    assert (y, x) != tuple(field.places(torch.tensor([[0.5, -1.2]]))[0])
    # halfway between two materials has their contrast, where a plain average would have 1/sqrt(2) of it
    half = field(torch.tensor([[0.5, 0.5]]), torch.zeros(1, 2), 64)
    ends = [field(torch.tensor([w]), torch.zeros(1, 2), 64) for w in ([1.0, 0.0], [0.0, 1.0])]
    mean_std = (ends[0].std() + ends[1].std()) / 2
    assert half.std() > 0.9 * mean_std
    assert ((ends[0] + ends[1]) / 2).std() < 0.8 * mean_std  # what the old blend made: grey mud
    assert field(one, torch.zeros(1, 2), 16).shape[-1] == 16 and field(one, torch.zeros(1, 2), 200).shape[-1] == 200


def test_a_model_with_exemplar_fields_saves_loads_and_renders(tmp_path):
    from cgn_art.mechanisms.weights import load_model, save_model

    cfg = SmallCGNConfig(variant="letters", shape_classes=list("ABC"), texture_classes=["t0", "t1"],
                         background_classes=["b0", "b1"], native_size=16, width=16, fields="exemplar",
                         exemplar_side=64)
    model = SmallCGN(cfg)
    model.texture.exemplars.copy_(_exemplar_field().exemplars)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m", device="cpu")
    assert again.config.fields == "exemplar" and torch.equal(again.texture.exemplars, model.texture.exemplars)
    assert again.noise("texture", [1, 2], 1.0, 64).shape == (2, 2)
    cf = again.counterfactual([0], [1], [0], seed=[4], size=128)
    assert cf.foreground.shape == (1, 3, 128, 128) and float(cf.foreground.std()) > 0.1


def test_exemplar_fields_need_the_decomposed_recipe():
    from cgn_art.train.cgn import TrainSettings

    with pytest.raises(CgnArtError, match="decomposed"):
        TrainSettings(fields="exemplar", recipe="adversarial").validate()
    with pytest.raises(CgnArtError, match="fields"):
        TrainSettings(fields="pasted").validate()


def test_exemplars_from_masks_take_textures_inside_and_backgrounds_outside():
    """Two classes of each kind on 4x images: red/green letters on blue/yellow grounds; the masks are
    found at native size (64 px) and upsampled, as in training."""
    from types import SimpleNamespace

    n, native, fine_side = 8, 64, 256
    masks = torch.zeros(n, 1, native, native)
    masks[:, :, 20:44, 20:44] = 1  # a wide square "letter", with room for background blocks around it
    inside = {0: (255, 0, 0), 1: (0, 255, 0)}
    outside = {0: (0, 0, 255), 1: (255, 255, 0)}
    textures, backgrounds = np.arange(n) % 2, (np.arange(n) // 2) % 2
    fine = np.zeros((n, fine_side, fine_side, 3), np.uint8)
    big = np.kron(masks[:, 0].numpy(), np.ones((4, 4))).astype(bool)
    for i in range(n):
        fine[i][big[i]] = inside[textures[i]]
        fine[i][~big[i]] = outside[backgrounds[i]]
    data = SimpleNamespace(fine_images=fine, fine_index=np.arange(n), texture_class=textures,
                           background_class=backgrounds)
    made = exemplars.exemplars_from_masks(data, masks, {"texture": 2, "background": 2}, 32, np.random.default_rng(0))
    assert made["texture"].shape == (2, 3, 32, 32) and made["background"].shape == (2, 3, 32, 32)
    for kind, colours in (("texture", inside), ("background", outside)):
        for c, rgb in colours.items():
            mean = made[kind][c].float().mean((1, 2))
            assert torch.allclose(mean, torch.tensor(rgb, dtype=torch.float32), atol=2), (kind, c, mean)


def test_materials_are_quilted_per_group_of_images_and_fill_a_model():
    """Two classes of 4x images: class 0 brick inside a square 'letter', class 1 its negative; with
    two sources a class, each source is quilted from half the class's images and their shares add
    up to 1; the model that holds them saves, loads and draws each class in its own material."""
    from types import SimpleNamespace

    from cgn_art.materials.fields import MaterialClass, material_classes, set_material_classes
    from cgn_art.materials.synthesis import Source
    from cgn_art.mechanisms.weights import load_model, save_model

    brick = torch.from_numpy(skdata.brick()[:256, :256]).to(torch.uint8)
    images = torch.stack([brick if i % 2 == 0 else 255 - brick for i in range(8)])[..., None].repeat(1, 1, 1, 3)
    masks = torch.zeros(8, 1, 16, 16)
    masks[:, :, 5:11, 5:11] = 1  # at 16x: a 96 px letter, 80 px of background around it
    data = SimpleNamespace(fine_images=images.numpy(), fine_index=np.arange(8), texture_class=np.arange(8) % 2,
                           background_class=np.arange(8) % 2)
    made = exemplars.materials_from_masks(data, masks, {"texture": 2, "background": 2}, 64, np.random.default_rng(0),
                                          sources=2, tries=1)
    for kind in ("texture", "background"):
        for quilts in made[kind]:
            assert len(quilts) == 2 and sum(share for _, share in quilts) == pytest.approx(1.0)
            assert all(q.shape == (3, 64, 64) and q.dtype == np.uint8 for q, _ in quilts)
    cfg = SmallCGNConfig(variant="letters", shape_classes=list("AB"), texture_classes=["t0", "t1"],
                         background_classes=["b0", "b1"], native_size=16, width=8, fields="exemplar", exemplar_side=64)
    model = SmallCGN(cfg)
    for kind in ("texture", "background"):
        set_material_classes(model, kind, [
            MaterialClass(old.name, [Source(torch.from_numpy(q), True, share) for q, share in quilts],
                          torch.from_numpy(quilts[0][0]))
            for old, quilts in zip(material_classes(model, kind), made[kind])])
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        save_model(model, folder)
        again = load_model(folder, device="cpu")
        assert len(again.config.materials["texture"]) == 4
        cf = again.counterfactual(0, [0, 1], 0, seed=5, size=64)
        dark, light = cf.foreground.mean((1, 2, 3)).tolist()
        assert abs(dark - (1 - light)) < 0.1  # class 1 is the negative of class 0
