"""DanceSettings: every choice of a Counterfactual Latent Dance, validated in one place.

The library, the CLI and the page all build one of these (from a preset plus changes), and the JSON
sidecar of a video stores it whole, so the same video (or a larger one) can be rendered again.

>>> settings = DanceSettings.from_preset("punchy", size=256)
>>> settings = settings.with_changes({"shape.pulse": "beats", "texture.smoothing": "0.8"})
>>> settings.preset, settings.shape.pulse, settings.texture.smoothing
('custom', 'beats', 0.8)
>>> settings.with_changes({"size": 255})
Traceback (most recent call last):
...
cgn_art.errors.CgnArtError: size 255 is odd: H.264 video needs an even size, e.g. 256
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import MECHANISMS
from cgn_art.settings_checks import MAX_SEED, Settings, check_seed, check_truncation, choice, class_list, number, whole

# What can steer each part of a mechanism (names match AudioFeatures.envelope / .events).
CLASS_DRIVERS = ("chroma", "downbeats", "beats", "onsets", "sections", "fixed")
PULSE_DRIVERS = ("onsets", "beats", "downbeats", "sections", "percussive", "harmonic", "rms", "none")
DRIFT_DRIVERS = ("rms", "percussive", "harmonic", "onsets", "beats", "downbeats", "sections", "none")
EVENT_FEATURES = ("onsets", "beats", "downbeats", "sections")
MIN_SIZE, MAX_SIZE = 64, 1080
MAX_FPS = 60
DAY = 24 * 3600.0  # seconds; longer than any song, short enough to catch a typo
# Ranges declared once: validate() enforces them and the CLI's help reads them.
LIMITS = {"seed": (0, MAX_SEED), "fps": (1, MAX_FPS), "size": (MIN_SIZE, MAX_SIZE), "truncation": (0.0, 1.0),
          "start": (0.0, DAY), "duration": (0.0, DAY), "max_duration": (1.0, DAY), "material_scale": (0.0, 1.0)}
MAPPING_LIMITS = {"sensitivity": (0.0, 1.0), "speed": (0.0, 8.0), "smoothing": (0.0, 10.0), "jitter": (0.0, 1.0)}


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
        self.classes_by = choice(f"{mechanism} classes_by", self.classes_by, CLASS_DRIVERS)
        self.pulse = choice(f"{mechanism} pulse", self.pulse, PULSE_DRIVERS)
        self.drift = choice(f"{mechanism} drift", self.drift, DRIFT_DRIVERS)
        for name, (low, high) in MAPPING_LIMITS.items():
            setattr(self, name, number(f"{mechanism} {name}", getattr(self, name), low, high))
        self.classes = class_list(mechanism, self.classes)
        if self.classes == []:
            raise CgnArtError(f"{mechanism} classes is an empty list: "
                              "give at least one class, or leave it unset for all")
        return self


@dataclass
class DanceSettings(Settings):
    """One dance: the song's stretch, the video's format and a mapping per mechanism.

    Validated where it enters (``from_preset``, ``from_dict``, ``with_changes``, ``render_dance``);
    the choreography and the renderer below take it as it is."""

    KIND = "dance"

    preset: str = "groove"
    seed: int = 0
    fps: int = 24
    size: int = 512
    truncation: float = 0.8
    start: float = 0.0
    duration: float | None = None
    max_duration: float = 600.0
    # Lyric videos with a model of materials (the Letters CGN): 0 crisp (the material's own pixels at
    # the video's size), 1 relative (as large as at the model's native size). The dance itself keeps
    # the CGN's composition, whatever this says.
    material_scale: float = 0.0
    shape: MechanismMapping = field(default_factory=MechanismMapping)
    texture: MechanismMapping = field(default_factory=MechanismMapping)
    background: MechanismMapping = field(default_factory=MechanismMapping)

    def validate(self) -> DanceSettings:
        """Check every field (CgnArtError says which and what to give); returns self."""
        if self.preset not in PRESETS and self.preset != "custom":
            raise CgnArtError(f"unknown preset {self.preset!r}: use one of {', '.join(PRESETS)} (or 'custom')")
        self.seed = check_seed(self.seed)
        for name in ("fps", "size"):
            setattr(self, name, whole(name, getattr(self, name), *LIMITS[name]))
        if self.size % 2:
            raise CgnArtError(f"size {self.size} is odd: H.264 video needs an even size, e.g. {self.size + 1}")
        self.truncation = check_truncation(self.truncation)
        for name in ("start", "max_duration", "material_scale"):
            setattr(self, name, number(name, getattr(self, name), *LIMITS[name]))
        if self.duration is not None:
            self.duration = number("duration", self.duration, *LIMITS["duration"])
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
        new = copy.deepcopy(self)
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

    @classmethod
    def from_dict(cls, data: dict) -> DanceSettings:
        """Settings from a dict (e.g. a sidecar's ``settings``), validated; unknown keys are an error."""
        values = cls.known_keys(data)
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
    # Only the text's type here: validate() checks the range and names the limits.
    if str(annotation) in ("int",):
        return whole(key, text, None)
    if "float" in str(annotation):
        return number(key, text)
    return text


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
