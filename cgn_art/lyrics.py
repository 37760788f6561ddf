"""Lyrics for lyric videos: LRC files (line and word timestamps) and plain text (timed to the beat).

A :class:`Lyrics` is a list of lines, each with the song time it appears at and its words, each
word with its own time (a line without word times shows all its words at the line's time).
Times are seconds from the start of the song file.

- LRC: ``[mm:ss.xx]text`` lines (several stamps on one line repeat it), the word tags
  ``<mm:ss.xx>`` of enhanced LRC, ``[offset:+/-ms]``; other ``[tag:value]`` lines (ar, ti, al,
  by, length, ...) are metadata and ignored. A stamp with no text clears the screen.
- Plain text: one lyric line per text line; the words get their times from the song's beats
  (one word per beat) or bars (one word per downbeat) with :func:`time_plain_text`.

Every mistake (no stamps where expected, a malformed or out-of-order stamp, times past the song's
end, an empty, binary or non-UTF-8 file) is one CgnArtError naming the line.

>>> lyrics = parse_lyrics("[00:01.00]HELLO <00:01.50>WORLD\\n[00:03.00]BYE")
>>> [(line.time, line.text) for line in lyrics.lines]
[(1.0, 'HELLO WORLD'), (3.0, 'BYE')]
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import choice

MAX_BYTES = 256 * 1024          # a song's lyrics are a few kB; anything near this is not lyrics
MAX_LINE_CHARS = 200
PLAIN_TIMINGS = ("beat", "bar")

_STAMP = re.compile(r"\[(\d+):(\d+(?:[.:]\d+)?)\]")
_WORD_STAMP = re.compile(r"<(\d+):(\d+(?:[.:]\d+)?)>")
_TAG = re.compile(r"^\[([A-Za-z#]+):(.*)\]\s*$")
_LOOSE_STAMP = re.compile(r"^\s*\[[^\]]*\]?")
_LRC_START = re.compile(r"^\s*\[(\d+:|[A-Za-z#]+:)")


@dataclass
class Word:
    time: float
    text: str


@dataclass
class Line:
    time: float
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    def visible_words(self, t: float) -> list[Word]:
        return [word for word in self.words if word.time <= t]


@dataclass
class Lyrics:
    """Timed lyric lines, plus the text they came from (the sidecar stores it, so a render repeats)."""

    lines: list[Line]
    source: str = ""            # the text as read
    kind: str = "lrc"           # 'lrc' or 'plain'
    timing: str = ""            # for plain text: 'beat' or 'bar'

    @property
    def last_time(self) -> float:
        """The latest time anything happens (a line or a word appears)."""
        return max([line.time for line in self.lines] + [w.time for line in self.lines for w in line.words],
                   default=0.0)

    def line_at(self, t: float) -> Line | None:
        """The line on screen at song time ``t`` (the last one that has started), or None."""
        current = None
        for line in self.lines:
            if line.time <= t:
                current = line
            else:
                break
        return current

    def check_duration(self, duration: float) -> Lyrics:
        """Raise if anything is timed past the song's end (``duration`` seconds)."""
        for number, line in enumerate(self.lines, 1):
            late = max([line.time] + [w.time for w in line.words])
            if late > duration + 1e-6:
                raise CgnArtError(f"lyric line {number} ({line.text[:30]!r}) is timed at {format_time(late)}, past "
                                  f"the song's end ({format_time(duration)}): fix its timestamp or use the right song")
        return self

    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def record(self) -> dict:
        """What a sidecar stores: enough to time the same words again."""
        return {"kind": self.kind, "timing": self.timing, "text": self.source, "sha256": self.sha256(),
                "lines": len(self.lines)}


def format_time(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, float(seconds)), 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


# Reading --------------------------------------------------------------------------------------

def decode_lyrics(data: bytes, name: str = "the lyrics file") -> str:
    """Bytes -> text, with one clear message for empty, binary and non-UTF-8 files."""
    if len(data) > MAX_BYTES:
        raise CgnArtError(f"{name} is {len(data) / 1024:.0f} kB: lyrics are a few kB of text (LRC or plain); "
                          "is this the right file?")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise CgnArtError(f"{name} claims to be UTF-16 but is not readable as such: "
                              "save it as UTF-8 text") from None
    else:
        if b"\x00" in data[:4096]:
            raise CgnArtError(f"{name} is a binary file, not lyrics: give an .lrc or a plain .txt file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise CgnArtError(f"{name} is not UTF-8 text (byte {e.start} reads {data[e.start:e.start + 1]!r}; "
                              "another encoding such as Latin-1 or Windows-1252?): save it as UTF-8 and try "
                              "again") from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t")
    if controls > max(2, len(text) // 100):
        raise CgnArtError(f"{name} is a binary file, not lyrics: give an .lrc or a plain .txt file")
    if not text.strip():
        raise CgnArtError(f"{name} is empty: give lyrics as LRC ([mm:ss.xx] lines) or as plain text")
    return text


def read_lyrics(path, timing: str = "beat") -> Lyrics:
    """Read an LRC or plain-text lyrics file. Plain text still needs :func:`time_plain_text`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CgnArtError(f"lyrics file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise CgnArtError(f"lyrics file {str(path)!r} is a folder: give an .lrc or .txt file") from None
    return parse_lyrics(decode_lyrics(data, path.name), timing=timing, name=path.name)


def is_lrc(text: str) -> bool:
    """True when any line starts like LRC: a stamp ``[mm:`` or a tag such as ``[ti:``."""
    return any(_LRC_START.match(line) for line in text.splitlines())


def parse_lyrics(text: str, timing: str = "beat", name: str = "the lyrics") -> Lyrics:
    """LRC when any line starts with a timestamp, else plain text (words still untimed)."""
    timing = choice("lyric timing", timing, PLAIN_TIMINGS)
    if not text.strip():
        raise CgnArtError(f"{name} is empty: give lyrics as LRC ([mm:ss.xx] lines) or as plain text")
    return parse_lrc(text, name) if is_lrc(text) else parse_plain(text, timing, name)


def _seconds(minutes: str, seconds: str, where: str) -> float:
    seconds = seconds.replace(":", ".")  # [mm:ss:xx] is a common variant
    value = int(minutes) * 60 + float(seconds)
    if float(seconds) >= 60:
        raise CgnArtError(f"{where}: the stamp {minutes}:{seconds} has {seconds} seconds; seconds go from 00 to 59.99")
    return value


def parse_lrc(text: str, name: str = "the lyrics") -> Lyrics:
    """Parse LRC (and enhanced LRC word tags). See the module docstring."""
    offset = 0.0
    entries: list[tuple[float, int, list[Word]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name}, line {number}"
        if not line:
            continue
        tag = _TAG.match(line)
        if tag and not _STAMP.match(line):
            if tag.group(1).lower() == "offset":
                try:
                    offset = int(tag.group(2).strip()) / 1000.0
                except ValueError:
                    raise CgnArtError(f"{where}: [offset:{tag.group(2)}] "
                                      "is not a whole number of milliseconds") from None
            continue
        stamps = []
        rest = line
        while True:
            match = _STAMP.match(rest)
            if not match:
                break
            stamps.append(_seconds(match.group(1), match.group(2), where))
            rest = rest[match.end():]
        if not stamps:
            if _LOOSE_STAMP.match(line):
                raise CgnArtError(f"{where}: {line[:30]!r} has a malformed timestamp; write it as [mm:ss.xx]")
            raise CgnArtError(f"{where}: {line[:30]!r} has no [mm:ss.xx] timestamp; in an LRC file every lyric line "
                              "starts with one (or give plain text with no timestamps at all)")
        if len(rest) > MAX_LINE_CHARS:
            raise CgnArtError(f"{where} is {len(rest)} characters long: a lyric line holds at most {MAX_LINE_CHARS}")
        if "[" in rest and _STAMP.search(rest):
            raise CgnArtError(f"{where}: a [mm:ss.xx] stamp in the middle of the line; put stamps at its start "
                              "(word times go in <mm:ss.xx> tags)")
        for i, start in enumerate(stamps):
            entries.append((start, number * 1000 + i, _words(rest, start, where)))
    if not entries:
        raise CgnArtError(f"{name} has LRC tags but no timed lyric lines")
    entries.sort(key=lambda e: (e[0], e[1]))

    def shift(t):
        return max(0.0, t - offset)

    lines = []
    for start, _, words in entries:
        lines.append(Line(time=shift(start), words=[Word(shift(w.time), w.text) for w in words]))
    return Lyrics(lines=lines, source=text, kind="lrc")


def _words(rest: str, start: float, where: str) -> list[Word]:
    """The words of one LRC line; <mm:ss.xx> tags time the words after them."""
    words: list[Word] = []
    now = start
    position = 0
    for match in _WORD_STAMP.finditer(rest):
        words += [Word(now, w) for w in rest[position:match.start()].split()]
        t = _seconds(match.group(1), match.group(2), where)
        if t < now - 1e-6:
            raise CgnArtError(f"{where}: the word time <{match.group(1)}:{match.group(2)}> comes before the time "
                              f"before it ({format_time(now)}); word times must not go backwards")
        now = t
        position = match.end()
    words += [Word(now, w) for w in rest[position:].split()]
    if "<" in rest and re.search(r"<[^>]*>", _WORD_STAMP.sub("", rest)):
        raise CgnArtError(f"{where}: a malformed word time; write it as <mm:ss.xx>")
    return words


def parse_plain(text: str, timing: str = "beat", name: str = "the lyrics") -> Lyrics:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split()
        if not words or re.fullmatch(r"\s*[\[(].*[\])]\s*", raw):
            continue  # blank, or a section marker such as [Chorus]
        if len(raw.strip()) > MAX_LINE_CHARS:
            raise CgnArtError(f"{name}, line {number} is {len(raw.strip())} characters long: a lyric line holds at "
                              f"most {MAX_LINE_CHARS}")
        lines.append(Line(time=0.0, words=[Word(0.0, w) for w in words]))
    if not lines:
        raise CgnArtError(f"{name} is empty: give lyrics as LRC ([mm:ss.xx] lines) or as plain text")
    return Lyrics(lines=lines, source=text, kind="plain", timing=timing)


def time_plain_text(lyrics: Lyrics, beats, downbeats, start: float = 0.0) -> Lyrics:
    """Time plain-text lyrics: one word per beat (or per bar), line after line.

    ``beats``/``downbeats``: event times in seconds from ``start`` (as AudioFeatures gives them);
    the result is in song time. LRC lyrics come back unchanged.
    """
    if lyrics.kind != "plain":
        return lyrics
    grid = [float(t) + start for t in (downbeats if lyrics.timing == "bar" else beats)]
    count = sum(len(line.words) for line in lyrics.lines)
    if count > len(grid):
        unit = "bars" if lyrics.timing == "bar" else "beats"
        raise CgnArtError(f"the lyrics have {count} words but the song (stretch) has only {len(grid)} {unit}: "
                          f"{'time them per beat, ' if lyrics.timing == 'bar' else ''}shorten the lyrics, or give an "
                          "LRC file with timestamps")
    lines, i = [], 0
    for line in lyrics.lines:
        words = [Word(grid[i + k], word.text) for k, word in enumerate(line.words)]
        i += len(words)
        lines.append(Line(time=words[0].time, words=words))
    return Lyrics(lines=lines, source=lyrics.source, kind="plain", timing=lyrics.timing)


def lyrics_from_record(record: dict) -> Lyrics:
    """The lyrics a sidecar recorded (see :meth:`Lyrics.record`), untimed if plain."""
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise CgnArtError("the sidecar's lyrics entry is not readable: give the lyrics file with --lyrics")
    return parse_lyrics(record["text"], timing=record.get("timing") or "beat", name="the sidecar's lyrics")
