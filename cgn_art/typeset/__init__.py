"""Counterfactual typography: text set in Letters-CGN masks, painted by the texture and background mechanisms.

The Letters CGN does not ship yet (its training is under way), so the poster lines are not run as
tests; tests/test_typeset.py renders posters with a stand-in letters model.

>>> from cgn_art.typeset import TypeSettings, load_letters, render_poster
>>> settings = TypeSettings(text="Hello world", texture_by="walk", textures=[0, 5])
>>> poster = render_poster(load_letters(), settings)  # doctest: +SKIP
>>> poster.image.save("hello.png")  # doctest: +SKIP
"""
from cgn_art.typeset.layout import Glyph, Layout, Text, arrange, letter_seed, roll_labels, split_text
from cgn_art.typeset.render import (
                                    KIND,
                                    LETTERS,
                                    NOT_SHIPPED,
                                    Poster,
                                    digit_model_name,
                                    is_letters_model,
                                    letter_classes,
                                    letters_status,
                                    load_digits,
                                    load_letters,
                                    render_poster,
)
from cgn_art.typeset.settings import ALIGNS, BACKGROUND_BY, FORMATS, LIMITS, TEXTURE_BY, TypeSettings

__all__ = ["ALIGNS", "BACKGROUND_BY", "FORMATS", "KIND", "LETTERS", "LIMITS", "NOT_SHIPPED", "TEXTURE_BY", "Glyph",
           "Layout", "Poster", "Text", "TypeSettings", "arrange", "digit_model_name", "is_letters_model",
           "letter_classes", "letter_seed", "letters_status", "load_digits", "load_letters", "render_poster",
           "roll_labels", "split_text"]
