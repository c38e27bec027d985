"""Every strategy with every model, on a bundled dataset and on a KEEL set."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FAST_MODEL

from imbexp.run import experiment

STRATEGIES = ["none", "downsample_upweight", "downsample", "class_weight", "oversample", "smote"]
DATASETS = {
    "breast_cancer": ["dataset=breast_cancer", "strategy.downsample_factor=1.5"],
    "yeast5": ["dataset=keel", "dataset.name=yeast5"],
}


@pytest.mark.parametrize("model", list(FAST_MODEL))
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_strategy_model_dataset(compose, dataset: str, strategy: str, model: str) -> None:
    extra = [o for o in DATASETS[dataset] if not o.startswith("strategy.") or "downsample" in strategy]
    cfg = compose(f"strategy={strategy}", f"model={model}", *FAST_MODEL[model], *extra,
                  f"tracking.experiment=matrix-{dataset}")
    result = experiment(cfg)
    m = result.metrics
    assert 0 <= m["test_roc_auc"] <= 1 and np.isfinite(m["test_log_loss"])
    assert np.all((result.test_scores >= 0) & (result.test_scores <= 1))
    assert m["test_roc_auc"] > 0.6, "every combination should learn something"
    if strategy in ("oversample", "smote"):
        assert m["train_minority_fraction"] == pytest.approx(0.5, abs=0.01)
    if strategy in ("none", "class_weight"):
        assert m["train_minority_fraction"] == pytest.approx(m["dataset_minority_fraction"], abs=0.01)
