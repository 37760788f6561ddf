"""Your own materials: user models that add texture and background classes made from photos.

A user model is a model folder like any other (``model.safetensors`` + ``config.json``) in the
user-models folder: ``$CGN_ART_MODELS`` when set (and not empty), else
``$XDG_DATA_HOME/cgn-art/models`` (``~/.local/share/cgn-art/models``). ``load_model`` finds it by
name, so it works on every page and command, and PNGs and sidecars that name it make it again.

Adding a material to a shipped model makes a user model (``my-letters`` for ``letters``); adding
to a user model changes it. Writes are atomic: the new model is written beside the old one and
swapped in with two renames; a swap that Ctrl-C cuts short is undone at once, and one a crash cut
short is undone when the folder is next read (once it is two minutes old: a swap under way in
another session is left alone); a half-written model is never loaded.

>>> path = add_material("letters", "texture", "moss", ["moss1.jpg", "moss2.jpg"])  # doctest: +SKIP
>>> load_model("my-letters").class_names["texture"][-1]                           # doctest: +SKIP
'moss'
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from cgn_art.errors import CgnArtError
from cgn_art.materials.fields import KINDS, MaterialClass, check_kind, material_classes, set_material_classes
from cgn_art.materials.photos import check_material_name, photo_sources
from cgn_art.materials.synthesis import paint

ENV = "CGN_ART_MODELS"
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_CLASSES = 64   # per mechanism: a picker of more is no palette, and each class costs memory
NEW, OLD = ".new-", ".old-"   # prefixes of a model being written and of the one it replaces
STALE_SECONDS = 120            # a folder of a swap left longer than this was cut short by a crash


def user_models_dir() -> Path:
    """Where user models live (see the module docstring); not created until a model is saved."""
    text = os.environ.get(ENV, "")
    if text:
        return Path(text).expanduser()
    data = os.environ.get("XDG_DATA_HOME", "")
    return (Path(data) if data else Path.home() / ".local" / "share") / "cgn-art" / "models"


def _finish_swaps(root: Path, now: float | None = None) -> None:
    """Undo a swap a crash cut short (the old model back where the new one never arrived) and drop
    what was being written. Only folders left for over ``STALE_SECONDS``: a save takes seconds,
    and another session's save may be under way right now."""
    now = time.time() if now is None else now

    def stale(path: Path) -> bool:
        try:
            return now - path.stat().st_mtime > STALE_SECONDS
        except OSError:
            return False

    for path in root.glob(f"{OLD}*"):
        target = root / path.name[len(OLD):]
        if not stale(path):
            continue
        if target.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.rename(target)
    for path in root.glob(f"{NEW}*"):
        if stale(path):
            shutil.rmtree(path, ignore_errors=True)


def user_models() -> dict[str, Path]:
    """Name -> folder of every user model (a folder holding model.safetensors and config.json)."""
    root = user_models_dir()
    if not root.is_dir():
        return {}
    try:
        _finish_swaps(root)
    except OSError:
        pass  # a read-only folder: list what is there
    return {p.name: p for p in sorted(root.iterdir())
            if MODEL_NAME.match(p.name) and (p / "model.safetensors").is_file() and (p / "config.json").is_file()}


def check_model_name(name: str) -> str:
    from cgn_art.mechanisms.weights import shipped_models

    name = str(name).strip()
    if not MODEL_NAME.match(name):
        raise CgnArtError(f"model name {name!r}: use 1-40 lowercase letters, digits, - or _ (it names a folder)")
    if name in shipped_models() or name == "imagenet":
        raise CgnArtError(f"model name {name!r} is a shipped model's; choose another (e.g. my-{name})")
    return name


def save_user_model(model, name: str, extra: dict | None = None) -> Path:
    """Write ``model`` as user model ``name``, atomically (see the module docstring)."""
    from cgn_art.mechanisms.weights import save_model

    name = check_model_name(name)
    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    _finish_swaps(root)
    target = root / name
    fresh = Path(tempfile.mkdtemp(prefix=f"{NEW}{name}-", dir=root))
    try:
        save_model(model, fresh, extra=extra)
        if target.exists():
            old = root / f"{OLD}{name}"
            target.rename(old)
            fresh.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            fresh.rename(target)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        old = root / f"{OLD}{name}"
        if old.exists() and not target.exists():  # cut between the two renames: put the old one back
            old.rename(target)
        raise
    return target


def _facts(folder: Path) -> dict:
    from cgn_art.mechanisms.weights import read_config

    return {k: v for k, v in read_config(folder).items() if k not in ("format", "config")}


def _base(model_name: str | Path):
    """(model, its folder, whether it is a user model) of a shipped name, a user model or a folder."""
    from cgn_art.mechanisms.weights import load_model, shipped_models

    users = user_models()
    model = load_model(model_name, device="cpu")
    folder = shipped_models().get(str(model_name)) or users.get(str(model_name)) or Path(model_name)
    return model, folder, str(model_name) in users


def _preview(sources, side: int) -> torch.Tensor:
    """A (3, side, side) uint8 picture of a new material, for code that reads a model's exemplars."""
    from cgn_art.mechanisms.exemplar import material_of

    return (paint(material_of(sources), 0, 0, side, side) * 255 + 0.5).to(torch.uint8)


def user_classes(model, kind: str) -> list[str]:
    """The ``kind`` classes of ``model`` that a user added (the others came with it and stay)."""
    return list(((model.config.materials or {}).get("added") or {}).get(kind, []))


def add_material(model_name: str | Path, kind: str, name: str, photos: Sequence, regions: Sequence | None = None,
                 photo_names: Sequence[str] | None = None, into: str | None = None,
                 progress: Callable[[float | None, str], None] | None = None) -> Path:
    """Add a ``kind`` ('texture' or 'background') class ``name`` made from ``photos`` to a model and
    save it as a user model: ``into``, else the same user model, else ``my-<model>``. Returns its
    folder. Nothing is written unless every photo and name checks out."""
    say = progress or (lambda fraction, message: None)
    kind, name = check_kind(kind), check_material_name(name)
    say(0.0, "loading the model")
    model, folder, is_user = _base(model_name)
    target = check_model_name(into) if into else (str(model_name) if is_user else f"my-{Path(folder).name}")
    classes = material_classes(model, kind)
    if any(c.name.lower() == name.lower() for c in classes):
        raise CgnArtError(f"{kind} {name!r} already exists in {model_name}; choose another name or remove it first")
    if len(classes) >= MAX_CLASSES:
        raise CgnArtError(f"{model_name} already has {len(classes)} {kind} classes (at most {MAX_CLASSES}); "
                          "remove one first")
    say(0.2, f"reading {len(photos)} photo(s)")
    sources = photo_sources(photos, photo_names, regions)
    say(0.6, "preparing the material")
    classes.append(MaterialClass(name, sources, _preview(sources, model.config.exemplar_side)))
    set_material_classes(model, kind, classes)
    added = dict((model.config.materials or {}).get("added") or {})
    added[kind] = user_classes(model, kind) + [name]
    model.config.materials["added"] = added
    say(0.8, "saving")
    path = save_user_model(model, target, extra=_facts(Path(folder)) | {"based_on": str(model_name)})
    say(1.0, f"saved {path}")
    return path


def remove_material(model_name: str, kind: str, name: str) -> Path:
    """Remove the user-added ``kind`` class ``name`` from user model ``model_name``."""
    kind = check_kind(kind)
    model, folder, is_user = _base(model_name)
    if not is_user:
        raise CgnArtError(f"{model_name} is not a user model; materials are removed from the user models that "
                          "hold them (see `cgn-art materials list`)")
    classes = material_classes(model, kind)
    match = [c for c in classes if c.name.lower() == str(name).strip().lower()]
    if not match:
        raise CgnArtError(f"{model_name} has no {kind} {name!r}; its {kind}s: {', '.join(c.name for c in classes)}")
    added = user_classes(model, kind)
    if match[0].name not in added:
        raise CgnArtError(f"{kind} {match[0].name!r} came with the model it is based on and cannot be removed; "
                          "only materials you added can")
    set_material_classes(model, kind, [c for c in classes if c is not match[0]])
    model.config.materials["added"] = {**model.config.materials["added"],
                                       kind: [n for n in added if n != match[0].name]}
    return save_user_model(model, str(model_name), extra=_facts(Path(folder)))


def list_materials(model_name: str | Path) -> dict[str, list[tuple[str, bool]]]:
    """{'texture': [(name, added by the user), ...], 'background': [...]} of a model."""
    model, _, _ = _base(model_name)
    return {kind: [(n, n in user_classes(model, kind)) for n in model.class_names[kind]] for kind in KINDS}
