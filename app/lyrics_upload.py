"""The Latent Dance page's lyrics upload: an LRC or plain-text file turns the dance into a lyric video."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from common import get_model, state_key

from cgn_art.audio import AUDIO_SUFFIXES, audio_duration
from cgn_art.errors import CgnArtError
from cgn_art.lyrics import MAX_BYTES, PLAIN_TIMINGS, decode_lyrics, parse_lyrics
from cgn_art.typeset import LETTERS, NOT_SHIPPED, digit_model_name, is_letters_model, letters_status

TIMING_HELP = "Plain text has no times: show one more word on every beat, or on every bar (four beats)."


def lyrics_upload(model, song: Path):
    """(lyrics, letters model, digit model) when a lyrics file is uploaded, else (None, None, None).

    Raises CgnArtError (one line) for a bad file, times past the song's end, or no letters model."""
    # No type filter: the browser would refuse a song dropped here with only a red icon, and this is
    # the one drop zone in sight while the page is still switching to "Upload a song". Say it in words.
    upload = st.file_uploader(
        "Lyrics (optional): LRC or plain text", key=state_key("dance", "lyrics"),
        help="Makes a lyric video: each line (and, with <mm:ss.xx> word times, each word) appears at its time in "
             "the Letters CGN's letters, which pulse on onsets. LRC lines start with [mm:ss.xx]; plain text is "
             f"timed to the beat. Up to {MAX_BYTES // 1024} kB, UTF-8.")
    if upload is None:
        return None, None, None
    if Path(upload.name).suffix.lower() in AUDIO_SUFFIXES:
        raise CgnArtError(f"{upload.name} is a song, not lyrics: remove it here, pick \"Upload a song\" above and "
                          "drop it on the Song box; lyrics are an .lrc or a plain .txt file")
    text = decode_lyrics(upload.getvalue(), upload.name)
    lyrics = parse_lyrics(text, name=upload.name)
    if lyrics.kind == "plain":
        timing = st.selectbox("Plain-text lyrics: one word per", PLAIN_TIMINGS, key=state_key("dance", "lyrics_timing"),
                              help=TIMING_HELP)
        lyrics = parse_lyrics(text, timing=timing, name=upload.name)
    else:
        lyrics.check_duration(audio_duration(song))
    if is_letters_model(model):
        letters = model
    elif letters_status()[0]:
        letters = get_model(LETTERS)
    else:
        raise CgnArtError(f"lyric videos need letters: {NOT_SHIPPED}")
    digits = digit_model_name()
    st.caption(f"Lyric video: {len(lyrics.lines)} line(s) from {upload.name} ({lyrics.kind.upper()}), set in the "
               "letters model's letters; its texture and background dance as below.")
    return lyrics, letters, get_model(digits) if digits else None
