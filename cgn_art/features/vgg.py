"""VGG19 ImageNet features, loaded from the torch hub cache when the user has the weights there.

Gatys-style texture losses are best known with VGG19. We never download: a machine without the
internet must still work (it uses the random encoder instead), and a user who has the file in
``torch.hub.get_dir()/checkpoints/`` (where torchvision itself caches it) gets VGG features.
The file is read with ``weights_only=True`` so a tampered file cannot run code when it is loaded.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cgn_art.errors import CgnArtError

DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_weights_url() -> str:
    """The download address torchvision uses for ``VGG19_Weights.IMAGENET1K_V1``."""
    from torchvision.models import VGG19_Weights  # torchvision is slow to import; only when needed

    return VGG19_Weights.IMAGENET1K_V1.url


def vgg19_weights_path() -> Path:
    """Where torchvision caches the VGG19 ImageNet weights (the file may or may not exist).

    The file name is taken from torchvision's own URL so it follows torchvision if it ever changes.
    """
    filename = vgg19_weights_url().rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def vgg19_available() -> bool:
    """True if the VGG19 weights file is in the torch hub cache. Never downloads."""
    return vgg19_weights_path().is_file()


def _missing_message(path: Path) -> str:
    return (f"VGG19 weights not found at {path}. Download {vgg19_weights_url()} and save it as {path} "
            f"(or run torchvision.models.vgg19(weights='IMAGENET1K_V1') once on a machine with internet); "
            f"otherwise use the 'random' encoder, which needs no download")


def _layer_names(features: nn.Sequential) -> dict[str, int]:
    """VGG's usual names (conv3_1, relu3_1, pool3, ...) -> index in torchvision's ``features``."""
    names, block, conv = {}, 1, 0
    for index, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            conv += 1
            names[f"conv{block}_{conv}"] = index
        elif isinstance(layer, nn.ReLU):
            names[f"relu{block}_{conv}"] = index
        elif isinstance(layer, nn.MaxPool2d):
            names[f"pool{block}"] = index
            block, conv = block + 1, 0
    return names


def _vgg19_features_skeleton() -> nn.Sequential:
    """torchvision's VGG19 ``features`` with no storage (meta device): building the real model would
    spend seconds initialising a 400 MB classifier that we throw away."""
    from torchvision.models import vgg19

    with torch.device("meta"):
        return vgg19(weights=None).features


class VGGEncoder(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> list of VGG19 feature maps at ``layers``, in that order.

    Frozen and in eval mode; gradients still flow to the image (stylization needs them).
    The network is cut after the deepest layer asked for.
    Build it with :func:`load_vgg19_encoder`, which reads the weights from the torch hub cache.
    """

    def __init__(self, features: nn.Sequential, layers=DEFAULT_LAYERS):
        super().__init__()
        names = _layer_names(features)
        layers = tuple(layers)
        if not layers:
            raise CgnArtError("give at least one VGG layer, e.g. relu1_1")
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise CgnArtError(f"unknown VGG19 layer(s) {', '.join(map(repr, unknown))}; "
                              f"choose from {', '.join(names)}")
        if len(set(layers)) != len(layers):
            raise CgnArtError(f"VGG layers {layers} name a layer twice; give each once")
        self.layers = layers
        self._indices = [names[name] for name in layers]
        last = max(self._indices)
        self.features = nn.Sequential(*list(features)[: last + 1])
        for layer in self.features:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # an in-place ReLU would overwrite a conv output we return
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        found = {}
        wanted = set(self._indices)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                found[index] = x
        return [found[index] for index in self._indices]


def _read_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CgnArtError(_missing_message(path)) from None
    except Exception as error:  # truncated zip, garbage bytes, or pickled objects other than tensors
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CgnArtError(
            f"VGG19 weights file {path} could not be read as a PyTorch state dict (an incomplete download, "
            f"or not a weights file): {detail[:300]}. Delete it and download {vgg19_weights_url()} again") from None
    if not isinstance(state, dict):
        raise CgnArtError(f"VGG19 weights file {path} holds a {type(state).__name__}, not a state dict of "
                          f"tensors; download {vgg19_weights_url()} again")
    return state


def _check_features(path: Path, state: dict, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors the truncated network needs, checked and as float32.
    Other keys (the classifier, deeper layers) are ignored."""
    problems = []
    picked = {}
    for key, skeleton in expected.items():
        value = state.get(f"features.{key}")
        if value is None:
            problems.append(f"features.{key} is missing")
        elif not isinstance(value, torch.Tensor):
            problems.append(f"features.{key} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != tuple(skeleton.shape):
            problems.append(f"features.{key} has shape {tuple(value.shape)}, expected {tuple(skeleton.shape)}")
        elif not value.is_floating_point():
            problems.append(f"features.{key} has dtype {value.dtype}, expected floating point")
        elif not torch.isfinite(value).all():
            problems.append(f"features.{key} contains NaN or infinite values")
        else:
            picked[key] = value.float()
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        keys = list(state)[:3]
        raise CgnArtError(f"VGG19 weights file {path} is not torchvision's VGG19 ({shown}; its first keys are "
                          f"{keys}). Download {vgg19_weights_url()} and save it as {path}")
    return picked


def load_vgg19_encoder(layers=DEFAULT_LAYERS, device="cpu") -> VGGEncoder:
    """The VGG19 encoder with ImageNet weights from the torch hub cache.

    Needs the weights file (hence the skipped example). Raises CgnArtError saying what to download
    and where if the file is missing, and naming the file and the problem if it is unreadable or not
    VGG19's weights.

    >>> encoder = load_vgg19_encoder(("relu1_1", "relu2_1"))  # doctest: +SKIP
    >>> [f.shape[1] for f in encoder(torch.rand(1, 3, 32, 32))]  # doctest: +SKIP
    [64, 128]
    """
    from cgn_art.device import pick_device

    target = pick_device(device)
    path = vgg19_weights_path()
    if not path.is_file():
        raise CgnArtError(_missing_message(path))
    encoder = VGGEncoder(_vgg19_features_skeleton(), layers)  # validates layers before the slow read
    expected = encoder.features.state_dict()
    state = _read_state_dict(path)
    weights = _check_features(path, state, expected)
    del state  # the classifier is ~480 MB; let it go before moving anything
    encoder.features.load_state_dict(weights, strict=True, assign=True)
    encoder.requires_grad_(False)  # frozen whatever flags the loaded tensors carried
    return encoder.to(target).eval()
