"""Training the ImageNet CGN on the CPU with a tiny BigGAN (32 px) and a narrow U2-Net, both made
here and saved as the files training reads (a BigGAN folder and u2net.pth)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from helpers.imagenet import U2NET_DIVISOR, tiny_biggan, tiny_cgn

import cgn_art
from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.biggan import load_biggan_folder, save_biggan_folder
from cgn_art.mechanisms.imagenet_weights import import_cgn
from cgn_art.mechanisms.u2net import U2Net
from cgn_art.train.imagenet import ImageNetTrainer, ImageNetTrainSettings, build_model, patch_tiling

FAST = dict(batch_size=1, accumulate=2, lr_shape=1e-4, lr_texture=1e-4, lr_background=1e-4,
            feature_extractor="random", device="cpu", sample_every=2, checkpoint_every=2)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The training inputs laid out as the docs tell a user: WEIGHTS/biggan-deep-256/ + WEIGHTS/u2net.pth."""
    root = tmp_path_factory.mktemp("weights")
    save_biggan_folder(tiny_biggan(0), root / "biggan-deep-256")
    torch.manual_seed(0)
    torch.save(U2Net(U2NET_DIVISOR).state_dict(), root / "u2net.pth")
    return root


def test_steps_reduce_the_loss_and_a_checkpoint_resumes(weights, tmp_path):
    settings = ImageNetTrainSettings(weights=str(weights), steps=3, **FAST)
    trainer = ImageNetTrainer(settings)
    # One update lowers the loss of the batches it was computed on (seeds 0 and 1: step 0's two
    # micro-batches). A held-out batch is no test with batch size 1 and tiny random models: its
    # loss goes up or down by chance (it changed sign when U^2-Net's resizing was corrected).
    trained_on, losses = [], trainer.losses
    trainer.losses = lambda seed, net=None: (trained_on.append(seed), losses(seed, net))[1]
    before = {seed: trainer.evaluate(seed)["total"] for seed in (0, 1)}
    trained_on.clear()
    trainer.train_step()
    trainer.losses = losses
    assert trained_on == [0, 1]
    assert sum(trainer.evaluate(seed)["total"] for seed in (0, 1)) < sum(before.values())
    result = trainer.run(tmp_path)
    after = trainer.evaluate()
    assert result.step == 3 and len(result.history) == 2  # steps 2 and 3 (step 1 was taken above)
    # Every loss term is there and finite.
    assert set(after) == {"l1", "perceptual", "binary", "mask", "texture", "background", "total"}
    assert all(math.isfinite(v) for v in after.values())
    assert (tmp_path / "samples-000002.png").is_file() and (tmp_path / "samples-000003.png").is_file()
    # The saved model is an ordinary ImageNet CGN folder; the resumed trainer continues exactly.
    assert cgn_art.load_model(tmp_path / "model", device="cpu").counterfactual(1, 2, 3).composite.isfinite().all()
    resumed = ImageNetTrainer(ImageNetTrainSettings(weights=str(weights), steps=4, **FAST))
    resumed.resume(tmp_path)
    assert resumed.step == 3 and resumed.evaluate()["total"] == pytest.approx(after["total"], rel=1e-5)
    for m, opt in trainer.optimizers.items():
        for key, value in opt.state_dict()["state"][0].items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(resumed.optimizers[m].state_dict()["state"][0][key]))
    trainer.train_step()
    resumed.train_step()
    assert trainer.evaluate()["total"] == pytest.approx(resumed.evaluate()["total"], rel=1e-4)


def test_texture_target_tiles_patches_from_the_masked_region():
    image = torch.zeros(1, 3, 64, 64)
    image[:, 0, 16:48, 16:48] = 1.0  # a red square
    mask = torch.zeros(1, 1, 64, 64)
    mask[:, :, 16:48, 16:48] = 1.0
    tiling = patch_tiling(image, mask, torch.Generator().manual_seed(0))
    assert tiling.shape == image.shape
    assert tiling[:, 0].mean() > 0.9 and tiling[:, 1:].abs().max() < 1e-6  # red only: all from inside the mask


def test_settings_are_checked_in_one_place(tmp_path, monkeypatch):
    with pytest.raises(CgnArtError, match="accumulate"):
        ImageNetTrainSettings(accumulate=0).validate()
    with pytest.raises(CgnArtError, match="mask interval"):
        ImageNetTrainSettings(mask_interval=(0.9, 0.1)).validate()
    monkeypatch.delenv("CGN_ART_IMAGENET", raising=False)
    with pytest.raises(CgnArtError, match="biggan-deep-256.*u2net.pth"):
        ImageNetTrainSettings().paths()
    with pytest.raises(CgnArtError, match="biggan-deep-256: no such folder.*pytorch_model.bin"):
        ImageNetTrainer(ImageNetTrainSettings(weights=str(tmp_path), **FAST))


@pytest.mark.parametrize("name", ["steps", "batch_size", "accumulate", "sample_every", "checkpoint_every", "seed"])
def test_a_boolean_is_not_a_whole_number(name):
    """As TrainSettings does (both read with settings_checks): True would otherwise pass as 1."""
    words = name.replace("_", " ")
    for flag in (True, False):
        with pytest.raises(CgnArtError, match=f"^{words} {flag} is not a whole number$"):
            ImageNetTrainSettings(**{name: flag}).validate()


def test_settings_are_read_as_every_job_reads_them():
    settings = ImageNetTrainSettings(steps="40", accumulate=8.0, lr_shape="1e-5", weight_l1="50",
                                     mask_interval=["0.2", 0.8], precision=" FP32").validate()
    assert (settings.steps, settings.accumulate, settings.precision) == (40, 8, "fp32")
    assert type(settings.steps) is int and type(settings.accumulate) is int
    assert (settings.lr_shape, settings.weight_l1, settings.mask_interval) == (1e-5, 50.0, (0.2, 0.8))
    with pytest.raises(CgnArtError, match=r"^truncation 0 is out of range: give a number in \(0, 1\]$"):
        ImageNetTrainSettings(truncation=0).validate()
    with pytest.raises(CgnArtError, match=r"^lr texture 1 is out of range: give a number in \[0, 1\)$"):
        ImageNetTrainSettings(lr_texture=1).validate()
    with pytest.raises(CgnArtError, match="^weight binary -1 is out of range"):
        ImageNetTrainSettings(weight_binary=-1).validate()
    with pytest.raises(CgnArtError, match="^mask interval 'wide' is not two numbers"):
        ImageNetTrainSettings(mask_interval="wide").validate()
    with pytest.raises(CgnArtError, match="^unknown precision 'fp8'; choose one of"):
        ImageNetTrainSettings(precision="fp8").validate()
    with pytest.raises(CgnArtError, match="^seed -1 is out of range"):
        ImageNetTrainSettings(seed=-1).validate()


def test_cli_trains_and_resumes(weights, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train-imagenet", "-o", str(out), "--weights", str(weights), "--batch-size", "1", "--accumulate", "1",
            "--feature-extractor", "random", "--device", "cpu"]
    assert main(base + ["--steps", "1"]) == 0
    assert main(base + ["--steps", "1"]) == 1  # refuses to overwrite a run silently
    assert "--resume" in capsys.readouterr().err
    assert main(base + ["--steps", "2", "--resume"]) == 0
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["step"] == 2 and [h["step"] for h in meta["history"]] == [1, 2]
    assert (out / "model" / "model.safetensors").is_file() and (out / "optimizer.safetensors").is_file()


def test_distributed_data_parallel_path_on_cpu(weights, monkeypatch):
    """What torchrun would set up, with one CPU process (gloo): the DDP wrapper, no_sync while
    accumulating, and an update that still trains only the mechanisms."""
    import socket

    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"TORCHELASTIC_RUN_ID": "test", "WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    try:
        trainer = ImageNetTrainer(ImageNetTrainSettings(weights=str(weights), steps=1, **FAST))
        assert isinstance(trainer.net, torch.nn.parallel.DistributedDataParallel)
        frozen = {k: v.clone() for k, v in trainer.model.state_dict().items() if k.startswith(("biggan_GT.", "u2net."))}
        learning = {p: getattr(trainer.model, p).generator.gen_z.weight_orig.clone()
                    for p in ("f_shape", "f_text", "f_bg")}
        losses = trainer.train_step()
        assert all(math.isfinite(v) for v in losses.values())
        after = trainer.model.state_dict()
        assert all(torch.equal(after[k], v) for k, v in frozen.items())  # incl. U2-Net batch-norm statistics
        for part, before in learning.items():
            assert not torch.equal(getattr(trainer.model, part).generator.gen_z.weight_orig, before), part
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_fine_tuning_a_model_imported_without_its_target_takes_it_from_biggan(weights, tmp_path):
    state = {k: v for k, v in tiny_cgn(4).state_dict().items() if not k.startswith("biggan_GT.")}
    torch.save(state, tmp_path / "cgn.pth")
    folder = import_cgn(tmp_path / "cgn.pth", tmp_path / "imported", resolution=32)
    model = build_model(ImageNetTrainSettings(init=str(folder), weights=str(weights), **FAST))
    target = load_biggan_folder(weights / "biggan-deep-256").state_dict()
    assert all(torch.equal(model.biggan_GT.state_dict()[k], v) for k, v in target.items())
    assert not any(p.requires_grad for p in model.biggan_GT.parameters())
    assert torch.equal(model.f_text.state_dict()["embeddings.weight"], state["f_text.embeddings.weight"])
