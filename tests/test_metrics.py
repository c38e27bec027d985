"""Metric definitions of the tracking contract, checked against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from imbexp import metrics as M


def test_ece_by_hand() -> None:
    # two bins used out of 15: [0, 1/15] holds 0.05 twice, (14/15, 1] holds 0.95 twice
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    expected = 0.5 * abs(0.05 - 0.5) + 0.5 * abs(0.95 - 1.0)
    assert M.expected_calibration_error(y, p, 15) == pytest.approx(expected)


def test_ece_of_perfectly_calibrated_scores_is_small() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert M.expected_calibration_error(y, p) < 0.01
    assert M.expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.1


def test_evaluate_matches_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.05).astype(int)
    p = np.clip(rng.normal(0.05 + 0.4 * y, 0.1), 0, 1)
    values = M.evaluate(y, p, tuned_threshold=0.3)
    pred = (p >= 0.5).astype(int)
    assert values["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert values["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert values["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert values["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert values["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert values["prediction_bias"] == pytest.approx(p.mean() - y.mean())
    tn, fp, fn, tp = skm.confusion_matrix(y, (p >= 0.3).astype(int)).ravel()
    assert values["g_mean_tuned"] == pytest.approx(np.sqrt(tp / (tp + fn) * tn / (tn + fp)))
    assert values["f1_tuned"] == pytest.approx(skm.f1_score(y, (p >= 0.3).astype(int)))
    assert set(M.METRIC_NAMES) <= set(values)


@pytest.mark.parametrize("case", ["continuous", "tied", "saturated", "few_positives"])
def test_probability_metrics_from_one_sort_equal_scikit_learns(case) -> None:
    rng = np.random.default_rng(11)
    y = (rng.random(5000) < 0.03).astype(np.int8)
    p = np.clip(rng.normal(0.05 + 0.3 * y, 0.15), 0, 1)
    if case == "tied":
        p = np.round(p, 2)  # many runs of equal scores, with positives and negatives inside
    elif case == "saturated":
        p = np.where(rng.random(p.size) < 0.3, np.round(p), p)  # exact 0s and 1s
    elif case == "few_positives":
        y = np.zeros_like(y)
        y[[10, 2000]] = 1
    values = M.probability_metrics(y, p)
    assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert values["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), rel=1e-12)
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), rel=1e-12)
    assert values["brier"] == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)
    # weighted rows take scikit-learn's own path; equal weights give the same numbers
    weighted = M.probability_metrics(y, p, sample_weight=np.full(p.size, 2.0))
    for name in ("roc_auc", "pr_auc", "log_loss", "brier"):
        assert weighted[name] == pytest.approx(values[name], rel=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn: metric undefined for one class
def test_probability_metrics_of_one_class_are_scikit_learns() -> None:
    y, p = np.zeros(10, dtype=int), np.linspace(0, 1, 10)
    values = M.probability_metrics(y, p)
    np.testing.assert_equal([values["roc_auc"], values["pr_auc"]],
                            [skm.roc_auc_score(y, p), skm.average_precision_score(y, p)])


def test_tuned_threshold_maximises_f1() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(2000) < 0.1).astype(int)
    p = np.clip(rng.normal(0.1 + 0.3 * y, 0.1), 0, 1)
    best = M.tune_threshold(y, p)
    f1_best = skm.f1_score(y, p >= best)
    for t in np.linspace(0.01, 0.99, 99):
        assert skm.f1_score(y, p >= t) <= f1_best + 1e-12


@pytest.mark.parametrize("decimals", [None, 2])  # 2: many tied scores
def test_the_fast_bootstrap_gives_the_metrics_of_each_resample(decimals) -> None:
    """intervals' resamples as row counts over the rows sorted once give the numbers of
    :func:`M.evaluate` on the resampled rows themselves (to 1e-12), ties and all."""
    from imbexp import intervals as I

    rng = np.random.default_rng(7)
    y = (rng.random(3000) < 0.05).astype(np.int8)
    p = np.clip(rng.normal(0.05 + 0.4 * y, 0.15), 0.0, 1.0)
    if decimals is not None:
        p = np.round(p, decimals)
    draws = I.bootstrap_draws([I._Resampled(y, p, 0.3, 10)], y.size, 30, seed=3)[0]
    assert set(draws) == set(I.BOOTSTRAP_METRICS)
    for i, count in enumerate(I._counts(y.size, 30, 3)):
        rows = np.repeat(np.arange(y.size), count)
        generic = M.evaluate(y[rows], p[rows], 0.3, 10)
        for name in I.BOOTSTRAP_METRICS:
            assert draws[name][i] == pytest.approx(generic[name], abs=1e-12), (i, name)
    # resampled regardless of class: the positive count varies between resamples
    assert len({int(y[np.repeat(np.arange(y.size), c)].sum()) for c in I._counts(y.size, 30, 3)}) > 1


@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_metrics_match_scikit_learn_and_imbalanced_learn(weighted) -> None:
    from imblearn.metrics import geometric_mean_score

    rng = np.random.default_rng(11)
    y = (rng.random(4000) < 0.03).astype(np.int8)
    p = np.clip(rng.normal(0.1 + 0.5 * y, 0.2), 0.0, 1.0)
    w = rng.uniform(0.5, 3.0, y.size) if weighted else None
    for threshold in (0.0, 0.2, 0.5, 0.9, 1.01):
        pred = (p >= threshold).astype(np.int8)
        got = M.threshold_metrics(y, p, threshold, w)
        expected = {
            "precision": skm.precision_score(y, pred, zero_division=0, sample_weight=w),
            "recall": skm.recall_score(y, pred, zero_division=0, sample_weight=w),
            "f1": skm.f1_score(y, pred, zero_division=0, sample_weight=w),
            "kappa": skm.cohen_kappa_score(y, pred, sample_weight=w),
            "mcc": skm.matthews_corrcoef(y, pred, sample_weight=w),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred, sample_weight=w),
            # imbalanced-learn counts true negatives in rows, not weights (its tn_sum starts from
            # y_true.size), so with weights G-mean is checked from its definition
            "g_mean": np.sqrt(skm.recall_score(y, pred, zero_division=0, sample_weight=w)
                              * skm.recall_score(y, pred, pos_label=0, zero_division=0, sample_weight=w))
            if weighted else geometric_mean_score(y, pred, average="binary"),
        }
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (threshold, name)


@pytest.mark.parametrize("rule, options", [("f1", {}), ("fbeta", {"beta": 2.0}), ("fbeta", {"beta": 0.5}),
                                           ("precision_at_recall", {"min_recall": 0.3}),
                                           ("precision_at_recall", {"min_recall": 0.95})])
def test_the_tuned_threshold_is_the_one_of_scikit_learns_whole_curve(rule: str, options: dict) -> None:
    """The threshold rules read precision and recall at the positives' scores only
    (:func:`imbexp.metrics._curve_at_positives`): the same threshold as the rule applied to
    scikit-learn's whole precision-recall curve, ties (the highest) included."""
    rng = np.random.default_rng(7)
    for case in range(300):
        n = int(rng.integers(2, 400))
        y = (rng.random(n) < rng.uniform(0.01, 0.6)).astype(int)
        y[rng.integers(n)] = 1
        score = rng.random(n)
        if case % 3 == 0:
            score = np.round(score, 1)  # many ties, across classes
        if case % 50 == 0:
            score = np.full(n, 0.5)  # one threshold for every row
        precision, recall, thresholds = skm.precision_recall_curve(y, score)
        precision, recall = precision[:-1], recall[:-1]
        if rule == "precision_at_recall":
            gain = np.where(recall >= options["min_recall"] - 1e-12, precision, -1.0)
        else:
            b2 = options.get("beta", 1.0) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                denominator = b2 * precision + recall
                gain = np.where(denominator > 0, (1 + b2) * precision * recall / denominator, 0.0)
        expected = thresholds[np.flatnonzero(gain == gain.max())[-1]]
        assert M.tune_threshold(y, score, rule, **options) == expected, (case, n, int(y.sum()))


def test_a_threshold_from_scores_that_are_not_finite_or_labels_that_are_not_0_1_is_refused() -> None:
    y, score = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.8])
    assert M.tune_threshold(y, score) == 0.2  # highest F1 (0.8) at the lowest positive's score
    with pytest.raises(ValueError, match="NaN"):
        M.tune_threshold(y, np.array([0.1, np.nan, 0.3, 0.8]))
    with pytest.raises(ValueError, match="multiclass"):
        M.tune_threshold(np.array([0, 1, 2, 1]), score)
