"""Models: built from ``conf/model/*.yaml`` (``estimator._target_``) by :mod:`imbexp.components`."""

from __future__ import annotations

import functools
import re
import sys
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, StrOptions

from imbexp import components, names
from imbexp.constraints import Interval, Null, check, check_keys, did_you_mean
from imbexp.errors import ConfigError, first_line
from imbexp.strategies import Strategy

#: the keys of a model config (conf/model/*.yaml): its display name, the estimator spec and, for
#: the boosters that stop on a held-out part (XGBoost, CatBoost), early stopping
MODEL_KEYS = ("name", "estimator", "early_stopping_rounds", "early_stopping_share")
#: the seed parameter's name: scikit-learn's (also LightGBM's, XGBoost's), then CatBoost's
SEED_PARAMS = ("random_state", "random_seed")
#: the thread parameter's name (scikit-learn's, also LightGBM's and XGBoost's; CatBoost's) and the
#: values that mean every core, which a run turns into threads(): -1 in a YAML; for CatBoost also
#: unset, its default (its get_params drops a -1 it was given)
THREAD_PARAMS = {"n_jobs": (-1,), "thread_count": (-1, None)}


def threads() -> int:
    """Threads one model may use: ``IMBEXP_THREADS`` (set by parallel sweeps), else the cores idle
    when the process first asks (:mod:`imbexp.threads`)."""
    from imbexp import threads as policy

    return policy.threads()


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
    _seed_and_cap_threads(final, random_state)
    return _with_early_stopping(estimator, model_cfg, random_state)


def _seed_and_cap_threads(final: BaseEstimator, random_state: int) -> None:
    """The run's seed and thread cap on the predicting estimator, under whichever name it uses.

    CatBoost's ``get_params`` lists only the arguments given, so a seed parameter it was not given
    is looked up in its signature (``random_seed``, its own name; ``random_state`` is an alias).
    """
    params = final.get_params(deep=False)
    accepted = set(params) | set(components.parameters(type(final).__init__) or ())
    updates: dict[str, Any] = {}
    seed_key = next((key for key in SEED_PARAMS if key in params), None)
    if seed_key is None and "random_seed" in accepted:
        seed_key = "random_seed"
    if seed_key is not None:
        updates[seed_key] = random_state
    for key, every_core in THREAD_PARAMS.items():
        if key in accepted and params.get(key) in every_core:
            updates[key] = threads()
    if updates:
        final.set_params(**updates)


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
    _check_xgboost_arguments(built, key, params)
    _check_catboost_values(built, key, params)


def _check_xgboost_arguments(built: Any, key: str, params: dict[str, Any]) -> None:
    """XGBoost's estimators take any keyword (``**kwargs``) and only warn "Parameters: { ... } are
    not used" when they train. That warning comes from XGBoost's own parameter validation
    (``validate_parameters``): one boosting round on a 2 x 1 matrix with the keywords outside the
    signature (and the objective, whose own parameters count) takes 1 ms (50 ms the first time in
    a process) and names the ones XGBoost does not know. The close names come from that Booster's
    configuration."""
    if "xgboost" not in sys.modules:
        return
    import xgboost

    if not isinstance(built, xgboost.XGBModel):
        return
    import inspect

    # XGBClassifier's own signature is (objective, **kwargs); the named parameters are XGBModel's
    signature = {name for cls in (type(built), xgboost.XGBModel)
                 for name in inspect.signature(cls.__init__).parameters} - {"self", "kwargs"}
    extra = {name: value for name, value in params.items() if name not in signature}
    if not extra:
        return
    import json
    import warnings

    objective = built.get_params().get("objective")
    given = {**extra, "validate_parameters": True, **({"objective": objective} if isinstance(objective, str) else {})}
    matrix = xgboost.DMatrix(np.zeros((2, 1)), label=[0, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster = xgboost.Booster(given, [matrix])
        booster.update(matrix, 0)  # the check runs when the booster is configured for a round
    unused = set()
    for warning in caught:
        found = re.search(r"Parameters: \{(?P<names>[^}]*)\} are not used", str(warning.message))
        if found:
            unused |= {name.strip().strip('"') for name in found["names"].split(",")}
    for name in extra:
        if name in unused:
            known = signature | _config_names(json.loads(booster.save_config()))
            raise ConfigError(f"{key}.{name} is not a parameter of {_path(built)} nor an XGBoost "
                              f"parameter;{did_you_mean(name, known, prefix=f'{key}.')} "
                              "see XGBoost's parameter list.")


def _config_names(config: Any) -> set[str]:
    """The parameter names in an XGBoost configuration (its ``*_param`` sections, at any depth)."""
    found: set[str] = set()
    if isinstance(config, dict):
        for name, value in config.items():
            if name.endswith("_param") and isinstance(value, dict):
                found |= set(value)
            found |= _config_names(value)
    return found


def _check_catboost_values(built: Any, key: str, params: dict[str, Any]) -> None:
    """CatBoost's estimators name every parameter in their signature (no ``**kwargs``), so the
    builder already refuses an unknown key; their values are parsed only at ``fit``. The parser
    ``fit`` calls first (``_catboost._check_train_params``, private, 1 ms) reads them now, where
    this CatBoost has it."""
    if "catboost" not in sys.modules:
        return
    import catboost

    check_train_params = getattr(getattr(catboost, "_catboost", None), "_check_train_params", None)
    if not isinstance(built, catboost.CatBoost) or check_train_params is None:
        return
    try:
        check_train_params(dict(built.get_params()))
    except catboost.CatBoostError as exc:
        found = re.search(r'parameter "(?P<name>\w+)" with value', str(exc))
        name = found["name"] if found and found["name"] in params else None
        if name is None:
            raise ConfigError(f"{key} cannot be built from {_path(built)!r}: {first_line(exc)}") from exc
        raise ConfigError(f"{key}.{name}={params[name]!r} is not allowed; CatBoost cannot parse it "
                          "(see CatBoost's parameter list).") from exc


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
    if np.size(y) and int(np.max(y)) > 1:  # multi-class codes
        _multiclass_metrics(estimator)
    if not takes_sample_weight(estimator):
        if not np.all(np.asarray(sample_weight) == 1):
            raise ConfigError(f"model.estimator {_path(final_step(estimator))!r} takes no sample_weight "
                              "in fit, and these training rows are weighted; use a model that takes them.")
        return _fit_or_explain(estimator, X, y)
    if isinstance(estimator, Pipeline):
        return _fit_or_explain(estimator, X, y, **{f"{estimator.steps[-1][0]}__sample_weight": sample_weight})
    return _fit_or_explain(estimator, X, y, sample_weight=sample_weight)


#: binary metric names of the boosters and their multi-class counterparts: XGBoost's
#: ``logloss`` needs one score per row and fails on multi-class scores ("use merror or mlogloss
#: for multi-class"), and CatBoost refuses ``Logloss`` beside the multi-class loss it picks
#: ("Both binary classification-only and multiclassification-only loss function or metrics
#: specified"). The model YAMLs name the binary ones for early stopping; on multi-class data the
#: same metric generalised is what stopping should watch.
MULTICLASS_METRICS = {
    "xgboost": {"eval_metric": {"logloss": "mlogloss", "error": "merror"}},
    "catboost": {"eval_metric": {"Logloss": "MultiClass", "CrossEntropy": "MultiClass"},
                 "loss_function": {"Logloss": "MultiClass", "CrossEntropy": "MultiClass"}},
}


def _multiclass_metrics(estimator: BaseEstimator) -> None:
    """Swap a booster's binary metric names for their multi-class counterparts
    (:data:`MULTICLASS_METRICS`), also inside :class:`EarlyStopping`; other models are left alone."""
    final = final_step(estimator)
    if isinstance(final, EarlyStopping):
        final = final_step(final.estimator)
    swaps = MULTICLASS_METRICS.get(_booster_library(final) or "", {})
    params = final.get_params(deep=False)
    updates = {}
    for name, names_ in swaps.items():
        value = params.get(name)
        if isinstance(value, str) and value in names_:
            updates[name] = names_[value]
        elif isinstance(value, list | tuple) and any(v in names_ for v in value):
            updates[name] = [names_.get(v, v) for v in value]
    if updates:
        final.set_params(**updates)


def check_multiclass(model_cfg: Any, estimator: BaseEstimator) -> None:
    """Refuse, before any fit, a model that cannot learn multi-class data: an anomaly detector
    (``model=isolation_forest``) scores one rare class against the rest and has no third class."""
    detector = _detector(estimator)
    if detector is None:
        return
    name = model_cfg.get("name") if hasattr(model_cfg, "get") else None
    raise ConfigError(f"model={name or _path(detector)} is an anomaly detector ({_path(detector.detector)} "
                      "scoring one rare class against the rest), which multi-class data cannot use; pick a "
                      "classifier (e.g. model=lightgbm), or set dataset.positive_label=CLASS to detect one class "
                      "against the rest.")


def predict_proba(model: BaseEstimator, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """P(class k | x) for every class, as float64 of shape (n, ``n_classes``) with the columns in
    code order 0..K-1 whatever order the model keeps its ``classes_`` in; a class the model never
    saw in its training rows gets 0."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    seen = np.asarray(model.classes_)
    codes = seen.astype(np.int64)
    if not np.array_equal(codes, seen) or codes.min() < 0 or codes.max() >= n_classes:
        raise ValueError(f"the model's classes {seen.tolist()} are not codes 0..{n_classes - 1}")
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    out[:, codes] = proba
    # float32 models (LightGBM, a pipeline on float32 features) sum to 1 only within ~1e-7: each
    # row renormalised, so log loss, Brier and the metrics' row check see probabilities
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=out, where=total > 0)


#: what the boosting libraries raise for a parameter value they check only when fitting
_LIBRARY_ERRORS = ("LightGBMError", "XGBoostError", "CatBoostError")


def _fit_or_explain(estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, **weights: Any) -> BaseEstimator:
    try:
        return estimator.fit(X, y, **weights)
    except Exception as exc:
        if not isinstance(exc, ValueError) and type(exc).__name__ not in _LIBRARY_ERRORS:
            raise
        raise ConfigError(f"model.estimator {_path(final_step(estimator))!r} could not be fitted "
                          f"({type(exc).__name__}: {first_line(exc)[:300]}); check its parameters "
                          "(python -m imbexp --cfg job shows them).") from exc


def predict_positive(estimator: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """P(y=1 | x) as float64."""
    proba = estimator.predict_proba(X)
    column = int(np.flatnonzero(np.asarray(estimator.classes_) == 1)[0])
    return np.asarray(proba[:, column], dtype=np.float64)


# --------------------------------------------------------------------------- early stopping

#: ``model.early_stopping_rounds``: rounds without improvement on the held-out part; null = off
EARLY_STOPPING_ROUNDS = [Null("for no early stopping"), Interval(int, 1, None)]
#: ``model.early_stopping_share``: the share of the training rows held out to stop on
EARLY_STOPPING_SHARE = [Interval(float, 0, 0.5, closed="right")]


def _with_early_stopping(estimator: BaseEstimator, model_cfg: Any, random_state: int) -> BaseEstimator:
    """``estimator`` wrapped in :class:`EarlyStopping` when ``model.early_stopping_rounds`` asks for it.

    Off by default: the rows it holds out are rows the model does not learn from, and the rows a
    strategy repeated or synthesised (oversample, SMOTE) fall on both sides of the inner split, so
    the stopping signal is optimistic exactly for those strategies; a fixed number of rounds
    compares every strategy on the same footing.
    """
    rounds = check("model.early_stopping_rounds", model_cfg.get("early_stopping_rounds"), EARLY_STOPPING_ROUNDS)
    share = check("model.early_stopping_share", model_cfg.get("early_stopping_share", 0.1), EARLY_STOPPING_SHARE)
    if rounds is None:
        return estimator
    if _booster_library(final_step(estimator)) is None:
        raise ConfigError(f"model.early_stopping_rounds={rounds!r} is not allowed for "
                          f"{_path(final_step(estimator))}; use it with model=xgboost or model=catboost, "
                          "or set it to null.")
    return EarlyStopping(estimator, rounds=int(rounds), share=float(share), random_state=random_state)


def _booster_library(final: Any) -> str | None:
    """``"xgboost"`` or ``"catboost"`` for an estimator that stops early on an eval set, else None."""
    module = type(final).__module__.split(".", 1)[0]
    return module if module in ("xgboost", "catboost") else None


class EarlyStopping(ClassifierMixin, BaseEstimator):
    """Fit a booster that stops when ``rounds`` rounds bring no gain on a held-out part of the
    rows given to ``fit``: a stratified ``share`` of them, with their weights.

    ``fit`` is handed the strategy's training rows only, so the held-out part is never valid or
    test; its positions are kept as ``stopping_rows_`` (and the rest as ``fit_rows_``), so a test
    can check that. A pipeline's preparation is fitted on the rows the booster learns from.
    """

    def __init__(self, estimator: BaseEstimator, rounds: int = 50, share: float = 0.1,
                 random_state: int | None = None) -> None:
        self.estimator = estimator
        self.rounds = rounds
        self.share = share
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> EarlyStopping:
        from sklearn.model_selection import train_test_split

        y = np.asarray(y)
        try:
            self.fit_rows_, self.stopping_rows_ = train_test_split(
                np.arange(len(y)), test_size=self.share, stratify=y, random_state=self.random_state)
        except ValueError as exc:  # a class too small to put a row on each side
            counts = np.bincount(y.astype(np.int64), minlength=2)
            multiclass = len(counts) > 2
            if multiclass:
                counts = counts[counts > 0]
            fewest = int(counts.min())
            change = ("model.early_stopping_rounds=null (a stratified split needs at least 2 rows of each class)"
                      if fewest < 2 else "a larger share, up to 0.5, or model.early_stopping_rounds=null")
            held = (f"the smallest class has {fewest} of {len(y)}" if multiclass
                    else f"{int(np.sum(y == 1))} positive of {len(y)}")
            raise ConfigError(
                f"model.early_stopping_share={self.share!r} cannot hold out a stratified part of these training "
                f"rows ({held}: {first_line(exc)}); use {change}.") from exc
        model = clone(self.estimator)
        booster = final_step(model)
        booster.set_params(early_stopping_rounds=self.rounds)
        X_fit, X_stop = X.iloc[self.fit_rows_], X.iloc[self.stopping_rows_]
        y_fit, y_stop = y[self.fit_rows_], y[self.stopping_rows_]
        if isinstance(model, Pipeline):  # eval_set does not pass through a pipeline's steps
            prepare = model[:-1].fit(X_fit, y_fit)
            X_fit, X_stop = prepare.transform(X_fit), prepare.transform(X_stop)
        w_fit = None if sample_weight is None else np.asarray(sample_weight)[self.fit_rows_]
        w_stop = None if sample_weight is None else np.asarray(sample_weight)[self.stopping_rows_]
        if _booster_library(booster) == "catboost":
            from catboost import Pool

            booster.fit(X_fit, y_fit, sample_weight=w_fit, eval_set=Pool(X_stop, y_stop, weight=w_stop),
                        use_best_model=True)
            self.best_iteration_ = int(booster.get_best_iteration())
        else:
            booster.fit(X_fit, y_fit, sample_weight=w_fit, eval_set=[(X_stop, y_stop)],
                        sample_weight_eval_set=None if w_stop is None else [w_stop], verbose=False)
            self.best_iteration_ = int(booster.best_iteration)
        self.estimator_ = model
        self.classes_ = np.asarray(booster.classes_)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator_.predict_proba(X)  # both boosters predict with their best round


# --------------------------------------------------------------------------- anomaly detection

class AnomalyDetector(ClassifierMixin, BaseEstimator):
    """An anomaly detector (``IsolationForest``, ...) as a classifier: the anomaly-detection view
    of a rare class.

    ``fit_on="negatives"`` fits the detector on the negative training rows only, so what it learns
    is what normal looks like; ``"all"`` on every training row, as an unsupervised detector would
    be used. ``predict_proba``'s positive column is the logistic of the detector's anomaly score
    (the negated ``score_samples``; IsolationForest's is Liu et al.'s s(x, n)), so it ranks rows
    exactly as the detector does but is no probability: a run maps it to one on valid
    (:func:`score_calibration`). The weights of the rows it is fitted on go to the detector.
    """

    # checked by scikit-learn's own parameter validation when the model is built (check_arguments)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "detector": [HasMethods(["fit", "score_samples"])],
        "fit_on": [StrOptions({"negatives", "all"})],
        "random_state": ["random_state"],
    }

    def __init__(self, detector: BaseEstimator, fit_on: str = "negatives", random_state: int | None = None) -> None:
        self.detector = detector
        self.fit_on = fit_on
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> AnomalyDetector:
        from sklearn.utils.validation import has_fit_parameter

        y = np.asarray(y)
        if y.size and int(y.max()) > 1:
            raise ConfigError("model.estimator is an anomaly detector (imbexp.models.AnomalyDetector), which "
                              "scores one rare class against the rest; multi-class data needs a classifier, "
                              "e.g. model=lightgbm.")
        rows = y == 0 if self.fit_on == "negatives" else np.ones(len(y), dtype=bool)
        detector = clone(self.detector)
        if self.random_state is not None and "random_state" in detector.get_params(deep=False):
            detector.set_params(random_state=self.random_state)
        X_rows = X[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]
        if sample_weight is not None and has_fit_parameter(detector, "sample_weight"):
            detector.fit(X_rows, sample_weight=np.asarray(sample_weight)[rows])
        elif sample_weight is not None and not np.all(np.asarray(sample_weight)[rows] == 1):
            raise ConfigError(f"model.estimator.detector {_path(detector)!r} takes no sample_weight in fit, "
                              "and these training rows are weighted; use a strategy that does not weight rows.")
        else:
            detector.fit(X_rows)
        self.detector_ = detector
        self.classes_ = np.array([0, 1])
        count = int(rows.sum())
        self.fitted_on_ = (f"the {count:,} negative training rows" if self.fit_on == "negatives"
                           else f"all {count:,} training rows")
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        from scipy.special import expit

        positive = expit(-np.asarray(self.detector_.score_samples(X), dtype=np.float64))
        return np.column_stack([1.0 - positive, positive])


def _detector(estimator: BaseEstimator) -> AnomalyDetector | None:
    final = final_step(estimator)
    return final if isinstance(final, AnomalyDetector) else None


def score_calibration(model_cfg: Any, method: str) -> str:
    """The score-to-probability map a run fits on valid: ``calibration`` as configured, but an
    anomaly detector's scores are no probabilities, so for one ``calibration=none`` becomes
    ``sigmoid`` (the same map, cross-fitted on valid, then fitted on all of valid for test)."""
    if method != "none":
        return method
    return "sigmoid" if _detector(build_model(model_cfg, 0)) is not None else method


def detector_tags(model: BaseEstimator, method: str) -> dict[str, str]:
    """The tags a run of an anomaly detector carries: the rows it was fitted on (of the model that
    scored test) and how its scores became probabilities. Empty for other models."""
    detector = _detector(model)
    if detector is None:
        return {}
    return {names.DETECTOR_FITTED_ON_TAG: detector.fitted_on_,
            names.SCORE_CALIBRATION_TAG: f"{method}, fitted on valid"}


def detector_summary(tags: dict[str, str]) -> list[str]:
    """The console summary's lines for :func:`detector_tags` (none for other models)."""
    if names.DETECTOR_FITTED_ON_TAG not in tags:
        return []
    return [f"  anomaly detector fitted on {tags[names.DETECTOR_FITTED_ON_TAG]}; scores mapped to "
            f"probabilities by {tags[names.SCORE_CALIBRATION_TAG]}"]
