"""The ``>>>`` examples in the library's docstrings run, so they cannot drift from the code they show.

Each module listed here has its examples run as doctests. An example that needs what does not
ship or takes minutes (a Letters CGN, a whole music video, the robustness experiment) is marked
``# doctest: +SKIP`` beside it, and the module's other examples still run. A module joins the list
once its examples run.
"""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "cgn_art.settings_checks",
    "cgn_art.mechanisms.base",
    "cgn_art.mixing",
    "cgn_art.io",
    "cgn_art.images",
    "cgn_art.video",
    "cgn_art.lyrics",
    "cgn_art.dance",
    "cgn_art.dance.settings",
    "cgn_art.dance.choreography",
    "cgn_art.typeset",
    "cgn_art.typeset.settings",
    "cgn_art.robustness.classifier",
    "cgn_art.robustness.validation",
    "cgn_art.runtime.progress",
    "cgn_art.cache",
    "cgn_art.evaluate.fitting",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # examples that save a file (three.png, out.mp4) save it here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.attempted > 0, f"{name} has no example that runs: drop it from MODULES or give it one"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (printed above)"
