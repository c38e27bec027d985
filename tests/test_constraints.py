"""The constraint vocabulary: what it accepts and the sentence it prints when it refuses."""

from __future__ import annotations

import math

import pytest

from imbexp.constraints import AnyOf, Interval, Null, Options, PerClass, Text, check, check_keys
from imbexp.errors import ConfigError


@pytest.mark.parametrize(("constraint", "good", "bad"), [
    (Interval(float, 1, None), [1, 1.0, 2.5, 10**6], [0.99, True, False, math.nan, math.inf, "2", None]),
    (Interval(float, 0, 1, closed="right"), [1, 0.5, 1e-9], [0, -0.1, 1.0001]),
    (Interval(float, 0, 1, closed="neither"), [0.5], [0, 1]),
    (Interval(int, 2, 10), [2, 10], [1, 11, 2.0, True]),
    (Interval(int, 1, None, whole_floats=True), [1, 1e6, 3.0], [2.5, 0.0]),
    (Options("auto", True, False), ["auto", True, False], ["Auto", 1, 0, None]),
    (AnyOf(Options("balanced"), Interval(float, 0, None, closed="neither")), ["balanced", 3], [0, "x"]),
    (PerClass(Interval(float, 1, None)), [5, {0: 5}, {"0": 2, "1": 1}], [0.5, {0: 0.5}, {}]),
    (Null(), [None], [0, ""]),
    (Text(), ["a.b"], ["", "  ", 3]),
])
def test_constraints_accept_and_refuse(constraint, good, bad):
    for value in good:
        assert constraint.is_satisfied_by(value), value
    for value in bad:
        assert not constraint.is_satisfied_by(value), value


@pytest.mark.parametrize(("constraint", "text"), [
    (Interval(float, 1, None), "a number >= 1"),
    (Interval(float, 0, 1, closed="right"), "a number > 0 and <= 1"),
    (Interval(int, 2, 1000), "an integer from 2 to 1000"),
    (Interval(float, None, 0, closed="neither"), "a number < 0"),
    (Options("auto", True, False), "auto, true or false"),
    (AnyOf(Options("balanced"), Interval(float, 0, None, closed="neither")), "balanced or a number > 0"),
    (PerClass(Interval(float, 1, None)), "a number >= 1, or a map {class: a number >= 1}"),
])
def test_allowed_text(constraint, text):
    assert constraint.allowed() == text


def test_check_names_key_value_and_allowed():
    assert check("strategy.downsample_factor", 20, Interval(float, 1, None)) == 20
    with pytest.raises(ConfigError) as error:
        check("strategy.downsample_factor", 0.5, Interval(float, 1, None))
    assert str(error.value) == "strategy.downsample_factor=0.5 is not allowed; use a number >= 1."
    with pytest.raises(ConfigError, match=r"^tracking.plots='yes' is not allowed; use auto, true or false\.$"):
        check("tracking.plots", "yes", [Options("auto", True, False)])


def test_check_names_the_bad_entry_of_a_per_class_map():
    with pytest.raises(ConfigError) as error:
        check("strategy.downsample_factor", {0: 10, 1: 0.5}, PerClass(Interval(float, 1, None)))
    assert str(error.value).startswith("strategy.downsample_factor.1=0.5 is not allowed; use a number >= 1")


def test_check_keys_suggests_the_close_key():
    check_keys("objective", ["metric"], ["metric", "direction"])
    with pytest.raises(ConfigError) as error:
        check_keys("objective", ["metrik"], ["metric", "direction"])
    assert str(error.value) == ("objective.metrik is not a key of objective; did you mean objective.metric? "
                                "its keys: direction, metric.")
    with pytest.raises(ConfigError, match="is not a key of objective; its keys"):
        check_keys("objective", ["zzz"], ["metric", "direction"])
