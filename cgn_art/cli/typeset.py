"""``cgn-art type TEXT -o poster.png``: counterfactual typography posters from the command line.

    cgn-art type "HELLO WORLD" -o poster.png --format portrait --texture-by letter
    cgn-art type "Make the lyrics dance" -o walk.png --texture-by walk --textures 0,7 --align left
    cgn-art type --settings poster.png -o again.png          # the same poster, from a PNG's settings
    cgn-art type --settings poster.png -o story.png --format story   # ... in another format

Every TypeSettings field is a flag; with --settings the PNG's settings come first and the flags
given here change them. A literal \\n in TEXT starts a new line.
"""
from __future__ import annotations

import sys

from cgn_art.cli.common import add_settings_flags
from cgn_art.errors import CgnArtError

FLAGS = ("format", "width", "height", "align", "letter_size", "margin", "tracking", "word_space", "line_spacing",
         "texture_by", "textures", "background_by", "backgrounds", "seed", "letter_seeds", "truncation",
         "texture_scale", "material_scale")


def add_commands(commands) -> None:
    from cgn_art.typeset.settings import ALIGNS, BACKGROUND_BY, FORMATS, HELP, LIMITS, TEXTURE_BY, TypeSettings

    p = commands.add_parser("type", help="a typography poster: TEXT set in Letters-CGN masks, textured by the CGN",
                            description="Set TEXT with the Letters CGN: each letter a shape-mechanism mask, painted by "
                                        "the texture and background mechanisms. Writes a PNG with its settings inside.")
    p.add_argument("text", nargs="?", help="the words (lowercase becomes capitals; a literal \\n starts a new line)")
    p.add_argument("-o", "--output", default="poster.png", help="the PNG to write (default: %(default)s)")
    p.add_argument("--settings", metavar="POSTER.png", help="start from the settings inside a poster PNG")
    p.add_argument("--model", default=None, help="the letters model: 'letters' (shipped) or a model folder "
                   "(default: the PNG's, else letters)")
    p.add_argument("--no-digits", action="store_true", help="skip digits instead of drawing them with the "
                   "shipped digit-shape model")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    p.add_argument("--show", action="store_true", help="open the poster in the system viewer")
    choices = {"format": list(FORMATS), "align": list(ALIGNS), "texture_by": list(TEXTURE_BY),
               "background_by": list(BACKGROUND_BY)}
    # as text: TypeSettings reads each value itself (a class or letter name needs the model)
    add_settings_flags(p, TypeSettings, HELP, choices, names=FLAGS, as_text=True, limits=LIMITS,
                       none_shown="the model's")
    p.set_defaults(run=run)


def settings_from(args, model):
    """TypeSettings from the PNG (if any), the text and the flags, validated once in the library."""
    from cgn_art.typeset.settings import TypeSettings, parse_field

    base = {}
    if args.settings:
        from cgn_art.io import read_png_settings
        from cgn_art.typeset import KIND

        base = read_png_settings(args.settings)
        if base.get("kind") != KIND:
            raise CgnArtError(f"{args.settings}: its settings are not a cgn-art type poster's (made by another job?)")
    values = {k: v for k, v in base.items() if k in {f for f in TypeSettings.__dataclass_fields__}}
    if args.text is not None:
        values["text"] = args.text.replace("\\n", "\n")
    elif not args.settings:
        raise CgnArtError("give the TEXT to set (e.g. cgn-art type \"HELLO WORLD\"), or --settings POSTER.png")
    for name in FLAGS:
        text = getattr(args, name)
        if text is not None:
            values[name] = parse_field(name, text, model)
    if args.format is None and (args.width or args.height):
        values["format"] = "custom"  # --width/--height alone mean a custom canvas
    return TypeSettings.from_dict(values, model)


def run(args) -> int:
    from cgn_art.cli.common import png_path
    from cgn_art.io import read_png_settings, save_png
    from cgn_art.typeset import LETTERS, load_digits, load_letters, render_poster

    out = png_path(args.output)
    source = args.model or (read_png_settings(args.settings).get("model") if args.settings else None) or LETTERS
    model = load_letters(source, device=args.device)
    settings = settings_from(args, model)
    digits = None if args.no_digits else load_digits(device=args.device)
    poster = render_poster(model, settings, digits)
    if poster.warning:
        print(f"cgn-art: warning: {poster.warning}", file=sys.stderr)
    save_png(poster.image, out, poster.metadata())
    layout = poster.layout
    print(f"{out}: {layout.width}x{layout.height}, {len(layout.glyphs)} letters on {layout.lines} line(s), "
          f"letters {layout.cap:.0f} px high")
    if args.show:
        poster.image.show()
    return 0


# Lyric videos: `cgn-art dance SONG --lyrics song.lrc` (the flags and inputs live here, next to `type`)

def add_lyrics_flags(p) -> None:
    from cgn_art.lyrics import PLAIN_TIMINGS

    p.add_argument("--lyrics", metavar="LYRICS", help="make a lyric video: an LRC file ([mm:ss.xx] lines, "
                   "<mm:ss.xx> word times) or plain text (timed by --lyrics-timing); the model is then the "
                   "Letters CGN unless --model names another letters model")
    p.add_argument("--lyrics-timing", choices=PLAIN_TIMINGS, default=None,
                   help="plain-text lyrics: one word per beat or per bar (default: beat)")


def lyric_inputs(args, sidecar: dict | None):
    """(lyrics, letters model, digit model) for a lyric video, or (None, None, None) for a plain dance.

    Lyrics come from --lyrics, else from a sidecar that recorded them (so --settings repeats a lyric
    video exactly); the model and digit model likewise."""
    from cgn_art.lyrics import lyrics_from_record, read_lyrics
    from cgn_art.typeset import LETTERS, load_letters

    record = (sidecar or {}).get("lyrics")
    if args.lyrics:
        lyrics = read_lyrics(args.lyrics, timing=args.lyrics_timing or "beat")
    elif record:
        lyrics = lyrics_from_record({**record, "timing": args.lyrics_timing or record.get("timing")})
    else:
        if args.lyrics_timing:
            raise CgnArtError("--lyrics-timing needs --lyrics (a plain-text lyrics file)")
        return None, None, None
    model = load_letters(args.model or (sidecar or {}).get("model") or LETTERS, device=args.device)
    from cgn_art.mechanisms.weights import load_model
    from cgn_art.typeset import digit_model_name

    digits = record.get("digit_model") if record and not args.lyrics else digit_model_name()
    digit_model = load_model(digits, device=args.device) if digits else None
    return lyrics, model, digit_model
