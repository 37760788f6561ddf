"""Synthesize the demo song shipped in assets/audio/demo_song.ogg (no music ships in any package).

20 s at 120 BPM in 4/4 (a bar is 2 s): drums (kick, snare, hi-hat), a bass line and chords.
- Section A (0-10 s): kick on every beat (softer on 2 and 4), snare, soft pads, chords Am | F | C | G | Am.
- Section B (10-20 s): full kicks, open off-beat hats, louder, brighter saw chords Dm | Bb | F | C | Dm.
So it has clear beats, chord changes every bar and one section change at 10 s.

    python -m cgn_art.audio.demo_song assets/audio/demo_song.ogg
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SR = 22050
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "audio" / "demo_song.ogg"  # see weights.ASSETS
BPM = 120
BEAT = 60 / BPM
BAR = 4 * BEAT
SECONDS = 20.0
SECTION_B = 10.0
NOTE = {"C": 0, "C#": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "Ab": 8, "A": 9, "Bb": 10, "B": 11}
CHORDS_A = [("A", "minor"), ("F", "major"), ("C", "major"), ("G", "major"), ("A", "minor")]
CHORDS_B = [("D", "minor"), ("Bb", "major"), ("F", "major"), ("C", "major"), ("D", "minor")]


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _add(track: np.ndarray, start: float, sound: np.ndarray) -> None:
    i = int(round(start * SR))
    j = min(len(track), i + len(sound))
    if i < len(track):
        track[i:j] += sound[: j - i]


def _kick(rng) -> np.ndarray:
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    pitch = 50 + 90 * np.exp(-t / 0.04)  # the falling thump
    return np.sin(2 * np.pi * np.cumsum(pitch) / SR) * _env(n, 0.002, 0.12)


def _snare(rng) -> np.ndarray:
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    return (0.7 * rng.standard_normal(n) + 0.4 * np.sin(2 * np.pi * 190 * t)) * _env(n, 0.001, 0.07)


def _hat(rng, open_: bool) -> np.ndarray:
    n = int((0.25 if open_ else 0.06) * SR)
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0)  # crude high-pass: hats live up high
    return noise * _env(n, 0.001, 0.09 if open_ else 0.015)


def _chord(root: str, quality: str, seconds: float, bright: bool) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    third = 3 if quality == "minor" else 4
    base = 48 + NOTE[root]  # C3..B3
    out = np.zeros(n)
    for interval in (0, third, 7, 12):
        f = _hz(base + interval)
        if bright:  # a few saw harmonics
            out += sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6))
        else:
            out += np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2 * f * t)
    return out * _env(n, 0.08, 3.0) / 4


def _bass(root: str, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f = _hz(36 + NOTE[root])  # C2..B2
    return (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2 * f * t)) * _env(n, 0.01, 0.5)


def _bar(drums: np.ndarray, bass: np.ndarray, rng, t0: float, beat: float, root: str, full: bool,
         fill: bool = False) -> None:
    """One 4/4 bar of drums and bass from ``t0``: kicks on every beat (softer on 2 and 4 unless
    ``full``), snare on 2 and 4 (a sixteenth-note roll over beats 3-4 when ``fill``), closed hats on
    the beats plus quiet open off-beats when ``full`` (loud off-beats would read as the beat), and
    the bass on the chord's root."""
    for b in range(4):
        tb = t0 + b * beat
        _add(drums, tb, _kick(rng) * (1.0 if full or b in (0, 2) else 0.7))
        if fill and b >= 2:
            for k in range(4):
                _add(drums, tb + k * beat / 4, (0.4 + 0.15 * k) * _snare(rng))
        elif b in (1, 3):
            _add(drums, tb, 0.9 * _snare(rng))
        _add(drums, tb, 0.08 * _hat(rng, open_=False))
        if full:
            _add(drums, tb + beat / 2, 0.05 * _hat(rng, open_=True))
        _add(bass, tb, _bass(root, beat * 0.9) * (1.0 if b == 0 else 0.6))


def synthesize(seed: int = 0) -> np.ndarray:
    """The demo song as mono float32 at 22,050 Hz, peak 0.9."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * SR)
    drums, harmony, bass = np.zeros(n), np.zeros(n), np.zeros(n)
    for bar in range(int(SECONDS / BAR)):
        t0 = bar * BAR
        in_b = t0 >= SECTION_B
        root, quality = (CHORDS_B if in_b else CHORDS_A)[bar % 5]
        _add(harmony, t0, _chord(root, quality, BAR, bright=in_b))
        _bar(drums, bass, rng, t0, BEAT, root, full=in_b)
    song = 0.9 * drums + 0.35 * harmony + 0.5 * bass
    song[int(SECTION_B * SR):] *= 1.25  # section B is louder
    fade = int(0.5 * SR)
    song[-fade:] *= np.linspace(1, 0, fade)
    return (0.9 * song / np.abs(song).max()).astype(np.float32)


# Chords a long song moves between (a random walk, so no bar sequence repeats the way a loop would).
PALETTE = [("A", "minor"), ("F", "major"), ("C", "major"), ("G", "major"), ("D", "minor"), ("Bb", "major"),
           ("E", "minor"), ("Eb", "major")]


def long_song_bars(seconds: float = 60.0, bpm: tuple[float, float] = (108.0, 132.0)) -> list[tuple[float, float]]:
    """(start, beat length) in seconds of every bar of :func:`long_song`: the tempo drifts between
    ``bpm`` along a cosine over the song (up, down and up again)."""
    bars, t0 = [], 0.0
    while t0 < seconds:
        phase = t0 / max(seconds, 1e-6)
        beat = 60 / (bpm[0] + (bpm[1] - bpm[0]) * 0.5 * (1 - np.cos(3 * np.pi * phase)))
        bars.append((t0, beat))
        t0 += 4 * beat
    return bars


def long_song(seconds: float = 60.0, seed: int = 0, bpm: tuple[float, float] = (108.0, 132.0)) -> np.ndarray:
    """A song of any length that never repeats itself, for honest speed figures (a tiled loop lets a
    renderer reuse work): chords wander through :data:`PALETTE`, the tempo drifts between ``bpm``
    (:func:`long_song_bars`), a section changes every 8 bars (denser drums, brighter chords, louder),
    and the last bar of every 4 ends in a snare roll. Mono float32 at 22,050 Hz, peak 0.9."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    drums, harmony, bass = np.zeros(n), np.zeros(n), np.zeros(n)
    gain = np.ones(n)
    chord = int(rng.integers(len(PALETTE)))
    for bar, (t0, beat) in enumerate(long_song_bars(seconds, bpm)):
        busy = (bar // 8) % 2 == 1
        chord = (chord + int(rng.choice([1, 2, 3, 5]))) % len(PALETTE)
        root, quality = PALETTE[chord]
        _add(harmony, t0, _chord(root, quality, 4 * beat, bright=busy))
        _bar(drums, bass, rng, t0, beat, root, full=busy, fill=bar % 4 == 3)
        if busy:
            gain[int(t0 * SR): int((t0 + 4 * beat) * SR)] = 1.25
    song = (0.9 * drums + 0.35 * harmony + 0.5 * bass) * gain
    fade = int(min(0.5, seconds / 4) * SR)
    song[-fade:] *= np.linspace(1, 0, fade)
    return (0.9 * song / max(np.abs(song).max(), 1e-9)).astype(np.float32)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="assets/audio/demo_song.ogg")
    args = parser.parse_args(argv)
    import soundfile as sf
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), synthesize(), SR)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {SECONDS:g} s)")


if __name__ == "__main__":
    main()
