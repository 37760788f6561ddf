"""Image feature encoders shared by the training losses and stylization.

``make_encoder("random")`` needs nothing downloaded; ``"vgg19"`` needs torchvision's VGG19 ImageNet
weights in the torch hub cache; ``"auto"`` takes VGG19 when its weights are there, else random.
Every encoder maps an image (N, 3, H, W) in [0, 1] to a list of feature maps.

>>> import torch
>>> encoder = make_encoder("random", seed=0)
>>> len(encoder(torch.rand(1, 3, 32, 32))) > 0
True
"""
from __future__ import annotations

import inspect

from torch import nn

from cgn_art.errors import CgnArtError
from cgn_art.features.random_encoder import RandomEncoder, gram, texture_distance, texture_statistics
from cgn_art.features.vgg import (
    DEFAULT_LAYERS,
    VGGEncoder,
    load_vgg19_encoder,
    vgg19_available,
    vgg19_weights_path,
    vgg19_weights_url,
)

__all__ = [
    "DEFAULT_LAYERS", "ENCODER_NAMES", "RandomEncoder", "VGGEncoder", "available_encoders", "gram",
    "load_vgg19_encoder", "make_encoder", "texture_distance", "texture_statistics", "vgg19_available",
    "vgg19_weights_path", "vgg19_weights_url",
]

ENCODER_NAMES = ("random", "vgg19", "auto")


def _options(function) -> set[str]:
    return {name for name in inspect.signature(function).parameters if name not in ("self", "seed", "device")}


def _split_options(name: str, kwargs: dict) -> tuple[dict, dict]:
    """Options for (random, vgg19). "auto" accepts either encoder's options and passes on only those
    that fit the one it picks; the others reject what they do not take, with a message."""
    random_options, vgg_options = _options(RandomEncoder.__init__), _options(load_vgg19_encoder)
    accepted = {"random": random_options, "vgg19": vgg_options, "auto": random_options | vgg_options}[name]
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise CgnArtError(f"the {name!r} encoder has no option(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(sorted(accepted)) or 'none'}")
    return ({k: v for k, v in kwargs.items() if k in random_options},
            {k: v for k, v in kwargs.items() if k in vgg_options})


def make_encoder(name: str = "random", *, seed: int = 0, device="cpu", **kwargs) -> nn.Module:
    """Build a frozen feature encoder by name: "random", "vgg19" or "auto".

    ``seed`` only affects "random" (VGG's weights are fixed). Extra keyword options go to the encoder:
    ``kernels``, ``channels``, ``scales`` for random; ``layers`` for vgg19.
    "vgg19" raises CgnArtError (saying what to download and where) if its weights are missing.
    """
    key = str(name).strip().lower()
    if key not in ENCODER_NAMES:
        raise CgnArtError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODER_NAMES)}")
    random_kwargs, vgg_kwargs = _split_options(key, kwargs)
    if key == "vgg19" or (key == "auto" and vgg19_available()):
        return load_vgg19_encoder(device=device, **vgg_kwargs)
    from cgn_art.device import pick_device

    return RandomEncoder(seed=seed, **random_kwargs).to(pick_device(device)).eval()


def available_encoders() -> dict[str, str]:
    """Each encoder name -> one line for a page or ``--help``, saying whether it can be used and
    which one "auto" picks on this machine. Never downloads."""
    path = vgg19_weights_path()
    have_vgg = path.is_file()
    vgg = (f"VGG19 ImageNet features (weights found at {path})" if have_vgg else
           f"VGG19 ImageNet features - not available: download {vgg19_weights_url()} to {path}")
    return {
        "random": "fixed random multi-scale filters (no download; the same on every machine for a seed)",
        "vgg19": vgg,
        "auto": "uses vgg19 (its weights are present)" if have_vgg
                else "uses random (VGG19 weights not found)",
    }

