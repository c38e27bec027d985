"""Metrics that do not lie under imbalance, with the names of the tracking contract."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

PROBABILITY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "prediction_bias")
THRESHOLD_METRICS = ("precision", "recall", "f1", "kappa", "mcc", "balanced_accuracy", "g_mean")
METRIC_NAMES = THRESHOLD_METRICS[:4] + PROBABILITY_METRICS + THRESHOLD_METRICS[4:]
#: metrics where lower is better; the others are maximised
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})
#: every name a sweep may optimise (``objective.metric``)
OBJECTIVE_METRICS = tuple(METRIC_NAMES) + tuple(f"{m}_tuned" for m in THRESHOLD_METRICS) + ("abs_prediction_bias",)


def expected_calibration_error(y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 15) -> float:
    """Sum over equal-width probability bins of (bin share) x |mean predicted - positive rate|.

    Written here because scikit-learn has ``calibration_curve`` but no ECE.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    # Right-closed bins except the first, so a score of exactly 1.0 lands in the last bin.
    bins = np.clip(np.ceil(y_score * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    predicted = np.bincount(bins, weights=y_score, minlength=n_bins)
    observed = np.bincount(bins, weights=y_true, minlength=n_bins)
    filled = counts > 0
    gaps = np.abs(predicted[filled] - observed[filled]) / counts[filled]
    return float(np.sum(counts[filled] / len(y_true) * gaps))


def probability_metrics(y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    """Ranking and calibration metrics of the scores themselves."""
    bias = float(np.mean(y_score) - np.mean(y_true))
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, y_score)),
        "pr_auc": float(skm.average_precision_score(y_true, y_score)),
        "log_loss": float(skm.log_loss(y_true, np.clip(y_score, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y_true, y_score)),
        "ece": expected_calibration_error(y_true, y_score, n_bins),
        "prediction_bias": bias,
        "abs_prediction_bias": abs(bias),
    }


def threshold_metrics(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics of the decisions ``y_score >= threshold``."""
    from imblearn.metrics import geometric_mean_score

    y_pred = (np.asarray(y_score) >= threshold).astype(np.int8)
    return {
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "kappa": float(skm.cohen_kappa_score(y_true, y_pred)),
        "mcc": float(skm.matthews_corrcoef(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "g_mean": float(geometric_mean_score(y_true, y_pred, average="binary")),
    }


def tune_threshold(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The score threshold that maximises F1 (ties: the highest threshold)."""
    precision, recall, thresholds = skm.precision_recall_curve(y_true, y_score)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def evaluate(y_true: np.ndarray, y_score: np.ndarray, tuned_threshold: float | None = None,
             n_bins: int = 15) -> dict[str, float]:
    """All contract metrics for one split, without the split prefix."""
    values = {**threshold_metrics(y_true, y_score, 0.5), **probability_metrics(y_true, y_score, n_bins)}
    if tuned_threshold is not None:
        tuned = threshold_metrics(y_true, y_score, tuned_threshold)
        values.update({f"{name}_tuned": value for name, value in tuned.items()})
    return values
