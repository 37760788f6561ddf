"""`cgn-art import-cgn` takes the checkpoints users actually have: with or without `module.`, wrapped
in {"state_dict"|"model": ...}, spectral norm saved without `weight_v` (older PyTorch), batch norms
without `num_batches_tracked`, no `biggan_GT`; anything else gets one line naming a few keys."""
from __future__ import annotations

import pytest
import torch
from helpers.imagenet import tiny_cgn

import cgn_art
from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.imagenet_weights import import_cgn


@pytest.fixture(scope="module")
def original():
    return tiny_cgn(20)


def _render(model, seed=5):
    with torch.no_grad():
        return model.counterfactual(shape=9, texture=15, background=970, seed=seed, size=32)


def _import(state, folder, **kwargs):
    folder.mkdir(exist_ok=True)
    torch.save(state, folder / "cgn.pth")
    return import_cgn(folder / "cgn.pth", folder / "out", resolution=32, **kwargs)


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_a_training_checkpoint_dict_imports(original, tmp_path, wrap):
    weights = {"module." + k: v for k, v in original.state_dict().items()}
    folder = _import({wrap: weights, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3}, tmp_path)
    loaded = cgn_art.load_model(folder, device="cpu").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in original.state_dict().items())


def test_spectral_norm_without_v_is_rebuilt(original, tmp_path):
    expected = _render(original)  # a forward also refreshes each module's normalised .weight
    state = original.state_dict()
    old_style = {k: v for k, v in state.items() if not k.endswith("weight_v")}
    # PyTorch before 1.0 also saved the normalised weight next to weight_orig and weight_u.
    for key in [k for k in old_style if k.endswith("weight_orig")]:
        module = original.get_submodule(key.removesuffix(".weight_orig"))
        old_style[key.removesuffix("_orig")] = module.weight.detach().clone()
    messages = []
    folder = _import(old_style, tmp_path, progress=lambda f, m: messages.append(m))
    assert any("spectral-norm v" in m for m in messages)
    got = _render(cgn_art.load_model(folder, device="cpu"))
    # With the saved normalised weight, v is rescaled to its exact sigma: the same images.
    for part in ("mask", "foreground", "background"):
        assert torch.allclose(getattr(got, part), getattr(expected, part), atol=1e-5), part

    # Only weight_u (no normalised weight): v from one half power-iteration step, close to the original.
    only_u = {k: v for k, v in state.items() if not k.endswith("weight_v")}
    model = cgn_art.load_model(_import(only_u, tmp_path / "only_u"), device="cpu")
    close = (_render(model).foreground - expected.foreground).abs().mean()
    naive = tiny_cgn(20)
    with torch.no_grad():
        for name, buffer in naive.named_buffers():
            if name.endswith("weight_v"):
                buffer.copy_(torch.nn.functional.normalize(torch.randn_like(buffer), dim=0))
    assert close < (_render(naive).foreground - expected.foreground).abs().mean() / 2


def test_without_biggan_gt_it_renders_and_says_training_needs_it(original, tmp_path, capsys):
    state = {k: v for k, v in original.state_dict().items() if not k.startswith("biggan_GT.")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # PyTorch < 0.4.1 too
    torch.save(state, tmp_path / "cgn.pth")
    assert main(["import-cgn", str(tmp_path / "cgn.pth"), "-o", str(tmp_path / "out"), "--resolution", "32"]) == 0
    assert "needed for training only" in capsys.readouterr().err
    model = cgn_art.load_model(tmp_path / "out", device="cpu")
    assert model.biggan_GT is None and not model.config.target_biggan
    assert not any(k.startswith("biggan_GT.") for k in model.state_dict())
    # The same images up to float rounding (AVX-512 machines may take other kernels for a reloaded copy).
    assert torch.allclose(_render(model).composite, _render(original).composite, atol=1e-5, rtol=0)
    z = model.noise("shape", [1], 1.0, 32)[:, :-1]
    y = model.one_hot("shape", [1])
    with pytest.raises(CgnArtError, match="biggan_GT.*training"):
        model(z, y, y, y, 1.0)
    model.attach_target(original.biggan_GT)
    assert torch.equal(model(z, y, y, y, 1.0)["x_gt"], original(z, y, y, y, 1.0)["x_gt"])


def test_anything_else_gets_one_line_naming_keys(original, tmp_path, capsys):
    # A bare BigGAN (someone picked the wrong file): nothing of the CGN's layout.
    bare = original.f_text.state_dict()
    torch.save(bare, tmp_path / "biggan.pth")
    assert main(["import-cgn", str(tmp_path / "biggan.pth"), "-o", str(tmp_path / "out")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "missing key 'f_shape.embeddings.weight'" in errors[0]
    err = errors[0]
    assert "unexpected" in err and "embeddings.weight" in err

    # The CGN's layout with a part renamed: missing and unexpected keys, a few of each.
    state = {k.replace("f_bg.", "f_background."): v for k, v in original.state_dict().items()}
    with pytest.raises(CgnArtError) as error:
        _import(state, tmp_path)
    message = str(error.value)
    assert "missing" in message and "f_bg.embeddings.weight" in message and "f_background." in message
    assert "more" in message and "\n" not in message

    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CgnArtError, match="no state dict of tensors"):
        import_cgn(tmp_path / "list.pth", tmp_path / "out2")
