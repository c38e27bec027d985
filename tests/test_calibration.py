"""Calibration, deployment prevalence and threshold rules (intervals: tests/test_intervals.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from imbexp import metrics as M
from imbexp.run import experiment

SMALL = ["dataset.rows=6000", "model.estimator.n_estimators=30"]


@pytest.mark.parametrize("model", ["lightgbm", "logistic_regression"])
def test_calibration_claims_on_known_probabilities(compose, model: str) -> None:
    """~1 % positives, f=10: upweighting, the prior correction and isotonic calibration on valid
    each keep |prediction bias| within a quarter of plain downsampling's."""
    base = ["dataset=known_prob", "dataset.rows=200000", f"model={model}", "tracking.experiment=claim",
            "metrics.bootstrap=0", "strategy.downsample_factor=10"]
    runs = {
        "downsample": ["strategy=downsample"],
        "downsample_upweight": ["strategy=downsample_upweight"],
        "downsample+prior": ["strategy=downsample", "strategy.prior_correction=true"],
        "downsample+isotonic": ["strategy=downsample", "calibration=isotonic"],
    }
    bias = {name: abs(experiment(compose(*base, *extra)).metrics["test_prediction_bias"])
            for name, extra in runs.items()}
    assert bias["downsample"] > 0.02, bias  # ~5x the true rate of 1 %: the prior shift is real
    for name in ("downsample_upweight", "downsample+prior", "downsample+isotonic"):
        assert bias[name] <= bias["downsample"] / 4, (name, bias)


def test_calibration_needs_enough_minority_rows_in_valid(compose) -> None:
    from imbexp.errors import DataError

    cfg = compose("dataset=keel", "dataset.name=abalone19", "calibration=isotonic", "tracking.experiment=cal")
    with pytest.raises(DataError, match=r"calibration=isotonic needs at least 30 minority rows in valid to fit; "
                                        r"valid has 7 "):
        experiment(cfg)


def test_deployment_prevalence(compose, mlflow_client) -> None:
    first = experiment(compose(*SMALL, "deployment.prevalence=0.02", "tracking.experiment=deploy"))
    same = first.metrics
    rate = float(mlflow_client.get_run(first.run_id).data.tags["dataset_minority_fraction"])
    rarer = experiment(compose(*SMALL, "deployment.prevalence=0.002", "tracking.experiment=deploy")).metrics
    # at (nearly) the data's own prevalence the deployment metrics are the plain ones
    assert abs(rate - 0.02) < 0.001
    assert same["test_deploy_pr_auc"] == pytest.approx(same["test_pr_auc"], abs=0.02)
    assert same["test_deploy_roc_auc"] == pytest.approx(same["test_roc_auc"], abs=1e-9)
    # ten times rarer: ranking unchanged, precision-type metrics fall, calibration is kept
    assert rarer["test_deploy_roc_auc"] == pytest.approx(rarer["test_roc_auc"], abs=1e-9)
    assert rarer["test_deploy_pr_auc"] < rarer["test_pr_auc"] - 0.05
    assert abs(rarer["test_deploy_prediction_bias"]) < 0.002
    assert rarer["deploy_prevalence"] == 0.002 and "threshold_deploy" in rarer
    # net benefit at the production prevalence: the plain one at the data's own, less when rarer
    assert same["test_deploy_net_benefit"] == pytest.approx(same["test_net_benefit"], abs=0.002)
    assert rarer["test_deploy_net_benefit"] < same["test_deploy_net_benefit"]


def test_prior_shift_and_weights_agree() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.001, 0.2, 50_000)
    y = (rng.random(p.size) < p).astype(int)
    shifted = M.shift_prior(p, y.mean(), 0.01)
    weights = M.prevalence_weights(y, 0.01)
    assert np.average(y, weights=weights) == pytest.approx(0.01)
    assert np.average(shifted, weights=weights) == pytest.approx(0.01, rel=0.1)
    np.testing.assert_allclose(M.shift_prior(p, 0.1, 0.1), p)


def test_threshold_rules() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.05).astype(int)
    p = np.clip(rng.normal(0.1 + 0.3 * y, 0.12), 0, 1)
    at_recall = M.tune_threshold(y, p, "precision_at_recall", min_recall=0.9)
    assert skm.recall_score(y, p >= at_recall) >= 0.9
    lower = at_recall - 0.01
    assert skm.precision_score(y, p >= at_recall) >= skm.precision_score(y, p >= lower)
    cheap_misses = M.tune_threshold(y, p, "min_cost", cost_fp=10, cost_fn=1)
    costly_misses = M.tune_threshold(y, p, "min_cost", cost_fp=1, cost_fn=100)
    assert costly_misses < cheap_misses

    def cost(t: float, fp_cost: float, fn_cost: float) -> float:
        pred = p >= t
        return fp_cost * np.sum(pred & (y == 0)) + fn_cost * np.sum(~pred & (y == 1))

    for t in np.linspace(0, 1, 101):
        assert cost(costly_misses, 1, 100) <= cost(t, 1, 100)
    f2 = M.tune_threshold(y, p, "fbeta", beta=2.0)
    assert f2 <= M.tune_threshold(y, p, "f1")  # recall weighs more: a lower threshold
