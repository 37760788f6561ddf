"""What every built data set shares: its arrays, and its .npz cache under ``cache_root()/data``.

A data set is built offline, deterministically from a seed, and kept as one .npz file: read back
when it is there, built and written atomically (a temporary file, then a rename) when it is not, and
built again when the file is damaged or half-written.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from cgn_art.cache import cache_root

Data = TypeVar("Data")


@dataclass
class CompositeDataset:
    """Images (N, H, W, 3) uint8 and, per image, the shape (``labels``), texture and background class.

    ``alpha`` (N, H, W) uint8 is each shape's coverage. CGN training never reads it: it is kept only
    to measure real masks (e.g. their mean area) in benchmarks.
    """

    split: str
    images: np.ndarray
    labels: np.ndarray
    texture_class: np.ndarray
    background_class: np.ndarray
    alpha: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def cache_dir() -> Path:
    """Where built data sets are kept: ``data`` under :func:`cgn_art.cache.cache_root`."""
    return cache_root() / "data"


def cached(path: Path, fields: tuple[str, ...], build: Callable[[], Data],
           read: Callable[[Mapping[str, np.ndarray]], Data], rebuild: bool = False, compress: bool = False) -> Data:
    """The data set cached at ``path`` (its ``fields`` given to ``read``), else ``build()`` written there."""
    if path.exists() and not rebuild:
        try:
            with np.load(path) as f:
                return read({k: f[k] for k in fields})
        except Exception:  # a half-written or damaged cache file: build it again
            pass
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    (np.savez_compressed if compress else np.savez)(tmp, **{k: getattr(data, k) for k in fields})
    tmp.replace(path)
    return data
