"""Weights are safetensors + JSON: round trip, shipped models, and clear errors for bad files."""
import json

import pytest
import torch

import cgn_art
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
from cgn_art.mechanisms.weights import load_model, save_model, shipped_models


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(1)
    model = SmallCGN(SmallCGNConfig(width=16, variant="test"), device="cpu")
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    return model, save_model(model, tmp_path / "m")


def test_round_trip_gives_the_same_images(saved):
    model, folder = saved
    loaded = load_model(folder, device="cpu")
    a = model.eval().counterfactual(1, 2, 3, seed=4, size=64)
    b = loaded.counterfactual(1, 2, 3, seed=4, size=64)
    assert torch.equal(a.composite, b.composite)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_weights_and_checkpoints_get_the_umask_mode_like_the_config(tmp_path):
    # safetensors' save_file makes its file 0600: a model folder shared with other users (or a
    # web server's account) could not be read, though its config.json could
    import os
    import stat

    from cgn_art.train.checkpoint import save_checkpoint

    model = SmallCGN(SmallCGNConfig(width=8, variant="test"), device="cpu")
    old = os.umask(0o022)
    try:
        folder = save_model(model, tmp_path / "m")
        save_checkpoint(tmp_path / "run", {"step": 1}, modules={"cgn": model})
    finally:
        os.umask(old)
    for path in (folder / "model.safetensors", tmp_path / "run" / "checkpoint.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE((folder / "config.json").stat().st_mode) == 0o644


def test_loading_never_unpickles(saved, monkeypatch):
    _, folder = saved

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load (pickle) must not be used for our weights")

    monkeypatch.setattr(torch, "load", refuse)
    load_model(folder, device="cpu")


def test_shipped_models_load_in_one_call():
    names = shipped_models()
    assert {"letters", "wildlife", "colored", "double-colored"} <= set(names)
    model = cgn_art.load_model()
    assert model.name == "letters" and model.native_size == 64
    assert model.class_names["shape"] == [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    assert len(model.class_names["texture"]) == 10 and len(model.class_names["background"]) == 8
    assert cgn_art.load_model("wildlife", device="cpu").class_names["shape"] == [str(i) for i in range(10)]
    assert cgn_art.load_model("colored", device="cpu").class_names["background"] == ["black"]


def test_truncated_weights_name_the_file(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CgnArtError, match=r"model\.safetensors.*(corrupt|truncated)"):
        load_model(folder)


def test_garbage_weights_name_the_file(saved):
    _, folder = saved
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CgnArtError, match="model.safetensors"):
        load_model(folder)


def test_mismatched_weights_say_what_is_wrong(saved, tmp_path):
    _, folder = saved
    other = SmallCGN(SmallCGNConfig(width=32, variant="test"), device="cpu")
    save_model(other, tmp_path / "other")
    (folder / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(CgnArtError, match="wrong shape"):
        load_model(folder)


def test_a_folder_is_loaded_by_the_family_its_format_names(saved, monkeypatch):
    from cgn_art.mechanisms import weights

    model, folder = saved
    assert weights.family_of(folder) is weights.FAMILIES[weights.FORMAT]
    assert load_model(folder, device="cpu").name == str(folder.resolve())
    # a family is one registry line: load_model finds it by the format in config.json
    calls = []
    monkeypatch.setitem(weights.FAMILIES, "test/other", weights.ModelFamily(
        load=lambda folder, device, name: calls.append((folder, device.type, name)) or model,
        save=lambda model, folder, extra=None: save_model(model, folder, extra, format="test/other")))
    other = weights.FAMILIES["test/other"].save(model, folder.parent / "other")
    assert json.loads((other / "config.json").read_text())["format"] == "test/other"
    assert load_model(other, device="cpu") is model and calls == [(other, "cpu", None)]


def test_a_raw_pth_checkpoint_goes_to_the_imagenet_family(tmp_path):
    from cgn_art.mechanisms import weights

    (tmp_path / "cgn.pth").write_bytes(b"not converted")
    assert weights.family_of(tmp_path) is weights.FAMILIES[weights.IMAGENET_FORMAT]
    with pytest.raises(CgnArtError, match="import-cgn"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{}")  # a config.json, however wrong, is read as one
    assert weights.family_of(tmp_path) is weights.FAMILIES[weights.FORMAT]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "something-else", "config": {}}), "not a cgn-art small CGN config"),
    (json.dumps({"format": "cgn-art/small-cgn", "config": {"colour": 3}}), "does not fit"),
])
def test_bad_config_is_explained(saved, content, message):
    _, folder = saved
    (folder / "config.json").write_text(content)
    with pytest.raises(CgnArtError, match=message):
        load_model(folder)


@pytest.mark.parametrize("change, message", [
    ({"width": "abc"}, "config width 'abc'"),
    ({"width": 1e7}, "config width .* out of range"),
    ({"texture_classes": [f"t{i}" for i in range(200_000)]}, "200000 classes"),
    ({"texture_classes": "brick"}, "must be a list of class names"),
    ({"fields": "exemplar", "exemplar_side": 2048, "texture_classes": [f"t{i}" for i in range(900)]}, "GB"),
    ({"fields": "exemplar", "materials": {"texture": [[0, 10**6, 10**6, 1, 0.0]]}}, "does not fit the model"),
])
def test_a_hostile_config_is_one_line_before_anything_is_allocated(saved, change, message, monkeypatch):
    """A hand-edited config.json once crashed every page with a traceback, or tried to allocate 39 GB."""
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["config"].update(change)
    (folder / "config.json").write_text(json.dumps(config))
    built = []
    monkeypatch.setattr(SmallCGN, "__init__", lambda *a, **k: built.append(1))
    with pytest.raises(CgnArtError, match=message):
        load_model(folder)
    assert not built  # refused from the config alone


def test_missing_model_lists_the_shipped_ones(tmp_path):
    with pytest.raises(CgnArtError, match="wildlife"):
        load_model("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CgnArtError, match="config.json"):
        load_model(tmp_path / "empty")


@pytest.mark.parametrize("name", ["letters", "wildlife", "colored", "double-colored"])
def test_shipped_models_are_trained(name):
    """Placeholders would ignore their classes; trained models give each texture its own colour."""
    model = cgn_art.load_model(name, device="cpu")
    cf = model.counterfactual(3, list(range(10)), 0, seed=1)
    colours = cf.foreground.mean(dim=(2, 3))
    gaps = torch.cdist(colours, colours) + torch.eye(10)
    assert gaps.min() > 0.03
    area = cf.mask.mean().item()
    assert 0.05 < area < 0.3  # a digit or letter, not an empty or full mask
