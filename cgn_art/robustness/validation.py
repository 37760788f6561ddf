"""Choosing the experiment's settings without the test split.

The test split (texture and background drawn at random) is what the table reports, so nothing may
be chosen by looking at it. A choice (counterfactuals per shape sample, the classifier's dropout) is
made here instead: each candidate's counterfactual classifier is scored on a validation split cut
from its own training data, shape samples held out whole. ``benchmarks/table2.py --choose`` prints
the comparison.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from cgn_art.data.registry import dataset
from cgn_art.errors import CgnArtError
from cgn_art.robustness.classifier import accuracy, train_classifier
from cgn_art.robustness.experiment import RobustnessSettings, as_tensors, counterfactuals_for
from cgn_art.runtime.progress import Progress, reporter, sub_progress
from cgn_art.settings_checks import number

# What was chosen, and against what: the defaults above and one change each.
CANDIDATES = {"defaults": {}, "ten counterfactuals per shape": {"per_shape": 10}, "no dropout": {"dropout": 0.0}}


def validation_cut(groups: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): a seeded ``share`` of the groups, held out whole.

    ``groups`` gives each row's group (a counterfactual's shape sample: its rows share one mask), so
    no mask is both trained on and validated on.

    >>> fit, held = validation_cut(np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]), 0.2, seed=0)
    >>> len(fit), len(held), sorted(set(fit // 2) & set(held // 2))
    (8, 2, [])
    """
    share = number("validation share", share, 0, 1, low_open=True, high_open=True)
    ids = np.unique(groups)
    if len(ids) < 2:
        raise CgnArtError("a validation split needs at least two shape samples")
    n_held = min(len(ids) - 1, max(1, round(share * len(ids))))
    held_ids = np.random.default_rng([seed, 31]).permutation(ids)[:n_held]
    held = np.isin(groups, held_ids)
    return np.flatnonzero(~held), np.flatnonzero(held)


def choose_on_validation(settings: RobustnessSettings, variant: str, candidates: dict[str, dict] | None = None,
                         share: float = 0.1, progress: Progress | None = None) -> dict[str, dict]:
    """Validation accuracy of the counterfactual classifier under each candidate's settings.

    Each candidate (a name -> changes to ``settings``, e.g. ``{"per_shape": 10}``) makes its
    counterfactual training data, holds out ``share`` of its shape samples as the validation split,
    trains on the rest and is scored on the held-out part. Only the training data is read: the test
    split, where texture and background are random, stays unseen until the table is made.
    """
    candidates = CANDIDATES if candidates is None else candidates
    report = reporter(progress)
    n_classes = len(dataset(variant).class_names()["shape"])
    out = {}
    for k, (name, changes) in enumerate(candidates.items()):
        models = {v: m for v, m in settings.models.items() if v == variant}
        s = replace(settings, variants=(variant,), models=models, counterfactual_data={}, **changes).validate()

        part = sub_progress(report, k / len(candidates), (k + 1) / len(candidates), name)
        cf = counterfactuals_for(s, variant, n_classes, sub_progress(part, 0.0, 0.3), None)
        x, y = as_tensors(cf.images, cf.labels["shape_class"])
        fit, held = validation_cut(np.arange(len(y)) // cf.settings.per_shape, share, s.seed)
        fit_t, held_t = torch.from_numpy(fit), torch.from_numpy(held)
        model = train_classifier(x[fit_t], y[fit_t], s.epochs, s.batch_size, seed=s.seed, num_classes=n_classes,
                                 dropout=s.dropout, progress=sub_progress(part, 0.3, 1.0))
        out[name] = {"changes": changes, "validation_accuracy": accuracy(model, x[held_t], y[held_t]),
                     "train_images": len(fit), "validation_images": len(held)}
    report(1.0, "done")
    return out
