"""Texture walk: stylize one photo along a path through the texture mechanism's latent space, as an mp4.

The path goes from one texture class to another (blending their class inputs) or from one noise
seed to another (rotating between the two noise fields, which keeps their spread). Each frame is
optimised starting from the previous frame's result, so only what the texture change asks for
moves: the video stays calm instead of flickering, and a frame needs a few steps instead of a whole
coarse-to-fine run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import slerp
from cgn_art.runtime.progress import JobCancelled, sub_progress
from cgn_art.settings_checks import Settings, check_seed, choice, number, whole
from cgn_art.stylize.optimize import StylizeResult, make_stylize_encoder, stylize_validated, working_size
from cgn_art.stylize.settings import StylizeSettings
from cgn_art.stylize.textures import class_weights, fill, model_texture_wraps, tile_size

PATHS = ("class", "seed")
WALK_HELP = {
    "seconds": "length of the video in seconds",
    "fps": "frames per second",
    "path": "class: from the texture class to --to-class; seed: from the texture seed to --to-seed",
    "to_class": "the texture class the walk ends on (path 'class')",
    "to_seed": "the noise seed the walk ends on (path 'seed')",
    "frame_steps": "optimisation steps per frame after the first",
    "warm_start": "start each frame from the previous one (calm video); off: every frame from the photo",
}


@dataclass
class WalkSettings(Settings):
    KIND = "walk"

    seconds: float = 4.0
    fps: float = 12.0
    path: str = "class"
    to_class: int = 1
    to_seed: int = 1
    frame_steps: int = 6
    warm_start: bool = True

    def validate(self) -> WalkSettings:
        self.seconds = number("seconds", self.seconds, 0.1, 120.0)
        self.fps = number("fps", self.fps, 1.0, 60.0)
        self.path = choice("path", self.path, PATHS)
        self.to_class = whole("to class", self.to_class, 0, None)
        self.to_seed = check_seed(self.to_seed, "to seed")
        self.frame_steps = whole("frame steps", self.frame_steps, 1, 500)
        self.warm_start = bool(self.warm_start)
        if self.frames > 3600:
            raise CgnArtError(f"{self.frames} frames is too many; give at most 3600 (seconds x fps)")
        return self

    @property
    def frames(self) -> int:
        return max(2, round(self.seconds * self.fps))



def walk_textures(model, settings: StylizeSettings, walk: WalkSettings, height: int, width: int):
    """Yield the texture (1, 3, height, width) of every frame along the walk."""
    tile = tile_size(settings, height, width)
    start = class_weights(model, settings)
    if walk.path == "class":
        end = class_weights(model, settings.replace(texture_class=walk.to_class, blend_class=None))
    noise_a = model.noise(settings.texture_mechanism, [settings.texture_seed], settings.truncation, tile)
    noise_b = model.noise(settings.texture_mechanism, [walk.to_seed], settings.truncation, tile)
    mirrored = not model_texture_wraps(model, settings)  # decided once: the tiling never jumps between frames
    for index in range(walk.frames):
        t = index / (walk.frames - 1)
        if walk.path == "class":
            weights, noise = (1 - t) * start + t * end, noise_a
        else:  # slerp keeps the noise's spread all the way (a straight line would shrink it midway)
            weights = start
            noise = slerp(noise_a, noise_b, torch.full((noise_a.shape[0],), t))
        with torch.no_grad():
            texture_tile = model.mechanism(settings.texture_mechanism, weights.to(model.device), noise, tile)
            texture_tile = texture_tile.float().cpu()
        yield fill(texture_tile, height, width, mirrored=mirrored)


def texture_walk(photo: Image.Image, output, settings: StylizeSettings | None = None,
                 walk: WalkSettings | None = None, *, model, progress=None, preview=None, cancel=None,
                 keep_frames: bool = False) -> dict:
    """Render the walk as an H.264 (yuv420p) mp4 at ``output``; returns a summary dict
    (frames, seconds, mean frame-to-frame change, and the frames themselves if ``keep_frames``).

    The first frame is a full coarse-to-fine stylization; every later frame runs
    ``walk.frame_steps`` steps at full size from the previous frame (or, with ``warm_start`` off,
    the full coarse-to-fine run from the photo with ``frame_steps`` steps at full size).
    """
    from cgn_art.video import VideoWriter

    settings = (settings or StylizeSettings()).replace()
    walk = (walk or WalkSettings()).validate()
    settings.validate(pick_device(settings.device))
    model.one_hot(settings.texture_mechanism, [walk.to_class] if walk.path == "class" else [settings.texture_class])
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise CgnArtError(f"{output}: the texture walk is written as an mp4; give a name ending in .mp4")
    height, width = working_size(photo, settings.size)
    encoder = make_stylize_encoder(settings.encoder, pick_device(settings.device))
    began = time.perf_counter()
    previous: StylizeResult | None = None
    changes: list[float] = []
    kept: list[torch.Tensor] = []
    frames = walk.frames
    with VideoWriter(output, fps=walk.fps, size=(width, height)) as video:
        for index, texture in enumerate(walk_textures(model, settings, walk, height, width)):
            if index == 0:
                frame_settings, init = settings, None
            else:
                frame_settings = settings.replace(steps=walk.frame_steps)
                init = previous.tensor if walk.warm_start else None

            # the first frame costs about as much as a quarter of the rest
            share = 0.75 / max(frames - 1, 1)
            start, end = (0.0, 0.25) if index == 0 else (0.25 + share * (index - 1), 0.25 + share * index)
            result = stylize_validated(photo, frame_settings, texture=texture, init=init, encoder=encoder,
                             progress=sub_progress(progress, start, end, f"frame {index + 1}/{frames}"),
                             cancel=cancel)
            if result.cancelled:
                video.cancel()
                raise JobCancelled("the texture walk was cancelled; no video was written")
            if previous is not None:
                changes.append(float((result.tensor - previous.tensor).abs().mean()))
            if keep_frames:
                kept.append(result.tensor)
            video.write(result.tensor)
            if preview:
                preview(result.image, f"frame {index + 1}/{frames}")
            previous = result
    if progress:
        progress(1.0, f"{frames} frames in {time.perf_counter() - began:.1f} s")
    summary = {"path": str(output), "frames": frames, "seconds": time.perf_counter() - began,
               "mean_frame_change": sum(changes) / max(len(changes), 1), "width": width, "height": height,
               "settings": {**settings.to_dict(), **{f"walk_{k}": v for k, v in walk.to_dict().items()}}}
    if keep_frames:
        summary["frames_tensors"] = kept
    return summary
