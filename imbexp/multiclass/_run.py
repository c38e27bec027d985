"""The multi-class stages of one run (:func:`imbexp.run.experiment` calls these when the dataset
has three classes or more): the checks before any fit, fit and score per fold, the decision
chosen on valid, the metrics, intervals, predictions, plots and the console lines.

The flow is the binary one: the strategy rebalances the training part only, valid and test keep
the true class shares, the objective is measured on valid (the mean over folds under cv).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from imbexp import metrics as M
from imbexp import models, names
from imbexp.config import Objective
from imbexp.datasets import Dataset
from imbexp.errors import ConfigError
from imbexp.strategies import Strategy, TrainingSet
from imbexp.sweeping import _pruning
from imbexp.timing import Stopwatch

log = logging.getLogger("imbexp")

#: the console's rows of a multi-class run, in this order
SUMMARY_METRICS = ("pr_auc", "roc_auc", "f1_macro", "f1_weighted", "recall_macro", "precision_macro",
                   "balanced_accuracy", "g_mean", "mcc", "kappa", "accuracy", "log_loss", "brier", "ece",
                   "ece_classwise")
#: the objective names only binary runs log
_BINARY_ONLY = tuple(m for m in M.OBJECTIVE_METRICS if m not in M.MULTICLASS_METRICS)


def check(cfg: DictConfig, dataset: Dataset, objective: Objective, strategy: Strategy, model: Any) -> None:
    """Refuse, before any fit, what a multi-class run cannot do, each in one sentence."""
    from imbexp.multiclass import decisions

    shown = ", ".join(dataset.classes or ())
    what = f"dataset {dataset.name!r} has {dataset.n_classes} classes ({shown})"
    for metric in objective.metrics:
        if metric in _BINARY_ONLY:
            raise ConfigError(f"objective.metric={metric} is a binary metric and {what}; use a multi-class one, "
                              f"e.g. {', '.join(('pr_auc', 'f1_macro', 'balanced_accuracy', 'log_loss'))}.")
    calibration = str(cfg.get("calibration", "none"))
    if calibration != "none":
        raise ConfigError(f"calibration={calibration} maps binary scores and {what}; use calibration=none "
                          "(the prior correction, strategy.prior_correction=true, works per class).")
    if (cfg.get("deployment") or {}).get("prevalence") is not None:
        raise ConfigError(f"deployment.prevalence is the positive class's share in production and {what}; "
                          "use deployment.prevalence=null.")
    if dataset.cost is not None:
        raise ConfigError(f"dataset.cost prices missed positives and {what}; use threshold.multiclass=cost_matrix "
                          "with threshold.cost_matrix for the costs of errors between classes, and dataset.cost=null.")
    rule = str((cfg.get("threshold") or {}).get("rule", "f1"))
    if rule != "f1":
        raise ConfigError(f"threshold.rule={rule} chooses a binary threshold and {what}; a multi-class run "
                          "decides with threshold.multiclass (argmax, cost_matrix or ovr_f1).")
    models.check_multiclass(cfg.model, model)
    decisions.check_threshold_config(cfg.get("threshold") or {}, dataset.classes)


def tags(dataset: Dataset) -> dict[str, str]:
    return {names.CLASSES_TAG: json.dumps(list(dataset.classes or ()))}


def fit_and_score(cfg: DictConfig, dataset: Dataset, split, strategy: Strategy, seed: int, n_bins: int,
                  clock: Stopwatch, fit_one) -> tuple[dict[str, float], np.ndarray, np.ndarray, Any, dict[str, str]]:
    """Fit on each fold's rebalanced training rows, score valid per fold and test once.

    The decision (argmax, a cost matrix, per-class thresholds) is chosen on every fold's valid
    scores pooled and applied to test. Returns the metrics, the test probabilities (n, K), the
    test decisions, the model and the run's tags."""
    from imbexp.multiclass import decisions, intervals
    from imbexp.multiclass import metrics as MM

    y, classes, k = dataset.y, dataset.classes, dataset.n_classes
    threshold_cfg = cfg.get("threshold") or {}
    fold_metrics, pooled_p, pooled_y = [], [], []
    for number, fold in enumerate(split.folds):
        model, training, fit_seconds = fit_one(cfg, dataset, fold.train, strategy, seed, clock)
        y_valid = y[fold.valid]
        with clock.stage("predict"):
            p_valid = strategy.correct_probabilities(models.predict_proba(model, dataset.features(fold.valid), k))
        with clock.stage("metrics"):
            decision = decisions.fit_decision(y_valid, p_valid, threshold_cfg, classes)
            fold_metrics.append(MM.evaluate(y_valid, p_valid, decision.predict(p_valid), classes, n_bins))
        pooled_p.append(p_valid)
        pooled_y.append(y_valid)
        _pruning.report_fold(fold_metrics[-1], fold_metrics, clock.metrics())
        if split.kind == "cv":
            log.info("fold %d/%d: valid %s", number + 1, len(split.folds),
                     ", ".join(f"{m}={fold_metrics[-1][m]:.4f}" for m in ("pr_auc", "f1_macro", "ece")))

    from imbexp.run import fold_means

    values = fold_means(fold_metrics, split.kind == "cv")
    with clock.stage("metrics"):
        decision = decisions.fit_decision(np.concatenate(pooled_y), np.concatenate(pooled_p), threshold_cfg, classes)
    if split.kind == "cv":  # the test model is fitted on the whole training part
        model, training, fit_seconds = fit_one(cfg, dataset, split.train_all, strategy, seed, clock)
        values["cv_folds"] = len(split.folds)
    y_test = y[split.test]
    with clock.stage("predict"):
        p_test = strategy.correct_probabilities(models.predict_proba(model, dataset.features(split.test), k))
    run_tags: dict[str, str] = {names.MULTICLASS_DECISION_TAG: decision.describe()}
    with clock.stage("metrics"):
        predicted = decision.predict(p_test)
        values.update({f"test_{name}": value for name, value in MM.evaluate(y_test, p_test, predicted, classes,
                                                                           n_bins).items()})
        values.update(decision.metrics())
        values.update({"train_rows": training.n_rows, **_training_shares(training, classes),
                       "train_weight_total": float(np.sum(training.sample_weight)),
                       "fit_seconds": clock.seconds["fit"]})
        if dataset.p_true is not None:
            values["test_mean_abs_error_vs_p_true"] = float(np.mean(np.abs(p_test - dataset.p_true[split.test])))
        resamples = int(cfg.get("metrics", {}).get("bootstrap", 0))
        if resamples:
            from imbexp.run import add_intervals

            add_intervals(values, run_tags, intervals.too_few(y_test, classes), intervals.method_summary,
                          lambda: intervals.intervals(y_test, p_test, predicted, n_bins, n_resamples=resamples,
                                                      seed=seed))
    return values, p_test, predicted, model, run_tags


def _training_shares(training: TrainingSet, classes: tuple[str, ...]) -> dict[str, float]:
    """Each class's share of the rows the model was fitted on, and of their weight."""
    from imbexp.multiclass import class_key

    y = np.asarray(training.y)
    weight = np.asarray(training.sample_weight, dtype=np.float64)
    rows = np.bincount(y, minlength=len(classes)) / max(len(y), 1)
    weighted = np.bincount(y, weights=weight, minlength=len(classes)) / weight.sum()
    out = {}
    for code, label in enumerate(classes):
        out[f"train_class_fraction_{class_key(label)}"] = float(rows[code])
        out[f"train_weighted_class_fraction_{class_key(label)}"] = float(weighted[code])
    return out


def predictions_frame(dataset: Dataset, rows: np.ndarray, p_test: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """``predictions/test.parquet`` of a multi-class run: ``y_true`` (code), ``y_label``, ``y_pred``
    (the decision's code), ``p_<class>`` per class and ``p_true_<class>`` where known."""
    from imbexp.multiclass import class_key

    classes = dataset.classes
    y_test = dataset.y[rows]
    frame = pd.DataFrame({"y_true": y_test.astype(np.int16),
                          "y_label": pd.Categorical.from_codes(y_test, categories=list(classes)).astype(str),
                          "y_pred": np.asarray(predicted).astype(np.int16)})
    for code, label in enumerate(classes):
        frame[f"p_{class_key(label)}"] = p_test[:, code]
    if dataset.p_true is not None:
        for code, label in enumerate(classes):
            frame[f"p_true_{class_key(label)}"] = dataset.p_true[rows, code]
    return frame


def draw_plots(dataset: Dataset, rows: np.ndarray, p_test: np.ndarray, predicted: np.ndarray, out, n_bins: int) -> None:
    from imbexp.multiclass import plots

    y_test = dataset.y[rows]
    p_true = dataset.p_true[rows] if dataset.p_true is not None else None
    plots.confusion_matrix(y_test, predicted, dataset.classes, out / "confusion_matrix.png")
    plots.pr_curves(y_test, p_test, dataset.classes, out / "pr_curve.png")
    plots.reliability(y_test, p_test, dataset.classes, out / "reliability.png", n_bins, p_true)


def summary_lines(dataset: Dataset, strategy: Strategy, model_name: str, result) -> list[str]:
    """The console's lines of a multi-class run: the key metrics, then a row per class."""
    from imbexp.multiclass import class_key

    m = result.metrics
    shares = dataset.class_counts() / dataset.n_rows
    lines = [f"imbexp · {strategy.label()} · {model_name} · {dataset.name} ({dataset.n_rows:,} rows, "
             f"{dataset.n_classes} classes, smallest {100 * dataset.minority_fraction:.2f}%, {dataset.degree})",
             f"  {'metric':<22}{'valid':>10}{'test':>10}   95 % interval (test)"]
    for name in SUMMARY_METRICS:
        if f"test_{name}" not in m:
            continue
        line = f"  {name:<22}{m[f'valid_{name}']:>10.4f}{m[f'test_{name}']:>10.4f}"
        low, high = m.get(f"test_{name}_ci_low"), m.get(f"test_{name}_ci_high")
        if low is not None and high is not None:
            line += f"   [{low:.4f}, {high:.4f}]"
        lines.append(line)
    lines.append(f"  {'class':<16}{'share':>8}{'recall':>9}{'precision':>11}{'bias':>9}{'trained on':>12}  (test)")
    for code, label in enumerate(dataset.classes):
        key = class_key(label)
        lines.append(f"  {label[:16]:<16}{100 * shares[code]:>7.2f}%{m[f'test_recall_{key}']:>9.4f}"
                     f"{m[f'test_precision_{key}']:>11.4f}{m[f'test_prediction_bias_{key}']:>+9.4f}"
                     f"{100 * m[f'train_weighted_class_fraction_{key}']:>11.2f}%")
    lines.append(f"  decision: {result.tags.get(names.MULTICLASS_DECISION_TAG, 'argmax')}; trained on "
                 f"{int(m['train_rows']):,} rows in {m['fit_seconds']:.2f} s ('trained on' = the class's share "
                 "of the training weight)")
    return lines
