"""``cgn-art dance SONG -o OUT.mp4``: the Counterfactual Latent Dance from the command line.

    cgn-art dance song.mp3 -o song.mp4 --preset punchy --size 512 --start 30 --duration 60
    cgn-art dance song.mp3 -o big.mp4 --settings song.json --size 1080   # the same dance, larger
    cgn-art dance song.mp3 -o x.mp4 --set shape.pulse=beats --set texture.classes=0,2,5
    cgn-art dance --demo-song -o demo.mp4                                 # the shipped demo song
    cgn-art dance song.mp3 --lyrics song.lrc -o lyrics.mp4                # a lyric video (Letters CGN)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cgn_art.audio.demo_song import SHIPPED as DEMO_SONG
from cgn_art.cli.common import add_settings_flags, output_path, stops_on_signals
from cgn_art.cli.progress import ProgressBar
from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import MAX_SEED

# DanceSettings' top-level fields that are flags (the mappings are changed with --set).
FLAGS = ("size", "fps", "start", "duration", "seed", "truncation", "max_duration", "material_scale")
FLAG_HELP = {
    "size": "video side in pixels, even",
    "fps": "frames per second",
    "start": "start of the stretch in seconds",
    "duration": "length of the stretch in seconds",
    "seed": f"seed of every noise walk, 0 to {MAX_SEED}",
    "truncation": "noise truncation in (0, 1]; a preset may set its own",
    "max_duration": "longest stretch allowed, seconds",
    "material_scale": "lyric videos with a model of materials: 0 crisp (the material's own pixels), 1 as large "
                      "as at the model's native size",
}


def add_commands(commands) -> None:
    from cgn_art.dance.settings import LIMITS, PRESETS, DanceSettings

    p = commands.add_parser("dance", help="a music video: the CGN's three mechanisms dance to a song",
                            description="Render a music-synchronised CGN video (H.264 + AAC mp4) and a JSON "
                                        "sidecar that re-renders it exactly.")
    p.add_argument("song", nargs="?", help="an audio file: wav, mp3, ogg, flac or m4a")
    p.add_argument("--demo-song", action="store_true", help="use the shipped 20 s demo song instead of SONG")
    p.add_argument("-o", "--output", default="dance.mp4", help="the mp4 to write (default: %(default)s); "
                   "the sidecar goes next to it as .json")
    p.add_argument("--preset", choices=list(PRESETS), default=None, help="a mapping preset (default: groove)")
    p.add_argument("--settings", metavar="SIDECAR.json", help="start from a dance sidecar's settings "
                   "(the song must be the same file); flags given here change them")
    # The stretch and format come from DanceSettings' fields; the text goes to the settings, which read it.
    add_settings_flags(p, DanceSettings, FLAG_HELP, names=FLAGS, as_text=True,
                       limits={name: LIMITS[name] for name in ("size", "fps")}, none_shown="to the end")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one mapping setting, e.g. shape.pulse=beats, texture.classes=0,3,7, "
                        "background.speed=0.5 (repeatable)")
    p.add_argument("--preview", type=float, metavar="SECONDS", help="render only the first SECONDS")
    p.add_argument("--model", default=None, help="a shipped model's name or a model folder "
                   "(default: the sidecar's model, else letters, the shipped Letters CGN)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    p.add_argument("--no-reuse", action="store_true", help="recompute every mechanism every frame (for comparisons)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    from cgn_art.cli.typeset import add_lyrics_flags

    add_lyrics_flags(p)
    p.set_defaults(run=run)


def settings_from(args):
    """DanceSettings from a sidecar or preset, then the flags, then --set (validated once, in the library)."""
    from cgn_art.dance import DanceSettings, read_sidecar

    sidecar = None
    if args.settings:
        settings, sidecar = read_sidecar(args.settings)
        if args.preset:
            settings = DanceSettings.from_preset(args.preset)
    else:
        settings = DanceSettings.from_preset(args.preset or "groove")
    changes = {key: getattr(args, key) for key in FLAGS if getattr(args, key) is not None}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise CgnArtError(f"--set {item!r} is not KEY=VALUE (e.g. shape.pulse=beats)")
        changes[key.strip()] = value
    return settings.with_changes(changes), sidecar


@stops_on_signals
def run(args) -> int:
    from cgn_art.audio import file_hash
    from cgn_art.dance import check_song_matches, render_dance
    from cgn_art.mechanisms.weights import DEFAULT_MODEL, load_model

    song = DEMO_SONG if args.demo_song else args.song
    if not song:
        raise CgnArtError("give a song file (wav, mp3, ogg, flac or m4a), or --demo-song")
    if not Path(song).is_file():
        raise CgnArtError(f"song {str(song)!r} not found")
    output_path(args.output, ".mp4", "video")  # before the work, not after it
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    settings, sidecar = settings_from(args)
    if sidecar is not None:
        check_song_matches(sidecar, file_hash(song))
    from cgn_art.cli.typeset import lyric_inputs

    lyrics, model, digit_model = lyric_inputs(args, sidecar)
    if lyrics is None:
        model = load_model(args.model or (sidecar or {}).get("model") or DEFAULT_MODEL, device=args.device)
    started = time.perf_counter()
    with ProgressBar("dance") as progress:
        result = render_dance(model, song, args.output, settings, progress=progress,
                              reuse_unchanged=not args.no_reuse, preview_seconds=args.preview,
                              lyrics=lyrics, digit_model=digit_model)
    if result.warning:
        print(f"cgn-art: warning: {result.warning}", file=sys.stderr)
    print(f"{result.video}: {result.frames} frames, {result.seconds:.1f} s at {settings.size} px "
          f"({time.perf_counter() - started:.1f} s); settings in {result.sidecar}")
    return 0
