"""What every imbalanced-learn sampler needs around it in imbexp: data it can take, the run's
seed, and the rows' weights carried through.

imbalanced-learn's ``fit_resample(X, y)`` takes no sample weights and decides from the features
and labels alone; these helpers give each row it returns a weight:

- a row it keeps or repeats takes its own weight. Samplers that record their choice
  (``sample_indices_``: the under-samplers, RandomOverSampler) are read exactly; for the others
  a returned row equal to an input row of its class (same values, same label) is that row
  (the SMOTE family returns every input row first, SMOTEENN / SMOTETomek a cleaned subset of
  them and the synthetic rows, ClusterCentroids with hard voting real majority rows).
  Identical input rows of one class are one row to a sampler, so they share their mean weight.
- a synthetic row (an interpolation, a centroid) takes the mean weight of the input rows of its
  class. It stands for a typical row of that class; with unweighted data that is 1, so such a
  strategy gives no weights of its own and needs no model that takes them; and the class's total
  weight grows (or shrinks) as its row count does, so ``sampling_strategy`` is the same ratio of
  weighted totals as of rows, and the prior correction sees the shift it was asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from imbexp.constraints import is_number
from imbexp.errors import ConfigError, DataError, first_line
from imbexp.strategies._base import TrainingSet, class_code

log = logging.getLogger(__name__)


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """The columns a distance-based sampler cannot use as numbers."""
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


def has_missing(X: pd.DataFrame) -> bool:
    return bool(X.isna().to_numpy().any())


def minority_count(y: np.ndarray) -> int:
    """Rows of the smallest class (multi-class codes: of the smallest class present)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
    if len(counts) > 2:
        counts = counts[counts > 0]
    return int(min(counts))


def for_imblearn(value: Any, key: str, classes: tuple[str, ...] | None, y: np.ndarray | None = None,
                 sampling_type: str | None = None) -> Any:
    """``sampling_strategy`` as imbalanced-learn takes it for these labels.

    A map names classes by their label text (``{cat: 500}``: rows of the class after
    resampling), a list (a cleaning sampler's classes to clean) too; imbalanced-learn keys them by
    the codes the model is fitted on, so they are translated (binary data: the codes 0 and 1).
    A text (``auto``, ``not majority``...) means for multi-class data what imbalanced-learn says.

    A number r is a minority / majority ratio, which imbalanced-learn takes for two classes only;
    for multi-class data (the training labels ``y`` given) it keeps that meaning per class: an
    over-sampler grows every class to at least r x the largest class's rows, an under-sampler
    shrinks every class to at most the smallest class's rows / r. Without ``y`` (the check when the
    classes are bound) only the class names are checked.
    """
    names = classes if classes is not None else ("0", "1")
    if isinstance(value, Mapping):
        return {class_code(key, label, names): (int(n) if is_number(n) and float(n).is_integer() else n)
                for label, n in value.items()}
    if isinstance(value, list | tuple):
        return [class_code(key, label, names) for label in value]
    if classes is None or not is_number(value) or y is None:
        return value
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    present = np.flatnonzero(counts)
    if sampling_type == "over-sampling":
        target = {int(c): int(round(value * counts.max())) for c in present}
        grown = {c: n for c, n in target.items() if n > counts[c]}
        if not grown:
            raise DataError(f"{key}={value:g} asks no class for more rows: every class already has at least "
                            f"{value:g} x the largest class's {int(counts.max())} rows; use a larger number (<= 1).")
        return grown
    if sampling_type != "under-sampling":
        raise ConfigError(f"{key}={value:g} is a ratio, and this sampler removes the rows it judges noisy rather "
                          "than aiming at one; use text such as 'auto', or a list of the classes to clean.")
    smallest = int(counts[present].min())
    shrunk = {int(c): int(round(smallest / value)) for c in present}
    kept = {c: n for c, n in shrunk.items() if n < counts[c]}
    if not kept:
        raise DataError(f"{key}={value:g} asks no class for fewer rows: every class has at most the smallest "
                        f"class's {smallest} rows / {value:g}; use a larger number (<= 1).")
    return kept


def neighbours_within(k: int, y: np.ndarray, key: str, who: str) -> int:
    """``k`` neighbours among the minority rows, lowered (with a warning) to what the training
    part has: SMOTE interpolates between a minority row and one of its k nearest minority rows,
    so k can be at most n_minority - 1, and below 2 minority rows there is nothing to pair."""
    n_minority = minority_count(y)
    if n_minority < 2:
        raise DataError(f"{who} needs at least 2 minority rows in the training part; it has {n_minority}.")
    lowered = min(k, n_minority - 1)
    if lowered < k:
        log.warning("%s=%d lowered to %d: the training part has only %d minority rows", key, k, lowered,
                    n_minority)
    return lowered


def seeded(sampler: Any, random_state: int) -> Any:
    """A fresh copy of ``sampler`` with every ``random_state`` in it (its own and its nested
    estimators': SMOTEENN's SMOTE, InstanceHardnessThreshold's classifier) set to the run's seed,
    so one seed reproduces the whole draw."""
    copy = clone(sampler)
    keys = [key for key in copy.get_params(deep=True) if key == "random_state" or key.endswith("__random_state")]
    if keys:
        copy.set_params(**dict.fromkeys(keys, random_state))
    return copy


def depends_on_seed(sampler: Any) -> bool:
    """Whether the sampler (or an estimator inside it) draws at random."""
    return any(key == "random_state" or key.endswith("__random_state") for key in sampler.get_params(deep=True))


def resampled(sampler: Any, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None, who: str,
              *, ratio_key: str, explain: Any = None, classes: tuple[str, ...] | None = None) -> TrainingSet:
    """``sampler.fit_resample(X, y)`` with the rows' weights carried through (module docstring).

    A sampler's refusal of this data is one sentence starting with ``who``: a ratio it cannot
    reach names ``ratio_key`` (where the config sets the sampler's ``sampling_strategy``) and the
    ratios it can, a per-class row count it cannot reach the class (by its label in ``classes``);
    ``explain(exc)``, where given, may word other refusals better.
    """
    try:
        X_new, y_new = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        reason = explain(exc) if explain is not None else None
        if reason is None and first_line(exc).startswith("The specified ratio required"):
            reason = _unreachable_ratio(sampler, y, ratio_key, who)
        if reason is None and first_line(exc).startswith(("With over-sampling methods", "With under-sampling methods")):
            reason = _unreachable_count(sampler, y, ratio_key, who, classes)
        raise DataError(reason or f"{who} cannot resample this training set: {first_line(exc)}") from exc
    # binary labels stay int8 as the run gives them; multi-class codes keep their own type (int16)
    y_new = np.asarray(y_new, dtype=np.int8 if int(np.max(y)) <= 1 else np.asarray(y).dtype)
    indices = getattr(sampler, "sample_indices_", None)
    if indices is not None:
        indices = np.asarray(indices)
        if len(indices) != len(y_new) or not np.array_equal(np.asarray(y)[indices], y_new):
            indices = None  # not the rows it returned, whatever it recorded
    if indices is not None:
        weights = np.ones(len(y_new)) if sample_weight is None else np.asarray(sample_weight, np.float64)[indices]
        # a smoothed bootstrap (RandomOverSampler's shrinkage) draws new rows around its picks:
        # each carries its source row's weight, but it is no copy of it
        if getattr(sampler, "shrinkage", None) is not None:
            indices = None
        return TrainingSet(X=X_new, y=y_new, sample_weight=weights, indices=indices)
    weights = (np.ones(len(y_new)) if sample_weight is None
               else _weights_by_value(X, np.asarray(y), np.asarray(sample_weight, np.float64), X_new, y_new))
    return TrainingSet(X=X_new, y=y_new, sample_weight=weights, indices=None)


def _unreachable_ratio(sampler: Any, y: np.ndarray, key: str, who: str) -> str:
    """imbalanced-learn's "The specified ratio required to ..." as one sentence: a number
    ``sampling_strategy`` is minority / majority rows after resampling, so an under-sampler
    (which only removes majority rows) cannot go below the training part's own ratio, and an
    over-sampler (which only adds minority rows) must go above it."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
    n_min, n_maj = int(counts.min()), int(counts.max())
    current = n_min / n_maj
    value = sampler.get_params(deep=False).get("sampling_strategy")
    if getattr(sampler, "_sampling_type", None) == "over-sampling":
        allowed = f"a number above {current:.4g} and at most 1"
        does = "adds minority rows, so it can only raise"
    else:
        allowed = f"a number from {current:.4g} to 1"
        does = "removes majority rows, so it can only raise"
    return (f"{key}={value!r} cannot be reached by {who}, which {does} the training part's minority/majority "
            f"ratio of {current:.4g} ({n_min}/{n_maj} rows); use {allowed}.")


def _unreachable_count(sampler: Any, y: np.ndarray, key: str, who: str,
                       classes: tuple[str, ...] | None) -> str | None:
    """imbalanced-learn's "With over-sampling methods, the number of samples in a class should be
    greater or equal to the original number..." as one sentence naming the class: a map gives the
    rows of each class after resampling, which an over-sampler can only raise and an
    under-sampler only lower."""
    asked = sampler.get_params(deep=False).get("sampling_strategy")
    if not isinstance(asked, Mapping):
        return None
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    over = getattr(sampler, "_sampling_type", None) == "over-sampling"
    for code, n in asked.items():
        have = int(counts[code]) if 0 <= int(code) < len(counts) else 0
        if (n < have) if over else (n > have):
            label = classes[int(code)] if classes is not None else str(code)
            does, use = ("adds rows", f">= {have}") if over else ("removes rows", f"<= {have}")
            return (f"{key}.{label}={n} cannot be reached by {who}, which only {does}: class {label!r} has "
                    f"{have} training rows; use a number {use}.")
    return None


def _weights_by_value(X: pd.DataFrame, y: np.ndarray, weight: np.ndarray, X_new: pd.DataFrame,
                      y_new: np.ndarray) -> np.ndarray:
    """Each returned row's weight: the (mean) weight of the input rows of its class with the same
    values, else the class's mean weight (a synthetic row)."""
    hashed_in = pd.util.hash_pandas_object(X, index=False).to_numpy()
    hashed_out = pd.util.hash_pandas_object(pd.DataFrame(X_new), index=False).to_numpy()
    out = np.empty(len(y_new), dtype=np.float64)
    for label in np.unique(y_new):
        given, made = y == label, y_new == label
        own = pd.Series(weight[given]).groupby(hashed_in[given]).mean()
        found = pd.Series(hashed_out[made]).map(own).to_numpy(dtype=np.float64)
        class_mean = float(weight[given].mean()) if given.any() else 1.0
        out[made] = np.where(np.isnan(found), class_mean, found)
    return out
