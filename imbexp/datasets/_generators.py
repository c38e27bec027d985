"""Sources that make their data: scikit-learn's generator, a generator with a known P(y=1|x),
and scikit-learn's bundled breast cancer set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imbexp.constraints import Interval, Null
from imbexp.datasets._base import Dataset, frame, loader_function, param

#: the minority share a generator is asked for: above 0, at most half
MINORITY_FRACTION = Interval(float, 0, 0.5, closed="right")
#: the data's own seed (the top-level ``seed`` changes split and model only)
RANDOM_STATE = [Interval(int, 0, None), Null("(fresh data in each process)")]


def _count(low: int, high: int | None = None) -> Interval:
    # whole floats too: the command line reads dataset.rows=1e6 as a float
    return Interval(int, low, high, whole_floats=True)


@dataclass
class Synthetic:
    """scikit-learn's ``make_classification`` with a chosen minority share (float32)."""

    rows: int = 20_000
    features: int = 20
    informative: int = 8
    minority_fraction: float = 0.02
    class_sep: float = 1.0
    random_state: int | None = 0
    name: str = "synthetic"

    def __post_init__(self) -> None:
        param("rows", self.rows, _count(10))
        param("features", self.features, _count(2))
        # make_classification puts 2 clusters per class on the corners of an informative
        # hypercube: 2 x 2 clusters need 2 ** informative >= 4 corners
        param("informative", self.informative, _count(2, self.features))
        param("minority_fraction", self.minority_fraction, MINORITY_FRACTION)
        param("class_sep", self.class_sep, Interval(float, 0, None, closed="neither"))
        param("random_state", self.random_state, RANDOM_STATE)

    def load(self) -> Dataset:
        from sklearn.datasets import make_classification

        features, informative = int(self.features), int(self.informative)
        X, y = make_classification(
            n_samples=int(self.rows),
            n_features=features,
            n_informative=informative,
            n_redundant=min(2, features - informative),
            weights=[1.0 - self.minority_fraction],
            flip_y=0.0,
            class_sep=self.class_sep,
            random_state=self.random_state,
        )
        return Dataset(name=self.name, X=frame(X.astype(np.float32)), y=y.astype(np.int8),
                       source="sklearn.datasets.make_classification")


@dataclass
class KnownProb:
    """Labels drawn from a known P(y=1 | x), kept as ``p_true`` so calibration can be checked.

    logit(p) = x . w + interaction * x0 * x1 + b with x ~ N(0, I); ``signal`` is the standard
    deviation of x . w and b is solved so that the mean of p equals ``minority_fraction``.
    """

    rows: int = 50_000
    features: int = 10
    minority_fraction: float = 0.01
    signal: float = 2.0
    interaction: float = 0.5
    random_state: int | None = 0
    name: str = "known_prob"

    def __post_init__(self) -> None:
        param("rows", self.rows, _count(10))
        param("features", self.features, _count(2))  # the interaction term uses x0 and x1
        param("minority_fraction", self.minority_fraction, MINORITY_FRACTION)
        param("signal", self.signal, Interval(float, 0, None))
        param("interaction", self.interaction, Interval(float, -10, 10))
        param("random_state", self.random_state, RANDOM_STATE)

    def _truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The rows, and the generator they define: the coefficients and the intercept."""
        from scipy.optimize import brentq
        from scipy.special import expit

        rows, features = int(self.rows), int(self.features)
        rng = np.random.default_rng(self.random_state)
        X = rng.standard_normal((rows, features), dtype=np.float32)
        coef = rng.standard_normal(features)
        coef *= self.signal / np.linalg.norm(coef)
        score = self._logit(X, coef)
        intercept = brentq(lambda b: expit(score + b).mean() - self.minority_fraction, -50.0, 50.0)
        self._labels_rng = rng
        return X, score, coef, float(intercept)

    def _logit(self, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
        score = X @ coef.astype(np.float32) + np.float32(self.interaction) * X[:, 0] * X[:, 1]
        return score.astype(np.float64)

    def load(self) -> Dataset:
        from scipy.special import expit

        X, score, _, intercept = self._truth()
        p_true = expit(score + intercept)
        y = (self._labels_rng.random(X.shape[0]) < p_true).astype(np.int8)
        return Dataset(name=self.name, X=frame(X), y=y, p_true=p_true,
                       source=f"logistic generator, intercept {intercept:.4f}")

    def fresh(self, rows: int, seed: int) -> Dataset:
        """``rows`` new rows of the same generator (the coefficients and intercept of
        :meth:`load`'s data), drawn with ``seed``: a model's population value, or more samples of
        one population, as benchmarks/coverage.py needs."""
        from scipy.special import expit

        _, _, coef, intercept = self._truth()
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((int(rows), int(self.features)), dtype=np.float32)
        p_true = expit(self._logit(X, coef) + intercept)
        y = (rng.random(X.shape[0]) < p_true).astype(np.int8)
        return Dataset(name=self.name, X=frame(X), y=y, p_true=p_true,
                       source=f"logistic generator, intercept {intercept:.4f}, fresh rows (seed {seed})")


@dataclass
class BreastCancer:
    """scikit-learn's bundled Wisconsin breast cancer data; positive = malignant (37 %)."""

    name: str = "breast_cancer"

    def load(self) -> Dataset:
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer(as_frame=True)
        X = bunch.data.astype(np.float32)
        X.columns = [c.replace(" ", "_") for c in X.columns]
        y = (bunch.target.to_numpy() == 0).astype(np.int8)  # 0 is malignant in scikit-learn
        return Dataset(name=self.name, X=X, y=y, positive_label="malignant",
                       source="sklearn.datasets.load_breast_cancer")


synthetic = loader_function(Synthetic, "synthetic")
known_prob = loader_function(KnownProb, "known_prob")
breast_cancer = loader_function(BreastCancer, "breast_cancer")
