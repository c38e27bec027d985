"""Every model found in conf/model is built from its YAML, takes sample weights and predicts probabilities."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from components import FAST_MODEL, Component, build, fast_model, imbalanced_frame, parametrize_with_checks, small

from imbexp import models, names
from imbexp.errors import ConfigError
from imbexp.run import _fit_one, build_strategy, experiment
from imbexp.splits import make_split
from imbexp.timing import Stopwatch

Make = Callable[[int], object]  # seed -> a fresh, unfitted model built from the composed config


def _weights(make: Make, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights`` for a model whose fit takes them; all 1 for one that takes none (EasyEnsemble,
    BalancedBagging), after checking that it is refused weighted rows with one sentence."""
    if models.takes_sample_weight(make(0)):
        return weights
    with pytest.raises(ConfigError, match=r"takes no sample_weight in fit, and these training rows are weighted; "
                                          r"use a model that takes them\.$"):
        models.fit(make(0), X, y, weights)
    return np.ones(len(weights))


def check_fits_with_weights_and_predicts_probabilities(make: Make, X: pd.DataFrame, y: np.ndarray) -> None:
    model = models.fit(make(0), X, y, _weights(make, X, y, np.where(y == 1, 3.0, 1.0)))
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1]
    positive = models.predict_positive(model, X)
    assert positive.dtype == np.float64
    # a forest predicting on several threads sums its trees in any order: equal to the last bits
    np.testing.assert_allclose(positive, proba[:, 1], rtol=1e-12, atol=1e-15)


def check_same_seed_same_scores(make: Make, X: pd.DataFrame, y: np.ndarray) -> None:
    weights = _weights(make, X, y, np.where(y == 1, 3.0, 1.0))
    first = models.fit(make(3), X, y, weights).predict_proba(X)
    second = models.fit(make(3), X, y, weights).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=1e-12, atol=1e-15)  # threads may sum in another order


def check_sample_weight_is_honoured(make: Make, X: pd.DataFrame, y: np.ndarray) -> None:
    """The headline strategy works through weights: a model that ignores them (or a pipeline
    that does not route them to its final step) would silently turn it into plain downsampling.
    Only "the scores change" holds for every model: a fully grown forest's leaves are pure
    whatever the weights, so its mean score need not rise when the positives weigh more. Every
    other negative weighs 5: a model fitted on one class (an anomaly detector on the negatives)
    must see its rows' weights too. A model whose fit takes no weights is refused them (_weights)."""
    if not models.takes_sample_weight(make(0)):
        _weights(make, X, y, np.where(y == 1, 10.0, 1.0))
        return
    fresh = imbalanced_frame(len(X), float(np.mean(y)), seed=2, categorical="plan" in X).drop(columns="y")
    plain = models.predict_positive(models.fit(make(0), X, y, np.ones(len(y))), fresh)
    weights = np.where(y == 1, 10.0, np.where(np.arange(len(y)) % 2 == 0, 1.0, 5.0))
    heavy = models.predict_positive(models.fit(make(0), X, y, weights), fresh)
    assert not np.array_equal(plain, heavy), "weighting the rows changed no score: are weights passed?"


MODEL_CHECKS = [
    check_fits_with_weights_and_predicts_probabilities,
    check_same_seed_same_scores,
    check_sample_weight_is_honoured,
]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """A small imbalanced set with a categorical column, as a file dataset gives."""
    frame = imbalanced_frame(800, 0.1, seed=1, categorical=True)
    return frame.drop(columns="y"), frame["y"].to_numpy()


@parametrize_with_checks("model", MODEL_CHECKS)
def test_model_protocol(compose, imbexp_home, component: Component, check, data) -> None:
    """Every model in conf/model, at its fast setting, through the same checks."""
    cfg = compose(*small(compose, component, imbexp_home))
    check(lambda seed: build("model", cfg, seed), *data)


def test_fast_setting_caps_size_parameters_wherever_they_are(compose) -> None:
    nested = compose("model=random_forest", "model.estimator.estimator.n_estimators=500")
    assert fast_model(nested) == [f"model.estimator.estimator.n_estimators={FAST_MODEL['n_estimators']}"]
    already_small = compose("model=lightgbm", "model.estimator.n_estimators=5")
    assert fast_model(already_small) == []


# --------------------------------------------------------------------------- seeds, threads, parameters

def test_boosters_take_the_runs_seed_and_thread_cap_under_their_own_names(compose, monkeypatch) -> None:
    monkeypatch.setenv(names.THREADS_ENV, "2")
    xgb = models.build_model(compose("model=xgboost").model, 7)
    assert (xgb.get_params()["random_state"], xgb.get_params()["n_jobs"]) == (7, 2)
    cat = models.final_step(models.build_model(compose("model=catboost").model, 7))
    assert (cat.get_params()["random_seed"], cat.get_params()["thread_count"]) == (7, 2)
    forest = models.final_step(models.build_model(compose("model=balanced_random_forest").model, 7))
    assert (forest.random_state, forest.n_jobs) == (7, 2)


@pytest.mark.parametrize(("overrides", "message"), [
    (["model=xgboost", "+model.estimator.max_dept=3"],
     "model.estimator.max_dept is not a parameter of xgboost.sklearn.XGBClassifier nor an XGBoost parameter; "
     "did you mean model.estimator.max_depth?"),
    (["model=catboost", "+model.estimator.estimator.dept=3"],
     "model.estimator.estimator.dept is not a parameter of catboost.CatBoostClassifier; "
     "did you mean model.estimator.estimator.depth?"),
    (["model=catboost", "model.estimator.estimator.depth=-3"],
     "model.estimator.estimator.depth=-3 is not allowed; CatBoost cannot parse it"),
    (["model=balanced_bagging", "model.estimator.estimator.n_estimators=0"],
     "model.estimator.estimator.n_estimators=0 is not allowed; use an int in the range [1, inf)"),
    (["model=isolation_forest", "model.estimator.estimator.fit_on=positives"],
     "model.estimator.estimator.fit_on='positives' is not allowed; use a str among {"),
    (["model=lightgbm", "+model.early_stopping_rounds=5"],
     "model.early_stopping_rounds=5 is not allowed for lightgbm.sklearn.LGBMClassifier; use it with "
     "model=xgboost or model=catboost, or set it to null."),
    (["model=xgboost", "model.early_stopping_rounds=0"], "model.early_stopping_rounds=0 is not allowed; "),
    (["model=catboost", "model.early_stopping_share=0.9"], "model.early_stopping_share=0.9 is not allowed; "),
    (["model=xgboost", "+model.early_stoping_rounds=5"],
     "model.early_stoping_rounds is not a key of model; did you mean model.early_stopping_rounds?"),
])
def test_model_mistakes_are_one_sentence_when_built(compose, overrides, message) -> None:
    with pytest.raises(ConfigError) as error:
        models.build_model(compose(*overrides).model, 0)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_a_model_that_takes_no_weights_is_refused_a_strategy_that_weights_rows(compose) -> None:
    for model in ("easy_ensemble", "balanced_bagging"):
        cfg = compose(f"model={model}", "strategy=downsample_upweight")
        with pytest.raises(ConfigError, match=r"^model.estimator.estimator._target_='imblearn.ensemble.\w+' takes no "
                                              r"sample_weight in fit, and strategy downsample_upweight weights rows; "
                                              r"use a strategy that does not \(.*none.*\) or a model whose fit takes "
                                              r"sample_weight\.$"):
            models.build_model(cfg.model, 0, strategy=build_strategy(cfg.strategy))
        unweighted = compose(f"model={model}", "strategy=downsample")
        models.build_model(unweighted.model, 0, strategy=build_strategy(unweighted.strategy))  # no error


# --------------------------------------------------------------------------- early stopping

def _easy(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    frame = imbalanced_frame(n, 0.2, seed=seed)
    return frame.drop(columns="y"), frame["y"].to_numpy()


@pytest.mark.parametrize("model", ["xgboost", "catboost"])
def test_early_stopping_stops_early_on_an_easy_problem(compose, model) -> None:
    size = "n_estimators" if model == "xgboost" else "estimator.iterations"
    rate = "learning_rate" if model == "xgboost" else "estimator.learning_rate"
    cfg = compose(f"model={model}", "model.early_stopping_rounds=10", f"model.estimator.{size}=400",
                  f"model.estimator.{rate}=0.5")
    X, y = _easy()
    fitted = models.fit(models.build_model(cfg.model, 0), X, y, np.ones(len(y)))
    booster = models.final_step(fitted.estimator_)
    built = booster.get_booster().num_boosted_rounds() if model == "xgboost" else booster.tree_count_
    assert fitted.best_iteration_ + 10 < 400 and built < 400, (fitted.best_iteration_, built)
    proba = models.predict_positive(fitted, X)
    assert np.all((proba > 0) & (proba < 1))
    plain = models.build_model(compose(f"model={model}", f"model.estimator.{size}=400").model, 0)
    assert not isinstance(plain, models.EarlyStopping)  # off unless asked for


def test_early_stopping_with_too_few_positives_to_split_names_its_share(compose) -> None:
    cfg = compose("model=xgboost", "model.early_stopping_rounds=10", "model.estimator.n_estimators=20")
    X, y = _easy()
    y = np.zeros(len(y), dtype=np.int8)
    y[:1] = 1  # one positive cannot be on both sides of a stratified split
    with pytest.raises(ConfigError, match=rf"^model.early_stopping_share=0.1 cannot hold out a stratified part of "
                                          rf"these training rows \(1 positive of {len(y)}: .*\); use "
                                          r"model.early_stopping_rounds=null \(a stratified split needs at least 2 "
                                          r"rows of each class\)\.$"):
        models.fit(models.build_model(cfg.model, 0), X, y, np.ones(len(y)))
    y[:3] = 1  # enough of each class, but a 5 % share of 20 rows holds one row, not one of each
    stopping = models.EarlyStopping(models.final_step(models.build_model(cfg.model, 0)), rounds=5, share=0.05)
    with pytest.raises(ConfigError, match=r"^model.early_stopping_share=0.05 cannot .* \(3 positive of 20: .*\); "
                                          r"use a larger share, up to 0.5, or model.early_stopping_rounds=null\.$"):
        models.fit(stopping, X.iloc[:20], y[:20], np.ones(20))


def test_early_stopping_holds_out_a_stratified_weighted_part_of_the_training_rows_only(compose) -> None:
    from sklearn.metrics import log_loss

    cfg = compose("model=xgboost", "model.early_stopping_rounds=10", "model.estimator.learning_rate=0.3",
                  "model.estimator.n_estimators=200", "strategy=downsample_upweight", "strategy.downsample_factor=3",
                  "dataset.rows=3000")
    dataset = build("dataset", cfg)
    split = make_split(dataset.y, cfg.split, 0)
    fold = split.folds[0]
    model, training, _ = _fit_one(cfg, dataset, fold.train, build_strategy(cfg.strategy), 0, Stopwatch())
    held_out = fold.train[training.indices[model.stopping_rows_]]  # positions in the dataset
    fitted_on = fold.train[training.indices[model.fit_rows_]]
    assert set(held_out) | set(fitted_on) == set(fold.train[training.indices])  # the strategy's rows, split
    assert not set(held_out) & set(fitted_on)
    assert not set(held_out) & (set(fold.valid) | set(split.test))
    assert len(held_out) == pytest.approx(0.1 * training.n_rows, abs=1)
    assert np.mean(training.y[model.stopping_rows_]) == pytest.approx(np.mean(training.y), abs=0.01)
    # the log loss XGBoost stopped on is the held-out rows' weighted one (the upweighted negatives)
    booster = model.estimator_
    stop_X, stop_y = training.X.iloc[model.stopping_rows_], training.y[model.stopping_rows_]
    stop_w = training.sample_weight[model.stopping_rows_]
    assert len(set(stop_w)) == 2
    p = booster.predict_proba(stop_X, iteration_range=(0, model.best_iteration_ + 1))[:, 1]
    recorded = booster.evals_result()["validation_0"]["logloss"][model.best_iteration_]
    assert recorded == pytest.approx(log_loss(stop_y, p, sample_weight=stop_w), rel=1e-4)
    assert recorded != pytest.approx(log_loss(stop_y, p), rel=1e-2)


# --------------------------------------------------------------------------- the anomaly-detection view

DETECTOR_RUN = ["model=isolation_forest", "model.estimator.estimator.detector.n_estimators=50",
                "dataset=breast_cancer", "metrics.bootstrap=0", "tracking.plots=false", "tracking.experiment=detector"]


def test_isolation_forest_scores_are_mapped_to_probabilities_on_valid(compose, capsys, mlflow_client) -> None:
    from imbexp.calibration import ScoreCalibrator

    cfg = compose(*DETECTOR_RUN)
    result = experiment(cfg)
    dataset = build("dataset", cfg)
    split = make_split(dataset.y, cfg.split, 0)
    train, valid = split.folds[0].train, split.folds[0].valid
    negatives = int(np.sum(dataset.y[train] == 0))
    assert result.tags[names.DETECTOR_FITTED_ON_TAG] == f"the {negatives:,} negative training rows"
    assert result.tags[names.SCORE_CALIBRATION_TAG] == "sigmoid, fitted on valid"
    logged = mlflow_client.get_run(result.run_id).data.tags
    assert logged[names.DETECTOR_FITTED_ON_TAG] == result.tags[names.DETECTOR_FITTED_ON_TAG]
    assert (f"anomaly detector fitted on the {negatives:,} negative training rows; scores mapped to probabilities "
            "by sigmoid, fitted on valid") in capsys.readouterr().out

    # the run's test scores: the detector's, mapped by a sigmoid fitted on all of valid
    model = models.fit(models.build_model(cfg.model, 0), dataset.features(train), dataset.y[train], np.ones(len(train)))
    raw_valid = models.predict_positive(model, dataset.features(valid))
    raw_test = models.predict_positive(model, dataset.features(split.test))
    expected = ScoreCalibrator("sigmoid").fit(raw_valid, dataset.y[valid]).transform(raw_test)
    np.testing.assert_allclose(result.test_scores, expected, rtol=1e-9)
    # ... and the raw scores rank the rows as the detector's anomaly score does
    anomaly = -models.final_step(model).detector_.score_samples(model[:-1].transform(dataset.features(split.test)))
    assert np.all(np.diff(raw_test[np.argsort(anomaly, kind="stable")]) >= 0)
    assert 0.8 < result.metrics["test_roc_auc"] <= 1  # malignant tumours look unlike the benign ones

    everything = experiment(compose(*DETECTOR_RUN, "model.estimator.estimator.fit_on=all"))
    assert everything.tags[names.DETECTOR_FITTED_ON_TAG] == f"all {len(train):,} training rows"


def test_other_models_carry_no_detector_tags(compose) -> None:
    cfg = compose("model=logistic_regression")
    assert models.score_calibration(cfg.model, "none") == "none"
    assert models.score_calibration(compose("model=isolation_forest").model, "isotonic") == "isotonic"
    assert models.detector_tags(models.build_model(cfg.model, 0), "none") == {}


def test_a_run_with_early_stopping_fits_scores_and_logs_its_model(compose, mlflow_client) -> None:
    cfg = compose("model=catboost", "model.early_stopping_rounds=10", "model.estimator.estimator.iterations=150",
                  "dataset=breast_cancer", "metrics.bootstrap=0", "tracking.plots=false", "tracking.log_model=true",
                  "tracking.experiment=early-stopping")
    result = experiment(cfg)
    assert 0.9 < result.metrics["test_roc_auc"] <= 1
    assert mlflow_client.get_run(result.run_id).data.params["model.early_stopping_rounds"] == "10"
    assert [m.status.name for m in mlflow_client.search_logged_models([mlflow_client.get_run(
        result.run_id).info.experiment_id]) if m.source_run_id == result.run_id] == ["READY"]
