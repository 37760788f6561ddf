"""The app's heavy jobs, as module-level functions a worker process can run (:mod:`cgn_art.runtime.jobs`).

Each takes the :class:`~cgn_art.runtime.jobs.Job` and plain, picklable arguments (the model itself: a small
CGN pickles in milliseconds; settings; paths in the session's folder; images) and returns plain data
the page shows and offers for download. The library functions are looked up on their modules when
the job runs, not imported by name here, so a test can replace one (in a thread-isolated queue).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cgn_art.dance
import cgn_art.robustness.experiment
import cgn_art.stylize
import cgn_art.stylize.walk
from cgn_art.io import png_bytes, quick_png

__all__ = ["preview_settings", "render_video", "run_lab", "stylize_photo", "walk_textures"]


def render_video(job, model, song: Path, out: Path, settings, features, preview_seconds: float | None,
                 lyrics=None, digit_model=None) -> dict:
    """A Latent Dance render (or its preview, ``preview_seconds`` long): the video's and sidecar's
    bytes, which live in the session from then on, and the caption under the video."""
    result = cgn_art.dance.render_dance(model, song, out, settings, features=features, progress=job.progress,
                                        cancel=job.cancelled, preview_seconds=preview_seconds, lyrics=lyrics,
                                        digit_model=digit_model)
    try:
        note = f" Note: {result.warning}." if result.warning else ""
        return {"video": result.video.read_bytes(), "sidecar": result.sidecar.read_bytes(), "name": Path(out).stem,
                "caption": (f"{'Preview: ' if preview_seconds else ''}{result.frames} frames, {result.seconds:.1f} s "
                            f"at {settings.size} px, {settings.fps} fps; {sum(result.timings.values()):.1f} s to "
                            f"render.{note}")}
    finally:
        result.video.unlink(missing_ok=True)
        result.sidecar.unlink(missing_ok=True)


def stylize_photo(job, photo, photo_name: str, settings, model, texture_image, meta: dict, mask=None) -> dict:
    """A stylization, with its in-between pictures shown as it goes: the PNG (settings in its text
    metadata), the photo at the same size, and the mask used."""
    def show(image, message):
        job.preview = (image, message)
    result = cgn_art.stylize.stylize(photo, settings, model=model, texture_image=texture_image,
                                     progress=job.progress, preview=show, cancel=job.cancelled, mask=mask)
    file_settings = {**result.settings, **meta, "style_loss": result.style_loss}
    return {"png": png_bytes(result.image, file_settings), "seconds": result.seconds, "size": result.image.size,
            "photo": quick_png(photo.resize(result.image.size)), "steps": result.steps, "name": photo_name,
            "settings": settings.to_dict(), "mask": quick_png(result.mask) if result.mask is not None else None}


def walk_textures(job, photo, out: Path, settings, walk, model) -> dict:
    """A texture walk written to ``out`` (an mp4 in the session's folder)."""
    def show(image, message):
        job.preview = (image, message)
    summary = cgn_art.stylize.walk.texture_walk(photo, out, settings, walk, model=model, progress=job.progress,
                                                preview=show, cancel=job.cancelled)
    return {"path": str(out), "frames": summary["frames"], "seconds": summary["seconds"]}


def run_lab(job, settings) -> dict:
    """A Robustness Lab experiment; its tables as a dict."""
    return cgn_art.robustness.experiment.run_experiment(settings, progress=job.progress,
                                                        cancel=job.cancelled).to_dict()


def preview_settings(settings, size: int = 256):
    """The preview's settings: the render's, at most ``size`` px."""
    return dataclasses.replace(settings, size=min(settings.size, size))
