"""The Texture Stylizer: repaint a photo with a texture the CGN generates (or one you upload).

>>> import cgn_art
>>> from cgn_art.images import demo_photo
>>> from cgn_art.stylize import StylizeSettings, stylize
>>> result = stylize(demo_photo("chelsea"), StylizeSettings(size=256, texture_class=3),
...                  model=cgn_art.load_model())                     # doctest: +SKIP
>>> result.image.save("cat.png")                                     # doctest: +SKIP
"""
from cgn_art.stylize.optimize import StylizeResult, measure, stylize
from cgn_art.stylize.settings import COLORS, ENCODERS, HELP, OPTIMIZERS, StylizeSettings
from cgn_art.stylize.textures import fill, make_texture, texture_preview, wraps_seamlessly

__all__ = ["COLORS", "ENCODERS", "HELP", "OPTIMIZERS", "StylizeResult", "StylizeSettings", "fill", "make_texture",
           "measure", "stylize", "texture_preview", "wraps_seamlessly"]
