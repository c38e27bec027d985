"""Read in batches, valid and test are predicted batch by batch (only their labels and scores
are kept), with the metrics of a run that reads the file whole; ``dataset.eval_sample`` scores
a stratified sample of them instead, and the run says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imbexp import datasets
from imbexp.run import EVAL_SAMPLE_TAG, build_strategy, experiment
from imbexp.splits import make_split

ROWS = 30_000


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory) -> str:
    """Float32 features, 2 % positives, in row groups of 4,000 (batches of 1,000 cut across them)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((ROWS, 8)).astype(np.float32)
    y = rng.random(ROWS) < 1 / (1 + np.exp(-(X[:, 0] + X[:, 1] - 4.2)))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["label"] = y.astype(np.int8)
    path = tmp_path_factory.mktemp("stream") / "events.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=4_000)
    return str(path)


def _data(path: str, batches: bool, *extra: str) -> list[str]:
    return ["dataset=file", f"dataset.path={path}", "dataset.target=label", "dataset.positive_label=1",
            f"dataset.read_in_batches={str(batches).lower()}", "dataset.batch_rows=1000", *extra]


COMMON = ["strategy=downsample_upweight", "strategy.downsample_factor=10", "model.estimator.n_estimators=15",
          "metrics.bootstrap=30", "tracking.plots=false", "tracking.experiment=streaming"]


def _logged(client, run_id: str) -> dict[str, float]:
    metrics = client.get_run(run_id).data.metrics
    return {k: v for k, v in metrics.items() if not k.startswith("seconds_") and k != "fit_seconds"}


@pytest.mark.parametrize("split", [["split=holdout"], ["split=cv", "split.n_splits=3"]], ids=["holdout", "cv"])
def test_predicting_valid_and_test_batch_by_batch_logs_the_metrics_of_a_whole_read(
        compose, mlflow_client, parquet_file, split) -> None:
    streamed_cfg = compose(*_data(parquet_file, True), *COMMON, *split, "calibration=isotonic")
    source = datasets.source_of(streamed_cfg.dataset)
    assert datasets.reads_in_batches(source, build_strategy(streamed_cfg.strategy)) and source.streams_predictions()
    streamed = experiment(streamed_cfg)
    whole = experiment(compose(*_data(parquet_file, False), *COMMON, *split, "calibration=isotonic"))

    mine, theirs = _logged(mlflow_client, streamed.run_id), _logged(mlflow_client, whole.run_id)
    assert set(mine) == set(theirs) and "test_pr_auc_ci_low" in mine and "test_uncalibrated_ece" in mine
    for name, value in theirs.items():
        np.testing.assert_allclose(mine[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(streamed.test_scores, whole.test_scores, rtol=1e-9, atol=1e-12)
    artifact = "predictions/test.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(mlflow_client.download_artifacts(streamed.run_id, artifact)),
                                  pd.read_parquet(mlflow_client.download_artifacts(whole.run_id, artifact)))


def test_the_rows_held_in_memory_are_the_kept_training_rows_only(compose, parquet_file) -> None:
    from imbexp.run import _rows_used

    cfg = compose(*_data(parquet_file, True), *COMMON)
    strategy = build_strategy(cfg.strategy)
    labels = datasets.load_dataset(cfg.dataset, labels_only=True)
    split = make_split(labels.y, cfg.split, 0)
    kept = _rows_used(split, strategy, labels, 0, evaluated=False)
    assert np.isin(kept, split.train_all).all()
    assert kept.size < 0.2 * ROWS  # f=10 on the training part: its positives and a tenth of the rest
    everything = _rows_used(split, strategy, labels, 0)
    assert np.isin(split.test, everything).all() and everything.size > kept.size + split.test.size


def test_the_batches_reach_the_model_as_the_whole_read_gives_them(tmp_path) -> None:
    """Integers with gaps, booleans and timestamps are converted as reading those rows with the
    training rows would (:meth:`File.read_rows`), and each part's rows come back in the order
    asked, however the batches cut them."""
    rng = np.random.default_rng(3)
    n = 5_000
    frame = pd.DataFrame({
        "amount": rng.gamma(2.0, 10.0, n),
        "count": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 9, n)), dtype="Int64"),
        "flag": rng.random(n) < 0.3,
        "seen": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        "label": (rng.random(n) < 0.1).astype(int)})
    path = tmp_path / "mixed.parquet"
    frame.to_parquet(path, index=False, row_group_size=1_300)
    source = datasets.File(path=str(path), target="label", read_in_batches=True, batch_rows=1000)
    assert source.streams_predictions()
    whole = source.load()
    labels = source.load_labels()
    training = np.arange(0, n, 4)
    read = source.read_rows(labels, training)
    shown: list[pd.DataFrame] = []

    def record(X: pd.DataFrame) -> np.ndarray:
        shown.append(X)
        return X["amount"].to_numpy(dtype=np.float64)

    wanted = rng.permutation(np.setdiff1d(np.arange(n), training))[:1_500]  # unsorted, across every batch
    (scores,) = source.predict_rows(read, [(wanted, record)])
    np.testing.assert_array_equal(scores, whole.X["amount"].to_numpy(dtype=np.float64)[wanted])
    seen = pd.concat(shown).sort_index()
    expected = source.read_rows(labels, np.union1d(training, wanted)).features(np.sort(wanted))
    pd.testing.assert_frame_equal(seen, expected, check_categorical=False)
    assert (seen.dtypes == read.X.dtypes).all()
    assert list(seen["flag"].cat.categories) == list(read.X["flag"].cat.categories)


def test_a_text_column_keeps_valid_and_test_read_with_the_training_rows(compose, mlflow_client, tmp_path) -> None:
    """A text column's categories come from all the rows read, which a batch cannot see: such a
    file is read as before, and its run still gives the whole read's metrics."""
    rng = np.random.default_rng(4)
    n = 6_000
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 10.0, n), "country": rng.choice(["fr", "de", "it"], n),
                          "label": (rng.random(n) < 0.08).astype(int)})
    path = tmp_path / "text.parquet"
    frame.to_parquet(path, index=False)
    source = datasets.File(path=str(path), target="label", read_in_batches=True)
    assert not source.streams_predictions()
    common = ["dataset=file", f"dataset.path={path}", "dataset.target=label", "dataset.batch_rows=1000", *COMMON]
    batched = experiment(compose(*common, "dataset.read_in_batches=true"))
    whole = experiment(compose(*common, "dataset.read_in_batches=false"))
    for name, value in _logged(mlflow_client, whole.run_id).items():
        assert _logged(mlflow_client, batched.run_id)[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


# ----------------------------------------------------------------- dataset.eval_sample


@pytest.mark.parametrize("batches", [True, False], ids=["in batches", "whole"])
@pytest.mark.parametrize("sample", ["0.25", "1500"])
def test_a_stratified_sample_of_valid_and_test_is_scored_and_the_run_says_so(
        compose, mlflow_client, parquet_file, capsys, batches, sample) -> None:
    cfg = compose(*_data(parquet_file, batches, f"dataset.eval_sample={sample}"), *COMMON)
    result = experiment(cfg)
    full = make_split(datasets.load_dataset(cfg.dataset, labels_only=True).y, cfg.split, int(cfg.seed))
    y = datasets.load_dataset(cfg.dataset, labels_only=True).y

    scored = pd.read_parquet(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    wanted = round(0.25 * full.test.size) if sample == "0.25" else 1500
    assert len(scored) == wanted
    for label in (0, 1):  # each class's share of the full test part, within rounding
        share = np.mean(y[full.test] == label)
        assert abs(int((scored["y_true"] == label).sum()) - share * wanted) <= 1, label

    valid_n = round(0.25 * full.folds[0].valid.size) if sample == "0.25" else 1500
    tag = mlflow_client.get_run(result.run_id).data.tags[EVAL_SAMPLE_TAG]
    assert f"{valid_n:,} of {full.folds[0].valid.size:,} valid rows" in tag
    assert f"{wanted:,} of {full.test.size:,} test rows" in tag
    out = capsys.readouterr().out
    assert f"  evaluated on a stratified sample (dataset.eval_sample={sample}): {valid_n:,} of" in out


def test_the_sample_is_the_same_read_in_batches_or_whole(compose, parquet_file) -> None:
    batched = experiment(compose(*_data(parquet_file, True, "dataset.eval_sample=0.3"), *COMMON))
    whole = experiment(compose(*_data(parquet_file, False, "dataset.eval_sample=0.3"), *COMMON))
    np.testing.assert_allclose(batched.test_scores, whole.test_scores, rtol=1e-9)
    assert batched.metrics["valid_pr_auc"] == pytest.approx(whole.metrics["valid_pr_auc"], rel=1e-9)


@pytest.mark.parametrize("value, allowed", [
    ("0", "use null to score every valid and test row, a fraction in (0, 1], or a number of rows >= 2"),
    ("1.5", "a fraction in (0, 1]"),
    ("all", "a number of rows >= 2"),
    ("3", "keeps no row of class 1 in the valid part"),
])
def test_a_bad_sample_is_one_sentence(run_cli, parquet_file, value, allowed) -> None:
    done = run_cli(*_data(parquet_file, False, f"dataset.eval_sample={value}"), "tracking.plots=false",
                   "model.estimator.n_estimators=5", "metrics.bootstrap=0")
    assert done.returncode != 0
    assert f"dataset.eval_sample={value!r}" in done.stderr or f"dataset.eval_sample={value}" in done.stderr
    assert allowed in done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------- the split, in little memory


@pytest.mark.parametrize("n, classes, share, seed", [(1_000, 2, 0.2, 0), (12_345, 3, 0.25, 7), (50_001, 2, 0.1, 3),
                                                    (777, 5, 0.5, 11)])
def test_the_lean_stratified_split_gives_sklearns_rows_in_sklearns_order(n, classes, share, seed) -> None:
    from sklearn.model_selection import train_test_split

    from imbexp.splits import stratified_split_off

    rng = np.random.default_rng(n)
    y = rng.integers(0, classes, n).astype(np.int8)
    positions = np.sort(rng.choice(10 * n, n, replace=False))
    for given, expected_rows in ((positions, positions), (None, np.arange(n))):
        expected = train_test_split(expected_rows, test_size=share, stratify=y, random_state=seed)
        found = stratified_split_off(given, y, share, seed)
        for mine, theirs in zip(found, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs)
            # the given positions' own dtype; positions of their own are int32 below 2**31 rows
            assert mine.dtype == (np.int64 if given is not None else np.int32)


def test_a_sample_a_part_cannot_give_is_one_sentence() -> None:
    from imbexp.errors import ConfigError
    from imbexp.run import _eval_sample

    y = np.zeros(600, dtype=np.int8)
    y[:3] = 1  # one positive in each of train, valid and test: a class of one row cannot be stratified
    split = make_split(y, {"kind": "holdout", "valid_size": 0.2, "test_size": 0.2}, seed=0)
    with pytest.raises(ConfigError, match=r"dataset.eval_sample=0.5 cannot be drawn from the 120 valid rows .*"
                                          r"dataset.eval_sample=null"):
        _eval_sample(split, y, 0.5, 0)


def test_how_a_file_is_read_and_keys_newer_runs_log_at_their_old_meaning_do_not_stop_pairing(mlflow_client) -> None:
    from imbexp.compare import _identity

    experiment_id = mlflow_client.create_experiment("pairing-keys")
    common = {"dataset.path": "events.parquet", "model.name": "lightgbm", "seed": "0"}

    def run(**params: str):
        created = mlflow_client.create_run(experiment_id)
        for key, value in {**common, **params}.items():
            mlflow_client.log_param(created.info.run_id, key, value)
        return mlflow_client.get_run(created.info.run_id)

    older = run(**{"dataset.batch_rows": "1000000", "strategy.name": "none"})
    newer = run(**{"dataset.batch_rows": "250000", "dataset.read_in_batches": "true", "dataset.eval_sample": "null",
                   "threshold.multiclass": "argmax", "strategy.name": "downsample"})
    sampled = run(**{"dataset.eval_sample": "0.5"})
    assert _identity(older) == _identity(newer)
    assert _identity(sampled) != _identity(older)  # a sample scores other rows: another experiment
