"""librosa analysis of a song into one AudioFeatures object on a common frame grid.

The grid is hop 256 at 22,050 Hz (86 frames/s): fine enough that a 120 BPM click reads 120 +- 1 BPM
(hop 512 reads 117.5). The spectrogram is computed in overlapping 30 s chunks, so memory does not
grow with the song beyond the small per-frame feature arrays.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

import numpy as np

from cgn_art.audio import numba_cache
from cgn_art.audio.load import SAMPLE_RATE, Audio

HOP = 256
N_FFT = 2048
_CHUNK_FRAMES = 2560           # ~30 s of frames per chunk
_TIMBRE_SCALE = 30.0           # MFCC distance at which two blocks count as clearly different
_HPSS_BINS = 384               # STFT bins below ~4 kHz
_HPSS_KERNEL = 13              # on the 2x coarser grid: ~0.3 s in time, ~140 Hz in frequency
_MARGIN_FRAMES = 32            # context each side: STFT window and the HPSS median filter (31)
ANALYSIS_VERSION = 4           # bump when the analysis changes, so disk caches are not reused

ENVELOPES = ("onsets", "percussive", "harmonic", "rms")
EVENTS = ("onsets", "beats", "downbeats", "sections")


@dataclass
class AudioFeatures:
    """Everything the choreography listens to, on one frame grid (``frame_rate`` frames/s).

    Envelopes are normalised to [0, 1] (the 99th percentile maps to 1) so sensitivities mean the
    same thing for quiet and loud songs. Event lists are times in seconds from the stretch's start.
    """

    sample_rate: int
    hop_length: int
    duration: float
    onset_envelope: np.ndarray      # (T,) onset strength
    percussive: np.ndarray          # (T,) percussive energy (HPSS)
    harmonic: np.ndarray            # (T,) harmonic energy (HPSS)
    rms: np.ndarray                 # (T,) loudness
    chroma: np.ndarray              # (12, T) pitch classes C, C#, ... B of the harmonic part
    onsets: np.ndarray              # onset times
    beats: np.ndarray               # beat times
    downbeats: np.ndarray           # estimated first beats of each bar (4/4 assumed)
    sections: np.ndarray            # section boundaries (not counting 0)
    tempo: float                    # beats per minute (0 when no beat was found)
    file_hash: str = ""
    start: float = 0.0
    name: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def n_frames(self) -> int:
        return len(self.onset_envelope)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) / self.frame_rate

    def envelope(self, name: str) -> np.ndarray:
        """A [0, 1] envelope by name: onsets, percussive, harmonic or rms."""
        return {"onsets": self.onset_envelope, "percussive": self.percussive,
                "harmonic": self.harmonic, "rms": self.rms}[name]

    def events(self, name: str) -> np.ndarray:
        """Event times by name: onsets, beats, downbeats or sections."""
        return {"onsets": self.onsets, "beats": self.beats, "downbeats": self.downbeats,
                "sections": self.sections}[name]

    def summary(self) -> dict:
        return {"duration": round(self.duration, 3), "tempo": round(self.tempo, 2), "beats": len(self.beats),
                "onsets": len(self.onsets), "sections": len(self.sections) + 1}

    def to_arrays(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                continue
            out[f.name] = np.asarray(value)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> AudioFeatures:
        kwargs = {}
        for f in fields(cls):
            if f.name == "extra" or f.name not in arrays:
                continue
            value = arrays[f.name]
            kwargs[f.name] = value.item() if np.ndim(value) == 0 else np.asarray(value)
            if f.name in ("file_hash", "name"):
                kwargs[f.name] = str(kwargs[f.name])
        return cls(**kwargs)


def analyse(audio: Audio) -> AudioFeatures:
    """Analyse loaded audio; see :func:`cgn_art.audio.analyse_file` for the cached version."""
    warm_up()  # waits for a warm-up in progress, so the first analysis does not compile twice
    return _analyse(audio)


def _analyse(audio: Audio) -> AudioFeatures:
    # librosa's numba code is compiled (or loaded from disk) under a lock that other processes
    # respect: two processes compiling at once can leave a cache that crashes every later one.
    with numba_cache.exclusive():
        return _analyse_locked(audio)


def _analyse_locked(audio: Audio) -> AudioFeatures:
    import librosa

    y, sr = audio.samples, audio.sample_rate
    parts = _chunked_frames(y, sr)
    onset_env = parts["onset"]
    n = len(onset_env)
    onset_times = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="time",
                                             backtrack=False) if onset_env.max() > 0 else np.zeros(0)
    tempo, beats = _beats(onset_env, sr)
    downbeats = _downbeats(beats, parts["low"], sr)
    sections = _sections(parts["chroma"], parts["mfcc"], beats, sr, n)
    return AudioFeatures(
        sample_rate=sr, hop_length=HOP, duration=len(y) / sr,
        onset_envelope=_unit(onset_env), percussive=_unit(parts["percussive"]),
        harmonic=_unit(parts["harmonic"]), rms=_unit(parts["rms"]), chroma=parts["chroma"].astype(np.float32),
        onsets=np.asarray(onset_times, float), beats=beats, downbeats=downbeats, sections=sections,
        tempo=float(tempo), file_hash=audio.file_hash, start=audio.start,
        name=str(audio.path).rsplit("/", 1)[-1])


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.maximum(np.asarray(x, np.float32), 0)
    top = float(np.percentile(x, 99)) if len(x) else 0.0
    if top <= 1e-10:
        top = float(x.max()) if len(x) else 0.0
    if top <= 1e-10:  # silence
        return np.zeros_like(x)
    return np.clip(x / top, 0, 1)


def _chunked_frames(y: np.ndarray, sr: int) -> dict:
    """Per-frame features from one STFT pass over overlapping chunks (frame i centred on sample i*HOP)."""
    import librosa

    n_frames = 1 + len(y) // HOP
    mel_fb = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=128).astype(np.float32)
    low_bins = librosa.fft_frequencies(sr=sr, n_fft=N_FFT) < 150
    chroma_fb = librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=0.0)[:, :_HPSS_BINS].astype(np.float32)
    out = {k: [] for k in ("onset", "percussive", "harmonic", "rms", "low", "chroma", "mfcc")}
    previous_db = None
    for first in range(0, n_frames, _CHUNK_FRAMES):
        last = min(first + _CHUNK_FRAMES, n_frames)
        margin_left = min(_MARGIN_FRAMES, first)
        lo = (first - margin_left) * HOP
        hi = min(len(y), (last + _MARGIN_FRAMES) * HOP)
        spec = np.abs(librosa.stft(y[lo:hi], n_fft=N_FFT, hop_length=HOP, center=True)).astype(np.float32)
        keep = slice(margin_left, margin_left + (last - first))
        # HPSS (median filters) is the costly step: run it on every 2nd frame (23 ms) and the bins
        # below ~5.5 kHz, 8x cheaper than the full grid, then repeat each result over its 2 frames.
        # Chunks start on even frames, so coarse frames line up across chunks.
        harmonic, percussive = librosa.decompose.hpss(spec[:_HPSS_BINS, ::2], kernel_size=_HPSS_KERNEL)
        harmonic_power, percussive_power = harmonic ** 2, percussive ** 2
        fine = spec.shape[1]
        harmonic_energy = np.repeat(harmonic_power.sum(axis=0), 2)[:fine][keep]
        percussive_energy = np.repeat(percussive_power.sum(axis=0), 2)[:fine][keep]
        chroma = chroma_fb @ harmonic_power
        chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-10)  # librosa's norm=inf, silent-safe
        chroma = np.repeat(chroma, 2, axis=1)[:, :fine][:, keep]
        spec = spec[:, keep]
        power = spec ** 2
        mel_db = librosa.power_to_db(mel_fb @ power, ref=1.0, top_db=None)
        # Onset strength by hand (mean positive mel flux, lag 1) so it continues across chunks.
        before = mel_db[:, :1] if previous_db is None else previous_db
        flux = np.maximum(0, np.diff(np.concatenate([before, mel_db], axis=1), axis=1)).mean(axis=0)
        previous_db = mel_db[:, -1:]
        out["onset"].append(flux)
        out["percussive"].append(percussive_energy)
        out["harmonic"].append(harmonic_energy)
        out["rms"].append(np.sqrt(power.mean(axis=0)))
        out["low"].append(power[low_bins].sum(axis=0))
        out["chroma"].append(chroma)
        out["mfcc"].append(librosa.feature.mfcc(S=mel_db, n_mfcc=13))
    joined = {k: np.concatenate(v, axis=-1) for k, v in out.items()}
    joined["chroma"] = np.nan_to_num(joined["chroma"])
    # A centred frame starts to hear a sound N_FFT/2 samples before it happens, and the log-flux
    # peaks right there; shift by that much (as librosa's onset_strength does) so onsets land on time.
    shift = N_FFT // (2 * HOP)
    joined["onset"] = np.concatenate([np.zeros(shift, np.float32), joined["onset"][:-shift]])
    return joined


def _beats(onset_env: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    import librosa

    if onset_env.max() <= 0 or len(onset_env) < 16:
        return 0.0, np.zeros(0)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="time",
                                           bpm=_global_tempo(onset_env, sr))
    beats = np.asarray(beats, float)
    tempo = float(np.atleast_1d(tempo)[0])
    if len(beats) >= 4:
        # The mean inter-beat interval is finer than beat_track's tempo grid.
        tempo = 60.0 * (len(beats) - 1) / (beats[-1] - beats[0])
    return tempo, beats


def _global_tempo(onset_env: np.ndarray, sr: int) -> float:
    """Tempo from one autocorrelation of the whole onset envelope, weighted by a log-normal prior
    around 120 BPM (librosa's prior). beat_track's own estimate computes a windowed tempogram,
    which costs more than the rest of the analysis for a long song; one global FFT is enough to
    seed the beat tracker (tempo changes are followed by the tracker, and the tempo we report
    comes from the tracked beats)."""
    frame_rate = sr / HOP
    env = onset_env - onset_env.mean()
    n = len(env)
    spectrum = np.fft.rfft(env, 2 * n)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    lags = np.arange(1, n)
    bpm = 60.0 * frame_rate / lags
    usable = (bpm >= 30) & (bpm <= 300)
    if not usable.any() or correlation[0] <= 0:
        return 120.0
    prior = np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)
    score = np.where(usable, correlation[1:] * prior, -np.inf)
    return float(bpm[int(np.argmax(score))])


def _downbeats(beats: np.ndarray, low_energy: np.ndarray, sr: int) -> np.ndarray:
    """4/4 assumed: the beat phase whose beats carry the most bass (kick) energy starts the bar."""
    if len(beats) < 4:
        return beats[:1].copy()
    frames = np.clip(np.round(beats * sr / HOP).astype(int), 0, len(low_energy) - 1)
    energy = low_energy[frames]
    scores = [energy[p::4].mean() for p in range(4)]
    return beats[int(np.argmax(scores))::4].copy()


def _sections(chroma, mfcc, beats, sr, n_frames) -> np.ndarray:
    """Section boundaries from a checkerboard novelty curve on a self-similarity matrix of MFCCs
    averaged over beat-long blocks (a regular grid, so stretches where the beat tracker lost
    the beat are still covered)."""
    frame_rate = sr / HOP
    period = float(np.median(np.diff(beats))) if len(beats) >= 4 else 0.5
    step = max(1, int(round(np.clip(period, 0.25, 1.0) * frame_rate)))
    bounds = np.unique(np.concatenate([np.arange(0, n_frames, step), [n_frames]]))
    if len(bounds) < 10:
        return np.zeros(0)
    # Timbre (MFCC without the loudness term) per block; similarity on an absolute scale (dB-like
    # MFCC units), so a steady loop is self-similar everywhere instead of having its noise blown up.
    features = mfcc[1:]
    blocks = np.stack([features[:, a:b].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:]) if b > a], axis=1)
    squared = (blocks ** 2).sum(axis=0)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * blocks.T @ blocks, 0)  # (n, n), no (d, n, n)
    ssm = np.exp(-distances / (2 * _TIMBRE_SCALE ** 2))
    n = ssm.shape[0]
    half = max(2, min(8, n // 4))
    sign = np.concatenate([-np.ones(half), np.ones(half)])
    kernel = np.outer(sign, sign) * np.outer(np.hanning(2 * half + 2)[1:-1], np.hanning(2 * half + 2)[1:-1])
    padded = np.pad(ssm, half, mode="edge")
    novelty = np.array([(padded[i:i + 2 * half, i:i + 2 * half] * kernel).sum() for i in range(n)])
    novelty[:half] = novelty[n - half:] = 0  # edges compare the song with its padding
    if novelty.max() <= 0:
        return np.zeros(0)
    # Relative to the song and absolute (a fraction of the largest possible contrast), so a
    # steady loop does not get boundaries from tiny wobbles.
    novelty /= np.abs(kernel).sum()
    threshold = max(novelty.mean() + 1.5 * novelty.std(), 0.08)
    peaks = [i for i in range(1, n - 1)
             if novelty[i] >= threshold and novelty[i] == novelty[max(0, i - half):i + half + 1].max()]
    return np.asarray([bounds[i] / frame_rate for i in peaks], float)


_warm = threading.Event()
_warm_lock = threading.Lock()


def warm_up() -> None:
    """Compile librosa's numba code once per process (10-20 s on a fresh install, ~1-3 s after)
    on 4 s of synthetic clicks, so the user's first analysis is not the one that pays for it."""
    if _warm.is_set():
        return
    with _warm_lock:
        if _warm.is_set():
            return
        sr = SAMPLE_RATE
        y = np.zeros(4 * sr, np.float32)
        for t in np.arange(0.25, 4, 0.5):
            i = int(t * sr)
            y[i:i + 200] = np.hanning(400)[200:]
        _analyse(Audio(samples=y, sample_rate=sr, path="warm-up", file_hash="", start=0.0, file_duration=4.0))
        _warm.set()


def warm_up_in_background() -> threading.Thread:
    """Start :func:`warm_up` on a daemon thread (the app calls this when a page loads)."""
    thread = threading.Thread(target=warm_up, name="librosa-warm-up", daemon=True)
    thread.start()
    return thread
