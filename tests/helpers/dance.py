"""Dance helpers: still settings, decoding a video, and waiting for the page's heavy jobs."""
from __future__ import annotations

import imageio_ffmpeg
import numpy as np

from cgn_art.dance import DanceSettings

FPS = 24


def still(**changes) -> DanceSettings:
    """Everything held still except what a test switches on."""
    base = {f"{m}.{k}": v for m in ("shape", "texture", "background")
            for k, v in (("classes_by", "fixed"), ("pulse", "none"), ("drift", "none"), ("jitter", 0))}
    return DanceSettings.from_preset("groove", size=64, fps=FPS).with_changes({**base, **changes})


def decode(path) -> np.ndarray:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]).astype(np.float32)


def finish_jobs(at):
    """Wait for the heavy jobs the page queued (they run on their own threads), then rerun the page."""
    from cgn_art.runtime.jobs import default_queue

    for job in default_queue().jobs():
        job.wait()
    return at.run()
