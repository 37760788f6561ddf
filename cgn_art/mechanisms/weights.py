"""Saving and loading CGN weights as safetensors + a JSON config (never pickle).

``load_model`` reads the folder's config.json and looks its "format" up in ``FAMILIES``: the small
CGNs here, the ImageNet CGN in imagenet_weights.py. A new model family is one module and one line
there. The name "imagenet" means the configured ImageNet folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cgn_art.errors import CgnArtError
from cgn_art.io import normal_file_mode
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig

# Inside the package, so a wheel (`pip install cgn-art`) carries the shipped models; the repository's
# top-level assets/ is a link to this folder.
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"
DEFAULT_MODEL = "letters"  # the Letters CGN: 64 px capitals in photo textures on photo backgrounds
FORMAT = "cgn-art/small-cgn"


def shipped_models() -> dict[str, Path]:
    """Name -> folder of every model that ships in assets/models (each holds model.safetensors + config.json)."""
    if not ASSETS.is_dir():
        return {}
    return {p.name: p for p in sorted(ASSETS.iterdir()) if (p / "model.safetensors").is_file()}


def save_model(model, folder: str | Path, extra: dict | None = None, format: str = FORMAT) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (config + ``extra``, e.g. training facts) to ``folder``.

    ``format`` names the model kind in config.json, which is how :func:`load_model` picks the loader.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"))
    os.chmod(folder / "model.safetensors", normal_file_mode())  # save_file makes it 0600
    config = {"format": format, "config": model.config.to_dict(), **(extra or {})}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise CgnArtError(f"{path}: missing; a model folder needs config.json next to model.safetensors")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CgnArtError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("config"), dict):
        raise CgnArtError(f"{path}: not a cgn-art small CGN config (expected \"format\": \"{FORMAT}\")")
    return config


IMAGENET = "imagenet"


@dataclass(frozen=True)
class ModelFamily:
    """One kind of model on disk: ``load(folder, device, name)`` reads a folder of it (``name``: what
    the model calls itself; None: the folder), ``save(model, folder, extra)`` writes one."""
    load: Callable
    save: Callable


def _imagenet(function: str) -> Callable:
    """A function of imagenet_weights.py, imported when first called (it pulls in BigGAN and U2-Net)."""
    def call(*args, **kwargs):
        from cgn_art.mechanisms import imagenet_weights

        return getattr(imagenet_weights, function)(*args, **kwargs)
    return call


def _load_small(folder: Path, device, name: str | None = None) -> SmallCGN:
    config = read_config(folder)
    try:
        cfg = SmallCGNConfig(**config["config"]).check()
    except TypeError as e:
        raise CgnArtError(f"{folder / 'config.json'}: config does not fit this version of cgn-art ({e})") from None
    except CgnArtError as e:
        raise CgnArtError(f"{folder / 'config.json'}: {e}") from None
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CgnArtError(f"{weights}: missing; the model folder needs its weights file")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CgnArtError(f"{weights}: not a readable safetensors file (corrupt or truncated?): {e}") from None
    model = SmallCGN(cfg, device="cpu")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(filter(None, [
            f"missing {', '.join(missing[:3])}" + ("..." if len(missing) > 3 else "") if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" + ("..." if len(unexpected) > 3 else "") if unexpected else "",
            f"wrong shape for {', '.join(wrong[:3])}" if wrong else "",
        ]))
        raise CgnArtError(f"{weights}: weights do not match config.json ({detail})")
    model.load_state_dict(tensors)
    model.name = name or str(folder.resolve())
    model.eval().requires_grad_(False)
    return model.to(device)


IMAGENET_FORMAT = "cgn-art/imagenet-cgn"  # imagenet_weights.py's FORMAT: named here, so the registry imports nothing
# config.json's "format" -> its family.
FAMILIES: dict[str, ModelFamily] = {
    FORMAT: ModelFamily(load=_load_small, save=save_model),
    IMAGENET_FORMAT: ModelFamily(load=_imagenet("load_imagenet_cgn"), save=_imagenet("save_imagenet_cgn")),
}


def family_of(folder: Path) -> ModelFamily:
    """The family that reads ``folder``. A folder with the paper's ``*.pth`` and no config.json goes
    to the ImageNet CGN, whose loader says how to convert it; a folder whose format is missing or
    unknown goes to the small CGN's, whose reader says what is wrong with its config."""
    found = _format_of(folder)
    if found is None and not (folder / "config.json").exists() and any(folder.glob("*.pth")):
        found = IMAGENET_FORMAT
    return FAMILIES.get(found, FAMILIES[FORMAT])


def _format_of(folder: Path) -> str | None:
    try:
        data = json.loads((folder / "config.json").read_text())
        return data.get("format") if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None  # read_config explains what is wrong


def available_models(imagenet: str | Path | None = None) -> dict[str, Path]:
    """Name -> folder of every model that can be loaded now: the shipped small CGNs, plus
    "imagenet" when an ImageNet CGN folder is configured (``imagenet`` or $CGN_ART_IMAGENET) and its
    files check out (config, every key and shape; the weights themselves are not read).
    Use :func:`imagenet_status` to say why it is missing."""
    from cgn_art.materials.store import user_models

    models = {**user_models(), **shipped_models()}
    ok, _ = imagenet_status(imagenet)
    if ok:
        from cgn_art.mechanisms.imagenet_weights import imagenet_folder

        models[IMAGENET] = imagenet_folder(imagenet)
    return models


def imagenet_status(imagenet: str | Path | None = None) -> tuple[bool, str]:
    """(loads, one line for a page or the CLI): whether the ImageNet CGN folder is usable, or what to do."""
    from cgn_art.mechanisms.imagenet_weights import ENV, check_imagenet_folder, download_hint, imagenet_folder

    folder = imagenet_folder(imagenet)
    if folder is None:
        return False, f"no ImageNet CGN folder configured: set {ENV} or give a folder; {download_hint()}"
    try:
        check_imagenet_folder(folder)
    except CgnArtError as e:
        return False, str(e)
    return True, f"ImageNet CGN at {folder}"


def load_model(name_or_path: str | Path = DEFAULT_MODEL, device: str | torch.device | None = "auto",
               imagenet: str | Path | None = None):
    """Load a shipped model by name ('letters', 'wildlife', 'colored', 'double-colored'), a user model by
    name (one with your own materials, ``cgn_art.materials``), 'imagenet' (the folder given as
    ``imagenet`` or in $CGN_ART_IMAGENET), or a model folder of either kind.

    >>> model = load_model()            # the embedded Letters CGN, on the best device
    >>> model = load_model("colored", device="cpu")
    >>> model = load_model("imagenet")  # doctest: +SKIP
    """
    shipped = shipped_models()
    if str(name_or_path) == IMAGENET and IMAGENET not in shipped:
        ok, message = imagenet_status(imagenet)
        if not ok:
            raise CgnArtError(message)
        from cgn_art.mechanisms.imagenet_weights import imagenet_folder

        return FAMILIES[IMAGENET_FORMAT].load(imagenet_folder(imagenet), _device(device), IMAGENET)
    from cgn_art.materials.store import user_models

    users = user_models() if str(name_or_path) not in shipped else {}
    folder = shipped.get(str(name_or_path)) or users.get(str(name_or_path)) or Path(name_or_path)
    if not folder.is_dir():
        names = ", ".join(list(shipped) + list(users)) or "none found in assets/models"
        raise CgnArtError(f"no model named {name_or_path!r}: give a shipped or user model ({names}), 'imagenet', "
                          "or a folder holding model.safetensors and config.json")
    # The name is what load_model takes back, so saved settings reproduce the image.
    name = str(name_or_path) if str(name_or_path) in shipped or str(name_or_path) in users else None
    return family_of(folder).load(folder, _device(device), name)


def _device(device):
    from cgn_art.device import pick_device

    return pick_device(device)
