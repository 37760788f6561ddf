"""Training the small CGN: the losses behave, a few steps reduce them, checkpoints resume."""
import numpy as np
import pytest
import torch

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.weights import load_model
from cgn_art.train import losses
from cgn_art.train.cgn import Trainer, TrainSettings


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    import os

    old = os.environ.get("CGN_ART_CACHE")
    os.environ["CGN_ART_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("CGN_ART_CACHE")
    else:
        os.environ["CGN_ART_CACHE"] = old


def tiny(**kwargs):
    settings = dict(variant="double-colored", steps=40, batch_size=16, copies=1, width=16,
                    discriminator_width=16, device="cpu", sample_every=1000, checkpoint_every=1000)
    settings.update(kwargs)
    return TrainSettings(**settings)


def test_mask_losses():
    binary = torch.zeros(2, 1, 8, 8)
    binary[:, :, :3] = 1
    soft = torch.full((2, 1, 8, 8), 0.5)
    assert losses.mask_binary_loss(binary) < 1e-4 < losses.mask_binary_loss(soft)
    inside = torch.zeros(4, 1, 10, 10)
    inside[:, :, :, :2] = 1  # area 0.2
    assert losses.mask_size_loss(inside, (0.1, 0.3), (0.15, 0.25)) == 0
    assert losses.mask_size_loss(torch.ones(4, 1, 10, 10), (0.1, 0.3), (0.15, 0.25)) > 1


def test_border_mosaic_holds_only_border_pixels():
    image = torch.zeros(1, 3, 32, 32)
    image[:, :, 4:-4, 4:-4] = 1  # a "digit" inside the 4 px frame
    mosaic = losses.border_mosaic(image)
    assert mosaic.shape == (1, 3, 16, 32) and mosaic.max() == 0
    image[:, :, 0, 10] = 1
    assert losses.border_mosaic(image).max() == 1


def test_discriminator_is_class_conditional():
    torch.manual_seed(0)
    d = losses.Discriminator(10, width=8)
    x = torch.rand(4, 3, 32, 32)
    a, b = d(x, torch.tensor([0, 1, 2, 3])), d(x, torch.tensor([5, 5, 5, 5]))
    assert a.shape == (4,) and not torch.allclose(a, b)


def test_a_few_steps_reduce_the_losses():
    trainer = Trainer(tiny(steps=60, seed=1))
    records = [trainer.train_step() for _ in range(60)]
    first, last = records[:10], records[-10:]
    for key in ("background_texture", "composite_texture", "size"):
        before = np.mean([r[key] for r in first])
        after = np.mean([r[key] for r in last])
        assert after < before, (key, before, after)


def test_training_never_sees_ground_truth_masks(monkeypatch):
    trainer = Trainer(tiny(steps=1))
    assert not hasattr(trainer, "alpha")
    names = [n for n in vars(trainer) if "alpha" in n or "mask" in n]
    assert names == []


def test_checkpoint_resumes_where_it_stopped(tmp_path):
    trainer = Trainer(tiny(steps=4))
    trainer.run(tmp_path)
    model = load_model(tmp_path / "model", device="cpu")
    assert model.counterfactual(1, 2, 3, size=40).composite.shape == (1, 3, 40, 40)
    resumed = Trainer(tiny(steps=6))
    resumed.resume(tmp_path)
    assert resumed.step == 4
    for a, b in zip(resumed.generator.parameters(), trainer.generator.parameters()):
        assert torch.equal(a, b)
    assert resumed.opt_g.state_dict()["state"].keys() == trainer.opt_g.state_dict()["state"].keys()
    result = resumed.run(tmp_path)
    assert result.step == 6
    assert sorted(p.name for p in tmp_path.glob("samples-*.png")) == ["samples-000004.png", "samples-000006.png"]


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(CgnArtError, match="no checkpoint"):
        Trainer(tiny()).resume(tmp_path)


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(batch_size=-1), dict(variant="fashion"), dict(ema_decay=1.5)])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(CgnArtError):
        tiny(**kwargs).validate()


@pytest.mark.parametrize("name", ["steps", "batch_size", "copies", "width", "sample_every", "checkpoint_every",
                                  "shape_substeps"])
def test_a_boolean_is_not_a_whole_number(name):
    """As ImageNetTrainSettings does: True would otherwise pass as 1 (and False as 0)."""
    words = name.replace("_", " ")
    with pytest.raises(CgnArtError, match=f"^{words} True is not a whole number$"):
        tiny(**{name: True}).validate()
    with pytest.raises(CgnArtError, match=f"^{words} False is not a whole number$"):
        tiny(**{name: False}).validate()


def test_settings_are_read_as_every_job_reads_them():
    settings = tiny(steps="40", batch_size=16.0, variant=" Double-Colored", ema_decay=0, lr_generator="1e-4").validate()
    assert (settings.steps, settings.batch_size, settings.variant) == (40, 16, "double-colored")
    assert type(settings.steps) is int and type(settings.batch_size) is int
    assert settings.ema_decay == 0.0 and settings.lr_generator == 1e-4
    with pytest.raises(CgnArtError, match=r"^ema decay 1 is out of range: give a number in \[0, 1\)$"):
        tiny(ema_decay=1).validate()
    with pytest.raises(CgnArtError, match=r"^lr generator 0 is out of range: give a number in \(0, 1\)$"):
        tiny(lr_generator=0).validate()
    with pytest.raises(CgnArtError, match="^steps 0 is out of range: give 1 or more$"):
        tiny(steps=0).validate()
    with pytest.raises(CgnArtError, match="^unknown data set 'fashion'; choose one of"):
        tiny(variant="fashion").validate()


def test_feature_extractor_is_random_offline_and_vgg_only_when_cached(tmp_path, monkeypatch):
    from cgn_art.features import RandomEncoder

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: no VGG weights
    assert isinstance(Trainer(tiny(feature_extractor="auto")).encoder, RandomEncoder)
    with pytest.raises(CgnArtError, match="vgg19"):
        Trainer(tiny(feature_extractor="vgg19"))
    with pytest.raises(CgnArtError, match="feature extractor"):
        tiny(feature_extractor="resnet").validate()
