"""``cgn-art materials add|list|remove|preview``: your own textures and backgrounds, from photos.

    cgn-art materials add letters --texture "moss" moss1.jpg moss2.jpg      # -> user model my-letters
    cgn-art materials add my-letters --background "night city" city.jpg --region 0,0.5,1,1
    cgn-art materials list my-letters
    cgn-art materials preview my-letters --texture moss -o moss.png --size 1080
    cgn-art materials remove my-letters --texture moss
    cgn-art type "MOSS" --model my-letters --textures moss -o moss-poster.png

A user model lives in the user-models folder ($CGN_ART_MODELS, default ~/.local/share/cgn-art/models)
and every command and page finds it by name.
"""
from __future__ import annotations

from cgn_art.errors import CgnArtError


def _kind_and_name(args) -> tuple[str, str]:
    given = [(k, v) for k, v in (("texture", args.texture), ("background", args.background)) if v is not None]
    if len(given) != 1:
        raise CgnArtError("name the material with exactly one of --texture NAME or --background NAME")
    return given[0]


def _regions(args, count: int):
    if not args.region:
        return None
    if len(args.region) not in (1, count):
        raise CgnArtError(f"{len(args.region)} --region values for {count} photos: give one for all, or one each")
    return [r.split(",") for r in (args.region * count if len(args.region) == 1 else args.region)]


def cmd_add(args) -> int:
    from pathlib import Path

    from cgn_art.cli.progress import ProgressBar
    from cgn_art.materials.photos import check_material_name
    from cgn_art.materials.store import add_material

    kind, name = _kind_and_name(args)
    check_material_name(name)
    for photo in args.photos:  # a typo is one line, before any bar is drawn
        if not Path(photo).is_file():
            raise CgnArtError(f"{photo}: no such file")
    with ProgressBar(f"adding {kind} {name!r}") as progress:
        path = add_material(args.model, kind, name, [Path(p) for p in args.photos], _regions(args, len(args.photos)),
                            into=args.into, progress=progress)
    print(f"{kind} {name!r} added: model {path.name} at {path}")
    return 0


def cmd_list(args) -> int:
    from cgn_art.materials.store import list_materials, user_models, user_models_dir

    if args.model is None:
        models = user_models()
        print(f"user models in {user_models_dir()}: {', '.join(models) if models else 'none yet'}")
        return 0
    for kind, classes in list_materials(args.model).items():
        print(f"{kind}s: " + ", ".join(f"{n} (yours)" if mine else n for n, mine in classes))
    return 0


def cmd_remove(args) -> int:
    from cgn_art.materials.store import remove_material

    kind, name = _kind_and_name(args)
    path = remove_material(args.model, kind, name)
    print(f"{kind} {name!r} removed from {path.name}")
    return 0


def cmd_preview(args) -> int:
    from cgn_art.cli.common import png_path
    from cgn_art.io import save_png
    from cgn_art.materials.preview import material_preview
    from cgn_art.mechanisms.weights import load_model

    kind, name = _kind_and_name(args)
    model = load_model(args.model, device="cpu")
    image, settings = material_preview(model, kind, name, args.size, seed=args.seed, material_scale=args.scale)
    print(save_png(image, png_path(args.output), settings))
    return 0


def add_commands(commands) -> None:
    p = commands.add_parser("materials", help="your own textures and backgrounds, made from photos",
                            description="Add, list, preview and remove materials: texture or background classes "
                                        "made from 1-20 photos, saved in a user model that every command and page "
                                        "can use (the shape is not retrained).")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def named(q):
        q.add_argument("--texture", metavar="NAME", help="a texture class (what the letters or shapes are made of)")
        q.add_argument("--background", metavar="NAME", help="a background class")

    q = sub.add_parser("add", help="add a material made from photos")
    q.add_argument("model", help="the model to add to: a shipped model (letters makes my-letters) or a user model")
    named(q)
    q.add_argument("photos", nargs="+", help="1-20 JPEG, PNG or WebP photos of the material")
    q.add_argument("--region", action="append", metavar="L,T,R,B",
                   help="the part of the photo to use, as fractions (e.g. 0,0,0.5,1: its left half); once for "
                        "every photo, or once per photo in order")
    q.add_argument("--into", metavar="NAME", help="save as this user model (default: the same user model, or "
                   "my-MODEL for a shipped one)")
    q.set_defaults(run=cmd_add)

    q = sub.add_parser("list", help="list user models, or a model's materials")
    q.add_argument("model", nargs="?", help="a model (default: list the user models)")
    q.set_defaults(run=cmd_list)

    q = sub.add_parser("remove", help="remove a material you added")
    q.add_argument("model", help="the user model that holds it")
    named(q)
    q.set_defaults(run=cmd_remove)

    q = sub.add_parser("preview", help="a PNG of one material, crisp at any size")
    q.add_argument("model", help="the model that holds it")
    named(q)
    q.add_argument("-o", "--output", default="material.png", help="the PNG to write (default: %(default)s)")
    q.add_argument("--size", type=int, default=1080, help="side in px (default: %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="which texture of the material (default: %(default)s)")
    q.add_argument("--scale", type=float, default=0.0, help="material scale: 0 crisp (its own pixels), 1 relative "
                   "(as at the model's native size) (default: %(default)s)")
    q.set_defaults(run=cmd_preview)
