"""Every strategy and model on multi-class data: classes named by their label text, per-class
factors and weights, imbalanced-learn's per-class ``sampling_strategy``, the prior correction per
class, and every model's probabilities in code order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from components import Component, build, discover, small

from imbexp import models
from imbexp.errors import ConfigError, DataError
from imbexp.strategies import (
    ClassWeight,
    Downsample,
    DownsampleUpweight,
    RandomOversample,
    Smote,
    Strategy,
)

#: code order: cat = 0, dog = 1, bird = 2 (the smallest class)
CLASSES = ("cat", "dog", "bird")
COUNTS = (600, 300, 60)


def three_classes(counts=COUNTS, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of three classes in blocks of ``counts`` (codes 0, 1, 2), features shifted by the
    code so a model has something to learn, codes int16 as a multi-class Dataset holds them."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts).astype(np.int16)
    X = pd.DataFrame(rng.standard_normal((len(y), 4)) + 1.5 * y[:, None], columns=list("abcd"))
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return three_classes()


def bound(strategy: Strategy, classes=CLASSES) -> Strategy:
    return strategy.bind_classes(classes)


def kept_per_class(y: np.ndarray) -> list[int]:
    return np.bincount(y, minlength=len(CLASSES)).tolist()


# --------------------------------------------------------------------------- downsampling

def test_a_number_downsamples_every_class_but_the_smallest_and_upweights_by_it(data) -> None:
    X, y = data
    out = bound(DownsampleUpweight(downsample_factor=4)).fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [round(600 / 4), round(300 / 4), 60]
    for code, weight in enumerate((4.0, 4.0, 1.0)):
        np.testing.assert_array_equal(out.sample_weight[out.y == code], weight)
    # the weighted totals stay the classes' row counts: the prior the model learns is the data's
    np.testing.assert_allclose(np.bincount(out.y, weights=out.sample_weight), COUNTS)


def test_a_map_names_classes_by_label_text_and_each_is_upweighted_by_its_own_factor(data) -> None:
    X, y = data
    out = bound(DownsampleUpweight(downsample_factor={"cat": 5, "dog": 2})).fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [120, 150, 60]
    for code, weight in enumerate((5.0, 2.0, 1.0)):
        np.testing.assert_array_equal(out.sample_weight[out.y == code], weight)
    # a class the upweight map does not name keeps its factor; a number weights all but the smallest
    named = bound(DownsampleUpweight(downsample_factor={"cat": 5, "dog": 2}, upweight_factor={"dog": 1.5}))
    out = named.fit_resample(X, y, random_state=0)
    assert [float(out.sample_weight[out.y == k][0]) for k in range(3)] == [5.0, 1.5, 1.0]
    number = bound(DownsampleUpweight(downsample_factor={"cat": 5}, upweight_factor=3))
    out = number.fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [120, 300, 60]
    assert [float(out.sample_weight[out.y == k][0]) for k in range(3)] == [3.0, 3.0, 1.0]


def test_upweights_multiply_the_datasets_row_weights(data) -> None:
    X, y = data
    given = np.where(np.arange(len(y)) % 2 == 0, 2.0, 1.0)
    strategy = bound(DownsampleUpweight(downsample_factor=3))
    selection = strategy.select_rows(y, given, random_state=1)  # from the labels alone
    factor = np.array([3.0, 3.0, 1.0])[y[selection.indices]]
    np.testing.assert_array_equal(selection.sample_weight, given[selection.indices] * factor)
    out = strategy.fit_resample(X, y, given, random_state=1)
    np.testing.assert_array_equal(out.indices, selection.indices)


def test_downsample_without_upweight_keeps_the_rows_own_weights(data) -> None:
    X, y = data
    out = bound(Downsample(downsample_factor={"dog": 3})).fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [600, 100, 60]
    np.testing.assert_array_equal(out.sample_weight, 1.0)


def test_generated_labels_are_named_by_number_or_text() -> None:
    X, y = three_classes()
    for key in (0, "0"):  # YAML reads {0: 4} with a number key; the label text is "0"
        out = DownsampleUpweight(downsample_factor={key: 4}).bind_classes(("0", "1", "2")).fit_resample(X, y)
        assert kept_per_class(out.y) == [150, 300, 60]


@pytest.mark.parametrize("make", [
    lambda: DownsampleUpweight(downsample_factor={"cow": 4}),
    lambda: DownsampleUpweight(downsample_factor=4, upweight_factor={"cow": 2}),
    lambda: Downsample(downsample_factor={"cow": 4}),
    lambda: ClassWeight(minority_weight={"cow": 4}),
    lambda: RandomOversample(sampling_strategy={"cow": 700}),
    lambda: Smote(sampling_strategy={"cow": 700}),
])
def test_an_unknown_class_is_refused_naming_the_classes(make) -> None:
    with pytest.raises(ConfigError, match=r"names class 'cow', which is not a class of this data; its classes "
                                          r"are 'cat', 'dog', 'bird'\.$"):
        bound(make())


def test_the_smallest_class_is_never_downsampled(data) -> None:
    X, y = data
    for strategy in (DownsampleUpweight(downsample_factor={"cat": 2, "bird": 2}),
                     Downsample(downsample_factor={"bird": 3})):
        with pytest.raises(ConfigError, match=r"^strategy.downsample_factor.bird=\d is not allowed: 'bird' is the "
                                              r"smallest class of the training rows \(60 rows\), which is never "
                                              r"downsampled; leave it out of the map or give it 1\.$"):
            bound(strategy).select_rows(y)
    out = bound(DownsampleUpweight(downsample_factor={"cat": 2, "bird": 1})).fit_resample(X, y)
    assert kept_per_class(out.y) == [300, 300, 60]


def test_a_factor_that_keeps_no_row_names_the_class_by_its_label(data) -> None:
    _, y = data
    with pytest.raises(DataError, match=r"would keep 0 of the 300 training rows of class 'dog'"):
        bound(DownsampleUpweight(downsample_factor={"dog": 1e6})).select_rows(y)


def test_a_hydra_override_names_classes_by_label(compose, data) -> None:
    X, y = data
    cfg = compose("strategy=downsample_upweight", "strategy.downsample_factor={cat:6,dog:3}")
    strategy = build("strategy", cfg).bind_classes(CLASSES)
    assert kept_per_class(strategy.fit_resample(X, y).y) == [100, 100, 60]
    assert strategy.label() == "downsample_upweight f=cat:6,dog:3"
    assert strategy.factor() is None


# --------------------------------------------------------------------------- class weights

def test_class_weight_balanced_gives_every_class_the_majoritys_total(data) -> None:
    X, y = data
    given = np.where(np.arange(len(y)) % 3 == 0, 4.0, 1.0)
    out = bound(ClassWeight()).fit_resample(X, y, given)
    totals = np.bincount(out.y, weights=out.sample_weight)
    np.testing.assert_allclose(totals, given[y == 0].sum())
    np.testing.assert_array_equal(out.sample_weight[y == 0], given[y == 0])  # the majority keeps its weights


def test_class_weight_per_class_map_and_number(data) -> None:
    X, y = data
    out = bound(ClassWeight(minority_weight={"dog": 3, "bird": 7})).fit_resample(X, y)
    np.testing.assert_array_equal(out.sample_weight, np.array([1.0, 3.0, 7.0])[y])
    out = bound(ClassWeight(minority_weight=5)).fit_resample(X, y)  # every class but the largest
    np.testing.assert_array_equal(out.sample_weight, np.array([1.0, 5.0, 5.0])[y])
    with pytest.raises(ConfigError, match=r"^strategy.minority_weight is a map of classes, which is for multi-class"):
        ClassWeight(minority_weight={"1": 3}).select_rows(np.array([0, 0, 1], dtype=np.int8))
    assert bound(ClassWeight(minority_weight={"dog": 3})).label() == "class_weight w=dog:3"
    with pytest.raises(ConfigError, match=r"^strategy.minority_weight.dog=0 is not allowed; use a number > 0"):
        ClassWeight(minority_weight={"dog": 0})


# --------------------------------------------------------------------------- imbalanced-learn

def test_oversample_takes_a_map_of_rows_per_class_by_label(data) -> None:
    X, y = data
    out = bound(RandomOversample(sampling_strategy={"bird": 300, "dog": 450})).fit_resample(X, y)
    assert kept_per_class(out.y) == [600, 450, 300]
    assert out.y.dtype == np.int16
    np.testing.assert_array_equal(out.y, y[out.indices])  # repeats of the input rows


@pytest.mark.parametrize("make", [lambda r: RandomOversample(sampling_strategy=r),
                                  lambda r: Smote(sampling_strategy=r)])
def test_oversamplers_take_imblearns_texts_on_multiclass_data(make, data) -> None:
    X, y = data
    assert kept_per_class(bound(make("not majority")).fit_resample(X, y).y) == [600, 600, 600]
    assert kept_per_class(bound(make("minority")).fit_resample(X, y).y) == [600, 300, 600]


@pytest.mark.parametrize("kind", ["smote", "adasyn", "borderline"])
def test_smote_family_grows_the_classes_a_map_names(kind, data) -> None:
    X, y = data
    out = bound(Smote(kind=kind, sampling_strategy={"bird": 400})).fit_resample(X, y)
    counts = kept_per_class(out.y)
    assert counts[:2] == [600, 300]
    assert counts[2] > 60 and (kind == "adasyn" or counts[2] == 400)  # ADASYN's count is approximate
    np.testing.assert_array_equal(out.sample_weight, 1.0)  # synthetic rows take the class's mean weight


@pytest.mark.parametrize("make", [lambda r: RandomOversample(sampling_strategy=r),
                                  lambda r: Smote(sampling_strategy=r)])
def test_a_ratio_grows_every_class_to_r_times_the_largest(make, data) -> None:
    X, y = data
    assert kept_per_class(bound(make(0.75)).fit_resample(X, y).y) == [600, 450, 450]
    with pytest.raises(DataError, match=r"^strategy.sampling_strategy=0.4 asks no class for more rows"):
        bound(make(0.4)).fit_resample(*three_classes((600, 300, 300)))


def test_a_count_the_sampler_cannot_reach_names_the_class(data) -> None:
    X, y = data
    with pytest.raises(DataError, match=r"^strategy.sampling_strategy.dog=100 cannot be reached by strategy "
                                        r"oversample, which only adds rows: class 'dog' has 300 training rows; "
                                        r"use a number >= 300\.$"):
        bound(RandomOversample(sampling_strategy={"dog": 100})).fit_resample(X, y)


def test_imblearn_sampler_map_and_list_by_label(compose, data) -> None:
    X, y = data
    cfg = compose("strategy=imblearn", "+strategy.sampler.sampling_strategy={cat:100,dog:80}")
    strategy = build("strategy", cfg).bind_classes(CLASSES)
    out = strategy.fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [100, 80, 60]
    np.testing.assert_array_equal(out.y, y[out.indices])
    # the sampler as configured keeps its text keys: another run (other labels) translates afresh
    assert strategy.sampler.get_params()["sampling_strategy"] == {"cat": 100, "dog": 80}
    with pytest.raises(ConfigError, match=r"^strategy.sampler.sampling_strategy names class 'cow'"):
        build("strategy", compose("strategy=imblearn", "+strategy.sampler.sampling_strategy={cow:5}")).bind_classes(
            CLASSES)
    cleaning = build("strategy", compose("strategy=tomek_links", "strategy.sampler.sampling_strategy=[cat]"))
    out = cleaning.bind_classes(CLASSES).fit_resample(X, y)
    assert kept_per_class(out.y)[1:] == [300, 60]  # only cat rows may go


def test_an_under_samplers_ratio_shrinks_every_class_to_the_smallest_over_r(compose, data) -> None:
    X, y = data
    strategy = build("strategy", compose("strategy=imblearn", "+strategy.sampler.sampling_strategy=0.5"))
    out = strategy.bind_classes(CLASSES).fit_resample(X, y, random_state=0)
    assert kept_per_class(out.y) == [120, 120, 60]


def _preset_data() -> tuple[pd.DataFrame, np.ndarray]:
    return three_classes((500, 200, 80), seed=2)


@pytest.mark.parametrize("component", discover("strategy"), ids=lambda c: c.id)
def test_every_strategy_runs_on_three_classes(compose, component: Component) -> None:
    """Every conf/strategy option (and its variants) resamples a 3-class training part, keeps
    every class, and its multi-class corrected scores are probabilities."""
    X, y = _preset_data()
    strategy = build("strategy", compose(*component.choice)).bind_classes(CLASSES)
    out = strategy.fit_resample(X, y, random_state=3)
    assert set(np.unique(out.y)) == {0, 1, 2}
    assert len(out.X) == len(out.y) == len(out.sample_weight) > 0
    assert np.all(np.isfinite(out.sample_weight)) and np.all(out.sample_weight > 0)
    if out.indices is not None:
        np.testing.assert_array_equal(out.y, y[out.indices])
    selection = strategy.select_rows(y, random_state=3)
    if selection is not None:  # from the labels alone, the rows fit_resample keeps
        np.testing.assert_array_equal(selection.indices, out.indices)
    P = np.random.default_rng(0).dirichlet(np.ones(3), size=40)
    corrected = strategy.correct_probabilities(P)
    assert corrected.shape == P.shape
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0)
    assert strategy.label().startswith(strategy.name)


# --------------------------------------------------------------------------- the prior correction

def _scores(n: int = 50) -> np.ndarray:
    return np.random.default_rng(5).dirichlet(np.ones(3), size=n)


def _expected(P: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    scaled = P * ratio
    return scaled / scaled.sum(axis=1, keepdims=True)


def test_downsample_prior_correction_multiplies_each_column_by_its_factor(data) -> None:
    X, y = data
    strategy = bound(Downsample(downsample_factor={"cat": 6, "dog": 2}, prior_correction=True))
    strategy.fit_resample(X, y)
    P = _scores()
    corrected = strategy.correct_probabilities(P)
    np.testing.assert_allclose(corrected, _expected(P, np.array([6.0, 2.0, 1.0])))
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0)
    # the binary path is the odds form, unchanged
    binary = Downsample(downsample_factor=10, prior_correction=True)
    yb = np.array([0] * 1000 + [1] * 10, dtype=np.int8)
    binary.fit_resample(pd.DataFrame({"a": np.zeros(len(yb))}), yb)
    p = np.array([0.01, 0.2, 0.9])
    np.testing.assert_allclose(binary.correct_probabilities(p), 0.1 * p / (0.1 * p - p + 1))


def _shares(y: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    totals = np.bincount(y, weights=weight, minlength=3)
    return totals / totals.sum()


def test_class_weight_prior_correction_uses_the_weighted_shares(data) -> None:
    X, y = data
    given = np.where(np.arange(len(y)) % 4 == 0, 3.0, 1.0)
    strategy = bound(ClassWeight(minority_weight={"dog": 2, "bird": 9}, prior_correction=True))
    out = strategy.fit_resample(X, y, given)
    P = _scores()
    corrected = strategy.correct_probabilities(P)
    np.testing.assert_allclose(corrected, _expected(P, _shares(y, given) / _shares(out.y, out.sample_weight)))
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0)
    # with equal weights per row, the weight w_k of a class is what the correction divides by
    plain = bound(ClassWeight(minority_weight={"dog": 2, "bird": 9}, prior_correction=True))
    plain.fit_resample(X, y)
    np.testing.assert_allclose(plain.correct_probabilities(P), _expected(P, 1 / np.array([1.0, 2.0, 9.0])))


@pytest.mark.parametrize("make", [
    lambda: RandomOversample(sampling_strategy="not majority", prior_correction=True),
    lambda: Smote(sampling_strategy="not majority", prior_correction=True),
])
def test_oversampling_prior_correction_restores_the_given_shares(make, data) -> None:
    # every class grown to 600 rows: trained shares 1/3 each, so column k is multiplied by 3 n_k / n
    X, y = data
    strategy = bound(make())
    strategy.fit_resample(X, y)
    P = _scores()
    np.testing.assert_allclose(strategy.correct_probabilities(P), _expected(P, np.array(COUNTS, float)))


def test_imblearn_prior_correction(compose, data) -> None:
    X, y = data
    strategy = build("strategy", compose("strategy=imblearn", "strategy.prior_correction=true"))
    strategy.bind_classes(CLASSES).fit_resample(X, y, random_state=0)  # auto: every class down to 60 rows
    P = _scores()
    corrected = strategy.correct_probabilities(P)
    np.testing.assert_allclose(corrected, _expected(P, np.array(COUNTS, float)))
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0)


def test_no_correction_leaves_the_scores(data) -> None:
    X, y = data
    strategy = bound(ClassWeight(minority_weight={"bird": 9}))
    strategy.fit_resample(X, y)
    P = _scores()
    np.testing.assert_array_equal(strategy.correct_probabilities(P), P)


# --------------------------------------------------------------------------- models

def _weights_for(model, y: np.ndarray) -> np.ndarray:
    return np.where(y == 2, 3.0, 1.0) if models.takes_sample_weight(model) else np.ones(len(y))


MODELS = [c for c in discover("model", variants=False) if c.name != "isolation_forest"]


@pytest.mark.parametrize("component", MODELS, ids=lambda c: c.id)
def test_every_model_fits_three_classes_with_weights_and_predicts_them_in_code_order(
        compose, imbexp_home, component: Component) -> None:
    X, y = three_classes((300, 120, 40), seed=4)
    model = build("model", compose(*small(compose, component, imbexp_home)))
    models.check_multiclass(compose(*component.choice).model, model)  # no refusal for a classifier
    models.fit(model, X, y, _weights_for(model, y))
    P = models.predict_proba(model, X, 3)
    assert P.shape == (len(y), 3) and P.dtype == np.float64
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    # column k is class k: it is highest, on average, on the rows of class k
    for k in range(3):
        assert P[y == k, k].mean() > P[y != k, k].mean(), f"column {k} is not class {k}"


def test_a_class_the_model_never_saw_gets_zero(compose, imbexp_home) -> None:
    X, y = three_classes((300, 120, 40), seed=4)
    seen = y != 1  # training rows without class 1 (dog)
    model = models.fit(build("model", compose("model=logistic_regression")), X[seen], y[seen],
                       np.ones(int(seen.sum())))
    assert list(model.classes_) == [0, 2]
    P = models.predict_proba(model, X, 3)
    np.testing.assert_array_equal(P[:, 1], 0.0)
    np.testing.assert_allclose(P[:, [0, 2]], model.predict_proba(X))


@pytest.mark.parametrize("name", ["xgboost", "catboost"])
def test_early_stopping_boosters_watch_a_multiclass_metric(compose, name) -> None:
    X, y = three_classes((300, 120, 40), seed=4)
    cfg = compose(f"model={name}", "model.early_stopping_rounds=5")
    model = build("model", cfg)
    models.fit(model, X, y, np.where(y == 2, 2.0, 1.0))
    assert 0 <= model.best_iteration_ < 200
    P = models.predict_proba(model, X, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)


def test_an_anomaly_detector_refuses_multiclass_data(compose) -> None:
    cfg = compose("model=isolation_forest")
    model = build("model", cfg)
    with pytest.raises(ConfigError, match=r"^model=isolation_forest is an anomaly detector .*which multi-class "
                                          r"data cannot use; pick a classifier \(e\.g\. model=lightgbm\), or set "
                                          r"dataset\.positive_label=CLASS to detect one class against the rest\.$"):
        models.check_multiclass(cfg.model, model)
    X, y = three_classes((100, 50, 20))
    with pytest.raises(ConfigError, match="anomaly detector"):
        models.fit(model, X, y, np.ones(len(y)))
