"""The small CNN classifier of the paper's MNIST experiments, and how it is trained.

Two 5x5 convolutions with max pooling and two fully connected layers with dropout (LeNet-style,
like the paper's small MNIST classifier), trained with Adam and cross-entropy. The same net serves
any square image size (the flatten size follows the image side: 32 px digits, 64 px letters) and
any number of classes. Nothing in it knows about counterfactuals: what it learns to look at depends
only on the data it is given.

Images may be float in [0, 1] or uint8 (0-255, turned into floats one batch at a time, so 30,000
images at 64 px cost 370 MB instead of 1.5 GB); both give the same numbers.
"""
from __future__ import annotations

import torch
from torch import nn

from cgn_art.errors import CgnArtError
from cgn_art.evaluate.fitting import fit_classifier
from cgn_art.runtime.progress import Cancel, Progress

MIN_SIZE = 16  # the smallest side the two 5x5 convolutions and 2x poolings leave a pixel of


def feature_side(size: int) -> int:
    """Side of the last feature map for ``size`` px images: 32 -> 5, 64 -> 13."""
    return ((size - 4) // 2 - 4) // 2


DROPOUT = 0.5  # before the last layer; chosen on a validation split (benchmarks/table2.py --choose)


def small_cnn(num_classes: int = 10, channels: int = 3, size: int = 32, dropout: float = DROPOUT) -> nn.Module:
    """The classifier for ``size`` x ``size`` images (32 px: the paper's MNIST net)."""
    side = feature_side(size)
    return nn.Sequential(
        nn.Conv2d(channels, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # 32 -> 28 -> 14 (64 -> 60 -> 30)
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),         # 14 -> 10 -> 5 (30 -> 26 -> 13)
        # Dropout: trained on generated digits, the net must not memorise the CGN's exact strokes.
        nn.Flatten(), nn.Linear(32 * side * side, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, num_classes),
    )


def _floats(x: torch.Tensor) -> torch.Tensor:
    """A batch as floats in [0, 1], centred by the caller."""
    return x.float() / 255 if x.dtype == torch.uint8 else x


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 5, batch_size: int = 64,
                     lr: float = 1e-3, seed: int = 0, num_classes: int = 10, progress: Progress | None = None,
                     cancel: Cancel | None = None, dropout: float = DROPOUT) -> nn.Module:
    """Train a fresh :func:`small_cnn` on square images ``x`` (N, 3, S, S), float in [0, 1] or uint8,
    and labels ``y`` in 0 .. num_classes - 1.

    >>> images, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 2
    >>> model = train_classifier(images, labels, epochs=1, num_classes=2)
    >>> predict(model, images).shape
    torch.Size([8])
    """
    if x.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise CgnArtError(f"need a non-empty batch of images (N, C, H, W) with one label each; "
                          f"got images {tuple(x.shape)} and labels {tuple(y.shape)}")
    if x.shape[-2] != x.shape[-1] or x.shape[-1] < MIN_SIZE:
        raise CgnArtError(f"the classifier takes square images of at least {MIN_SIZE} px, "
                          f"not {x.shape[-2]} x {x.shape[-1]}")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise CgnArtError(f"labels run from {int(y.min())} to {int(y.max())} but the classifier has "
                          f"{num_classes} classes (0 to {num_classes - 1})")
    torch.manual_seed(seed)
    model = small_cnn(num_classes, x.shape[1], x.shape[-1], dropout)
    return fit_classifier(model, x, y, epochs, batch_size, lr=lr, generator=torch.Generator().manual_seed(seed),
                          inputs=lambda batch: _floats(batch) - 0.5, progress=progress, cancel=cancel)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """The predicted class of every image."""
    model.eval()
    return torch.cat([model(_floats(x[i: i + batch]) - 0.5).argmax(1) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of images whose predicted class is the label."""
    return float((predict(model, x) == y).float().mean())
