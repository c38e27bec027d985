"""Bounds and consistency: what is accepted is what the sentence says, and nothing accepted
hangs, turns a model constant or fails later on a number the user never typed."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from components import one_sentence

from imbexp.config import MAX_SEED
from imbexp.errors import DataError
from imbexp.strategies import ClassWeight, DownsampleUpweight
from imbexp.strategies._base import WEIGHT_RANGE
from imbexp.strategies._downsample import downsample_indices

SMALL = ("dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false",
         "metrics.bootstrap=0")


REFUSED = {
    "ece bins": (["metrics.ece_bins=100000000"],
                 "metrics.ece_bins=100000000 is not allowed; use an integer from 2 to 1000."),
    "bootstrap": (["metrics.bootstrap=1000000"],
                  "metrics.bootstrap=1000000 is not allowed; use 0 (off) or an integer from 20 to 100000."),
    "seed": (["seed=4294967295"], "seed=4294967295 is not allowed; use an integer from 0 to 4294967294."),
    "huge class weight": (["strategy=class_weight", "strategy.minority_weight=1e30"],
                          "strategy.minority_weight=1e+30 is not allowed; use 'balanced' or a number > 0 "
                          "within 0.001 to 1e12"),
    "tiny upweight": (["strategy=downsample_upweight", "strategy.upweight_factor=1e-6"],
                      "strategy.upweight_factor=1e-06 is not allowed; use a number > 0 within 0.001 to 1e12"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_value_beyond_its_bound_is_one_sentence_at_once(run_cli, case) -> None:
    overrides, words = REFUSED[case]
    started = time.monotonic()
    done = run_cli(*SMALL, *overrides, "tracking.experiment=bounds", timeout=120)
    assert words in one_sentence(done)
    assert time.monotonic() - started < 60  # refused before any work, not after minutes of it


@pytest.mark.slow
def test_the_largest_seed_allowed_runs_with_every_derived_seed(run_cli) -> None:
    """The split also draws with seed + 1; the largest seed must not fail there."""
    done = run_cli(f"seed={MAX_SEED}", "calibration=sigmoid", "dataset.minority_fraction=0.1",
                   "strategy=smote", *SMALL, "tracking.experiment=bounds-seed")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("n", [1, 2, 7, 214, 1001])
def test_the_downsample_bound_in_the_sentence_is_the_one_applied(n) -> None:
    y = np.r_[np.zeros(n, dtype=np.int8), np.ones(max(1, n // 10), dtype=np.int8)]
    rng = np.random.default_rng(0)
    with pytest.raises(DataError) as refused:
        downsample_indices(y, {0: float(10 * n), 1: 1.0}, rng)
    bound = float(re.search(r"use a factor < (\d+)", str(refused.value)).group(1))
    assert bound == 2 * n
    # every factor below the bound keeps a row of the class, and the bound itself keeps none
    for factor in np.r_[np.linspace(1, bound, 50, endpoint=False), bound - 1e-9, [bound - 0.5]]:
        kept = downsample_indices(y, {0: float(factor), 1: 1.0}, rng)
        assert (y[kept] == 0).sum() >= 1, factor
    for factor in (bound, bound + 1, 10 * bound):
        with pytest.raises(DataError, match=f"use a factor < {int(bound)}"):
            downsample_indices(y, {0: float(factor), 1: 1.0}, rng)


@pytest.mark.slow
def test_the_downsample_bound_from_the_command_line_is_accepted_just_below(run_cli) -> None:
    refused = run_cli("strategy=downsample", "strategy.downsample_factor=100000", *SMALL,
                      "tracking.experiment=bounds-downsample")
    bound = int(re.search(r"use a factor < (\d+)", one_sentence(refused)).group(1))
    done = run_cli("strategy=downsample", f"strategy.downsample_factor={bound - 1}", *SMALL,
                   "tracking.experiment=bounds-downsample")
    assert done.returncode == 0, done.stderr[-2000:]


def _roc_auc_with_weight(weight: float) -> tuple[float, int]:
    """LightGBM on 3,000 rows at 5 % minority, the minority weighted by ``weight``."""
    import lightgbm as lgb
    from sklearn.datasets import make_classification
    from sklearn.metrics import roc_auc_score

    X, y = make_classification(4000, 10, weights=[0.95], random_state=0)
    sample_weight = np.where(y[:3000] == 1, weight, 1.0)
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1, random_state=0)
    model.fit(X[:3000], y[:3000], sample_weight=sample_weight)
    scores = model.predict_proba(X[3000:])[:, 1]
    return roc_auc_score(y[3000:], scores), np.unique(scores).size


def test_the_weight_bounds_keep_lightgbm_from_a_constant_model() -> None:
    """The measurement behind WEIGHT_RANGE: at its ends the model still ranks; far beyond them
    (1e20, 1e-5) it is constant, which is what the bound refuses."""
    low, high = WEIGHT_RANGE
    for weight in (low, high):
        auc, distinct = _roc_auc_with_weight(weight)
        assert auc > 0.7 and distinct > 100, (weight, auc, distinct)
    for weight in (1e20, 1e-5):
        auc, distinct = _roc_auc_with_weight(weight)
        assert distinct == 1 and auc == 0.5, (weight, auc, distinct)
    ClassWeight(minority_weight=high)  # the ends are accepted
    DownsampleUpweight(upweight_factor=low)
