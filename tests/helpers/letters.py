"""A tiny random letters-shaped SmallCGN with detail levels."""
import torch

from cgn_art.data import letters
from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig


def tiny_letters_model(levels=2):
    names = letters.class_names()
    cfg = SmallCGNConfig(variant="letters", shape_classes=names["shape"], texture_classes=names["texture"],
                         background_classes=names["background"], native_size=64, width=8, detail_levels=levels)
    torch.manual_seed(0)
    model = SmallCGN(cfg, device="cpu").eval()
    for out in model.texture.detail_out:  # give the detail levels something to say
        torch.nn.init.normal_(out.weight, std=0.3)
    return model
