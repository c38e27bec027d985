"""The constraint vocabulary: what it accepts and the sentence it prints when it refuses."""

from __future__ import annotations

import math

import pytest

from imbexp.constraints import AnyOf, Interval, Null, Options, PerClass, Text, Worded, check, check_keys, did_you_mean
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


def test_worded_keeps_a_sentence_users_know():
    cost = Worded(Interval(float, 0, None), "costs are numbers >= 0")
    assert check("threshold.cost_fp", 2, cost) == 2
    with pytest.raises(ConfigError) as error:
        check("threshold.cost_fp", -1, cost)
    assert str(error.value) == "threshold.cost_fp=-1 is not allowed; costs are numbers >= 0."
    assert Worded(Interval(float, 0, 1), "use a number in [0, 1]").allowed() == "a number in [0, 1]"


def test_a_per_class_map_among_alternatives_names_its_bad_entry():
    upweight = AnyOf(PerClass(Interval(float, 0, None, closed="neither")), Null("to use the factor"))
    assert check("strategy.upweight_factor", None, upweight) is None
    assert check("strategy.upweight_factor", {0: 3}, upweight) == {0: 3}
    with pytest.raises(ConfigError, match=r"^strategy.upweight_factor.0=-1 is not allowed; use a number > 0\.$"):
        check("strategy.upweight_factor", {0: -1}, upweight)
    with pytest.raises(ConfigError, match=r"^strategy.upweight_factor=0 is not allowed; use a number > 0, "
                                          r"or a map \{class: a number > 0\} or null to use the factor\.$"):
        check("strategy.upweight_factor", 0, upweight)


def test_did_you_mean_can_name_the_full_key():
    assert did_you_mean("downsample_factr", ["downsample_factor"], prefix="strategy.") == \
        " did you mean strategy.downsample_factor?"
    assert did_you_mean("zzz", ["downsample_factor"]) == ""
