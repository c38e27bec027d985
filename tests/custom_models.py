"""A user's own estimator, for the tests that need one (importable as ``custom_models``)."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression


class GeneratorLogistic(LogisticRegression):
    """Logistic regression that keeps a generator after fitting: no serialiser can save it."""

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        self.batches_ = (row for row in range(3))
        return self
