"""``cgn-art stylize|stylize-walk``: repaint a photo with a CGN texture, as a PNG or a texture-walk mp4.

    cgn-art stylize photo.jpg -o out.png --texture-class "blue coins" --size 512 --strength 2
    cgn-art stylize demo:chelsea -o cat.png --texture-image brick.jpg --keep-colors
    cgn-art stylize-walk photo.jpg -o walk.mp4 --texture-class 0 --to-class 5 --seconds 4 --fps 12
    cgn-art stylize cat.jpg -o out.png --texture-class brick --background-texture-class galaxy \
        --subject-box 40,10,420,300 --save-mask mask.png      (or --subject-mask mask.png)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cgn_art.cli.common import add_settings_flags, output_path, png_path, resolve_class, stops_on_signals
from cgn_art.cli.progress import ProgressBar
from cgn_art.errors import CgnArtError

# Flags that map one-to-one onto StylizeSettings fields (classes are resolved by name separately).
NUMBER_FIELDS = ("size", "blend", "texture_seed", "truncation", "texture_scale", "strength", "content_weight",
                 "smoothness", "steps", "levels", "seed")
CHOICE_FIELDS = ("colors", "optimizer", "encoder")


def _add_stylize_flags(p: argparse.ArgumentParser) -> None:
    from cgn_art.mechanisms.weights import DEFAULT_MODEL
    from cgn_art.stylize import COLORS, ENCODERS, HELP, OPTIMIZERS, StylizeSettings

    defaults = StylizeSettings()
    p.add_argument("photo", metavar="PHOTO",
                   help="the photo: a JPEG, PNG or WebP file, or demo:NAME "
                        "(astronaut, chelsea, coffee, rocket, china, flower)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="the CGN whose textures to use (default: %(default)s)")
    p.add_argument("--texture-class", default=None, metavar="CLASS",
                   help=f"{HELP['texture_class']} (default: {defaults.texture_class})")
    p.add_argument("--blend-class", default=None, metavar="CLASS", help=HELP["blend_class"])
    p.add_argument("--texture-image", default=None, metavar="FILE",
                   help="use this image as the texture instead of the CGN's (JPEG, PNG, WebP)")
    add_settings_flags(p, StylizeSettings, HELP, dict(zip(CHOICE_FIELDS, (COLORS, OPTIMIZERS, ENCODERS))),
                       names=(*NUMBER_FIELDS, *CHOICE_FIELDS))
    p.add_argument("--keep-colors", action="store_true", help="keep the photo's colours (same as --colors luminance)")
    p.add_argument("--device", default="auto", help=HELP["device"] + " (default: %(default)s)")
    regions = p.add_argument_group("two regions (any of these turns them on)")
    regions.add_argument("--background-texture-class", default=None, metavar="CLASS",
                         help="the background's texture class; without it the background keeps the photo")
    regions.add_argument("--subject-box", default=None, metavar="X0,Y0,X1,Y1", help=HELP["subject_box"])
    regions.add_argument("--subject-mask", default=None, metavar="PNG",
                         help="the subject's mask instead of finding it: a PNG of the photo's shape, white = subject")
    regions.add_argument("--keep-subject-photo", action="store_true", help=HELP["keep_subject_photo"])
    regions.add_argument("--background-mechanism", choices=("texture", "background"), default=None,
                         help="which mechanism's class --background-texture-class names (default: a name of the "
                              "texture mechanism's classes, else of the background mechanism's; an index: texture)")
    add_settings_flags(regions, StylizeSettings, HELP, names=("feather",))


def _prepare(args):
    """(photo, settings, model, texture image, metadata) from the command line."""
    from cgn_art.images import photo_source, read_image
    from cgn_art.mechanisms.weights import load_model
    from cgn_art.stylize import StylizeSettings

    photo = photo_source(args.photo)
    values = {name: getattr(args, name) for name in (*NUMBER_FIELDS, *CHOICE_FIELDS) if getattr(args, name) is not None}
    if args.keep_colors:
        if values.get("colors", "luminance") != "luminance":
            raise CgnArtError(f"--keep-colors and --colors {values['colors']} disagree; give one of them")
        values["colors"] = "luminance"
    texture_image = read_image(Path(args.texture_image)) if args.texture_image else None
    model = load_model(args.model, device=args.device)
    if args.texture_class is not None:
        values["texture_class"] = resolve_class(model, "texture", args.texture_class)
    if args.blend_class is not None:
        values["blend_class"] = resolve_class(model, "texture", args.blend_class)
    two = getattr(args, "background_texture_class", None) is not None or any(
        getattr(args, name, None) for name in ("subject_box", "subject_mask", "keep_subject_photo"))
    if two:
        if args.subject_box and args.subject_mask:
            raise CgnArtError("--subject-box and --subject-mask both say where the subject is; give one of them")
        values.update(regions="two", subject_box=args.subject_box, keep_subject_photo=bool(args.keep_subject_photo))
        if args.background_texture_class is not None:
            mechanism = args.background_mechanism or _mechanism_of(model, args.background_texture_class)
            values["background_mechanism"] = mechanism
            values["background_texture_class"] = resolve_class(model, mechanism, args.background_texture_class)
        if args.feather is not None:
            values["feather"] = args.feather
    settings = StylizeSettings(**values, device=args.device)
    if two:
        from cgn_art.stylize.regions import check_two_regions

        check_two_regions(photo, settings.validate())
    meta = {"photo": Path(args.photo).name if not args.photo.startswith("demo:") else args.photo,
            "model": model.name,
            "texture": Path(args.texture_image).name if texture_image is not None
            else model.class_names["texture"][settings.texture_class]
            if settings.texture_class < model.num_classes("texture")
            else settings.texture_class}
    return photo, settings, model, texture_image, meta


def _mechanism_of(model, text) -> str:
    """"background" if ``text`` names only a background class of the model (e.g. galaxy), else "texture"."""
    name = str(text).strip().lower()
    def lower(kind):
        return [n.lower() for n in model.class_names[kind]]

    return "background" if name not in lower("texture") and name in lower("background") else "texture"


@stops_on_signals
def cmd_stylize(args) -> int:
    from cgn_art.io import save_png
    from cgn_art.stylize import stylize

    out = png_path(args.output)
    mask_out = png_path(args.save_mask) if args.save_mask else None
    photo, settings, model, texture_image, meta = _prepare(args)
    mask = None
    if args.subject_mask:
        from cgn_art.stylize.regions import read_mask

        mask = read_mask(Path(args.subject_mask), photo.width, photo.height, name=Path(args.subject_mask).name)
        meta["subject_mask"] = Path(args.subject_mask).name
    if mask_out and settings.regions != "two":
        raise CgnArtError("--save-mask needs two regions: add --subject-box, --background-texture-class or "
                          "--keep-subject-photo")
    with ProgressBar("stylizing") as progress:
        result = stylize(photo, settings, model=model, texture_image=texture_image, progress=progress, mask=mask)
    print(save_png(result.image, out, {**result.settings, **meta, "style_loss": result.style_loss}))
    if mask_out is not None and result.mask is not None:
        result.mask.save(mask_out)
        print(mask_out)
    print(f"{result.image.width} x {result.image.height} in {result.seconds:.1f} s "
          f"(steps per level, coarse to fine: {result.steps})", file=sys.stderr)
    return 0


@stops_on_signals
def cmd_stylize_walk(args) -> int:
    from cgn_art.stylize.walk import WalkSettings, texture_walk

    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise CgnArtError(f"{args.output}: the texture walk is an mp4 video; give an output name ending in .mp4")
    output_path(out, ".mp4", "video")  # before the work, not after it
    photo, settings, model, texture_image, _meta = _prepare(args)
    if settings.regions == "two":
        raise CgnArtError("the texture walk stylizes the whole photo: drop --background-texture-class, "
                          "--subject-box, --subject-mask and --keep-subject-photo")
    if texture_image is not None:
        raise CgnArtError("--texture-image cannot be walked: the walk moves through the CGN's texture classes or "
                          "seeds; drop --texture-image")
    walk_values = {name: getattr(args, name) for name in ("seconds", "fps", "path", "to_seed", "frame_steps")
                   if getattr(args, name) is not None}
    if args.to_class is not None:
        walk_values["to_class"] = resolve_class(model, "texture", args.to_class)
    walk = WalkSettings(**walk_values, warm_start=not args.no_warm_start)
    with ProgressBar("texture walk") as progress:
        summary = texture_walk(photo, out, settings, walk, model=model, progress=progress)
    print(summary["path"])
    print(f"{summary['frames']} frames, {summary['width']} x {summary['height']}, in {summary['seconds']:.1f} s; "
          f"mean frame-to-frame change {summary['mean_frame_change']:.4f}", file=sys.stderr)
    return 0


def add_commands(commands) -> None:
    from cgn_art.stylize.walk import PATHS, WALK_HELP, WalkSettings

    p = commands.add_parser("stylize", help="repaint a photo with a texture the CGN generates (or an image)",
                            description="Gram-matrix style transfer, coarse to fine. The PNG carries its settings.")
    _add_stylize_flags(p)
    p.add_argument("-o", "--output", default="stylized.png", help="PNG to write (default: %(default)s)")
    p.add_argument("--save-mask", default=None, metavar="PNG",
                   help="two regions: also write the subject's mask (photo size, white = subject)")
    p.set_defaults(run=cmd_stylize)

    walk = WalkSettings()
    p = commands.add_parser("stylize-walk", help="stylize a photo along a walk through texture space, as an mp4",
                            description="Each frame starts from the previous one, so the video stays calm.")
    _add_stylize_flags(p)
    p.add_argument("-o", "--output", default="walk.mp4", help="mp4 to write (default: %(default)s)")
    add_settings_flags(p, WalkSettings, WALK_HELP, {"path": PATHS}, names=("seconds", "fps", "path"))
    # a class is read by name or index against the model, once it is loaded
    p.add_argument("--to-class", default=None, metavar="CLASS",
                   help=f"{WALK_HELP['to_class']} (default: {walk.to_class})")
    add_settings_flags(p, WalkSettings, WALK_HELP, names=("to_seed", "frame_steps"))
    p.add_argument("--no-warm-start", action="store_true", help="start every frame from the photo (flickers more)")
    p.set_defaults(run=cmd_stylize_walk)
