"""Type: layout (widths from each mask's extent, baseline, wrapping, alignment), textures per
letter/word/walk, backgrounds per line, characters, settings in PNGs and URLs, and ``cgn-art type``.

Layout is checked with BoxLetters, a Mechanisms whose letters are boxes of known widths and whose
textures and backgrounds are flat class colours, so every number can be predicted; the rendering
path is also run with a tiny random letters-shaped SmallCGN, as the real Letters CGN will be.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers.typeset import BACKGROUNDS, CAPS, TEXTURES, BoxLetters, box_width

from cgn_art.errors import CgnArtError
from cgn_art.io import read_png_settings, save_png
from cgn_art.typeset import FORMATS, TypeSettings, letter_classes, render_poster
from cgn_art.typeset.layout import roll_labels, split_text


@pytest.fixture(scope="module")
def boxes() -> BoxLetters:
    return BoxLetters()


def runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D array."""
    padded = np.concatenate([[False], row, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def ink(poster) -> np.ndarray:
    return poster.mask[0].numpy() > 0.5


# Layout ---------------------------------------------------------------------------------------

def test_roll_labels_number_only_repeated_letters():
    assert roll_labels(list("HELLO")) == ["H", "E", "L₁", "L₂", "O"]
    assert roll_labels(list("ABC")) == ["A", "B", "C"]
    labels = roll_labels(list("COUNTERFACTUAL"))
    assert len(set(labels)) == len(labels)  # every roll button names one letter
    assert labels[0] == "C₁" and labels[9] == "C₂" and labels[6] == "R"


def test_widths_come_from_each_masks_extent_and_gaps_from_tracking(boxes):
    settings = TypeSettings(text="IWAM", letter_size=200, tracking=0.1, format="landscape")
    poster = render_poster(boxes, settings)
    mask = ink(poster)
    row = mask[int(poster.layout.baselines[0] - 20)]  # below the hole
    letters = runs(row)
    assert len(letters) == 4
    expected = [box_width(CAPS.index(c)) / 40 * 200 for c in "IWAM"]
    np.testing.assert_allclose([b - a for a, b in letters], expected, atol=2.5)
    gaps = [letters[i + 1][0] - letters[i][1] for i in range(3)]
    np.testing.assert_allclose(gaps, 20, atol=2.5)


def test_every_letter_sits_on_the_baseline_and_is_one_cap_high(boxes):
    poster = render_poster(boxes, TypeSettings(text="AXIS BOW", letter_size=120, format="landscape"))
    mask = ink(poster)
    for glyph in poster.layout.glyphs:
        side = int(round(glyph.side))
        x0, y0 = int(round(glyph.x)), int(round(glyph.y))
        rows = np.flatnonzero(mask[y0:y0 + side, x0:x0 + side].any(1)) + y0
        assert abs(rows[-1] + 1 - poster.layout.baselines[glyph.line]) <= 2
        assert abs((rows[-1] + 1 - rows[0]) - 120) <= 3


def test_words_wrap_whole_and_lines_align(boxes):
    text = "ONE TWO THREE FOUR FIVE SIX SEVEN"
    for align in ("left", "center", "right"):
        settings = TypeSettings(text=text, format="square", letter_size=90, align=align, margin=0.1)
        poster = render_poster(boxes, settings)
        layout = poster.layout
        assert layout.lines >= 3
        for word in range(7):  # no word is split across lines
            assert len({g.line for g in layout.glyphs if g.word == word}) == 1
        mask, pad = ink(poster), 108
        edges = []
        for line in range(layout.lines):
            y = int(layout.baselines[line] - 20)
            cols = np.flatnonzero(mask[y])
            edges.append((cols[0], cols[-1] + 1))
            assert cols[0] >= pad - 2 and cols[-1] + 1 <= 1080 - pad + 2
        lefts, rights = np.array(edges).T
        if align == "left":
            assert np.all(np.abs(lefts - pad) <= 2)
        elif align == "right":
            assert np.all(np.abs(rights - (1080 - pad)) <= 2)
        else:
            np.testing.assert_allclose(lefts - pad, 1080 - pad - rights, atol=2)


def test_fit_fills_the_space_and_an_explicit_size_that_cannot_fit_says_so(boxes):
    poster = render_poster(boxes, TypeSettings(text="HI", format="landscape", margin=0.1))
    mask = ink(poster)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    pad = 108
    assert rows[0] >= pad - 2 and rows[-1] < 1080 - pad + 2 and cols[0] >= pad - 2 and cols[-1] < 1920 - pad + 2
    assert (rows[-1] - rows[0]) > 0.95 * (1080 - 2 * pad)  # as large as the height allows
    with pytest.raises(CgnArtError, match="wider than"):
        render_poster(boxes, TypeSettings(text="WWWWWWWWWW", format="square", letter_size=600))
    with pytest.raises(CgnArtError, match="lines at letter size"):
        render_poster(boxes, TypeSettings(text="A\nB\nC\nD", format="landscape", letter_size=400))


def test_explicit_new_lines_and_formats(boxes):
    for name, size in FORMATS.items():
        if size is None:
            continue
        poster = render_poster(boxes, TypeSettings(text="A\nB", format=name))
        assert poster.image.size == size and poster.layout.lines == 2
    custom = render_poster(boxes, TypeSettings(text="OK", format="custom", width=300, height=100))
    assert custom.image.size == (300, 100)
    with pytest.raises(CgnArtError, match="width 5000 is out of range"):
        TypeSettings(text="OK", format="custom", width=5000).validate()


# Characters ------------------------------------------------------------------------------------

def test_lowercase_accents_punctuation_and_unknown_characters(boxes):
    upper = render_poster(boxes, TypeSettings(text="HELLO"))
    lower = render_poster(boxes, TypeSettings(text="hello"))
    assert np.array_equal(np.asarray(upper.image), np.asarray(lower.image))
    text = split_text("Ça va? ✨ 42", letter_classes(boxes), None)
    assert [g.char for g in text.glyphs] == ["C", "A", "V", "A"]
    assert text.skipped == ["✨", "4", "2"]
    message = text.skipped_message()
    assert message.count("\n") == 0 and "digit" in message and "'✨'" in message
    punct = render_poster(boxes, TypeSettings(text="A.B", letter_size=100, format="landscape", tracking=0.1))
    plain = render_poster(boxes, TypeSettings(text="AB", letter_size=100, format="landscape", tracking=0.1))

    def gap(p):
        return np.diff([a for r in [runs(ink(p)[int(p.layout.baselines[0] - 20)])] for a in (r[0][1], r[1][0])])[0]

    assert gap(punct) == pytest.approx(gap(plain) + 40, abs=2)  # punctuation: 0.3 cap + one more tracking
    with pytest.raises(CgnArtError, match="nothing to draw"):
        render_poster(boxes, TypeSettings(text="✨ ✨"))
    poster = render_poster(boxes, TypeSettings(text="OK ✨"))
    assert "skipped 1 character" in poster.warning


def test_digits_come_from_a_digit_shape_model(boxes):
    poster = render_poster(boxes, TypeSettings(text="R2D2"), BoxLetters(digits=True))
    assert [g.source for g in sorted(poster.layout.glyphs, key=lambda g: g.index)] == ["letters", "digits",
                                                                                       "letters", "digits"]
    assert poster.metadata()["digit_model"] == "box-letters" and not poster.warning


def test_the_shipped_digit_model_draws_digits():
    from cgn_art.typeset import digit_model_name, load_digits

    name = digit_model_name()
    if name is None:
        pytest.skip("no digit-shape model shipped")
    digits = load_digits(device="cpu")
    assert set(digits.class_names["shape"]) >= {str(i) for i in range(10)}


# Textures, backgrounds, seeds ------------------------------------------------------------------

def colour_at(poster, glyph) -> np.ndarray:
    """The colour in a glyph's ink, below its hole."""
    image = np.asarray(poster.image).astype(float) / 255
    y = int(poster.layout.baselines[glyph.line] - 0.1 * poster.layout.cap)
    x = int(round(glyph.x + glyph.side / 2))
    return image[y, x]


def test_texture_by_letter_word_and_walk(boxes):
    poster = render_poster(boxes, TypeSettings(text="ABCDE", texture_by="letter", textures=[0, 1, 2]))
    for g in poster.layout.glyphs:
        np.testing.assert_allclose(colour_at(poster, g), TEXTURES[[0, 1, 2][g.index % 3]], atol=0.02)
    poster = render_poster(boxes, TypeSettings(text="AB CD", texture_by="word", textures=[2, 0]))
    for g in poster.layout.glyphs:
        np.testing.assert_allclose(colour_at(poster, g), TEXTURES[[2, 0][g.word]], atol=0.02)
    poster = render_poster(boxes, TypeSettings(text="ABCDE", texture_by="walk", textures=[0, 2]))
    reds = [colour_at(poster, g)[0] for g in sorted(poster.layout.glyphs, key=lambda g: g.index)]
    np.testing.assert_allclose(reds, [1, 0.75, 0.5, 0.25, 0], atol=0.02)  # red -> blue, a quarter per letter
    poster = render_poster(boxes, TypeSettings(text="ABC", texture_by="all", textures=[1, 2]))
    for g in poster.layout.glyphs:
        np.testing.assert_allclose(colour_at(poster, g), TEXTURES[1], atol=0.02)


def test_background_by_line_paints_a_band_per_line(boxes):
    poster = render_poster(boxes, TypeSettings(text="A\nB\nC", background_by="line", backgrounds=[0, 1, 2],
                                               format="square", letter_size=200))
    image = np.asarray(poster.image).astype(float) / 255
    for line, colour in enumerate(BACKGROUNDS):
        y = int(poster.layout.baselines[line] - 100)
        np.testing.assert_allclose(image[y, 20], colour, atol=0.02)


def test_rolling_a_letter_changes_only_that_letter(boxes):
    settings = TypeSettings(text="HELLO", letter_size=150, format="landscape")
    before = np.asarray(render_poster(boxes, settings).image).astype(int)
    poster = render_poster(boxes, TypeSettings(**{**vars(settings), "letter_seeds": {2: 12345}}))
    after = np.asarray(poster.image).astype(int)
    changed = np.argwhere(np.abs(after - before).sum(-1) > 0)
    assert len(changed)
    third = next(g for g in poster.layout.glyphs if g.index == 2)
    assert changed[:, 1].min() >= third.x - 1 and changed[:, 1].max() <= third.x + third.side + 1
    assert third.char == "L"


def test_a_random_letters_cgn_renders_every_mode(letters_dir):
    from cgn_art import load_model

    model = load_model(letters_dir, device="cpu")
    for mode in ("all", "word", "letter", "walk"):
        poster = render_poster(model, TypeSettings(text="Hi there", texture_by=mode, background_by="line",
                                                   format="custom", width=320, height=200))
        assert poster.image.size == (320, 200)
        assert poster.mask.shape == (1, 200, 320) and float(poster.mask.max()) > 0.5
    again = render_poster(model, TypeSettings(text="Hi there", texture_by="walk", background_by="line",
                                              format="custom", width=320, height=200))
    assert np.array_equal(np.asarray(poster.image), np.asarray(again.image))


# Settings, PNG, URL ---------------------------------------------------------------------------------

def test_settings_validate_in_one_place():
    with pytest.raises(CgnArtError, match="text is empty"):
        TypeSettings(text="  ").validate()
    with pytest.raises(CgnArtError, match="texture_by 'rainbow'"):
        TypeSettings(texture_by="rainbow").validate()
    with pytest.raises(CgnArtError, match="margin 0.9 is out of range"):
        TypeSettings(margin=0.9).validate()
    with pytest.raises(CgnArtError, match="texture class 9 is out of range"):
        TypeSettings(textures=[9]).validate(BoxLetters())
    with pytest.raises(CgnArtError, match="at most 400"):
        TypeSettings(text="A" * 401).validate()


def test_query_round_trip_and_bad_links(boxes):
    settings = TypeSettings(text="Hi\nthere", format="story", texture_by="walk", textures=[0, 3],
                            letter_seeds={1: 99}, tracking=0.2).validate(boxes)
    again, problems = TypeSettings.from_query(settings.to_query(), boxes)
    assert not problems and again == settings
    named, problems = TypeSettings.from_query({"textures": "blue,white", "margin": "2", "align": "middle",
                                               "text": "OK"}, boxes)
    assert named.textures == [2, 3] and named.text == "OK"
    assert [p.split("=")[0] for p in problems] == ["align", "margin"]
    assert named.margin == TypeSettings().margin


def test_png_settings_make_the_same_poster(boxes, tmp_path):
    poster = render_poster(boxes, TypeSettings(text="Poster", texture_by="letter", letter_seeds={0: 7}))
    path = save_png(poster.image, tmp_path / "p.png", poster.metadata())
    stored = read_png_settings(path)
    assert stored["kind"] == "cgn-art type" and stored["model"] == "box-letters"
    again = render_poster(boxes, TypeSettings.from_dict(stored, boxes))
    assert np.array_equal(np.asarray(again.image), np.asarray(poster.image))


def test_not_shipped_says_so_in_one_line(monkeypatch):
    from cgn_art.mechanisms import weights
    from cgn_art.typeset import letters_status, load_letters

    monkeypatch.setattr(weights, "shipped_models", dict)
    shipped, message = letters_status()
    assert not shipped and "\n" not in message and "not shipped" in message
    with pytest.raises(CgnArtError, match="not shipped"):
        load_letters()


def test_a_model_without_letters_cannot_set_type():
    import cgn_art

    with pytest.raises(CgnArtError, match="shape classes A to Z"):
        render_poster(cgn_art.load_model("wildlife", device="cpu"), TypeSettings(text="HI"))


# CLI -------------------------------------------------------------------------------------------------

def test_cli_makes_a_poster_and_the_same_one_from_its_png(letters_dir, tmp_path, capsys):
    from PIL import Image

    from cgn_art.cli import main

    out = tmp_path / "poster.png"
    assert main(["type", "Hello world", "-o", str(out), "--model", str(letters_dir), "--format", "square",
                 "--texture-by", "letter", "--letter-seeds", "2:77", "--align", "left"]) == 0
    stored = read_png_settings(out)
    assert stored["format"] == "square" and stored["texture_by"] == "letter" and stored["letter_seeds"] == {"2": 77}
    again = tmp_path / "again.png"
    assert main(["type", "--settings", str(out), "-o", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    story = tmp_path / "story.png"
    assert main(["type", "--settings", str(out), "-o", str(story), "--format", "story"]) == 0
    assert Image.open(story).size == (1080, 1920)
    capsys.readouterr()


def test_cli_errors_are_one_line(letters_dir, tmp_path, capsys, monkeypatch):
    from cgn_art.cli import main

    def error() -> str:
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        return err

    assert main(["type", "OK", "-o", str(tmp_path / "x.png"), "--model", str(letters_dir), "--margin", "3"]) == 1
    assert "margin '3' is out of range" in error()
    assert main(["type", "-o", str(tmp_path / "x.png"), "--model", str(letters_dir)]) == 1
    assert "give the TEXT" in error()
    assert main(["type", "OK", "-o", str(tmp_path / "x.jpg"), "--model", str(letters_dir)]) == 1
    assert ".png" in error()
    assert main(["type", "OK ✨", "-o", str(tmp_path / "x.png"), "--model", str(letters_dir)]) == 0
    assert "warning: skipped 1 character" in capsys.readouterr().err
    from cgn_art.mechanisms import weights

    monkeypatch.setattr(weights, "shipped_models", dict)
    assert main(["type", "OK", "-o", str(tmp_path / "x.png")]) == 1
    assert "Letters CGN is not shipped" in error()
