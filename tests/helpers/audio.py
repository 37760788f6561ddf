"""Synthesized test audio: click tracks with known times and chord changes."""
from __future__ import annotations

import numpy as np

CLICKS = np.arange(0.5, 8.0, 0.5)  # 120 BPM


def click_track(sr=44100, seconds=8.0, clicks=CLICKS, channels=2) -> np.ndarray:
    y = np.zeros(int(sr * seconds), np.float32)
    n = int(0.01 * sr)
    burst = np.sin(2 * np.pi * 1500 * np.arange(n) / sr) * np.hanning(2 * n)[n:]
    for t in clicks:
        i = int(round(t * sr))
        y[i:i + n] += burst[: len(y) - i]
    return np.repeat(y[:, None], channels, axis=1) * 0.8 if channels > 1 else y * 0.8


def chords(sr=22050, seconds_each=3.0) -> np.ndarray:
    """C major then F# major: pitch classes {0, 4, 7} then {6, 10, 1}."""
    t = np.arange(int(sr * seconds_each)) / sr
    def chord(midis):
        return sum(np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) for m in midis) / len(midis)
    return np.concatenate([chord([60, 64, 67, 72]), chord([66, 70, 73, 78])]).astype(np.float32) * 0.5
