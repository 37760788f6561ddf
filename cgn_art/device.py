"""Pick the torch device: CUDA, then Apple's MPS, then CPU, unless the user names one."""
from __future__ import annotations

import torch

from cgn_art.errors import CgnArtError


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Return the device to run on.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if isinstance(preference, torch.device):
        return preference
    name = (preference or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CgnArtError(f"device {preference!r} was asked for, but no CUDA GPU is available; use 'cpu' or 'auto'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CgnArtError("device 'mps' was asked for, but Apple MPS is not available; use 'cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError:
        raise CgnArtError(f"unknown device {preference!r}; use 'auto', 'cpu', 'cuda' or 'mps'") from None
