"""Lyric videos: each line and word appears on time in the decoded video (within one frame), letters
pulse on onsets, plain text follows the beats, the sidecar repeats a render, and bad lyric files or
models give one clear line from ``cgn-art dance --lyrics``."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.audio import CLICKS, click_track
from helpers.dance import decode, still
from helpers.typeset import BoxLetters

from cgn_art.audio import analyse_file
from cgn_art.cli import main
from cgn_art.dance import render_dance
from cgn_art.errors import CgnArtError
from cgn_art.lyrics import parse_lyrics
from cgn_art.mechanisms.base import truncated_noise

FPS = 24
LRC = "[00:01.00]AB <00:02.00>CD\n[00:03.50]EFG\n[00:05.00]\n[00:06.20]HI\n"


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path_factory.getbasetemp() / "lyrics-cache"))


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("lyric-song") / "clicks.wav"
    sf.write(path, click_track(), 44100)
    return path


def changes(frames: np.ndarray, pixels: int = 20) -> list[int]:
    """Frames where more than ``pixels`` pixels changed a lot from the frame before (everything else
    is held still, so only letters appearing or going count)."""
    changed = (np.abs(np.diff(frames, axis=0)).max(axis=-1) > 60).sum(axis=(1, 2))
    return [int(f) + 1 for f in np.flatnonzero(changed > pixels)]


def first_frame(t: float, fps: int = FPS) -> int:
    """The first frame that shows something timed at ``t`` (the frame nearest to it)."""
    return math.ceil(t * fps - 0.5)


def test_lines_and_words_appear_within_a_frame_of_their_time(song, tmp_path):
    settings = still().with_changes({"size": 128})
    result = render_dance(BoxLetters(), song, tmp_path / "lyrics.mp4", settings, lyrics=parse_lyrics(LRC))
    frames = decode(result.video)
    assert len(frames) == result.frames == 8 * FPS
    expected = [first_frame(t) for t in (1.0, 2.0, 3.5, 5.0, 6.2)]
    found = changes(frames)
    assert len(found) == len(expected), (found, expected)
    assert np.abs(np.array(found) - expected).max() <= 1, (found, expected)
    red = (frames[..., 0] > 128) & (frames[..., 1] < 100)
    assert red[: expected[0] - 1].sum() == 0            # nothing before the first line
    assert red[expected[3] + 1: expected[4] - 1].sum() == 0  # the empty stamp clears the screen
    assert red[expected[1] + 1].sum() > 1.5 * red[expected[0] + 1].sum()  # CD joined AB
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["lyrics"]["text"] == LRC and sidecar["lyrics"]["kind"] == "lrc"


def test_letters_pulse_on_onsets(song, tmp_path):
    settings = still().with_changes({"size": 128, "shape.pulse": "onsets", "shape.sensitivity": 1.0,
                                     "shape.smoothing": 0.1})
    result = render_dance(BoxLetters(), song, tmp_path / "pulse.mp4", settings,
                          lyrics=parse_lyrics("[00:00.00]WOW"))
    frames = decode(result.video)
    area = ((frames[..., 0] > 128) & (frames[..., 1] < 100)).sum(axis=(1, 2))
    for click in CLICKS[1:-1]:
        f = int(round(click * FPS))
        assert area[f - 1:f + 2].max() > 1.1 * area[f - 4], click  # the letters grow on the click...
        assert area[f + 6] < area[f - 1:f + 2].max()               # ...and settle after it


class NoiseMaterialLetters(BoxLetters):
    """BoxLetters whose texture and background are material fields (as the Letters CGN's): white
    noise, and a grey ramp, each one 64 px source spanning a native image."""

    exemplar_fields = True
    config = SimpleNamespace(exemplar_side=64)

    def __init__(self):
        super().__init__()
        from cgn_art.mechanisms.exemplar import ExemplarField

        noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        self.texture, self.background = ExemplarField(4, 64), ExemplarField(3, 64)
        self.texture.exemplars.copy_((noise * 255).round().to(torch.uint8).expand(4, -1, -1, -1))
        ramp = torch.linspace(0, 120, 64).round().to(torch.uint8)
        self.background.exemplars.copy_(ramp.expand(3, 3, 64, 64))

    def mechanism(self, mechanism, weights, noise, size):
        if mechanism == "shape":
            return super().mechanism(mechanism, weights, noise[:, :1], size)
        return getattr(self, mechanism)(weights, noise, size)

    def noise(self, mechanism, seeds, truncation, size):
        return torch.stack([truncated_noise((2,), s, truncation) for s in seeds])


def test_material_textures_are_crisp_inside_the_letters(song):
    # A lyric video of a model with materials is drawn at the video's own size, the letters' material
    # one source pixel per frame pixel (material scale 0): the noise keeps its grain. At material
    # scale 1 (as large as a native image, here 82 px letter boxes for 64 px of source) it is softer.
    from cgn_art.audio import analyse_file
    from cgn_art.dance.choreography import choreograph
    from cgn_art.dance.lyric_video import prepare_lyrics
    from cgn_art.dance.renderer import class_counts

    model = NoiseMaterialLetters()
    own = (model.texture.exemplars[0, :, :, 1:].float() - model.texture.exemplars[0, :, :, :-1].float()).abs().mean()

    def grain(scale):
        settings = still().with_changes({"size": 256, "material_scale": scale})
        features = analyse_file(song, settings.start, settings.duration)
        choreography = choreograph(features, settings, class_counts(model), model.presets)
        _, renderer, size = prepare_lyrics(model, song, features, choreography, settings,
                                           parse_lyrics("[00:00.00]MWM"))
        assert size == 256 and renderer.work == 256
        frame = renderer.frames(30, 31)[0] * 255
        letters = renderer._masks(30, 31)[0, 0] > 0.99
        inside = letters[:, 1:] & letters[:, :-1]
        assert inside.sum() > 500
        return float((frame[:, :, 1:] - frame[:, :, :-1]).abs().mean(0)[inside].mean())

    crisp, relative = grain(0.0), grain(1.0)
    assert crisp > 0.8 * float(own), (crisp, float(own))
    assert relative < 0.8 * crisp, (relative, crisp)


def test_plain_text_words_land_on_beats(song, tmp_path):
    settings = still().with_changes({"size": 128})
    result = render_dance(BoxLetters(), song, tmp_path / "plain.mp4", settings,
                          lyrics=parse_lyrics("ONE TWO\nTHREE"))
    beats = analyse_file(song).beats
    frames = decode(result.video)
    expected = [first_frame(t) for t in beats[:3]]
    found = changes(frames)
    assert len(found) == 3 and np.abs(np.array(found) - expected).max() <= 1, (found, expected)


def test_cli_lyric_video_and_its_sidecar_repeat_exactly(song, tmp_path, letters_dir, capsys):  # noqa: F811
    lrc = tmp_path / "song.lrc"
    lrc.write_text("[00:00.50]Hi <00:01.00>there\n[00:02.00]Bye ✨\n", encoding="utf-8")
    out = tmp_path / "lyrics.mp4"
    assert main(["dance", str(song), "--lyrics", str(lrc), "-o", str(out), "--model", str(letters_dir),
                 "--size", "64", "--fps", "12", "--duration", "3"]) == 0
    assert "warning: skipped 1 lyric character" in capsys.readouterr().err
    sidecar = out.with_suffix(".json")
    assert json.loads(sidecar.read_text())["lyrics"]["sha256"]
    again = tmp_path / "again.mp4"
    assert main(["dance", str(song), "--settings", str(sidecar), "-o", str(again)]) == 0
    np.testing.assert_array_equal(decode(out), decode(again))


@pytest.mark.parametrize("content, message", [
    (b"[00:01.00]ok\n[00:09.50]too late\n", "line 2 .* past the song's end"),
    (b"\x00\x01binary\x00" * 50, "binary file"),
    ("[00:01.00]très".encode("latin-1"), "not UTF-8"),
    (b"", "is empty"),
    (b"[00:01.00]ok\n[00:75.00]bad", "seconds go from 00 to 59.99"),
])
def test_cli_bad_lyric_files_get_one_line(song, tmp_path, letters_dir, capsys, content, message):  # noqa: F811
    lrc = tmp_path / "bad.lrc"
    lrc.write_bytes(content)
    assert main(["dance", str(song), "--lyrics", str(lrc), "-o", str(tmp_path / "x.mp4"),
                 "--model", str(letters_dir), "--size", "64", "--fps", "12"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("cgn-art: error:") and __import__("re").search(message, err), err
    assert not (tmp_path / "x.mp4").exists()


def test_lyrics_need_a_letters_model(song, tmp_path, capsys, monkeypatch):
    lrc = tmp_path / "ok.lrc"
    lrc.write_text("[00:01.00]ok")
    assert main(["dance", str(song), "--lyrics", str(lrc), "-o", str(tmp_path / "x.mp4"), "--model", "wildlife"]) == 1
    assert "shape classes A to Z" in capsys.readouterr().err
    import cgn_art

    with pytest.raises(CgnArtError, match="shape classes A to Z"):
        render_dance(cgn_art.load_model("wildlife", device="cpu"), song, tmp_path / "y.mp4", still(),
                     lyrics=parse_lyrics("[00:01.00]ok"))
    from cgn_art.mechanisms import weights

    monkeypatch.setattr(weights, "shipped_models", dict)
    assert main(["dance", str(song), "--lyrics", str(lrc), "-o", str(tmp_path / "x.mp4")]) == 1
    assert "Letters CGN is not shipped" in capsys.readouterr().err


# The Latent Dance page: a lyrics upload ---------------------------------------------------------

def test_page_lyrics_upload_makes_a_lyric_video_and_bad_files_say_why(letters_dir):  # noqa: F811
    from helpers.dance import finish_jobs
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    at.text_input(key="model_folder").input(str(letters_dir)).run()
    at.switch_page("views/dance.py").run()
    at.select_slider(key="dance_size").set_value(256).run()
    at.slider(key="dance_stretch_demo_song.ogg").set_value((0.0, 3.0)).run()
    assert not at.exception and not at.error
    at.file_uploader(key="dance_lyrics").upload("song.lrc", b"[00:00.50]HELLO <00:01.00>THERE\n", "text/plain").run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Lyric video: 1 line(s) from song.lrc") for c in at.caption)
    at.button(key="dance_preview").click().run()
    finish_jobs(at)
    assert not at.exception and not at.error and len(at.get("video")) == 1
    at.file_uploader(key="dance_lyrics").upload("late.lrc", b"[00:59.00]too late\n", "text/plain").run()
    assert not at.exception and len(at.error) == 1 and "past the song's end" in at.error[0].value
    at.file_uploader(key="dance_lyrics").upload("words.txt", b"one two three\nfour", "text/plain").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="dance_lyrics_timing").value == "beat"
