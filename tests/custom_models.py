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


class _SignalsWhenCollected:
    """Sends this process SIGTERM from its finalizer and runs Python code after it, so the stop
    handler runs inside the finalizer, where Python swallows what it raises ("Exception ignored
    in"): a finalizer of SQLAlchemy's or MLflow's caught at that moment does the same."""

    def __del__(self) -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
        total = 0
        for step in range(100_000):  # bytecode to run the handler on, still in the finalizer
            total += step


class StopInFinalizerLogistic(LogisticRegression):
    """Logistic regression whose fit gets SIGTERM inside a finalizer (see above)."""

    def fit(self, X, y, sample_weight=None):
        _SignalsWhenCollected()  # collected at once: its finalizer runs here
        return super().fit(X, y, sample_weight=sample_weight)


def stop_in_a_finalizer_at_trial_1(cfg, trial) -> None:
    """A custom search space (``hydra.sweeper.custom_search_space``) that gets SIGTERM inside a
    finalizer while trial 1 is set up, and suggests nothing."""
    if trial.number == 1:
        _SignalsWhenCollected()
