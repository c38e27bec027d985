"""Every model found in conf/model is built from its YAML, takes sample weights and predicts probabilities."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from components import FAST_MODEL, Component, build, fast_model, imbalanced_frame, parametrize_with_checks, small

from imbexp import models

Make = Callable[[int], object]  # seed -> a fresh, unfitted model built from the composed config


def check_fits_with_weights_and_predicts_probabilities(make: Make, X: pd.DataFrame, y: np.ndarray) -> None:
    model = models.fit(make(0), X, y, np.where(y == 1, 3.0, 1.0))
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
    weights = np.where(y == 1, 3.0, 1.0)
    first = models.fit(make(3), X, y, weights).predict_proba(X)
    second = models.fit(make(3), X, y, weights).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=1e-12, atol=1e-15)  # threads may sum in another order


def check_sample_weight_is_honoured(make: Make, X: pd.DataFrame, y: np.ndarray) -> None:
    """The headline strategy works through weights: a model that ignores them (or a pipeline
    that does not route them to its final step) would silently turn it into plain downsampling.
    Only "the scores change" holds for every model: a fully grown forest's leaves are pure
    whatever the weights, so its mean score need not rise when the positives weigh more."""
    fresh = imbalanced_frame(len(X), float(np.mean(y)), seed=2, categorical="plan" in X).drop(columns="y")
    plain = models.predict_positive(models.fit(make(0), X, y, np.ones(len(y))), fresh)
    heavy = models.predict_positive(models.fit(make(0), X, y, np.where(y == 1, 10.0, 1.0)), fresh)
    assert not np.array_equal(plain, heavy), "weighting the positives by 10 changed no score: are weights passed?"


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
