from __future__ import annotations

from typing import Any

from imbexp.constraints import Interval, Options, Worded
from imbexp.errors import DataError
from imbexp.strategies._base import PRIOR_CORRECTION, Strategy, TrainingSet
from imbexp.strategies._resampling import (
    categorical_columns,
    has_missing,
    multiclass_sampling_strategy,
    neighbours_within,
    resampled,
)

#: minority rows / majority rows after resampling
RATIO = Worded(Interval(float, 0, 1, closed="right"),
               "use a number > 0 and <= 1 (minority rows / majority rows after resampling)")


class _Oversampler(Strategy):
    sampling_strategy: float

    def _sampling_strategy(self, y) -> Any:
        """The ratio as imbalanced-learn takes it: for multi-class data, a row count per class."""
        if self._classes is None:
            return self.sampling_strategy
        return multiclass_sampling_strategy(self.sampling_strategy, y, self._classes, "over-sampling",
                                            "strategy.sampling_strategy")


class RandomOversample(_Oversampler):
    """Repeat random minority rows until minority / majority = ``sampling_strategy``; a repeated
    row carries its source row's weight. This raises the minority's prior, which
    ``prior_correction`` maps back."""

    name = "oversample"
    parameter_constraints = {"sampling_strategy": RATIO, "prior_correction": PRIOR_CORRECTION}
    factor_name = "sampling_strategy"

    def __init__(self, sampling_strategy: Any = 1.0, prior_correction: bool = False) -> None:
        self.sampling_strategy = float(sampling_strategy)
        self.prior_correction = prior_correction

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import RandomOverSampler

        sampler = RandomOverSampler(sampling_strategy=self._sampling_strategy(y), random_state=random_state)
        training = resampled(sampler, X, y, sample_weight, f"strategy {self.name}",
                             ratio_key="strategy.sampling_strategy")
        self._note_prior(y, sample_weight, training.y, training.sample_weight)
        return training

    def label(self) -> str:
        return f"{self.name} r={self.sampling_strategy:g}{self.prior_suffix()}"

    def report_label(self) -> str:
        return self.name + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        return {"sampling_strategy": self.sampling_strategy, "prior_correction": self.prior_correction}


SMOTE_KINDS = ("auto", "smote", "adasyn", "borderline", "smotenc")


class Smote(_Oversampler):
    """imbalanced-learn's synthetic oversamplers. ``auto`` is SMOTE, or SMOTENC when the data
    has categorical columns. The input rows keep their weights, a synthetic row takes its class's
    mean weight (:mod:`imbexp.strategies._resampling`)."""

    name = "smote"
    parameter_constraints = {
        "kind": Worded(Options(*SMOTE_KINDS), f"use one of {', '.join(SMOTE_KINDS)}"),
        "k_neighbors": Interval(int, 1, None, whole_floats=True),
        "sampling_strategy": RATIO,
        "prior_correction": PRIOR_CORRECTION,
    }
    factor_name = "sampling_strategy"

    def __init__(self, kind: str = "auto", k_neighbors: Any = 5, sampling_strategy: Any = 1.0,
                 prior_correction: bool = False) -> None:
        self.kind = kind
        self.k_neighbors = int(k_neighbors)
        self.sampling_strategy = float(sampling_strategy)
        self.prior_correction = prior_correction

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE

        k = neighbours_within(self.k_neighbors, y, "strategy.k_neighbors", "strategy smote")
        categorical = categorical_columns(X)
        kind = self.kind
        if kind == "auto":
            kind = "smotenc" if categorical else "smote"
        if kind == "smotenc" and not categorical:
            raise DataError("strategy.kind=smotenc needs categorical columns; this data has none "
                            "(use kind=smote).")
        if kind != "smotenc" and categorical:
            raise DataError(f"strategy.kind={kind} works on numeric columns only; the data has "
                            f"categorical columns {categorical[:5]} (use kind=smotenc or auto).")
        if has_missing(X):
            raise DataError(f"strategy.kind={kind} cannot use rows with missing values; "
                            "fill them or use another strategy.")
        common = {"sampling_strategy": self._sampling_strategy(y), "random_state": random_state}
        sampler = {
            "smote": lambda: SMOTE(k_neighbors=k, **common),
            "adasyn": lambda: ADASYN(n_neighbors=k, **common),
            "borderline": lambda: BorderlineSMOTE(k_neighbors=k, **common),
            "smotenc": lambda: SMOTENC(categorical_features=categorical, k_neighbors=k, **common),
        }[kind]()
        training = resampled(sampler, X, y, sample_weight, f"strategy {self.name}",
                             ratio_key="strategy.sampling_strategy")
        self._note_prior(y, sample_weight, training.y, training.sample_weight)
        return training

    def label(self) -> str:
        return (self.name if self.kind in ("auto", "smote") else f"{self.name} {self.kind}") + self.prior_suffix()

    def report_label(self) -> str:
        return self.label()

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "k_neighbors": self.k_neighbors,
                "sampling_strategy": self.sampling_strategy, "prior_correction": self.prior_correction}
