"""Load any audio file as mono float32 at the analysis rate, a block at a time.

wav/flac/ogg/mp3 are read with soundfile; anything else (m4a/aac, odd mp3s) is decoded by the
ffmpeg that ships with imageio-ffmpeg. Both paths downmix and resample as the blocks arrive, so a
10-minute 192 kHz 5.1 file never sits in memory at its native size: only the mono 22,050 Hz result
does (about 53 MB for 10 minutes).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgn_art.errors import CgnArtError

SAMPLE_RATE = 22050
MIN_DURATION = 1.0  # seconds; shorter clips give no beats or sections to dance to
DEFAULT_MAX_DURATION = 600.0  # seconds (10 minutes)
AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac", ".m4a", ".aac", ".oga", ".opus", ".aiff", ".aif")
_BLOCK_SECONDS = 10


@dataclass
class Audio:
    """Mono samples at ``sample_rate`` for the stretch [start, start + duration) of ``path``."""

    samples: np.ndarray
    sample_rate: int
    path: str
    file_hash: str
    start: float
    file_duration: float

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def file_hash(path) -> str:
    """sha256 of the file's bytes: names the exact song in sidecars and caches."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_ffmpeg_on_path() -> str:
    """Put a folder holding an ``ffmpeg`` link to imageio-ffmpeg's binary on PATH (for audioread,
    which librosa uses for m4a/aac); returns that binary. Safe to call many times."""
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    folder = Path(tempfile.gettempdir()) / f"cgn-art-ffmpeg-{os.getuid() if hasattr(os, 'getuid') else 0}"
    link = folder / "ffmpeg"
    if not link.exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(exe)
        except FileExistsError:
            pass
    if str(folder) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(folder) + os.pathsep + os.environ.get("PATH", "")
    return exe


def audio_duration(path) -> float:
    """The file's length in seconds (cheap: reads the header, or asks ffmpeg)."""
    path = _check_file(path)
    try:
        import soundfile as sf
        info = sf.info(str(path))
        if info.frames > 0:
            return info.frames / info.samplerate
    except Exception:
        pass
    return _ffmpeg_duration(path)


def load_audio(path, start: float = 0.0, duration: float | None = None, *,
               max_duration: float = DEFAULT_MAX_DURATION, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Load the stretch [start, start + duration) of ``path`` as mono float32 at ``sample_rate``.

    Raises CgnArtError with a message saying what to do for an empty, unreadable, too short or
    (beyond ``max_duration`` seconds) too long stretch.

    >>> audio = load_audio("assets/audio/demo_song.ogg", start=2, duration=5)
    """
    path = _check_file(path)
    start = float(start or 0.0)
    if start < 0:
        raise CgnArtError(f"start {start:g} s is negative: give a start of 0 or more seconds")
    if duration is not None and float(duration) <= 0:
        raise CgnArtError(f"duration {duration} s must be more than 0 seconds")
    try:
        samples, total = _load_soundfile(path, start, duration, sample_rate)
    except _NotSoundfile:
        samples, total = _load_ffmpeg(path, start, duration, sample_rate)
    if total is not None and start >= total:
        raise CgnArtError(f"start {start:g} s is past the end of {path.name} ({total:.1f} s long): "
                          "give an earlier start")
    length = len(samples) / sample_rate
    if length > max_duration + 0.05:
        raise CgnArtError(
            f"{path.name} is {_clock(length)} long (from {start:g} s), over the {_clock(max_duration)} limit: "
            f"pick a stretch of at most {_clock(max_duration)} (a start and a duration)")
    if length < MIN_DURATION:
        raise CgnArtError(f"{path.name} gives only {length:.2f} s of audio: use at least {MIN_DURATION:g} s")
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        # Refused, not zeroed: the render muxes the file itself, and ffmpeg's AAC encoder fails on them.
        raise CgnArtError(f"{path.name} has {bad:,} samples that are not numbers (NaN or infinite), a damaged or "
                          "badly exported float file: export it again (e.g. as 16-bit wav or mp3)")
    return Audio(samples=samples, sample_rate=sample_rate, path=str(path), file_hash=file_hash(path),
                 start=start, file_duration=total if total is not None else start + length)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CgnArtError(f"audio file {str(path)!r} not found")
    if path.stat().st_size == 0:
        raise CgnArtError(f"{path.name} is empty (0 bytes): choose a song file with audio in it")
    return path


class _NotSoundfile(Exception):
    pass


def _load_soundfile(path: Path, start: float, duration: float | None, rate: int):
    import soundfile as sf
    import soxr
    try:
        f = sf.SoundFile(str(path))
    except Exception as e:
        raise _NotSoundfile() from e
    with f:
        total = f.frames / f.samplerate if f.frames > 0 else None
        first = int(round(start * f.samplerate))
        count = -1 if duration is None else int(round(float(duration) * f.samplerate))
        try:
            if first:
                f.seek(min(first, max(f.frames - 1, 0)) if f.frames > 0 else first)
        except Exception as e:
            raise _NotSoundfile() from e
        if total is not None and first >= f.frames:
            return np.zeros(0, np.float32), total
        stream = soxr.ResampleStream(f.samplerate, rate, 1, dtype="float32") if f.samplerate != rate else None
        parts, read = [], 0
        block = _BLOCK_SECONDS * f.samplerate
        try:
            while count < 0 or read < count:
                want = block if count < 0 else min(block, count - read)
                data = f.read(want, dtype="float32", always_2d=True)
                if len(data) == 0:
                    break
                read += len(data)
                mono = data.mean(axis=1, dtype=np.float32)
                parts.append(stream.resample_chunk(mono) if stream else mono)
        except Exception as e:
            if not parts:
                raise _NotSoundfile() from e
            # A truncated file: keep what decoded (soundfile stops at the damage).
        if stream is not None:
            parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    samples = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    return samples, total


def _ffmpeg_duration(path: Path) -> float:
    from cgn_art.video import ffmpeg_exe
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    for line in result.stderr.splitlines():
        line = line.strip()
        if line.startswith("Duration:") and "N/A" not in line.split(",")[0]:
            h, m, s = line.split(",")[0].split()[1].split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
    raise CgnArtError(f"could not read {path.name} as audio: it is not a sound file cgn-art can decode "
                      "(try wav, mp3, ogg, flac or m4a)")


def _load_ffmpeg(path: Path, start: float, duration: float | None, rate: int):
    from cgn_art.video import ffmpeg_exe
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    if start:
        cmd += ["-ss", f"{start:.6f}"]
    if duration is not None:
        cmd += ["-t", f"{float(duration):.6f}"]
    cmd += ["-i", str(path), "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        parts = []
        while True:
            chunk = process.stdout.read(rate * 4 * _BLOCK_SECONDS)
            if not chunk:
                break
            parts.append(np.frombuffer(chunk, dtype=np.float32).copy())
        code = process.wait()
        log.seek(0)
        message = log.read().decode("utf-8", "replace").strip().splitlines()
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if code != 0 and len(samples) == 0:
        detail = message[-1] if message else "unknown format"
        raise CgnArtError(f"could not read {path.name} as audio ({detail}): choose a wav, mp3, ogg, flac or m4a file")
    if len(samples) == 0:
        raise CgnArtError(f"{path.name} has no audio in it (or the start is past its end)")
    total = None
    try:
        total = _ffmpeg_duration(path)
    except CgnArtError:
        pass
    return samples, total
