"""Checks for the values a user gives a setting, written once for every job's settings.

A number, a whole number, a seed, a choice or a class arrives from a command-line flag, a URL
parameter, a page widget or a JSON file, as a number or as text. Every settings dataclass
(DanceSettings, StylizeSettings, TypeSettings, MixSettings, the robustness settings) reads it with
these functions, so a value is accepted, refused and explained the same way everywhere: one
:class:`~cgn_art.errors.CgnArtError` that names the setting, repeats what was given and says what
to give instead.

>>> whole("fps", "24", 1, 60)
24
>>> number("blend", "0.25", 0, 1)
0.25
>>> choice("colors", " Palette", ("texture", "luminance", "palette"))
'palette'
>>> whole("seed", -1, 0, MAX_SEED)
Traceback (most recent call last):
...
cgn_art.errors.CgnArtError: seed -1 is out of range: give 0 to 2147483647
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from cgn_art.errors import CgnArtError

# The largest seed anywhere: numpy and torch take it, and so do the pages' number inputs.
MAX_SEED = 2**31 - 1
# The dance renderer's noise seeds wrap at 2**31, the type and lyric seeds at MAX_SEED: one apart,
# but every saved sidecar and shipped picture was drawn with its own, so each keeps its modulus.
DANCE_SEED_SPACE = 2**31
MAX_SIZE = 4096  # the largest side, in pixels, any job draws


def child_seed(seed: int, offset: int, scale: int = 1, modulus: int = MAX_SEED) -> int:
    """The seed of a part derived from its parent's: ``(seed * scale + offset) % modulus``.

    The one derivation of child seeds (a letter's from the poster's, a dance mechanism's keyframes
    from the render's, a lyric line's pulse variants from its letters'). Each caller keeps the
    ``scale``, ``offset`` and ``modulus`` its saved outputs were made with, so they draw the same.

    >>> child_seed(7, 7919 * 3, scale=1_000_003)
    7023778
    >>> child_seed(MAX_SEED, 1)
    1
    """
    return (int(seed) * int(scale) + int(offset)) % modulus


def check_seed(value, what: str = "seed") -> int:
    """A seed, 0 to MAX_SEED.

    >>> check_seed("42")
    42
    """
    return whole(what, value, 0, MAX_SEED)


def check_truncation(value, low: float = 0.0) -> float:
    """The noise truncation, in (``low``, 1]: 0 would draw no noise at all. The one rule for every
    job; ``low`` is only raised where a job documents why.

    >>> check_truncation("0.5")
    0.5
    >>> check_truncation(0)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: truncation 0 is out of range: give a number in (0, 1]
    """
    # Read first, so a flag's text is named as the number it is ("truncation 0 is out of range").
    read = number("truncation", value)
    return number("truncation", read, low, 1, low_open=True)


def check_size(value, low: int = 1, high: int = MAX_SIZE, what: str = "size") -> int:
    """An image side in pixels, ``low`` to ``high`` (1 to MAX_SIZE unless a job says otherwise).

    >>> check_size("256")
    256
    """
    return whole(what, value, low, high, unit="pixels")


def whole(what: str, value, low: int | None = 0, high: int | None = None, unit: str = "") -> int:
    """``value`` as an int from ``low`` to ``high`` (no end where a bound is None).

    Takes ints (numpy's too), floats that are whole (3.0) and text of either ("3", " 3.0 "); refuses booleans,
    which Python would otherwise count as 0 and 1. ``unit`` ("pixels") is added to the messages.

    >>> whole("steps", 3.0, 1, 10)
    3
    >>> whole("size", "big", 1, 4096, unit="pixels")
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: size 'big' is not a whole number of pixels
    >>> whole("texture class", 12, 0)
    12
    >>> whole("letter index", True, 0, 400)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: letter index True is not a whole number
    """
    of_unit = f" of {unit}" if unit else ""
    if isinstance(value, bool):
        raise CgnArtError(f"{what} {value!r} is not a whole number{of_unit}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        text = value.strip() if isinstance(value, str) else value
        try:
            number = int(text) if isinstance(text, str) and text.lstrip("+-").isdigit() else float(text)
        except (TypeError, ValueError):
            raise CgnArtError(f"{what} {_shown(value)} is not a whole number{of_unit}") from None
        if isinstance(number, float):
            if not number.is_integer():  # also refuses inf and nan
                raise CgnArtError(f"{what} {_shown(value)} is not a whole number{of_unit}")
            number = int(number)
    if (low is not None and number < low) or (high is not None and number > high):
        span = (f"{low} to {high}" if low is not None and high is not None
                else f"{low} or more" if low is not None else f"at most {high}")
        raise CgnArtError(f"{what} {number} is out of range: give {span}" + (f" {unit}" if unit else ""))
    return number


def number(what: str, value, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
           high_open: bool = False) -> float:
    """``value`` as a float from ``low`` to ``high``; ``low_open`` / ``high_open`` refuse the bound itself.

    NaN is never a number here; infinity only passes when a bound is infinite.

    >>> number("truncation", 0, 0, 1, low_open=True)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: truncation 0 is out of range: give a number in (0, 1]
    >>> number("margin", "0.9", 0, 0.4)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: margin '0.9' is out of range: give a number from 0 to 0.4
    >>> number("ema decay", 1, 0, 1, high_open=True)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: ema decay 1 is out of range: give a number in [0, 1)
    """
    try:
        result = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        result = math.nan
    if math.isnan(result):
        raise CgnArtError(f"{what} {_shown(value)} is not a number")
    if result > high or result < low or (low_open and result <= low) or (high_open and result >= high):
        span = (f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
                if low_open or high_open else f"from {low:g} to {high:g}")
        raise CgnArtError(f"{what} {_shown(value)} is out of range: give a number {span}")
    return result


def choice(what: str, value, options: Collection[str]) -> str:
    """``value`` as one of ``options``; text is compared without case or surrounding spaces.

    >>> choice("optimizer", "sgd", ("lbfgs", "adam"))
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: unknown optimizer 'sgd'; choose one of lbfgs, adam
    """
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in options:
        raise CgnArtError(f"unknown {what} {_shown(value)}; choose one of {', '.join(options)}")
    return key


def model_class(mechanism: str, value, count: int) -> int:
    """A class index of one of a model's mechanisms, which has ``count`` classes.

    >>> model_class("texture", 12, 10)
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: texture class 12 is out of range: this model has texture classes 0 to 9
    """
    index = whole(f"{mechanism} class", value, None)
    if not 0 <= index < count:
        raise CgnArtError(f"{mechanism} class {index} is out of range: this model has {mechanism} classes "
                          f"0 to {count - 1}")
    return index


def class_list(what: str, value) -> list[int] | None:
    """Class indices from a list or from text such as "0, 3, 7"; None (all classes) stays None.

    >>> class_list("texture", "0, 3,7")
    [0, 3, 7]
    >>> class_list("texture", [0, -1])
    Traceback (most recent call last):
    ...
    cgn_art.errors.CgnArtError: texture class -1 is out of range: give 0 or more
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = [item for item in value.replace(" ", "").split(",") if item]
    return [whole(f"{what} class", item, 0) for item in value]


def ranged(default, low, high):
    """A settings field with its range declared on it, once: ``margin: float = ranged(0.08, 0.0, 0.4)``.

    :meth:`Settings.check_ranges` checks it (a whole number for an ``int`` field, else a number) and
    :meth:`Settings.ranges` lists it for CLI help and page widgets.
    """
    return dataclasses.field(default=default, metadata={"range": (low, high)})


class Settings:
    """What every settings dataclass shares (DanceSettings, TypeSettings, StylizeSettings, ...).

    - ``to_dict()``: the fields as plain data (what a sidecar, a PNG or a URL stores);
    - ``from_dict(data)``: the settings back; a key that is not a field is refused with a
      CgnArtError naming it (the one policy for unknown keys). A job's ``IGNORED`` keys are the ones
      its saved files carry beside the settings (a PNG's ``kind`` and ``model``) or that older
      versions wrote and that no longer mean anything: they are skipped, and documented where set;
    - ``replace(**changes)``: a copy with fields changed, not yet validated;
    - ``with_changes(changes)``: a copy with a dict of changes, checked like ``from_dict`` and validated.

    A subclass names itself in messages with ``KIND`` ("dance", "stylize") and keeps its own
    ``validate()``, the one place its fields are checked.
    """

    KIND: ClassVar[str] = ""
    IGNORED: ClassVar[tuple[str, ...]] = ()
    SPACED_NAMES: ClassVar[bool] = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def ranges(cls) -> dict[str, tuple]:
        """The ranges declared on the fields (with :func:`ranged`), by field name."""
        return {f.name: f.metadata["range"] for f in dataclasses.fields(cls) if "range" in f.metadata}

    @classmethod
    def in_range(cls, name: str, value):
        """``value`` read and checked as the ranged field ``name`` is: a whole number for an ``int``
        field, else a number. Messages name the field with spaces (``texture scale``) unless the class
        sets ``SPACED_NAMES`` False."""
        low, high = cls.ranges()[name]
        kind = next(f.type for f in dataclasses.fields(cls) if f.name == name)
        what = name.replace("_", " ") if cls.SPACED_NAMES else name
        return whole(what, value, low, high) if kind in ("int", int) else number(what, value, low, high)

    def check_ranges(self, *names: str) -> None:
        """Check the ranged fields ``names`` in that order (all of them, in field order, when none are
        given), keeping each as the number it was read as."""
        for name in names or self.ranges():
            setattr(self, name, self.in_range(name, getattr(self, name)))

    @classmethod
    def known_keys(cls, data: Any) -> dict:
        """``data`` (a mapping) without its ``IGNORED`` keys; any other key that is not a field is
        refused."""
        what = f"{cls.KIND} settings" if cls.KIND else "settings"
        if not isinstance(data, Mapping):
            raise CgnArtError(f"{what} must be a JSON object")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in data if k not in names and k not in cls.IGNORED)
        if unknown:
            setting = f"{cls.KIND} setting" if cls.KIND else "setting"
            raise CgnArtError(f"unknown {setting}(s) {', '.join(map(repr, unknown))}; known: {', '.join(names)}")
        return {k: v for k, v in data.items() if k in names}

    @classmethod
    def from_dict(cls, data: Mapping):
        """Settings from a dict (a sidecar's, a PNG's); unknown keys are an error."""
        return cls(**cls.known_keys(data))

    def replace(self, **changes):
        """A copy with ``changes`` applied (not validated: call ``validate()`` or use ``with_changes``)."""
        return dataclasses.replace(self, **changes)

    def with_changes(self, changes: Mapping):
        """A validated copy with ``changes`` (a dict of field names to values) applied."""
        return self.replace(**self.known_keys(changes)).validate()


def _shown(value) -> str:
    """How a refused value is quoted: text in quotes (what was typed), cut short so a pasted page or
    a hostile link cannot flood the message; numbers as numbers (numpy's too, without np.float64()),
    a whole float without its ".0" (0, not 0.0)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else str(value)
    return str(value)
