"""DanceSettings: every choice of a Counterfactual Latent Dance, validated in one place.

The library, the CLI and the page all build one of these (from a preset plus changes), and the JSON
sidecar of a video stores it whole, so the same video (or a larger one) can be rendered again.

>>> settings = DanceSettings.from_preset("punchy", size=256)
>>> settings = settings.with_changes({"shape.pulse": "beats", "texture.smoothing": "0.8"})
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

from cgn_art.errors import CgnArtError

MECHANISMS = ("shape", "texture", "background")
# What can steer each part of a mechanism (names match AudioFeatures.envelope / .events).
CLASS_DRIVERS = ("chroma", "downbeats", "beats", "onsets", "sections", "fixed")
PULSE_DRIVERS = ("onsets", "beats", "downbeats", "sections", "percussive", "harmonic", "rms", "none")
DRIFT_DRIVERS = ("rms", "percussive", "harmonic", "onsets", "beats", "downbeats", "sections", "none")
EVENT_FEATURES = ("onsets", "beats", "downbeats", "sections")
MIN_SIZE, MAX_SIZE = 64, 1080
MAX_FPS = 60


@dataclass
class MechanismMapping:
    """How the music moves one mechanism (shape, texture or background).

    - ``classes``: the classes it may use (indices), ``None`` for all of the model's.
    - ``classes_by``: what changes the class: ``chroma`` (12 pitch classes -> the classes, blended),
      an event (``downbeats``, ``beats``, ``onsets``, ``sections``: the next class, cross-faded over
      ``smoothing`` seconds) or ``fixed`` (the first class).
    - ``pulse`` and ``sensitivity``: a feature that pushes the noise toward a new direction (an event
      pulses at its frame and decays over ``smoothing``; an envelope pushes in proportion); 0-1.
    - ``drift`` and ``speed``: a feature that moves the slow noise walk (slerp between seeded
      keyframes); an envelope sets the pace (``speed`` keyframes per second at full level), an
      event takes a step of ``speed`` (scaled by loudness) and the noise holds still in between.
    - ``jitter``: a small seeded wobble added to the walk, 0-1.
    """

    classes: list[int] | None = None
    classes_by: str = "fixed"
    pulse: str = "none"
    sensitivity: float = 0.5
    drift: str = "rms"
    speed: float = 0.3
    smoothing: float = 0.25
    jitter: float = 0.0

    def validate(self, mechanism: str) -> MechanismMapping:
        where = f"{mechanism}"
        _choice(f"{where} classes_by", self.classes_by, CLASS_DRIVERS)
        _choice(f"{where} pulse", self.pulse, PULSE_DRIVERS)
        _choice(f"{where} drift", self.drift, DRIFT_DRIVERS)
        self.sensitivity = _number(f"{where} sensitivity", self.sensitivity, 0.0, 1.0)
        self.speed = _number(f"{where} speed", self.speed, 0.0, 8.0)
        self.smoothing = _number(f"{where} smoothing", self.smoothing, 0.0, 10.0)
        self.jitter = _number(f"{where} jitter", self.jitter, 0.0, 1.0)
        if self.classes is not None:
            if isinstance(self.classes, str):
                self.classes = [c for c in self.classes.replace(" ", "").split(",") if c]
            classes = []
            for c in self.classes:
                try:
                    value = int(c)
                except (TypeError, ValueError):
                    raise CgnArtError(f"{where} class {c!r} is not a whole number: "
                                      "give class indices like 0,3,7") from None
                if value < 0:
                    raise CgnArtError(f"{where} class {value} is negative: give class indices 0 or more")
                classes.append(value)
            if not classes:
                raise CgnArtError(f"{where} classes is an empty list: "
                                  "give at least one class, or leave it unset for all")
            self.classes = classes
        return self


@dataclass
class DanceSettings:
    """One dance: the song's stretch, the video's format and a mapping per mechanism."""

    preset: str = "groove"
    seed: int = 0
    fps: int = 24
    size: int = 512
    truncation: float = 0.8
    start: float = 0.0
    duration: float | None = None
    max_duration: float = 600.0
    shape: MechanismMapping = field(default_factory=MechanismMapping)
    texture: MechanismMapping = field(default_factory=MechanismMapping)
    background: MechanismMapping = field(default_factory=MechanismMapping)

    def validate(self) -> DanceSettings:
        """Check every field (CgnArtError says which and what to give); returns self."""
        if self.preset not in PRESETS and self.preset != "custom":
            raise CgnArtError(f"unknown preset {self.preset!r}: use one of {', '.join(PRESETS)} (or 'custom')")
        self.seed = _whole("seed", self.seed, 0, 2**31 - 1)
        self.fps = _whole("fps", self.fps, 1, MAX_FPS)
        self.size = _whole("size", self.size, MIN_SIZE, MAX_SIZE)
        if self.size % 2:
            raise CgnArtError(f"size {self.size} is odd: H.264 video needs an even size, e.g. {self.size + 1}")
        self.truncation = _number("truncation", self.truncation, 0.0, 1.0)
        if self.truncation == 0:
            raise CgnArtError("truncation 0 would draw no noise at all: give a number in (0, 1]")
        self.start = _number("start", self.start, 0.0, 24 * 3600.0)
        self.max_duration = _number("max_duration", self.max_duration, 1.0, 24 * 3600.0)
        if self.duration is not None:
            self.duration = _number("duration", self.duration, 0.0, 24 * 3600.0)
            if self.duration == 0:
                raise CgnArtError("duration 0 s is empty: "
                                  "give a duration of at least 1 s (or none for the rest of the song)")
            if self.duration > self.max_duration:
                raise CgnArtError(f"duration {self.duration:g} s is over the {self.max_duration:g} s limit: "
                                  "pick a shorter stretch")
        for name in MECHANISMS:
            mapping = getattr(self, name)
            if isinstance(mapping, dict):
                mapping = _mapping_from_dict(name, mapping)
                setattr(self, name, mapping)
            mapping.validate(name)
        return self

    # Building ----------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name: str = "groove", **changes) -> DanceSettings:
        """A preset's settings, with ``changes`` (top-level fields) applied, validated."""
        if name not in PRESETS:
            raise CgnArtError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
        settings = PRESETS[name]()
        for key, value in changes.items():
            if key not in _FIELDS:
                raise CgnArtError(f"unknown dance setting {key!r}: use one of {', '.join(_FIELDS)}")
            setattr(settings, key, value)
        return settings.validate()

    def with_changes(self, changes: dict) -> DanceSettings:
        """A copy with dotted changes such as {'size': 256, 'shape.pulse': 'beats'}; values may be
        strings (from a command line) and are converted to the field's type. Marks it 'custom'
        when a mapping changes."""
        new = DanceSettings.from_dict(self.to_dict())
        for key, value in changes.items():
            target, name = new, key
            if "." in key:
                mechanism, name = key.split(".", 1)
                if mechanism not in MECHANISMS:
                    raise CgnArtError(f"unknown mechanism in {key!r}: use shape, texture or background")
                target = getattr(new, mechanism)
                new.preset = "custom"
            known = {f.name: f for f in dataclasses.fields(target)}
            if name not in known:
                raise CgnArtError(f"unknown dance setting {key!r}: use one of {', '.join(known)}")
            setattr(target, name, _convert(key, value, known[name].type))
        return new.validate()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DanceSettings:
        """Settings from a dict (e.g. a sidecar's ``settings``); unknown keys are an error."""
        if not isinstance(data, dict):
            raise CgnArtError("dance settings must be a JSON object")
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise CgnArtError(f"unknown dance setting(s) {', '.join(sorted(unknown))}: "
                              "is this a cgn-art dance sidecar?")
        values = dict(data)
        for name in MECHANISMS:
            if name in values:
                values[name] = _mapping_from_dict(name, values[name])
        return cls(**values).validate()


_FIELDS = [f.name for f in dataclasses.fields(DanceSettings)]


def _mapping_from_dict(name: str, data) -> MechanismMapping:
    if isinstance(data, MechanismMapping):
        return data
    if not isinstance(data, dict):
        raise CgnArtError(f"{name} mapping must be a JSON object")
    known = {f.name for f in dataclasses.fields(MechanismMapping)}
    unknown = set(data) - known
    if unknown:
        raise CgnArtError(f"unknown {name} setting(s) {', '.join(sorted(unknown))}: use {', '.join(sorted(known))}")
    return MechanismMapping(**data)


def _convert(key: str, value, annotation: str):
    if not isinstance(value, str):
        return value
    text = value.strip()
    if "list" in str(annotation):
        return None if text.lower() in ("", "all", "none") else text
    if "float | None" in str(annotation) and text.lower() in ("", "none"):
        return None
    if str(annotation) in ("int",):
        return _whole(key, text, -2**31, 2**31)
    if "float" in str(annotation):
        return _number(key, text, -math.inf, math.inf)
    return text


def _choice(what: str, value, options) -> None:
    if value not in options:
        raise CgnArtError(f"{what} {value!r} is not one of: {', '.join(options)}")


def _number(what: str, value, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CgnArtError(f"{what} {value!r} is not a number") from None
    if math.isnan(number) or not low <= number <= high:
        raise CgnArtError(f"{what} {value!r} is out of range: give a number from {low:g} to {high:g}")
    return number


def _whole(what: str, value, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise CgnArtError(f"{what} {value!r} is not a whole number")
    try:
        number = int(str(value).strip()) if not isinstance(value, (int, float)) else value
    except ValueError:
        raise CgnArtError(f"{what} {value!r} is not a whole number") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise CgnArtError(f"{what} {value!r} is not a whole number")
        number = int(number)
    if not low <= number <= high:
        raise CgnArtError(f"{what} {number} is out of range: give {low} to {high}")
    return int(number)


# Presets --------------------------------------------------------------------------------------

def _groove() -> DanceSettings:
    """The default mapping: drums pulse the shape, harmony paints the texture, the song's sections
    and loudness move the background."""
    return DanceSettings(
        preset="groove",
        shape=MechanismMapping(classes_by="downbeats", pulse="onsets", sensitivity=0.6, drift="rms", speed=0.3,
                               smoothing=0.2),
        texture=MechanismMapping(classes_by="chroma", pulse="none", drift="harmonic", speed=0.4, smoothing=0.5),
        background=MechanismMapping(classes_by="sections", pulse="none", drift="beats", speed=0.25, smoothing=0.3))


def _calm() -> DanceSettings:
    return DanceSettings(
        preset="calm", truncation=0.6,
        shape=MechanismMapping(classes_by="sections", pulse="beats", sensitivity=0.25, drift="rms", speed=0.15,
                               smoothing=0.5),
        texture=MechanismMapping(classes_by="chroma", pulse="none", drift="harmonic", speed=0.15, smoothing=1.5),
        background=MechanismMapping(classes_by="sections", pulse="none", drift="downbeats", speed=0.15, smoothing=1.0))


def _punchy() -> DanceSettings:
    return DanceSettings(
        preset="punchy", truncation=1.0,
        shape=MechanismMapping(classes_by="beats", pulse="onsets", sensitivity=0.9, drift="percussive", speed=0.6,
                               smoothing=0.1),
        texture=MechanismMapping(classes_by="downbeats", pulse="beats", sensitivity=0.5, drift="harmonic", speed=0.3,
                                 smoothing=0.15),
        background=MechanismMapping(classes_by="sections", pulse="none", drift="beats", speed=0.5, smoothing=0.15))


def _texture_storm() -> DanceSettings:
    return DanceSettings(
        preset="texture storm", truncation=1.0,
        shape=MechanismMapping(classes_by="sections", pulse="beats", sensitivity=0.3, drift="rms", speed=0.2,
                               smoothing=0.3),
        texture=MechanismMapping(classes_by="onsets", pulse="onsets", sensitivity=0.9, drift="percussive", speed=1.5,
                                 smoothing=0.1, jitter=0.3),
        background=MechanismMapping(classes_by="downbeats", pulse="none", drift="rms", speed=0.3, smoothing=0.5))


PRESETS = {"groove": _groove, "calm": _calm, "punchy": _punchy, "texture storm": _texture_storm}
