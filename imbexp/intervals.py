"""95 % intervals for a run's test metrics, and paired comparisons of two runs on the same rows.

Each metric gets the method whose coverage ``benchmarks/coverage.py`` measured best (the
population value of the same fitted model, from fresh rows of a known generator; the table is
in benchmarks/README.md). The target is 93-97 % for a nominal 95 %. An interval says how far
the number could move on other test rows of the same population, for this fitted model.

- ROC-AUC: DeLong's variance, on the logit scale (stays inside 0..1).
- Prediction bias, net benefit, and the paired deltas of Brier, log loss and bias: means of
  per-row values, with the normal interval of a mean.
- Calibration intercept and slope: the logistic recalibration fit, with sandwich (robust)
  standard errors: the model is not logistic in logit(score), so the usual Wald errors assume
  what is being tested.
- PR-AUC, F1 and ECE: a bootstrap of the test rows, *not* stratified (the positive count of
  other test rows is random too; holding it fixed made the bias interval 3x too narrow). The
  plug-in ECE and average precision are biased upward at few positives and their percentile
  interval is centred on that bias: they take the basic interval, which reflects the draws
  around the estimate and so removes the bias the draws share (it can lie below the plug-in
  value). F1 takes the bias-corrected (BC) percentiles. In a paired delta the two runs' biases
  mostly cancel: PR-AUC's delta takes the plain percentile interval.

Below :data:`MIN_POSITIVES` test positives (or negatives) no interval is given (KEEL abalone19's
6 test positives printed a "95 %" ROC-AUC interval of [0.19, 0.80]).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm

from imbexp import metrics as M

#: metrics that get a 95 % interval on test (``test_<m>_ci_low`` / ``_ci_high``)
INTERVAL_METRICS = ("pr_auc", "roc_auc", "f1", "f1_tuned", "ece", "prediction_bias",
                    "calibration_intercept", "calibration_slope", "net_benefit")
#: metrics compared with a baseline on the same rows (``test_<m>_delta``, ``_delta_ci_low``...)
DELTA_METRICS = ("pr_auc", "roc_auc", "f1_tuned", "brier", "log_loss", "ece", "prediction_bias")
#: fewest test positives (and negatives) for which intervals are given: at about 30 (18-41 per
#: replicate) the methods covered 92 % pooled, 75-98 % per metric; at about 100, 95 %
MIN_POSITIVES = 30
#: the bootstrap metrics and their interval kinds the coverage benchmark compares
BOOTSTRAP_METRICS = ("pr_auc", "roc_auc", "f1", "f1_tuned", "ece")
BOOTSTRAP_KINDS = ("percentile", "basic", "bc")

#: the method each interval uses (chosen by benchmarks/coverage.py; see benchmarks/README.md)
METHODS = {
    "pr_auc": "basic",
    "roc_auc": "delong_logit",
    "f1": "bc",
    "f1_tuned": "bc",
    "ece": "basic",
    "prediction_bias": "normal_mean",
    "calibration_intercept": "sandwich_wald",
    "calibration_slope": "sandwich_wald",
    "net_benefit": "normal_mean",
}
DELTA_METHODS = {
    "pr_auc": "percentile",
    "roc_auc": "delong",
    "f1_tuned": "bc",
    "brier": "normal_mean",
    "log_loss": "normal_mean",
    "ece": "basic",
    "prediction_bias": "normal_mean",
}
#: how a method reads in a run's summary and the report
METHOD_WORDS = {
    "bc": "bias-corrected bootstrap",
    "basic": "basic bootstrap",
    "percentile": "percentile bootstrap",
    "delong": "DeLong",
    "delong_logit": "DeLong (logit scale)",
    "normal_mean": "normal interval of a mean",
    "sandwich_wald": "Wald, sandwich errors",
    "boyd_logit": "logit interval (Boyd et al.)",
}

Z95 = float(norm.ppf(0.975))
#: the range a metric's value can take: an interval is clipped to it (a basic bootstrap or t
#: interval can reach past it; the value it is about cannot, so clipping never loses coverage)
BOUNDS = {"pr_auc": (0.0, 1.0), "roc_auc": (0.0, 1.0), "f1": (0.0, 1.0), "f1_tuned": (0.0, 1.0),
          "ece": (0.0, 1.0), "brier": (0.0, 1.0), "log_loss": (0.0, float("inf"))}


def bounds_of(name: str) -> tuple[float, float] | None:
    """The range of a metric named with or without its split prefix (``test_pr_auc``)."""
    for prefix in ("test_deploy_", "valid_", "test_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return BOUNDS.get(name)


def clipped(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if bounds is None:
        return float(low), float(high)
    return float(min(max(low, bounds[0]), bounds[1])), float(min(max(high, bounds[0]), bounds[1]))


def too_few(y_true: np.ndarray) -> str | None:
    """Why no interval can be given for these test labels, or None."""
    positives = int(np.sum(np.asarray(y_true) == 1))
    negatives = int(np.asarray(y_true).size - positives)
    if min(positives, negatives) < MIN_POSITIVES:
        smaller, count = ("positives", positives) if positives <= negatives else ("negatives", negatives)
        return (f"no 95 % intervals: test has {count} {smaller}, fewer than {MIN_POSITIVES} (at about 30 the "
                "measured coverage of a '95 %' interval was already 75-98 %; benchmarks/README.md)")
    return None


#: below this many test positives (or negatives) intervals are given but rougher than 95 %
ROUGH_BELOW = 100


def rough(y_true: np.ndarray) -> str | None:
    """A note for intervals from :data:`MIN_POSITIVES` up to :data:`ROUGH_BELOW` test positives
    (or negatives), where their measured coverage fell short of 95 %; None elsewhere."""
    positives = int(np.sum(np.asarray(y_true) == 1))
    fewer = min(positives, int(np.asarray(y_true).size - positives))
    if MIN_POSITIVES <= fewer < ROUGH_BELOW:
        return (f"rough intervals: {fewer} test {'positives' if positives <= fewer else 'negatives'} (at about 30 "
                f"the measured coverage of a '95 %' interval was 75-98 %, at about {ROUGH_BELOW} 91-98 %)")
    return None


def method_summary(methods: dict[str, str] | None = None) -> str:
    """One line naming each interval's method (``methods``: metric -> method, by default this
    module's), for a run's console summary or tag."""
    grouped: dict[str, list[str]] = {}
    for metric, method in (METHODS if methods is None else methods).items():
        grouped.setdefault(METHOD_WORDS[method], []).append(metric)
    return "; ".join(f"{', '.join(names)}: {words}" for words, names in grouped.items())


# -- point values of the calibration metrics -------------------------------------------------

def _logit_score(score: np.ndarray) -> np.ndarray:
    # scores of exactly 0 or 1 (isotonic calibration's end blocks) would weigh logit +-27.6 in
    # the fit and give an intercept near -29 with a tight interval; below 1e-6 no score is told apart
    return logit(np.clip(np.asarray(score, dtype=np.float64), 1e-6, 1 - 1e-6))


def _logistic_fit(y: np.ndarray, design: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression of ``y`` (0/1, or probabilities) on ``design``
    with ``offset``, by Newton's method, and its sandwich covariance.

    By hand because scikit-learn's LogisticRegression takes no offset and gives no standard
    errors, and these are one- and two-parameter fits (a library for GLMs would add a second to
    every run's start for them).
    """
    beta = np.zeros(design.shape[1])
    converged = False
    for _ in range(100):
        p = expit(design @ beta + offset)
        hessian = _gram(design, p * (1 - p))
        try:
            step = np.linalg.solve(hessian, design.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        beta = beta + np.clip(step, -5, 5)  # a bounded step keeps a poorly started fit from overshooting
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    if not converged:
        nan = np.full(design.shape[1], np.nan)
        return nan, np.full((design.shape[1],) * 2, np.nan)
    p = expit(design @ beta + offset)
    bread = np.linalg.inv(_gram(design, p * (1 - p)))
    meat = _gram(design, (y - p) ** 2)
    return beta, bread @ meat @ bread


def _gram(design: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``design.T @ diag(w) @ design`` column pair by column pair: one row-long temporary
    instead of a weighted copy of the design (32 MB for the two columns of 2M test rows)."""
    k = design.shape[1]
    gram = np.empty((k, k))
    for a in range(k):
        weighted = design[:, a] * w
        for b in range(a, k):
            gram[a, b] = gram[b, a] = weighted @ design[:, b]
    return gram


def calibration_intercept(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """Calibration-in-the-large: ``a`` in logit P(y=1) = a + logit(score), and its standard
    error. 0 is calibrated on average; > 0: the scores are too low."""
    y = np.asarray(y_true, dtype=np.float64)
    beta, cov = _logistic_fit(y, np.ones((y.size, 1)), _logit_score(y_score))
    return float(beta[0]), float(np.sqrt(cov[0, 0]))


def calibration_slope(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """``b`` in logit P(y=1) = a + b logit(score), and its standard error. 1 is ideal; < 1: the
    scores are too extreme (overfitting), > 1: too timid."""
    y = np.asarray(y_true, dtype=np.float64)
    design = np.column_stack([np.ones(y.size), _logit_score(y_score)])
    beta, cov = _logistic_fit(y, design, np.zeros(y.size))
    return float(beta[1]), float(np.sqrt(cov[1, 1]))


def net_benefit_rows(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's share of the net benefit of treating ``score >= threshold`` (Vickers & Elkin
    2006): a true positive counts 1, a false positive ``t / (1 - t)``; their mean is the net benefit."""
    t = min(max(float(threshold), 0.0), 1 - 1e-9)
    treated = np.asarray(y_score) >= threshold
    y = np.asarray(y_true, dtype=np.float64)
    return treated * (y - (1 - y) * t / (1 - t))


def net_benefit(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> float:
    return float(np.mean(net_benefit_rows(y_true, y_score, threshold)))


def decision_curve(y_true: np.ndarray, y_score: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """Net benefit of the model, of treating everyone and of treating no one, per threshold."""
    y = np.asarray(y_true, dtype=np.float64)
    prevalence = float(np.mean(y))
    model = np.array([net_benefit(y, y_score, t) for t in thresholds])
    treat_all = prevalence - (1 - prevalence) * thresholds / (1 - thresholds)
    return {"threshold": thresholds, "model": model, "treat_all": treat_all, "treat_none": np.zeros_like(thresholds)}


def calibration_metrics(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> dict[str, float]:
    """The calibration metrics clinical users expect, as point values (a split's prefix is added
    by the caller)."""
    intercept, _ = calibration_intercept(y_true, y_score)
    slope, _ = calibration_slope(y_true, y_score)
    return {"calibration_intercept": intercept, "calibration_slope": slope,
            "net_benefit": net_benefit(y_true, y_score, threshold)}


#: rows of a long vector handled at a time where a temporary per row would otherwise be made
_CHUNK = 1 << 20


# -- DeLong ------------------------------------------------------------------------------------

def _delong_components(y_true: np.ndarray, scores: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong's structural components of each score vector (Sun & Xu 2014's midrank
    form): per positive the share of negatives it outranks, per negative the share of
    positives that outrank it (ties count half)."""
    actual = np.asarray(y_true) == 1
    aucs, v10s, v01s = [], [], []
    for score in scores:
        score = np.asarray(score, dtype=np.float64)
        x, y = score[actual], score[~actual]
        m, n = x.size, y.size
        # the midrank form, by counting: a positive's share is the negatives below it plus half
        # those tied, a negative's the positives above it plus half those tied. By hand, as
        # sorted lookups instead of three rankings (scipy's rankdata) of the rows: besides the
        # negatives' scores and one sorted copy of them, temporaries of one chunk of negatives,
        # not of every row (the 2M test rows of a 10M-row file). A NaN score would sort as the
        # highest (rankdata gave a NaN AUC); a run's scores are probabilities.
        y_sorted = np.sort(y)
        v10 = (np.searchsorted(y_sorted, x, "left") + np.searchsorted(y_sorted, x, "right")) / (2.0 * n)
        del y_sorted
        x = np.sort(x)
        v01 = np.empty(n)
        for start in range(0, n, _CHUNK):
            part = y[start:start + _CHUNK]
            below = np.searchsorted(x, part, "left") + np.searchsorted(x, part, "right")
            v01[start:start + _CHUNK] = 1.0 - below / (2.0 * m)
        aucs.append(float(v10.sum()) / m if m else np.nan)
        v10s.append(v10)
        v01s.append(v01)
    return np.array(aucs), np.array(v10s), np.array(v01s)


def delong(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and its DeLong standard error."""
    auc, v10, v01 = _delong_components(y_true, [score])
    variance = np.var(v10[0], ddof=1) / v10.shape[1] + np.var(v01[0], ddof=1) / v01.shape[1]
    return float(auc[0]), float(np.sqrt(variance))


def delong_paired(y_true: np.ndarray, score: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """ROC-AUC of ``score`` minus that of ``baseline`` on the same rows, and its DeLong
    standard error (the covariance of the two curves' components)."""
    auc, v10, v01 = _delong_components(y_true, [score, baseline])
    d10, d01 = v10[0] - v10[1], v01[0] - v01[1]
    variance = np.var(d10, ddof=1) / d10.size + np.var(d01, ddof=1) / d01.size
    return float(auc[0] - auc[1]), float(np.sqrt(variance))


# -- the bootstrap -----------------------------------------------------------------------------

class _Resampled:
    """One score vector's bootstrap metrics from row counts (how often each row was drawn),
    computed from the rows sorted once by score (see metrics._ScoreOrder): scikit-learn's
    scorers re-validate their input on every call, 0.2 s per resample at 40k rows."""

    def __init__(self, y_true: np.ndarray, y_score: np.ndarray, threshold: float, n_bins: int) -> None:
        actual = np.asarray(y_true) == 1
        y_score = np.ascontiguousarray(y_score, dtype=np.float64)
        #: everything the draws depend on besides the resamples (see :func:`bootstrap_draws`)
        self.key = (hashlib.blake2b(actual.tobytes(), digest_size=16).digest(),
                    hashlib.blake2b(y_score.tobytes(), digest_size=16).digest(), float(threshold), int(n_bins))
        self.order = order = M._ScoreOrder(actual, y_score)
        score, n = order.score, order.score.size
        self.cut_half = int(np.sum(score >= 0.5))  # rows predicted positive at 0.5 (sorted: a prefix)
        self.cut_tuned = int(np.sum(score >= threshold))
        bins = np.clip(np.ceil(score * n_bins).astype(int) - 1, 0, n_bins - 1)  # as in ECE
        bin_ends = np.r_[np.flatnonzero(np.diff(bins)), n - 1]
        self.bin_starts = np.r_[0, bin_ends[:-1] + 1]
        self.positives_in_bins = np.searchsorted(order.at_positive, bin_ends, side="right")

    def values(self, count: np.ndarray) -> dict[str, float]:
        """The metrics of a resample, ``count`` given per row in the data's order."""
        order = self.order
        sorted_count = np.empty_like(count)
        sorted_count[order.rank] = count
        predicted_all, tp_all = order.cumulative(sorted_count)
        total, n_pos = predicted_all[-1], tp_all[-1]
        out: dict[str, float] = {}
        if 0 < n_pos < total:
            out["roc_auc"], out["pr_auc"] = order.roc_pr(predicted_all, tp_all)
        else:  # a resample without one of the classes: no ranking metric
            out["roc_auc"] = out["pr_auc"] = float("nan")
        for name, k in (("f1", self.cut_half), ("f1_tuned", self.cut_tuned)):
            true_positives = tp_all[np.searchsorted(order.at_positive, k)]
            false_positives = (predicted_all[k - 1] if k else 0) - true_positives
            denominator = true_positives + false_positives + n_pos
            out[name] = float(2 * true_positives / denominator) if denominator > 0 else 0.0
        score_in_bins = np.cumsum(np.add.reduceat(sorted_count * order.score, self.bin_starts))
        per_bin = np.diff(score_in_bins - tp_all[self.positives_in_bins], prepend=0.0)
        out["ece"] = float(np.sum(np.abs(per_bin)) / total)
        return out


def _counts(n: int, n_resamples: int, seed: int) -> Iterable[np.ndarray]:
    """Row counts of each resample of all rows, drawn with replacement regardless of class."""
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        yield np.bincount(rng.integers(0, n, n), minlength=n)


#: the draws of the score vectors this process resampled last, by :attr:`_Resampled.key` and
#: the resamples. A grid or sweep compares each run with its baseline and its factor-1 run at
#: its end, on the same resamples of the same test rows as each run's own intervals (the same
#: seed): each comparison would otherwise resample both runs' scores again (1000 resamples of
#: each). 5 metrics x 1000 draws are 40 kB an entry; the cache keeps at most
#: :data:`_DRAWS_BYTES` (the oldest go first), whatever ``metrics.bootstrap`` asks for.
_DRAWS: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()
_DRAWS_KEPT = 1024
_DRAWS_BYTES = 64 * 2**20


def bootstrap_draws(resampled: list[_Resampled], n: int, n_resamples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Each score vector's metrics on the same resamples of the rows (paired when several).
    A vector already resampled the same way in this process is not resampled again (its arrays
    are read-only)."""
    keys = [(one.key, n, n_resamples, seed) for one in resampled]
    missing = {i: {m: np.empty(n_resamples) for m in BOOTSTRAP_METRICS}
               for i, key in enumerate(keys) if key not in _DRAWS}
    if missing:
        for i, count in enumerate(_counts(n, n_resamples, seed)):
            for j, draws in missing.items():
                for name, value in resampled[j].values(count).items():
                    draws[name][i] = value
        for j, draws in missing.items():
            for values in draws.values():
                values.flags.writeable = False
            _DRAWS[keys[j]] = draws
    out = []
    for key in keys:
        _DRAWS.move_to_end(key)
        out.append(_DRAWS[key])
    held = sum(values.nbytes for draws in _DRAWS.values() for values in draws.values())
    while len(_DRAWS) > len(keys) and (len(_DRAWS) > _DRAWS_KEPT or held > _DRAWS_BYTES):
        _, dropped = _DRAWS.popitem(last=False)
        held -= sum(values.nbytes for values in dropped.values())
    return [dict(draws) for draws in out]  # a caller's own dict: adding a key cannot reach the cache


def _from_draws(estimate: float, draws: np.ndarray, kind: str, confidence: float = 0.95) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    alpha = (1 - confidence) / 2
    if draws.size < 10 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    if kind == "percentile":
        return float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))
    if kind == "basic":  # reflected around the estimate: corrects a bias the draws share
        return float(2 * estimate - np.quantile(draws, 1 - alpha)), float(2 * estimate - np.quantile(draws, alpha))
    if kind == "bc":  # Efron's bias-corrected percentiles (BCa without the acceleration)
        below = (np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / draws.size
        z0 = norm.ppf(np.clip(below, 0.5 / draws.size, 1 - 0.5 / draws.size))
        z = norm.ppf(1 - alpha)
        return (float(np.quantile(draws, norm.cdf(2 * z0 - z))), float(np.quantile(draws, norm.cdf(2 * z0 + z))))
    raise ValueError(f"unknown bootstrap interval {kind!r}")


def _p_from_draws(estimate: float, draws: np.ndarray, kind: str) -> float:
    """The two-sided p-value of "no difference" that matches the interval ``kind``: the level at
    which its interval would just reach 0."""
    draws = draws[np.isfinite(draws)]
    b = draws.size
    if b < 10:
        return float("nan")

    def two_sided(at: float) -> float:  # how far ``at`` lies in either tail of the draws (+1: never 0)
        below, above = (np.sum(draws <= at) + 1) / (b + 1), (np.sum(draws >= at) + 1) / (b + 1)
        return float(min(1.0, 2 * min(below, above)))

    if kind == "basic":  # 0 lies in the basic interval iff 2 x estimate lies in the draws' range
        return two_sided(2 * estimate)
    if kind == "percentile":
        return two_sided(0.0)
    # bc: the percentile of 0 among the draws, moved by the bias correction z0
    share = (np.sum(draws < 0) + 0.5 * np.sum(draws == 0) + 0.5) / (b + 1)
    below = (np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / b
    z0 = norm.ppf(np.clip(below, 0.5 / b, 1 - 0.5 / b))
    return float(min(1.0, 2 * norm.sf(abs(2 * z0 - norm.ppf(share)))))


def _normal(estimate: float, se: float) -> tuple[float, float]:
    return float(estimate - Z95 * se), float(estimate + Z95 * se)


def _mean_interval(rows: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(rows))
    se = float(np.std(rows, ddof=1) / np.sqrt(rows.size))
    return (mean, *_normal(mean, se))


def candidate_intervals(y_true: np.ndarray, y_score: np.ndarray, threshold: float, n_bins: int = 15,
                        n_resamples: int = 1000, seed: int = 0,
                        draws: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """Every candidate interval of every interval metric: ``{metric: {method: (low, high)}}``.
    The coverage benchmark measures them all; a run logs the one :data:`METHODS` names.
    ``draws``: this score vector's :func:`bootstrap_draws`, when already made."""
    y = np.asarray(y_true)
    score = np.asarray(y_score, dtype=np.float64)
    out: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in INTERVAL_METRICS}
    point = M.evaluate(y, score, threshold, n_bins)
    if draws is None:
        draws = bootstrap_draws([_Resampled(y, score, threshold, n_bins)], y.size, n_resamples, seed)[0]
    for name in BOOTSTRAP_METRICS:
        for kind in BOOTSTRAP_KINDS:
            out[name][kind] = _from_draws(point[name], draws[name], kind)

    auc, se = delong(y, score)
    out["roc_auc"]["delong"] = _normal(auc, se)
    if 0 < auc < 1:
        se_logit = se / (auc * (1 - auc))
        out["roc_auc"]["delong_logit"] = tuple(float(expit(v)) for v in _normal(float(logit(auc)), se_logit))
    else:
        out["roc_auc"]["delong_logit"] = (auc, auc)
    ap, n_pos = point["pr_auc"], int(np.sum(y == 1))
    if 0 < ap < 1:  # Boyd, Eng & Page 2013: logit(AP) +- z / sqrt(n_pos AP (1 - AP))
        half = Z95 / math.sqrt(n_pos * ap * (1 - ap))
        out["pr_auc"]["boyd_logit"] = (float(expit(logit(ap) - half)), float(expit(logit(ap) + half)))
    else:
        out["pr_auc"]["boyd_logit"] = (ap, ap)

    _, *out["prediction_bias"]["normal_mean"] = _mean_interval(score - y)
    _, *out["net_benefit"]["normal_mean"] = _mean_interval(net_benefit_rows(y, score, threshold))
    for name, fit in (("calibration_intercept", calibration_intercept), ("calibration_slope", calibration_slope)):
        estimate, se = fit(y, score)
        out[name]["sandwich_wald"] = _normal(estimate, se)
    return {m: {k: tuple(v) for k, v in methods.items()} for m, methods in out.items()}


def intervals(y_true: np.ndarray, y_score: np.ndarray, threshold: float, n_bins: int = 15,
              n_resamples: int = 1000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """The 95 % interval of each of :data:`INTERVAL_METRICS`, by its measured method. A metric
    whose interval is degenerate (constant or perfectly separated scores: zero width) is left out."""
    candidates = candidate_intervals(y_true, y_score, threshold, n_bins, n_resamples, seed)
    out = {}
    for metric in INTERVAL_METRICS:
        low, high = candidates[metric][METHODS[metric]]
        bounds = BOUNDS.get(metric)
        if METHODS[metric] == "basic" and bounds is not None and high <= bounds[0]:
            # reflected wholly past the metric's floor (an ECE near 0): the percentile interval's
            # upper end, from the floor, is all the draws can say
            low, high = bounds[0], candidates[metric]["percentile"][1]
        low, high = clipped(low, high, bounds)
        # no zero-width "95 %" interval (up to rounding: a constant ECE's draws differ by 1e-17)
        if np.isfinite(low) and np.isfinite(high) and high - low > 1e-9 * max(1.0, abs(high)):
            out[metric] = (low, high)
    return out


# -- paired comparisons ------------------------------------------------------------------------

@dataclass(frozen=True)
class Delta:
    """A metric of a run minus that of its baseline, on the same test rows."""

    value: float
    low: float
    high: float
    p: float
    method: str

    def verdict(self, metric: str) -> str:
        """"better", "worse" or "no detectable difference" at 95 % (for prediction bias, which
        has no better side in its sign, "higher" or "lower")."""
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low <= 0 <= self.high:
            return "no detectable difference"
        higher = self.low > 0
        if metric == "prediction_bias":
            return "higher" if higher else "lower"
        lower_is_better = metric in M.LOWER_IS_BETTER
        return "worse" if higher == lower_is_better else "better"


def candidate_deltas(y_true: np.ndarray, score: np.ndarray, baseline: np.ndarray, threshold: float,
                     baseline_threshold: float, n_bins: int = 15, n_resamples: int = 1000, seed: int = 0,
                     draws: list[dict[str, np.ndarray]] | None = None) -> dict[str, dict[str, Delta]]:
    """Every candidate paired interval of every delta metric: ``{metric: {method: Delta}}``.
    ``draws``: the two score vectors' :func:`bootstrap_draws` on the same resamples, when made."""
    y = np.asarray(y_true)
    a, b = np.asarray(score, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    point_a, point_b = M.evaluate(y, a, threshold, n_bins), M.evaluate(y, b, baseline_threshold, n_bins)
    out: dict[str, dict[str, Delta]] = {m: {} for m in DELTA_METRICS}

    if draws is None:
        draws = bootstrap_draws([_Resampled(y, a, threshold, n_bins), _Resampled(y, b, baseline_threshold, n_bins)],
                                y.size, n_resamples, seed)
    for name in ("pr_auc", "f1_tuned", "ece", "roc_auc"):
        values, estimate = draws[0][name] - draws[1][name], point_a[name] - point_b[name]
        for kind in BOOTSTRAP_KINDS:
            out[name][kind] = Delta(estimate, *_from_draws(estimate, values, kind),
                                    _p_from_draws(estimate, values, kind), kind)

    diff, se = delong_paired(y, a, b)
    out["roc_auc"]["delong"] = Delta(diff, *_normal(diff, se), _normal_p(diff, se), "delong")
    yf = y.astype(np.float64)
    ca, cb = np.clip(a, 1e-15, 1 - 1e-15), np.clip(b, 1e-15, 1 - 1e-15)
    rows = {
        "brier": (a - yf) ** 2 - (b - yf) ** 2,
        "log_loss": -(yf * np.log(ca) + (1 - yf) * np.log1p(-ca)) + (yf * np.log(cb) + (1 - yf) * np.log1p(-cb)),
        "prediction_bias": a - b,
    }
    for name, per_row in rows.items():
        mean, low, high = _mean_interval(per_row)
        se = (high - low) / (2 * Z95)
        out[name]["normal_mean"] = Delta(mean, low, high, _normal_p(mean, se), "normal_mean")
    return out


def _normal_p(estimate: float, se: float) -> float:
    if not np.isfinite(se):
        return float("nan")
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2 * norm.sf(abs(estimate) / se))


def paired(y_true: np.ndarray, score: np.ndarray, baseline: np.ndarray, threshold: float,
           baseline_threshold: float, n_bins: int = 15, n_resamples: int = 1000, seed: int = 0) -> dict[str, Delta]:
    """Each of :data:`DELTA_METRICS` of ``score`` minus ``baseline`` on the same rows, with its
    95 % interval and p-value by its measured method (:data:`DELTA_METHODS`)."""
    candidates = candidate_deltas(y_true, score, baseline, threshold, baseline_threshold, n_bins,
                                  n_resamples, seed)
    return {metric: candidates[metric][DELTA_METHODS[metric]] for metric in DELTA_METRICS}


def delta_metrics(deltas: dict[str, Delta], suffix: str = "") -> dict[str, float]:
    """``test_<m>_delta{suffix}`` and its ``_ci_low``, ``_ci_high`` and ``_p``, as MLflow metrics."""
    out: dict[str, float] = {}
    for metric, delta in deltas.items():
        key = f"test_{metric}_delta{suffix}"
        out.update({key: delta.value, f"{key}_ci_low": delta.low, f"{key}_ci_high": delta.high,
                    f"{key}_p": delta.p})
    return out


# -- seeds ---------------------------------------------------------------------------------------

def seed_interval(values: Iterable[float],
                  bounds: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    """Mean, standard deviation and the 95 % t interval of the mean of per-seed values: the
    spread between seeds (split, resample draw, model) in a claim about a technique. ``bounds``:
    the metric's range (:func:`bounds_of`), which the interval is clipped to."""
    from scipy.stats import t

    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 4
    mean = float(np.mean(v))
    if v.size < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = float(np.std(v, ddof=1))
    half = float(t.ppf(0.975, v.size - 1) * sd / np.sqrt(v.size))
    return (mean, sd, *clipped(mean - half, mean + half, bounds))
