"""`cgn-art vary` and `cgn-art interpolate`: the Mixer's grid and strip from the command line."""
from __future__ import annotations

import io
import zipfile

import imageio_ffmpeg
import pytest
from PIL import Image

from cgn_art import load_model, mixing
from cgn_art.cli import main
from cgn_art.io import read_png_settings

BASE = ["--device", "cpu", "--shape", "test shape 2", "--texture", "1", "--background", "3", "--seed", "4"]


@pytest.fixture
def model_flag(model_dir):
    return ["--model", str(model_dir)]


def test_vary_png_matches_the_library(model_dir, model_flag, tmp_path):
    out = tmp_path / "row.png"
    assert main(["vary", "texture", *BASE, *model_flag, "--size", "24", "-o", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (5 * 24, 24)
    assert read_png_settings(out)["texture_class"] == [0, 1, 2, 3, 4]
    model = load_model(model_dir, device="cpu")
    cf = mixing.vary(model, mixing.MixSettings(2, 1, 3, 4, 4, 4, size=24), "texture")
    assert list(image.crop((48, 0, 72, 24)).getdata()) == list(cf.image("composite", 2).getdata())


def test_vary_zip_has_a_png_per_class(model_flag, tmp_path):
    out = tmp_path / "row.zip"
    assert main(["vary", "background", *BASE, *model_flag, "--size", "16", "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert len(names) == 6 + 1
        settings = read_png_settings(io.BytesIO(archive.read(sorted(names)[5])))
    assert settings["background_class"] == 5 and settings["shape_class"] == 2


@pytest.mark.parametrize("suffix", [".png", ".gif", ".mp4"])
def test_interpolate_writes_each_format(model_flag, tmp_path, suffix):
    out = tmp_path / f"walk{suffix}"
    assert main(["interpolate", "shape", *BASE, *model_flag, "--to-class", "0", "--to-seed", "9", "--steps", "5",
                 "--size", "32", "-o", str(out)]) == 0
    if suffix == ".png":
        assert Image.open(out).size == (5 * 32 + 4 * 2, 32)
        walk = read_png_settings(out)["interpolation"]
        assert walk["from"]["shape"] == 2 and walk["to"]["shape"] == 0 and walk["to"]["shape_seed"] == 9
    elif suffix == ".gif":
        assert Image.open(out).n_frames == 8
    else:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
        assert frames == 8 * 3


@pytest.mark.parametrize("argv, message", [
    (["interpolate", "texture", "-o", "walk.png"], "give --to-class and/or --to-seed"),
    (["interpolate", "texture", "--to-class", "99", "-o", "walk.png"], "out of range"),
    (["interpolate", "texture", "--to-seed", "1", "-o", "walk.jpg"], "ending in .png, .gif, .mp4"),
    (["interpolate", "texture", "--to-seed", "1", "--steps", "99", "-o", "walk.png"], "steps must be"),
    (["vary", "colour", "-o", "row.png"], "invalid choice"),
])
def test_mistakes_end_in_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "cpu"]) in (1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not any(tmp_path.iterdir())  # nothing half-written
