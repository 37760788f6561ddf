"""Audio loading and analysis: formats, rates and channel counts, stretches, bad files, the feature
grid (click tracks with known times), sections, chunking and the cache. All test audio is
synthesized here with numpy + soundfile (m4a with the bundled ffmpeg)."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import CLICKS, chords, click_track

from cgn_art.audio import (
    analyse,
    analyse_file,
    analysis,
    audio_duration,
    cache,
    file_hash,
    load_audio,
)
from cgn_art.errors import CgnArtError
from cgn_art.video import ffmpeg_exe


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path / "cache"))
    cache._MEMORY.clear()


@pytest.fixture(scope="module")
def clicks_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    sf.write(path, click_track(), 44100)
    return path


def test_click_track_reads_120_bpm_with_onsets_and_beats_on_the_clicks(clicks_wav):
    features = analyse_file(clicks_wav)
    assert abs(features.tempo - 120) <= 1
    hop = 1 / features.frame_rate
    assert len(features.onsets) == len(CLICKS)
    assert np.abs(features.onsets - CLICKS).max() <= 1.5 * hop
    # Beats land on clicks (the tracker may skip the very first or last).
    assert len(features.beats) >= len(CLICKS) - 2
    assert min(np.abs(CLICKS - b).min() for b in features.beats) <= 1.5 * hop
    assert max(np.abs(CLICKS - b).min() for b in features.beats) <= 1.5 * hop
    assert set(np.round(features.downbeats, 3)) <= set(np.round(features.beats, 3))
    for name in ("onsets", "percussive", "harmonic", "rms"):
        env = features.envelope(name)
        assert env.shape == (features.n_frames,) and 0 <= env.min() and env.max() <= 1
    assert features.chroma.shape == (12, features.n_frames)
    assert features.n_frames == 1 + int(8.0 * 22050) // analysis.HOP


@pytest.mark.parametrize("rate,channels", [(8000, 1), (192000, 2), (44100, 6), (22050, 1)])
def test_any_rate_and_channel_count_loads_as_mono_at_the_analysis_rate(tmp_path, rate, channels):
    path = tmp_path / f"clicks-{rate}-{channels}.wav"
    sf.write(path, click_track(sr=rate, seconds=3.0, clicks=[0.5, 1.0, 2.0], channels=channels), rate)
    audio = load_audio(path)
    assert audio.sample_rate == 22050 and audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert abs(audio.duration - 3.0) < 0.01
    features = analyse(audio)
    assert np.abs(features.onsets - [0.5, 1.0, 2.0]).max() < 0.03


def test_formats_wav_flac_ogg_mp3_m4a_give_the_same_song(tmp_path):
    y = click_track(seconds=4.0, clicks=[1.0, 2.0, 3.0])
    paths = []
    for ext in ("wav", "flac", "ogg", "mp3"):
        paths.append(tmp_path / f"song.{ext}")
        sf.write(paths[-1], y, 44100)
    m4a = tmp_path / "song.m4a"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(paths[0]), "-c:a", "aac", str(m4a)], check=True)
    paths.append(m4a)
    for path in paths:
        features = analyse(load_audio(path))
        assert abs(features.duration - 4.0) < 0.1, path
        # mp3/aac add encoder delay (a few ms): onsets still within two analysis frames.
        assert np.abs(features.onsets[:3] - [1.0, 2.0, 3.0]).max() < 0.05, path
    assert abs(audio_duration(m4a) - 4.0) < 0.1


def test_a_stretch_loads_only_that_part(clicks_wav):
    audio = load_audio(clicks_wav, start=2.25, duration=3.0)
    assert abs(audio.duration - 3.0) < 0.01 and audio.start == 2.25
    features = analyse(audio)
    expected = CLICKS[(CLICKS > 2.25) & (CLICKS < 5.25)] - 2.25
    assert np.abs(features.onsets - expected).max() < 0.03


@pytest.mark.parametrize("content,name,message", [
    (b"", "empty.mp3", "empty"),
    (b"this is not audio at all, just text " * 50, "notes.mp3", "could not read"),
    (bytes(range(256)) * 40, "noise.wav", "could not read"),
])
def test_bad_files_get_one_clear_message(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CgnArtError, match=message):
        load_audio(path)


def test_truncated_mp3_loads_what_is_there_or_says_why(tmp_path):
    full = tmp_path / "full.mp3"
    sf.write(full, click_track(seconds=6.0), 44100)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    try:
        audio = load_audio(cut)
    except CgnArtError as e:
        assert "cut.mp3" in str(e)
    else:
        assert 1.0 <= audio.duration <= 6.0


def test_short_clips_missing_files_and_bad_stretches_are_explained(tmp_path, clicks_wav):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(22050 // 2, np.float32), 22050)
    with pytest.raises(CgnArtError, match=r"0\.50 s of audio: use at least 1 s"):
        load_audio(short)
    with pytest.raises(CgnArtError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(CgnArtError, match="past the end"):
        load_audio(clicks_wav, start=100)
    with pytest.raises(CgnArtError, match="negative"):
        load_audio(clicks_wav, start=-1)


def test_a_song_over_the_limit_says_so_and_offers_a_stretch(clicks_wav):
    with pytest.raises(CgnArtError, match=r"over the 0:05 limit: pick a stretch"):
        load_audio(clicks_wav, max_duration=5)
    assert abs(load_audio(clicks_wav, start=1, duration=5, max_duration=5).duration - 5) < 0.01


def test_silence_analyses_to_a_still_song(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(3 * 22050, np.float32), 22050)
    features = analyse_file(path)
    assert features.tempo == 0 and len(features.beats) == 0 and len(features.onsets) == 0
    assert features.rms.max() == 0 and np.isfinite(features.chroma).all()


def test_a_chord_change_shows_in_the_chroma(tmp_path):
    path = tmp_path / "chords.wav"
    sf.write(path, chords(), 22050)
    features = analyse_file(path)
    fr = features.frame_rate
    first = features.chroma[:, int(0.5 * fr):int(2.5 * fr)].mean(axis=1)
    second = features.chroma[:, int(3.5 * fr):int(5.5 * fr)].mean(axis=1)
    assert set(np.argsort(first)[-3:]) == {0, 4, 7}
    assert set(np.argsort(second)[-3:]) == {6, 10, 1}


def test_sections_find_the_change_between_two_different_halves(tmp_path):
    sr = 22050
    a = click_track(sr=sr, seconds=12.0, clicks=np.arange(0.25, 12, 0.5), channels=1)
    rng = np.random.default_rng(0)
    t = np.arange(12 * sr) / sr
    b = np.sin(2 * np.pi * 110 * t) * 0.3 + click_track(sr=sr, seconds=12.0, clicks=np.arange(0.25, 12, 0.5),
                                                        channels=1) + 0.05 * rng.standard_normal(len(t))
    path = tmp_path / "two-parts.wav"
    sf.write(path, np.concatenate([a + 0.3 * np.sin(2 * np.pi * 660 * t), b]).astype(np.float32), sr)
    features = analyse_file(path)
    assert len(features.sections) >= 1
    assert np.abs(features.sections - 12.0).min() < 1.0


def test_chunked_analysis_matches_one_piece(clicks_wav, monkeypatch):
    audio = load_audio(clicks_wav)
    whole = analyse(audio)
    monkeypatch.setattr(analysis, "_CHUNK_FRAMES", 100)  # many chunk seams in 8 s
    pieces = analyse(audio)
    np.testing.assert_allclose(pieces.onset_envelope, whole.onset_envelope, atol=1e-4)
    np.testing.assert_allclose(pieces.rms, whole.rms, atol=1e-4)
    np.testing.assert_allclose(pieces.percussive, whole.percussive, atol=0.02)
    np.testing.assert_array_equal(pieces.beats, whole.beats)


def test_analyses_are_cached_in_memory_and_on_disk(clicks_wav, monkeypatch):
    calls = []
    real = cache.analyse
    monkeypatch.setattr(cache, "analyse", lambda audio: calls.append(1) or real(audio))
    first = analyse_file(clicks_wav, start=1.0, duration=4.0)
    again = analyse_file(clicks_wav, start=1.0, duration=4.0)
    assert again is first and len(calls) == 1
    cache._MEMORY.clear()  # a new process: the disk cache answers
    from_disk = analyse_file(clicks_wav, start=1.0, duration=4.0)
    assert len(calls) == 1
    np.testing.assert_array_equal(from_disk.beats, first.beats)
    np.testing.assert_array_equal(from_disk.chroma, first.chroma)
    assert from_disk.file_hash == file_hash(clicks_wav) and from_disk.tempo == first.tempo
    analyse_file(clicks_wav, start=2.0, duration=4.0)  # another stretch is another analysis
    assert len(calls) == 2


def test_a_rerun_finds_a_known_file_without_decoding_it_and_a_changed_file_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "song.wav"
    sf.write(path, click_track(), 44100)
    loads = []
    real = cache.load_audio
    monkeypatch.setattr(cache, "load_audio", lambda *a, **k: loads.append(1) or real(*a, **k))
    first = analyse_file(path, duration=3.0)
    assert analyse_file(path, duration=3.0) is first and len(loads) == 1  # the page's rerun: no decoding
    sf.write(path, click_track()[::-1].copy(), 44100)  # the same name, other sound
    os.utime(path, ns=(1, 1))
    changed = analyse_file(path, duration=3.0)
    assert len(loads) == 2 and changed.file_hash != first.file_hash


def test_an_analysis_waits_for_the_warm_up_instead_of_running_beside_it(monkeypatch):
    """The page's first analysis waits for its background warm-up instead of compiling librosa's
    numba code a second time beside it."""
    import threading
    import time

    from cgn_art.audio import analysis

    spans, real = [], analysis._analyse

    def timed(audio):
        start = time.perf_counter()
        try:
            return real(audio)
        finally:
            spans.append((start, time.perf_counter(), threading.current_thread().name))

    monkeypatch.setattr(analysis, "_analyse", timed)
    monkeypatch.setattr(analysis, "_warm", threading.Event())  # as in a process that has not warmed up
    thread = analysis.warm_up_in_background()
    sr = analysis.SAMPLE_RATE
    analysis.analyse(analysis.Audio(samples=np.zeros(2 * sr, np.float32) + 1e-3, sample_rate=sr, path="x",
                                    file_hash="", start=0.0, file_duration=2.0))
    thread.join(60)
    (a_start, a_end, a_name), (b_start, b_end, b_name) = sorted(spans)
    assert a_name == "librosa-warm-up" and a_end <= b_start  # the warm-up ran first, alone


def test_other_processes_wait_for_the_librosa_lock_and_share_one_cache(tmp_path):
    """Two processes compiling librosa's numba code at once can leave a cache that crashes every
    later process with signal 11 (numba issue 10128; CI lost the dance server and three renders to
    it). A process that finds the lock taken must wait before it touches librosa, then go on."""
    import fcntl
    import sys
    import time
    from pathlib import Path

    from cgn_art.audio import numba_cache

    folder = numba_cache.configure()
    assert folder == numba_cache.cache_folder() and os.environ["NUMBA_CACHE_DIR"] == str(folder)
    assert numba_cache.cache_folder({}) == Path.home() / ".cache" / "cgn-art" / "numba"
    with open(folder / numba_cache.LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as if another process were compiling
        inode = os.fstat(lock.fileno()).st_ino
        process = subprocess.Popen(
            [sys.executable, "-c", "from cgn_art.audio import warm_up; warm_up(); print('warm')"],
            env={**os.environ, "CGN_ART_CACHE": str(tmp_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def waiting() -> bool:  # /proc/locks marks a blocked request with "->"
            lines = Path("/proc/locks").read_text().splitlines()
            return any("->" in line and f" {process.pid} " in line and line.split()[-3].endswith(f":{inode}")
                       for line in lines)

        deadline = time.monotonic() + 300  # imports first: slow on a busy machine
        while not waiting() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None and waiting(), process.stderr.read().decode()[-2000:]
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0 and out.decode().strip() == "warm", err.decode()[-2000:]
    # the beat tracker's kernel and wrapper (the pair that can mismatch) live in cgn-art's folder
    assert any(folder.rglob("beat.__beat_track_dp-*.nbi")) and any(folder.rglob("guf-beat.__beat_track_dp-*.nbi"))
