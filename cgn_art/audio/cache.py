"""Analyse a file once: results are kept in memory and on disk (npz, no pickles), keyed by the
file's sha256, the stretch and the analysis version, so re-rendering a song (or reopening the app)
skips the analysis."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from cgn_art.audio.analysis import ANALYSIS_VERSION, AudioFeatures, analyse, warm_up
from cgn_art.audio.load import DEFAULT_MAX_DURATION, load_audio
from cgn_art.cache import cache_root
from cgn_art.runtime.progress import reporter

_MEMORY: OrderedDict[str, AudioFeatures] = OrderedDict()
_MEMORY_ITEMS = 8
# (file, mtime, size, stretch) -> cache key: a page reruns on every click, and decoding and hashing
# the whole song just to find its key cost ~0.65 s a rerun for a 20 s song (more for longer ones)
_FILES: OrderedDict[tuple, str] = OrderedDict()
_LOCK = threading.Lock()


def _file_key(path, start: float, duration: float | None, max_duration: float) -> tuple | None:
    try:
        stat = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None  # load_audio says what is wrong with it
    return (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, start, duration, max_duration)


def cache_dir() -> Path:
    """``audio`` under :func:`cgn_art.cache.cache_root`."""
    return cache_root() / "audio"


def analyse_file(path, start: float = 0.0, duration: float | None = None, *,
                 max_duration: float = DEFAULT_MAX_DURATION, use_cache: bool = True,
                 progress=None) -> AudioFeatures:
    """Load and analyse ``path`` (the stretch from ``start`` for ``duration`` seconds), cached.

    ``progress(fraction, message)`` is called as the steps go by.
    """
    report = reporter(progress)
    report(0.0, "Loading the audio")
    file_key = _file_key(path, start, duration, max_duration) if use_cache else None
    if file_key:
        with _LOCK:
            known = _FILES.get(file_key)
            if known in _MEMORY:
                _MEMORY.move_to_end(known)
                report(1.0, "Analysis loaded from the cache")
                return _MEMORY[known]
    audio = load_audio(path, start, duration, max_duration=max_duration)
    key = f"{audio.file_hash[:32]}-{audio.start:.3f}-{audio.duration:.3f}-v{ANALYSIS_VERSION}"
    if file_key:
        with _LOCK:
            _FILES[file_key] = key
            while len(_FILES) > 4 * _MEMORY_ITEMS:
                _FILES.popitem(last=False)
    if use_cache:
        with _LOCK:
            if key in _MEMORY:
                _MEMORY.move_to_end(key)
                report(1.0, "Analysis loaded from the cache")
                return _MEMORY[key]
        features = _read(cache_dir() / f"{key}.npz")
        if features is not None:
            _remember(key, features)
            report(1.0, "Analysis loaded from the cache")
            return features
    report(0.1, "Preparing librosa (once per session)")
    warm_up()
    report(0.3, f"Analysing {audio.duration:.0f} s of audio")
    features = analyse(audio)
    features.name = Path(path).name
    if use_cache:
        _remember(key, features)
        _write(cache_dir() / f"{key}.npz", features)
    report(1.0, "Analysis done")
    return features


def _remember(key: str, features: AudioFeatures) -> None:
    with _LOCK:
        _MEMORY[key] = features
        while len(_MEMORY) > _MEMORY_ITEMS:
            _MEMORY.popitem(last=False)


def _read(path: Path) -> AudioFeatures | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return AudioFeatures.from_arrays({k: data[k] for k in data.files})
    except Exception:  # missing or damaged cache entry: analyse again
        return None


def _write(path: Path, features: AudioFeatures) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **features.to_arrays())
        os.replace(tmp, path)
    except OSError:  # a read-only home: the in-memory cache still helps
        pass
