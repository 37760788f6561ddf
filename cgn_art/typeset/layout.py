"""Text -> glyphs -> a layout: where each letter's mask goes on the canvas.

Units: a glyph's size is measured in cap heights ("caps"). Each mask is rendered once at its model's
native size and measured (the extent of mask > 0.5); a scale brings its ink to one cap high (within
2/3..3/2 of its model's typical scale, so a freak mask cannot blow up), and its ink width is its
advance. Lines are filled greedily, words never split; the cap height is the largest that fits
(or the one asked for). Layout is pure arithmetic on these measurements: no pixel is painted here.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import child_seed

PUNCTUATION_GAP = 0.3   # caps: punctuation is not drawn, it leaves a narrow gap
BLANK_WIDTH = 0.5       # caps: a mask with no ink at all still takes some room
MIN_CAP = 6.0           # px: below this letters are mush


def letter_seed(seed: int, index: int) -> int:
    """The seed of glyph ``index`` when it was not rolled: derived, so each letter differs."""
    return child_seed(seed, 7919 * (int(index) + 1), scale=1_000_003)


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def roll_labels(chars: list[str]) -> list[str]:
    """A button label per glyph: the character, numbered by a subscript when it occurs more than once
    ("L₁", "L₂" in HELLO), so every roll button names one letter."""
    totals = Counter(chars)
    seen: Counter = Counter()
    labels = []
    for c in chars:
        seen[c] += 1
        labels.append(c if totals[c] == 1 else c + str(seen[c]).translate(_SUBSCRIPTS))
    return labels


@dataclass
class Glyph:
    """One glyph to draw: its character, which model draws it (letters or digits) and its shape class."""

    index: int          # counts glyphs only (letters and digits); the roll buttons' numbering
    char: str
    source: str         # 'letters' or 'digits'
    shape_class: int
    word: int
    line: int = 0       # set by the layout
    x: float = 0.0      # top-left of its (square) box on the canvas, px
    y: float = 0.0
    side: float = 0.0   # box side, px


@dataclass
class Text:
    """The text cut into paragraphs -> words -> items; an item is a glyph index or None (a gap)."""

    paragraphs: list[list[list[int | None]]]
    glyphs: list[Glyph]
    skipped: list[str] = field(default_factory=list)
    skipped_digits: bool = False

    def skipped_message(self) -> str:
        """One line saying what was left out, or '' when everything was drawn."""
        if not self.skipped:
            return ""
        shown = ", ".join(repr(c) for c in self.skipped[:12]) + (", ..." if len(self.skipped) > 12 else "")
        reason = " (digits need a digit-shape model, and none is shipped)" if self.skipped_digits else ""
        return f"skipped {len(self.skipped)} character(s) the model cannot draw{reason}: {shown}"


def split_text(text: str, letter_classes: dict[str, int], digit_classes: dict[str, int] | None) -> Text:
    """Lowercase -> capitals, accents dropped (é -> E); digits drawn by the digit model when there is one;
    whitespace separates words, a newline starts a line; punctuation leaves a gap; anything else
    is skipped and reported."""
    paragraphs, glyphs, skipped, skipped_digits = [], [], [], False
    word_count = 0
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        words = []
        for raw_word in raw_line.split():
            items: list[int | None] = []
            for ch in _normalise(raw_word):
                if ch in letter_classes:
                    items.append(len(glyphs))
                    glyphs.append(Glyph(len(glyphs), ch, "letters", letter_classes[ch], word_count))
                elif digit_classes and ch in digit_classes:
                    items.append(len(glyphs))
                    glyphs.append(Glyph(len(glyphs), ch, "digits", digit_classes[ch], word_count))
                elif unicodedata.category(ch).startswith("P"):
                    items.append(None)
                else:
                    skipped.append(ch)
                    skipped_digits |= ch.isdigit()
            if any(item is not None for item in items):
                words.append(items)
            word_count += 1  # every word counts, drawn or not: lyric times refer to them by position
        paragraphs.append(words)
    while paragraphs and not paragraphs[-1]:
        paragraphs.pop()
    while paragraphs and not paragraphs[0]:
        paragraphs.pop(0)
    if not glyphs:
        found = f" (only {', '.join(repr(c) for c in sorted(set(skipped))[:8])})" if skipped else ""
        raise CgnArtError(f"nothing to draw: the text has no letter A-Z{' or digit' if digit_classes else ''}"
                          f"{found}")
    return Text(paragraphs, glyphs, skipped, skipped_digits)


def _normalise(word: str) -> str:
    out = []
    for ch in word.upper():
        decomposed = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        out.append(base.upper() if base and base.isascii() and base.isalnum() else ch)
    return "".join(out)


# Measuring -------------------------------------------------------------------------------------

@dataclass
class Metrics:
    """Per glyph, in caps: box side, ink left edge and ink bottom inside the box, ink width."""

    side: np.ndarray
    left: np.ndarray
    bottom: np.ndarray
    width: np.ndarray


def ink_extent(masks: torch.Tensor) -> np.ndarray:
    """(N, 1, S, S) masks -> (N, 4) ink extents x0, x1, y0, y1 in px (x1, y1 exclusive); a mask
    with no ink gets a centred box half the side wide and high."""
    ink = (masks[:, 0] > 0.5).cpu().numpy()
    n, s = ink.shape[0], ink.shape[-1]
    out = np.tile(np.array([s / 4, 3 * s / 4, s / 4, 3 * s / 4], float), (n, 1))
    for i in range(n):
        cols, rows = np.flatnonzero(ink[i].any(0)), np.flatnonzero(ink[i].any(1))
        if len(cols):
            out[i] = (cols[0], cols[-1] + 1, rows[0], rows[-1] + 1)
    return out


def metrics_from_extents(extents: np.ndarray, native: np.ndarray, groups: np.ndarray) -> Metrics:
    """Extents (px at each glyph's model's native size ``native``) -> Metrics in caps.

    ``groups`` labels the model of each glyph: scales are set against that model's median height,
    so the letters and the digits each come out one cap high.
    """
    height = np.maximum(extents[:, 3] - extents[:, 2], 1.0)
    unit = np.zeros(len(extents))
    for group in np.unique(groups):
        chosen = groups == group
        median = float(np.median(height[chosen]))
        unit[chosen] = np.clip(median / height[chosen], 2 / 3, 1.5) / median  # caps per native px
    width = (extents[:, 1] - extents[:, 0]) * unit
    empty = (extents[:, 1] - extents[:, 0]) <= 0
    width[empty] = BLANK_WIDTH
    return Metrics(side=native * unit, left=extents[:, 0] * unit, bottom=extents[:, 3] * unit, width=width)


# Arranging -------------------------------------------------------------------------------------

@dataclass
class Layout:
    width: int
    height: int
    cap: float                      # cap height, px
    glyphs: list[Glyph]
    lines: int
    baselines: list[float]          # px, one per line
    line_words: list[list[int]]     # word indices on each line


def arrange(text: Text, metrics: Metrics, width: int, height: int, *, margin: float, align: str,
            letter_size: float, tracking: float, word_space: float, line_spacing: float,
            max_cap: float | None = None) -> Layout:
    """Place every glyph: wrap words into lines, size the cap height, align lines, centre the block.

    ``margin`` is a fraction of the shorter side; ``letter_size`` the cap height in px (0: the
    largest that fits, up to ``max_cap``).
    """
    pad = margin * min(width, height)
    avail_w, avail_h = width - 2 * pad, height - 2 * pad
    if avail_w < MIN_CAP or avail_h < MIN_CAP:
        raise CgnArtError(f"the margin {margin:g} leaves no room on a {width}x{height} canvas: make it smaller")
    words = []  # (width in caps, items) per word, with paragraph starts marked
    for p, paragraph in enumerate(text.paragraphs):
        for w, items in enumerate(paragraph):
            advances = [metrics.width[i] if i is not None else PUNCTUATION_GAP for i in items]
            words.append((sum(advances) + tracking * (len(items) - 1), items, w == 0 and p > 0))
        if not paragraph and p > 0:
            words.append((0.0, [], True))  # an empty line keeps its place

    def wrap(limit: float) -> list[list[int]]:
        lines: list[list[int]] = []
        used = 0.0
        for k, (w, items, new_line) in enumerate(words):
            if not lines or new_line or (lines[-1] and used + word_space + w > limit):
                lines.append([])
                used = 0.0
            used += (word_space if lines[-1] else 0.0) + w
            if items:
                lines[-1].append(k)
        return lines

    def line_width(line: list[int]) -> float:
        return sum(words[k][0] for k in line) + word_space * max(0, len(line) - 1)

    def fits(cap: float) -> bool:
        lines = wrap(avail_w / cap)
        return (max(line_width(line) for line in lines) * cap <= avail_w + 1e-6
                and cap * (1 + (len(lines) - 1) * line_spacing) <= avail_h + 1e-6)

    if letter_size:
        cap = float(letter_size)
        if not fits(cap):
            lines = wrap(avail_w / cap)
            widest = max(line_width(line) for line in lines) * cap
            if widest > avail_w:
                raise CgnArtError(f"a word is {widest:.0f} px wide at letter size {letter_size}, wider than the "
                                  f"{avail_w:.0f} px inside the margins: use a smaller letter size (or 0 to fit)")
            raise CgnArtError(f"{len(lines)} lines at letter size {letter_size} need "
                              f"{cap * (1 + (len(lines) - 1) * line_spacing):.0f} px, more than the {avail_h:.0f} px "
                              "inside the margins: use a smaller letter size (or 0 to fit), or a taller format")
    else:
        low, high = MIN_CAP, min(avail_h, max_cap or avail_h)
        if not fits(low):
            raise CgnArtError(f"the text does not fit a {width}x{height} canvas even with {MIN_CAP:g} px letters: "
                              "shorten it or pick a larger format")
        if fits(high):
            low = high
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        cap = low
    lines = wrap(avail_w / cap)
    block = cap * (1 + (len(lines) - 1) * line_spacing)
    top = pad + (avail_h - block) / 2
    baselines, glyphs = [], []
    for number, line in enumerate(lines):
        baseline = top + cap + number * cap * line_spacing
        baselines.append(baseline)
        used = line_width(line) * cap
        pen = pad + {"left": 0.0, "center": (avail_w - used) / 2, "right": avail_w - used}[align]
        for k in line:
            w, items, _ = words[k]
            for i in items:
                if i is None:
                    pen += (PUNCTUATION_GAP + tracking) * cap
                    continue
                g = text.glyphs[i]
                g.line, g.side = number, metrics.side[i] * cap
                g.x, g.y = pen - metrics.left[i] * cap, baseline - metrics.bottom[i] * cap
                glyphs.append(g)
                pen += (metrics.width[i] + tracking) * cap
            pen += (word_space - tracking) * cap
    line_words = [sorted({text.glyphs[i].word for k in line for i in words[k][1] if i is not None}) for line in lines]
    return Layout(width=width, height=height, cap=cap, glyphs=glyphs, lines=len(lines), baselines=baselines,
                  line_words=line_words)
