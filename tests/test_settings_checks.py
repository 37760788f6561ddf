"""One way to read a setting's value: cgn_art.settings_checks, and every job's settings use it."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import MAX_SEED, choice, class_list, model_class, number, whole

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value, expected", [
    (3, 3), (np.int64(3), 3), (3.0, 3), ("3", 3), (" 3.0 ", 3), ("+3", 3), ("1e3", 1000),
])
def test_whole_reads_numbers_and_text(value, expected):
    result = whole("steps", value, 0, 5000)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", [True, False, 3.5, "3.5", "three", "", None, [3], math.inf, math.nan, "nan"])
def test_whole_refuses_what_is_not_a_whole_number(value):
    with pytest.raises(CgnArtError, match="^steps .* is not a whole number$"):
        whole("steps", value, 0, 10)


def test_whole_names_the_range_it_wanted():
    with pytest.raises(CgnArtError, match=r"^seed -1 is out of range: give 0 to 2147483647$"):
        whole("seed", -1, 0, MAX_SEED)
    with pytest.raises(CgnArtError, match=r"^texture class -2 is out of range: give 0 or more$"):
        whole("texture class", -2, 0)
    with pytest.raises(CgnArtError, match=r"^shift 9 is out of range: give at most 5$"):
        whole("shift", 9, None, 5)
    with pytest.raises(CgnArtError, match=r"^size 0 is out of range: give 1 to 4096 pixels$"):
        whole("size", 0, 1, 4096, unit="pixels")
    assert whole("shift", -10**12, None) == -10**12


def test_number_bounds_and_what_it_refuses():
    assert number("blend", "0.25", 0, 1) == 0.25 and number("blend", 1, 0, 1) == 1.0
    assert number("offset", "-inf") == -math.inf  # no bounds: only the type is checked
    with pytest.raises(CgnArtError, match=r"^truncation 0 is out of range: give a number in \(0, 1\]$"):
        number("truncation", 0, 0, 1, low_open=True)
    with pytest.raises(CgnArtError, match=r"^ema decay 1 is out of range: give a number in \[0, 1\)$"):
        number("ema decay", 1.0, 0, 1, high_open=True)
    assert number("ema decay", 0.999, 0, 1, high_open=True) == 0.999
    with pytest.raises(CgnArtError, match=r"^margin '3' is out of range: give a number from 0 to 0.4$"):
        number("margin", "3", 0, 0.4)
    for bad in (True, "lots", None, "nan", math.nan, np.float64("nan")):
        with pytest.raises(CgnArtError, match="^blend .* is not a number$"):
            number("blend", bad, 0, 1)


def test_a_long_value_is_cut_short_in_the_message():
    with pytest.raises(CgnArtError) as error:
        whole("seed", "x" * 10_000, 0, MAX_SEED)
    assert len(str(error.value)) < 100 and "..." in str(error.value)


def test_choice_ignores_case_and_spaces_and_lists_the_options():
    assert choice("colors", " Palette ", ("texture", "palette")) == "palette"
    with pytest.raises(CgnArtError, match=r"^unknown colors 'sepia'; choose one of texture, palette$"):
        choice("colors", "sepia", ("texture", "palette"))


def test_classes():
    assert class_list("textures", "0, 3,7") == [0, 3, 7] and class_list("textures", None) is None
    assert class_list("textures", "") == []
    with pytest.raises(CgnArtError, match="textures class 'a' is not a whole number"):
        class_list("textures", "0,a")
    assert model_class("shape", "2", 3) == 2
    with pytest.raises(CgnArtError, match="^shape class 3 is out of range: this model has shape classes 0 to 2$"):
        model_class("shape", 3, 3)


def _settings_with_a_true_seed():
    from cgn_art.dance import DanceSettings
    from cgn_art.robustness.counterfactuals import CounterfactualDataSettings
    from cgn_art.robustness.experiment import RobustnessSettings
    from cgn_art.stylize import StylizeSettings
    from cgn_art.typeset import TypeSettings

    return {"dance": lambda: DanceSettings(seed=True).validate(),
            "stylize": lambda: StylizeSettings(seed=True).validate(),
            "type": lambda: TypeSettings(seed=True).validate(),
            "counterfactual data": lambda: CounterfactualDataSettings(seed=True).validate(),
            "robustness": lambda: RobustnessSettings(seed=True).validate()}


@pytest.mark.parametrize("job", ["dance", "stylize", "type", "counterfactual data", "robustness"])
def test_every_job_refuses_true_as_a_seed_in_the_same_words(job):
    with pytest.raises(CgnArtError, match="^seed True is not a whole number$"):
        _settings_with_a_true_seed()[job]()


def test_every_job_reads_the_same_seed_range(model_dir):
    from cgn_art import load_model
    from cgn_art.dance import DanceSettings
    from cgn_art.mixing import MixSettings
    from cgn_art.stylize import StylizeSettings
    from cgn_art.typeset import TypeSettings

    model = load_model(model_dir, device="cpu")
    too_big = MAX_SEED + 1
    for make in (lambda: DanceSettings(seed=too_big).validate(), lambda: StylizeSettings(seed=too_big).validate(),
                 lambda: TypeSettings(seed=too_big).validate(),
                 lambda: MixSettings(shape_seed=too_big).validate(model)):
        with pytest.raises(CgnArtError, match=f"seed {too_big} is out of range: give 0 to {MAX_SEED}$"):
            make()
    assert DanceSettings(seed=MAX_SEED).validate().seed == MAX_SEED


def test_max_seed_is_written_once_in_the_library():
    # Other modules import it; a second literal would let the limits drift apart again.
    pattern = re.compile(r"2\s*\*\*\s*31\s*-\s*1")
    found = [str(path.relative_to(ROOT)) for path in (ROOT / "cgn_art").rglob("*.py")
             if pattern.search(path.read_text())]
    assert found == ["cgn_art/settings_checks.py"]
