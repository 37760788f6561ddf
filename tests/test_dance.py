"""The Latent Dance: settings, choreography (sync measured on rendered video), the renderer's reuse,
the video writer, sidecars, the CLI and the page (AppTest)."""
from __future__ import annotations

import json
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.audio import CLICKS, chords, click_track
from helpers.dance import FPS, decode, finish_jobs, still

import cgn_art
from cgn_art.audio import analyse_file, file_hash
from cgn_art.audio.demo_song import SHIPPED as DEMO
from cgn_art.cli import main
from cgn_art.dance import DanceSettings, choreograph, read_sidecar, render_dance, slerp
from cgn_art.dance.renderer import _FrameRenderer, class_counts, render_size
from cgn_art.errors import CgnArtError
from cgn_art.video import VideoCancelled, VideoWriter, ffmpeg_exe


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path_factory.getbasetemp() / "dance-cache"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return cgn_art.load_model("wildlife", device="cpu")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    sf.write(folder / "clicks.wav", click_track(), 44100)
    sf.write(folder / "chords.wav", chords(), 22050)
    sf.write(folder / "silence.wav", np.zeros(3 * 22050, np.float32), 22050)
    return folder


def video_info(path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


# Sync, measured ------------------------------------------------------------------------------

def test_shape_pulses_peak_within_one_frame_of_each_click_in_the_rendered_video(model, songs, tmp_path):
    settings = still(**{"shape.pulse": "onsets", "shape.sensitivity": 0.9, "shape.smoothing": 0.15})
    result = render_dance(model, songs / "clicks.wav", tmp_path / "clicks.mp4", settings)
    frames = decode(result.video)
    assert len(frames) == result.frames == 8 * FPS
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[f-1]: frame f-1 -> f
    # A jump: the largest change within +-5 frames (clicks are 12 frames apart), well above typical.
    window = np.lib.stride_tricks.sliding_window_view(np.pad(change, 5), 11).max(axis=1)
    onsets = np.flatnonzero((change == window) & (change > 2 * np.median(change))) + 1
    assert len(onsets) == len(CLICKS)
    expected = np.round(CLICKS * FPS)
    assert np.abs(onsets - expected).max() <= 1
    # The choreography's own pulse peaks exactly where the video jumps.
    pulse = choreograph(analyse_file(songs / "clicks.wav"), settings, class_counts(model)).tracks["shape"].pulse
    peaks = np.flatnonzero((pulse[1:-1] > pulse[:-2]) & (pulse[1:-1] >= pulse[2:])) + 1
    assert np.abs(peaks - expected).max() <= 1


def test_a_chord_change_moves_the_texture_and_nothing_else(model, songs):
    features = analyse_file(songs / "chords.wav")
    settings = still(**{"texture.classes_by": "chroma", "texture.smoothing": 0.2})
    tracks = choreograph(features, settings, class_counts(model)).tracks
    weights = tracks["texture"].weights
    first, second = weights[int(0.7 * FPS):int(2.5 * FPS)], weights[int(3.7 * FPS):int(5.5 * FPS)]
    assert np.abs(first.mean(0) - second.mean(0)).sum() > 0.5  # a different blend of textures
    assert np.abs(first - first.mean(0)).max() < 0.1  # and steady while the chord holds
    assert first.mean(0).argmax() != second.mean(0).argmax()
    for m in ("shape", "background"):
        assert tracks[m].same_as_previous()[1:].all()
    renderer = _FrameRenderer(model, choreograph(features, settings, class_counts(model)), settings, 32, True)
    frames = renderer.frames(0, len(weights))
    assert (frames[int(1.5 * FPS)] - frames[int(4.5 * FPS)]).abs().mean() > 0.02


def test_choreography_is_deterministic_for_a_seed(model):
    features = analyse_file(DEMO)
    settings = DanceSettings.from_preset("texture storm")
    a = choreograph(features, settings, class_counts(model))
    b = choreograph(features, settings, class_counts(model))
    c = choreograph(features, settings.with_changes({"seed": 5}), class_counts(model))
    for m in a.tracks:
        for field in ("weights", "walk", "pulse", "pulse_key"):
            np.testing.assert_array_equal(getattr(a.tracks[m], field), getattr(b.tracks[m], field))
    assert any(not np.array_equal(a.tracks[m].walk, c.tracks[m].walk)
               or not np.array_equal(a.tracks[m].weights, c.tracks[m].weights) for m in a.tracks)


def test_presets_follow_the_demo_song_differently(model):
    features = analyse_file(DEMO)
    assert abs(features.tempo - 120) <= 1 and len(features.sections) >= 1
    shapes = {}
    for name in cgn_art.dance.PRESETS:
        tracks = choreograph(features, DanceSettings.from_preset(name), class_counts(model)).tracks
        shapes[name] = tracks["shape"].weights.argmax(1)
        assert tracks["shape"].weights.shape == (20 * 24, 10)
        np.testing.assert_allclose(tracks["texture"].weights.sum(1), 1, atol=1e-5)
    assert len(set(map(bytes, (s.astype(np.int8) for s in shapes.values())))) > 1


# Renderer --------------------------------------------------------------------------------------

def test_reusing_unchanged_mechanisms_gives_the_same_frames_with_less_work(model):
    features = analyse_file(DEMO, duration=4)
    settings = DanceSettings.from_preset("groove", size=64)
    chor = choreograph(features, settings, class_counts(model))
    reuse = _FrameRenderer(model, chor, settings, 32, True)
    fresh = _FrameRenderer(model, chor, settings, 32, False)
    for first in range(0, 48, 16):
        torch.testing.assert_close(reuse.frames(first, first + 16), fresh.frames(first, first + 16), rtol=0, atol=1e-5)
    assert fresh.computed["background"] == 48 and reuse.computed["background"] < 48
    held = chor.tracks["background"].same_as_previous()[:48]
    assert reuse.computed["background"] == 48 - held[1:].sum()


def test_slerp_keeps_the_norm_and_hits_the_ends():
    a, b = torch.randn(3, 512), torch.randn(3, 512)
    torch.testing.assert_close(slerp(a, b, torch.zeros(3)), a)
    torch.testing.assert_close(slerp(a, b, torch.ones(3)), b, atol=1e-5, rtol=1e-5)
    mid = slerp(a, b, torch.full((3,), 0.5))
    assert ((mid.norm(dim=1) / a.norm(dim=1)) > 0.9).all()  # a straight line would shrink to ~0.71


def test_render_writes_browser_video_with_audio_and_a_sidecar_that_renders_it_again(model, tmp_path):
    song = DEMO
    settings = DanceSettings.from_preset("punchy", size=96, start=2.0, duration=6.0)
    seen = []
    result = render_dance(model, song, tmp_path / "a.mp4", settings, preview_seconds=2,
                          progress=lambda f, m: seen.append(f))
    info = video_info(result.video)
    assert "h264" in info and "yuv420p" in info and "96x96" in info and "aac" in info
    assert result.frames == 48 and seen[-1] == 1.0 and seen == sorted(seen)
    again_settings, sidecar = read_sidecar(result.sidecar)
    assert again_settings == settings and sidecar["model"] == model.name
    assert sidecar["audio"]["sha256"] == file_hash(song)
    again = render_dance(model, song, tmp_path / "b.mp4", again_settings, preview_seconds=2)
    np.testing.assert_array_equal(decode(result.video), decode(again.video))
    assert render_size(model, 512) == 128 and render_size(model, 1080) == 270 and render_size(model, 96) == 96
    from types import SimpleNamespace
    assert render_size(SimpleNamespace(native_size=256), 512) == 256  # a BigGAN-sized model: its own size


def test_silence_renders_a_calm_video(model, songs, tmp_path):
    result = render_dance(model, songs / "silence.wav", tmp_path / "s.mp4",
                          DanceSettings.from_preset("groove", size=64))
    assert result.frames == 3 * 24 and result.video.stat().st_size > 0


def test_cancel_stops_and_leaves_no_file(model, songs, tmp_path):
    calls = []
    with pytest.raises(VideoCancelled):
        render_dance(model, songs / "clicks.wav", tmp_path / "c.mp4", DanceSettings.from_preset("groove", size=64),
                     cancel=lambda: calls.append(1) or len(calls) > 1)
    assert list(tmp_path.iterdir()) == []


def test_too_long_and_bad_outputs_are_explained(model, songs, tmp_path):
    with pytest.raises(CgnArtError, match="over the 0:05 limit: pick a stretch"):
        render_dance(model, songs / "clicks.wav", tmp_path / "x.mp4", DanceSettings.from_preset(max_duration=5))
    with pytest.raises(CgnArtError, match="ending in .mp4"):
        render_dance(model, songs / "clicks.wav", tmp_path / "x.gif", DanceSettings.from_preset())
    with pytest.raises(CgnArtError, match="texture class 12 is out of range"):
        render_dance(model, songs / "clicks.wav", tmp_path / "x.mp4",
                     DanceSettings.from_preset(size=64).with_changes({"texture.classes": "1,12"}))


# Settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,message", [
    ({"size": 513}, "odd"), ({"size": 32}, "out of range"), ({"fps": 0}, "out of range"),
    ({"truncation": 0}, "truncation 0"),
    ({"shape.pulse": "drums"}, "unknown shape pulse 'drums'; choose one of onsets"),
    ({"texture.sensitivity": "lots"}, "not a number"), ({"background.classes": "a,b"}, "not a whole number"),
    ({"tempo": 3}, "unknown dance setting"), ({"melody.pulse": "beats"}, "unknown mechanism"),
    ({"duration": 700}, "over the 600 s limit"),
])
def test_bad_settings_say_what_to_give(changes, message):
    with pytest.raises(CgnArtError, match=message):
        DanceSettings.from_preset("groove").with_changes(changes)


def test_settings_round_trip_and_mark_custom_mappings():
    settings = DanceSettings.from_preset("calm").with_changes({"size": "256", "shape.classes": "1, 3",
                                                               "texture.smoothing": "0.8", "duration": "none"})
    assert settings.size == 256 and settings.shape.classes == [1, 3] and settings.texture.smoothing == 0.8
    assert settings.preset == "custom" and settings.duration is None
    assert DanceSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert DanceSettings.from_preset("calm").with_changes({"size": 256}).preset == "calm"


# Video writer ----------------------------------------------------------------------------------------

def test_video_writer_streams_arrays_and_tensors_and_removes_partial_files(tmp_path):
    out = tmp_path / "v.mp4"
    with VideoWriter(out, fps=10, size=64) as video:
        video.write(np.zeros((32, 32, 3), np.uint8))
        video.write(torch.rand(4, 3, 32, 32))
        with pytest.raises(CgnArtError, match="differs from the first frame"):
            video.write(np.zeros((16, 16, 3), np.uint8))
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 5 and "64x64" in video_info(out)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "broken.mp4", fps=10) as video:
            video.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("the caller failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]
    with pytest.raises(CgnArtError, match=r"\(N, H, W, 3\)"):
        VideoWriter(tmp_path / "x.mp4").write(np.zeros((3, 4, 4)))


# CLI ------------------------------------------------------------------------------------------------

def test_cli_renders_and_rerenders_from_the_sidecar_larger(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["dance", "--demo-song", "-o", str(out), "--size", "64", "--preview", "1",
                 "--set", "shape.pulse=beats", "--device", "cpu"]) == 0
    assert out.is_file() and out.with_suffix(".json").is_file()
    big = tmp_path / "big.mp4"
    assert main(["dance", str(DEMO), "-o", str(big), "--settings",
                 str(out.with_suffix(".json")), "--size", "128", "--preview", "1", "--device", "cpu"]) == 0
    settings, _ = read_sidecar(big.with_suffix(".json"))
    assert settings.size == 128 and settings.shape.pulse == "beats"


def test_cli_flags_come_from_dance_settings():
    """The stretch and format flags are DanceSettings' fields (cli.common.add_settings_flags); their text
    reaches the settings, which read and check it."""
    from cgn_art.cli import build_parser
    from cgn_art.cli.dance import FLAGS, settings_from

    dance = build_parser()._subparsers._group_actions[0].choices["dance"]
    helps = {a.dest: a.help for a in dance._actions}
    for name in FLAGS:
        default = getattr(DanceSettings(), name)
        assert helps[name].endswith(f"(default: {'to the end' if default is None else default})"), name
    assert helps["size"].startswith("video side in pixels, even, 64 to 1080")
    args = build_parser().parse_args(["dance", "--demo-song", "--size", "128", "--max-duration", "90",
                                      "--duration", "30", "--seed", "7", "--set", "shape.pulse=beats"])
    assert (args.size, args.max_duration, args.truncation) == ("128", "90", None)
    settings, _ = settings_from(args)
    assert (settings.size, settings.max_duration, settings.duration, settings.seed) == (128, 90.0, 30.0, 7)
    assert settings.truncation == DanceSettings.from_preset("groove").truncation and settings.shape.pulse == "beats"
    with pytest.raises(CgnArtError, match="size 255 is odd"):
        settings_from(build_parser().parse_args(["dance", "--size", "255"]))


def test_cli_errors_are_one_line(tmp_path, songs, capsys):
    assert main(["dance", str(songs / "clicks.wav"), "-o", str(tmp_path / "x.mp4"), "--set", "shape.pulse=drums"]) == 1
    assert main(["dance", str(tmp_path / "none.mp3")]) == 1
    sidecar = tmp_path / "s.json"
    sidecar.write_text(json.dumps({"kind": "cgn-art dance", "settings": {},
                                   "audio": {"sha256": "0" * 64, "file": "x"}}))
    assert main(["dance", str(songs / "clicks.wav"), "--settings", str(sidecar)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cgn-art: error:")]
    assert "unknown shape pulse 'drums'; choose one of" in lines[0]
    assert "not found" in lines[1] and "different audio file" in lines[2]


# Page (AppTest) -------------------------------------------------------------------------------------


def test_page_demo_song_preview_render_video_and_downloads():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    at.switch_page("views/dance.py").run()
    assert not at.exception and not at.error
    assert "BPM" in at.caption[0].value
    at.select_slider(key="dance_size").set_value(256).run()
    at.slider(key="dance_stretch_demo_song.ogg").set_value((2.0, 5.0)).run()
    at.button(key="dance_preview").click().run()
    assert not at.exception and at.get("button")  # the render runs as a job, with its Cancel button
    finish_jobs(at)
    assert not at.exception and not at.error and len(at.get("video")) == 1
    preview = [c.value for c in at.caption if c.value.startswith("Preview:")]
    assert preview and "72 frames" in preview[0]
    at.button(key="dance_render").click().run()
    finish_jobs(at)
    assert not at.exception and not at.error and len(at.get("video")) == 1
    assert any(c.value.startswith("72 frames, 3.0 s at 256 px") for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download the video (mp4)", "Download the settings (JSON sidecar)"]


def test_page_uploads_bad_file_size_cap_and_a_good_song(songs, monkeypatch):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    at.switch_page("views/dance.py").run()
    at.radio(key="dance_source").set_value("Upload a song").run()
    assert not at.exception and any("Upload a song" in i.value for i in at.info)
    at.file_uploader(key="dance_upload").upload("song.mp3", b"not audio, just text " * 100, "audio/mpeg").run()
    assert not at.exception and len(at.error) == 1 and "could not read song.mp3" in at.error[0].value
    monkeypatch.setenv("CGN_ART_MAX_UPLOAD_MB", "0.01")
    at.file_uploader(key="dance_upload").upload("big.wav", (songs / "clicks.wav").read_bytes(), "audio/wav").run()
    assert not at.exception and "over the 0.01 MB limit" in at.error[0].value
    monkeypatch.delenv("CGN_ART_MAX_UPLOAD_MB")
    at.file_uploader(key="dance_upload").upload("silence.wav", (songs / "silence.wav").read_bytes(), "audio/wav").run()
    assert not at.exception and not at.error
    assert at.caption[0].value.startswith("3.0 s · 0.0 BPM · 0 beats")


def test_a_model_s_presets_are_the_default_classes(model, songs):
    features = analyse_file(songs / "clicks.wav")
    presets = {"shape": [3, 1], "texture": [5, 7, 9], "background": [2]}
    tracks = choreograph(features, DanceSettings(), class_counts(model), presets).tracks
    assert {m: tracks[m].classes.tolist() for m in tracks} == presets
    chosen = DanceSettings().with_changes({"texture.classes": [0, 4]})
    assert choreograph(features, chosen, class_counts(model), presets).tracks["texture"].classes.tolist() == [0, 4]
