"""BigGAN-deep generators for the ImageNet CGN: configs, safe loading, and random weights for tests.

The generator itself is pytorch-pretrained-biggan's ``BigGAN`` (the CGN's released checkpoint was
saved from the same module layout, so its keys load as they are). What this module adds:
- configs for 128, 256 and 512 px (facts from the package's TF conversion script) and small ones
  (32 or 64 px, few channels) that tests and CPU experiments can afford;
- loading a local BigGAN folder (``pytorch_model.bin`` + ``config.json``, what
  ``BigGAN.from_pretrained(dir)`` reads) with ``torch.load(weights_only=True)`` instead of the
  package's unrestricted unpickling, and errors that say what to download;
- completing checkpoints saved by older PyTorch (spectral norm without ``weight_v``, batch norms
  without ``num_batches_tracked``);
- ``random_biggan``: a randomly initialised generator that outputs finite images (see there).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

from cgn_art.errors import CgnArtError

RESOLUTIONS = (128, 256, 512)
# The channel multiplier after each upsampling block of BigGAN-deep, per resolution.
_CHANNELS = {128: (16, 16, 8, 4, 2, 1), 256: (16, 16, 8, 8, 4, 2, 1), 512: (16, 16, 8, 8, 4, 2, 1, 1)}
# Small generators keep BigGAN-deep's blocks but fewer of them: every channel change halves
# (the block's skip connection drops half its channels), hence the extra non-upsampling block at 32 px.
_SMALL_LAYERS = {32: [(False, 16, 8), (True, 8, 4), (True, 4, 2), (True, 2, 1)],
                 64: [(True, 16, 8), (True, 8, 4), (True, 4, 2), (True, 2, 1)]}


def biggan_config(resolution: int = 256, channel_width: int = 128, z_dim: int = 128) -> BigGANConfig:
    """BigGAN-deep's config at 128/256/512 px (the released models), or a small one at 32/64 px."""
    if resolution in _CHANNELS:
        seq = _CHANNELS[resolution]
        layers = [layer for a, b in zip(seq, seq[1:]) for layer in ((False, a, a), (True, a, b))]
        attention = 8
    elif resolution in _SMALL_LAYERS:
        layers, attention = list(_SMALL_LAYERS[resolution]), 2
    else:
        raise CgnArtError(f"BigGAN resolution {resolution} is not available: use 128, 256 or 512 "
                          "(or 32/64 for small test models)")
    if channel_width < 4:
        raise CgnArtError("BigGAN channel width must be >= 4 (its blocks divide channels by 4)")
    return BigGANConfig(output_dim=resolution, z_dim=z_dim, class_embed_dim=z_dim, channel_width=channel_width,
                        num_classes=1000, layers=layers, attention_layer_position=attention, eps=1e-4, n_stats=51)


def config_from_dict(values: dict) -> BigGANConfig:
    config = BigGANConfig.from_dict(values)
    config.layers = [tuple(layer) for layer in config.layers]
    return config


@torch.no_grad()
def random_biggan(config: BigGANConfig, seed: int = 0, warm_up_passes: int = 10) -> BigGAN:
    """A randomly initialised BigGAN whose outputs are finite.

    Fresh out of its constructor a BigGAN outputs NaN: the final batch norm's weight and bias are
    uninitialised memory, and the spectral-norm vectors are random, so layers are not yet scaled to
    unit spectral norm and activations blow up. We set the batch norm to identity and run a few
    forward passes in train mode (each runs one power iteration per layer) before eval mode.
    """
    torch.manual_seed(seed)
    model = BigGAN(config)
    model.generator.bn.weight.fill_(1.0)
    model.generator.bn.bias.zero_()
    model.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(warm_up_passes):
        z = torch.randn(2, config.z_dim, generator=generator).clamp(-2, 2)
        y = torch.nn.functional.one_hot(torch.randint(0, config.num_classes, (2,), generator=generator),
                                        config.num_classes).float()
        model(z, y, 1.0)
    return model.eval()


# Loading --------------------------------------------------------------------------------------

def torch_load(path: Path, what: str) -> dict:
    """A PyTorch checkpoint as a dict of tensors, unpickled with ``weights_only=True`` (never code)."""
    if not path.is_file():
        raise CgnArtError(f"{path}: missing; put {what} there")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and safety errors all mean the same to a user
        raise CgnArtError(f"{path}: not a readable PyTorch weights file ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); expected {what}") from None
    # Training scripts often save {"state_dict"|"model": weights, "optimizer": ..., "epoch": ...}.
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = ", ".join(map(repr, list(state)[:4])) if isinstance(state, dict) else type(state).__name__
        raise CgnArtError(f"{path}: holds no state dict of tensors (found {found or 'nothing'}); expected {what}")
    return state


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def check_keys(model: torch.nn.Module, state: dict, path: Path, optional: tuple[str, ...] = ()) -> None:
    """Raise CgnArtError listing a few missing, unexpected and wrongly shaped keys, if any.

    Keys ending in one of ``optional`` may be missing. (A missing spectral-norm ``weight_v`` is
    filled in first, by :func:`fill_spectral_norm_v`, rather than allowed here.)
    """
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith(optional))
    unexpected = sorted(k for k in state if k not in expected)
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        parts = [f"missing {len(missing)} key(s): {_few(missing)}" if missing else "",
                 f"unexpected {len(unexpected)} key(s): {_few(unexpected)}" if unexpected else "",
                 f"wrong shape for {_few(wrong)}" if wrong else ""]
        raise CgnArtError(f"{path}: weights do not fit the model ({'; '.join(p for p in parts if p)})")


def biggan_download_hint(resolution: int = 256) -> str:
    name = f"biggan-deep-{resolution}"
    return (f"BigGAN-deep-{resolution} in pytorch-pretrained-biggan's local-folder form: download "
            f"{PRETRAINED_MODEL_ARCHIVE_MAP[name]} saved as pytorch_model.bin and "
            f"{PRETRAINED_CONFIG_ARCHIVE_MAP[name]} saved as config.json, both in one folder")


def load_biggan_folder(folder: str | Path) -> BigGAN:
    """Load ``folder/pytorch_model.bin`` + ``folder/config.json`` (as from_pretrained(dir) would), safely."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CgnArtError(f"{folder}: no such folder; it should hold {biggan_download_hint()}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CgnArtError(f"{config_path}: missing; the folder should hold {biggan_download_hint()}")
    try:
        config = config_from_dict(json.loads(config_path.read_text()))
        resolution = int(config.output_dim)
    except (ValueError, TypeError, AttributeError) as e:
        raise CgnArtError(f"{config_path}: not a BigGAN config ({e}); expected {biggan_download_hint()}") from None
    hint = biggan_download_hint(resolution if resolution in RESOLUTIONS else 256)
    state = torch_load(folder / "pytorch_model.bin", hint)
    model = BigGAN(config)
    fill_spectral_norm_v(state)
    check_keys(model, state, folder / "pytorch_model.bin")
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def fill_spectral_norm_v(state: dict) -> int:
    """Complete spectral-norm entries saved by older PyTorch, in place; returns how many were filled.

    Eval-mode spectral norm divides a weight by ``sigma = u^T W v`` with the stored u and v. Older
    PyTorch saved ``weight_orig`` and ``weight_u`` (and the normalised ``weight``) but no
    ``weight_v``; a missing v would stay random. One half power-iteration step from the stored u,
    ``v = normalize(W^T u)``, is the v that fits it; where the normalised ``weight`` was saved too,
    v is rescaled so that ``u^T W v`` is exactly the sigma it was normalised by (``weight_orig /
    weight``), which reproduces the saved weight (PyTorch's own upgrade path does the same).
    """
    filled = 0
    for key in [k for k in state if k.endswith(".weight_u")]:
        prefix = key[: -len("weight_u")]
        orig, v_key, old = prefix + "weight_orig", prefix + "weight_v", prefix + "weight"
        if orig not in state:
            continue
        saved = state.pop(old, None)  # the normalised weight: recomputed on load, never a parameter
        if v_key in state:
            continue
        w = state[orig].flatten(1).float()
        u = state[key].float()
        v = torch.nn.functional.normalize(w.t() @ u, dim=0, eps=1e-12)
        if saved is not None and saved.shape == state[orig].shape:
            sigma = (state[orig].float() / saved.float()).nanmean()
            v = v * (sigma / (u @ w @ v))
        state[v_key] = v.to(state[key].dtype)
        filled += 1
    return filled


def fill_batch_norm_counters(state: dict, expected: dict) -> None:
    """PyTorch < 0.4.1 saved batch norms without ``num_batches_tracked`` (eval mode never reads it)."""
    for key, value in expected.items():
        if key.endswith(".num_batches_tracked") and key not in state and key.replace(
                "num_batches_tracked", "running_mean") in state:
            state[key] = torch.zeros_like(value, device="cpu")


def save_biggan_folder(model: BigGAN, folder: str | Path) -> Path:
    """Write a BigGAN in the local-folder form load_biggan_folder reads (used by tests and tools)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(model.config.to_json_string())
    return folder
