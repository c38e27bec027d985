"""Reading a Parquet file in batches keeps exactly the rows, the split and the metrics of
reading it whole with the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imbexp import datasets
from imbexp.errors import ConfigError, DataError
from imbexp.run import build_strategy, experiment
from imbexp.splits import make_split

ROWS = 12_000


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory) -> str:
    """Float64 features written in several row groups, 3 % positives, labels as text."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((ROWS, 6))
    y = rng.random(ROWS) < 1 / (1 + np.exp(-(X[:, 0] + X[:, 1] - 4.5)))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame.insert(3, "label", np.where(y, "fraud", "ok"))
    frame["row_id"] = np.arange(ROWS)
    path = tmp_path_factory.mktemp("scale") / "events.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=2_500)
    return str(path)


def _dataset_overrides(path: str, batches: bool) -> list[str]:
    return ["dataset=file", f"dataset.path={path}", "dataset.target=label", "dataset.positive_label=fraud",
            "dataset.drop=[row_id]", f"dataset.read_in_batches={str(batches).lower()}", "dataset.batch_rows=1000"]


@pytest.mark.parametrize("strategy", ["downsample_upweight", "downsample", "class_weight", "none"])
def test_batches_keep_the_rows_of_in_memory_sampling(compose, parquet_file, strategy) -> None:
    cfg = compose(*_dataset_overrides(parquet_file, True), f"strategy={strategy}")
    chosen = build_strategy(cfg.strategy)
    assert datasets.reads_in_batches(cfg.dataset, chosen)
    whole = datasets.load_dataset(cfg.dataset)
    labels = datasets.load_dataset(cfg.dataset, labels_only=True)
    np.testing.assert_array_equal(labels.y, whole.y)
    assert list(labels.X.columns) == list(whole.X.columns) and len(labels.X) == 0

    split, whole_split = make_split(labels.y, cfg.split, 0), make_split(whole.y, cfg.split, 0)
    for mine, theirs in zip((split.train_all, split.test, split.folds[0].valid),
                            (whole_split.train_all, whole_split.test, whole_split.folds[0].valid), strict=True):
        np.testing.assert_array_equal(mine, theirs)

    train = split.train_all
    selection = chosen.select_rows(labels.y[train], random_state=0)
    in_memory = chosen.fit_resample(whole.X.iloc[train], whole.y[train], random_state=0)
    np.testing.assert_array_equal(selection.indices, in_memory.indices)
    np.testing.assert_array_equal(selection.sample_weight, in_memory.sample_weight)

    kept = train[selection.indices]
    rows = np.concatenate([kept, split.test, split.folds[0].valid])
    read = datasets.read_rows(cfg.dataset, labels, rows)
    assert len(read.X) == len(np.unique(rows)) <= ROWS
    pd.testing.assert_frame_equal(read.features(kept), in_memory.X)
    pd.testing.assert_frame_equal(read.features(split.test), whole.X.iloc[split.test])
    assert (read.X.dtypes == np.float32).all()
    unread = np.setdiff1d(np.arange(ROWS), rows)[:3]
    if unread.size:
        with pytest.raises(DataError, match="not read"):
            read.features(unread)


def test_a_run_read_in_batches_gives_the_metrics_of_a_run_read_whole(compose, parquet_file) -> None:
    common = ["strategy=downsample_upweight", "strategy.downsample_factor=8", "model.estimator.n_estimators=20",
              "metrics.bootstrap=20", "tracking.plots=false", "tracking.experiment=scale"]
    batched = experiment(compose(*_dataset_overrides(parquet_file, True), *common))
    whole = experiment(compose(*_dataset_overrides(parquet_file, False), *common))
    for name, value in whole.metrics.items():
        if name != "fit_seconds":
            assert batched.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    np.testing.assert_array_equal(batched.test_scores, whole.test_scores)


def test_auto_reads_small_files_whole_and_true_refuses_synthesising_strategies(compose, parquet_file) -> None:
    auto = compose(*_dataset_overrides(parquet_file, True), "dataset.read_in_batches=auto",
                   "strategy=downsample_upweight")
    assert not datasets.reads_in_batches(auto.dataset, build_strategy(auto.strategy))  # below the size
    smote = compose(*_dataset_overrides(parquet_file, True), "strategy=smote")
    with pytest.raises(ConfigError, match="read_in_batches=true needs a strategy"):
        datasets.reads_in_batches(smote.dataset, build_strategy(smote.strategy))


def test_columns_other_than_floats_come_through_as_when_read_whole(compose, tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 3000
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 10.0, n), "count": rng.integers(0, 9, n),
                          "country": rng.choice(["fr", "de", "it"], n), "label": (rng.random(n) < 0.1).astype(int)})
    frame.loc[::7, "amount"] = np.nan
    path = tmp_path / "mixed.parquet"
    frame.to_parquet(path, index=False, row_group_size=700)
    cfg = compose("dataset=file", f"dataset.path={path}", "dataset.target=label", "dataset.batch_rows=1000")
    whole = datasets.load_dataset(cfg.dataset)
    labels = datasets.load_dataset(cfg.dataset, labels_only=True)
    rows = np.arange(0, n, 3)
    read = datasets.read_rows(cfg.dataset, labels, rows)
    pd.testing.assert_frame_equal(read.features(rows), whole.X.iloc[rows])
    assert read.categorical_columns == whole.categorical_columns == ["country"]
