"""Render a choreography through the Mechanisms contract into an mp4 with the song, plus a sidecar.

Speed comes from four choices:
- frames are generated in batches (one ``model.mechanism`` call per mechanism per batch);
- a mechanism whose inputs did not change since the previous frame is not run again: its last
  output is reused (``reuse_unchanged``; the background holds still between beats by default);
- the CGN renders at a working size (see :func:`render_size`: 128 px for the small CGN) and
  ffmpeg upscales while encoding, in C, on its own threads;
- frames stream to ffmpeg through a background thread, so generation and encoding overlap and
  the video is never held in memory.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cgn_art.audio import analyse_file
from cgn_art.audio.analysis import AudioFeatures
from cgn_art.dance.choreography import Choreography, choreograph, ease
from cgn_art.dance.settings import DanceSettings
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS, slerp
from cgn_art.runtime.progress import as_cancel, reporter, sub_progress
from cgn_art.settings_checks import DANCE_SEED_SPACE, child_seed
from cgn_art.video import VideoWriter

SIDECAR_KIND = "cgn-art dance"
SIDECAR_VERSION = 1


@dataclass
class DanceResult:
    video: Path
    sidecar: Path | None
    frames: int
    seconds: float                      # video length
    render_size: int
    computed: dict = field(default_factory=dict)   # mechanism -> frames actually generated
    timings: dict = field(default_factory=dict)
    warning: str = ""                   # e.g. lyric characters that were skipped


def render_size(model, size: int) -> int:
    """The size the CGN renders at before the encoder upscales to ``size`` (even, <= size).

    A small model (native < 128 px) renders at 4x its native size: the small CGN's 32 px mask and
    64 px texture fields keep all their detail at 128 px (a 128 px render upscaled to 512 by the
    encoder looks the same as a 512 px render). A large one (the BigGAN-based ImageNet CGN)
    renders at its native size. Never below a quarter of the output, so the encoder stretches at
    most 4x.
    """
    native = int(model.native_size)
    detail = 4 * native if native < 128 else native
    quarter = 2 * math.ceil(size / 8)
    return int(min(size, max(128, detail, quarter)))


def class_counts(model) -> dict[str, int]:
    return {m: len(model.class_names[m]) for m in MECHANISMS}


def render_dance(model, song, output, settings: DanceSettings | None = None, *,
                 features: AudioFeatures | None = None, progress=None, cancel=None,
                 reuse_unchanged: bool = True, batch_size: int = 32, preview_seconds: float | None = None,
                 write_sidecar: bool = True, preset: str = "veryfast", threads: int | None = None,
                 lyrics=None, digit_model=None) -> DanceResult:
    """Make the music video of ``song`` (a path) at ``output`` (.mp4) and its sidecar (.json).

    ``progress(fraction, message)`` reports; ``cancel()`` (or a threading.Event) stops the render
    between batches and removes the partial file (raises JobCancelled). ``preview_seconds``
    renders only the first seconds of the same choreography (the page's quick preview).
    ``threads``: torch CPU threads while generating (default: all cores but one, left to ffmpeg).
    ``lyrics`` (a cgn_art.lyrics.Lyrics) makes a lyric video: ``model`` must be a letters model, the
    mask is the current line's letters (see lyric_video.py); ``digit_model`` draws digits.

    >>> render_dance(load_model(), "song.mp3", "song.mp4", DanceSettings.from_preset("calm"))  # doctest: +SKIP
    """
    settings = (settings or DanceSettings.from_preset()).validate()
    report = reporter(progress)
    stop = as_cancel(cancel)
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise CgnArtError(f"{output.name}: the dance writes an mp4 video; give an output name ending in .mp4")
    timings = {}
    t0 = time.perf_counter()
    if features is None:
        features = analyse_file(song, settings.start, settings.duration, max_duration=settings.max_duration,
                                progress=sub_progress(report, 0.0, 0.1))
    timings["analysis_s"] = time.perf_counter() - t0
    choreography = choreograph(features, settings, class_counts(model), model.presets)
    n_frames = choreography.n_frames
    if preview_seconds is not None:
        n_frames = max(1, min(n_frames, int(round(float(preview_seconds) * settings.fps))))
    seconds = n_frames / settings.fps
    if lyrics is not None:
        from cgn_art.dance.lyric_video import prepare_lyrics

        lyrics, renderer, size = prepare_lyrics(model, song, features, choreography, settings, lyrics, digit_model,
                                                reuse_unchanged)
    else:
        size = render_size(model, settings.size)
        renderer = _FrameRenderer(model, choreography, settings, size, reuse_unchanged)
    t1 = time.perf_counter()
    threads_before = torch.get_num_threads()
    if str(model.device) == "cpu":
        # ffmpeg (encoding and upscaling) runs beside the generator: leave it a core, or the two
        # fight over every core and both slow down (OpenMP threads spin while they wait).
        torch.set_num_threads(threads or max(1, min(threads_before, (os.cpu_count() or 2) - 1)))
    try:
        _encode(model, song, output, settings, renderer, n_frames, seconds, size, batch_size, preset, stop, report)
    finally:
        torch.set_num_threads(threads_before)
    timings["render_s"] = time.perf_counter() - t1
    sidecar = None
    if write_sidecar:
        sidecar = output.with_suffix(".json")
        data = sidecar_data(model, settings, features, n_frames, size, preview_seconds)
        if lyrics is not None:
            data["lyrics"] = {**lyrics.record(), "digit_model": getattr(digit_model, "name", None),
                              "skipped": "".join(sorted(set(renderer.skipped)))}
        sidecar.write_text(json.dumps(data, indent=2))
    report(1.0, "Done")
    return DanceResult(video=output, sidecar=sidecar, frames=n_frames, seconds=seconds, render_size=size,
                       computed=dict(renderer.computed), timings=timings,
                       warning=getattr(renderer, "warning", lambda: "")())


def _encode(model, song, output, settings, renderer, n_frames, seconds, size, batch_size, preset, stop, report):
    writer = VideoWriter(output, fps=settings.fps, size=settings.size, audio=song, audio_start=settings.start,
                         audio_duration=seconds, preset=preset)
    with writer:
        for first in range(0, n_frames, batch_size):
            if stop():
                writer.cancel(raise_error=True)
            last = min(n_frames, first + batch_size)
            writer.write(renderer.frames(first, last))
            report(0.1 + 0.88 * last / n_frames, f"Rendered frame {last} of {n_frames}")
        report(0.99, "Finishing the video")


# Sidecar -----------------------------------------------------------------------------------------

def sidecar_data(model, settings, features, frames, size, preview_seconds=None) -> dict:
    """Everything that made the video: settings, seed, model and the audio's hash."""
    return {
        "kind": SIDECAR_KIND, "version": SIDECAR_VERSION,
        "settings": settings.to_dict(),
        "model": model.name,
        "audio": {"file": features.name, "sha256": features.file_hash, "start": settings.start,
                  "duration": round(features.duration, 6)},
        "analysis": features.summary(),
        "video": {"frames": frames, "fps": settings.fps, "size": settings.size, "render_size": size,
                  "preview_seconds": preview_seconds},
    }


def read_sidecar(path) -> tuple[DanceSettings, dict]:
    """(settings, whole sidecar) from a dance sidecar JSON, with a clear error for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CgnArtError(f"settings file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CgnArtError(f"{path.name} is not a readable JSON sidecar ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != SIDECAR_KIND:
        raise CgnArtError(f"{path.name} is not a cgn-art dance sidecar (the .json written next to a dance video)")
    return DanceSettings.from_dict(data.get("settings", {})), data


def check_song_matches(sidecar: dict, song_hash: str) -> None:
    expected = sidecar.get("audio", {}).get("sha256")
    if expected and expected != song_hash:
        raise CgnArtError(f"this sidecar was made from a different audio file ({sidecar['audio'].get('file')}, "
                          f"sha256 {expected[:12]}...): give that song to re-render the same video")


# Frames --------------------------------------------------------------------------------------------

class _FrameRenderer:
    """Turns choreography rows into composite frames, reusing unchanged mechanisms' outputs."""

    def __init__(self, model, choreography: Choreography, settings: DanceSettings, size: int, reuse: bool):
        self.model, self.choreography, self.size, self.reuse = model, choreography, size, reuse
        self.settings = settings
        self.same = {m: t.same_as_previous() for m, t in choreography.tracks.items()}
        self.last: dict[str, tuple[int, torch.Tensor]] = {}
        self.computed = {m: 0 for m in MECHANISMS}
        self.banks = {m: _NoiseBank(model, m, i, settings.seed, settings.truncation, size)
                      for i, m in enumerate(MECHANISMS)}

    @torch.no_grad()
    def frames(self, first: int, last: int) -> torch.Tensor:
        parts = {m: self._mechanism(m, first, last) for m in MECHANISMS}
        mask, fg, bg = parts["shape"], parts["texture"], parts["background"]
        return bg + mask * (fg - bg)  # the CGN composite m*f + (1-m)*b, one fewer pass

    def _mechanism(self, mechanism: str, first: int, last: int) -> torch.Tensor:
        track = self.choreography.tracks[mechanism]
        same = self.same[mechanism][first:last].copy() if self.reuse else np.zeros(last - first, bool)
        cached = self.last.get(mechanism)
        if cached is None or cached[0] != first - 1:
            same[0] = False  # nothing to reuse for the first frame of a render
        todo = np.flatnonzero(~same) + first
        outputs = []
        if same[0]:
            outputs.append(cached[1])
        if len(todo):
            weights = torch.zeros(len(todo), self.model.num_classes(mechanism))
            weights[:, torch.as_tensor(track.classes)] = torch.from_numpy(track.weights[todo])
            noise = self.banks[mechanism].noise(track, todo)
            device = self.model.device
            outputs.append(self.model.mechanism(mechanism, weights.to(device), noise.to(device),
                                                self.size).float().cpu())
            self.computed[mechanism] += len(todo)
        computed = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
        run = np.cumsum(~same) - (0 if same[0] else 1)
        result = computed if len(computed) == last - first else computed[torch.as_tensor(run)]
        self.last[mechanism] = (last - 1, result[-1:])
        return result


class _NoiseBank:
    """Seeded keyframe and pulse noises for one mechanism, and the slerps between them."""

    def __init__(self, model, mechanism, index, seed, truncation, size, keep=64):
        self.model, self.mechanism, self.truncation, self.size = model, mechanism, truncation, size
        self.base = child_seed(seed, index * 1_000_000, scale=7919, modulus=DANCE_SEED_SPACE)
        self.cache: OrderedDict = OrderedDict()
        self.keep = keep
        self.shape = None

    def _get(self, key: int, pulse: bool) -> torch.Tensor:
        seed = child_seed(self.base, (500_000 if pulse else 0) + int(key), modulus=DANCE_SEED_SPACE)
        if seed not in self.cache:
            noise = self.model.noise(self.mechanism, [seed], self.truncation, self.size).float().cpu()
            self.shape = noise.shape[1:]
            self.cache[seed] = noise.reshape(-1)
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(seed)
        return self.cache[seed]

    def noise(self, track, frames: np.ndarray) -> torch.Tensor:
        walk = track.walk[frames]
        a = np.floor(walk).astype(np.int64)
        t = torch.as_tensor(ease(walk - a), dtype=torch.float32)
        start = torch.stack([self._get(k, False) for k in a])
        end = torch.stack([self._get(k + 1, False) for k in a])
        noise = slerp(start, end, t)
        pulse = torch.as_tensor(track.pulse[frames], dtype=torch.float32)
        if bool((pulse > 0).any()):
            targets = torch.stack([self._get(k, True) for k in track.pulse_key[frames]])
            noise = slerp(noise, targets, pulse)
        return noise.reshape(len(frames), *self.shape)
