"""TypeSettings: every choice of a counterfactual typography poster, validated in one place.

The library, ``cgn-art type`` and the Type page all build one of these; the PNG's metadata and the
page's URL store it, so a poster made in one is made again exactly in the others.

>>> settings = TypeSettings(text="Hello world", format="portrait", texture_by="letter").validate()
>>> settings.size
(1080, 1350)
>>> TypeSettings.from_query({"text": "Hi", "margin": "0.9"})[1]
["margin='0.9' ignored: margin '0.9' is out of range: give a number from 0 to 0.4"]
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import (
    MAX_SEED,
    Settings,
    check_truncation,
    choice,
    class_list,
    model_class,
    ranged,
    whole,
)

FORMATS = {"square": (1080, 1080), "portrait": (1080, 1350), "story": (1080, 1920), "landscape": (1920, 1080),
           "custom": None}
ALIGNS = ("left", "center", "right")
TEXTURE_BY = ("all", "word", "letter", "walk")
BACKGROUND_BY = ("all", "line")
MIN_SIDE, MAX_SIDE = 64, 4096
MAX_TEXT = 400
HELP = {
    "text": "the words to set; a new line starts a new line, lowercase becomes capitals",
    "format": "poster shape: square 1080, portrait 1080x1350, story 1080x1920, landscape 1920x1080, or custom",
    "width": "canvas width in px for the custom format",
    "height": "canvas height in px for the custom format",
    "align": "left, center or right",
    "letter_size": "cap height in px; 0 sets the text as large as fits",
    "margin": "empty border, as a fraction of the shorter side",
    "tracking": "space between letters, in cap heights (negative lets letters touch)",
    "word_space": "space between words, in cap heights",
    "line_spacing": "baseline to baseline, in cap heights",
    "texture_by": "all: one texture class; word / letter: one each (cycling through --textures); "
                  "walk: a blend from the first to the last class across the letters",
    "textures": "texture classes (names or indices, comma-separated; default: the model's)",
    "background_by": "all: one background; line: one per line",
    "backgrounds": "background classes (names or indices, comma-separated; default: the model's)",
    "seed": "the seed every letter's noise derives from",
    "letter_seeds": "rolled letters: glyph index -> its own seed",
    "truncation": "noise truncation; lower is tamer",
    "texture_scale": "zoom into the texture and background (1: one painting spans the poster; 2: its corner, "
                     "twice as large)",
    "material_scale": "0: crisp, one pixel of the material (its photos) per poster pixel; 1: relative, the "
                      "material as large as at the model's native size (soft on a big poster); models with "
                      "materials only",
}


@dataclass
class TypeSettings(Settings):
    """One poster: the text, the canvas, the layout, and which textures and backgrounds paint it."""

    KIND = "type"
    SPACED_NAMES = False  # its messages name a field as written: "word_space 5 is out of range"
    IGNORED = ("kind", "model", "digit_model")  # what a poster's PNG stores beside its settings (Poster.metadata)

    text: str = "HELLO WORLD"
    format: str = "portrait"
    width: int = ranged(1080, MIN_SIDE, MAX_SIDE)
    height: int = ranged(1350, MIN_SIDE, MAX_SIDE)
    align: str = "center"
    letter_size: int = ranged(0, 0, MAX_SIDE)  # cap height in px; 0 = as large as fits
    margin: float = ranged(0.08, 0.0, 0.4)  # of the shorter side, on every edge
    tracking: float = ranged(0.12, -0.3, 1.0)  # gap between letters, in cap heights
    word_space: float = ranged(0.55, 0.1, 3.0)  # gap between words, in cap heights
    line_spacing: float = ranged(1.35, 0.8, 3.0)  # baseline to baseline, in cap heights
    texture_by: str = "all"
    textures: list[int] | None = None
    background_by: str = "all"
    backgrounds: list[int] | None = None
    seed: int = ranged(0, 0, MAX_SEED)
    letter_seeds: dict[int, int] = field(default_factory=dict)
    truncation: float = 0.8
    texture_scale: float = ranged(1.0, 1.0, 4.0)  # zoom into the texture and background painting
    material_scale: float = ranged(0.0, 0.0, 1.0)  # 0: crisp (the material's own pixels); 1: as at native size

    def validate(self, model=None) -> TypeSettings:
        """Check every field (one CgnArtError naming it); with ``model``, check class indices too."""
        if not isinstance(self.text, str):
            raise CgnArtError("text must be a string")
        if not self.text.strip():
            raise CgnArtError("the text is empty: type a word or a phrase")
        if len(self.text) > MAX_TEXT:
            raise CgnArtError(f"the text is {len(self.text)} characters long: a poster holds at most {MAX_TEXT}")
        self.format = choice("format", self.format, FORMATS)
        if FORMATS[self.format] is not None:
            self.width, self.height = FORMATS[self.format]
        self.check_ranges()
        self.truncation = check_truncation(self.truncation)
        self.align = choice("align", self.align, ALIGNS)
        self.texture_by = choice("texture_by", self.texture_by, TEXTURE_BY)
        self.background_by = choice("background_by", self.background_by, BACKGROUND_BY)
        self.textures = class_list("textures", self.textures) or None  # an empty list: the model's classes
        self.backgrounds = class_list("backgrounds", self.backgrounds) or None
        if not isinstance(self.letter_seeds, Mapping):
            raise CgnArtError("letter_seeds must map a letter's index to its seed, e.g. {3: 1234}")
        seeds = {}
        for key, value in self.letter_seeds.items():
            index = whole("letter index", key, 0, MAX_TEXT)
            seeds[index] = whole(f"seed of letter {index}", value, *LIMITS["seed"])
        self.letter_seeds = dict(sorted(seeds.items()))
        if model is not None:
            for name, mechanism in (("textures", "texture"), ("backgrounds", "background")):
                for c in getattr(self, name) or []:
                    model_class(mechanism, c, model.num_classes(mechanism))
        return self

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the canvas in px."""
        return FORMATS.get(self.format) or (self.width, self.height)

    # Serialising ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["letter_seeds"] = {str(k): v for k, v in self.letter_seeds.items()}  # JSON keys are strings
        return data

    @classmethod
    def from_dict(cls, data: Mapping, model=None) -> TypeSettings:
        """Settings from a dict (a PNG's metadata, validated); a key that is neither a setting nor one
        of the PNG's own (``IGNORED``) is an error."""
        return cls(**cls.known_keys(data)).validate(model)

    def to_query(self) -> dict[str, str]:
        """The poster as URL query parameters (all strings, defaults left out to keep links short)."""
        default = TypeSettings()
        query = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name) and f.name != "text":
                continue
            if f.name in ("width", "height") and self.format != "custom":
                continue
            if f.name in ("textures", "backgrounds"):
                query[f.name] = ",".join(map(str, value))
            elif f.name == "letter_seeds":
                query[f.name] = ",".join(f"{k}:{v}" for k, v in value.items())
            elif isinstance(value, float):
                query[f.name] = f"{value:g}"
            else:
                query[f.name] = str(value)
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str], model=None) -> tuple[TypeSettings, list[str]]:
        """Read a poster from URL parameters, keeping the default for each value that is wrong;
        returns the settings and one sentence per ignored value (a bad link still opens)."""
        settings, problems = cls(), []
        for f in dataclasses.fields(cls):
            if f.name not in query:
                continue
            text = str(query[f.name])
            trial = dataclasses.replace(settings)
            try:
                setattr(trial, f.name, parse_field(f.name, text, model))
                trial.validate(model)
            except CgnArtError as e:
                problems.append(f"{f.name}={text[:40]!r} ignored: {e}")
                continue
            settings = trial
        return settings.validate(model), problems


# Ranges declared once, on the fields: validate() enforces them, CLI help and page widgets read them.
# Truncation is checked by the one rule every job uses, (0, 1] (settings_checks.check_truncation); its
# range here is the page slider's, which starts at 0.05.
LIMITS = {**TypeSettings.ranges(), "truncation": (0.05, 1.0)}


def parse_field(name: str, text: str, model=None):
    """One setting from text (a URL parameter or a command-line flag); classes by name or index."""
    if name in ("textures", "backgrounds"):
        items = [item.strip() for item in str(text).split(",") if item.strip()]
        if not items:
            return None
        if model is None:
            return class_list(name, items)
        from cgn_art.mixing import class_index

        return [class_index(model, name[:-1], item) for item in items]
    if name == "letter_seeds":
        seeds = {}
        for item in str(text).split(","):
            if item.strip():
                index, sep, seed = item.partition(":")
                if not sep:
                    raise CgnArtError(f"letter seed {item!r} is not INDEX:SEED (e.g. 3:1234)")
                seeds[whole("letter index", index, 0, MAX_TEXT)] = whole("letter seed", seed, *LIMITS["seed"])
        return seeds
    if name in TypeSettings.ranges():
        return TypeSettings.in_range(name, text)
    if name == "truncation":
        return check_truncation(text)
    return str(text)
