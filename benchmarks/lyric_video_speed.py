"""Lyric video speed: a 60 s lyric video at 720x720, 24 fps (one JSON line).

- render: the demo song three times (60 s, 44.1 kHz stereo wav) with a made-up LRC of 20 lines
  (word times on half of them), ``render_dance(..., lyrics=...)`` wall time including analysis
  (after the once-per-process numba warm-up), frames and encoding. Bar: <= 60 s (>= 1x real time).
- baseline (same process, same choreography, frames only, first 4 s): the lyric frame renderer
  with its shortcuts off: texture and background painted at the frame size on every frame, no
  reuse; ``speedup`` compares frames per second with the real renderer's on the same 4 s.

The model is the shipped Letters CGN when it is there; otherwise a stand-in of the same shape
(letters-shaped SmallCGN, native 64 px, two detail levels, random weights).

    python benchmarks/lyric_video_speed.py [--skip-baseline]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

WORDS = ["COUNTER", "FACTUAL", "LETTERS", "DANCE", "IN", "THE", "NIGHT", "SHAPE", "TEXTURE", "BACKGROUND", "MOVE",
         "WITH", "THE", "MUSIC", "EVERY", "BEAT", "A", "NEW", "SEED", "HARMONY", "PAINTS", "THE", "WORDS"]


def made_up_lrc(seconds: float = 60.0, lines: int = 20) -> str:
    """``lines`` lines spread over the song, 3-5 words each; every other line has word times."""
    def stamp(t):
        return f"{int(t // 60):02d}:{t % 60:05.2f}"

    out, step = [], seconds / lines
    for i in range(lines):
        start = i * step + 0.25
        words = [WORDS[(i * 3 + k) % len(WORDS)] for k in range(3 + i % 3)]
        if i % 2:
            text = " ".join(f"<{stamp(start + 0.4 * k)}>{w}" if k else w for k, w in enumerate(words))
        else:
            text = " ".join(words)
        out.append(f"[{stamp(start)}]{text}")
    return "\n".join(out) + "\n"


def cpu_seconds() -> tuple[float, float]:
    """(this process, its finished children: ffmpeg) user + system CPU seconds so far."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def frames_per_second(renderer, n: int, batch: int = 32) -> float:
    import torch

    start = time.perf_counter()
    for first in range(0, n, batch):
        frames = renderer.frames(first, min(n, first + batch))
        frames.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--size", type=int, default=720)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cgn-art-lyric-bench-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path) -> None:
    os.environ["CGN_ART_CACHE"] = str(tmp / "cache")  # no cached analyses
    import torch
    from dance_speed import make_song
    from type_speed import letters_model

    from cgn_art.audio import analyse_file, warm_up
    from cgn_art.dance import DanceSettings, render_dance
    from cgn_art.dance.choreography import choreograph
    from cgn_art.dance.lyric_video import LyricFrameRenderer, lyric_render_size
    from cgn_art.dance.renderer import class_counts
    from cgn_art.lyrics import parse_lyrics, time_plain_text
    from cgn_art.typeset import load_digits

    song = make_song(tmp / "song-60s.wav", 60.0)
    lyrics = parse_lyrics(made_up_lrc())
    warm_up()
    model, _, label = letters_model(tmp)
    digits = load_digits(device="cpu")
    settings = DanceSettings.from_preset("groove", size=args.size, fps=24)
    start, cpu = time.perf_counter(), cpu_seconds()
    result = render_dance(model, song, tmp / "lyrics.mp4", settings, lyrics=lyrics, digit_model=digits)
    render_s = time.perf_counter() - start
    own_cpu, ffmpeg_cpu = (after - before for after, before in zip(cpu_seconds(), cpu))
    figures = {
        "benchmark": "lyric_video_speed", "model": label, "song_s": 60.0, "size": args.size, "fps": 24,
        "lyric_lines": len(lyrics.lines), "frames": result.frames, "render_size": result.render_size,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "render_wall_s": round(render_s, 2), "x_realtime": round(60.0 / render_s, 2), "bar_s": 60.0,
        "bar_met": render_s <= 60.0, "render_parts_s": {k: round(v, 2) for k, v in result.timings.items()},
        "mechanism_calls": result.computed, "video_mb": round(result.video.stat().st_size / 2**20, 2),
        # On a shared machine wall time says little: CPU seconds are what the work itself cost.
        "cpu_s_python": round(own_cpu, 1), "cpu_s_ffmpeg": round(ffmpeg_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(figures), file=sys.stderr, flush=True)
    if not args.skip_baseline:
        features = analyse_file(song, 0, 4.0)
        chor = choreograph(features, settings.with_changes({"duration": 4.0}), class_counts(model))
        timed = time_plain_text(lyrics, features.beats, features.downbeats)
        size = lyric_render_size(args.size)
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as render_dance does
        fast = frames_per_second(LyricFrameRenderer(model, chor, settings, size, timed, digits), chor.n_frames)
        slow = frames_per_second(LyricFrameRenderer(model, chor, settings, size, timed, digits, reuse=False,
                                                    work=size, stride=1), chor.n_frames)
        torch.set_num_threads(threads)
        figures.update(frames_per_s=round(fast, 1), baseline_frames_per_s=round(slow, 1),
                       speedup_vs_baseline=round(fast / slow, 2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
