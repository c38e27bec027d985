"""Every strategy found in conf/strategy honours one protocol; the downsampling arithmetic is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from components import Component, build, imbalanced_frame, parametrize_with_checks

from imbexp.errors import ConfigError, DataError
from imbexp.strategies import (
    ClassWeight,
    Downsample,
    DownsampleUpweight,
    NoRebalancing,
    RandomOversample,
    Smote,
    Strategy,
    TrainingSet,
)


def check_training_set(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    X_before, y_before = X.copy(), y.copy()
    out = strategy.fit_resample(X, y, random_state=3)
    assert isinstance(out, TrainingSet)
    assert len(out.X) == len(out.y) == len(out.sample_weight) == out.n_rows > 0
    assert list(out.X.columns) == list(X.columns)
    assert set(np.unique(out.y)) == {0, 1}
    assert np.all(np.isfinite(out.sample_weight)) and np.all(out.sample_weight > 0)
    assert out.minority_fraction > 0
    if out.indices is not None:  # selected rows are the input rows, unchanged
        np.testing.assert_array_equal(out.y, y[out.indices])
        pd.testing.assert_frame_equal(out.X.reset_index(drop=True), X.iloc[out.indices].reset_index(drop=True))
    # a strategy is given the training part only, and leaves it as it was: the frame it came
    # from also holds valid and test
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


def _keeps_every_row(out: TrainingSet, n: int) -> bool:
    return out.indices is not None and np.array_equal(out.indices, np.arange(n))


def check_seed_reproduces_the_draw(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    out = strategy.fit_resample(X, y, random_state=3)
    again = strategy.fit_resample(X, y, random_state=3)
    pd.testing.assert_frame_equal(out.X.reset_index(drop=True), again.X.reset_index(drop=True))
    np.testing.assert_array_equal(out.y, again.y)
    np.testing.assert_array_equal(out.sample_weight, again.sample_weight)
    if _keeps_every_row(out, len(y)):
        return  # nothing was drawn: every seed gives the input rows
    # rows were dropped, repeated or made up: a random draw, which the seed must choose, unless
    # the strategy is a deterministic rule (Tomek links), which no seed may change
    other = strategy.fit_resample(X, y, random_state=4)
    same_rows = (out.indices is not None and other.indices is not None
                 and np.array_equal(out.indices, other.indices))
    same_data = out.X.reset_index(drop=True).equals(other.X.reset_index(drop=True))
    if strategy.uses_seed:
        assert not (same_rows or same_data), "another seed should give another draw"
    else:
        assert same_data, "a strategy that draws nothing at random should give the same rows for every seed"


def check_corrected_scores_stay_probabilities(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    strategy.fit_resample(X, y, random_state=3)  # a correction may depend on what was kept
    p = np.linspace(0.001, 0.999, 50)
    corrected = strategy.correct_probabilities(p)
    assert corrected.shape == p.shape
    assert np.all((corrected > 0) & (corrected < 1))
    assert np.all(np.diff(corrected) >= 0), "a correction must keep the ranking (ROC and PR curves rely on it)"
    ends = strategy.correct_probabilities(np.array([0.0, 1.0]))
    assert np.all((ends >= 0) & (ends <= 1))


def check_label_names_the_strategy(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    assert isinstance(strategy.name, str) and strategy.name
    assert isinstance(strategy.label(), str) and strategy.label().startswith(strategy.name)


def check_select_rows_agrees_with_fit_resample(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    selection = strategy.select_rows(y, random_state=3)
    assert (selection is not None) == strategy.selects_rows
    if selection is None:
        return
    indices = selection.indices
    assert len(np.unique(indices)) == len(indices) and indices.min() >= 0 and indices.max() < len(y)
    out = strategy.fit_resample(X, y, random_state=3)
    np.testing.assert_array_equal(out.indices, indices)
    np.testing.assert_array_equal(out.sample_weight, selection.sample_weight)
    pd.testing.assert_frame_equal(out.X.reset_index(drop=True), X.iloc[indices].reset_index(drop=True))


def check_report_label_and_factor(strategy: Strategy, X: pd.DataFrame, y: np.ndarray) -> None:
    """A report shows the label beside the factor: the factor is the named parameter's number,
    the label leaves it out (and the run name keeps it)."""
    factor = strategy.factor()
    assert strategy.report_label().startswith(strategy.name)
    if factor is None:
        return
    assert factor == strategy.params()[strategy.factor_name]
    assert f"{factor:g}" not in strategy.report_label().removeprefix(strategy.name)


STRATEGY_CHECKS = [
    check_training_set,
    check_seed_reproduces_the_draw,
    check_corrected_scores_stay_probabilities,
    check_label_names_the_strategy,
    check_select_rows_agrees_with_fit_resample,
    check_report_label_and_factor,
]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    frame = imbalanced_frame(5000, 0.04)
    return frame.drop(columns="y"), frame["y"].to_numpy()


#: known defects, each a strict xfail: fixing one makes its test fail until the entry goes
EXPECTED_FAILED: dict[tuple[str, str], str] = {}


@parametrize_with_checks("strategy", STRATEGY_CHECKS, expected_failed_checks=EXPECTED_FAILED)
def test_strategy_protocol(compose, component: Component, check, data) -> None:
    """Every strategy in conf/strategy, and each of its VARIANTS, through the same checks."""
    check(build("strategy", compose(*component.choice)), *data)


def test_factor_is_none_where_it_is_not_one_number() -> None:
    assert NoRebalancing().factor() is None
    assert ClassWeight().factor() is None  # "balanced"
    assert ClassWeight(minority_weight=5).factor() == 5.0
    assert DownsampleUpweight(downsample_factor={0: 20}).factor() is None
    assert DownsampleUpweight(downsample_factor={0: 20}).report_label() == "downsample_upweight f=0:20"
    assert Downsample(downsample_factor=20, prior_correction=True).report_label() == "downsample +prior"
    assert DownsampleUpweight(downsample_factor=20, upweight_factor=5).report_label() == "downsample_upweight w=5"
    assert RandomOversample(sampling_strategy=0.5).factor() == 0.5


def test_downsample_upweight_keeps_one_in_f_and_weights_by_f(data) -> None:
    X, y = data
    n_major, n_minor = int((y == 0).sum()), int((y == 1).sum())
    out = DownsampleUpweight(downsample_factor=20).fit_resample(X, y, random_state=0)
    assert int((out.y == 0).sum()) == round(n_major / 20)
    assert int((out.y == 1).sum()) == n_minor
    assert np.all(out.sample_weight[out.y == 0] == 20)
    assert np.all(out.sample_weight[out.y == 1] == 1)
    # the weighted majority total stays (about) what it was
    assert out.sample_weight[out.y == 0].sum() == pytest.approx(n_major, rel=0.01)
    other = DownsampleUpweight(downsample_factor=20).fit_resample(X, y, random_state=1)
    assert not np.array_equal(out.indices, other.indices)


def test_upweight_factor_is_its_own_hyperparameter(data) -> None:
    X, y = data
    out = DownsampleUpweight(downsample_factor=10, upweight_factor=3).fit_resample(X, y)
    assert np.all(out.sample_weight[out.y == 0] == 3)
    assert int((out.y == 0).sum()) == round(int((y == 0).sum()) / 10)


def test_factor_one_keeps_everything(data) -> None:
    X, y = data
    out = DownsampleUpweight(downsample_factor=1).fit_resample(X, y)
    assert out.n_rows == len(y) and np.all(out.sample_weight == 1)


def test_per_class_factors_for_future_multiclass(data) -> None:
    X, y = data
    out = DownsampleUpweight(downsample_factor={0: 4}).fit_resample(X, y)
    assert int((out.y == 0).sum()) == round(int((y == 0).sum()) / 4)
    with pytest.raises(ConfigError, match="class 7"):
        DownsampleUpweight(downsample_factor={7: 4}).fit_resample(X, y)


def test_prior_correction_formula() -> None:
    strategy = Downsample(downsample_factor=10, prior_correction=True)
    y = np.array([0] * 1000 + [1] * 10)
    strategy.fit_resample(pd.DataFrame({"a": np.zeros(len(y))}), y)
    p_s = np.array([0.01, 0.2, 0.5, 0.9])
    beta = 1 / 10
    np.testing.assert_allclose(strategy.correct_probabilities(p_s), beta * p_s / (beta * p_s - p_s + 1))
    plain = Downsample(downsample_factor=10)
    plain.fit_resample(pd.DataFrame({"a": np.zeros(len(y))}), y)
    np.testing.assert_array_equal(plain.correct_probabilities(p_s), p_s)


def test_class_weight_balanced_equalises_totals(data) -> None:
    X, y = data
    out = ClassWeight().fit_resample(X, y)
    assert out.sample_weight[y == 1].sum() == pytest.approx(out.sample_weight[y == 0].sum())


def test_class_weight_weights_the_class_with_fewer_rows_when_its_rows_are_heavy(data) -> None:
    # 4 % positives weighing 100 each: the positives hold the larger total, yet they are the
    # minority, the class minority_weight is for
    X, y = data
    given = np.where(y == 1, 100.0, 1.0)
    assert given[y == 1].sum() > given[y == 0].sum()
    out = ClassWeight(minority_weight=5).fit_resample(X, y, given)
    np.testing.assert_array_equal(out.sample_weight[y == 1], 500.0)
    np.testing.assert_array_equal(out.sample_weight[y == 0], 1.0)
    balanced = ClassWeight().fit_resample(X, y, given)
    np.testing.assert_array_equal(balanced.sample_weight[y == 0], 1.0)
    assert balanced.sample_weight[y == 1].sum() == pytest.approx(balanced.sample_weight[y == 0].sum())


def test_oversamplers_reach_the_ratio(data) -> None:
    X, y = data
    for strategy in (RandomOversample(sampling_strategy=0.5), Smote(sampling_strategy=0.5)):
        out = strategy.fit_resample(X, y)
        assert (out.y == 1).sum() / (out.y == 0).sum() == pytest.approx(0.5, abs=0.01)


def test_smotenc_is_chosen_for_categorical_columns() -> None:
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.1).astype(np.int8)
    X = pd.DataFrame({"num": rng.standard_normal(n),
                      "colour": pd.Categorical(rng.choice(["red", "blue"], n))})
    out = Smote().fit_resample(X, y)
    assert (out.y == 1).sum() == (out.y == 0).sum()
    assert set(out.X["colour"].astype(str)) <= {"red", "blue"}
    with pytest.raises(DataError, match="categorical"):
        Smote(kind="smote").fit_resample(X, y)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DownsampleUpweight(downsample_factor=0.5), r"strategy.downsample_factor=0.5 .*>= 1"),
        (lambda: DownsampleUpweight(downsample_factor="abc"), r"strategy.downsample_factor='abc'"),
        (lambda: DownsampleUpweight(upweight_factor=0), r"strategy.upweight_factor=0 .*> 0"),
        (lambda: Downsample(prior_correction="yes"), r"strategy.prior_correction='yes'"),
        (lambda: ClassWeight(minority_weight=-1), r"strategy.minority_weight=-1"),
        (lambda: ClassWeight(minority_weight="heavy"), r"strategy.minority_weight='heavy'"),
        (lambda: RandomOversample(sampling_strategy=2), r"strategy.sampling_strategy=2"),
        (lambda: Smote(kind="magic"), r"strategy.kind='magic'"),
    ],
)
def test_bad_parameters_name_key_value_and_allowed(make, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_factor_that_keeps_no_majority_row_is_refused(data) -> None:
    X, y = data
    with pytest.raises(DataError, match=r"would keep 0 of the \d+ training rows"):
        DownsampleUpweight(downsample_factor=1e9).fit_resample(X, y)
