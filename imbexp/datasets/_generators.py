"""Sources that make their data: scikit-learn's generator, a generator with a known P(y=1|x),
and scikit-learn's bundled breast cancer set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imbexp.constraints import Interval, Null
from imbexp.datasets._base import Dataset, frame, loader_function, param
from imbexp.errors import ConfigError

#: the minority share a generator is asked for: above 0, at most half
MINORITY_FRACTION = Interval(float, 0, 0.5, closed="right")
#: the data's own seed (the top-level ``seed`` changes split and model only)
RANDOM_STATE = [Interval(int, 0, None), Null("(fresh data in each process)")]


def _count(low: int, high: int | None = None) -> Interval:
    # whole floats too: the command line reads dataset.rows=1e6 as a float
    return Interval(int, low, high, whole_floats=True)


#: the number of classes a generator makes: 2 (binary, the default) up to 50
CLASSES = Interval(int, 2, 50, whole_floats=True)


def class_shares(classes: Any, class_fractions: Any, minority_fraction: float) -> list[float] | None:
    """The class shares of a multi-class generator (``None`` for a binary one, whose
    ``minority_fraction`` says it all).

    ``class_fractions``: K shares > 0 summing to 1, class 0 first. Default: each class a
    constant ratio r rarer than the one before (shares proportional to 1, r, r^2, ...), r chosen
    so the last, smallest class has ``minority_fraction``: one majority and ever rarer minorities,
    the shape of most multi-class imbalance (e.g. 3 classes at 0.02: 0.845, 0.135, 0.02).
    """
    from scipy.optimize import brentq

    param("classes", classes, CLASSES)
    classes = int(classes)
    if classes == 2:
        if class_fractions is not None:
            raise ConfigError(f"dataset.class_fractions={list(class_fractions)} needs dataset.classes >= 3; a binary "
                              "dataset takes dataset.minority_fraction (or set dataset.classes).")
        return None
    if class_fractions is None:
        if minority_fraction * classes > 1:
            raise ConfigError(f"dataset.minority_fraction={minority_fraction} is too large for dataset.classes="
                              f"{classes} (the smallest of {classes} classes has at most 1/{classes}); use at most "
                              f"{1 / classes:.4g} or give dataset.class_fractions.")
        if minority_fraction * classes == 1:
            return [1.0 / classes] * classes
        powers = np.arange(classes)

        def last_share(ratio: float) -> float:
            weights = ratio ** powers
            return float(weights[-1] / weights.sum()) - minority_fraction

        ratio = brentq(last_share, 1e-12, 1.0)
        weights = ratio ** powers
        return (weights / weights.sum()).tolist()
    shares = list(class_fractions) if isinstance(class_fractions, Sequence) and not isinstance(
        class_fractions, str) else None
    valid = (shares is not None and len(shares) == classes
             and all(isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < 1 for f in shares)
             and abs(sum(shares) - 1.0) <= 1e-6)
    if not valid:
        raise ConfigError(f"dataset.class_fractions={class_fractions!r} is not allowed; use a list of "
                          f"{classes} shares (dataset.classes) each between 0 and 1, summing to 1, e.g. "
                          f"{_example(classes)}, or null for the default.")
    return [float(f) for f in shares]


def _example(classes: int) -> str:
    rest = round(0.2 / (classes - 1), 3)
    return "[" + ",".join(map(str, [round(1 - rest * (classes - 1), 3), *[rest] * (classes - 1)])) + "]"


def _labels(classes: int) -> tuple[str, ...]:
    return tuple(str(k) for k in range(classes))


@dataclass
class Synthetic:
    """scikit-learn's ``make_classification`` with a chosen minority share (float32).

    ``classes`` >= 3 makes a multi-class set (labels ``"0"``..``"K-1"``) with the shares
    ``class_fractions`` (default: :func:`class_shares`); 2 is the binary set, unchanged.
    """

    rows: int = 20_000
    features: int = 20
    informative: int = 8
    minority_fraction: float = 0.02
    class_sep: float = 1.0
    random_state: int | None = 0
    name: str = "synthetic"
    classes: int = 2
    class_fractions: Sequence[float] | None = None

    def __post_init__(self) -> None:
        param("rows", self.rows, _count(10))
        param("features", self.features, _count(2))
        # make_classification puts 2 clusters per class on the corners of an informative
        # hypercube: 2 x 2 clusters need 2 ** informative >= 4 corners
        param("informative", self.informative, _count(2, self.features))
        param("minority_fraction", self.minority_fraction, MINORITY_FRACTION)
        param("class_sep", self.class_sep, Interval(float, 0, None, closed="neither"))
        param("random_state", self.random_state, RANDOM_STATE)
        self._shares = class_shares(self.classes, self.class_fractions, self.minority_fraction)
        if self._shares is not None and 2 * int(self.classes) > 2 ** int(self.informative):
            raise ConfigError(f"dataset.informative={self.informative} is too few for dataset.classes="
                              f"{self.classes}: 2 clusters per class need 2 ** informative >= "
                              f"{2 * int(self.classes)} corners; raise dataset.informative.")

    def load(self) -> Dataset:
        from sklearn.datasets import make_classification

        features, informative = int(self.features), int(self.informative)
        if self._shares is not None:
            X, y = make_classification(
                n_samples=int(self.rows), n_features=features, n_informative=informative,
                n_redundant=min(2, features - informative), n_classes=int(self.classes),
                weights=self._shares, flip_y=0.0, class_sep=self.class_sep, random_state=self.random_state,
            )
            return Dataset(name=self.name, X=frame(X.astype(np.float32)), y=y.astype(np.int16),
                           classes=_labels(int(self.classes)), source="sklearn.datasets.make_classification")
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

    ``classes`` >= 3: P(y=k | x) = softmax_k(x . w_k + interaction * u_k * x0 * x1 + b_k), each w_k
    of norm ``signal``, u_k evenly spaced from -1 to 1 (the interaction pushes the first and last
    classes apart), and the intercepts b_k solved so the mean of P(y=k | x) is class k's share
    (``class_fractions``, default :func:`class_shares`); ``p_true`` keeps the (n, K) probabilities
    and the labels (``"0"``..``"K-1"``) are drawn from them. 2 is the binary generator, unchanged.
    """

    rows: int = 50_000
    features: int = 10
    minority_fraction: float = 0.01
    signal: float = 2.0
    interaction: float = 0.5
    random_state: int | None = 0
    name: str = "known_prob"
    classes: int = 2
    class_fractions: Sequence[float] | None = None

    def __post_init__(self) -> None:
        param("rows", self.rows, _count(10))
        param("features", self.features, _count(2))  # the interaction term uses x0 and x1
        param("minority_fraction", self.minority_fraction, MINORITY_FRACTION)
        param("signal", self.signal, Interval(float, 0, None))
        param("interaction", self.interaction, Interval(float, -10, 10))
        param("random_state", self.random_state, RANDOM_STATE)
        self._shares = class_shares(self.classes, self.class_fractions, self.minority_fraction)

    def _softmax_truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
        """The rows, the coefficients (features, K) and the intercepts (K,) of the multi-class
        generator, and the random generator the labels are drawn with."""
        rows, features, classes = int(self.rows), int(self.features), int(self.classes)
        rng = np.random.default_rng(self.random_state)
        X = rng.standard_normal((rows, features), dtype=np.float32)
        coef = rng.standard_normal((features, classes))
        coef *= self.signal / np.linalg.norm(coef, axis=0)
        intercept = _match_shares(self._softmax_logits(X, coef), np.asarray(self._shares))
        return X, coef, intercept, rng

    def _softmax_logits(self, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
        spread = np.linspace(-1.0, 1.0, coef.shape[1])
        pair = (X[:, 0] * X[:, 1]).astype(np.float64)
        return X.astype(np.float64) @ coef + self.interaction * pair[:, None] * spread[None, :]

    def _multiclass(self, X: np.ndarray, coef: np.ndarray, intercept: np.ndarray, rng: np.random.Generator,
                    source: str) -> Dataset:
        from scipy.special import softmax

        p_true = softmax(self._softmax_logits(X, coef) + intercept, axis=1)
        # one uniform per row against the cumulative probabilities: a draw from each row's P
        y = (p_true.cumsum(axis=1) < rng.random(X.shape[0])[:, None]).sum(axis=1)
        y = np.minimum(y, p_true.shape[1] - 1).astype(np.int16)  # a cumulative sum of 1 - 1e-16
        shown = ", ".join(f"{b:.3f}" for b in intercept)
        return Dataset(name=self.name, X=frame(X), y=y, p_true=p_true, classes=_labels(p_true.shape[1]),
                       source=f"softmax generator, intercepts {shown}{source}")

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

        if self._shares is not None:
            return self._multiclass(*self._softmax_truth(), source="")
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

        if self._shares is not None:
            _, coef, intercepts, _ = self._softmax_truth()
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((int(rows), int(self.features)), dtype=np.float32)
            return self._multiclass(X, coef, intercepts, rng, source=f", fresh rows (seed {seed})")
        _, _, coef, intercept = self._truth()
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((int(rows), int(self.features)), dtype=np.float32)
        p_true = expit(self._logit(X, coef) + intercept)
        y = (rng.random(X.shape[0]) < p_true).astype(np.int8)
        return Dataset(name=self.name, X=frame(X), y=y, p_true=p_true,
                       source=f"logistic generator, intercept {intercept:.4f}, fresh rows (seed {seed})")


def _match_shares(logits: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Intercepts b (K,) with mean_i softmax(logits_i + b) = shares.

    Written by hand: scipy has no such solver. The fixed point b_k += log(share_k / mean p_k) is
    the EM step for class priors (Saerens et al. 2002), which converges for any start; class 0's
    intercept is kept at 0 (softmax is unchanged by a common shift)."""
    from scipy.special import softmax

    intercept = np.log(shares)
    for _ in range(500):
        mean = softmax(logits + intercept, axis=1).mean(axis=0)
        if np.max(np.abs(mean - shares) / shares) < 1e-6:
            break
        intercept = intercept + np.log(shares / mean)
        intercept -= intercept[0]
    return intercept


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
