"""What a report adds for multi-class runs (tag ``imbexp.classes``, a JSON list of the labels in
code order): the leaderboard's multi-class columns, the worst class's recall, per-class bias and
recall, a per-class factor mapping as label text, the figures against a one-number factor, and the
confusion matrices, class-wise reliability and per-class precision-recall of the best run.

A report of binary runs never reaches this module's figures; for it every function here is a
no-op (no ``imbexp.classes`` tag, no multi-class column).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from imbexp.names import CLASSES_TAG

_CLASSES_COLUMN = f"tags.{CLASSES_TAG}"
_STRATEGY_PARAM = "params.strategy."

#: the leaderboard of multi-class runs (after the objective): (metric, heading)
LEADERBOARD_COLUMNS = (
    ("test_pr_auc", "macro PR-AUC"),
    ("test_f1_macro", "macro F1"),
    ("test_balanced_accuracy", "balanced acc."),
    ("test_recall_worst", "worst class recall"),
    ("test_roc_auc", "macro ROC-AUC"),
    ("test_log_loss", "log loss"),
    ("test_ece", "top-label ECE"),
    ("test_ece_classwise", "class-wise ECE"),
    ("test_mcc", "MCC"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)
RUN_TABLE_COLUMNS = (
    ("test_pr_auc", "macro PR-AUC"),
    ("test_f1_macro", "macro F1"),
    ("test_balanced_accuracy", "balanced acc."),
    ("test_recall_worst", "worst recall"),
    ("test_ece", "top-label ECE"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)
#: panels against a one-number factor
FACTOR_PANELS = (
    ("test_f1_macro", "Macro F1 (test)"),
    ("test_balanced_accuracy", "Balanced accuracy (test)"),
    ("test_pr_auc", "Macro PR-AUC (test)"),
    ("test_recall_worst", "Worst class's recall (test)"),
    ("test_log_loss", "Log loss (test)"),
    ("test_ece", "Top-label ECE (test)"),
    ("test_ece_classwise", "Class-wise ECE (test)"),
    ("fit_seconds", "Fit time (s)"),
    ("train_rows", "Training rows"),
)
#: the paired comparisons of multi-class runs (the metrics imbexp.multiclass.intervals compares)
DELTA_COLUMNS = (
    ("pr_auc", "Δ macro PR-AUC"),
    ("roc_auc", "Δ macro ROC-AUC"),
    ("log_loss", "Δ log loss"),
    ("brier", "Δ Brier"),
)
#: the per-class metrics a report shows in its per-class tables: (metric prefix, heading)
PER_CLASS = (("test_prediction_bias", "Prediction bias per class"), ("test_recall", "Recall per class"))


def class_key(label: Any) -> str:
    """``imbexp.multiclass.class_key``, imported when a report has multi-class runs: a report of
    binary runs never loads the multi-class package."""
    from imbexp.multiclass import class_key as key_of

    return key_of(label)


def _labels(text: Any) -> list[str] | None:
    if not isinstance(text, str):
        return None
    try:
        labels = json.loads(text)
    except ValueError:
        return None
    return [str(label) for label in labels] if isinstance(labels, list) else None


def is_multiclass(runs: pd.DataFrame) -> pd.Series:
    """Which runs are multi-class (they tag their labels)."""
    if _CLASSES_COLUMN not in runs:
        return pd.Series(False, index=runs.index)
    return runs[_CLASSES_COLUMN].map(lambda text: _labels(text) is not None).astype(bool)


def any_multiclass(runs: pd.DataFrame) -> bool:
    return bool(is_multiclass(runs).any())


def classes_of(runs: pd.DataFrame) -> list[str]:
    """The labels of the runs, in code order of the first run that has each."""
    if _CLASSES_COLUMN not in runs:
        return []
    found: dict[str, None] = {}
    for text in runs[_CLASSES_COLUMN].dropna():
        found.update(dict.fromkeys(_labels(text) or []))
    return list(found)


def describe(runs: pd.DataFrame) -> pd.DataFrame:
    """Add to multi-class runs ``test_recall_worst`` and ``worst_class`` (the class of least test
    recall), and name a per-class factor mapping in ``strategy_label``: ``downsample
    downsample_factor={a: 5, b: 2}`` has no one number to draw against an axis, so it is told
    apart by its text. Binary runs are returned as they are."""
    multiclass = is_multiclass(runs)
    if not multiclass.any():
        return runs
    runs = runs.copy()
    worst, worst_class = pd.Series(np.nan, index=runs.index), pd.Series(None, index=runs.index, dtype=object)
    labels = runs.loc[multiclass, _CLASSES_COLUMN].map(_labels)
    for index, classes in labels.items():
        recalls = {label: runs.at[index, f"test_recall_{class_key(label)}"] for label in classes
                   if f"test_recall_{class_key(label)}" in runs}
        recalls = {label: float(value) for label, value in recalls.items() if pd.notna(value)}
        if recalls:
            worst_class[index] = min(recalls, key=recalls.get)
            worst[index] = recalls[worst_class[index]]
        mapping = _factor_mapping(runs.loc[index], classes)
        if mapping and pd.isna(runs.at[index, "factor"]):
            runs.at[index, "strategy_label"] = f"{runs.at[index, 'strategy_label']} {mapping}"
    runs["test_recall_worst"] = worst.where(multiclass, runs.get("test_recall_worst"))
    runs["worst_class"] = worst_class
    return runs


def _factor_mapping(row: pd.Series, classes: Sequence[str]) -> str:
    """``downsample_factor={a: 5, b: 2}`` from the run's flattened params
    (``strategy.downsample_factor.a = 5``): each strategy parameter whose keys are class labels."""
    found: dict[str, dict[str, str]] = {}
    for column, value in row.items():
        if not isinstance(column, str) or not column.startswith(_STRATEGY_PARAM) or pd.isna(value):
            continue
        name = column.removeprefix(_STRATEGY_PARAM)
        for label in classes:  # a label may hold dots: match the whole label at the end
            if name.endswith(f".{label}") and len(name) > len(label) + 1:
                found.setdefault(name[: -len(label) - 1], {})[label] = str(value)
                break
    order = {label: i for i, label in enumerate(classes)}
    return " ".join(f"{name}={{{', '.join(f'{k}: {v}' for k, v in sorted(m.items(), key=lambda i: order[i[0]]))}}}"
                    for name, m in sorted(found.items()))


def per_class_metrics(runs: pd.DataFrame) -> list[str]:
    """The per-class metric columns of the runs (bias and recall of each class)."""
    keys = [class_key(label) for label in classes_of(runs)]
    return [f"{prefix}_{key}" for prefix, _ in PER_CLASS for key in keys if f"{prefix}_{key}" in runs]


def interval_methods() -> tuple[tuple[str, ...], dict[str, str], str]:
    """(the metrics a multi-class run logs intervals for, each delta's method, the one-line summary
    of the interval methods), from :mod:`imbexp.multiclass.intervals`."""
    from imbexp.multiclass import intervals

    return intervals.INTERVAL_METRICS, dict(intervals.DELTA_METHODS), intervals.method_summary()


def factor_panels(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """The panels against the factor: the metrics of :data:`FACTOR_PANELS`, then each class's
    prediction bias."""
    panels = list(FACTOR_PANELS)
    for label in classes_of(runs):
        panels.append((f"test_prediction_bias_{class_key(label)}", f"Prediction bias of {label} (test)"))
    return panels


def predictions_of(frame: pd.DataFrame, classes: Sequence[str]):
    """(y codes, predicted codes, P (n, K), p_true (n, K) or None) from ``predictions/test.parquet``."""
    keys = [class_key(label) for label in classes]
    y = frame["y_true"].to_numpy().astype(np.int64)
    pred = frame["y_pred"].to_numpy().astype(np.int64)
    P = frame[[f"p_{key}" for key in keys]].to_numpy(dtype=np.float64)
    true_columns = [f"p_true_{key}" for key in keys]
    p_true = frame[true_columns].to_numpy(dtype=np.float64) if all(c in frame for c in true_columns) else None
    return y, pred, P, p_true


def best_run_figures(row: pd.Series, frame: pd.DataFrame | None, n_bins: int = 15,
                     name: str | None = None) -> list[tuple[str, Any, str]]:
    """The confusion matrices, class-wise reliability and per-class precision-recall of ``row``
    (the best run) from its test predictions: (title, figure, caption), the captions naming it
    ``name``; none where the run logged no usable predictions."""
    from imbexp.multiclass import plots

    classes = _labels(row.get(_CLASSES_COLUMN))
    if frame is None or frame.empty or not classes:
        return []
    try:
        y, pred, P, p_true = predictions_of(frame, classes)
    except KeyError:  # predictions of another layout (an older run): nothing to draw from
        return []
    name = name or f"{row.get('strategy_label')} ({row.get('run_name') or row['run_id']})"
    truth = "the observed share of the class" + (" and the mean true probability p_true" if p_true is not None
                                                else "")
    return [
        ("Confusion matrices of the best run", plots.confusion_figure(y, pred, classes),
         f"{name}: test rows by true class (rows) and predicted class (columns); right: each row divided by "
         "its class's rows, so the diagonal is each class's recall."),
        ("Class-wise reliability of the best run", plots.reliability_figure(y, P, classes, n_bins, p_true),
         f"{name}: per class, the mean predicted probability of the class against {truth}, in {n_bins} "
         "quantile bins of that probability; the diagonal is perfect calibration."),
        ("Precision-recall per class of the best run", plots.pr_figure(y, P, classes),
         f"{name}: one vs rest, each class's average precision in the legend."),
    ]
