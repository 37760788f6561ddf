"""The paper's Table 2 on our data sets: does counterfactual data make a classifier look at shape?

Per variant (any data set in the registry: the three MNIST variants, letters), the same small CNN
is trained on (a) the original training split, where colour or texture and background give the
class away, (b) counterfactual images from the variant's CGN, (c) both; each is tested on the test
split, where texture and background are drawn at random, so only the shape tells the class.
Cue-conflict images (a real test shape of one class painted with the texture, and laid on the
background, that other classes wear in training) show which cue each classifier follows.
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cgn_art.data import mnist
from cgn_art.data.registry import DATASETS, dataset
from cgn_art.errors import CgnArtError
from cgn_art.robustness import counterfactuals as cfdata
from cgn_art.robustness.classifier import DROPOUT, accuracy, predict, train_classifier
from cgn_art.runtime.progress import Cancel, Progress, check, reporter, sub_progress
from cgn_art.settings_checks import MAX_SEED, Settings, number, whole

TRAINING_DATA = ("original", "counterfactual", "original + counterfactual")
CUES = ("shape", "texture", "background")
# Sauer & Geiger 2021, Table 2: test accuracy (%) of the classifier trained on original data and
# on CGN counterfactuals.
PAPER = {"original": {"colored": 35.9, "double-colored": 10.3, "wildlife": 10.1},
         "counterfactual": {"colored": 95.1, "double-colored": 89.0, "wildlife": 85.7}}
VARIANTS = tuple(DATASETS)  # every variant the experiment can run
DEFAULT_VARIANTS = mnist.VARIANTS  # the paper's Table 2
# Ranges declared once: validate() enforces them.
LIMITS = {"counterfactuals": (10, 1_000_000), "per_shape": (1, 1_000), "epochs": (1, 200), "batch_size": (1, 4096),
          "seed": (0, MAX_SEED), "cue_conflict": (10, 100_000)}


@dataclass
class RobustnessSettings(Settings):
    """One run of the experiment; shared by ``cgn-art classify``, the page and the benchmark."""

    KIND = "robustness"

    variants: tuple[str, ...] = DEFAULT_VARIANTS
    counterfactuals: int = 30_000  # counterfactual training images per variant
    # Counterfactuals per shape sample (1: every image its own mask). Chosen, with ``dropout``, on a
    # validation split cut from the counterfactual training data (robustness/validation.py).
    per_shape: int = 1
    epochs: int = 8
    batch_size: int = 64
    seed: int = 0
    dropout: float = DROPOUT  # the classifier's, before its last layer
    cue_conflict: int = 1_000  # cue-conflict images per variant
    models: dict = field(default_factory=dict)  # variant -> model name or folder (default: the shipped one)
    counterfactual_data: dict = field(default_factory=dict)  # variant -> dataset folder made by cf-data

    def validate(self) -> RobustnessSettings:
        if isinstance(self.variants, str):
            self.variants = (self.variants,)
        self.variants = tuple(dict.fromkeys(self.variants))
        if not self.variants:
            raise CgnArtError(f"choose at least one variant: {', '.join(VARIANTS)}")
        for variant in self.variants:
            dataset(variant)  # names the choices when unknown
        for name, (low, high) in LIMITS.items():
            setattr(self, name, whole(name.replace("_", " "), getattr(self, name), low, high))
        self.dropout = number("dropout", self.dropout, 0, 1, high_open=True)
        for kind in ("models", "counterfactual_data"):
            unknown = set(getattr(self, kind)) - set(self.variants)
            if unknown:
                raise CgnArtError(f"{kind.replace('_', ' ')} given for {', '.join(sorted(unknown))}, "
                                  f"which is not among the variants run ({', '.join(self.variants)})")
        for variant, folder in self.counterfactual_data.items():  # fail now, not after minutes of training
            if not (Path(folder) / "dataset.json").is_file():
                raise CgnArtError(f"{folder} is not a counterfactual dataset (no dataset.json); make one with "
                                  "'cgn-art cf-data make'")
        from cgn_art.mechanisms.weights import shipped_models
        for variant in self.variants:  # a missing CGN fails now, not after the variants before it
            model = self.model_for(variant)
            if variant not in self.counterfactual_data and model not in shipped_models() and not Path(model).is_dir():
                raise CgnArtError(f"no CGN for {variant}: {model!r} is not a shipped model or a model folder; "
                                  f"give one with --model {variant}=FOLDER (e.g. runs/{variant}/model)")
        return self

    def model_for(self, variant: str) -> str:
        return str(self.models.get(variant, variant))

    def data_settings(self, variant: str) -> cfdata.CounterfactualDataSettings:
        return cfdata.CounterfactualDataSettings(model=self.model_for(variant), count=self.counterfactuals,
                                                 per_shape=self.per_shape, seed=self.seed,
                                                 size=dataset(variant).native_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["variants"] = list(self.variants)
        d["counterfactual_data"] = {k: str(v) for k, v in self.counterfactual_data.items()}
        return d


def runnable_variants(extra=()) -> tuple[str, ...]:
    """The variants whose CGN ships in assets/models, plus ``extra`` (given a model or data), in registry order."""
    from cgn_art.mechanisms.weights import shipped_models

    shipped = shipped_models()
    return tuple(v for v in VARIANTS if v in shipped or v in set(extra))


# Cue-conflict images -----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _real_digits():
    return mnist.real_digits()  # a few seconds each time; the page and the CLI ask for it per variant


def cue_conflict_set(variant: str, n: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """``n`` real test shapes, each painted with a texture another class wears in training, on a
    background a third class wears.

    Returns images (n, 3, S, S) in [0, 1] and the shape, texture and background class of each.
    Where the variant has one background (colored MNIST) only shape and texture conflict.
    """
    if variant not in mnist.VARIANTS:
        return _letters_like_cue_conflict(variant, n, seed)
    return _mnist_cue_conflict(variant, n, seed)


def _mnist_cue_conflict(variant: str, n: int, seed: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    # Digit c wears texture c (and background c) in training, so a class other than the digit's is
    # another digit's cue. Kept as first written: the README's MNIST table comes from these draws.
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


def _material_crops(variant: str):
    """(kind, classes, size, rng) -> real texture or background crops (N, size, size, 3) float in [0, 1]."""
    if variant == "letters":
        from cgn_art.data import letters

        return letters.material_crops
    raise CgnArtError(f"no cue-conflict images for {variant}: its data module gives no real texture crops")


def biased_cues(train, n_shape: int) -> dict[str, np.ndarray]:
    """Per shape class, the texture and background class it wears in the biased training split
    (the most common one): what a classifier that reads cues instead of shapes would predict from."""
    out = {}
    for cue, values in (("texture", train.texture_class), ("background", train.background_class)):
        out[cue] = np.array([np.bincount(np.asarray(values)[np.asarray(train.labels) == c]).argmax()
                             if (np.asarray(train.labels) == c).any() else -1 for c in range(n_shape)], np.int64)
    return out


def _letters_like_cue_conflict(variant: str, n: int, seed: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    # Several shape classes may wear one texture (26 letters, 10 textures), so a cue is "another
    # class's" when the shape's class does not wear it in training, and texture and background
    # conflict with each other when no class wears both: then the shape, the texture and the
    # background each point to different classes.
    family = dataset(variant)
    crops = _material_crops(variant)
    names = family.class_names()
    n_texture, n_background = len(names["texture"]), len(names["background"])
    cues = biased_cues(family.load("train", seed=0), len(names["shape"]))
    test = family.load("test", seed=seed)
    rng = np.random.default_rng([seed, 7])
    pick = rng.choice(len(test.labels), n, replace=n > len(test.labels))
    shape = np.asarray(test.labels)[pick].astype(np.int64)
    texture = np.empty(n, np.int64)
    background = np.zeros(n, np.int64)
    worn = set(zip(cues["texture"].tolist(), cues["background"].tolist()))
    for i, s in enumerate(shape):
        texture[i] = rng.choice([t for t in range(n_texture) if t != cues["texture"][s]])
        if n_background > 1:
            choices = [b for b in range(n_background) if b != cues["background"][s] and (texture[i], b) not in worn]
            if not choices:
                raise CgnArtError(f"{variant}: no background conflicts with both the shape and the texture")
            background[i] = rng.choice(choices)
    size = family.native_size
    a = np.asarray(test.alpha)[pick].astype(np.float32)[..., None] / 255
    images = a * crops("texture", texture, size, rng) + (1 - a) * crops("background", background, size, rng)
    x = torch.from_numpy(np.round(np.clip(images, 0, 1) * 255) / 255).float().permute(0, 3, 1, 2).contiguous()
    return x, {"shape": shape, "texture": texture, "background": background}


def cue_following(predictions, classes: dict[str, np.ndarray], has_background: bool = True,
                  cues: dict[str, np.ndarray] | None = None) -> dict:
    """Share of cue-conflict images whose prediction follows the shape, the texture or the background.

    A prediction follows the shape when it is the shape's class, and the texture (background) when
    the predicted class wears the image's texture (background) in training: ``cues`` maps each
    class to the texture and background it wears (see :func:`biased_cues`); without it class c
    wears texture c and background c, as in the MNIST variants. The cues of an image point to
    different classes, so the shares plus ``other`` (none of them) add up to 1. ``background`` is
    None when the variant has no background classes to follow.
    """
    predictions = np.asarray(predictions)
    n = len(predictions)
    if n == 0:
        raise CgnArtError("no cue-conflict predictions to count")
    hits = {"shape": predictions == np.asarray(classes["shape"])}
    for cue in ("texture", "background"):
        worn = predictions if cues is None else np.asarray(cues[cue])[predictions]
        hits[cue] = worn == np.asarray(classes[cue])
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


def as_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # uint8 (N, 3, S, S): the classifier makes floats one batch at a time (same numbers, a quarter
    # of the memory: 30,000 letters at 64 px are 370 MB as bytes).
    return torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2), torch.from_numpy(np.asarray(labels)).long()


def counterfactuals_for(settings: RobustnessSettings, variant: str, n_classes: int, progress,
                     cancel) -> cfdata.CounterfactualDataset:
    folder = settings.counterfactual_data.get(variant)
    if folder is not None:
        data = cfdata.load_dataset(folder)
        if data.settings.shard != (0, 1):
            raise CgnArtError(f"{folder} is one shard of a dataset; merge the shards first "
                              "('cgn-art cf-data merge')")
        if len(data) and int(data.labels["shape_class"].max()) >= n_classes:
            raise CgnArtError(f"{folder} has shape classes up to {int(data.labels['shape_class'].max())} but "
                              f"{variant} has {n_classes}: make the dataset with a {variant} CGN")
        progress(1.0, f"loaded {len(data):,} counterfactuals from {folder}")
        return data
    from cgn_art.mechanisms.weights import load_model
    model = load_model(settings.model_for(variant), device="auto")
    if model.num_classes("shape") != n_classes:
        raise CgnArtError(f"model {settings.model_for(variant)!r} makes {model.num_classes('shape')} shape classes "
                          f"but {variant} has {n_classes}: give a {variant} CGN with --model {variant}=FOLDER")
    return cfdata.generate(model, settings.data_settings(variant), progress, cancel)


def run_experiment(settings: RobustnessSettings, progress: Progress | None = None,
                   cancel: Cancel | None = None) -> RobustnessResult:
    """Train and test the three classifiers for every variant in ``settings``.

    Minutes of training on a CPU, so the example is not run as a test (tests/test_robustness.py runs
    a small one):

    >>> settings = RobustnessSettings(variants=("colored",), counterfactuals=5_000, epochs=3)
    >>> result = run_experiment(settings)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    """
    settings.validate()
    started = time.perf_counter()
    report = reporter(progress)

    def pixels(variant: str) -> float:  # work per image grows with its area
        return (dataset(variant).native_size / 32) ** 2

    # Rough seconds per unit of work on a CPU, only to move the progress bar evenly.
    per_variant = settings.counterfactuals / 800 + settings.epochs * (2 * settings.counterfactuals + 8_000) / 2_500
    total = per_variant * sum(pixels(v) for v in settings.variants)
    stage = {"done": 0.0}

    def part(weight: float, label: str) -> Progress:
        base = stage["done"]
        stage["done"] += weight
        return sub_progress(report, base / total, (base + weight) / total, label)

    results = []
    for variant in settings.variants:
        check(cancel, "the robustness experiment was cancelled")
        family = dataset(variant)
        names = family.class_names()
        n_classes = len(names["shape"])
        train, test = family.load("train", seed=settings.seed), family.load("test", seed=settings.seed)
        x_original, y_original = as_tensors(train.images, train.labels)
        x_test, y_test = as_tensors(test.images, test.labels)
        cues = biased_cues(train, n_classes)
        x_cue, cue_classes = cue_conflict_set(variant, settings.cue_conflict, settings.seed)
        has_background = len(names["background"]) > 1
        cf = counterfactuals_for(settings, variant, n_classes, part(pixels(variant) * settings.counterfactuals / 800,
                                                                 f"{variant}, counterfactual data"), cancel)
        x_cf, y_cf = as_tensors(cf.images, cf.labels["shape_class"])
        if x_cf.shape[-2:] != x_original.shape[-2:]:
            raise CgnArtError(f"counterfactual images are {x_cf.shape[-1]} px but {variant} images are "
                              f"{x_original.shape[-1]} px: make the dataset with --size {x_original.shape[-1]}")
        training = {"original": (x_original, y_original), "counterfactual": (x_cf, y_cf),
                    "original + counterfactual": (torch.cat([x_original, x_cf]), torch.cat([y_original, y_cf]))}
        for name in TRAINING_DATA:
            x, y = training[name]
            t0 = time.perf_counter()
            model = train_classifier(x, y, settings.epochs, settings.batch_size, seed=settings.seed,
                                     num_classes=n_classes, cancel=cancel, dropout=settings.dropout,
                                     progress=part(pixels(variant) * settings.epochs * len(y) / 2_500,
                                                   f"{variant}, {name}"))
            results.append(ClassifierResult(
                variant, name, len(y), accuracy(model, x, y), accuracy(model, x_test, y_test),
                cue_following(predict(model, x_cue).numpy(), cue_classes, has_background, cues),
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


def biased_sheet(variant: str, columns: int = 8, scale: int = 2, seed: int = 0, rows: int = 10) -> Image.Image:
    """Real training samples, one row per class (the first ``rows`` classes): colour/texture and
    background give the class away."""
    data = dataset(variant).load("train", seed=seed)
    n = min(rows, len(dataset(variant).class_names()["shape"]))
    picks = np.concatenate([np.flatnonzero(data.labels == c)[:columns] for c in range(n)])
    return _sheet(data.images[picks], columns, scale)


def counterfactual_sheet(model, columns: int = 8, scale: int = 2, seed: int = 0, rows: int = 10) -> Image.Image:
    """Counterfactual samples from ``model``, one row per class (the first ``rows``), each with a random
    texture and background."""
    rng = np.random.default_rng([seed, 11])
    shape = np.repeat(np.arange(min(rows, model.num_classes("shape"))), columns)
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
