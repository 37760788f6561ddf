"""The benchmark's synthesized song must not repeat itself (a tiled loop flatters the Dance's speed)."""
import numpy as np

from cgn_art.audio.demo_song import SR, long_song, long_song_bars, synthesize


def _best_match(song: np.ndarray, chunk: np.ndarray, hop: int) -> float:
    """Highest normalised correlation of ``chunk`` with any hop-aligned window of ``song``."""
    best = 0.0
    for i in range(0, len(song) - len(chunk) + 1, hop):
        w = song[i: i + len(chunk)]
        best = max(best, float(np.dot(w, chunk) / (np.linalg.norm(w) * np.linalg.norm(chunk) + 1e-9)))
    return best


def test_a_long_song_is_as_long_as_asked_and_never_repeats():
    song = long_song(30.0, seed=3)
    assert len(song) == 30 * SR and np.isfinite(song).all() and abs(np.abs(song).max() - 0.9) < 1e-4
    first = song[: 2 * SR]
    # the demo song tiled twice finds its opening again exactly; the long song does not
    demo = synthesize()
    assert _best_match(np.tile(demo, 2)[2 * SR:], demo[: 2 * SR], SR // 5) > 0.99
    assert _best_match(song[2 * SR:], first, SR // 5) < 0.8


def test_a_long_song_drifts_in_tempo_and_follows_its_seed():
    bars = long_song_bars(60.0)
    bpm = [60 / beat for _, beat in bars]
    assert min(bpm) < 112 and max(bpm) > 128  # the tempo really moves across 108-132 BPM
    song = long_song(60.0, seed=0)
    # the kicks are where the drifting bars say: more energy just after each beat than just before
    after, before = [], []
    for t0, beat in bars[:-1]:
        for b in range(4):
            i = int((t0 + b * beat) * SR)
            if i == 0:  # nothing comes before the first beat
                continue
            after.append(np.abs(song[i: i + SR // 20]).mean())
            before.append(np.abs(song[max(0, i - SR // 20): i]).mean())
    assert np.mean(np.array(after) > np.array(before)) > 0.9
    assert not np.array_equal(long_song(5.0, seed=1), long_song(5.0, seed=2))
    assert np.array_equal(long_song(5.0, seed=1), long_song(5.0, seed=1))
