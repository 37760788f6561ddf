"""Counterfactual datasets: many images from a CGN, k counterfactuals per shape sample.

Each shape sample (a shape class and a shape seed, so one mask) is drawn ``per_shape`` times with
new texture and background classes and new noise. Every row's classes and seeds come from one
table built from the settings alone, and images are made in batches aligned to fixed positions in
that table, so a dataset split into shards (``shard=(i, n)``) by independent workers and merged is
byte for byte the dataset one worker makes.

A dataset is a folder: ``dataset.json`` (the settings), ``labels.csv`` (one row per image: shape,
texture and background class and the three seeds) and the images, either as PNG files under
``images/`` or as one ``images.safetensors`` tensor (N, H, W, 3) uint8.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import validate_size, validate_truncation
from cgn_art.runtime.progress import Cancel, Progress, check
from cgn_art.settings_checks import MAX_SEED, Settings, check_seed, whole

FORMATS = ("png", "tensors")
BATCH = 256  # rows per generation batch; shard borders fall on multiples of it (see module doc)
COLUMNS = ("index", "file", "shape_class", "texture_class", "background_class",
           "shape_seed", "texture_seed", "background_seed")


@dataclass
class CounterfactualDataSettings(Settings):
    """What ``cgn-art cf-data``, :func:`write_dataset` and the Robustness Lab page generate."""

    KIND = "counterfactual data"

    model: str = "wildlife"  # a shipped model name or a model folder
    count: int = 10_000  # images in the whole dataset (all shards together)
    # Counterfactuals per shape sample (same mask, new texture/background). 1 by default: at a fixed
    # number of images, more distinct masks teach a classifier shapes better (see experiment.py).
    per_shape: int = 1
    seed: int = 0
    size: int | None = None  # image side in pixels; None: the model's native size (32 MNIST, 64 letters)
    truncation: float = 1.0
    format: str = "tensors"
    shard: tuple[int, int] = field(default=(0, 1))  # (i, n): this worker makes part i of n

    def validate(self) -> CounterfactualDataSettings:
        self.count = whole("count", self.count, None)
        if self.count < 1:
            raise CgnArtError(f"count {self.count} is too small: make at least 1 image")
        self.per_shape = whole("per shape", self.per_shape, None)
        if self.per_shape < 1:
            raise CgnArtError(f"per shape {self.per_shape} is too small: give 1 or more counterfactuals per shape")
        self.seed = check_seed(self.seed)
        if self.size is not None:
            self.size = validate_size(self.size)
        self.truncation = validate_truncation(self.truncation)
        if self.format not in FORMATS:
            raise CgnArtError(f"format {self.format!r} is unknown: use {' or '.join(FORMATS)}")
        self.shard = parse_shard(self.shard)
        if self.shard[1] > n_batches(self.count):
            raise CgnArtError(f"{self.shard[1]} shards is more than this dataset has batches of {BATCH} images "
                              f"({n_batches(self.count)}): use at most {n_batches(self.count)} shards")
        self.model = str(self.model)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shard"] = list(self.shard)
        return d


def parse_shard(shard) -> tuple[int, int]:
    """``'2/4'`` or ``(2, 4)`` -> (2, 4): part 2 of 4, counting from 0."""
    try:
        if isinstance(shard, str):
            i, n = (int(part) for part in shard.split("/"))
        else:
            i, n = (int(part) for part in shard)
    except (ValueError, TypeError):
        raise CgnArtError(f"shard {shard!r} is not of the form i/n (e.g. 0/4 for the first of four parts)") from None
    if n < 1 or not 0 <= i < n:
        raise CgnArtError(f"shard {i}/{n} is out of range: i counts from 0 to n-1 (e.g. 0/4 ... 3/4)")
    return i, n


def n_batches(count: int) -> int:
    return -(-count // BATCH)


def shard_rows(count: int, shard: tuple[int, int]) -> range:
    """The rows part i of n makes: whole batches, split as evenly as batches allow."""
    i, n = shard
    batches = n_batches(count)
    return range(min(count, BATCH * (i * batches // n)), min(count, BATCH * ((i + 1) * batches // n)))


def label_table(settings: CounterfactualDataSettings, n_texture: int, n_background: int,
                n_shape: int = 10) -> dict[str, np.ndarray]:
    """Classes and seeds of every row of the whole dataset (all shards), from the settings alone.

    Shape classes cycle 0 .. n_shape - 1 over shape samples so every class is equally common;
    texture and background classes are drawn at random so they carry no information about the shape.
    """
    rng = np.random.default_rng([settings.seed, 20210112])
    rows = np.arange(settings.count)
    sample = rows // settings.per_shape
    n_samples = int(sample[-1]) + 1
    shape_seeds = rng.integers(0, MAX_SEED, n_samples)  # one per sample: its k rows share the mask
    other_seeds = rng.integers(0, MAX_SEED, 2 * settings.count)
    return {
        "shape_class": (sample % n_shape).astype(np.int64),
        "texture_class": rng.integers(0, n_texture, settings.count),
        "background_class": rng.integers(0, n_background, settings.count),
        "shape_seed": shape_seeds[sample].astype(np.int64),
        "texture_seed": other_seeds[: settings.count].astype(np.int64),
        "background_seed": other_seeds[settings.count:].astype(np.int64),
    }


@dataclass
class CounterfactualDataset:
    """Images (N, H, W, 3) uint8 with their labels; ``rows`` are indices into the whole dataset."""

    images: np.ndarray
    labels: dict[str, np.ndarray]
    rows: np.ndarray
    settings: CounterfactualDataSettings

    def __len__(self) -> int:
        return len(self.rows)


def generate(model, settings: CounterfactualDataSettings, progress: Progress | None = None,
             cancel: Cancel | None = None) -> CounterfactualDataset:
    """Make this shard's images in memory (the whole dataset when ``shard`` is 0/1), for a model
    with any number of shape classes; ``settings.size`` None becomes the model's native size."""
    settings.validate()
    if settings.size is None:
        settings = replace(settings, size=validate_size(model.native_size))
    table = label_table(settings, model.num_classes("texture"), model.num_classes("background"),
                        model.num_classes("shape"))
    rows = shard_rows(settings.count, settings.shard)
    images = np.empty((len(rows), settings.size, settings.size, 3), np.uint8)
    for start in range(rows.start, rows.stop, BATCH):
        check(cancel, "counterfactual data generation was cancelled")
        part = slice(start, min(start + BATCH, rows.stop))
        cf = model.counterfactual(
            table["shape_class"][part], table["texture_class"][part], table["background_class"][part],
            shape_seed=table["shape_seed"][part], texture_seed=table["texture_seed"][part],
            background_seed=table["background_seed"][part], truncation=settings.truncation, size=settings.size)
        pixels = (cf.composite.detach().float().clamp(0, 1) * 255).round().byte().cpu()
        images[part.start - rows.start: part.stop - rows.start] = pixels.permute(0, 2, 3, 1).numpy()
        if progress:
            done = part.stop - rows.start
            progress(done / len(rows), f"counterfactuals {done:,}/{len(rows):,}")
    labels = {k: v[rows.start: rows.stop] for k, v in table.items()}
    return CounterfactualDataset(images, labels, np.arange(rows.start, rows.stop), settings)


# Files -------------------------------------------------------------------------------------

def _file_name(row: int) -> str:
    return f"images/{row:08d}.png"


def save_dataset(data: CounterfactualDataset, folder: str | Path) -> Path:
    """Write ``data`` as a dataset folder (see the module doc)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise CgnArtError(f"{folder} is not empty: give a new or empty folder for the dataset")
    folder.mkdir(parents=True, exist_ok=True)
    png = data.settings.format == "png"
    if png:
        (folder / "images").mkdir()
        for k, row in enumerate(data.rows):
            Image.fromarray(data.images[k]).save(folder / _file_name(int(row)))
    else:
        save_file({"images": np.ascontiguousarray(data.images), "rows": data.rows.astype(np.int64)},
                  str(folder / "images.safetensors"))
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for k, row in enumerate(data.rows):
            writer.writerow([int(row), _file_name(int(row)) if png else "images.safetensors"]
                            + [int(data.labels[c][k]) for c in COLUMNS[2:]])
    (folder / "dataset.json").write_text(json.dumps(
        {"format": "cgn-art/counterfactual-data", "settings": data.settings.to_dict(), "images": len(data)},
        indent=2) + "\n")
    return folder


def write_dataset(settings: CounterfactualDataSettings, folder: str | Path, model=None,
                  progress: Progress | None = None, cancel: Cancel | None = None) -> Path:
    """Generate (this shard of) a counterfactual dataset and write it to ``folder``."""
    settings.validate()
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):  # fail before minutes of work, not after
        raise CgnArtError(f"{folder} is not empty: give a new or empty folder for the dataset")
    if model is None:
        from cgn_art.mechanisms.weights import load_model
        model = load_model(settings.model, device="auto")
    return save_dataset(generate(model, settings, progress, cancel), folder)


def load_dataset(folder: str | Path) -> CounterfactualDataset:
    """Read a dataset folder back (either image format); labels come from labels.csv."""
    folder = Path(folder)
    meta_path = folder / "dataset.json"
    if not meta_path.is_file():
        raise CgnArtError(f"{folder} is not a counterfactual dataset: dataset.json is missing "
                          "(make one with 'cgn-art cf-data make')")
    try:
        meta = json.loads(meta_path.read_text())
        raw = dict(meta["settings"])
        raw["shard"] = tuple(raw["shard"])
        settings = CounterfactualDataSettings(**raw).validate()
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CgnArtError(f"{meta_path}: not a cgn-art counterfactual dataset description ({e})") from None
    try:
        with open(folder / "labels.csv", newline="") as f:
            records = list(csv.DictReader(f))
        rows = np.array([int(r["index"]) for r in records], np.int64)
        labels = {c: np.array([int(r[c]) for r in records], np.int64) for c in COLUMNS[2:]}
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CgnArtError(f"{folder / 'labels.csv'}: missing or damaged ({e})") from None
    if settings.format == "png":
        try:
            images = np.stack([np.asarray(Image.open(folder / r["file"]).convert("RGB")) for r in records])
        except OSError as e:
            raise CgnArtError(f"{folder}: an image file is missing or damaged ({e})") from None
    else:
        try:
            tensors = load_file(str(folder / "images.safetensors"))
        except (SafetensorError, OSError) as e:
            raise CgnArtError(f"{folder / 'images.safetensors'}: missing or damaged ({e})") from None
        if not np.array_equal(tensors["rows"], rows):
            raise CgnArtError(f"{folder}: labels.csv and images.safetensors disagree on the rows they hold")
        images = tensors["images"]
    return CounterfactualDataset(images, labels, rows, settings)


def merge_datasets(folders: Sequence[str | Path], out: str | Path) -> Path:
    """Merge the shards made by independent workers into one dataset folder.

    The shards must come from the same settings (apart from ``shard``) and together hold every
    part exactly once; the result equals the dataset one worker would have made.
    """
    if not folders:
        raise CgnArtError("give the shard folders to merge")
    parts = [load_dataset(f) for f in folders]
    first = parts[0].settings
    common = {k: v for k, v in first.to_dict().items() if k != "shard"}
    for folder, part in zip(folders, parts):
        other = {k: v for k, v in part.settings.to_dict().items() if k != "shard"}
        if other != common:
            diff = ", ".join(k for k in common if common[k] != other[k])
            raise CgnArtError(f"{folder} was made with different settings ({diff}) and cannot be merged")
    n = first.shard[1]
    seen = sorted(p.settings.shard for p in parts)
    if seen != [(i, n) for i in range(n)]:
        missing = sorted(set(range(n)) - {i for i, m in seen if m == n})
        raise CgnArtError(f"the shards do not make a whole dataset of {n} parts: got "
                          f"{', '.join(f'{i}/{m}' for i, m in seen)}"
                          + (f"; missing {', '.join(f'{i}/{n}' for i in missing)}" if missing else ""))
    parts.sort(key=lambda p: p.settings.shard[0])
    settings = CounterfactualDataSettings(**{**common, "shard": (0, 1)}).validate()
    merged = CounterfactualDataset(
        np.concatenate([p.images for p in parts]),
        {c: np.concatenate([p.labels[c] for p in parts]) for c in COLUMNS[2:]},
        np.concatenate([p.rows for p in parts]), settings)
    if not np.array_equal(merged.rows, np.arange(settings.count)):
        raise CgnArtError("the shards' rows do not cover the dataset exactly once; were they edited?")
    return save_dataset(merged, out)


def to_tensors(data: CounterfactualDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float (N, 3, H, W) in [0, 1] and shape classes as the digit labels."""
    x = torch.from_numpy(np.ascontiguousarray(data.images)).permute(0, 3, 1, 2).float() / 255
    return x, torch.from_numpy(data.labels["shape_class"]).long()
