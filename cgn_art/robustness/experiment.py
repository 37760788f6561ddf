"""The paper's Table 2 on our MNIST variants: does counterfactual data make a classifier look at shape?

Per variant, the same small CNN is trained on (a) the original training split, where colour or
texture and background give the digit away, (b) counterfactual images from the variant's CGN,
(c) both; each is tested on the test split, where texture and background are drawn at random, so
only the digit's shape tells the class. Cue-conflict images (a real digit of one class painted
with the texture, and laid on the background, of other classes) show which cue each classifier
follows.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cgn_art.data import mnist
from cgn_art.errors import CgnArtError
from cgn_art.robustness import counterfactuals as cfdata
from cgn_art.robustness.classifier import accuracy, predict, train_classifier

TRAINING_DATA = ("original", "counterfactual", "original + counterfactual")
CUES = ("shape", "texture", "background")
# Sauer & Geiger 2021, Table 2: test accuracy (%) of the classifier trained on original data and
# on CGN counterfactuals.
PAPER = {"original": {"colored": 35.9, "double-colored": 10.3, "wildlife": 10.1},
         "counterfactual": {"colored": 95.1, "double-colored": 89.0, "wildlife": 85.7}}
Progress = Callable[[float, str], None]


@dataclass
class RobustnessSettings:
    """One run of the experiment; shared by ``cgn-art classify``, the page and the benchmark."""

    variants: tuple[str, ...] = mnist.VARIANTS
    counterfactuals: int = 30_000  # counterfactual training images per variant
    # Counterfactuals per shape sample. 1 (every image its own mask) generalises best to real digits
    # at a fixed budget: colored MNIST, 30,000 images, no dropout: 91.9 % test accuracy vs 89.8 % at 10.
    per_shape: int = 1
    epochs: int = 8
    batch_size: int = 64
    seed: int = 0
    cue_conflict: int = 1_000  # cue-conflict images per variant
    models: dict = field(default_factory=dict)  # variant -> model name or folder (default: the shipped one)
    counterfactual_data: dict = field(default_factory=dict)  # variant -> dataset folder made by cf-data

    def validate(self) -> RobustnessSettings:
        if isinstance(self.variants, str):
            self.variants = (self.variants,)
        self.variants = tuple(dict.fromkeys(self.variants))
        if not self.variants:
            raise CgnArtError("choose at least one variant: colored, double-colored or wildlife")
        for variant in self.variants:
            mnist.check_variant(variant)
        limits = {"counterfactuals": (10, 1_000_000), "per_shape": (1, 1_000), "epochs": (1, 200),
                  "batch_size": (1, 4096), "seed": (0, cfdata.MAX_SEED), "cue_conflict": (10, 100_000)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise CgnArtError(f"{name.replace('_', ' ')} {value!r} is not a whole number")
            if not low <= value <= high:
                raise CgnArtError(f"{name.replace('_', ' ')} {value} is out of range: give {low} to {high:,}")
        for kind in ("models", "counterfactual_data"):
            unknown = set(getattr(self, kind)) - set(self.variants)
            if unknown:
                raise CgnArtError(f"{kind.replace('_', ' ')} given for {', '.join(sorted(unknown))}, "
                                  f"which is not among the variants run ({', '.join(self.variants)})")
        for variant, folder in self.counterfactual_data.items():  # fail now, not after minutes of training
            if not (Path(folder) / "dataset.json").is_file():
                raise CgnArtError(f"{folder} is not a counterfactual dataset (no dataset.json); make one with "
                                  "'cgn-art cf-data make'")
        return self

    def model_for(self, variant: str) -> str:
        return str(self.models.get(variant, variant))

    def data_settings(self, variant: str) -> cfdata.CounterfactualDataSettings:
        return cfdata.CounterfactualDataSettings(model=self.model_for(variant), count=self.counterfactuals,
                                                 per_shape=self.per_shape, seed=self.seed)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["variants"] = list(self.variants)
        d["counterfactual_data"] = {k: str(v) for k, v in self.counterfactual_data.items()}
        return d


# Cue-conflict images -----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _real_digits():
    return mnist.real_digits()  # a few seconds each time; the page and the CLI ask for it per variant


def cue_conflict_set(variant: str, n: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """``n`` real test digits, each painted with another class's texture on a third class's background.

    Returns images (n, 3, 32, 32) in [0, 1] and the shape, texture and background class of each.
    Where the variant has one background (colored MNIST) only shape and texture conflict.
    """
    mnist.check_variant(variant)
    alpha_all, labels_all = _real_digits()
    test = mnist.split_indices(labels_all, "test")
    rng = np.random.default_rng([seed, 7])
    pick = rng.choice(test, n, replace=n > len(test))
    shape = labels_all[pick]
    n_background = len(mnist.class_names(variant)["background"])
    texture = (shape + rng.integers(1, 10, n)) % 10  # never the shape's class
    background = np.zeros(n, np.int64)
    if n_background > 1:
        for i in range(n):  # a third class: neither the shape's nor the texture's
            background[i] = rng.choice([c for c in range(n_background) if c not in (shape[i], texture[i])])
    a = alpha_all[pick][..., None]
    images = a * mnist.foreground_samples(variant, texture, rng) + (1 - a) * mnist.background_samples(
        variant, background, rng)
    x = torch.from_numpy(np.round(np.clip(images, 0, 1) * 255) / 255).float().permute(0, 3, 1, 2).contiguous()
    return x, {"shape": shape.astype(np.int64), "texture": texture, "background": background}


def cue_following(predictions, classes: dict[str, np.ndarray], has_background: bool = True) -> dict:
    """Share of cue-conflict images whose prediction is the shape's, texture's or background's class.

    The three classes of an image differ, so the shares plus ``other`` (none of them) add up to 1.
    ``background`` is None when the variant has no background classes to follow.
    """
    predictions = np.asarray(predictions)
    n = len(predictions)
    if n == 0:
        raise CgnArtError("no cue-conflict predictions to count")
    hits = {cue: predictions == np.asarray(classes[cue]) for cue in CUES}
    if not has_background:
        hits["background"] = np.zeros(n, bool)
    rates = {cue: float(hits[cue].mean()) for cue in CUES}
    rates["other"] = float((~(hits["shape"] | hits["texture"] | hits["background"])).mean())
    if not has_background:
        rates["background"] = None
    return rates


# The experiment ----------------------------------------------------------------------------

@dataclass
class ClassifierResult:
    variant: str
    training_data: str
    train_images: int
    train_accuracy: float  # on the images it was trained on
    test_accuracy: float  # on the randomised test split
    cue_following: dict
    seconds: float


@dataclass
class RobustnessResult:
    settings: RobustnessSettings
    results: list[ClassifierResult]
    seconds: float

    def get(self, variant: str, training_data: str) -> ClassifierResult:
        return next(r for r in self.results if r.variant == variant and r.training_data == training_data)

    def to_dict(self) -> dict:
        return {"settings": self.settings.to_dict(), "seconds": round(self.seconds, 1), "paper": PAPER,
                "results": [asdict(r) for r in self.results]}

    def table(self) -> str:
        """Test accuracy (%) per training data and variant, as a markdown table, the paper's beside ours."""
        variants = self.settings.variants
        lines = ["| training data | " + " | ".join(f"{v} (paper)" for v in variants) + " |",
                 "|---|" + "---|" * len(variants)]
        for data in TRAINING_DATA:
            cells = []
            for v in variants:
                paper = PAPER.get(data, {}).get(v)
                ours = f"{100 * self.get(v, data).test_accuracy:.1f}"
                cells.append(f"{ours} ({paper})" if paper is not None else f"{ours} (-)")
            lines.append(f"| {data} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def cue_table(self) -> str:
        """Per classifier, how often it follows each cue on cue-conflict images (%), as markdown."""
        lines = ["| variant | training data | shape | texture | background | other |", "|---|---|---|---|---|---|"]
        for r in self.results:
            c = r.cue_following
            cells = ["n/a" if c[k] is None else f"{100 * c[k]:.1f}" for k in (*CUES, "other")]
            lines.append(f"| {r.variant} | {r.training_data} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _as_tensors(data: mnist.DigitDataset) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    return x, torch.from_numpy(data.labels).long()


def _counterfactuals(settings: RobustnessSettings, variant: str, progress, cancel) -> cfdata.CounterfactualDataset:
    folder = settings.counterfactual_data.get(variant)
    if folder is not None:
        data = cfdata.load_dataset(folder)
        if data.settings.shard != (0, 1):
            raise CgnArtError(f"{folder} is one shard of a dataset; merge the shards first "
                              "('cgn-art cf-data merge')")
        progress(1.0, f"loaded {len(data):,} counterfactuals from {folder}")
        return data
    from cgn_art.mechanisms.weights import load_model
    model = load_model(settings.model_for(variant), device="auto")
    return cfdata.generate(model, settings.data_settings(variant), progress, cancel)


def run_experiment(settings: RobustnessSettings, progress: Progress | None = None,
                   cancel: Callable[[], bool] | None = None) -> RobustnessResult:
    """Train and test the three classifiers for every variant in ``settings``.

    >>> result = run_experiment(RobustnessSettings(variants=("colored",), counterfactuals=5_000, epochs=3))
    >>> print(result.table())
    """
    settings.validate()
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    # Rough seconds per unit of work on a CPU, only to move the progress bar evenly.
    per_variant = settings.counterfactuals / 800 + settings.epochs * (2 * settings.counterfactuals + 8_000) / 2_500
    stage = {"done": 0.0}

    def part(weight: float, label: str) -> Progress:
        base, total = stage["done"], per_variant * len(settings.variants)
        stage["done"] += weight
        return lambda f, message: report(min(1.0, (base + f * weight) / total), f"{label}: {message}")

    results = []
    for variant in settings.variants:
        if cancel and cancel():
            raise CgnArtError("the robustness experiment was cancelled")
        x_original, y_original = _as_tensors(mnist.load(variant, "train", settings.seed))
        x_test, y_test = _as_tensors(mnist.load(variant, "test", settings.seed))
        x_cue, cue_classes = cue_conflict_set(variant, settings.cue_conflict, settings.seed)
        has_background = len(mnist.class_names(variant)["background"]) > 1
        cf = _counterfactuals(settings, variant, part(settings.counterfactuals / 800,
                                                      f"{variant}, counterfactual data"), cancel)
        x_cf, y_cf = cfdata.to_tensors(cf)
        if x_cf.shape[-2:] != x_original.shape[-2:]:
            raise CgnArtError(f"counterfactual images are {x_cf.shape[-1]} px but {variant} MNIST is "
                              f"{x_original.shape[-1]} px: make the dataset with --size {x_original.shape[-1]}")
        training = {"original": (x_original, y_original), "counterfactual": (x_cf, y_cf),
                    "original + counterfactual": (torch.cat([x_original, x_cf]), torch.cat([y_original, y_cf]))}
        for name in TRAINING_DATA:
            x, y = training[name]
            t0 = time.perf_counter()
            model = train_classifier(x, y, settings.epochs, settings.batch_size, seed=settings.seed,
                                     progress=part(settings.epochs * len(y) / 2_500, f"{variant}, {name}"),
                                     cancel=cancel)
            results.append(ClassifierResult(
                variant, name, len(y), accuracy(model, x, y), accuracy(model, x_test, y_test),
                cue_following(predict(model, x_cue).numpy(), cue_classes, has_background),
                time.perf_counter() - t0))
    report(1.0, "done")
    return RobustnessResult(settings, results, time.perf_counter() - started)


# Pictures for the page ---------------------------------------------------------------------

def _sheet(images: np.ndarray, columns: int, scale: int) -> Image.Image:
    tile = images.shape[1] * scale
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), "white")
    for k, image in enumerate(images):
        picture = Image.fromarray(image).resize((tile, tile), Image.Resampling.NEAREST)
        sheet.paste(picture, ((k % columns) * tile, (k // columns) * tile))
    return sheet


def biased_sheet(variant: str, columns: int = 8, scale: int = 2, seed: int = 0) -> Image.Image:
    """Real training samples, one row per digit: colour/texture and background give the digit away."""
    data = mnist.load(variant, "train", seed)
    picks = np.concatenate([np.flatnonzero(data.labels == c)[:columns] for c in range(10)])
    return _sheet(data.images[picks], columns, scale)


def counterfactual_sheet(model, columns: int = 8, scale: int = 2, seed: int = 0) -> Image.Image:
    """Counterfactual samples from ``model``, one row per digit, each with random texture and background."""
    rng = np.random.default_rng([seed, 11])
    shape = np.repeat(np.arange(10), columns)
    cf = model.counterfactual(shape, rng.integers(0, model.num_classes("texture"), len(shape)),
                              rng.integers(0, model.num_classes("background"), len(shape)),
                              seed=(np.arange(len(shape)) + seed * 1000).tolist(), size=model.native_size)
    pixels = (cf.composite.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return _sheet(pixels, columns, scale)


def save_result(result: RobustnessResult, path: str | Path) -> Path:
    import json
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return path
