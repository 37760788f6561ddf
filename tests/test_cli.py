"""The `cgn-art` command line: mostly in-process through main([...]), plus a few runs of the real
console script to check exit codes and the one-line error. Settings are tiny so this stays light."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cgn_art.cli import build_parser, main
from cgn_art.errors import CgnArtError
from cgn_art.io import png_bytes, read_png_settings, save_png
from cgn_art.train.cgn import TrainSettings

MIX = ["mix", "--device", "cpu", "--model", "wildlife", "--shape", "3", "--background", "1", "--seed", "7"]
TINY_TRAIN = ["train", "--variant", "colored", "--copies", "1", "--batch-size", "8", "--width", "8",
              "--discriminator-width", "8", "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """One dataset cache for this module (building a variant from scratch takes seconds)."""
    path = tmp_path_factory.mktemp("cgn-art-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CGN_ART_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def colored_train(cache):
    assert main(["data", "build", "--variant", "colored", "--split", "train"]) == 0
    return cache


@pytest.fixture(scope="module")
def lively_model(tmp_path_factory) -> str:
    """A wildlife-shaped model whose outputs depend on every class.

    A freshly initialised CGN ignores its classes (the FiLM layers start at zero) and the shipped
    weights may still be such placeholders, so the pixel tests use random FiLM weights instead.
    """
    import torch

    from cgn_art.data.mnist import class_names
    from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
    from cgn_art.mechanisms.weights import save_model

    names = class_names("wildlife")
    model = SmallCGN(SmallCGNConfig(variant="wildlife", shape_classes=names["shape"], texture_classes=names["texture"],
                                    background_classes=names["background"], width=16))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".film." in name or name.endswith("embed.weight"):
                parameter.normal_(0, 0.5)
    return str(save_model(model, tmp_path_factory.mktemp("lively") / "model"))


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("cgn-art: error: "), err
    assert "Traceback" not in err
    return lines[0]


# data -----------------------------------------------------------------------------------------

def test_data_build_reports_count_and_place(colored_train, capsys):
    assert main(["data", "build", "--variant", "colored", "--split", "train"]) == 0  # cached now
    out = capsys.readouterr().out
    assert "colored train: 4000 images" in out
    assert str(colored_train) in out
    assert any(colored_train.rglob("colored-train-*.npz"))


def test_data_sheet_writes_png_of_the_right_size(colored_train, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["data", "sheet", "--variant", "colored", "--rows", "3", "--columns", "4", "--scale", "2",
                 "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as image:
        assert image.size == (4 * 32 * 2, 3 * 32 * 2)
    assert read_png_settings(out)["variant"] == "colored"


# mix ------------------------------------------------------------------------------------------

def test_mix_writes_png_whose_settings_round_trip(tmp_path, capsys):
    out = tmp_path / "three.png"
    assert main([*MIX, "--texture", "5", "--truncation", "0.8", "--size", "48", "-o", str(out), "--parts"]) == 0
    settings = read_png_settings(out)
    assert settings == {"model": "wildlife", "shape_class": 3, "texture_class": 5, "background_class": 1,
                        "shape_seed": 7, "texture_seed": 7, "background_seed": 7, "truncation": 0.8, "size": 48}
    with Image.open(out) as image:
        assert image.size == (48, 48) and image.mode == "RGB"
    printed = capsys.readouterr().out.split()
    assert printed[0] == str(out)
    for part in ("mask", "foreground", "background"):
        path = tmp_path / f"three-{part}.png"
        assert str(path) in printed
        assert read_png_settings(path)["part"] == part
    with Image.open(tmp_path / "three-mask.png") as mask:
        assert mask.mode == "L"


def test_mix_per_mechanism_seed(tmp_path):
    out = tmp_path / "seeded.png"
    assert main([*MIX, "--texture", "5", "--background-seed", "11", "-o", str(out)]) == 0
    settings = read_png_settings(out)
    assert (settings["shape_seed"], settings["texture_seed"], settings["background_seed"]) == (7, 7, 11)


def test_only_the_texture_class_changes_the_pixels(lively_model, tmp_path):
    paths = {}
    for name, texture in (("a", "1"), ("b", "2"), ("a-again", "1")):
        paths[name] = tmp_path / f"{name}.png"
        assert main([*MIX, "--model", lively_model, "--texture", texture, "-o", str(paths[name])]) == 0
    assert np.array_equal(pixels(paths["a"]), pixels(paths["a-again"]))  # deterministic
    assert np.abs(pixels(paths["a"]) - pixels(paths["b"])).mean() > 1


def test_class_by_name_is_case_insensitive(lively_model, tmp_path):
    by_index, by_name, other = tmp_path / "index.png", tmp_path / "name.png", tmp_path / "other.png"
    assert main([*MIX, "--model", lively_model, "--texture", "7", "-o", str(by_index)]) == 0
    assert main(["mix", "--model", lively_model, "--device", "cpu", "--shape", "3", "--texture", "Blue Coins",
                 "--background", "GOLD rocket", "--seed", "7", "-o", str(by_name)]) == 0
    assert main([*MIX, "--model", lively_model, "--texture", "red cat fur", "-o", str(other)]) == 0
    assert read_png_settings(by_name)["texture_class"] == 7
    assert np.array_equal(pixels(by_index), pixels(by_name))
    assert not np.array_equal(pixels(by_index), pixels(other))


@pytest.mark.parametrize("extra, problem", [
    (["--texture", "99"], "texture class 99 is out of range"),
    (["--texture", "zebra"], "unknown texture class 'zebra'"),
    (["--texture", "1", "--size", "0"], "size 0"),
    (["--texture", "1", "--size", "5000"], "size 5000"),
    (["--texture", "1", "--truncation", "0"], "truncation 0"),
    (["--texture", "1", "--truncation", "1.5"], "truncation 1.5"),
    (["--texture", "1", "--model", "no-such-model"], "no model named 'no-such-model'"),
    (["--texture", "1", "--seed", "-3"], "seed -3"),
])
def test_bad_input_fails_with_one_line_naming_the_problem(extra, problem, tmp_path, capsys):
    out = tmp_path / "never.png"
    assert main([*MIX, *extra, "-o", str(out)]) != 0
    assert problem in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_unknown_class_name_lists_the_valid_ones(tmp_path, capsys):
    assert main([*MIX, "--texture", "zebra", "-o", str(tmp_path / "x.png")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "blue coins" in line and "red cat fur" in line


def test_unwritable_or_non_png_output_fails_cleanly(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main([*MIX, "--texture", "1", "-o", str(blocker / "x.png")]) == 1
    assert str(blocker) in one_error_line(capsys.readouterr().err)
    assert main([*MIX, "--texture", "1", "-o", str(tmp_path / "x.jpg")]) == 1
    assert ".png" in one_error_line(capsys.readouterr().err)


# grid, models ---------------------------------------------------------------------------------

def test_grid_is_shapes_by_textures(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["grid", "--device", "cpu", "--model", "wildlife", "--shapes", "1,3", "--textures", "0,red cat fur,2",
                 "--background", "4", "--size", "16", "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (3 * 16, 2 * 16)
    settings = read_png_settings(out)
    assert settings["shape_class"] == [1, 3] and settings["texture_class"] == [0, 0, 2]
    assert settings["background_class"] == 4
    labelled = tmp_path / "labelled.png"
    assert main(["grid", "--device", "cpu", "--model", "wildlife", "--shapes", "1,3", "--textures", "0,2",
                 "--background", "4",
                 "--size", "16", "--labels", "-o", str(labelled)]) == 0
    with Image.open(out) as plain, Image.open(labelled) as image:
        # Names take room on the left and on top; the tiles themselves are the same pixels.
        assert image.width > 2 * 16 and image.height > 2 * 16
        tile = plain.crop((32, 16, 48, 32))  # shape 3, texture 2
        right, bottom = image.size
        assert list(image.crop((right - 18, bottom - 18, right - 2, bottom - 2)).getdata()) == list(tile.getdata())


def test_models_lists_the_shipped_models(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CGN_ART_IMAGENET", str(tmp_path / "no-imagenet-here"))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("colored", "double-colored", "wildlife"):
        assert any(line.startswith(f"{name}  (32 px native)") for line in out.splitlines())
    assert any(line.startswith("letters  (64 px native") for line in out.splitlines())
    assert "blue coins" in out and "dahlia petals" in out
    assert "imagenet  (not available)" in out and "import-cgn" in out  # says how to get it
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert set(listing) == {"letters", "colored", "double-colored", "wildlife", "imagenet"}
    assert listing["wildlife"]["classes"]["texture"][7] == "blue coins"
    assert listing["imagenet"]["available"] is False


# train ----------------------------------------------------------------------------------------

def test_train_flags_mirror_the_settings_dataclass():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {s for action in train._actions for s in action.option_strings}
    for field in dataclasses.fields(TrainSettings):
        assert "--" + field.name.replace("_", "-") in flags
    args = build_parser().parse_args(["train", "-o", "x", "--betas", "0.5", "0.9", "--ema-decay", "0.9"])
    assert args.betas == [0.5, 0.9] and args.ema_decay == 0.9 and args.steps is None


@dataclasses.dataclass
class DemoSettings:
    steps: int = 3
    rate: float = 0.5
    pair: tuple[float, float] = (0.1, 0.2)
    fast: bool = False
    mode: str = "a"
    classes: list[int] | None = None
    seeds: dict = dataclasses.field(default_factory=dict)


def test_one_helper_turns_settings_into_flags():
    import argparse

    from cgn_art.cli.common import add_settings_flags

    typed = argparse.ArgumentParser()
    add_settings_flags(typed, DemoSettings, {"steps": "how many"}, {"mode": ("a", "b")},
                       names=("steps", "rate", "pair", "fast", "mode"))
    # only the flags given override the settings
    assert vars(typed.parse_args([])) == dict(steps=None, rate=None, pair=None, fast=None, mode=None)
    args = typed.parse_args(["--steps", "4", "--rate", "0.25", "--pair", "1", "2", "--fast", "--mode", "b"])
    assert (args.steps, args.rate, args.pair, args.fast, args.mode) == (4, 0.25, [1.0, 2.0], True, "b")
    helps = {a.dest: a.help for a in typed._actions}
    assert helps["steps"] == "how many (default: 3)" and helps["pair"] == "pair (default: 0.1 0.2)"
    for bad in (["--steps", "-1"], ["--steps", "2.5"], ["--mode", "c"]):
        with pytest.raises(SystemExit):
            typed.parse_args(bad)

    text = argparse.ArgumentParser()
    add_settings_flags(text, DemoSettings, names=("steps", "classes", "seeds"), as_text=True, limits={"steps": (1, 9)},
                       none_shown="the model's")
    assert text.parse_args(["--steps", "x", "--classes", "0,3"]).steps == "x"  # the settings read the text
    helps = {a.dest: a.help for a in text._actions}
    assert helps == {"help": helps["help"], "steps": "steps, 1 to 9 (default: 3)",
                     "classes": "classes (default: the model's)", "seeds": "seeds (default: none)"}


def test_stylize_type_and_walk_flags_come_from_their_settings():
    from cgn_art.stylize import StylizeSettings
    from cgn_art.stylize.walk import WalkSettings

    args = build_parser().parse_args(["stylize-walk", "demo:chelsea", "--steps", "3", "--colors", "palette",
                                      "--feather", "0.1", "--seconds", "2", "--to-seed", "5", "--path", "seed"])
    assert (args.steps, args.colors, args.feather, args.seconds, args.to_seed, args.path) == (3, "palette", 0.1,
                                                                                            2.0, 5, "seed")
    assert args.strength is None and args.frame_steps is None  # the settings' defaults apply
    stylize = build_parser()._subparsers._group_actions[0].choices["stylize"]
    helps = {a.dest: a.help for a in stylize._actions}
    assert helps["steps"].endswith(f"(default: {StylizeSettings.steps})")
    assert helps["feather"].endswith(f"(default: {StylizeSettings.feather})")
    walk = build_parser()._subparsers._group_actions[0].choices["stylize-walk"]
    assert {a.dest: a.help for a in walk._actions}["frame_steps"].endswith(f"(default: {WalkSettings.frame_steps})")
    args = build_parser().parse_args(["type", "HI", "--margin", "0.1", "--textures", "0,3", "--format", "story"])
    assert (args.margin, args.textures, args.format) == ("0.1", "0,3", "story")  # TypeSettings reads them
    typeset = build_parser()._subparsers._group_actions[0].choices["type"]
    helps = {a.dest: a.help for a in typeset._actions}
    assert helps["margin"].endswith(", 0 to 0.4 (default: 0.08)")
    assert helps["textures"].endswith("(default: the model's)")


def test_train_writes_a_loadable_model_and_resumes(colored_train, tmp_path, capsys):
    from cgn_art import load_model

    out = tmp_path / "run"
    assert main([*TINY_TRAIN, "--steps", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"model: {out / 'model'}" in printed and " s" in printed
    model = load_model(out / "model", device="cpu")
    assert model.class_names["texture"][0] == "red"
    assert json.loads((out / "model" / "config.json").read_text())["trained_steps"] == 3

    # Training into the same folder again would throw the checkpoint away: refused without a flag.
    assert main([*TINY_TRAIN, "--steps", "3", "-o", str(out)]) == 1
    assert "--resume" in one_error_line(capsys.readouterr().err)

    # Resume takes its settings from the checkpoint; only --steps is given.
    assert main(["train", "--resume", "--steps", "5", "-o", str(out)]) == 0
    assert "steps 3 to 5" in capsys.readouterr().out
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 5
    assert json.loads((out / "model" / "config.json").read_text())["trained_steps"] == 5

    # The trained folder works as --model for mix.
    picture = tmp_path / "mine.png"
    assert main(["mix", "--model", str(out / "model"), "--device", "cpu", "--shape", "1", "--texture", "red",
                 "--background", "black", "-o", str(picture)]) == 0
    # The settings name the model the way load_model takes it back, so the image can be made again.
    assert read_png_settings(picture)["model"] == str((out / "model").resolve())


def test_train_refuses_bad_settings_and_missing_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", "-o", str(tmp_path / "empty")]) == 1
    assert "no checkpoint" in one_error_line(capsys.readouterr().err)
    assert main(["train", "--steps", "0", "-o", str(tmp_path / "x")]) == 1
    assert "steps" in one_error_line(capsys.readouterr().err)
    assert main(["train", "--batch-size", "many", "-o", str(tmp_path / "x")]) == 2
    assert "--batch-size" in one_error_line(capsys.readouterr().err)


# evaluate (judges stubbed: training the real ones takes a minute) ------------------------------

def test_evaluate_prints_one_json_line(monkeypatch, capsys):
    from cgn_art import evaluate as fidelity
    from cgn_art.evaluate import colour

    def quick_judges(variant, seed=0, epochs=4):
        return fidelity.Judges(colour._classifier(1).eval(), colour._classifier(3).eval(),
                               colour._classifier(3).eval(), 0.13, {"digit": 1.0})

    monkeypatch.setattr(fidelity, "train_judges", quick_judges)
    assert main(["evaluate", "--model", "wildlife", "--device", "cpu", "--n", "20", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["variant"] == "wildlife" and result["n"] == 20
    assert 0 <= result["shape_fidelity"] <= 1 and "mask_area_mean" in result


# the PNG helper -------------------------------------------------------------------------------

def test_png_settings_helper(tmp_path):
    image = Image.new("RGB", (4, 4), "red")
    assert read_png_settings(__import__("io").BytesIO(png_bytes(image, {"name": "café"}))) == {"name": "café"}
    plain = tmp_path / "plain.png"
    image.save(plain)
    with pytest.raises(CgnArtError, match="no cgn-art settings"):
        read_png_settings(plain)
    with pytest.raises(CgnArtError, match="no such file"):
        read_png_settings(tmp_path / "missing.png")
    with pytest.raises(CgnArtError, match="JSON"):
        save_png(image, tmp_path / "bad.png", {"x": object()})
    assert not (tmp_path / "bad.png").exists()


# the real console script ----------------------------------------------------------------------

def console_script() -> str:
    script = Path(sys.executable).parent / "cgn-art"
    found = str(script) if script.exists() else shutil.which("cgn-art")
    if not found:
        pytest.skip("the cgn-art console script is not installed (pip install -e .)")
    return found


@pytest.mark.parametrize("args, status, problem", [
    (["mix", "--device", "cpu", "--shape", "3", "--texture", "42", "--background", "1", "-o", "x.png"], 1,
     "texture class 42"),
    (["mix", "--shape", "3", "--texture", "1", "--background", "1", "--size", "-5", "-o", "x.png"], 2, "size -5"),
])
def test_console_script_exit_code_and_one_line(args, status, problem, tmp_path):
    run = subprocess.run([console_script(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == status
    assert problem in one_error_line(run.stderr)
    assert run.stdout == "" and not (tmp_path / "x.png").exists()


def test_a_native_crash_leaves_a_python_stack_and_a_captured_stderr_is_no_error(monkeypatch):
    """CI lost renders to segfaults that said nothing; now the CLI (and the app) trace them."""
    import faulthandler
    import io

    from cgn_art.runtime.diagnostics import trace_native_crashes

    crash = ("import ctypes; from cgn_art.cli import main\n"
             "def deep_in_the_render():\n    ctypes.string_at(0)\n"
             "main(['models']); deep_in_the_render()")
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=300)
    assert done.returncode == -11 and "Segmentation fault" in done.stderr and "deep_in_the_render" in done.stderr
    was_on = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        monkeypatch.setattr(sys, "stderr", io.StringIO())  # a host that captured stderr: no descriptor
        trace_native_crashes()
        assert not faulthandler.is_enabled()
    finally:
        if was_on:
            faulthandler.enable(file=sys.__stderr__)


def test_requilt_refuses_a_network_model_and_its_own_folder_in_one_line(tmp_path, capsys):
    assert main(["requilt", "wildlife", "-o", str(tmp_path / "new")]) == 1
    assert "networks, not exemplars" in one_error_line(capsys.readouterr().err)
    from cgn_art.mechanisms.weights import shipped_models

    assert main(["requilt", "letters", "-o", str(shipped_models()["letters"])]) == 1
    assert "the model being read" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()
