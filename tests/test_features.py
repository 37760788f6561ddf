"""Feature encoders: the random encoder's determinism, Gram statistics on real textures, and VGG19
loading from a torch hub cache that the tests lay out themselves (no download is possible here)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cgn_art.errors import CgnArtError
from cgn_art.features import (
    RandomEncoder,
    VGGEncoder,
    available_encoders,
    gram,
    make_encoder,
    texture_distance,
    texture_statistics,
    vgg19_available,
    vgg19_weights_path,
    vgg19_weights_url,
)

# torchvision's VGG19 ("E") written out here rather than taken from torchvision, so the weights the
# tests make and the reference forward pass do not share a layout with the code under test.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
FILENAME = "vgg19-dcbb9e9d.pth"  # what torchvision 0.29 calls it; the loader reads it from the URL


def conv_layout() -> list[tuple[int, int, int]]:
    """(index in ``features``, in channels, out channels) of every conv in torchvision's layout."""
    layout, index, channels = [], 0, 3
    for item in VGG19_CFG:
        if item == "M":
            index += 1
        else:
            layout.append((index, channels, item))
            index, channels = index + 2, item
    return layout


def reference_features(state: dict, image: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """VGG19 by hand with F.conv2d: named ReLU outputs of an image in [0, 1]."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, out, block, conv = (image - mean) / std, {}, 1, 0
    layout = iter(conv_layout())
    for item in VGG19_CFG:
        if item == "M":
            x, block, conv = F.max_pool2d(x, 2), block + 1, 0
            continue
        index, _, _ = next(layout)
        conv += 1
        x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1))
        if f"relu{block}_{conv}" in names:
            out[f"relu{block}_{conv}"] = x
        if len(out) == len(names):
            break
    return out


def texture_crops(name: str) -> list[torch.Tensor]:
    """Three 64x64 RGB crops (from different places) of a greyscale texture shipped with scikit-image."""
    import skimage.data

    image = torch.from_numpy(getattr(skimage.data, name)()).float() / 255
    return [image[i:i + 128:2, j:j + 128:2].expand(3, -1, -1)[None].contiguous()
            for i, j in [(0, 0), (256, 256), (0, 300)]]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small convs here run ~80x slower with 2 threads when another process keeps the CPUs busy
    (measured: 0.86 s vs 0.01 s per texture distance at 64x64 on the 2-core CI machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def textures() -> dict[str, list[torch.Tensor]]:
    return {name: texture_crops(name) for name in ("brick", "grass", "gravel")}


@pytest.fixture(scope="module")
def fake_vgg_file(tmp_path_factory) -> tuple[Path, dict]:
    """A torch hub dir holding VGG19-shaped random weights under torchvision's file name.

    Only ``features.*`` (~80 MB) plus one small classifier tensor: the loader must ignore the
    classifier, and writing the real 548 MB file would be slow.
    """
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, cin, cout in conv_layout():
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=generator) * math.sqrt(2 / (9 * cin))
        state[f"features.{index}.bias"] = 0.05 * torch.randn(cout, generator=generator)
    state["classifier.6.bias"] = torch.zeros(1000)
    hub = tmp_path_factory.mktemp("torch_home") / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    path = hub / "checkpoints" / FILENAME
    torch.save(state, path)
    return path, state


def use_hub(monkeypatch, hub: Path) -> None:
    """Point torch's hub dir at ``hub`` the way a user would (TORCH_HOME), and check torch agrees."""
    monkeypatch.delenv("TORCH_HUB", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(hub.parent))
    assert Path(torch.hub.get_dir()) == hub, "torch.hub.set_dir was called elsewhere; TORCH_HOME is ignored"


@pytest.fixture
def vgg_hub(monkeypatch, fake_vgg_file) -> tuple[Path, dict]:
    path, state = fake_vgg_file
    use_hub(monkeypatch, path.parent.parent)
    return path, state


@pytest.fixture
def empty_hub(monkeypatch, tmp_path) -> Path:
    """A hub dir with an empty checkpoints folder; returns where the weights file would go."""
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    use_hub(monkeypatch, hub)
    return hub / "checkpoints" / FILENAME


# --- the random encoder and Gram statistics -------------------------------------------------------

def test_random_encoder_is_deterministic_for_a_seed_and_differs_across_seeds():
    image = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    a, b, c = (make_encoder("random", seed=s)(image) for s in (5, 5, 6))
    assert isinstance(make_encoder("random"), RandomEncoder)
    assert len(a) == len(b) == len(c) > 1
    for fa, fb in zip(a, b):
        assert torch.equal(fa, fb)
    conv_maps = [(fa, fc) for fa, fc in zip(a, c) if fa.shape[1] != 3]  # the colour maps are the image itself
    assert conv_maps and all(not torch.allclose(fa, fc) for fa, fc in conv_maps)


def test_random_encoder_options_pass_through_and_unknown_options_are_refused():
    encoder = make_encoder("random", channels=8, kernels=(3,), scales=1)
    assert [f.shape[1] for f in encoder(torch.rand(1, 3, 16, 16))] == [8, 3]
    with pytest.raises(CgnArtError, match="no option.*colour"):
        make_encoder("random", colour=True)
    with pytest.raises(CgnArtError, match="no option.*layers"):
        make_encoder("random", layers=("relu1_1",))


def test_gram_matches_its_definition():
    f = torch.randn(2, 4, 3, 5)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / 15
    torch.testing.assert_close(gram(f), expected)
    assert torch.allclose(gram(f), gram(f).transpose(1, 2))


def test_texture_distance_is_zero_for_the_same_image_and_separates_real_textures(textures):
    encoder = RandomEncoder(seed=0)
    brick, grass, gravel = textures["brick"], textures["grass"], textures["gravel"]
    assert texture_distance(encoder, brick[0], brick[0]).item() == 0
    for a, b in zip(texture_statistics(encoder, grass[0]), texture_statistics(encoder, grass[0].clone())):
        assert torch.equal(a, b)
    # another crop of the same texture is far closer than any crop of a different texture
    same = max(texture_distance(encoder, brick[0], brick[k]).item() for k in (1, 2))
    other = min(texture_distance(encoder, brick[0], t[k]).item() for t in (grass, gravel) for k in range(3))
    assert 0 < same and same * 5 < other


def test_texture_distance_depends_on_arrangement_not_just_colour(textures):
    """Shuffling a texture's pixels keeps its colour histogram but not its Gram statistics."""
    encoder = RandomEncoder(seed=0)
    brick = textures["brick"][0]
    perm = torch.randperm(brick[0, 0].numel(), generator=torch.Generator().manual_seed(0))
    shuffled = brick.flatten(2)[:, :, perm].reshape(brick.shape)
    assert texture_distance(encoder, brick, shuffled).item() > 5 * texture_distance(
        encoder, brick, textures["brick"][1]).item()


# --- choosing an encoder --------------------------------------------------------------------------

def test_unknown_encoder_name_lists_the_choices():
    with pytest.raises(CgnArtError, match="unknown encoder 'resnet'.*random, vgg19, auto"):
        make_encoder("resnet")


def test_without_vgg_weights_auto_falls_back_to_random_and_vgg19_says_what_to_download(empty_hub):
    assert vgg19_weights_path() == empty_hub
    assert not vgg19_available()
    assert isinstance(make_encoder("auto", seed=3), RandomEncoder)
    assert torch.equal(make_encoder("auto", seed=3).w3, RandomEncoder(seed=3).w3)
    with pytest.raises(CgnArtError) as error:
        make_encoder("vgg19")
    message = str(error.value)
    assert vgg19_weights_url() in message and str(empty_hub) in message
    assert vgg19_weights_url() == f"https://download.pytorch.org/models/{FILENAME}"
    described = available_encoders()
    assert set(described) == {"random", "vgg19", "auto"}
    assert "uses random" in described["auto"] and vgg19_weights_url() in described["vgg19"]


def test_missing_hub_dir_is_the_same_clear_error(monkeypatch, tmp_path):
    use_hub(monkeypatch, tmp_path / "never-made" / "hub")
    with pytest.raises(CgnArtError, match="not found at .*never-made.*checkpoints"):
        make_encoder("vgg19")


# --- VGG19 from weights the test made -------------------------------------------------------------

def test_auto_picks_vgg19_and_its_features_equal_a_hand_written_vgg(vgg_hub):
    path, state = vgg_hub
    assert vgg19_weights_path() == path and vgg19_available()
    assert "uses vgg19" in available_encoders()["auto"]
    encoder = make_encoder("auto")
    assert isinstance(encoder, VGGEncoder)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    assert len(encoder.features) == 21  # cut after relu4_1; nothing deeper is run
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    got = encoder(image)
    expected = reference_features(state, image, names)
    assert [f.shape[1:] for f in got] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    for name, f in zip(names, got):
        torch.testing.assert_close(f, expected[name], msg=name)
        assert f.abs().sum() > 0, f"{name} is all zero: the test weights do not exercise it"


def test_vgg_layers_in_the_order_asked_and_conv_outputs_keep_their_negatives(vgg_hub):
    path, state = vgg_hub
    encoder = make_encoder("vgg19", layers=("relu2_2", "conv1_1", "relu1_1"))
    assert len(encoder.features) == 9
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    relu2_2, conv1_1, relu1_1 = encoder(image)
    assert relu2_2.shape[1:] == (128, 8, 8)
    assert (conv1_1 < 0).any(), "an in-place ReLU overwrote the conv output"
    torch.testing.assert_close(relu1_1, conv1_1.clamp(min=0))
    relu2_2.sum().backward()  # stylization optimises the image through a frozen encoder
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_unknown_vgg_layer_lists_the_names(vgg_hub):
    with pytest.raises(CgnArtError, match="unknown VGG19 layer.*'relu9_1'.*relu5_4"):
        make_encoder("vgg19", layers=("relu1_1", "relu9_1"))
    with pytest.raises(CgnArtError, match="at least one"):
        make_encoder("vgg19", layers=())


def test_weights_are_loaded_with_weights_only(vgg_hub, monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    make_encoder("vgg19", layers=("relu1_1",))
    assert calls and all(kwargs.get("weights_only") is True for kwargs in calls)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return {}


class CodeOnLoad:
    """Unpickling this with weights_only=False would run ``_record_unpickling``."""

    def __reduce__(self):
        return _record_unpickling, ()


def test_a_file_that_would_run_code_is_refused_without_running_it(empty_hub):
    torch.save({"features.0.weight": CodeOnLoad()}, empty_hub)
    with pytest.raises(CgnArtError, match=f"{FILENAME} could not be read"):
        make_encoder("vgg19")
    assert UNPICKLED == []


def test_truncated_file_names_the_file(empty_hub, fake_vgg_file):
    data = fake_vgg_file[0].read_bytes()
    empty_hub.write_bytes(data[: len(data) // 2])
    with pytest.raises(CgnArtError) as error:
        make_encoder("auto")  # auto does not hide a broken file behind the random encoder
    assert str(empty_hub) in str(error.value) and "could not be read" in str(error.value)
    assert vgg19_weights_url() in str(error.value)


def test_garbage_file_names_the_file(empty_hub):
    empty_hub.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CgnArtError, match=f"{FILENAME} could not be read"):
        make_encoder("vgg19")


@pytest.mark.parametrize("content, problem", [
    ({"conv.0.weight": torch.zeros(64, 3, 3, 3)}, "features.0.weight is missing"),
    ({"features.0.weight": torch.zeros(64, 3, 5, 5), "features.0.bias": torch.zeros(64)},
     r"features.0.weight has shape \(64, 3, 5, 5\), expected \(64, 3, 3, 3\)"),
    ({"features.0.weight": torch.full((64, 3, 3, 3), float("nan")), "features.0.bias": torch.zeros(64)},
     "NaN"),
    ({"features.0.weight": torch.zeros(64, 3, 3, 3, dtype=torch.long), "features.0.bias": torch.zeros(64)},
     "dtype"),
    (torch.zeros(3), "holds a Tensor, not a state dict"),
    ([torch.zeros(3)], "holds a list"),
])
def test_wrong_contents_name_the_file_and_the_problem(empty_hub, content, problem):
    torch.save(content, empty_hub)
    with pytest.raises(CgnArtError, match=problem) as error:
        make_encoder("vgg19", layers=("relu1_1",))
    assert str(empty_hub) in str(error.value)


def test_float16_weights_load_as_float32(empty_hub, fake_vgg_file):
    state = {k: v.half() for k, v in fake_vgg_file[1].items() if k in ("features.0.weight", "features.0.bias")}
    torch.save(state, empty_hub)
    encoder = make_encoder("vgg19", layers=("relu1_1",))
    assert encoder.features[0].weight.dtype == torch.float32
    torch.testing.assert_close(encoder.features[0].weight, state["features.0.weight"].float())
