"""The user's own columns in a file: row weights reach the model (times the strategy's), row costs
choose the threshold and are reported as money, groups and times make the split. Each case is a
real file and a real run; what is checked is what the model was fitted with and what was logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from components import one_sentence
from custom_models import FitRecordingBoosting

from imbexp import metrics as M
from imbexp import names
from imbexp.datasets import File, load_dataset
from imbexp.errors import ConfigError, DataError, ImbexpError
from imbexp.run import experiment
from imbexp.splits import make_split

SMALL = ("tracking.log_model=false", "metrics.bootstrap=0", "tracking.plots=false")
RECORDING = ("model=hist_gradient_boosting", "model.estimator._target_=custom_models.FitRecordingBoosting",
             "model.estimator.max_iter=10")


def _frame(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Features, a 10 % label and the four kinds of column a user brings: row weights, an amount
    at stake, customer ids and timestamps (whole hours, so times repeat)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(int)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)) + 0.8 * y[:, None], columns=[f"f{i}" for i in range(4)])
    frame["is_fraud"] = y
    frame["w"] = rng.uniform(0.2, 3.0, rows).round(3)
    frame["amount"] = rng.gamma(2.0, 60.0, rows).round(2)
    frame["customer"] = [f"c{i}" for i in rng.integers(0, 300, rows)]
    frame["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 4000, rows), unit="h")
    return frame


def _file(folder: Path, suffix: str = ".parquet", **changes) -> tuple[Path, pd.DataFrame]:
    frame = _frame()
    for column, values in changes.items():
        frame[column] = values
    path = folder / f"fraud{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    return path, frame


def _data(path: Path, *extra: str) -> list[str]:
    """A run on the file; the customer ids and times a run does not name are dropped, as a user
    would drop ids (300 text ids as a feature are too many categories for a booster)."""
    named = " ".join(extra)
    unused = [c for c in ("customer", "when") if f"={c}" not in named]
    drop = [f"dataset.drop=[{','.join(unused)}]"] if unused else []
    return ["dataset=file", f"dataset.path={path}", "dataset.target=is_fraud", *drop, *extra, *SMALL]


# ----------------------------------------------------------------- weights


@pytest.mark.parametrize("strategy, how", [
    ("strategy=none", "as they are"),
    ("strategy=downsample_upweight strategy.downsample_factor=4", "kept negatives x 4"),
    ("strategy=class_weight", "positives x negatives' weight / positives' weight"),
])
@pytest.mark.parametrize("reading", ["whole", "in batches"])
def test_the_row_weights_reach_the_model_times_the_strategys(compose, tmp_path, mlflow_client, strategy, how,
                                                             reading) -> None:
    path, frame = _file(tmp_path)
    batches = "dataset.read_in_batches=true" if reading == "in batches" else "dataset.read_in_batches=false"
    cfg = compose(*_data(path, "dataset.weight=w", batches), *strategy.split(), *RECORDING,
                  "tracking.experiment=row-weights")
    FitRecordingBoosting.fits.clear()
    result = experiment(cfg)
    (fit,) = FitRecordingBoosting.fits  # holdout: one model
    rows, y, weight = fit["index"], fit["y"], fit["sample_weight"]  # the file's row numbers
    assert np.array_equal(y, frame["is_fraud"].to_numpy()[rows])
    own = frame["w"].to_numpy()[rows]
    split = make_split(load_dataset(cfg.dataset).y, cfg.split, int(cfg.seed))
    train = split.train_all
    if how == "as they are":
        assert np.array_equal(np.sort(rows), train)
        assert np.allclose(weight, own)
    elif how == "kept negatives x 4":
        negatives = int((frame["is_fraud"].to_numpy()[train] == 0).sum())
        assert (y == 0).sum() == round(negatives / 4)  # a quarter of the negatives kept, all positives
        assert (y == 1).sum() == (frame["is_fraud"].to_numpy()[train] == 1).sum()
        assert np.allclose(weight, own * np.where(y == 0, 4.0, 1.0))  # a kept row: its weight x f
    else:
        # "balanced" weighs the classes' weight totals, not their row counts
        labels, weights = frame["is_fraud"].to_numpy()[train], frame["w"].to_numpy()[train]
        ratio = weights[labels == 0].sum() / weights[labels == 1].sum()
        assert np.allclose(weight, own * np.where(y == 1, ratio, 1.0))
    logged = result.metrics
    assert logged["train_weight_total"] == pytest.approx(weight.sum())
    assert logged["train_weighted_positive_fraction"] == pytest.approx(weight[y == 1].sum() / weight.sum())
    # valid and test are judged on the rows as they are, and the run says so
    assert mlflow_client.get_run(result.run_id).data.tags[names.ROW_WEIGHTS_TAG].startswith("training only")


def test_a_weighted_run_scores_test_unweighted_and_tags_it(compose, tmp_path, mlflow_client) -> None:
    path, frame = _file(tmp_path)
    cfg = compose(*_data(path, "dataset.weight=w"), "model.estimator.n_estimators=10", "tracking.experiment=w-eval")
    result = experiment(cfg)
    run = mlflow_client.get_run(result.run_id)
    tag = run.data.tags[names.ROW_WEIGHTS_TAG]
    assert tag.startswith("training only") and "fitted with dataset.weight='w' (times the strategy's weights)" in tag
    predictions = pd.read_parquet(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    y, p = predictions["y_true"].to_numpy(), predictions["y_score"].to_numpy()
    unweighted = M.evaluate(y, p, run.data.metrics["threshold_tuned"])
    for name in ("pr_auc", "roc_auc", "brier", "f1_tuned"):
        assert run.data.metrics[f"test_{name}"] == pytest.approx(unweighted[name])
    assert run.data.params["dataset.weight"] == "w"
    assert "w" not in load_dataset(cfg.dataset).X.columns  # a weight is not a feature


@pytest.mark.parametrize("bad, words", [
    (-1.5, "holds -1.5"), (np.nan, "holds nan"), (np.inf, "holds inf"), (0.0, "is 0 in every row"),
])
def test_a_bad_weight_is_one_sentence_naming_the_column_and_the_value(tmp_path, bad, words) -> None:
    frame = _frame(500)
    if bad == 0.0:
        frame["w"] = 0.0
    else:
        frame.loc[17, "w"] = bad
    path = tmp_path / "w.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as raised:
        File(path=str(path), target="is_fraud", weight="w").load()
    message = str(raised.value)
    assert message.startswith("dataset.weight='w' ") and words in message
    assert "finite numbers >= 0, not all 0" in message
    if bad != 0.0:
        assert "row 17" in message


# ----------------------------------------------------------------- costs


def _cost_at(y, p, amounts, threshold, cost_fp) -> float:
    """Cost of flagging the rows scored at or above ``threshold``, row by row."""
    total = 0.0
    for label, score, amount in zip(y, p, amounts, strict=True):
        if label == 1 and score < threshold:
            total += amount
        elif label == 0 and score >= threshold:
            total += cost_fp
    return total


def test_the_min_cost_threshold_is_the_cheapest_of_every_threshold() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.2).astype(int)
    p = np.round(np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1), 2)  # rounded: many tied scores
    amounts = rng.gamma(2.0, 50.0, 400)
    for cost_fp in (0.5, 20.0, 500.0):
        chosen = M.tune_threshold(y, p, "min_cost", cost_fp=cost_fp, fn_cost=amounts)
        candidates = [*np.unique(p), 1.0 + 1e-9]
        costs = [_cost_at(y, p, amounts, t, cost_fp) for t in candidates]
        assert _cost_at(y, p, amounts, chosen, cost_fp) == pytest.approx(min(costs))
        cheapest = max(t for t, c in zip(candidates, costs, strict=True) if c == pytest.approx(min(costs)))
        assert chosen == pytest.approx(cheapest)  # ties: the highest threshold
    # a false alarm dearer than every amount at stake: flag no negative (only the positives scored
    # above every negative, which cost nothing to flag)
    dear = M.tune_threshold(y, p, "min_cost", cost_fp=1e9, fn_cost=amounts)
    assert not np.any((p >= dear) & (y == 0)) and dear > p[y == 0].max()
    assert M.tune_threshold(np.r_[y, 0], np.r_[p, 1.0], "min_cost", cost_fp=1e9, fn_cost=np.r_[amounts, 0]) > 1.0
    # one cost for every positive is the constant-cost rule (threshold.cost_fn), as before
    for cost_fp, cost_fn in ((1.0, 10.0), (3.0, 1.0)):
        assert M.tune_threshold(y, p, "min_cost", cost_fp=cost_fp, fn_cost=np.full(400, cost_fn)) == \
            pytest.approx(M.tune_threshold(y, p, "min_cost", cost_fp=cost_fp, cost_fn=cost_fn))


def test_a_cost_column_chooses_the_threshold_and_the_run_reports_money(compose, tmp_path, mlflow_client,
                                                                       capsys) -> None:
    path, frame = _file(tmp_path, ".csv")
    cfg = compose(*_data(path, "dataset.cost=amount"), "threshold.rule=min_cost", "threshold.cost_fp=5",
                  "model.estimator.n_estimators=10", "tracking.experiment=money")
    result = experiment(cfg)
    logged = mlflow_client.get_run(result.run_id).data.metrics
    split = make_split(load_dataset(cfg.dataset).y, cfg.split, int(cfg.seed))
    predictions = pd.read_parquet(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    y, p = predictions["y_true"].to_numpy(), predictions["y_score"].to_numpy()
    amounts = frame["amount"].to_numpy()[split.test]
    assert np.array_equal(y, frame["is_fraud"].to_numpy()[split.test])
    threshold = logged["threshold_tuned"]
    cost = _cost_at(y, p, amounts, threshold, 5.0)
    at_stake = amounts[y == 1].sum()
    assert logged["test_cost"] == pytest.approx(cost)
    assert logged["test_cost_flag_none"] == pytest.approx(at_stake)
    assert logged["test_cost_saved"] == pytest.approx(at_stake - cost)
    assert logged["test_cost_saved_share"] == pytest.approx((at_stake - cost) / at_stake)
    assert logged["test_cost_missed"] + logged["test_cost_false_alarms"] == pytest.approx(cost)
    for name in M.COST_METRICS:
        assert f"valid_{name}" in logged
    assert logged["valid_cost"] <= logged["valid_cost_flag_none"] + 1e-9  # flagging nobody was a candidate
    assert "amount" in load_dataset(cfg.dataset).X.columns  # the amount stays a feature
    out = capsys.readouterr().out
    assert f"money (dataset.cost='amount', 5 per false alarm): test cost {cost:,.2f} at the tuned threshold" in out
    assert f"saved {at_stake - cost:,.2f} of {at_stake:,.2f}" in out
    tags = mlflow_client.get_run(result.run_id).data.tags
    assert "threshold.cost_fn is not used" in tags[names.ROW_COSTS_TAG]


def test_min_cost_without_a_cost_column_works_as_before(compose, tmp_path) -> None:
    path, _ = _file(tmp_path)
    base = [*_data(path), "threshold.rule=min_cost", "model.estimator.n_estimators=10", "tracking.experiment=nocost"]
    result = experiment(compose(*base))
    assert not any(key.endswith("_cost") or "_cost_" in key for key in result.metrics)
    assert 0 < result.metrics["threshold_tuned"] <= 1.0 + 1e-9
    # the money objective needs the column: one sentence before any data is read
    with pytest.raises(ConfigError, match=r"objective.metric=cost_saved needs dataset.cost, .* "
                                          r"set dataset.cost=COLUMN"):
        experiment(compose(*base, "objective.metric=cost_saved"))


def test_a_sweep_can_optimise_money(compose, tmp_path) -> None:
    path, _ = _file(tmp_path)
    result = experiment(compose(*_data(path, "dataset.cost=amount"), "threshold.rule=min_cost",
                                "objective.metric=cost", "model.estimator.n_estimators=10",
                                "tracking.experiment=cost-objective"))
    assert result.objective.directions == ("minimize",)
    assert result.value == pytest.approx(result.metrics["valid_cost"])


# ----------------------------------------------------------------- splits in a run


@pytest.mark.smoke
def test_split_by_group_and_by_time_in_a_run(compose, tmp_path, mlflow_client) -> None:
    path, frame = _file(tmp_path, ".csv")  # a CSV: the times are ISO text there
    for split, column in (("group", "customer"), ("time", "when")):
        cfg = compose(*_data(path, f"dataset.{split}={column}"), f"split={split}", "model.estimator.n_estimators=10",
                      f"tracking.experiment=split-{split}")
        result = experiment(cfg)
        tags = mlflow_client.get_run(result.run_id).data.tags
        assert tags["split"] == split
        assert tags[names.SPLIT_PARTS_TAG].startswith("train ")
        dataset = load_dataset(cfg.dataset)
        assert column not in dataset.X.columns  # group ids and times are not features
        parts = make_split(dataset.y, cfg.split, 0, group=dataset.group, time=dataset.time)
        values = frame[column].to_numpy()
        if split == "group":
            assert not set(values[parts.test]) & set(values[parts.train_all])
        else:
            assert values[parts.train_all].max() < values[parts.folds[0].valid].min()
            assert values[parts.folds[0].valid].max() < values[parts.test].min()
        assert result.metrics["train_rows"] == len(parts.train_all)


# ----------------------------------------------------------------- one sentence for each mistake


BAD_COLUMNS = {
    "not a column": (("dataset.weight=amt",), ["dataset.weight='amt' is not a column of", "close names: 'amount'",
                                               "use one of its columns: f0, f1"]),
    "the label": (("dataset.cost=is_fraud",), ["dataset.cost='is_fraud' is the label column (dataset.target)"]),
    "split without its column": (("split=group",), ["split=group needs dataset.group",
                                                    "dataset.group=null: use dataset.group=COLUMN"]),
    "times that are text": (("split=time", "dataset.time=customer"), ["dataset.time='customer' holds 'c",
                                                                     "neither a date nor a number"]),
    "costs that are dates": (("dataset.cost=when",), ["dataset.cost='when' holds '2024-",
                                                      "use a column of finite numbers >= 0"]),
    "weights for a model that takes none": (
        ("dataset.weight=w", "model=logistic_regression", "~model.estimator.estimator.C",
         "~model.estimator.estimator.max_iter",
         "model.estimator.estimator._target_=sklearn.neighbors.KNeighborsClassifier"),
        ["dataset.weight='w' weights the training rows, and model.estimator KNeighborsClassifier takes no "
         "sample_weight in fit"]),
}


@pytest.mark.parametrize("case", list(BAD_COLUMNS))
def test_a_bad_column_is_one_sentence(compose, tmp_path, case) -> None:
    overrides, words = BAD_COLUMNS[case]
    path, _ = _file(tmp_path, ".csv")
    with pytest.raises(ImbexpError) as raised:
        experiment(compose(*_data(path, *overrides), "tracking.experiment=columns-refused"))
    sentence = str(raised.value)
    assert "\n" not in sentence
    for word in words:
        assert word in sentence, sentence


def test_a_bad_column_stops_the_command_with_one_sentence(run_cli, tmp_path) -> None:
    """As the user sees it: exit 2, one line, no traceback (the in-process cases above check the words)."""
    path, _ = _file(tmp_path, ".csv")
    sentence = one_sentence(run_cli(*_data(path, "dataset.group=custmer", "split=group"),
                                    "tracking.experiment=columns-refused"))
    assert "dataset.group='custmer' is not a column of" in sentence and "close names: 'customer'" in sentence


def test_a_source_without_the_column_says_which_sources_have_it(compose) -> None:
    for split in ("group", "time"):
        with pytest.raises(ConfigError, match=rf"split={split} needs dataset.{split}, .* the dataset has none; "
                                              rf"use dataset=file with dataset.{split}=COLUMN"):
            experiment(compose(f"split={split}", "dataset.rows=2000", "model.estimator.n_estimators=10", *SMALL))


def test_a_users_loader_can_bring_the_columns_and_is_checked_the_same(tmp_path) -> None:
    from imbexp.datasets import Dataset

    X, y = pd.DataFrame({"x": np.arange(6.0)}), np.array([0, 1, 0, 1, 0, 0])
    data = Dataset(name="mine", X=X, y=y, weight=[1, 2, 1, 2, 1, 1], cost=np.arange(6), group=list("aabbcc"),
                   time=["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"])
    assert data.weight.dtype == np.float64 and data.time.dtype == np.dtype("datetime64[ns]")
    with pytest.raises(DataError, match=r"^dataset 'mine': Dataset.weight holds -1 \(row 2, one of 1 such rows\)"):
        Dataset(name="mine", X=X, y=y, weight=[1, 1, -1, 1, 1, 1])
    with pytest.raises(DataError, match=r"^dataset 'mine': Dataset.cost has shape \(3,\) for 6 labels"):
        Dataset(name="mine", X=X, y=y, cost=[1, 2, 3])


@pytest.mark.parametrize("strategy", ["strategy=oversample", "strategy=smote", "strategy=tomek_links"])
def test_the_row_weights_reach_the_model_through_resampling_strategies(compose, tmp_path, strategy) -> None:
    """Rows a sampler keeps or repeats carry their own weight; a synthetic row its class's mean weight.

    Each fitted row is matched to the training row it came from by its feature values (normal
    draws: no two rows of the file share them), so weights moved between rows would fail."""
    path, frame = _file(tmp_path)
    cfg = compose(*_data(path, "dataset.weight=w", "dataset.read_in_batches=false"), strategy, *RECORDING,
                  "tracking.experiment=row-weights-resampled")
    FitRecordingBoosting.fits.clear()
    experiment(cfg)
    (fit,) = FitRecordingBoosting.fits
    y, weight = fit["y"], fit["sample_weight"]
    dataset = load_dataset(cfg.dataset)
    split = make_split(dataset.y, cfg.split, int(cfg.seed))
    own_y, own_w = frame["is_fraud"].to_numpy()[split.train_all], frame["w"].to_numpy()[split.train_all]
    features = [f"f{i}" for i in range(4)]

    def keys(X: pd.DataFrame) -> list[tuple]:
        return list(X[features].astype(np.float64).itertuples(index=False, name=None))

    position = {key: i for i, key in enumerate(keys(dataset.X.iloc[split.train_all]))}
    assert len(position) == len(split.train_all)  # the values name one row each
    source = np.array([position.get(key, -1) for key in keys(fit["X"])])
    real = source >= 0
    np.testing.assert_array_equal(y[real], own_y[source[real]])
    np.testing.assert_array_equal(weight[real], own_w[source[real]])  # each real row its own weight
    if strategy == "strategy=smote":  # every input row once, then synthetic rows at their class's mean
        assert sorted(source[real]) == list(range(len(own_y)))
        assert (~real).sum() > 0 and np.all(y[~real] == 1)
        np.testing.assert_allclose(weight[~real], own_w[own_y == 1].mean())
    else:  # rows only kept (tomek_links) or repeated (oversample): none made up
        assert real.all()
    if strategy == "strategy=tomek_links":
        assert len(set(source)) == len(source) < len(own_y)  # removed, never repeated
    if strategy == "strategy=oversample":  # every row at least once, positives repeated up to balance
        assert set(source) == set(range(len(own_y)))
        assert (y == 1).sum() == (y == 0).sum()
