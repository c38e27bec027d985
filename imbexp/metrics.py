"""Metrics that do not lie under imbalance, with the names of the tracking contract.

Every function takes optional ``sample_weight``: weighting test rows is how metrics are reported
for a deployment prevalence other than the data's (see :func:`prevalence_weights`).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

PROBABILITY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "prediction_bias")
THRESHOLD_METRICS = ("precision", "recall", "f1", "kappa", "mcc", "balanced_accuracy", "g_mean")
METRIC_NAMES = THRESHOLD_METRICS[:4] + PROBABILITY_METRICS + THRESHOLD_METRICS[4:]
#: what a multi-class run logs on valid and test besides the per-class ``<m>_<class>`` values
#: (:mod:`imbexp.multiclass.metrics`): the names binary runs share mean their multi-class
#: generalisation (``pr_auc`` and ``roc_auc`` macro one-vs-rest, ``ece`` top-label)
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "mcc", "kappa", "g_mean", "f1_macro", "f1_weighted",
                      "precision_macro", "precision_weighted", "recall_macro", "recall_weighted", "roc_auc",
                      "pr_auc", "log_loss", "brier", "ece", "ece_classwise")
#: metrics where lower is better; the others are maximised
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "ece_classwise", "abs_prediction_bias", "cost"})
#: money at the tuned threshold, where the dataset has a cost column (:func:`cost_metrics`)
COST_METRICS = ("cost", "cost_missed", "cost_false_alarms", "cost_flag_none", "cost_saved", "cost_saved_share")
#: every name a sweep may optimise (``objective.metric``); the cost ones need ``dataset.cost``
OBJECTIVE_METRICS = (tuple(METRIC_NAMES) + tuple(f"{m}_tuned" for m in THRESHOLD_METRICS) + ("abs_prediction_bias",)
                     + ("cost", "cost_saved", "cost_saved_share")
                     + tuple(m for m in MULTICLASS_METRICS if m not in METRIC_NAMES))
THRESHOLD_RULES = ("f1", "fbeta", "precision_at_recall", "min_cost")


def expected_calibration_error(y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 15,
                               sample_weight: np.ndarray | None = None) -> float:
    """Sum over equal-width probability bins of (bin share) x |mean predicted - positive rate|.

    Written here because scikit-learn has ``calibration_curve`` but no ECE.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    # Right-closed bins except the first, so a score of exactly 1.0 lands in the last bin.
    bins = np.ceil(y_score * n_bins).astype(int)
    bins -= 1
    np.clip(bins, 0, n_bins - 1, out=bins)
    if sample_weight is None:  # the same sums, without row-long weights of one (16 MB at 2M rows)
        mass = np.bincount(bins, minlength=n_bins).astype(np.float64)
        predicted = np.bincount(bins, weights=y_score, minlength=n_bins)
        observed = np.bincount(bins, weights=y_true, minlength=n_bins)
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        mass = np.bincount(bins, weights=w, minlength=n_bins)
        predicted = np.bincount(bins, weights=w * y_score, minlength=n_bins)
        observed = np.bincount(bins, weights=w * y_true, minlength=n_bins)
    filled = mass > 0
    return float(np.sum(np.abs(predicted[filled] - observed[filled])) / mass.sum())


def probability_metrics(y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 15,
                        sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Ranking and calibration metrics of the scores themselves.

    Unweighted, with both classes and finite scores (every run's valid and test scores), the
    four scikit-learn metrics come from one sort (:class:`_ScoreOrder`, log loss and Brier
    written out): scikit-learn's scorers validate their input on each call, 40 ms per split at
    40k rows, eight times the computation. tests/test_metrics.py checks they agree with
    scikit-learn; weighted rows and degenerate input go to scikit-learn itself.
    """
    w = sample_weight
    bias = float(np.average(y_score, weights=w) - np.average(y_true, weights=w))
    actual = np.asarray(y_true) == 1
    score = np.asarray(y_score, dtype=np.float64)
    if w is None and 0 < actual.sum() < actual.size and np.isfinite(score).all():
        order = _ScoreOrder(actual, score)
        roc_auc, pr_auc = order.roc_pr(*order.cumulative(np.ones(score.size, dtype=np.int64)))
        del order
        ranking = {
            "roc_auc": roc_auc,
            "pr_auc": pr_auc,
            "log_loss": _log_loss(actual, score),
            "brier": float(np.mean((score - actual) ** 2)),
        }
    else:
        clipped = np.clip(score, 1e-15, 1 - 1e-15)
        ranking = {
            "roc_auc": float(skm.roc_auc_score(y_true, y_score, sample_weight=w)),
            "pr_auc": float(skm.average_precision_score(y_true, y_score, sample_weight=w)),
            "log_loss": float(skm.log_loss(y_true, clipped, labels=[0, 1], sample_weight=w)),
            "brier": float(skm.brier_score_loss(y_true, y_score, sample_weight=w)),
        }
    return {
        **ranking,
        "ece": expected_calibration_error(y_true, y_score, n_bins, w),
        "prediction_bias": bias,
        "abs_prediction_bias": abs(bias),
    }


def _log_loss(actual: np.ndarray, score: np.ndarray, chunk: int = 1 << 20) -> float:
    """The log loss of 0/1 labels with scores clipped to [1e-15, 1 - 1e-15] (as a run has always
    logged it), summed a chunk of rows at a time: three temporaries of one chunk, not of every row."""
    total = 0.0
    for start in range(0, score.size, chunk):
        clipped = np.clip(score[start:start + chunk], 1e-15, 1 - 1e-15)
        total += float(np.sum(np.where(actual[start:start + chunk], np.log(clipped), np.log1p(-clipped))))
    return -total / score.size


def threshold_metrics(y_true: np.ndarray, y_score: np.ndarray, threshold: float,
                      sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of the decisions ``y_score >= threshold``.

    All from one (weighted) 2x2 confusion matrix, with scikit-learn's and imbalanced-learn's
    definitions (``zero_division=0``); tests/test_metrics.py checks them against those libraries.
    Written out because their scorers each re-validate the labels, which cost 0.15 s per call at
    10k rows, more than fitting a downsampled model in a sweep trial.
    """
    actual = np.asarray(y_true) == 1
    predicted = np.asarray(y_score) >= threshold
    w = np.ones(actual.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    tp, fn = float(w[actual & predicted].sum()), float(w[actual & ~predicted].sum())
    fp, tn = float(w[~actual & predicted].sum()), float(w[~actual & ~predicted].sum())

    def share(part: float, whole: float) -> float:
        return part / whole if whole > 0 else 0.0

    precision, recall, specificity = share(tp, tp + fp), share(tp, tp + fn), share(tn, tn + fp)
    total = tp + fn + fp + tn
    # Cohen's kappa as 1 - observed / expected disagreement, as scikit-learn computes it
    expected = ((tp + fn) * (tn + fn) + (fp + tn) * (tp + fp)) / total if total > 0 else 0.0
    kappa = 1.0 - (fp + fn) / expected if expected > 0 else float("nan")
    mcc_denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    recalls = [r for r, support in ((recall, tp + fn), (specificity, tn + fp)) if support > 0]
    return {
        "precision": precision,
        "recall": recall,
        "f1": share(2 * tp, 2 * tp + fp + fn),
        "kappa": float(kappa),
        "mcc": float((tp * tn - fp * fn) / mcc_denominator) if mcc_denominator > 0 else 0.0,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "g_mean": float(np.sqrt(recall * specificity)),
    }


def tune_threshold(y_true: np.ndarray, y_score: np.ndarray, rule: str = "f1", *, beta: float = 1.0,
                   min_recall: float = 0.5, cost_fp: float = 1.0, cost_fn: float = 1.0,
                   sample_weight: np.ndarray | None = None, fn_cost: np.ndarray | None = None) -> float:
    """The score threshold chosen on valid by a named rule (ties: the highest threshold).

    ``f1`` / ``fbeta``: maximise F-beta; ``precision_at_recall``: the best precision among
    thresholds whose recall is at least ``min_recall``; ``min_cost``: minimise
    cost_fp x FP + cost_fn x FN, or, with ``fn_cost`` (one cost per row, e.g. the amount),
    cost_fp x FP + the summed ``fn_cost`` of the positives missed (:func:`min_cost_threshold`).
    """
    if rule == "min_cost" and fn_cost is not None:
        return min_cost_threshold(y_true, y_score, cost_fp, fn_cost, sample_weight)
    if sample_weight is None and rule in ("f1", "fbeta", "precision_at_recall") and _plain_binary(y_true, y_score):
        precision, recall, thresholds = _curve_at_positives(y_true, y_score)
    else:
        precision, recall, thresholds = skm.precision_recall_curve(y_true, y_score, sample_weight=sample_weight)
        precision, recall = precision[:-1], recall[:-1]
    if rule in ("f1", "fbeta"):
        b2 = 1.0 if rule == "f1" else beta**2
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(b2 * precision + recall > 0,
                            (1 + b2) * precision * recall / (b2 * precision + recall), 0.0)
    elif rule == "precision_at_recall":
        gain = np.where(recall >= min_recall - 1e-12, precision, -1.0)
    elif rule == "min_cost":
        fpr, tpr, roc_thresholds = skm.roc_curve(y_true, y_score, sample_weight=sample_weight,
                                                 drop_intermediate=False)
        w = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        positives, negatives = w[np.asarray(y_true) == 1].sum(), w[np.asarray(y_true) == 0].sum()
        cost = cost_fp * fpr * negatives + cost_fn * (1 - tpr) * positives
        best = np.flatnonzero(cost == cost.min())[0]  # roc thresholds decrease: first = highest
        return float(min(roc_thresholds[best], 1.0 + 1e-9))
    else:
        raise ValueError(f"unknown threshold rule {rule!r}")
    best = np.flatnonzero(gain == gain.max())[-1]
    return float(thresholds[best])


def _plain_binary(y_true: np.ndarray, y_score: np.ndarray) -> bool:
    """0/1 labels with a positive and finite scores: what :func:`_curve_at_positives` is exact
    for; anything else goes to scikit-learn, which says what is wrong with it."""
    y = np.asarray(y_true)
    finite = np.isfinite(np.asarray(y_score, dtype=np.float64)).all()
    return bool(np.any(y == 1) and np.all((y == 0) | (y == 1)) and finite)


def _curve_at_positives(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall of ``score >= t`` at each distinct score of a positive ``t``
    (ascending): scikit-learn's ``precision_recall_curve`` (unweighted) at those of its
    thresholds, to the bit (the same counts, divided alike), in one sorted copy of the scores
    instead of its nine row-long arrays (140 MB for the 2M valid rows of a 10M-row file). The
    rules that maximise F-beta or precision never choose another of its thresholds when there is a
    positive: below a positive's score, until the next, only false positives are added, which
    lowers both. By hand because scikit-learn has no such restricted curve."""
    actual = np.asarray(y_true) == 1
    score = np.asarray(y_score, dtype=np.float64)
    positives = np.sort(score[actual])
    thresholds = np.unique(positives)
    tp = (positives.size - np.searchsorted(positives, thresholds, "left")).astype(np.float64)
    predicted = (score.size - np.searchsorted(np.sort(score), thresholds, "left")).astype(np.float64)
    return tp / predicted, tp / positives.size, thresholds


def min_cost_threshold(y_true: np.ndarray, y_score: np.ndarray, cost_fp: float, fn_cost: np.ndarray,
                       sample_weight: np.ndarray | None = None) -> float:
    """The threshold with the least cost_fp x (false positives) + the ``fn_cost`` of every positive
    scored below it (rows weighted by ``sample_weight``); ties: the highest threshold.

    Candidates are each distinct score (flag the rows at or above it) and flagging nobody
    (returned as 1 + 1e-9, above every probability, as the constant-cost rule does). One sort and
    two cumulative sums, rather than ``roc_curve`` with the money as ``sample_weight``: that drops
    rows of weight 0 (a positive that costs nothing, every negative at cost_fp=0, which the config
    allows) and then warns and returns NaN rates for a class with no weight left, and its rates,
    divided by the class totals and multiplied back here, round, so a tie between thresholds
    (the highest wins) could fall otherwise; the sums are the money itself.
    """
    actual = np.asarray(y_true) == 1
    score = np.asarray(y_score, dtype=np.float64)
    w = np.ones(score.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    ordered = score[order]
    false_alarm = np.where(actual, 0.0, cost_fp * w)[order]
    at_stake = np.where(actual, np.asarray(fn_cost, dtype=np.float64) * w, 0.0)[order]
    ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), ordered.size - 1]  # last row of each score
    missed_total = at_stake.sum()
    cost = np.r_[missed_total, np.cumsum(false_alarm)[ends] + missed_total - np.cumsum(at_stake)[ends]]
    thresholds = np.r_[1.0 + 1e-9, ordered[ends]]
    return float(thresholds[int(np.argmin(cost))])  # argmin: the first, i.e. the highest threshold


def cost_metrics(y_true: np.ndarray, y_score: np.ndarray, threshold: float, fn_cost: np.ndarray,
                 cost_fp: float) -> dict[str, float]:
    """Money at ``threshold``: ``cost`` = ``cost_missed`` (the costs of the positives scored below
    it) + ``cost_false_alarms`` (cost_fp per negative flagged); ``cost_flag_none`` = what flagging
    nobody costs (every positive's cost); ``cost_saved`` = that minus ``cost``, and
    ``cost_saved_share`` its share of ``cost_flag_none`` (NaN when no positive costs anything)."""
    actual = np.asarray(y_true) == 1
    flagged = np.asarray(y_score) >= threshold
    costs = np.asarray(fn_cost, dtype=np.float64)
    missed = float(costs[actual & ~flagged].sum())
    false_alarms = float(cost_fp * np.sum(~actual & flagged))
    flag_none = float(costs[actual].sum())
    saved = flag_none - missed - false_alarms
    return {"cost": missed + false_alarms, "cost_missed": missed, "cost_false_alarms": false_alarms,
            "cost_flag_none": flag_none, "cost_saved": saved,
            "cost_saved_share": saved / flag_none if flag_none > 0 else float("nan")}


def evaluate(y_true: np.ndarray, y_score: np.ndarray, tuned_threshold: float | None = None,
             n_bins: int = 15, sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """All contract metrics for one split, without the split prefix."""
    values = {**threshold_metrics(y_true, y_score, 0.5, sample_weight),
              **probability_metrics(y_true, y_score, n_bins, sample_weight)}
    if tuned_threshold is not None:
        tuned = threshold_metrics(y_true, y_score, tuned_threshold, sample_weight)
        values.update({f"{name}_tuned": value for name, value in tuned.items()})
    return values


def shift_prior(p: np.ndarray, from_prevalence: float, to_prevalence: float) -> np.ndarray:
    """Move probabilities learned under one class prior to another (odds times the prior-odds
    ratio; Saerens et al. 2002)."""
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    p = np.asarray(p, dtype=np.float64)
    return ratio * p / (ratio * p + 1.0 - p)


def prevalence_weights(y_true: np.ndarray, to_prevalence: float) -> np.ndarray:
    """Row weights that make ``y_true`` look as if positives had share ``to_prevalence``."""
    observed = float(np.mean(y_true))
    return np.where(np.asarray(y_true) == 1, to_prevalence / observed, (1 - to_prevalence) / (1 - observed))


class _ScoreOrder:
    """Rows sorted once by score, descending, with the cuts where recall steps.

    ROC-AUC and average precision, as scikit-learn integrates them, of any count of each row:
    all ones for the metrics themselves, a resample's draws for the bootstrap of
    :mod:`imbexp.intervals`. Only the places of positives matter to them (a threshold only
    changes recall when it passes a positive), and a run of equal scores cannot be split by a
    threshold.
    """

    def __init__(self, actual: np.ndarray, score: np.ndarray) -> None:
        n = score.size
        order = np.argsort(-score, kind="mergesort")
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[order] = np.arange(n)  # row -> its place in score order
        self.score = score[order]
        self.at_positive = at_positive = np.flatnonzero(actual[order])  # sorted places of the positives
        changes = self.score[1:] != self.score[:-1]
        firsts, lasts = np.flatnonzero(np.r_[True, changes]), np.flatnonzero(np.r_[changes, True])
        self.ends = np.unique(lasts[np.searchsorted(lasts, at_positive)])  # cuts where recall steps
        starts = firsts[np.searchsorted(firsts, self.ends, side="right") - 1]  # each cut's run start
        self.through = np.searchsorted(at_positive, self.ends, side="right")  # positives up to each cut
        self.before = np.searchsorted(at_positive, starts, side="left")  # positives before its run
        self.previous, self.has_previous = np.maximum(starts - 1, 0), starts > 0

    def cumulative(self, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows at or above each place, and ``tp[j]``: the first j positives, counted."""
        return np.cumsum(count), np.r_[0, np.cumsum(count[self.at_positive])]

    def roc_pr(self, predicted_all: np.ndarray, tp_all: np.ndarray) -> tuple[float, float]:
        n_pos = tp_all[-1]
        n_neg = predicted_all[-1] - n_pos
        tp, tp_before = tp_all[self.through], tp_all[self.before]
        predicted = predicted_all[self.ends]
        fp = predicted - tp
        fp_before = predicted_all[self.previous] * self.has_previous - tp_before
        tp_step, fp_step = tp - tp_before, fp - fp_before
        # ROC-AUC: the trapezoids roc_auc_score integrates, summed by parts over recall steps.
        roc_auc = float(np.dot(tp_step, n_neg - fp + fp_step / 2) / (n_pos * n_neg))
        # Average precision: recall steps times precision, as average_precision_score.
        pr_auc = float(np.dot(tp_step, tp / np.maximum(predicted, 1)) / n_pos)
        return roc_auc, pr_auc

