"""The ImageNet CGN with weights the tests make: a tiny BigGAN-deep (32 px, 4 channels) and a narrow
U2-Net with the released parameter names, saved in the released checkpoint's layout, converted and
loaded through the public API. Nothing is downloaded."""
from __future__ import annotations

import pytest
import torch
from helpers.imagenet import U2NET_DIVISOR, save_released_layout, tiny_biggan, tiny_cgn
from pytorch_pretrained_biggan import BigGAN

import cgn_art
from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.biggan import load_biggan_folder, save_biggan_folder
from cgn_art.mechanisms.imagenet import ImageNetCGN
from cgn_art.mechanisms.imagenet_weights import ENV, import_cgn
from cgn_art.mechanisms.u2net import U2Net, load_u2net


class Payload:
    """Stands for a pickle that would run code on loading: weights_only refuses it."""


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("released")
    model = tiny_cgn(0)
    return model, save_released_layout(model, folder / "cgn.pth", module_prefix=True)


@pytest.fixture(scope="module")
def converted(released, tmp_path_factory):
    _, checkpoint = released
    return import_cgn(checkpoint, tmp_path_factory.mktemp("converted") / "imagenet-cgn", resolution=32)


@pytest.mark.parametrize("module_prefix", [True, False])
def test_released_checkpoint_converts_and_loads_through_load_model(tmp_path, module_prefix):
    original = tiny_cgn(10)
    checkpoint = save_released_layout(original, tmp_path / "cgn.pth", module_prefix)
    folder = import_cgn(checkpoint, tmp_path / "converted", resolution=32)
    model = cgn_art.load_model(folder, device="cpu")
    assert isinstance(model, ImageNetCGN) and model.native_size == 32
    loaded = model.state_dict()
    for key, value in original.state_dict().items():  # every tensor made it across unchanged
        assert torch.equal(loaded[key], value), key
    cf = model.counterfactual(shape=[1, 2], texture=15, background=970, seed=[3, 4], size=48)
    assert cf.mask.shape == (2, 1, 48, 48) and cf.composite.shape == (2, 3, 48, 48)
    for part in (cf.mask, cf.foreground, cf.background, cf.composite):
        assert torch.isfinite(part).all() and part.min() >= 0 and part.max() <= 1
    assert cf.composite.std() > 0  # a picture, not a constant
    assert model.class_names["texture"][15] == "robin"  # torchvision's offline ImageNet names


def test_mechanisms_are_independent_and_classes_blend(converted):
    model = cgn_art.load_model(converted, device="cpu")
    noise = model.noise("shape", [5], 1.0, 32)
    a, b = model.one_hot("texture", [1]), model.one_hot("texture", [500])
    fg_a, fg_b = (model.mechanism("texture", w, noise, 32) for w in (a, b))
    fg_mid = model.mechanism("texture", (a + b) / 2, noise, 32)
    assert not torch.allclose(fg_a, fg_b)
    assert torch.isfinite(fg_mid).all() and not torch.allclose(fg_mid, fg_a) and not torch.allclose(fg_mid, fg_b)
    # The texture class does not reach the shape mechanism: same mask whatever the texture.
    one = model.counterfactual(3, 1, 7, seed=2)
    other = model.counterfactual(3, 500, 7, seed=2)
    assert torch.equal(one.mask, other.mask) and torch.equal(one.background, other.background)
    assert not torch.equal(one.foreground, other.foreground)
    # Truncation travels inside the noise: lower truncation, smaller noise, a different image.
    low = model.noise("texture", [5], 0.3, 32)
    assert low[0, -1].item() == pytest.approx(0.3) and low[0, :-1].abs().max() <= 0.6 + 1e-6
    assert not torch.allclose(model.mechanism("texture", a, low, 32), fg_a)


def test_imagenet_name_and_available_models_follow_the_configured_folder(converted, monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    assert "imagenet" not in cgn_art.available_models()
    with pytest.raises(CgnArtError, match="cgn.pth.*import-cgn"):
        cgn_art.load_model("imagenet")
    monkeypatch.setenv(ENV, str(converted))
    assert cgn_art.available_models()["imagenet"] == converted
    assert cgn_art.available_models(imagenet=tmp_path / "nowhere").get("imagenet") is None
    model = cgn_art.load_model("imagenet", device="cpu")
    assert model.name == "imagenet" and model.counterfactual(1, 2, 3).settings()["model"] == "imagenet"
    # A damaged weights file: the picker leaves the model out, loading says what is wrong.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((converted / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((converted / "model.safetensors").read_bytes()[:5000])
    monkeypatch.setenv(ENV, str(broken))
    assert "imagenet" not in cgn_art.available_models()
    with pytest.raises(CgnArtError, match="safetensors"):
        cgn_art.load_model("imagenet")


def test_missing_and_unexpected_keys_are_listed(released, tmp_path):
    model, _ = released
    state = dict(model.state_dict())
    del state["f_text.generator.conv_to_rgb.weight_orig"]
    del state["u2net.side3.bias"]
    state["f_bg.generator.extra_layer.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "cgn.pth")
    with pytest.raises(CgnArtError) as error:
        import_cgn(tmp_path / "cgn.pth", tmp_path / "out", resolution=32)
    message = str(error.value)
    assert "f_text.generator.conv_to_rgb.weight_orig" in message and "u2net.side3.bias" in message
    assert "unexpected 1 key(s): f_bg.generator.extra_layer.weight" in message
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_wrong_files_say_what_to_download(tmp_path):
    with pytest.raises(CgnArtError, match="pytorch_model.bin.*config.json"):
        load_biggan_folder(tmp_path / "no-biggan")
    (tmp_path / "cgn.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CgnArtError, match="import-cgn .*cgn.pth"):
        cgn_art.load_model(tmp_path)  # a raw checkpoint: convert it first
    with pytest.raises(CgnArtError, match="not a readable PyTorch weights file"):
        import_cgn(tmp_path / "cgn.pth", tmp_path / "out")

    torch.save({"x": Payload()}, tmp_path / "u2net.pth")
    with pytest.raises(CgnArtError, match="not a readable PyTorch weights file"):
        load_u2net(tmp_path / "u2net.pth")


def test_biggan_folder_round_trip_and_missing_spectral_vectors(tmp_path):
    biggan = tiny_biggan(3)
    save_biggan_folder(biggan, tmp_path / "biggan")
    z, y = torch.zeros(1, 16), torch.nn.functional.one_hot(torch.tensor([7]), 1000).float()
    with torch.no_grad():
        expected = biggan(z, y, 1.0)
        assert torch.equal(load_biggan_folder(tmp_path / "biggan")(z, y, 1.0), expected)
        # A file without spectral norm's v vectors: v is recomputed from u, which lands much closer
        # to the true images than the random v a plain non-strict load would leave.
        state = {k: v for k, v in biggan.state_dict().items() if not k.endswith("weight_v")}
        torch.save(state, tmp_path / "biggan" / "pytorch_model.bin")
        restored = load_biggan_folder(tmp_path / "biggan")(z, y, 1.0)
        naive = BigGAN(biggan.config)
        naive.load_state_dict(state, strict=False)
        naive_error = (naive.eval()(z, y, 1.0) - expected).abs().mean()
        assert torch.isfinite(restored).all() and (restored - expected).abs().mean() < naive_error / 2


def test_u2net_has_the_released_parameter_names():
    names = set(U2Net().state_dict())
    # A sample of keys from the released u2net.pth, from every kind of block.
    for key in ("stage1.rebnconvin.conv_s1.weight", "stage1.rebnconv7.conv_s1.weight",
                "stage1.rebnconv6d.bn_s1.running_mean", "stage2.rebnconv6.conv_s1.bias",
                "stage4.rebnconv4.bn_s1.num_batches_tracked", "stage5.rebnconv4.conv_s1.weight",
                "stage6.rebnconv3d.conv_s1.weight", "stage5d.rebnconv1d.bn_s1.weight",
                "stage1d.rebnconv1d.conv_s1.weight", "side1.weight", "side6.bias", "outconv.weight"):
        assert key in names, key
    assert not any(k.startswith(("pool", "stage7")) for k in names)  # pooling has no weights
    parameters = sum(p.numel() for p in U2Net().parameters())
    assert 43_900_000 < parameters < 44_100_000  # U2-Net's 44.0 M (176 MB file)
    mask = U2Net(U2NET_DIVISOR).eval()(torch.rand(2, 3, 40, 40) * 2 - 1)
    assert mask.shape == (2, 1, 40, 40) and ((mask > 0) & (mask < 1)).all()


def test_cli_import_status_and_mix(released, tmp_path, monkeypatch, capsys):
    _, checkpoint = released
    out = tmp_path / "cgn"
    assert main(["import-cgn", str(checkpoint), "-o", str(out), "--resolution", "32"]) == 0
    assert main(["import-cgn", str(checkpoint), "-o", str(out), "--resolution", "32"]) == 1  # no silent overwrite
    monkeypatch.delenv(ENV, raising=False)
    assert main(["imagenet-status"]) == 1
    assert "not available" in capsys.readouterr().out
    assert main(["imagenet-status", "--imagenet", str(out), "--presets"]) == 0
    text = capsys.readouterr().out
    assert "ready" in text and "texture presets: 12 house finch" in text
    monkeypatch.setenv(ENV, str(out))
    assert main(["mix", "--model", "imagenet", "--device", "cpu", "--shape", "goldfish", "--texture", "15",
                 "--background", "970", "--size", "40", "-o", str(tmp_path / "cf.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "cf.png").size == (40, 40)


@pytest.mark.parametrize("resolution", [128, 256, 512])
def test_full_size_configs_are_read_off_the_checkpoint(resolution):
    """The released checkpoint is read without being told its resolution: from its BigGAN blocks."""
    from pytorch_pretrained_biggan import convert_tf_to_pytorch as released  # the configs of the released BigGANs

    from cgn_art.mechanisms.imagenet_weights import infer_config

    reference = getattr(released, f"BigGAN{resolution}")
    state = {f"f_shape.{k}": v for k, v in BigGAN(reference).state_dict().items()}
    state.update({f"u2net.{k}": v for k, v in U2Net(U2NET_DIVISOR).state_dict().items()})
    config = infer_config(state)
    assert config.resolution == resolution and config.u2net_divisor == U2NET_DIVISOR
    assert config.biggan["channel_width"] == 128 and config.biggan["z_dim"] == 128
    assert [tuple(layer) for layer in config.biggan["layers"]] == [tuple(layer) for layer in reference.layers]
    assert config.biggan["attention_layer_position"] == reference.attention_layer_position
