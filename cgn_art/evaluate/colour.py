"""The colour judges of the MNIST variants (``cgn-art evaluate``): real-data classifiers of digits,
texture and background crops, and the fidelity figures they give.

- shape fidelity: a digit classifier trained on real binarized MNIST digits reads each generated
  mask; the share read as the requested shape class.
- texture / background fidelity: classifiers trained on real texture / background crops read the
  generated foregrounds / backgrounds.
- mask statistics: mean area and how binary the masks are.
Counterfactual triples have shape, texture and background classes all different, so a mechanism
that copies another's class (the texture/background swap) is caught.

Mean colour alone separates the MNIST texture classes, so these judges cannot see pattern; the
judges and metrics that can are in :mod:`cgn_art.evaluate.judges` and :mod:`cgn_art.evaluate.metrics`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cgn_art.data import mnist
from cgn_art.evaluate.fitting import fit_classifier


def _classifier(channels: int, classes: int = 10, size: int = 32) -> nn.Module:
    # Flatten, not global pooling: where the strokes are is what tells digits apart.
    layers = [nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    while size // 2 ** (len(layers) // 3) > 8:  # larger inputs (64 px letters): pool down to 8 x 8
        layers += [nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                         nn.Linear(128, classes))


def _fit(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # seeds the initial weights and, after them, the batch order
    return fit_classifier(_classifier(x.shape[1]), x, y, epochs, 128)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    predictions = torch.cat([model(x[i: i + 512]).argmax(1) for i in range(0, len(y), 512)])
    return float((predictions == y).float().mean())


@dataclass
class Judges:
    """The three real-data classifiers and their accuracy on held-out real data."""

    digit: nn.Module
    texture: nn.Module
    background: nn.Module | None
    real_mask_area: float
    held_out_accuracy: dict


def _crops(variant: str, kind: str, per_class: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    labels = np.repeat(np.arange(10), per_class)
    sampler = mnist.foreground_samples if kind == "texture" else mnist.background_samples
    crops = sampler(variant, labels, rng)
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def train_judges(variant: str, seed: int = 0, epochs: int = 8) -> Judges:
    """Train the classifiers on real data (about a minute on a 2-core CPU)."""
    alpha, labels = mnist.real_digits()
    train_idx, test_idx = mnist.split_indices(labels, "train"), mnist.split_indices(labels, "test")
    binary = torch.from_numpy((alpha > 0.5).astype(np.float32))[:, None]
    y = torch.from_numpy(labels)
    digit = _fit(binary[train_idx], y[train_idx], epochs, seed)
    held_out = {"digit": accuracy(digit, binary[test_idx], y[test_idx])}
    rng = np.random.default_rng(seed)
    judges = {}
    kinds = ["texture"] + (["background"] if variant != "colored" else [])
    for kind in kinds:
        x, yk = _crops(variant, kind, 500, rng)
        judges[kind] = _fit(x, yk, epochs, seed)
        xt, yt = _crops(variant, kind, 100, rng)
        held_out[kind] = accuracy(judges[kind], xt, yt)
    real_area = float(binary[train_idx].mean())
    return Judges(digit, judges["texture"], judges.get("background"), real_area, held_out)


def counterfactual_triples(n: int, n_backgrounds: int, seed: int) -> np.ndarray:
    """``n`` (shape, texture, background) class triples, all three different where the model allows."""
    rng = np.random.default_rng(seed)
    triples = []
    while len(triples) < n:
        s, t = rng.integers(0, 10, 2)
        b = rng.integers(0, n_backgrounds)
        if s == t or (n_backgrounds > 1 and (b == s or b == t)):
            continue
        triples.append((s, t, b))
    return np.array(triples)


@torch.no_grad()
def evaluate(model, judges: Judges, n: int = 1000, seed: int = 0, batch: int = 250) -> dict:
    """Fidelity and mask statistics of ``model`` on ``n`` counterfactual triples (fixed seeds)."""
    triples = counterfactual_triples(n, model.num_classes("background"), seed)
    hits = {"shape": 0, "texture": 0, "background": 0}
    masks = []
    for i in range(0, n, batch):
        part = triples[i: i + batch]
        seeds = list(range(seed * 100_000 + i, seed * 100_000 + i + len(part)))
        cf = model.counterfactual(part[:, 0].tolist(), part[:, 1].tolist(), part[:, 2].tolist(),
                                  seed=seeds, size=model.native_size)
        mask, fg, bg = cf.mask.cpu(), cf.foreground.cpu(), cf.background.cpu()
        masks.append(mask)
        hits["shape"] += int((judges.digit(mask).argmax(1).numpy() == part[:, 0]).sum())
        hits["texture"] += int((judges.texture(fg).argmax(1).numpy() == part[:, 1]).sum())
        if judges.background is not None:
            hits["background"] += int((judges.background(bg).argmax(1).numpy() == part[:, 2]).sum())
    masks = torch.cat(masks)
    return {
        "shape_fidelity": hits["shape"] / n,
        "texture_fidelity": hits["texture"] / n,
        "background_fidelity": hits["background"] / n if judges.background is not None else None,
        "mask_area_mean": float(masks.mean()),
        "real_mask_area_mean": judges.real_mask_area,
        "mask_binary_share": float(((masks < 0.1) | (masks > 0.9)).float().mean()),
        "judges_held_out_accuracy": judges.held_out_accuracy,
    }
