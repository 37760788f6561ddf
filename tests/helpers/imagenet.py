"""A tiny ImageNet CGN (32 px BigGAN-deep, narrow U2-Net) and the released checkpoint layout, made by the tests."""
from __future__ import annotations

from pathlib import Path

import torch

from cgn_art.mechanisms.biggan import biggan_config, random_biggan
from cgn_art.mechanisms.imagenet import ImageNetCGN, ImageNetCGNConfig
from cgn_art.mechanisms.u2net import U2Net

TINY = dict(resolution=32, channel_width=4, z_dim=16)


U2NET_DIVISOR = 16


def tiny_biggan(seed: int):
    # random_biggan warms up the spectral-norm vectors and sets the last batch norm: a fresh
    # BigGAN outputs NaN (see its docstring); the tests below check outputs are finite, not hide NaN.
    return random_biggan(biggan_config(**TINY), seed=seed)


def tiny_cgn(seed: int = 0) -> ImageNetCGN:
    """An ImageNet CGN whose four BigGANs differ (so mechanisms are told apart) and a random U2-Net."""
    model = ImageNetCGN(ImageNetCGNConfig(biggan=biggan_config(**TINY).to_dict(), u2net_divisor=U2NET_DIVISOR))
    for i, part in enumerate(("biggan_GT", "f_shape", "f_text", "f_bg")):
        getattr(model, part).load_state_dict(tiny_biggan(seed + i).state_dict())
    torch.manual_seed(seed)
    model.u2net.load_state_dict(U2Net(U2NET_DIVISOR).state_dict())
    return model.eval()


def save_released_layout(model: ImageNetCGN, path: Path, module_prefix: bool) -> Path:
    """As the authors saved it: torch.save(cgn.state_dict()), from DataParallel when prefixed."""
    state = model.state_dict()
    torch.save({("module." if module_prefix else "") + k: v for k, v in state.items()}, path)
    return path
