"""cgn-art: Counterfactual Generative Networks as art.

>>> import cgn_art
>>> model = cgn_art.load_model()                      # the shipped Letters CGN (the default model)
>>> cf = model.counterfactual(shape=3, texture=5, background=1, seed=7, size=512)
>>> cf.image("composite").save("three.png")
"""
from cgn_art.device import pick_device
from cgn_art.errors import CgnArtError
from cgn_art.mechanisms.base import Counterfactual, Mechanisms, composite
from cgn_art.mechanisms.weights import available_models, load_model, save_model, shipped_models

__all__ = ["CgnArtError", "Counterfactual", "Mechanisms", "available_models", "composite", "load_model", "pick_device",
           "save_model", "shipped_models"]
__version__ = "0.1.0"
