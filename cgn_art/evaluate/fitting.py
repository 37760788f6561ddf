"""The one fitting loop: a classifier trained with Adam and cross-entropy over shuffled batches.

The judges (:mod:`cgn_art.evaluate.judges`, :mod:`cgn_art.evaluate.colour`) and the Robustness
Lab's classifier (:mod:`cgn_art.robustness.classifier`) all train with it.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cgn_art.runtime.progress import Cancel, Progress, check


def fit_classifier(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int = 64, *,
                   lr: float = 1e-3, generator: torch.Generator | None = None,
                   inputs: Callable[[torch.Tensor], torch.Tensor] | None = None, progress: Progress | None = None,
                   cancel: Cancel | None = None, what: str = "classifier training") -> nn.Module:
    """Train ``net`` on images ``x`` and labels ``y`` for ``epochs`` passes of shuffled batches; returns
    it in eval mode.

    The batch order comes from ``generator`` (None: torch's global generator, so a caller that seeds
    torch first gets the same run again). ``inputs`` turns a batch of ``x`` into what ``net`` takes
    (e.g. uint8 to float). ``progress`` hears every 20 steps and at the end; ``cancel`` is asked
    before every step (raises JobCancelled: "``what`` was cancelled").

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> fit_classifier(net, torch.rand(6, 1, 2, 2), torch.arange(6) % 2, epochs=1).training
    False
    """
    optimizer = torch.optim.Adam(net.parameters(), lr)
    steps_per_epoch = -(-len(y) // batch_size)
    total = epochs * steps_per_epoch
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for step, i in enumerate(range(0, len(y), batch_size)):
            check(cancel, f"{what} was cancelled")
            part = order[i: i + batch_size]
            batch = x[part] if inputs is None else inputs(x[part])
            loss = F.cross_entropy(net(batch), y[part])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done = epoch * steps_per_epoch + step + 1
            if progress and (done % 20 == 0 or done == total):
                progress(done / total, f"epoch {epoch + 1}/{epochs}, loss {loss.item():.3f}")
    return net.eval()
