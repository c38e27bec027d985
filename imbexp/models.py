"""Models: built from ``conf/model/*.yaml`` (``estimator._target_``); all take sample weights."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from imbexp.errors import ConfigError


def threads() -> int:
    """Threads one model may use: ``IMBEXP_THREADS`` (set by parallel sweeps) or every core."""
    value = os.environ.get("IMBEXP_THREADS")
    if not value:
        return os.cpu_count() or 1
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"the environment variable IMBEXP_THREADS={value!r} is not allowed; use a whole "
                          "number >= 1 (model threads), or unset it to use every core.")
    return int(value)


def with_preprocessing(estimator: BaseEstimator, scale: bool = True) -> Pipeline:
    """Impute and (optionally) scale numeric columns, one-hot encode categorical ones.

    For estimators that need it: logistic regression converges only on scaled inputs, and
    neither it nor a random forest takes missing values or text categories.
    """
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    prepare = ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), make_column_selector(dtype_exclude="category")),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             make_column_selector(dtype_include="category")),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("prepare", prepare), ("model", estimator)])


def build_model(model_cfg: Any, random_state: int) -> BaseEstimator:
    """Instantiate ``model.estimator``; seed it and cap its threads where it has such params."""
    from hydra.utils import instantiate

    from imbexp._compat import trusted_configs

    spec = model_cfg.get("estimator") if hasattr(model_cfg, "get") else None
    if spec is None or "_target_" not in spec:
        raise ConfigError("model.estimator._target_ is missing; pick a model with model=NAME.")
    try:
        with trusted_configs():  # also outside the app: tests and scripts build models too
            estimator = instantiate(spec)
    except Exception as exc:  # Hydra wraps the estimator's own complaint
        cause = exc.__cause__ or exc
        raise ConfigError(f"model.estimator cannot be built from {spec['_target_']!r}: {cause}") from exc
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not hasattr(final, "predict_proba"):
        raise ConfigError(f"model.estimator._target_={spec['_target_']!r} has no predict_proba; "
                          "imbexp needs a probabilistic classifier.")
    updates = {}
    params = final.get_params(deep=False)
    if "random_state" in params:
        updates["random_state"] = random_state
    if params.get("n_jobs") == -1:
        updates["n_jobs"] = threads()
    if updates:
        final.set_params(**updates)
    return estimator


def fit(estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray) -> BaseEstimator:
    """Fit with sample weights, routed to the final step of a pipeline."""
    if isinstance(estimator, Pipeline):
        return estimator.fit(X, y, **{f"{estimator.steps[-1][0]}__sample_weight": sample_weight})
    return estimator.fit(X, y, sample_weight=sample_weight)


def predict_positive(estimator: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """P(y=1 | x) as float64."""
    proba = estimator.predict_proba(X)
    column = int(np.flatnonzero(np.asarray(estimator.classes_) == 1)[0])
    return np.asarray(proba[:, column], dtype=np.float64)
