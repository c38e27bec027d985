"""The statistics of a run's test numbers (imbexp.intervals) on cases with a known answer, and
what a single run logs and prints of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn import metrics as skm

from imbexp import datasets, names
from imbexp import intervals as I
from imbexp import metrics as M
from imbexp.run import experiment


@pytest.fixture(scope="module")
def truth() -> tuple[np.ndarray, np.ndarray]:
    """50k labels drawn from a known P(y=1|x) (10 % positives), and that probability."""
    data = datasets.known_prob(rows=50_000, minority_fraction=0.1, random_state=3)
    return data.y, data.p_true


def test_calibration_of_the_true_probability_and_of_over_confident_scores(truth) -> None:
    y, p = truth
    calibrated = I.calibration_metrics(y, p, 0.2)
    assert abs(calibrated["calibration_intercept"]) < 0.1
    assert abs(calibrated["calibration_slope"] - 1) < 0.1
    # logit doubled: too extreme, the recalibration halves it back
    over_confident = expit(2 * logit(p))
    assert I.calibration_metrics(y, over_confident, 0.2)["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    # every score's odds divided by e: calibration-in-the-large says the scores are 1 logit too low
    too_low = expit(logit(p) - 1)
    assert I.calibration_metrics(y, too_low, 0.2)["calibration_intercept"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("threshold", [0.05, 0.2, 0.5])
def test_net_benefit_is_true_minus_weighted_false_positives(truth, threshold: float) -> None:
    y, p = truth
    tn, fp, fn, tp = skm.confusion_matrix(y, p >= threshold).ravel()
    n = y.size
    by_hand = tp / n - fp / n * threshold / (1 - threshold)
    assert I.net_benefit(y, p, threshold) == pytest.approx(by_hand, rel=1e-12)
    assert I.calibration_metrics(y, p, threshold)["net_benefit"] == pytest.approx(by_hand, rel=1e-12)
    curve = I.decision_curve(y, p, np.array([threshold]))
    assert curve["model"][0] == pytest.approx(by_hand, rel=1e-12)
    prevalence = y.mean()
    assert curve["treat_all"][0] == pytest.approx(prevalence - (1 - prevalence) * threshold / (1 - threshold))


@pytest.mark.parametrize("decimals", [None, 2])  # 2: many tied scores
def test_delong_is_scikit_learns_auc_and_a_score_against_itself_differs_by_exactly_zero(truth, decimals) -> None:
    y, p = truth
    y, p = y[:5000], p[:5000]
    if decimals is not None:
        p = np.round(p, decimals)
    auc, se = I.delong(y, p)
    assert auc == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert 0 < se < 0.05
    assert I.delong_paired(y, p, p) == (0.0, 0.0)
    delta = I.paired(y, p, p, 0.2, 0.2, n_resamples=200)["roc_auc"]
    assert (delta.value, delta.low, delta.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("decimals", [None, 2])
def test_delongs_components_are_the_midranks_of_sun_and_xu(truth, decimals) -> None:
    from scipy.stats import rankdata

    y, p = truth
    y, p = y[:5000], p[:5000]
    other = np.clip(p + np.random.default_rng(0).normal(0, 0.1, p.size), 0, 1)
    if decimals is not None:
        p, other = np.round(p, decimals), np.round(other, decimals)
    aucs, v10, v01 = I._delong_components(y, [p, other])
    for i, score in enumerate((p, other)):  # Sun & Xu (2014), from three rankings
        x, z = score[y == 1], score[y == 0]
        both = rankdata(np.concatenate([x, z]))
        np.testing.assert_allclose(v10[i], (both[:x.size] - rankdata(x)) / z.size, rtol=0, atol=1e-15)
        np.testing.assert_allclose(v01[i], 1 - (both[x.size:] - rankdata(z)) / x.size, rtol=0, atol=1e-15)
        mann_whitney = both[:x.size].sum() - x.size * (x.size + 1) / 2
        assert aucs[i] == pytest.approx(mann_whitney / (x.size * z.size), abs=1e-15)


def test_identical_scores_give_deltas_of_zero(truth) -> None:
    y, p = truth
    for metric, delta in I.paired(y[:5000], p[:5000], p[:5000], 0.2, 0.2, n_resamples=200).items():
        assert delta.low <= 0 <= delta.high and delta.value == 0, (metric, delta)
        assert delta.verdict(metric) == "no detectable difference"
        assert delta.p == 1.0, (metric, delta)  # nothing against "no difference", whatever the method


def test_a_crippled_model_is_found_worse(truth) -> None:
    y, p = truth
    y, p = y[:5000], p[:5000]
    rng = np.random.default_rng(5)
    crippled = {"noisy": expit(logit(p) + rng.normal(0, 1.5, p.size)), "shuffled": rng.permutation(p)}
    threshold = M.tune_threshold(y, p)
    for name, score in crippled.items():
        deltas = I.paired(y, score, p, M.tune_threshold(y, score), threshold, n_resamples=500, seed=1)
        for metric in ("pr_auc", "roc_auc"):
            assert deltas[metric].verdict(metric) == "worse", (name, metric, deltas[metric])
            assert deltas[metric].high < 0 and deltas[metric].p < 0.05


def test_equally_good_models_are_found_no_different(truth) -> None:
    """Two independent noisy copies of the true probability, ten times on other rows: nearly every
    paired interval contains 0 (95 % each, so a few of the 70 may not)."""
    y_all, p_all = truth
    contains, total = 0, 0
    for repeat in range(10):
        rows = slice(5000 * repeat, 5000 * (repeat + 1))
        y, p = y_all[rows], p_all[rows]
        rng = np.random.default_rng(100 + repeat)
        a, b = (expit(logit(p) + rng.normal(0, 0.3, p.size)) for _ in range(2))
        deltas = I.paired(y, a, b, M.tune_threshold(y, a), M.tune_threshold(y, b), n_resamples=300, seed=repeat)
        contains += sum(d.low <= 0 <= d.high for d in deltas.values())
        total += len(deltas)
    assert contains >= total - 7, (contains, total)  # 66.5 of 70 expected at 95 %; sd 1.8


def test_too_few_positives_or_negatives_give_a_reason() -> None:
    few = np.r_[np.ones(6), np.zeros(994)]
    reason = I.too_few(few)
    assert reason is not None and "6 positives" in reason and str(I.MIN_POSITIVES) in reason
    assert I.too_few(np.r_[np.ones(200), np.zeros(800)]) is None
    assert "5 negatives" in I.too_few(np.r_[np.ones(995), np.zeros(5)])


def test_intervals_contain_the_estimate_and_shrink_with_more_rows() -> None:
    """ECE's basic interval is centred on the estimate corrected for its upward bias, so for
    calibrated scores it may lie below the plug-in ECE; it must contain the population value, 0."""
    rng = np.random.default_rng(1)
    widths = []
    for n in (2000, 20000):  # about 100 and 1,000 positives
        p = expit(rng.normal(-3.5, 1.2, n))
        y = (rng.random(n) < p).astype(int)  # p is the truth: calibrated
        point = {**M.evaluate(y, p, 0.1), **I.calibration_metrics(y, p, 0.1)}
        found = I.intervals(y, p, 0.1, n_resamples=300, seed=2)
        assert set(found) == set(I.INTERVAL_METRICS)
        for name, (low, high) in found.items():
            inside = 0.0 if name == "ece" else point[name]
            assert low <= inside <= high, (n, name, low, point[name], high)
        widths.append({name: high - low for name, (low, high) in found.items()})
    for name in I.INTERVAL_METRICS:
        assert widths[1][name] < widths[0][name], name


SMALL = ["dataset=known_prob", "model.estimator.n_estimators=10", "tracking.plots=false"]


def test_a_run_logs_intervals_and_calibration_metrics(compose, mlflow_client, capsys) -> None:
    # 5,000 rows at 5 %: about 50 test positives, above intervals.MIN_POSITIVES
    result = experiment(compose(*SMALL, "dataset.rows=5000", "dataset.minority_fraction=0.05",
                                "tracking.experiment=intervals"))
    run = mlflow_client.get_run(result.run_id)
    logged = run.data.metrics
    for name in I.INTERVAL_METRICS:
        if f"test_{name}_ci_low" not in logged:  # degenerate: no row above 0.5 in any resample, F1 = 0
            assert name == "f1" and logged["test_f1"] == 0, name
            continue
        low, value, high = logged[f"test_{name}_ci_low"], logged[f"test_{name}"], logged[f"test_{name}_ci_high"]
        assert low <= high, name
        if name != "ece":  # its interval is centred on the bias-corrected value, below the estimate
            assert low <= value <= high, name
    for split in ("valid", "test"):
        for name in ("calibration_intercept", "calibration_slope", "net_benefit"):
            assert np.isfinite(logged[f"{split}_{name}"]), (split, name)
    assert 0.5 < logged["test_calibration_slope"] < 2  # a boosted model of the truth is near calibrated
    assert run.data.tags[names.INTERVAL_METHODS_TAG] == I.method_summary()
    assert names.NO_INTERVALS_TAG not in run.data.tags
    # strategy none: every training row kept, so its positive share is the data's
    share = float(run.data.tags["dataset_minority_fraction"])
    assert logged["train_positive_fraction"] == pytest.approx(share, abs=0.01)
    assert logged["train_weighted_positive_fraction"] == pytest.approx(logged["train_positive_fraction"])
    assert "train_minority_fraction" not in logged
    out = capsys.readouterr().out
    assert "95 % interval" in out and f"intervals: {I.method_summary()}" in out
    # about 50 test positives: intervals, with the note that they are rougher than 95 %
    assert run.data.tags[names.INTERVALS_NOTE_TAG].startswith("rough intervals:")
    assert run.data.tags[names.INTERVALS_NOTE_TAG] in out
    low, high = logged["test_roc_auc_ci_low"], logged["test_roc_auc_ci_high"]
    assert f"[{low:.4f}, {high:.4f}]" in out


def test_a_run_with_few_test_positives_logs_no_interval_and_says_why(compose, mlflow_client, capsys) -> None:
    # 3,000 rows at 1 %: about 6 test positives
    result = experiment(compose(*SMALL, "dataset.rows=3000", "dataset.minority_fraction=0.01",
                                "tracking.experiment=intervals-few"))
    run = mlflow_client.get_run(result.run_id)
    assert not [key for key in run.data.metrics if "_ci_" in key]
    reason = run.data.tags[names.NO_INTERVALS_TAG]
    test_rows = pd.read_parquet(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    positives = int(test_rows["y_true"].sum())
    assert positives < I.MIN_POSITIVES
    assert reason == I.too_few(test_rows["y_true"].to_numpy())
    assert f"test has {positives} positives" in reason
    assert names.INTERVAL_METHODS_TAG not in run.data.tags
    assert f"  {reason}\n" in capsys.readouterr().out


def test_degenerate_scores_get_no_zero_width_interval() -> None:
    """Perfectly separated or constant scores: a "95 %" interval of width 0 says nothing, so
    none is given for the metrics it would be (ROC-AUC, PR-AUC, F1, ECE of separated scores)."""
    y = np.r_[np.ones(100), np.zeros(900)].astype(np.int8)
    separated = I.intervals(y, y * 0.9 + 0.05, 0.5, n_resamples=200)
    assert not {"roc_auc", "pr_auc", "f1", "f1_tuned", "ece"} & set(separated)
    constant = I.intervals(y, np.full(y.size, 0.1), 0.5, n_resamples=200)
    assert "roc_auc" not in constant and "f1" not in constant
    for low, high in [*separated.values(), *constant.values()]:
        assert high > low


def test_few_positives_give_intervals_with_a_note_that_they_are_rough() -> None:
    y = np.r_[np.ones(40), np.zeros(4000)].astype(np.int8)
    assert I.too_few(y) is None and "rough intervals: 40 test positives" in I.rough(y)
    assert I.rough(np.r_[np.ones(200), np.zeros(4000)]) is None
