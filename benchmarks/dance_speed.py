"""Latent Dance speed and memory: prints ONE JSON line.

- render: a 60 s song that never repeats (``demo_song.long_song``: chords wander, the tempo drifts
  108-132 BPM, a section change every 8 bars, fills; 44.1 kHz stereo wav) at 512x512, 24 fps with the
  shipped model, wall time including analysis (uncached, after the once-per-process numba
  warm-up), generation, encoding and muxing. Bar: <= 30 s (>= 2x real time).
- analysis: the same 60 s analysed again from scratch. Bar: >= 30x real time.
- baseline (same process, same choreography): frames generated one at a time at 512 px, kept as
  PIL images in a list, then encoded by moviepy (libx264 defaults). ``speedup`` = baseline / render.
- memory: peak RSS of a fresh process rendering a 1-minute and a 10-minute song (at
  ``--memory-size`` px and ``--memory-fps``, default 256 px / 8 fps to keep the run short; per-frame
  memory does not depend on the song's length). Bar: 10 min <= 1 min + 200 MB.

    python benchmarks/dance_speed.py [--skip-baseline] [--memory-size 512 --memory-fps 24]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_song(path: Path, seconds: float) -> Path:
    """A synthesized song that never repeats (``demo_song.long_song``: wandering chords, tempo drift,
    fills), not the 20 s demo tiled: a loop would let the renderer reuse mechanisms it has seen."""
    from cgn_art.audio.demo_song import SR, long_song
    song = long_song(seconds, seed=1)
    # 44.1 kHz stereo, like a real song file: the loader has to downmix and resample it.
    import soxr
    song = soxr.resample(song, SR, 44100)
    sf.write(path, np.stack([song, song], axis=1), 44100)
    return path


def naive_baseline(model, song: Path, out: Path, settings) -> float:
    """Frame by frame at full size, PIL frames in a list, then moviepy: the straightforward way."""
    import torch
    from moviepy import AudioFileClip, ImageSequenceClip

    from cgn_art.audio import analyse_file
    from cgn_art.dance.choreography import choreograph
    from cgn_art.dance.renderer import _NoiseBank, class_counts
    from cgn_art.mechanisms.base import MECHANISMS, composite, to_pil

    started = time.perf_counter()
    features = analyse_file(song, use_cache=False)
    chor = choreograph(features, settings, class_counts(model))
    banks = {m: _NoiseBank(model, m, i, settings.seed, settings.truncation, settings.size)
             for i, m in enumerate(MECHANISMS)}
    frames = []
    with torch.no_grad():
        for f in range(chor.n_frames):
            inputs = []
            for m in MECHANISMS:
                track = chor.tracks[m]
                weights = torch.zeros(1, model.num_classes(m))
                weights[0, torch.as_tensor(track.classes)] = torch.from_numpy(track.weights[f])
                inputs += [weights, banks[m].noise(track, np.array([f]))]
            mask, fg, bg = model.render(*inputs, settings.size)
            frames.append(to_pil(composite(mask, fg, bg)[0]))
    clip = ImageSequenceClip([np.asarray(im) for im in frames], fps=settings.fps).with_audio(AudioFileClip(str(song)))
    clip.write_videofile(str(out), codec="libx264", audio_codec="aac", ffmpeg_params=["-pix_fmt", "yuv420p"],
                         logger=None)
    return time.perf_counter() - started


def memory_child(song: str, size: int, fps: int) -> None:
    import cgn_art
    from cgn_art.audio import warm_up
    from cgn_art.dance import DanceSettings, render_dance
    warm_up()
    model = cgn_art.load_model(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        settings = DanceSettings.from_preset("groove", size=size, fps=fps)
        render_dance(model, song, Path(tmp) / "m.mp4", settings, features=None)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across
    # fork+exec, so a child would report the benchmark process's own peak (the baseline's frames).
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}))


def peak_memory(song: Path, size: int, fps: int) -> float:
    env = {**os.environ, "CGN_ART_CACHE": str(song.parent / f"cache-{song.stem}")}
    out = subprocess.run([sys.executable, __file__, "--memory-child", str(song), "--memory-size", str(size),
                          "--memory-fps", str(fps)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-size", type=int, default=256)
    parser.add_argument("--memory-fps", type=int, default=8)
    parser.add_argument("--memory-child")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.memory_size, args.memory_fps)
        return

    tmp = Path(tempfile.mkdtemp(prefix="cgn-art-dance-bench-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the songs are large (the 10-minute wav is 100 MB)


def run(args, tmp: Path) -> None:
    os.environ["CGN_ART_CACHE"] = str(tmp / "cache")  # no cached analyses
    import torch

    import cgn_art
    from cgn_art.audio import analyse_file, warm_up
    from cgn_art.dance import DanceSettings, render_dance

    song = make_song(tmp / "song-60s.wav", 60.0)
    t = time.perf_counter()
    warm_up()
    warm_up_s = time.perf_counter() - t
    model = cgn_art.load_model(device="cpu")
    settings = DanceSettings.from_preset("groove", size=512, fps=24)

    t = time.perf_counter()
    result = render_dance(model, song, tmp / "dance.mp4", settings)
    render_s = time.perf_counter() - t
    t = time.perf_counter()
    analyse_file(song, use_cache=False)
    analysis_s = time.perf_counter() - t

    figures = {
        "benchmark": "dance_speed", "song_s": 60.0, "size": 512, "fps": 24, "frames": result.frames,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "render_wall_s": round(render_s, 2), "render_x_realtime": round(60.0 / render_s, 2),
        "render_bar_met": render_s <= 30.0,
        "render_parts_s": {k: round(v, 2) for k, v in result.timings.items()},
        "frames_generated": result.computed, "render_size": result.render_size,
        "video_mb": round(result.video.stat().st_size / 2**20, 2),
        "numba_warm_up_s": round(warm_up_s, 2),
        "analysis_s": round(analysis_s, 2), "analysis_x_realtime": round(60.0 / analysis_s, 1),
        "analysis_bar_met": 60.0 / analysis_s >= 30,
    }
    print(json.dumps(figures), file=sys.stderr, flush=True)  # partial figures, in case a later step is cut short
    if not args.skip_baseline:
        baseline_s = naive_baseline(model, song, tmp / "baseline.mp4", settings)
        figures.update(baseline_wall_s=round(baseline_s, 2), speedup_vs_baseline=round(baseline_s / render_s, 2))
    if not args.skip_memory:
        one = peak_memory(song, args.memory_size, args.memory_fps)
        ten = peak_memory(make_song(tmp / "song-600s.wav", 600.0), args.memory_size, args.memory_fps)
        figures.update(memory_size=args.memory_size, memory_fps=args.memory_fps,
                       peak_rss_1min_mb=round(one, 1), peak_rss_10min_mb=round(ten, 1),
                       memory_growth_mb=round(ten - one, 1), memory_bar_met=ten <= one + 200)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
