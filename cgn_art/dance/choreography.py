"""Choreography: AudioFeatures -> per-frame, per-mechanism trajectories of class weights and noise.

A mechanism's input at video frame f is described by small numbers, not tensors, so a 10-minute
song's choreography stays a few MB and the renderer can tell cheaply when an input is unchanged:

- class weights over the mechanism's class list (blended in the model's class-embedding space,
  since every model embeds the weight vector linearly),
- a slow noise walk: position p -> slerp(noise(key floor(p)), noise(key floor(p)+1), ease(frac p)),
- a pulse: slerp(walk, noise(pulse key), amount), amount in [0, 1].

Everything is a pure function of the features, the settings and the seed: deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cgn_art.audio.analysis import AudioFeatures
from cgn_art.dance.settings import EVENT_FEATURES, DanceSettings, MechanismMapping
from cgn_art.mechanisms.base import MECHANISMS
from cgn_art.settings_checks import model_class

PULSE_FLOOR = 0.01  # pulses below this are cut to exactly 0, so the input holds and can be reused


@dataclass
class Track:
    """One mechanism's trajectory over the video's frames."""

    classes: np.ndarray      # (K,) the model classes the weights refer to
    weights: np.ndarray      # (F, K) class weights (rows sum to 1)
    walk: np.ndarray         # (F,) position of the noise walk (keyframe units)
    pulse: np.ndarray        # (F,) how far toward the pulse noise, 0-1
    pulse_key: np.ndarray    # (F,) which pulse noise (an event counter)

    def __len__(self) -> int:
        return len(self.walk)

    def same_as_previous(self) -> np.ndarray:
        """(F,) True where frame f's inputs equal frame f-1's exactly (frame 0: False)."""
        same = np.zeros(len(self), bool)
        if len(self) > 1:
            same[1:] = ((self.weights[1:] == self.weights[:-1]).all(axis=1) & (self.walk[1:] == self.walk[:-1])
                        & (self.pulse[1:] == self.pulse[:-1]) & (self.pulse_key[1:] == self.pulse_key[:-1]))
        return same


@dataclass
class Choreography:
    fps: int
    n_frames: int
    tracks: dict  # mechanism -> Track

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


def choreograph(features: AudioFeatures, settings: DanceSettings, class_counts: dict[str, int],
                default_classes: dict[str, list[int]] | None = None) -> Choreography:
    """Map the music to the three mechanisms' inputs, one row per video frame.

    ``class_counts``: the model's number of classes per mechanism (for class lists and checks).
    ``default_classes``: the classes a mechanism uses when its mapping names none (a model's curated
    presets); without them, all of its classes. A 1,000-class ImageNet model would otherwise dance
    through the first classes of the list (tench, goldfish, ...) rather than ones that suit the part.
    ``settings`` are used as they are: validate them where they enter (DanceSettings does on every
    constructor but the plain one; render_dance does).
    """
    fps = settings.fps
    n = max(1, int(round(features.duration * fps)))
    rng_base = np.random.SeedSequence([settings.seed, 7])
    tracks = {}
    for index, mechanism in enumerate(MECHANISMS):
        mapping: MechanismMapping = getattr(settings, mechanism)
        classes = _class_list(mechanism, mapping, class_counts[mechanism], (default_classes or {}).get(mechanism))
        rng = np.random.default_rng(rng_base.spawn(3)[index])
        loud = _envelope_at_fps(features, "rms", fps, n)
        weights = _class_weights(features, mapping, classes, fps, n, rng)
        walk = _walk(features, mapping, fps, n, loud, rng)
        pulse, pulse_key = _pulse(features, mapping, fps, n)
        tracks[mechanism] = Track(classes=classes, weights=weights.astype(np.float32), walk=walk,
                                  pulse=pulse.astype(np.float32), pulse_key=pulse_key)
    return Choreography(fps=fps, n_frames=n, tracks=tracks)


# Features on the video's frame grid ----------------------------------------------------------

def _envelope_at_fps(features: AudioFeatures, name: str, fps: int, n: int) -> np.ndarray:
    """The envelope's peak within each video frame (peaks, not means: a short hit must register)."""
    env = features.envelope(name)
    edges = np.clip(np.round((np.arange(n + 1) - 0.5) / fps * features.frame_rate).astype(int), 0, len(env))
    out = np.zeros(n, np.float32)
    for f in range(n):
        a, b = edges[f], max(edges[f + 1], edges[f] + 1)
        if a < len(env):
            out[f] = env[a:b].max()
    return out


def _event_frames(features: AudioFeatures, name: str, fps: int, n: int) -> np.ndarray:
    times = features.events(name)
    frames = np.round(np.asarray(times) * fps).astype(int)
    return np.unique(frames[(frames >= 0) & (frames < n)])


def _smooth(x: np.ndarray, seconds: float, fps: int) -> np.ndarray:
    """One-pole low-pass (the 'smoothing' time constant)."""
    if seconds <= 0:
        return x.copy()
    a = np.exp(-1.0 / (seconds * fps))
    out = np.empty_like(x)
    acc = x[0]
    for i, v in enumerate(x):
        acc = a * acc + (1 - a) * v
        out[i] = acc
    return out


def ease(t: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1]: starts and ends at rest, so a cross-fade or a walk's step has no jolt.

    >>> ease(np.array([0.0, 0.5, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return t * t * (3 - 2 * t)


# Classes -----------------------------------------------------------------------------------

def _class_list(mechanism: str, mapping: MechanismMapping, count: int, default=None) -> np.ndarray:
    if mapping.classes is not None:
        classes = list(mapping.classes)
    else:
        classes = list(default) if default else list(range(count))
    return np.asarray([model_class(mechanism, c, count) for c in classes], int)


def _class_weights(features, mapping, classes, fps, n, rng) -> np.ndarray:
    k = len(classes)
    weights = np.zeros((n, k), np.float32)
    if mapping.classes_by == "chroma":
        # Pitch class i paints with class i mod K; a power sharpens the blend toward the chord's notes.
        chroma = features.chroma
        edges = np.clip(np.round(np.arange(n + 1) / fps * features.frame_rate).astype(int), 0, chroma.shape[1])
        per_frame = np.stack([chroma[:, a:max(b, a + 1)].mean(axis=1) if a < chroma.shape[1] else np.zeros(12)
                              for a, b in zip(edges[:-1], edges[1:])])
        mapped = np.zeros((n, k), np.float32)
        for pitch in range(12):
            mapped[:, pitch % k] += per_frame[:, pitch]
        mapped = np.power(mapped, 4)
        quiet = mapped.sum(axis=1) <= 1e-8
        mapped[quiet, 0] = 1.0  # silence: the first class
        mapped /= mapped.sum(axis=1, keepdims=True)
        weights = _smooth(mapped, mapping.smoothing, fps)
    elif mapping.classes_by == "fixed":
        weights[:, 0] = 1.0
    else:
        # Each event moves on to the next class of a seeded shuffle, cross-faded over 'smoothing'.
        order = rng.permutation(k)
        events = _event_frames(features, mapping.classes_by, fps, n)
        fade = max(1, int(round(mapping.smoothing * fps)))
        current = np.zeros(n, int)
        for e in events:
            current[e:] += 1
        weights[np.arange(n), order[current % k]] = 1.0
        for e in events:
            if e == 0:
                continue
            previous, following = order[(current[e] - 1) % k], order[current[e] % k]
            end = min(n, e + fade)
            t = ease((np.arange(e, end) - e + 1) / fade)
            weights[e:end] = 0
            weights[e:end, previous] = 1 - t
            weights[e:end, following] += t
    return weights


# Noise: the walk and the pulse --------------------------------------------------------------------

def _walk(features, mapping, fps, n, loud, rng) -> np.ndarray:
    if mapping.drift == "none" or mapping.speed == 0:
        walk = np.zeros(n)
    elif mapping.drift in EVENT_FEATURES:
        # A step per event (bigger when loud), eased over 'smoothing'; still in between.
        walk = np.zeros(n)
        ramp = max(1, int(round(mapping.smoothing * fps)))
        for e in _event_frames(features, mapping.drift, fps, n):
            step = mapping.speed * (0.5 + loud[e])
            t = np.clip((np.arange(n) - e + 1) / ramp, 0, 1)
            walk += step * ease(t)
    else:
        level = _smooth(_envelope_at_fps(features, mapping.drift, fps, n), mapping.smoothing, fps)
        walk = np.cumsum(mapping.speed * (0.15 + level)) / fps
    if mapping.jitter > 0:
        wobble = _smooth(rng.standard_normal(n), 0.3, fps)
        wobble /= np.abs(wobble).max() + 1e-9
        walk = walk + mapping.jitter * 0.5 * wobble
    return walk.astype(np.float64)


def _pulse(features, mapping, fps, n) -> tuple[np.ndarray, np.ndarray]:
    pulse = np.zeros(n, np.float32)
    key = np.zeros(n, np.int64)
    if mapping.pulse == "none" or mapping.sensitivity == 0:
        return pulse, key
    decay = np.exp(-1.0 / max(mapping.smoothing * fps, 1e-3))
    if mapping.pulse in EVENT_FEATURES:
        frames = _event_frames(features, mapping.pulse, fps, n)
        height = np.zeros(n, np.float32)
        strength = _envelope_at_fps(features, "onsets", fps, n) if mapping.pulse == "onsets" else None
        for e in frames:
            height[e] = 1.0 if strength is None else max(0.5, float(strength[e]))
            key[e:] += 1
        drive = height
    else:
        drive = _envelope_at_fps(features, mapping.pulse, fps, n)
    # Instant attack, exponential release: the peak sits on the event's own frame.
    acc = 0.0
    for f in range(n):
        acc = max(acc * decay, float(drive[f]))
        pulse[f] = acc
    pulse *= mapping.sensitivity
    pulse[pulse < PULSE_FLOOR] = 0.0
    key[pulse == 0] = 0  # the key does not matter when there is no pulse: keep inputs identical
    return np.clip(pulse, 0, 1), key
