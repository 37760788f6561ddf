"""Two regions: GrabCut finds the subject, boxes and masks are checked with one line each, the
composite is the CGN's m*f + (1-m)*b with a feathered seam, each region keeps its texture (judged
per region), and the CLI and the library take the same inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from helpers.stylize import tiny
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.stylize import StylizeSettings, stylize
from cgn_art.stylize.quality import texture_judge, texture_share
from cgn_art.stylize.regions import (
    composite,
    default_box,
    grabcut_mask,
    mask_iou,
    mask_tensor,
    parse_box,
    read_mask,
)

TINY = tiny()


# one torch thread for the whole module (conftest.one_thread): the optimisations are tiny
pytestmark = pytest.mark.usefixtures("one_thread")



def _real(kind: str, class_index: int, size: int, scale: int, seed: int = 0) -> Image.Image:
    from cgn_art.data import letters

    crop = letters.material_crops(kind, [class_index], size, np.random.default_rng(seed), scale)[0]
    return Image.fromarray((crop * 255).round().astype(np.uint8))


def _square_on_gravel(width=200, height=150, box=(60, 40, 140, 110)):
    gravel = np.asarray(_real("texture", 2, max(width, height), 1), np.float32)[:height, :width] * 0.6
    truth = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    truth[y0:y1, x0:x1] = 255
    gravel[y0:y1, x0:x1] = 235 + 15 * np.random.default_rng(0).random((y1 - y0, x1 - x0, 3))
    return Image.fromarray(gravel.clip(0, 255).astype(np.uint8)), truth


def test_grabcut_finds_a_bright_square_on_a_textured_background():
    photo, truth = _square_on_gravel()
    assert mask_iou(grabcut_mask(photo, (40, 25, 170, 130)), truth) >= 0.9
    assert mask_iou(grabcut_mask(photo), truth) >= 0.9  # the default box: the centre of the photo
    # a box that misses the square cannot find it
    assert mask_iou(grabcut_mask(photo, (0, 0, 50, 150)), truth) < 0.5


@pytest.mark.parametrize("box, words", [
    ("10,10,300,100", "reaches outside the 200 x 150 photo"),
    ("-5,0,50,50", "reaches outside"),
    ("50,50,50,90", "empty or too small"),
    ("80,20,40,60", "empty or too small"),
    ("1,2,3", "is not four numbers"),
    ("a,b,c,d", "is not four numbers"),
    ("0,0,200,150", "the whole photo"),
])
def test_bad_boxes_get_one_line(box, words):
    with pytest.raises(CgnArtError, match=words) as caught:
        parse_box(box, 200, 150)
    assert "\n" not in str(caught.value)


def test_boxes_and_masks_that_fit():
    assert parse_box("10, 20, 110, 120", 200, 150) == (10, 20, 110, 120)
    assert parse_box((10.4, 20, 110, 120), 200, 150) == (10, 20, 110, 120)
    assert default_box(200, 100) == (30, 15, 170, 85)
    mask = Image.new("L", (100, 75), 0)
    mask.paste(255, (20, 20, 60, 50))
    assert read_mask(mask, 200, 150).size == (200, 150)  # the same shape at half size fits
    png = io.BytesIO()
    mask.save(png, "PNG")
    assert read_mask(png.getvalue(), 100, 75).size == (100, 75)
    cutout = Image.new("RGBA", (100, 75), (0, 0, 0, 0))
    cutout.paste((200, 10, 10, 255), (20, 20, 60, 50))
    assert mask_iou(read_mask(cutout, 100, 75), mask) == 1.0  # a transparent cut-out: opaque = subject


@pytest.mark.parametrize("mask, words", [
    (Image.new("L", (100, 100), 255), "is 100 x 100 but the photo is 200 x 150"),
    (Image.new("L", (200, 150), 0), "is empty"),
    (Image.new("L", (200, 150), 255), "all subject"),
    (b"not a png at all", "is not an image"),
])
def test_bad_masks_get_one_line(mask, words):
    with pytest.raises(CgnArtError, match=words) as caught:
        read_mask(mask, 200, 150, name="mask.png")
    assert "\n" not in str(caught.value)


def test_composite_is_the_cgn_one_and_the_seam_is_feathered():
    mask = Image.new("L", (64, 32), 0)
    mask.paste(255, (0, 0, 32, 32))
    hard = mask_tensor(mask, 32, 64, 0.0)
    soft = mask_tensor(mask, 32, 64, 0.05)
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    row = soft[0, 0, 16]
    assert row[0] == pytest.approx(1.0) and row[-1] == pytest.approx(0.0, abs=1e-6)
    assert 0.3 < row[31] < 0.7 and bool((row[1:] <= row[:-1] + 1e-6).all())  # falls smoothly across the seam
    f, b = torch.ones(1, 3, 32, 64), torch.zeros(1, 3, 32, 64)
    assert torch.equal(composite(hard, f, b)[0, 0, 0], hard[0, 0, 0])


def test_settings_and_library_refuse_nothing_to_do(model):
    photo, _ = _square_on_gravel()
    with pytest.raises(CgnArtError, match="nothing to stylize"):
        stylize(photo, StylizeSettings(**TINY, regions="two", keep_subject_photo=True), model=model)
    with pytest.raises(CgnArtError, match="regions"):
        StylizeSettings(regions="three").validate()
    with pytest.raises(CgnArtError, match="reaches outside"):
        stylize(photo, StylizeSettings(**TINY, regions="two", subject_box="0,0,999,99"), model=model)


def test_background_keeps_the_photo_and_the_mask_comes_back(model):
    photo, truth = _square_on_gravel()
    result = stylize(photo, StylizeSettings(**TINY, regions="two", feather=0.0, subject_box="40,25,170,130"),
                     model=model)
    assert mask_iou(result.mask, truth) >= 0.9
    small = np.asarray(photo.resize(result.image.size, Image.Resampling.LANCZOS), np.float32)
    out = np.asarray(result.image, np.float32)
    inside = np.asarray(result.mask.resize(result.image.size), np.float32) / 255
    # the background is the photo, untouched (up to 8-bit rounding); the subject changed
    assert np.abs(out - small)[inside == 0].max() <= 1.0
    assert np.abs(out - small)[inside == 1].mean() > 3.0


@pytest.mark.slow
@pytest.mark.parametrize("subject, background", [(2, 1), (1, 2)])
def test_each_region_keeps_its_own_texture(subject, background):
    """Gravel in one region, grass in the other (real crops as the textures) on a plain photo: the
    judge names gravel only where gravel went, and the grass region is the green one.
    (Brick and coins were tried first and do not arrive from a plain grey start in 12 steps, neither
    pattern nor colour, while gravel, grass and dahlia do: a limit of the stylizer to work on.)"""
    ramp = np.linspace(90, 170, 256, dtype=np.float32)
    photo = Image.fromarray(np.repeat(np.broadcast_to(ramp[None, :, None], (256, 256, 1)), 3, 2).astype(np.uint8))
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (0, 0, 128, 256))
    settings = StylizeSettings(size=256, steps=12, levels=2, texture_scale=0.25, content_weight=0.0, regions="two",
                               device="cpu", feather=0.005)
    tile = 64  # texture_scale 0.25 of 256 px: one tile of 64 native px spans 64 px (the judge's native view)
    judge = texture_judge("letters", tile=tile, native=64)
    textures = {c: _real("texture", c, tile, judge.scale, seed=c) for c in (subject, background)}
    result = stylize(photo, settings, texture_image=textures[subject], background_texture_image=textures[background],
                     mask=mask)
    m = torch.from_numpy(np.asarray(result.mask.resize((256, 256)), np.float32) / 255)[None, None]
    gravel = {region: texture_share(result.tensor, 2, tile, 64, judge, mask=w)
              for region, w in (("subject", m), ("background", 1 - m))}
    where = "subject" if subject == 2 else "background"
    other = "background" if where == "subject" else "subject"
    assert gravel[where] >= 0.5 and gravel[other] <= 0.25, gravel
    out = np.asarray(result.image, np.float32)
    greenness = {region: float((part[..., 1] - (part[..., 0] + part[..., 2]) / 2).mean())  # gravel is sand-grey
                 for region, part in (("subject", out[:, 8:120]), ("background", out[:, 136:248]))}
    assert greenness[other] > greenness[where] + 10, greenness


def test_cli_two_regions_and_its_mistakes(model_dir, tmp_path, capsys):
    from cgn_art.cli import main
    from cgn_art.io import read_png_settings

    photo, truth = _square_on_gravel()
    photo.save(tmp_path / "square.png")
    out, mask_out = tmp_path / "out.png", tmp_path / "mask.png"
    args = [str(tmp_path / "square.png"), "--model", str(model_dir), "--size", "48", "--steps", "2", "--levels", "2",
            "--device", "cpu"]
    assert main(["stylize", *args, "-o", str(out), "--texture-class", "0", "--background-texture-class", "1",
                 "--subject-box", "40,25,170,130", "--save-mask", str(mask_out)]) == 0
    saved = read_png_settings(out)
    assert saved["regions"] == "two" and saved["background_texture_class"] == 1
    assert saved["subject_box"] == "40,25,170,130"
    assert mask_iou(Image.open(mask_out).convert("L"), truth) >= 0.9
    # the saved mask goes back in
    assert main(["stylize", *args, "-o", str(tmp_path / "again.png"), "--subject-mask", str(mask_out)]) == 0
    assert read_png_settings(tmp_path / "again.png")["subject_mask"] == "mask.png"
    capsys.readouterr()
    for extra, words in [(["--subject-box", "0,0,500,20"], "reaches outside"),
                         (["--subject-mask", str(tmp_path / "square.png"), "--subject-box", "1,1,20,20"],
                          "give one of them"),
                         (["--subject-mask", str(tmp_path / "nothing.png")], "nothing.png"),
                         (["--keep-subject-photo"], "nothing to stylize"),
                         (["--save-mask", str(tmp_path / "m.png")], "--save-mask needs two regions")]:
        assert main(["stylize", *args, "-o", str(tmp_path / "x.png"), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
