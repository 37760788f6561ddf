"""The decomposed recipe (the Letters CGN's): masks found from composites, a shape VAE, and
field mechanisms that learn texture statistics of real regions. Tiny synthetic data throughout."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cgn_art.data import registry
from cgn_art.features import RandomEncoder
from cgn_art.train import pseudo_masks
from cgn_art.train.decomposed import _erode, region_statistics, shape_pool, sliced_wasserstein

SIZE = 32
TEXTURE_COLOURS = np.array([[230, 40, 40], [40, 200, 60], [240, 220, 60]], np.uint8)
BACKGROUND_COLOURS = np.array([[30, 30, 120], [90, 90, 90]], np.uint8)


def _biased_set(n: int = 60, seed: int = 0, fine: bool = False):
    """Six classes of 'letters' (squares, bars, crosses) in flat textures with pixel noise; class c
    wears texture c % 3 and background c % 2, biased like the Letters training split: every texture
    is seen on both backgrounds and every background under every texture."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIZE, SIZE, 3), np.uint8)
    alpha = np.zeros((n, SIZE, SIZE), bool)
    labels = np.arange(n) % 6
    for i, c in enumerate(labels):
        y, x = rng.integers(6, 12, 2)
        a = np.zeros((SIZE, SIZE), bool)
        if c % 3 == 0:
            a[y: y + 14, x: x + 14] = True
        elif c % 3 == 1:
            a[y: y + 16, x + 4: x + 10] = True
        else:
            a[y + 5: y + 11, x: x + 16] = a[y: y + 16, x + 5: x + 11] = True
        noise = rng.normal(0, 12, (SIZE, SIZE, 3))
        picture = np.where(a[..., None], TEXTURE_COLOURS[c % 3], BACKGROUND_COLOURS[c % 2]) + noise
        images[i] = np.clip(picture, 0, 255).astype(np.uint8)
        alpha[i] = a
    data = SimpleNamespace(images=images, labels=labels, texture_class=labels % 3,
                           background_class=labels % 2, alpha=alpha)
    if fine:
        data.fine_images = np.repeat(np.repeat(images[:12], 4, 1), 4, 2)
        data.fine_index = np.arange(12)
    return data


def _iou(found: np.ndarray, truth: np.ndarray) -> float:
    return float(((found > 0.5) & truth).sum() / max(((found > 0.5) | truth).sum(), 1))


@pytest.mark.slow
def test_masks_are_found_from_composites_and_labels_alone():
    torch.manual_seed(0)
    data = _biased_set()
    net = pseudo_masks.fit(data.images, data.texture_class, data.background_class, 3, 2, steps=300, width=16,
                           receptive_field=5, crop=SIZE)
    soft = pseudo_masks.masks(net, data.images, data.texture_class, data.background_class, 3)
    # red/green/yellow shapes on blue or grey: the one split that fits every image is the true one
    assert _iou(pseudo_masks.clean(soft, 2), data.alpha) > 0.8


@pytest.mark.slow
def test_labels_that_do_not_match_the_pictures_find_no_letters():
    """The failure the method must show: with each image's texture and background labels drawn at
    random, no split fits every image, and the masks are wrong."""
    torch.manual_seed(0)
    data = _biased_set()
    rng = np.random.default_rng(1)
    t, b = rng.integers(0, 3, len(data.labels)), rng.integers(0, 2, len(data.labels))
    net = pseudo_masks.fit(data.images, t, b, 3, 2, steps=300, width=16, receptive_field=5, crop=SIZE)
    soft = pseudo_masks.masks(net, data.images, t, b, 3)
    assert _iou(pseudo_masks.clean(soft, 2), data.alpha) < 0.6


def test_an_unsure_letter_is_cut_to_its_size_and_a_confident_one_keeps_the_confident_cut():
    """The labeller's ratio where it cannot tell texture from background: 0.3 on the letter, 0.02
    off it. The confident cut keeps only the bar it was sure of; the letter-sized cut finds the
    whole letter, and leaves a letter found at 0.9 exactly as the confident cut has it."""
    truth = np.zeros((2, 32, 32), bool)
    truth[:, 6:26, 8:18] = True                 # a stem, 20 % of the image
    sure = np.zeros_like(truth)
    sure[:, 6:9, 8:18] = True                   # a bar of it the labeller was sure of
    soft = np.where(truth, 0.3, 0.02).astype(np.float32)
    soft[0][sure[0]] = 0.95
    soft[1] = np.where(truth[1], 0.9, 0.02)     # image 1: a confident letter
    confident = pseudo_masks.clean(soft, 2)
    sized = pseudo_masks.letter_sized(soft, 2, least_area=0.16)
    assert _iou(confident[0], truth[0]) < 0.3 and _iou(sized[0], truth[0]) > 0.8
    assert np.array_equal(sized[1], confident[1]) and _iou(sized[1], truth[1]) > 0.8
    # no cut reaches the area: the lowest cut, never an empty mask
    faint = np.where(truth[:1], 0.09, 0.0).astype(np.float32)
    assert _iou(pseudo_masks.letter_sized(faint, 2, least_area=0.5)[0], truth[0]) > 0.8


def test_the_shape_learns_from_letter_sized_masks_and_no_class_is_left_without_any():
    found = np.zeros((6, 10, 10), np.uint8)
    found[0, :5] = 1     # class 0: half the image
    found[1, 0, :3] = 1  # class 0: a speck (3 %), where the labeller lost the letter
    found[2, :2] = 1     # class 1: 20 %
    found[3, :1] = 1     # class 1: 10 %
    found[4, 0, :2] = 1  # class 2: only specks
    found[5, 0, :1] = 1
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert shape_pool(found, labels, 0.06).tolist() == [0, 2, 3, 4, 5]
    assert shape_pool(found, labels, 0.15).tolist() == [0, 2, 4, 5]


@pytest.mark.parametrize("pixels", [0, 1, 4])
def test_erosion_in_two_passes_is_the_square_minimum(pixels):
    mask = (torch.rand(3, 1, 17, 23, generator=torch.Generator().manual_seed(pixels)) > 0.2).float()
    square = torch.zeros_like(mask)
    padded = torch.nn.functional.pad(mask, (pixels,) * 4, value=1.0)  # the edge does not count
    for y in range(17):
        for x in range(23):
            square[..., y, x] = padded[..., y: y + 2 * pixels + 1, x: x + 2 * pixels + 1].amin(dim=(-2, -1))
    assert torch.equal(_erode(mask, pixels), square)


def test_region_statistics_only_count_pixels_inside_the_region():
    encoder = RandomEncoder(kernels=(3,), channels=4, scales=1, seed=0)
    images = torch.zeros(2, 3, 16, 16)
    images[:, 0, :, 8:] = 1.0  # right half red
    region = torch.zeros(2, 1, 16, 16)
    region[0, :, :, 10:] = 1  # image 0: inside the red half only
    region[1, :, 2:14, 2:6] = 1  # image 1: inside the black half only
    vectors, grams, valid = region_statistics(encoder, images, region)
    assert valid.all()
    assert not torch.allclose(vectors[0], vectors[1])
    empty = torch.zeros(2, 1, 16, 16)
    assert not region_statistics(encoder, images, empty)[2].any()
    # a region one pixel wide has no pixel whose 3x3 filter footprint lies inside it
    line = torch.zeros(2, 1, 16, 16)
    line[:, :, :, 12] = 1
    assert not region_statistics(encoder, images, line)[2].any()


def test_sliced_wasserstein_sees_a_shift_and_not_a_reordering():
    torch.manual_seed(0)
    a = torch.randn(8, 5)
    projections = torch.nn.functional.normalize(torch.randn(5, 16), dim=0)
    assert sliced_wasserstein(a, a[torch.randperm(8)], projections) < 1e-10
    assert sliced_wasserstein(a, a + 1.0, projections) > 0.1


@pytest.fixture
def tiny_family(monkeypatch):
    """A registered data family of 32 px synthetic 'letters' with 4x fine images."""
    data = _biased_set(fine=True)
    names = {"shape": [f"shape {i}" for i in range(6)], "texture": ["red", "green", "yellow"],
             "background": ["blue", "grey"]}
    family = registry.DataFamily(name="tiny", native_size=SIZE, border=2, detail_levels=2,
                                 class_names=lambda: names, load=lambda split="train", seed=0, copies=1: data,
                                 train_defaults={"recipe": "decomposed", "width": 16, "batch_size": 8})
    monkeypatch.setitem(registry.DATASETS, "tiny", lambda: family)
    return family


def test_decomposed_training_runs_saves_and_resumes(tiny_family, tmp_path):
    from cgn_art.mechanisms.weights import load_model
    from cgn_art.train.cgn import TrainSettings, train

    settings = TrainSettings.for_data("tiny", steps=3, mask_steps=20, sample_every=3, checkpoint_every=3, threads=1,
                                      shape_substeps=1)
    # a cache from before the two cuts holds hard masks only: it is found again, not misread
    np.savez_compressed(tmp_path / "masks.npz", masks=np.zeros((60, SIZE, SIZE), np.uint8))
    result = train(settings, tmp_path)
    assert result.step == 3
    with np.load(tmp_path / "masks.npz") as stored:  # the soft masks, cut twice (confident, letter-sized)
        assert stored["soft"].shape == (60, SIZE, SIZE)
    assert {"mask_reconstruction", "texture_fine_statistics", "background_native_gram"} <= set(result.history[-1])
    model = load_model(tmp_path / "model")
    cf = model.counterfactual([0], [1], [0], seed=[3], size=128)  # detail levels render at 4x
    assert cf.foreground.shape[-1] == 128 and torch.isfinite(cf.foreground).all()
    again = train(TrainSettings.for_data("tiny", steps=5, mask_steps=20, sample_every=5, checkpoint_every=5,
                                         threads=1), tmp_path, resume=True)
    assert again.step == 5 and [h["step"] for h in again.history] == [3, 5]


def test_recipe_settings_are_checked():
    from cgn_art.errors import CgnArtError
    from cgn_art.train.cgn import TrainSettings

    assert TrainSettings.for_data("letters").recipe == "decomposed"
    assert TrainSettings.for_data("wildlife").recipe == "adversarial"
    with pytest.raises(CgnArtError, match="unknown recipe 'magic'; choose one of adversarial, decomposed"):
        TrainSettings(recipe="magic").validate()
    with pytest.raises(CgnArtError, match="shape substeps"):
        TrainSettings(shape_substeps=-1).validate()


def test_setup_messages_keep_the_progress_bar_where_it_is():
    from cgn_art.cli.progress import ProgressBar

    with ProgressBar("training", total=100, initial=50, unit="step") as bar:
        bar(None, "measuring the real textures")
        assert bar.bar.n == 50  # a resumed run's bar does not jump back to 0 while it sets up
        bar(0.75, "step 75/100  loss 1.0")
        assert bar.bar.n == 75


def test_a_checkpoint_without_the_mask_critic_resumes_with_a_fresh_one(tiny_family, tmp_path):
    """Runs started before the mask critic existed (weight 0) continue with it: the critic is the
    one part the checkpoint lacks, so it starts fresh, learns, and is saved from then on."""
    from safetensors.torch import load_file

    from cgn_art.train.cgn import TrainSettings, train
    from cgn_art.train.decomposed import DecomposedTrainer

    common = {"mask_steps": 20, "threads": 1, "shape_substeps": 1}
    train(TrainSettings.for_data("tiny", steps=2, sample_every=2, checkpoint_every=2, **common), tmp_path)
    _strip(tmp_path, "mask_critic", "opt_c")  # as a checkpoint from before the critic existed

    settings = TrainSettings.for_data("tiny", steps=4, sample_every=4, checkpoint_every=4,
                                      weight_shape_adversarial=1.0, **common)
    trainer = DecomposedTrainer(settings, out_dir=tmp_path)
    before = {k: v.clone() for k, v in trainer.mask_critic.state_dict().items()}
    trainer.resume(tmp_path)
    result = trainer.run(tmp_path)
    assert result.step == 4 and "mask_adversarial" in result.history[-1]
    after = trainer.mask_critic.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it learned
    saved = load_file(str(tmp_path / "checkpoint.safetensors"))
    assert torch.equal(saved["mask_critic.score.weight"], after["score.weight"])


def _strip(folder, *parts):
    """Remove ``parts`` (modules and optimisers) from a checkpoint, as if they had never existed."""
    import json

    from safetensors.torch import load_file, save_file

    path = folder / "checkpoint.safetensors"
    tensors = {k: v for k, v in load_file(str(path)).items() if k.split(".")[0] not in parts}
    save_file(tensors, str(path))
    meta = json.loads((folder / "checkpoint.json").read_text())
    meta["param_groups"] = {k: v for k, v in meta["param_groups"].items() if k not in parts}
    (folder / "checkpoint.json").write_text(json.dumps(meta))


def test_position_labels_keep_away_from_the_edges():
    from cgn_art.train.decomposed import position_labels

    masks = torch.zeros(2, 1, 64, 64)
    masks[0, :, 16:48, 16:48] = 1  # a 32 px square letter
    labels = position_labels(masks, np.array([3, 1]), np.array([2, 0]), texture_count=5, margin=8)
    assert labels.shape == (2, 16, 16)
    assert labels[0, 8, 8] == 3  # the square's centre: its texture class
    assert labels[0, 0, 0] == 5 + 2  # far outside: texture count + its background class
    assert labels[0, 4, 8] == -1  # 2 px inside the edge: neither
    assert (labels[1] == 5).all()  # no letter at all: background 0 everywhere
    assert set(labels[0].unique().tolist()) == {-1, 3, 7}


def test_the_patch_critic_trains_with_the_fields(tiny_family, tmp_path):
    from cgn_art.train.cgn import TrainSettings
    from cgn_art.train.decomposed import DecomposedTrainer

    settings = TrainSettings.for_data("tiny", steps=2, mask_steps=20, threads=1, weight_field_adversarial=1.0)
    trainer = DecomposedTrainer(settings, out_dir=tmp_path)
    before = {k: v.clone() for k, v in trainer.patch_critic.state_dict().items()}
    record = trainer.train_step()
    assert np.isfinite(record["texture_adversarial"]) and np.isfinite(record["background_adversarial"])
    after = trainer.patch_critic.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    windows, labels = trainer._real_windows(4, 32)
    assert windows.shape == (4, 3, 32, 32) and labels.shape == (4, 8, 8) and 0 <= windows.min() <= windows.max() <= 1


def test_the_patch_distribution_loss_tells_the_real_pattern_from_flat_colour_and_from_another_pattern():
    from cgn_art.train.decomposed import PatchBank, patch_distribution_loss

    rng = np.random.default_rng(0)
    side = 64
    yy, xx = np.mgrid[:side, :side]
    stripes = (((xx // 4) % 2) * 200 + 30).astype(np.uint8)          # class 0: vertical stripes, period 8
    checks = ((((xx // 6) + (yy // 6)) % 2) * 200 + 30).astype(np.uint8)  # class 1: a checkerboard
    images = torch.from_numpy(np.stack([np.stack([stripes] * 3), np.stack([checks] * 3)] * 3))
    regions = torch.ones(len(images), 1, side, side)
    regions[:, :, :, :8] = 0  # the region's edge: no patch may cross it
    bank = PatchBank(images, regions, np.array([0, 1] * 3), 2, rng)
    assert all(len(level) > 0 for level in bank.by_class[0])

    def loss(fake, cls):
        torch.manual_seed(0)
        return float(patch_distribution_loss(fake, np.array([cls] * len(fake)), bank, np.random.default_rng(1)))

    real = images[:1].float() / 255
    flat = torch.full_like(real, float(real.mean()))
    assert loss(real, 0) < 0.1 * loss(flat, 0)          # flat colour of the right mean is far off
    assert loss(real, 0) < 0.1 * loss(images[1:2].float() / 255, 0)  # so is another pattern
    fake = flat.clone().requires_grad_(True)
    patch_distribution_loss(fake, np.array([0]), bank, rng).backward()
    assert fake.grad.abs().sum() > 0                      # it can train a mechanism


def test_the_fields_train_on_patch_distributions(tiny_family, tmp_path):
    from cgn_art.train.cgn import TrainSettings
    from cgn_art.train.decomposed import DecomposedTrainer

    settings = TrainSettings.for_data("tiny", steps=2, mask_steps=20, threads=1, weight_field_patches=1.0)
    trainer = DecomposedTrainer(settings, out_dir=tmp_path)
    record = trainer.train_step()
    assert record["texture_patches"] > 0 and record["background_patches"] > 0
    assert np.isfinite(record["texture_patches"]) and np.isfinite(record["background_patches"])


@pytest.mark.slow
def test_exemplar_fields_are_quilted_from_the_found_regions_and_only_the_shape_trains(tiny_family, tmp_path,
                                                                                        monkeypatch):
    from cgn_art.mechanisms.weights import load_model
    from cgn_art.train import exemplars
    from cgn_art.train.cgn import TrainSettings, train

    # the tiny bars are 24 px wide at 4x: no room for a margin
    for name, value in (("EDGE", 0), ("BACKGROUND_EDGE", 4), ("BACKGROUND_BLOCK", 20)):
        monkeypatch.setattr(exemplars, name, value)
    settings = TrainSettings.for_data("tiny", steps=2, mask_steps=60, sample_every=2, checkpoint_every=2, threads=1,
                                      shape_substeps=0, fields="exemplar")
    result = train(settings, tmp_path)
    assert not any(k.startswith(("texture", "background")) for k in result.history[-1])
    model = load_model(tmp_path / "model")
    assert model.texture.exemplars.shape == (3, 3, 128, 128)
    # each exemplar wears its class's colour (as found, without ground-truth masks), not its neighbour's
    for kind, colours in (("texture", TEXTURE_COLOURS), ("background", BACKGROUND_COLOURS)):
        means = getattr(model, kind).exemplars.float().mean(dim=(2, 3))
        nearest = torch.cdist(means, torch.from_numpy(colours).float()).argmin(1)
        assert nearest.tolist() == list(range(len(colours))), kind
    # a resumed run keeps the quilted exemplars (read from its checkpoint, not quilted again)
    train(TrainSettings.for_data("tiny", steps=3, sample_every=3, checkpoint_every=3, threads=1, shape_substeps=0,
                                 fields="exemplar"), tmp_path, resume=True)
    assert torch.equal(load_model(tmp_path / "model").texture.exemplars, model.texture.exemplars)
