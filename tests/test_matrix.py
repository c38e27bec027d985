"""Every strategy, model and dataset found in conf/, end to end: each pair of them meets in a run."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from components import GROUPS, Component, all_pairs, build, load, options, small
from sklearn.metrics import roc_auc_score

from imbexp.run import experiment
from imbexp.splits import make_split

# every (strategy, model), (strategy, dataset) and (model, dataset) pair once or more, in about
# as many runs as strategies x datasets; sorted by dataset, so each is loaded once (its cache)
ROWS = sorted(all_pairs({group: options(group) for group in GROUPS}), key=lambda row: row["dataset"])
#: known defects by strategy: a run that fails with this exception is an xfail, any other failure
#: still fails; a run the defect does not reach passes as XPASS (it depends on the model's scores)
KNOWN_DEFECTS: dict[str, tuple[type[BaseException], str]] = {}


def _param(row: dict[str, str]):
    defect = KNOWN_DEFECTS.get(row["strategy"])
    marks = [pytest.mark.xfail(raises=defect[0], reason=defect[1], strict=False)] if defect else []
    return pytest.param(row, marks=marks, id="-".join(row[group] for group in GROUPS))


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_strategy_model_dataset(compose, imbexp_home, row: dict[str, str]) -> None:
    overrides = [o for group in GROUPS for o in small(compose, Component(group, row[group]), imbexp_home)]
    cfg = compose(*overrides, f"tracking.experiment=matrix-{row['dataset']}")
    dataset = load(cfg, row["dataset"])  # a dataset the tests cannot load fails here with what to add
    result = experiment(cfg)
    m = result.metrics
    assert 0 <= m["test_roc_auc"] <= 1 and np.isfinite(m["test_log_loss"])
    assert np.all((result.test_scores >= 0) & (result.test_scores <= 1))
    assert m["test_roc_auc"] > 0.6, "every combination should learn something"

    # test is the split's test part with its true labels, scored once: never resampled
    seed = int(cfg.seed)
    split = make_split(dataset.y, cfg.split, seed)
    y_test = dataset.y[split.test]
    assert len(result.test_scores) == len(y_test)
    assert m["test_roc_auc"] == pytest.approx(roc_auc_score(y_test, result.test_scores))
    # the model was trained on what the strategy makes of the training part, with the run's seed
    train = split.folds[0].train
    training = build("strategy", cfg).fit_resample(dataset.features(train), dataset.y[train], random_state=seed)
    assert m["train_rows"] == training.n_rows
    assert m["train_positive_fraction"] == pytest.approx(np.mean(training.y == 1))
    positive_weight = training.sample_weight[training.y == 1].sum() / training.sample_weight.sum()
    assert m["train_weighted_positive_fraction"] == pytest.approx(positive_weight)
    if training.indices is not None and len(training.indices) == len(train):  # every row kept
        assert m["train_positive_fraction"] == pytest.approx(m["dataset_positives"] / m["dataset_rows"], abs=0.01)
    ratio = cfg.strategy.get("sampling_strategy")
    if ratio is not None:  # oversamplers reach minority / majority = sampling_strategy
        assert m["train_positive_fraction"] == pytest.approx(ratio / (1 + ratio), abs=0.01)


def test_the_matrix_meets_every_pair() -> None:
    found = {group: options(group) for group in GROUPS}
    for first, second in combinations(GROUPS, 2):
        met = {(row[first], row[second]) for row in ROWS}
        assert met == {(a, b) for a in found[first] for b in found[second]}, (first, second)
    assert len(ROWS) == max(len(a) * len(b) for a, b in combinations(found.values(), 2))
