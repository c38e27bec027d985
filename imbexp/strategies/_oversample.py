from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from imbexp.constraints import Interval, Options, Worded
from imbexp.errors import DataError
from imbexp.strategies._base import Strategy, TrainingSet

log = logging.getLogger(__name__)

#: minority rows / majority rows after resampling
RATIO = Worded(Interval(float, 0, 1, closed="right"),
               "use a number > 0 and <= 1 (minority rows / majority rows after resampling)")


def _resampled(sampler, X, y) -> TrainingSet:
    try:
        X_new, y_new = sampler.fit_resample(X, y)
    except ValueError as exc:
        # imbalanced-learn refuses a ratio that would not add rows, among others.
        raise DataError(f"strategy {type(sampler).__name__} cannot resample this training set: {exc}") from exc
    return TrainingSet(X=X_new, y=np.asarray(y_new, dtype=np.int8),
                       sample_weight=np.ones(len(y_new)), indices=None)


class RandomOversample(Strategy):
    """Repeat random minority rows until minority / majority = ``sampling_strategy``."""

    name = "oversample"
    parameter_constraints = {"sampling_strategy": RATIO}
    factor_name = "sampling_strategy"

    def __init__(self, sampling_strategy: Any = 1.0) -> None:
        self.sampling_strategy = float(sampling_strategy)

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import RandomOverSampler

        if sample_weight is not None:
            raise DataError("strategy oversample does not take row weights from the dataset.")
        return _resampled(RandomOverSampler(sampling_strategy=self.sampling_strategy,
                                            random_state=random_state), X, y)

    def label(self) -> str:
        return f"{self.name} r={self.sampling_strategy:g}"

    def params(self) -> dict[str, Any]:
        return {"sampling_strategy": self.sampling_strategy}


SMOTE_KINDS = ("auto", "smote", "adasyn", "borderline", "smotenc")


class Smote(Strategy):
    """imbalanced-learn's synthetic oversamplers. ``auto`` is SMOTE, or SMOTENC when the data
    has categorical columns."""

    name = "smote"
    parameter_constraints = {
        "kind": Worded(Options(*SMOTE_KINDS), f"use one of {', '.join(SMOTE_KINDS)}"),
        "k_neighbors": Interval(int, 1, None, whole_floats=True),
        "sampling_strategy": RATIO,
    }
    factor_name = "sampling_strategy"

    def __init__(self, kind: str = "auto", k_neighbors: Any = 5, sampling_strategy: Any = 1.0) -> None:
        self.kind = kind
        self.k_neighbors = int(k_neighbors)
        self.sampling_strategy = float(sampling_strategy)

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE

        if sample_weight is not None:
            raise DataError("strategy smote does not take row weights from the dataset.")
        n_minority = int(min(np.bincount(y)))
        if n_minority < 2:
            raise DataError(f"strategy smote needs at least 2 minority rows in the training part; "
                            f"it has {n_minority}.")
        k = min(self.k_neighbors, n_minority - 1)
        if k < self.k_neighbors:
            log.warning("strategy.k_neighbors=%d lowered to %d: the training part has only %d "
                        "minority rows", self.k_neighbors, k, n_minority)
        categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        kind = self.kind
        if kind == "auto":
            kind = "smotenc" if categorical else "smote"
        if kind == "smotenc" and not categorical:
            raise DataError("strategy.kind=smotenc needs categorical columns; this data has none "
                            "(use kind=smote).")
        if kind != "smotenc" and categorical:
            raise DataError(f"strategy.kind={kind} works on numeric columns only; the data has "
                            f"categorical columns {categorical[:5]} (use kind=smotenc or auto).")
        if X.isna().to_numpy().any():
            raise DataError(f"strategy.kind={kind} cannot use rows with missing values; "
                            "fill them or use another strategy.")
        common = {"sampling_strategy": self.sampling_strategy, "random_state": random_state}
        sampler = {
            "smote": lambda: SMOTE(k_neighbors=k, **common),
            "adasyn": lambda: ADASYN(n_neighbors=k, **common),
            "borderline": lambda: BorderlineSMOTE(k_neighbors=k, **common),
            "smotenc": lambda: SMOTENC(categorical_features=categorical, k_neighbors=k, **common),
        }[kind]()
        return _resampled(sampler, X, y)

    def label(self) -> str:
        return self.name if self.kind in ("auto", "smote") else f"{self.name} {self.kind}"

    def report_label(self) -> str:
        return self.label()

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "k_neighbors": self.k_neighbors,
                "sampling_strategy": self.sampling_strategy}
