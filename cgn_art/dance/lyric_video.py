"""Lyric videos: the dance's frames, with the mask made of the current lyric line's letters.

The choreography is the dance's own (see choreography.py): the texture follows its track (the
harmony in the presets), the background its track (the sections), and the shape track's pulse
(onsets) makes the letters pulse: each visible letter's mask cross-fades toward the same letter
drawn with the pulse's seed and its box grows a little, then both settle. The shape track's class and slow walk are not
used: a letter's class is its character, and a letter that drifted would stop being legible.

Each lyric line is laid out once (cgn_art.typeset), so letters never move as words appear; a word
is drawn from the frame nearest its time (|error| <= half a frame).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from cgn_art.dance.renderer import _NoiseBank
from cgn_art.errors import CgnArtError
from cgn_art.lyrics import Lyrics
from cgn_art.mechanisms.exemplar import material_zoom
from cgn_art.settings_checks import child_seed
from cgn_art.typeset.layout import Text, arrange, letter_seed, split_text
from cgn_art.typeset.render import box_of, digit_classes, fit_mask, glyph_masks, letter_classes, measure

PULSE_GROWTH = 0.12     # a full pulse makes a letter this much larger
MAX_LINE_CAP = 0.2      # a short line's capitals are at most this fraction of the frame high
PULSE_VARIANTS = 4      # pulse masks per line: successive onsets take turns
STRIDE = 4              # texture and background keyframes every STRIDE frames, blended between


def lyric_render_size(size: int, materials: bool = False) -> int:
    """The size lyric frames are drawn at before the encoder scales them to ``size``: half of it
    (at least 256 px): the masks are smooth, so a 2x bicubic upscale by the encoder loses little.
    With ``materials`` (a model whose textures are synthesised from materials) the whole size: a
    crisp material has detail at every pixel, which an upscale would soften."""
    return int(size) if materials else int(min(size, max(256, 2 * math.ceil(size / 4))))


class LyricFrameRenderer:
    """Frames of a lyric video (see the module docstring); ``frames(first, last)`` like the dance's.

    A model with materials (the Letters CGN) synthesises texture and background at the frame's size
    with ``settings.material_scale`` (0: crisp, one material pixel per frame pixel), one picture per
    keyframe for the whole frame: the letters show the texture where they stand, as on a poster.

    Speed (a minute of 720 px video in under a minute on two cores) comes from:
    - texture and background painted at ``work`` px (default: the model's native size, or the frame
      size for materials, whose painted tiles are kept) on every ``stride``-th frame and blended in
      between (the choreography moves them smoothly), reused while their inputs hold still, and
      scaled only where they are seen (the texture inside the letters);
    - each letter's mask rendered twice per line and onset (its own seed, and the pulse's), then
      cross-faded by the pulse, instead of a shape-mechanism call per letter per frame;
    - frames drawn at half the video's size (see lyric_render_size) and upscaled by the encoder.
    """

    def __init__(self, model, choreography, settings, size: int, lyrics: Lyrics, digit_model=None,
                 reuse: bool = True, work: int | None = None, stride: int = STRIDE):
        self.model, self.choreography, self.settings, self.size = model, choreography, settings, size
        self.lyrics, self.reuse, self.stride = lyrics, reuse, max(1, int(stride))
        self.models = {"letters": model}
        self.letter_classes = letter_classes(model)
        self.digit_classes = digit_classes(digit_model) if digit_model is not None else None
        if self.digit_classes:
            self.models["digits"] = digit_model
        # Materials are synthesised at the frame's size; a network field painted bigger than native
        # would only be upscaled detail.
        self.materials = bool(getattr(model, "exemplar_fields", False))
        self.work = int(work or (size if self.materials else min(size, model.native_size)))
        if self.materials:
            scale = getattr(settings, "material_scale", 0.0)
            self.zoom = {"background": material_zoom(self.work, model.config.exemplar_side, scale),
                         "texture": None}  # the texture's zoom follows each line's letter size
        self.banks = {m: _NoiseBank(model, m, i, settings.seed, settings.truncation, self.work)
                      for i, m in enumerate(("shape", "texture", "background")) if m != "shape"}
        self.painted: dict[str, dict] = {"texture": {}, "background": {}}
        self.last: dict = {}
        self.lines: dict[int, dict | None] = {}
        self.skipped: list[str] = []
        self.computed = {"shape": 0, "texture": 0, "background": 0}
        fps, start = settings.fps, settings.start
        # Which line and how many of its words show on each frame (nearest frame to each time).
        t = start + (np.arange(choreography.n_frames) + 0.5) / fps
        self.line_of = np.full(choreography.n_frames, -1)
        self.words_of = np.zeros(choreography.n_frames, int)
        for number, line in enumerate(lyrics.lines):
            on = t >= line.time
            self.line_of[on] = number
            times = np.array([w.time for w in line.words])
            self.words_of[on] = (t[on][:, None] >= times[None]).sum(1) if len(times) else 0

    def warning(self) -> str:
        """One line about lyric characters the model could not draw, or ''."""
        if not self.skipped:
            return ""
        shown = ", ".join(repr(c) for c in sorted(set(self.skipped))[:12])
        return f"skipped {len(self.skipped)} lyric character(s) the model cannot draw: {shown}"

    # Layout and glyph masks -----------------------------------------------------------------

    def _line(self, number: int) -> dict | None:
        """A line's layout and its letters' masks (computed once, when the line first shows)."""
        if number in self.lines:
            return self.lines[number]
        line, entry = self.lyrics.lines[number], None
        text = None
        if line.words:
            try:
                text = split_text(line.text, self.letter_classes, self.digit_classes)
                self.skipped += text.skipped
            except CgnArtError:  # nothing drawable on this line (only emoji, say): a blank frame
                self.skipped += [ch for ch in line.text if not ch.isspace()]
        if text is not None:
            seeds = [letter_seed(self.settings.seed, 50_000 * (number + 1) + i) for i in range(len(text.glyphs))]
            metrics = measure(self.models, text, seeds, self.settings.truncation)
            layout = arrange(text, metrics, self.size, self.size, margin=0.08, align="center", letter_size=0,
                             tracking=0.12, word_space=0.55, line_spacing=1.3, max_cap=MAX_LINE_CAP * self.size)
            sides = {s: max(8, math.ceil(max(g.side for g in layout.glyphs if g.source == s) * (1 + PULSE_GROWTH)))
                     for s in self.models if any(g.source == s for g in layout.glyphs)}
            letters = [g.side for g in layout.glyphs if g.source == "letters"] or [g.side for g in layout.glyphs]
            entry = {"text": text, "layout": layout, "seeds": seeds, "sides": sides, "pulses": {},
                     "base": self._glyph_masks(text, seeds, sides), "period": float(np.median(letters))}
        self.lines[number] = entry
        return entry

    def _glyph_masks(self, text: Text, seeds: list[int], sides: dict) -> dict[int, torch.Tensor]:
        """glyph index -> (1, 1, S, S) mask, one shape-mechanism call per model."""
        masks = glyph_masks(self.models, text, seeds, self.settings.truncation, size=sides)
        out = {}
        for source, batch in masks.items():
            chosen = [g.index for g in text.glyphs if g.source == source]
            out.update({index: batch[k:k + 1] for k, index in enumerate(chosen)})
            self.computed["shape"] += len(chosen)
        return out

    def _pulse_masks(self, entry, key: int) -> dict[int, torch.Tensor]:
        """The masks a line's letters swing toward on pulse ``key``: the same letters, drawn with one of
        PULSE_VARIANTS other seeds (onsets take turns), so a line costs a few shape calls, not one per onset."""
        key %= PULSE_VARIANTS
        if key not in entry["pulses"]:
            seeds = [child_seed(s, 7_777 * (key + 1)) for s in entry["seeds"]]
            entry["pulses"][key] = self._glyph_masks(entry["text"], seeds, entry["sides"])
        return entry["pulses"][key]

    @staticmethod
    def _fitted(entry, variant, masks, index: int, side: int) -> torch.Tensor:
        """A glyph's mask (base or a pulse variant) at ``side`` px, cached: pulses revisit a few sizes."""
        cache = entry.setdefault("fitted", {})
        key = (variant, index, side)
        if key not in cache:
            cache[key] = fit_mask(masks[index], side)
        return cache[key]

    def _state(self, f: int):
        """What decides frame f's mask: (line, words shown, pulse, pulse key)."""
        track = self.choreography.tracks["shape"]
        pulse = float(track.pulse[f])
        return int(self.line_of[f]), int(self.words_of[f]), pulse, int(track.pulse_key[f]) if pulse > 0 else 0

    # Frames -----------------------------------------------------------------------------------

    @torch.no_grad()
    def frames(self, first: int, last: int) -> torch.Tensor:
        mask = self._masks(first, last)
        frames = self._upscale(self._field("background", first, last), slice(0, self.size), slice(0, self.size))
        rows, cols = torch.nonzero(mask.amax(dim=(0, 1)) > 0, as_tuple=True)
        if len(rows):  # the texture is only seen inside the letters: scale up just that part
            where = (slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1))
            field = self._field("texture", first, last)
            fg = self._upscale(field, *where)
            frames = frames.clone() if frames.stride(0) == 0 else frames
            region, m = frames[(..., *where)], mask[(..., *where)]
            frames[(..., *where)] = region + m * (fg - region)
        return frames

    def _upscale(self, work: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
        """Work-size canvases -> the frame's (rows, cols) part at frame size (once when all are one)."""
        shared = work.stride(0) == 0
        batch = work[:1] if shared else work
        if self.work == self.size and rows == cols == slice(0, self.size):
            out = batch
        else:  # grid_sample: the same bilinear as interpolate, and measured several times faster here
            ys = (torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5) / self.size * 2 - 1
            xs = (torch.arange(cols.start, cols.stop, dtype=torch.float32) + 0.5) / self.size * 2 - 1
            grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None].expand(len(batch), -1, -1, -1)
            out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out.expand(len(work), -1, -1, -1) if shared else out

    def _paint(self, mechanism: str, keys: list[int]) -> None:
        """Paint keyframes ``keys`` (work size) into the cache, reusing one whose inputs repeat."""
        track, cache = self.choreography.tracks[mechanism], self.painted[mechanism]
        todo = []
        for k in keys:
            if k in cache:
                continue
            earlier = max((j for j in cache if j < k), default=None)
            if self.reuse and earlier is not None and _same_inputs(track, earlier, k):
                cache[k] = cache[earlier]
            else:
                todo.append(k)
        if todo:
            frames = np.asarray(todo)
            weights = torch.zeros(len(todo), self.model.num_classes(mechanism))
            weights[:, torch.as_tensor(track.classes)] = torch.from_numpy(track.weights[frames])
            noise = self.banks[mechanism].noise(track, frames).to(self.model.device)
            weights = weights.to(self.model.device)
            if self.materials:
                painted = torch.cat([self._material(mechanism, weights[i:i + 1], noise[i:i + 1], k)
                                     for i, k in enumerate(todo)])
            else:
                painted = self.model.mechanism(mechanism, weights, noise, self.work).float().cpu()
            self.computed[mechanism] += len(todo)
            for k, canvas in zip(todo, painted):
                cache[k] = canvas

    def _material(self, mechanism: str, weights: torch.Tensor, noise: torch.Tensor, frame: int) -> torch.Tensor:
        """(1, 3, work, work): a material keyframe; the texture as large as the letters of the line on
        screen at that frame are at material scale 1 (a letter box spans one native image)."""
        zoom = self.zoom[mechanism]
        if zoom is None:
            entry = self.lines.get(int(self.line_of[min(frame, len(self.line_of) - 1)]))
            span = entry["period"] if entry else float(self.work)
            zoom = material_zoom(span, self.model.config.exemplar_side,
                                 getattr(self.settings, "material_scale", 0.0))
        field = getattr(self.model, mechanism)
        return field.paint(weights, noise, self.work, self.work, zoom).float().cpu()

    def _field(self, mechanism: str, first: int, last: int) -> torch.Tensor:
        """Texture or background for frames first..last-1 at work size (a stride-0 batch when all are one)."""
        n, stride = self.choreography.n_frames, self.stride
        frames = np.arange(first, last)
        a = frames - frames % stride
        b = np.minimum(a + stride, n - 1)
        keys = sorted(set(a.tolist()) | set(b.tolist()))
        self._paint(mechanism, keys)
        cache = self.painted[mechanism]
        t = (frames - a) / np.maximum(b - a, 1)
        pairs = [(cache[int(i)], cache[int(j)], float(w)) for i, j, w in zip(a, b, t)]
        if all(p is pairs[0][0] and q is pairs[0][0] for p, q, _ in pairs):  # one picture for the batch
            work = pairs[0][0][None]
        else:
            work = torch.stack([p if q is p or w == 0 else torch.lerp(p, q, w) for p, q, w in pairs])
        for k in [k for k in cache if k < first - stride]:
            del cache[k]
        return work.expand(len(frames), -1, -1, -1)

    def _masks(self, first: int, last: int) -> torch.Tensor:
        """(N, 1, S, S) frame masks: the visible letters of the current line, pulsing. A frame whose
        line, words and pulse equal the previous frame's copies its mask."""
        out = torch.zeros(last - first, 1, self.size, self.size)
        previous = self.last.get("mask")
        for k, f in enumerate(range(first, last)):
            state = self._state(f)
            if self.reuse and previous is not None and previous[0] == state:
                out[k] = previous[1]
                continue
            number, shown, pulse, key = state
            entry = self._line(number) if number >= 0 else None
            if entry is not None and shown > 0:
                pulses = self._pulse_masks(entry, key) if pulse > 0 else None
                scale = 1 + PULSE_GROWTH * pulse
                for g in entry["layout"].glyphs:
                    if g.word >= shown:
                        continue
                    side, where = box_of(g, self.size, self.size, scale)
                    if where is None:
                        continue
                    m = self._fitted(entry, "base", entry["base"], g.index, side)
                    if pulses is not None:
                        m = torch.lerp(m, self._fitted(entry, key % PULSE_VARIANTS, pulses, g.index, side), pulse)
                    (rows, cols), (mrows, mcols) = where
                    target = out[k, :, rows, cols]
                    torch.maximum(target, m[0, :, mrows, mcols], out=target)
            previous = (state, out[k])
        self.last["mask"] = previous
        return out


def _same_inputs(track, i: int, j: int) -> bool:
    return bool((track.weights[i] == track.weights[j]).all() and track.walk[i] == track.walk[j]
                and track.pulse[i] == track.pulse[j] and track.pulse_key[i] == track.pulse_key[j])


def prepare_lyrics(model, song, features, choreography, settings, lyrics: Lyrics, digit_model=None,
                   reuse: bool = True):
    """Check and time ``lyrics`` against the song, and make the frame renderer:
    returns (timed lyrics, renderer, render size)."""
    from cgn_art.audio import audio_duration
    from cgn_art.lyrics import time_plain_text

    letter_classes(model)  # a clear error when the model cannot set type
    if lyrics.kind == "lrc":
        lyrics.check_duration(audio_duration(song))
    timed = time_plain_text(lyrics, features.beats, features.downbeats, start=settings.start)
    size = lyric_render_size(settings.size, bool(getattr(model, "exemplar_fields", False)))
    return timed, LyricFrameRenderer(model, choreography, settings, size, timed, digit_model, reuse), size
