"""A user's own estimator, for the tests that need one (importable as ``custom_models``)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression


class GeneratorLogistic(LogisticRegression):
    """Logistic regression that keeps a generator after fitting: no serialiser can save it."""

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        self.batches_ = (row for row in range(3))
        return self


class FitRecordingBoosting(HistGradientBoostingClassifier):
    """A real booster that also keeps what each ``fit`` was given (the rows' index, feature
    values, labels and weights), in-process, so a test can check the weights that reached the
    model, row by row (a sampler's rows lose their index; their values say which row they are)."""

    fits: ClassVar[list[dict]] = []

    def fit(self, X, y, sample_weight=None):
        FitRecordingBoosting.fits.append({"index": np.asarray(X.index), "X": pd.DataFrame(X).copy(),
                                          "y": np.asarray(y),
                                          "sample_weight": None if sample_weight is None else
                                          np.asarray(sample_weight, dtype=np.float64).copy()})
        return super().fit(X, y, sample_weight=sample_weight)
