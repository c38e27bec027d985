"""95 % intervals for a multi-class run's test metrics, and paired comparisons of two runs on
the same rows.

As in binary runs (:mod:`imbexp.intervals`), every interval uses the method whose coverage
``benchmarks/coverage_multiclass.py`` measured (the population value of the same fitted model
on a million fresh rows of a known softmax generator, 3 classes at 0.80 / 0.15 / 0.05; the
table is in benchmarks/README.md, "Multi-class interval coverage"):

- PR-AUC, ROC-AUC (macro one-vs-rest), macro F1 and balanced accuracy: a bootstrap of the test
  rows, *not* stratified (as the binary module found, holding the class counts fixed leaves out
  the variance of the observed class shares); the kind per metric (percentile, or
  bias-corrected percentiles) is :data:`METHODS`, paired deltas take the percentile interval;
- log loss and Brier score are means of per-row values and take the normal interval of a mean
  (no resampling), as their paired deltas do;
- the top-label ECE gets no interval and no paired delta (:data:`DROPPED`,
  :data:`DELTA_DROPPED`): at up to 100 rows of the smallest class no candidate covered 91-98 %.

Below :data:`MIN_PER_CLASS` test rows of some class no interval is given. The macro metrics
average over the classes, so the smallest class's noise weighs 1/K: the intervals in use held
0.91-0.99 per cell (pooled 0.93-0.95) down to 10 rows of the smallest class (0.89 below 10),
where the binary intervals needed 30 positives.

The bootstrap is vectorised: one matrix of row counts (resamples x rows) and each metric
computed on the weighted rows, all resamples at once (scikit-learn's scorers take a
``sample_weight`` but validate and sort again on each call: 21 ms per resample for these
metrics at 2,000 rows, against 0.4 ms here).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn import metrics as skm

from imbexp import intervals as binary
from imbexp.intervals import Delta

#: the metrics whose candidate intervals benchmarks/coverage_multiclass.py measures, and the kinds
CANDIDATE_METRICS = ("pr_auc", "roc_auc", "f1_macro", "balanced_accuracy", "ece", "log_loss", "brier")
BOOTSTRAP_METRICS = CANDIDATE_METRICS
BOOTSTRAP_KINDS = binary.BOOTSTRAP_KINDS
DELTA_CANDIDATES = ("pr_auc", "roc_auc", "log_loss", "brier", "ece")

#: the method each interval uses (chosen by benchmarks/coverage_multiclass.py)
METHODS = {
    "pr_auc": "percentile",
    "roc_auc": "percentile",
    "f1_macro": "bc",
    "balanced_accuracy": "bc",
    "log_loss": "normal_mean",
    "brier": "normal_mean",
}
DELTA_METHODS = {
    "pr_auc": "percentile",
    "roc_auc": "percentile",
    "log_loss": "normal_mean",
    "brier": "normal_mean",
}
#: measured and given no interval: no candidate covered 91-98 % (benchmarks/README.md)
DROPPED = {
    "ece": "the plug-in top-label ECE is biased upward by more than its spread (a well calibrated model's "
           "basic bootstrap interval covered 72-88 %, its percentile interval 0 %)",
}
DELTA_DROPPED = {
    "ece": "the paired ECE difference's percentile interval covered 100 % at 8-15 rows of the smallest class "
           "(too wide to tell runs apart) and 92 % at 100, its basic interval 84-89 %",
}
#: metrics that get a 95 % interval on test (``test_<m>_ci_low`` / ``_ci_high``)
INTERVAL_METRICS = tuple(METHODS)
#: metrics compared with a baseline on the same rows (``test_<m>_delta``, ``_delta_ci_low``...)
DELTA_METRICS = tuple(DELTA_METHODS)
#: fewest test rows of every class for which intervals are given: by the test set's observed
#: smallest class count, the intervals and deltas in use covered 0.89-0.97 per cell (pooled
#: 0.93) at 1-9 rows, 0.91-0.99 (pooled 0.93-0.95) in every band from 10 up
MIN_PER_CLASS = 10

METHOD_WORDS = binary.METHOD_WORDS
BOUNDS = {"pr_auc": (0.0, 1.0), "roc_auc": (0.0, 1.0), "f1_macro": (0.0, 1.0), "balanced_accuracy": (0.0, 1.0),
          "ece": (0.0, 1.0), "brier": (0.0, 2.0), "log_loss": (0.0, float("inf"))}
#: the most count-matrix cells (resamples x rows) held at once: the bootstrap works in blocks
_CELLS = 4_000_000
_EPS = float(np.finfo(np.float64).eps)  # log loss clips probabilities as scikit-learn 1.9 does (its float eps)


def too_few(y: np.ndarray, classes: tuple[str, ...] | list[str]) -> str | None:
    """Why no interval can be given for these test labels (codes 0..K-1), or None: some class
    has fewer than :data:`MIN_PER_CLASS` test rows."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    smallest = int(np.argmin(counts))
    if counts[smallest] < MIN_PER_CLASS:
        return (f"no 95 % intervals: test has {int(counts[smallest])} rows of class {classes[smallest]!r}, fewer "
                f"than {MIN_PER_CLASS} (below {MIN_PER_CLASS} the measured coverage of a '95 %' interval fell to "
                "89 %; benchmarks/README.md)")
    return None


def method_summary() -> str:
    """One line naming each interval's method, for a run's console summary or tag."""
    return binary.method_summary(METHODS)


# -- point values (the definitions of imbexp.multiclass.metrics) ------------------------------

def _top_label(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return P.max(axis=1), P.argmax(axis=1)


def _bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # equal-width bins, right-closed, as imbexp.metrics.ece
    return np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)


def _ece(y: np.ndarray, P: np.ndarray, n_bins: int) -> float:
    # by hand: scikit-learn has no expected calibration error
    confidence, label = _top_label(P)
    gap = np.bincount(_bins(confidence, n_bins), weights=confidence - (label == y), minlength=n_bins)
    return float(np.sum(np.abs(gap)) / y.size)


def _row_log_loss(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(P[np.arange(y.size), y], _EPS, 1.0))


def _row_brier(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    onehot = np.eye(P.shape[1])[y]
    return np.sum((P - onehot) ** 2, axis=1)


def point_values(y: np.ndarray, P: np.ndarray, predicted: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    """The interval metrics of a test set, with scikit-learn (the definitions of
    :func:`imbexp.multiclass.metrics.evaluate`)."""
    y, P, predicted = np.asarray(y, dtype=np.int64), np.asarray(P, dtype=np.float64), np.asarray(predicted)
    K = P.shape[1]
    labels = np.arange(K)
    every_class = bool(np.all(np.bincount(y, minlength=K) > 0))  # else no one-vs-rest ranking metric
    return {
        "pr_auc": float(np.mean([skm.average_precision_score(y == k, P[:, k]) for k in labels]))
        if every_class else float("nan"),
        "roc_auc": float(skm.roc_auc_score(y, P, multi_class="ovr", average="macro", labels=labels))
        if every_class else float("nan"),
        "f1_macro": float(skm.f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)),
        "ece": _ece(y, P, n_bins),
        "log_loss": float(np.mean(_row_log_loss(y, P))),
        "brier": float(np.mean(_row_brier(y, P))),
    }


# -- the vectorised bootstrap ------------------------------------------------------------------

def count_blocks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Row counts of the resamples (rows drawn with replacement regardless of class), in blocks
    of whole resamples: ``(resamples in block, n)`` int matrices, the same for a seed whatever
    the block size."""
    rng = np.random.default_rng(seed)
    per_block = max(1, _CELLS // max(n, 1))
    for start in range(0, n_resamples, per_block):
        b = min(per_block, n_resamples - start)
        draws = rng.integers(0, n, (b, n))
        flat = (np.arange(b)[:, None] * n + draws).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


class _Ranked:
    """One score column's rows sorted by score (descending), with ties grouped, so that the
    one-vs-rest ROC-AUC and average precision of every resample are cumulative sums."""

    def __init__(self, positive: np.ndarray, score: np.ndarray) -> None:
        self.order = np.argsort(-score, kind="mergesort")
        s = score[self.order]
        self.starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]  # first row of each distinct score
        self.positive = positive[self.order].astype(np.float64)

    def roc_pr(self, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = count[:, self.order]
        tp = np.add.reduceat(c * self.positive, self.starts, axis=1)  # positives per distinct score
        fp = np.add.reduceat(c, self.starts, axis=1) - tp
        cum_tp, cum_fp = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        pos, neg = cum_tp[:, -1], cum_fp[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            # AUC: each positive outranks the negatives below its score, ties count half
            below = neg[:, None] - cum_fp
            auc = np.sum(tp * (below + 0.5 * fp), axis=1) / (pos * neg)
            # average precision: sum over thresholds of recall step x precision (scikit-learn's)
            # (a score none of the resample's rows has adds no step: 0 x its undefined precision)
            precision = cum_tp / np.where(cum_tp + cum_fp > 0, cum_tp + cum_fp, 1)
            ap = np.sum(tp * precision, axis=1) / pos
        bad = (pos == 0) | (neg == 0)
        auc[bad] = np.nan
        ap[bad] = np.nan
        return auc, ap


class Resampled:
    """One run's test predictions, ready for the interval metrics of many resamples at once."""

    def __init__(self, y: np.ndarray, P: np.ndarray, predicted: np.ndarray, n_bins: int = 15) -> None:
        y = np.asarray(y, dtype=np.int64)
        P = np.asarray(P, dtype=np.float64)
        predicted = np.asarray(predicted, dtype=np.int64)
        K = P.shape[1]
        self.K = K
        self.true = np.eye(K)[y]  # (n, K) one-hot
        pred = np.eye(K)[predicted]
        self.tp = self.true * pred
        self.fp = pred - self.tp
        self.fn = self.true - self.tp
        self.ranked = [_Ranked(y == k, P[:, k]) for k in range(K)]
        confidence, label = _top_label(P)
        self.bin_gap = np.eye(n_bins)[_bins(confidence, n_bins)] * (confidence - (label == y))[:, None]
        self.rows = {"log_loss": _row_log_loss(y, P), "brier": _row_brier(y, P)}

    def values(self, count: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric on each resample, ``count`` (resamples x rows) in the data's order."""
        total = count.sum(axis=1)
        out = {name: count @ per_row / total for name, per_row in self.rows.items()}
        tp, fp, fn = count @ self.tp, count @ self.fp, count @ self.fn
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            # a class neither present nor predicted scores 0, as scikit-learn's zero_division=0
            f1 = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)
            out["f1_macro"] = np.mean(f1, axis=1)
            # a resample without some class has no recall for it: scikit-learn leaves it out of the mean
            out["balanced_accuracy"] = np.nanmean(np.where(tp + fn > 0, tp / (tp + fn), np.nan), axis=1)
        out["ece"] = np.sum(np.abs(count @ self.bin_gap), axis=1) / total
        aucs, aps = zip(*(r.roc_pr(count) for r in self.ranked), strict=True)
        out["roc_auc"] = np.mean(aucs, axis=0)
        out["pr_auc"] = np.mean(aps, axis=0)
        return out


def bootstrap_draws(runs: list[Resampled], n: int, n_resamples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Each run's metrics on the same resamples of the rows (paired when several)."""
    parts: list[list[dict[str, np.ndarray]]] = [[] for _ in runs]
    for count in count_blocks(n, n_resamples, seed):
        for run, part in zip(runs, parts, strict=True):
            part.append(run.values(count))
    return [{m: np.concatenate([p[m] for p in part]) for m in BOOTSTRAP_METRICS} for part in parts]


# -- intervals ---------------------------------------------------------------------------------

def _mean_interval(rows: np.ndarray) -> tuple[float, float]:
    _, low, high = binary._mean_interval(rows)
    return low, high


def candidate_intervals(y: np.ndarray, P: np.ndarray, predicted: np.ndarray, n_bins: int = 15,
                        n_resamples: int = 1000, seed: int = 0, draws: dict[str, np.ndarray] | None = None,
                        point: dict[str, float] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """Every candidate interval of every interval metric, ``{metric: {method: (low, high)}}``;
    a run logs the one :data:`METHODS` names. ``draws``/``point``: when already made."""
    y, P = np.asarray(y, dtype=np.int64), np.asarray(P, dtype=np.float64)
    if point is None:
        point = point_values(y, P, predicted, n_bins)
    if draws is None:
        draws = bootstrap_draws([Resampled(y, P, predicted, n_bins)], y.size, n_resamples, seed)[0]
    out: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in CANDIDATE_METRICS}
    for name in BOOTSTRAP_METRICS:
        for kind in BOOTSTRAP_KINDS:
            out[name][kind] = binary._from_draws(point[name], draws[name], kind)
    out["log_loss"]["normal_mean"] = _mean_interval(_row_log_loss(y, P))
    out["brier"]["normal_mean"] = _mean_interval(_row_brier(y, P))
    return out


def chosen(metric: str, candidates: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The interval :data:`METHODS` names for ``metric``, clipped to the metric's range."""
    method = METHODS[metric]
    low, high = candidates[method]
    bounds = BOUNDS[metric]
    if method == "basic" and high <= bounds[0]:
        # reflected wholly past the floor (an ECE near 0): the percentile interval's upper end
        low, high = bounds[0], candidates["percentile"][1]
    return binary.clipped(low, high, bounds)


def intervals(y: np.ndarray, P: np.ndarray, predicted: np.ndarray, n_bins: int = 15, n_resamples: int = 1000,
              seed: int = 0) -> dict[str, tuple[float, float]]:
    """The 95 % interval of each of :data:`INTERVAL_METRICS` by its measured method
    (:data:`METHODS`); ``y`` codes 0..K-1, ``P`` (n, K), ``predicted`` the decision's codes.
    A degenerate (zero-width or undefined) interval is left out. Call :func:`too_few` first."""
    candidates = candidate_intervals(y, P, predicted, n_bins, n_resamples, seed)
    out = {}
    for metric in INTERVAL_METRICS:
        low, high = chosen(metric, candidates[metric])
        if np.isfinite(low) and np.isfinite(high) and high - low > 1e-9 * max(1.0, abs(high)):
            out[metric] = (low, high)
    return out


# -- paired comparisons ------------------------------------------------------------------------

def candidate_deltas(y: np.ndarray, P_a: np.ndarray, pred_a: np.ndarray, P_b: np.ndarray, pred_b: np.ndarray,
                     n_bins: int = 15, n_resamples: int = 1000, seed: int = 0,
                     draws: list[dict[str, np.ndarray]] | None = None,
                     points: tuple[dict[str, float], dict[str, float]] | None = None) -> dict[str, dict[str, Delta]]:
    """Every candidate paired interval of each of :data:`DELTA_CANDIDATES`, run A minus run B on
    the same rows: ``{metric: {method: Delta}}``."""
    y = np.asarray(y, dtype=np.int64)
    P_a, P_b = np.asarray(P_a, dtype=np.float64), np.asarray(P_b, dtype=np.float64)
    if points is None:
        points = point_values(y, P_a, pred_a, n_bins), point_values(y, P_b, pred_b, n_bins)
    if draws is None:
        draws = bootstrap_draws([Resampled(y, P_a, pred_a, n_bins), Resampled(y, P_b, pred_b, n_bins)],
                                y.size, n_resamples, seed)
    out: dict[str, dict[str, Delta]] = {m: {} for m in DELTA_CANDIDATES}
    for name in DELTA_CANDIDATES:
        values, estimate = draws[0][name] - draws[1][name], points[0][name] - points[1][name]
        for kind in BOOTSTRAP_KINDS:
            out[name][kind] = Delta(estimate, *binary._from_draws(estimate, values, kind),
                                    binary._p_from_draws(estimate, values, kind), kind)
    for name, per_row in (("log_loss", _row_log_loss), ("brier", _row_brier)):
        rows = per_row(y, P_a) - per_row(y, P_b)
        mean, low, high = binary._mean_interval(rows)
        se = (high - low) / (2 * binary.Z95) if np.isfinite(high - low) else float("nan")
        out[name]["normal_mean"] = Delta(mean, low, high, binary._normal_p(mean, se), "normal_mean")
    return out


def paired_deltas(y: np.ndarray, P_a: np.ndarray, pred_a: np.ndarray, P_b: np.ndarray, pred_b: np.ndarray,
                  n_bins: int = 15, n_resamples: int = 1000, seed: int = 0) -> dict[str, Delta]:
    """Each of :data:`DELTA_METRICS` of run A minus run B on the same test rows (value, 95 %
    interval, two-sided p of "no difference"), by its measured method (:data:`DELTA_METHODS`).
    A :class:`imbexp.intervals.Delta`'s ``verdict`` reads it; log it with
    :func:`imbexp.intervals.delta_metrics`."""
    candidates = candidate_deltas(y, P_a, pred_a, P_b, pred_b, n_bins, n_resamples, seed)
    return {metric: candidates[metric][DELTA_METHODS[metric]] for metric in DELTA_METRICS}
