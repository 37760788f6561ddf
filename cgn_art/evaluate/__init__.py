"""Evaluation apart from training: judges trained on real data only, and the metrics they score.

- :mod:`~cgn_art.evaluate.colour`: the MNIST colour judges behind ``cgn-art evaluate``;
- :mod:`~cgn_art.evaluate.judges`: structure, colour and shape judges of every data family;
- :mod:`~cgn_art.evaluate.metrics`: structure fidelity, detail, diversity, shape fidelity and
  :func:`texture_quality`, each with a constructed failure (:class:`RealDataModel`);
- :mod:`~cgn_art.evaluate.fitting`: the one fitting loop (shared with the Robustness Lab);
- :mod:`~cgn_art.evaluate.cache`: trained judges on disk.
"""
from cgn_art.evaluate.colour import Judges, counterfactual_triples, evaluate, train_judges
from cgn_art.evaluate.fitting import fit_classifier
from cgn_art.evaluate.judges import (
    FAMILIES,
    FamilySpec,
    Judge,
    as_picture,
    family_spec,
    grey_normalise,
    real_crops,
    shape_judge,
    structure_judge,
    texture_judge,
)
from cgn_art.evaluate.metrics import (
    RealDataModel,
    detail,
    detail_share,
    distinct_triples,
    diversity,
    diversity_features,
    gaussian_blur,
    shape_fidelity,
    structure_fidelity,
    texture_quality,
)

__all__ = ["FAMILIES", "FamilySpec", "Judge", "Judges", "RealDataModel", "as_picture", "counterfactual_triples",
           "detail", "detail_share", "distinct_triples", "diversity", "diversity_features", "evaluate", "family_spec",
           "fit_classifier", "gaussian_blur", "grey_normalise", "real_crops", "shape_fidelity", "shape_judge",
           "structure_fidelity", "structure_judge", "texture_judge", "texture_quality", "train_judges"]
