"""Every strategy, model and dataset found in conf/, end to end, in two parts:

- the core components (the strategies and models imbexp started with) meet each other and every
  dataset pairwise (:func:`components.all_pairs`): about as many runs as core strategies x datasets;
- every other strategy and model runs on the tests' KEEL set read from a CSV with text labels
  (``keel_csv``), a new strategy beside a new model, so their count adds max(strategies, models)
  runs rather than a product: with 21 strategies and 12 models a full pair cover would be ~250
  runs, this is ~60.

Both parts are found in conf/, so a new YAML file is covered without touching this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pytest
from components import GROUPS, Component, all_pairs, build, discover, load, named, small
from sklearn.metrics import roc_auc_score

from imbexp import models
from imbexp.errors import ConfigError
from imbexp.run import experiment
from imbexp.splits import make_split

#: the components whose pairs all meet: the strategies and models imbexp started with (a newer
#: one runs at least once on KEEL_CSV instead); every dataset is core
CORE = {
    "strategy": ("class_weight", "downsample", "downsample_prior", "downsample_upweight", "none", "oversample",
                 "smote"),
    "model": ("hist_gradient_boosting", "lightgbm", "logistic_regression", "random_forest"),
}
#: the dataset every strategy and model runs on at least once: a KEEL set read from a CSV file
KEEL_CSV = "keel_csv"


def found_components() -> dict[str, list[Component]]:
    """The options of each group in conf/, and the named datasets (``keel_csv``) besides them."""
    found = {group: [Component(group, c.name) for c in discover(group, variants=False)] for group in GROUPS}
    found["dataset"] += named("dataset")
    return found


def matrix_rows(found: Mapping[str, Sequence[Component]],
                core: Mapping[str, Sequence[str]] = CORE) -> list[dict[str, Component]]:
    """The runs of the matrix: the core pair cover, then each non-core strategy and model on
    :data:`KEEL_CSV` (the i-th new strategy beside the i-th new model, cycling the shorter list;
    ``none`` or the first core model where a group has nothing new)."""
    for group, names in core.items():
        missing = sorted(set(names) - {c.name for c in found[group]})
        if missing:
            raise LookupError(f"tests/test_matrix.py CORE names {group} {missing}, which have no conf/{group} "
                              "YAML; remove them from CORE or restore the files")
    by_id = {group: {c.id: c for c in components} for group, components in found.items()}
    core_ids = {"strategy": list(core["strategy"]), "model": list(core["model"]), "dataset": list(by_id["dataset"])}
    rows = [{group: by_id[group][name] for group, name in row.items()} for row in all_pairs(core_ids)]
    new = {group: [c for c in found[group] if c.name not in core[group]] for group in ("strategy", "model")}
    fallback = {"strategy": by_id["strategy"]["none"], "model": by_id["model"][core["model"][0]]}
    keel_csv = by_id["dataset"][KEEL_CSV]
    for i in range(max(len(new["strategy"]), len(new["model"]))):
        pick = {group: new[group][i % len(new[group])] if new[group] else fallback[group] for group in new}
        rows.append({**pick, "dataset": keel_csv})
    return sorted(rows, key=lambda row: row["dataset"].id)  # each dataset loaded once (its cache)


ROWS = matrix_rows(found_components())
#: known defects by strategy: a run that fails with this exception is an xfail, any other failure
#: still fails; a run the defect does not reach passes as XPASS (it depends on the model's scores)
KNOWN_DEFECTS: dict[str, tuple[type[BaseException], str]] = {}


def _param(row: dict[str, Component]):
    defect = KNOWN_DEFECTS.get(row["strategy"].name)
    marks = [pytest.mark.xfail(raises=defect[0], reason=defect[1], strict=False)] if defect else []
    return pytest.param(row, marks=marks, id="-".join(row[group].id for group in GROUPS))


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_strategy_model_dataset(compose, imbexp_home, row: dict[str, Component]) -> None:
    overrides = [o for group in GROUPS for o in small(compose, row[group], imbexp_home)]
    cfg = compose(*overrides, f"tracking.experiment=matrix-{row['dataset'].id}")
    strategy = build("strategy", cfg)
    if strategy.weights_rows and not models.takes_sample_weight(build("model", cfg)):
        # the pair's outcome is the capability check's one sentence, before any data is loaded
        with pytest.raises(ConfigError, match=f"takes no sample_weight in fit, and strategy {strategy.name} "
                                              "weights rows"):
            experiment(cfg)
        return
    dataset = load(cfg, row["dataset"].name)  # a dataset the tests cannot load fails here with what to add
    result = experiment(cfg)
    m = result.metrics
    if dataset.is_multiclass:
        _check_multiclass_run(cfg, dataset, strategy, result)
        return
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
    training = strategy.fit_resample(dataset.features(train), dataset.y[train], random_state=seed)
    assert m["train_rows"] == training.n_rows
    assert m["train_positive_fraction"] == pytest.approx(np.mean(training.y == 1))
    positive_weight = training.sample_weight[training.y == 1].sum() / training.sample_weight.sum()
    assert m["train_weighted_positive_fraction"] == pytest.approx(positive_weight)
    if training.indices is not None and len(training.indices) == len(train):  # every row kept
        assert m["train_positive_fraction"] == pytest.approx(np.mean(dataset.y == 1), abs=0.01)
    ratio = cfg.strategy.get("sampling_strategy")
    if isinstance(ratio, int | float) and not isinstance(ratio, bool):  # minority / majority = sampling_strategy
        assert m["train_positive_fraction"] == pytest.approx(ratio / (1 + ratio), abs=0.01)


def _check_multiclass_run(cfg, dataset, strategy, result) -> None:
    """A multi-class dataset's run: class probabilities on the untouched test part, macro
    one-vs-rest ROC-AUC as scikit-learn computes it, and the rows the strategy made."""
    m, P = result.metrics, result.test_scores
    seed = int(cfg.seed)
    split = make_split(dataset.y, cfg.split, seed)
    y_test = dataset.y[split.test]
    assert P.shape == (len(y_test), dataset.n_classes)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)
    assert m["test_roc_auc"] == pytest.approx(roc_auc_score(y_test, P, multi_class="ovr", average="macro"))
    assert m["test_roc_auc"] > 0.6, "every combination should learn something"
    strategy.bind_classes(dataset.classes)
    train = split.folds[0].train
    training = strategy.fit_resample(dataset.features(train), dataset.y[train], random_state=seed)
    assert m["train_rows"] == training.n_rows


def _pairs_met(rows: list[dict[str, Component]], first: str, second: str) -> set[tuple[str, str]]:
    return {(row[first].id, row[second].id) for row in rows}


def test_the_core_meets_every_pair_and_every_component_runs_on_the_keel_csv() -> None:
    found = found_components()
    core = {"strategy": CORE["strategy"], "model": CORE["model"], "dataset": [c.id for c in found["dataset"]]}
    assert KEEL_CSV in core["dataset"]
    for first, second in combinations(GROUPS, 2):
        expected = {(a, b) for a in core[first] for b in core[second]}
        assert expected <= _pairs_met(ROWS, first, second), (first, second)
    for group in ("strategy", "model"):
        on_keel_csv = {row[group].name for row in ROWS if row["dataset"].id == KEEL_CSV}
        assert on_keel_csv == {c.name for c in found[group]}, group
    core_runs = max(len(a) * len(b) for a, b in combinations(core.values(), 2))
    assert len(ROWS) == core_runs + _new(found)


def _new(found: Mapping[str, Sequence[Component]]) -> int:
    """How many runs the non-core components add: one per strategy or per model, whichever is more."""
    return max(len([c for c in found[group] if c.name not in CORE[group]]) for group in ("strategy", "model"))


def test_a_new_strategy_or_model_adds_at_most_one_run_not_a_row_of_pairs() -> None:
    """What new YAML files do to the matrix, without the files: each new strategy beyond the
    number of new models (and the other way round) adds one run on the KEEL CSV set."""
    found = found_components()
    before = matrix_rows(found)
    for group in ("strategy", "model"):
        extra = [Component(group, f"extra_{i}") for i in range(_new(found) + 2)]  # 2 more than the longer list
        grown = {**found, group: [*found[group], *extra]}
        rows = matrix_rows(grown)
        assert len(rows) == len(before) - _new(found) + _new(grown)
        assert len(rows) > len(before)
        assert {c.name for c in extra} <= {row[group].name for row in rows if row["dataset"].id == KEEL_CSV}
    with pytest.raises(LookupError, match="CORE names strategy"):
        matrix_rows({**found, "strategy": [c for c in found["strategy"] if c.name != "smote"]})
