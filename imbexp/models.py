"""Models: built from ``conf/model/*.yaml`` (``estimator._target_``) by :mod:`imbexp.components`."""

from __future__ import annotations

import functools
import os
import re
import sys
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from imbexp import components, names
from imbexp.constraints import check_keys, did_you_mean
from imbexp.errors import ConfigError, first_line
from imbexp.strategies import Strategy

#: the keys of a model config (conf/model/*.yaml): its display name and the estimator spec
MODEL_KEYS = ("name", "estimator")


def threads() -> int:
    """Threads one model may use: ``IMBEXP_THREADS`` (set by parallel sweeps) or every core."""
    value = os.environ.get(names.THREADS_ENV)
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


def build_model(model_cfg: Any, random_state: int, *, strategy: Strategy | None = None) -> BaseEstimator:
    """Build ``model.estimator``; seed it and cap its threads where it has such params.

    Everything a run relies on is checked here, before any data is loaded: each constructor
    argument (scikit-learn's own parameter validation, which otherwise runs at ``fit``; LightGBM's
    parameter names, which it otherwise only warns about), ``predict_proba`` on the final step,
    and ``sample_weight`` in its ``fit`` when ``strategy`` weights rows.
    """
    spec = model_cfg.get("estimator") if hasattr(model_cfg, "get") else None
    if spec is None or "_target_" not in spec:
        raise ConfigError("model.estimator._target_ is missing; pick a model with model=NAME.")
    check_keys("model", list(model_cfg.keys()), MODEL_KEYS)
    keys: dict[int, str] = {}  # the key path each built object came from

    def check(built: Any, key: str, params: dict[str, Any]) -> None:
        keys[id(built)] = key
        check_arguments(built, key, params)

    estimator = components.build(spec, "model.estimator", check=check)
    final = final_step(estimator)
    key = keys.get(id(final), "model.estimator")
    where = f"{key}._target_={OmegaConf.select(model_cfg, key.removeprefix('model.') + '._target_')!r}"
    if not hasattr(final, "predict_proba"):
        raise ConfigError(f"{where} has no predict_proba; imbexp needs a probabilistic classifier.")
    if strategy is not None and strategy.weights_rows and not takes_sample_weight(estimator):
        raise ConfigError(f"{where} takes no sample_weight in fit, and strategy {strategy.name} weights "
                          f"rows; use a strategy that does not ({', '.join(_unweighted_strategies())}) "
                          "or a model whose fit takes sample_weight.")
    updates = {}
    params = final.get_params(deep=False)
    if "random_state" in params:
        updates["random_state"] = random_state
    if params.get("n_jobs") == -1:
        updates["n_jobs"] = threads()
    if updates:
        final.set_params(**updates)
    return estimator


def final_step(estimator: BaseEstimator) -> BaseEstimator:
    """The estimator that predicts: the last step of a pipeline, else the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def takes_sample_weight(estimator: BaseEstimator) -> bool:
    """Whether ``fit`` takes ``sample_weight`` (a pipeline routes it to its final step)."""
    from sklearn.utils.validation import has_fit_parameter

    return has_fit_parameter(final_step(estimator), "sample_weight")


def _path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _unweighted_strategies() -> list[str]:
    """Names of the strategies that leave every row's weight as the dataset gives it."""
    found, pending = [], list(Strategy.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.weights_rows and isinstance(getattr(cls, "name", None), str):
            found.append(cls.name)
    return sorted(set(found))


#: "The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]. Got -1 instead."
_SKLEARN_INVALID = re.compile(r"The '(?P<name>\w+)' parameter of (?P<owner>\w+) must be (?P<allowed>.+?)\. Got ")


def check_arguments(built: Any, key: str, params: dict[str, Any]) -> None:
    """Refuse a constructor argument the estimator accepted without looking at it.

    scikit-learn estimators store their arguments as given and validate them at ``fit``, after
    the data is loaded; ``_validate_params`` runs that same check now. LightGBM takes any keyword
    (``**kwargs``) and only warns "Unknown parameter" at ``fit`` (nothing at all with
    ``verbose=-1``), so an argument that is neither a parameter of its signature nor one of
    LightGBM's own parameter names or aliases is refused here.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    if isinstance(built, BaseEstimator) and hasattr(type(built), "_parameter_constraints"):
        try:
            built._validate_params()
        except InvalidParameterError as exc:
            match = _SKLEARN_INVALID.search(str(exc))
            if match is None:
                raise ConfigError(f"{key} cannot be built from {_path(built)!r}: {first_line(exc)}") from exc
            name = match["name"]
            raise ConfigError(f"{key}.{name}={params.get(name)!r} is not allowed; use {match['allowed']} "
                              f"({match['owner']}'s own check).") from exc
    lightgbm_names = _lightgbm_parameters(built)
    if lightgbm_names is not None:
        for name in params:
            if name not in lightgbm_names:
                raise ConfigError(f"{key}.{name} is not a parameter of {_path(built)} nor a LightGBM "
                                  f"parameter;{did_you_mean(name, lightgbm_names, prefix=f'{key}.')} "
                                  "see LightGBM's parameter list.")


def _lightgbm_parameters(built: Any) -> set[str] | None:
    """Every name a LightGBM estimator understands (its signature, LightGBM's parameters and their
    aliases), or ``None`` for other estimators. LightGBM's own table, the one behind its
    "Unknown parameter" warning, is read through its C API in 0.3 ms; a tiny fit to catch the
    warning costs 7-20 ms and swaps LightGBM's global logger."""
    if "lightgbm" not in sys.modules:
        return None
    import lightgbm

    if not isinstance(built, lightgbm.LGBMModel):
        return None
    return set(components.parameters(type(built).__init__) or ()) | _lightgbm_names()


@functools.lru_cache(maxsize=1)
def _lightgbm_names() -> frozenset[str]:
    from lightgbm.basic import _ConfigAliases  # the table LightGBM's C++ side checks names against

    return frozenset(name for aliases in _ConfigAliases._get_all_param_aliases().values() for name in aliases)


def fit(estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray) -> BaseEstimator:
    """Fit with sample weights, routed to the final step of a pipeline. A model whose ``fit``
    takes no weights is fitted without them when every weight is 1 (a strategy that weights rows
    was refused with it before the data was loaded).

    A value the model only checks when it fits (LightGBM checks none before: ``n_estimators=0``,
    ``num_leaves=-5``) is one sentence naming the model, not the library's traceback.
    """
    if not takes_sample_weight(estimator):
        if not np.all(np.asarray(sample_weight) == 1):
            raise ConfigError(f"model.estimator {_path(final_step(estimator))!r} takes no sample_weight "
                              "in fit, and these training rows are weighted; use a model that takes them.")
        return _fit_or_explain(estimator, X, y)
    if isinstance(estimator, Pipeline):
        return _fit_or_explain(estimator, X, y, **{f"{estimator.steps[-1][0]}__sample_weight": sample_weight})
    return _fit_or_explain(estimator, X, y, sample_weight=sample_weight)


def _fit_or_explain(estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, **weights: Any) -> BaseEstimator:
    try:
        return estimator.fit(X, y, **weights)
    except Exception as exc:
        if not isinstance(exc, ValueError) and type(exc).__name__ != "LightGBMError":
            raise
        raise ConfigError(f"model.estimator {_path(final_step(estimator))!r} could not be fitted "
                          f"({type(exc).__name__}: {first_line(exc)[:300]}); check its parameters "
                          "(python -m imbexp --cfg job shows them).") from exc


def predict_positive(estimator: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """P(y=1 | x) as float64."""
    proba = estimator.predict_proba(X)
    column = int(np.flatnonzero(np.asarray(estimator.classes_) == 1)[0])
    return np.asarray(proba[:, column], dtype=np.float64)
