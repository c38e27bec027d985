"""How a multi-class run turns probabilities into one class per row (``threshold.multiclass``).

- ``argmax``: the most probable class (the default; with corrected probabilities this is the
  Bayes decision under 0-1 loss).
- ``cost_matrix``: the class with the least expected cost under P, ``argmin_j sum_i P_i C[i, j]``,
  with ``threshold.cost_matrix: {true_label: {predicted_label: cost}}`` (missing entries: 0 on
  the diagonal, 1 off it).
- ``ovr_f1``: one threshold t_k per class, tuned on valid for the one-vs-rest F1 of P_k, and the
  prediction ``argmax_k P_k / t_k``: a rare class whose F1 is best at a low threshold is boosted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from imbexp.errors import ConfigError
from imbexp.metrics import tune_threshold
from imbexp.multiclass import class_key

METHODS = ("argmax", "cost_matrix", "ovr_f1")
DEFAULT_METHOD = "argmax"
_MATRIX_FORM = "a mapping {true_label: {predicted_label: cost}}, e.g. {fraud: {legit: 10}}"
# P_k / t_k with t_k = 0 (F1 best when every row is flagged as k): k wins wherever P_k > 0
_MIN_THRESHOLD = 1e-12


@dataclass(frozen=True)
class Decision:
    """A fitted decision rule: ``predict`` maps (n, K) probabilities to class codes."""

    method: str
    classes: tuple[str, ...]
    #: C[true, predicted] for ``cost_matrix``
    costs: np.ndarray | None = None
    #: t_k for ``ovr_f1``
    thresholds: np.ndarray | None = None
    #: codes of the classes without valid rows, whose ovr_f1 threshold could not be tuned
    untuned: tuple[int, ...] = field(default=())

    def predict(self, P: np.ndarray) -> np.ndarray:
        """Class codes (int64), one per row of ``P``; ties go to the lowest code."""
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != len(self.classes):
            raise ValueError(f"P must have shape (n, {len(self.classes)}), got {P.shape}")
        if self.method == "cost_matrix":
            return np.argmin(P @ self.costs, axis=1).astype(np.int64)
        if self.method == "ovr_f1":
            return np.argmax(P / self.thresholds, axis=1).astype(np.int64)
        return np.argmax(P, axis=1).astype(np.int64)

    def metrics(self) -> dict[str, float]:
        """What the rule learned on valid, to log: ``threshold_<key>`` per class for ovr_f1."""
        if self.method != "ovr_f1":
            return {}
        pairs = zip(self.classes, self.thresholds, strict=True)
        return {f"threshold_{class_key(label)}": float(t) for label, t in pairs}

    def describe(self) -> str:
        """The rule in one line, for the console."""
        if self.method == "cost_matrix":
            K = len(self.classes)
            named = [f"{self.classes[i]}->{self.classes[j]} {self.costs[i, j]:g}" for i in range(K) for j in range(K)
                     if self.costs[i, j] != (0.0 if i == j else 1.0)]
            given = "; ".join(named) if named else "none"
            return (f"decision: the class of least expected cost (true->predicted costs {given}; "
                    "the others 0 on the diagonal, 1 off it)")
        if self.method == "ovr_f1":
            tuned = ", ".join(f"{label} {t:.4g}" + (" (no valid rows: median)" if k in self.untuned else "")
                              for k, (label, t) in enumerate(zip(self.classes, self.thresholds, strict=True)))
            return f"decision: argmax of P_k / t_k, one-vs-rest F1 thresholds tuned on valid: {tuned}"
        return "decision: the most probable class (argmax)"


def check_threshold_config(threshold_cfg: Any, classes: Sequence[str] | None) -> None:
    """Refuse a bad ``threshold.multiclass`` / ``threshold.cost_matrix`` before anything is fitted.

    ``classes`` None (binary data): the two keys must keep their defaults.
    """
    method, matrix = _read(threshold_cfg)
    if classes is None:
        if method != DEFAULT_METHOD:
            raise ConfigError(f"threshold.multiclass={method} applies to multi-class data, and this dataset is "
                              "binary; leave threshold.multiclass=argmax and choose the threshold with "
                              "threshold.rule.")
        if matrix is not None:
            raise ConfigError("threshold.cost_matrix applies to multi-class data, and this dataset is binary; "
                              "use threshold.cost_matrix=null (binary costs are threshold.cost_fp and "
                              "threshold.cost_fn with threshold.rule=min_cost).")
        return
    _parse(method, matrix, tuple(str(c) for c in classes))


def fit_decision(y_valid: np.ndarray, P_valid: np.ndarray, threshold_cfg: Any,
                 classes: Sequence[str]) -> Decision:
    """The decision rule of ``threshold_cfg``, tuned on the valid rows where it needs tuning.

    ``ovr_f1`` chooses each t_k with :func:`imbexp.metrics.tune_threshold` (rule f1: scikit-learn's
    precision-recall curve of P_k against y == k; among equal F1 the highest threshold, as binary
    runs do). A class without valid rows cannot be tuned: it gets the median of the other
    classes' thresholds, so it competes as under argmax against a typical class.
    """
    classes = tuple(str(c) for c in classes)
    method, matrix = _read(threshold_cfg)
    costs = _parse(method, matrix, classes)
    if method == "cost_matrix":
        return Decision(method, classes, costs=costs)
    if method == "argmax":
        return Decision(method, classes)
    y_valid = np.asarray(y_valid)
    P_valid = np.asarray(P_valid, dtype=np.float64)
    thresholds = np.full(len(classes), np.nan)
    untuned = []
    for k in range(len(classes)):
        positive = y_valid == k
        if positive.any():
            thresholds[k] = tune_threshold(positive.astype(np.int8), P_valid[:, k], rule="f1")
        else:
            untuned.append(k)
    if untuned:
        tuned = thresholds[~np.isnan(thresholds)]
        thresholds[untuned] = np.median(tuned) if tuned.size else 1.0 / len(classes)
    return Decision(method, classes, thresholds=np.maximum(thresholds, _MIN_THRESHOLD), untuned=tuple(untuned))


def _read(threshold_cfg: Any) -> tuple[str, Any]:
    """``threshold.multiclass`` (checked) and the raw ``threshold.cost_matrix`` as plain Python."""
    if isinstance(threshold_cfg, DictConfig | ListConfig):
        threshold_cfg = OmegaConf.to_container(threshold_cfg, resolve=True)
    threshold_cfg = threshold_cfg or {}
    method = threshold_cfg.get("multiclass", DEFAULT_METHOD)
    method = DEFAULT_METHOD if method is None else method
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigError(f"threshold.multiclass={method!r} is not allowed; use one of {', '.join(METHODS)}.")
    return method, threshold_cfg.get("cost_matrix")


def _parse(method: str, matrix: Any, classes: tuple[str, ...]) -> np.ndarray | None:
    """The cost matrix C[true, predicted] of ``threshold.cost_matrix``, or None where not used."""
    if matrix is not None and method != "cost_matrix":
        raise ConfigError(f"threshold.cost_matrix is set, but threshold.multiclass={method} does not use it; "
                          "set threshold.multiclass=cost_matrix, or threshold.cost_matrix=null.")
    if method != "cost_matrix":
        return None
    if matrix is None:
        raise ConfigError(f"threshold.multiclass=cost_matrix needs threshold.cost_matrix, {_MATRIX_FORM}; "
                          "it is null.")
    if not isinstance(matrix, Mapping):
        raise ConfigError(f"threshold.cost_matrix={matrix!r} is not allowed; use {_MATRIX_FORM}.")
    code = {label: k for k, label in enumerate(classes)}
    K = len(classes)
    costs = 1.0 - np.eye(K)
    seen_true: set[int] = set()
    for true_key, row in matrix.items():
        true = _class_code(true_key, code, "threshold.cost_matrix", classes, seen_true)
        where = f"threshold.cost_matrix.{true_key}"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}={row!r} is not allowed; each class maps to {{predicted_label: cost}}, "
                              f"e.g. threshold.cost_matrix: {{{true_key}: {{{classes[(true + 1) % K]}: 5}}}}.")
        seen_predicted: set[int] = set()
        for predicted_key, cost in row.items():
            predicted = _class_code(predicted_key, code, where, classes, seen_predicted)
            if isinstance(cost, bool) or not isinstance(cost, Real) or not math.isfinite(cost) or cost < 0:
                raise ConfigError(f"{where}.{predicted_key}={cost!r} is not allowed; costs are finite numbers >= 0.")
            costs[true, predicted] = float(cost)
    if not costs.any():
        raise ConfigError("threshold.cost_matrix makes every cost 0, so every class would be equally good; "
                          "at least one cost must be > 0.")
    return costs


def _class_code(key: Any, code: dict[str, int], where: str, classes: tuple[str, ...], seen: set[int]) -> int:
    """The code of a label named in the matrix; keys compare as text, so YAML's 1 names class "1"."""
    if str(key) not in code:
        raise ConfigError(f"{where} names the class {str(key)!r}, which is not in the data; the classes are "
                          f"{', '.join(classes)}.")
    if code[str(key)] in seen:
        raise ConfigError(f"{where} names the class {str(key)!r} twice (keys compare as text); keep one entry.")
    seen.add(code[str(key)])
    return code[str(key)]
