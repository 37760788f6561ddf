"""Where the ImageNet CGN's weights live, converting the released checkpoint, and loading it.

Our layout is a folder with ``model.safetensors`` (the released checkpoint's keys, ``module.``
stripped) and ``config.json`` (``"format": "cgn-art/imagenet-cgn"`` + the BigGAN config), the same
pair the small CGNs use, so ``cgn_art.load_model(folder)`` loads either. The released ``cgn.pth``
is a pickle: it is read once with ``torch.load(weights_only=True)`` and converted by
``import_cgn`` (``cgn-art import-cgn``).

The folder is found from, in order: an explicit argument (CLI ``--imagenet``, the app's field), the
environment variable ``CGN_ART_IMAGENET``.
"""
from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.biggan import (
    biggan_config,
    check_keys,
    fill_batch_norm_counters,
    fill_spectral_norm_v,
    torch_load,
)
from cgn_art.mechanisms.imagenet import PARTS, ImageNetCGN, ImageNetCGNConfig
from cgn_art.mechanisms.u2net import u2net_divisor
from cgn_art.mechanisms.weights import IMAGENET_FORMAT as FORMAT  # config.json's "format", registered there
from cgn_art.runtime.progress import Progress, reporter

ENV = "CGN_ART_IMAGENET"
CGN_URL = "https://drive.google.com/uc?id=12yVFHPUjKmUFGnO2D4xVlTSpF8CUj136"
CGN_REPO = "https://github.com/autonomousvision/counterfactual_generative_networks"
GENBLOCKS_TO_RESOLUTION = {10: 128, 12: 256, 14: 512}


def download_hint(folder: Path | str = "FOLDER") -> str:
    return (f"download the paper's ImageNet CGN checkpoint cgn.pth ({CGN_URL}, linked from {CGN_REPO} "
            f"scripts/download_weights.sh), then run: cgn-art import-cgn path/to/cgn.pth --output {folder}")


def imagenet_folder(folder: str | Path | None = None) -> Path | None:
    """The configured ImageNet CGN folder: ``folder`` if given, else $CGN_ART_IMAGENET, else None."""
    value = folder if folder not in (None, "") else os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else None


def blank_model(config: ImageNetCGNConfig) -> ImageNetCGN:
    """The module to load weights into (its random init is overwritten)."""
    return ImageNetCGN(config)


@functools.lru_cache(maxsize=4)
def _expected_shapes(config_json: str) -> dict:
    # One BigGAN and one U^2-Net give every name and shape (the four BigGANs are alike): a quarter
    # of the memory and time of building the whole model just to check a file.
    from pytorch_pretrained_biggan import BigGAN

    from cgn_art.mechanisms.biggan import config_from_dict
    from cgn_art.mechanisms.u2net import U2Net

    config = ImageNetCGNConfig.from_dict(json.loads(config_json))
    biggan = BigGAN(config_from_dict(config.biggan)).state_dict()
    parts = ("biggan_GT",) * config.target_biggan + ("f_shape", "f_text", "f_bg")
    shapes = {f"{part}.{k}": torch.empty(v.shape, device="meta") for part in parts for k, v in biggan.items()}
    shapes.update({f"u2net.{k}": torch.empty(v.shape, device="meta")
                   for k, v in U2Net(config.u2net_divisor).state_dict().items()})
    return shapes


class _Shapes(torch.nn.Module):
    """Stands in for a model in check_keys: only its state dict's names and shapes matter."""

    def __init__(self, shapes: dict):
        super().__init__()
        self.shapes = shapes

    def state_dict(self, *args, **kwargs):  # type: ignore[override]
        return self.shapes


def expected(config: ImageNetCGNConfig) -> torch.nn.Module:
    return _Shapes(_expected_shapes(json.dumps(config.to_dict(), sort_keys=True)))


def read_imagenet_config(folder: Path) -> ImageNetCGNConfig:
    path = folder / "config.json"
    if not path.is_file():
        if any(folder.glob("*.pth")):
            raise CgnArtError(f"{folder}: holds a .pth checkpoint but no converted model; run: "
                              f"cgn-art import-cgn {next(folder.glob('*.pth'))} --output {folder}")
        raise CgnArtError(f"{path}: missing; {download_hint(folder)}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CgnArtError(f"{path}: not valid JSON ({e}); {download_hint(folder)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("config"), dict):
        raise CgnArtError(f"{path}: not an ImageNet CGN config (expected \"format\": \"{FORMAT}\"); "
                          f"{download_hint(folder)}")
    try:
        return ImageNetCGNConfig.from_dict(data["config"])
    except CgnArtError as e:
        raise CgnArtError(f"{path}: {e}") from None


def check_imagenet_folder(folder: str | Path) -> ImageNetCGNConfig:
    """Check that ``folder`` will load (config, file, every key and shape) without reading the
    weights: the safetensors header has names and shapes. Raises CgnArtError saying what to do."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CgnArtError(f"ImageNet CGN folder {folder} does not exist; {download_hint(folder)}")
    config = read_imagenet_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CgnArtError(f"{weights}: missing; {download_hint(folder)}")
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CgnArtError(f"{weights}: not a readable safetensors file (corrupt or truncated?): {e}") from None
    check_keys(expected(config), shapes, weights)
    return config


def load_imagenet_cgn(folder: str | Path, device: torch.device, name: str | None = None) -> ImageNetCGN:
    """Load a converted ImageNet CGN folder onto ``device`` (eval mode, no gradients)."""
    folder = Path(folder)
    config = check_imagenet_folder(folder)
    weights = folder / "model.safetensors"
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CgnArtError(f"{weights}: not a readable safetensors file (corrupt or truncated?): {e}") from None
    model = blank_model(config)
    model.load_state_dict(tensors, assign=True)
    model.name = name or str(folder.resolve())
    return model.eval().requires_grad_(False).to(device)


def save_imagenet_cgn(model: ImageNetCGN, folder: str | Path, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (with ``extra``, e.g. training facts)."""
    from cgn_art.mechanisms.weights import save_model  # weights.py imports this module lazily too

    return save_model(model, folder, extra, format=FORMAT)


# Converting the released checkpoint ------------------------------------------------------------

def strip_module_prefix(state: dict) -> dict:
    """Checkpoints saved from DataParallel/DistributedDataParallel carry ``module.`` on every key."""
    return {re.sub(r"^(module\.)+", "", k): v for k, v in state.items()}


def infer_config(state: dict, resolution: int | None = None) -> ImageNetCGNConfig:
    """The ImageNet CGN config a state dict was saved from, read off its tensors' shapes."""
    prefix = "f_shape."
    try:
        z_dim = int(state[f"{prefix}embeddings.weight"].shape[0])
        channel_width = int(state[f"{prefix}generator.bn.weight"].shape[0])
    except KeyError as e:
        keys = sorted(state)
        found = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
        raise CgnArtError(f"not an ImageNet CGN checkpoint: missing key {e.args[0]!r} (expected keys starting "
                          f"with {', '.join(p + '.' for p in PARTS)}); unexpected {len(keys)} key(s): "
                          f"{found}") from None
    layers = {int(m.group(1)) for k in state if (m := re.match(rf"{prefix}generator\.layers\.(\d+)\.", k))}
    attention = {int(m.group(1)) for k in state
                 if (m := re.match(rf"{prefix}generator\.layers\.(\d+)\.snconv1x1_theta", k))}
    blocks = len(layers) - len(attention)
    if resolution is None:
        if blocks not in GENBLOCKS_TO_RESOLUTION:
            raise CgnArtError(f"cannot tell this checkpoint's resolution from its {blocks} BigGAN blocks; "
                              "give it (--resolution)")
        resolution = GENBLOCKS_TO_RESOLUTION[blocks]
    biggan = biggan_config(resolution, channel_width=channel_width, z_dim=z_dim)
    if len(biggan.layers) != blocks:
        raise CgnArtError(f"the checkpoint has {blocks} BigGAN blocks; a {resolution} px BigGAN has "
                          f"{len(biggan.layers)}: give the right --resolution")
    u2net = {k.removeprefix("u2net."): v for k, v in state.items() if k.startswith("u2net.")}
    # Without any u2net key the released width is assumed; check_keys then lists what is missing.
    return ImageNetCGNConfig(biggan=biggan.to_dict(), u2net_divisor=u2net_divisor(u2net) if u2net else 1,
        target_biggan=any(k.startswith("biggan_GT.") for k in state))


def import_cgn(checkpoint: str | Path, output: str | Path, resolution: int | None = None,
               progress: Progress | None = None) -> Path:
    """Convert the released ``cgn.pth`` (or any checkpoint in its layout) to our safetensors folder.

    Accepted as users have them: keys with or without DataParallel's ``module.`` prefix; a dict
    holding the weights under ``state_dict`` or ``model``; spectral norm saved without ``weight_v``
    (older PyTorch; rebuilt from ``weight_u``); batch norms without ``num_batches_tracked``; and no
    ``biggan_GT`` at all (the frozen training target: the model then renders but cannot train,
    and ``progress`` says so). Anything else raises CgnArtError listing a few missing and
    unexpected keys.

    >>> import_cgn("downloads/cgn.pth", "weights/imagenet-cgn")   # doctest: +SKIP
    """
    progress = reporter(progress)
    checkpoint = Path(checkpoint)
    progress(0.0, f"reading {checkpoint.name}")
    state = strip_module_prefix(torch_load(checkpoint, f"cgn.pth, the paper's ImageNet CGN checkpoint ({CGN_URL})"))
    config = infer_config(state, resolution)
    filled = fill_spectral_norm_v(state)
    fill_batch_norm_counters(state, expected(config).state_dict())
    check_keys(expected(config), state, checkpoint)
    notes = {}
    if filled:
        notes["spectral_norm_v_rebuilt"] = filled
        progress(0.25, f"rebuilt {filled} spectral-norm v vector(s) from weight_u (saved by an older PyTorch)")
    if not config.target_biggan:
        notes["without_biggan_GT"] = True
        progress(0.25, "note: the checkpoint has no biggan_GT (the frozen BigGAN the mechanisms train against); "
                       "it is needed for training only, so the model renders but cannot be fine-tuned as is")
    model = blank_model(config)
    progress(0.5, "checking and writing safetensors")
    model.load_state_dict(state, assign=True)
    folder = save_imagenet_cgn(model, output, {"converted_from": checkpoint.name, **notes})
    check_imagenet_folder(folder)
    progress(1.0, f"wrote {folder}")
    return folder
