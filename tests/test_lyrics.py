"""Lyrics: LRC (line and enhanced word stamps, offsets, repeats), plain text timed to beats or bars,
and one clear message for each kind of bad file."""
from __future__ import annotations

import pytest

from cgn_art.errors import CgnArtError
from cgn_art.lyrics import decode_lyrics, lyrics_from_record, parse_lyrics, read_lyrics, time_plain_text

LRC = """[ti:Demo]
[ar:cgn-art]
[length: 00:20]
[00:01.00]Hello world
[00:04.50]Make the <00:05.00>lyrics <00:05.50>dance
[00:08.00][00:12.00]again
[00:10.00]
"""


def test_lrc_lines_words_repeats_and_blank_lines():
    lyrics = parse_lyrics(LRC)
    assert lyrics.kind == "lrc"
    assert [(line.time, line.text) for line in lyrics.lines] == [
        (1.0, "Hello world"), (4.5, "Make the lyrics dance"), (8.0, "again"), (10.0, ""), (12.0, "again")]
    words = lyrics.lines[1].words
    assert [(w.time, w.text) for w in words] == [(4.5, "Make"), (4.5, "the"), (5.0, "lyrics"), (5.5, "dance")]
    assert [w.text for w in lyrics.lines[1].visible_words(5.2)] == ["Make", "the", "lyrics"]
    assert lyrics.line_at(0.5) is None
    assert lyrics.line_at(4.6).text.startswith("Make")
    assert lyrics.line_at(10.5).text == ""  # a stamp with no text clears the screen
    assert lyrics.last_time == 12.0


def test_stamp_variants_and_offset():
    lyrics = parse_lyrics("[offset:+500]\n[1:02.5]A\n[01:03:25]B\n[01:04]C")
    assert [round(line.time, 3) for line in lyrics.lines] == [62.0, 62.75, 63.5]
    late = parse_lyrics("[offset:-250]\n[00:01.00]A")
    assert late.lines[0].time == 1.25


def test_plain_text_is_timed_per_beat_or_per_bar():
    lyrics = parse_lyrics("[Verse 1]\nHello world\n\nMake it dance\n")
    assert lyrics.kind == "plain" and len(lyrics.lines) == 2
    beats = [0.5 * i for i in range(1, 20)]
    timed = time_plain_text(lyrics, beats, beats[::4], start=10.0)
    assert [w.time for line in timed.lines for w in line.words] == [10.5, 11.0, 11.5, 12.0, 12.5]
    assert timed.lines[1].time == 11.5
    bars = time_plain_text(parse_lyrics("Hello world", timing="bar"), beats, beats[::4])
    assert [w.time for w in bars.lines[0].words] == [0.5, 2.5]
    with pytest.raises(CgnArtError, match="5 words but the song .* only 2 beats"):
        time_plain_text(lyrics, [1.0, 2.0], [1.0])
    assert time_plain_text(parse_lyrics(LRC), [], []).lines[0].time == 1.0  # LRC is already timed


@pytest.mark.parametrize("text, message", [
    ("[00:01.00]ok\nno stamp here", "line 2: 'no stamp here' has no \\[mm:ss.xx\\] timestamp"),
    ("[00:61.00]late", "line 1: the stamp 00:61.00 has 61.00 seconds"),
    ("[00:01.00]ok\n[0x:12]bad", "line 2: '\\[0x:12\\]bad' has a malformed timestamp"),
    ("[00:05.00]a <00:04.00>b", "word times must not go backwards"),
    ("[00:05.00]a <00:0x.00>b", "malformed word time"),
    ("[00:01.00]a [00:02.00] b", "stamp in the middle of the line"),
    ("[offset:soon]\n[00:01.00]a", "not a whole number of milliseconds"),
    ("[ti:Only tags]\n[00:01.00", "has a malformed timestamp"),
    ("   \n\n", "is empty"),
])
def test_bad_lrc_files_get_one_clear_message(text, message):
    with pytest.raises(CgnArtError, match=message) as caught:
        parse_lyrics(text, name="song.lrc")
    assert "\n" not in str(caught.value)


def test_bad_bytes_empty_binary_other_encodings(tmp_path):
    with pytest.raises(CgnArtError, match="is empty"):
        decode_lyrics(b"", "song.lrc")
    with pytest.raises(CgnArtError, match="binary file"):
        decode_lyrics(bytes(range(256)) * 4, "song.lrc")
    with pytest.raises(CgnArtError, match="binary file"):
        decode_lyrics(b"\x01\x02\x03\x04\x05 not really text \x06\x07", "song.lrc")
    with pytest.raises(CgnArtError, match="not UTF-8 text .*Latin-1"):
        decode_lyrics("[00:01.00]Ça va très bien".encode("latin-1"), "song.lrc")
    assert decode_lyrics("[00:01.00]Ça va".encode("utf-16"), "song.lrc") == "[00:01.00]Ça va"
    assert decode_lyrics("\ufeff[00:01.00]Hi".encode("utf-8"), "song.lrc") == "[00:01.00]Hi"
    with pytest.raises(CgnArtError, match="kB"):
        decode_lyrics(b"a" * 300_000, "song.lrc")
    with pytest.raises(CgnArtError, match="not found"):
        read_lyrics(tmp_path / "missing.lrc")
    (tmp_path / "song.lrc").write_text(LRC, encoding="utf-8")
    assert read_lyrics(tmp_path / "song.lrc").lines[0].text == "Hello world"


def test_times_past_the_songs_end_are_caught():
    lyrics = parse_lyrics(LRC)
    lyrics.check_duration(20.0)
    with pytest.raises(CgnArtError, match="line 5 .*timed at 00:12.00, past the song's end \\(00:11.00\\)"):
        lyrics.check_duration(11.0)


def test_a_sidecar_record_gives_the_same_lyrics():
    lyrics = parse_lyrics("one two\nthree", timing="bar")
    again = lyrics_from_record(lyrics.record())
    assert again.source == lyrics.source and again.timing == "bar" and again.kind == "plain"
    assert lyrics.record()["sha256"] == again.sha256()
    with pytest.raises(CgnArtError, match="sidecar's lyrics"):
        lyrics_from_record({"text": 3})
