"""Every dataset found in conf/dataset loads as one protocol says; bad files fail with one clear sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from components import Component, load, parametrize_with_checks, small, small_dataset

from imbexp import datasets
from imbexp.errors import ConfigError, DataError


@pytest.mark.parametrize(("share", "degree"), [(0.005, "extreme"), (0.05, "moderate"), (0.3, "mild"),
                                               (0.45, "balanced")])
def test_degree_of_imbalance(share: float, degree: str) -> None:
    assert datasets.degree_of_imbalance(share) == degree


def test_synthetic_has_the_asked_minority_share() -> None:
    data = datasets.synthetic(rows=20_000, features=6, informative=3, minority_fraction=0.01)
    assert data.X.shape == (20_000, 6)
    assert data.X.dtypes.unique().tolist() == [np.float32]
    assert data.minority_fraction == pytest.approx(0.01, abs=0.001)
    assert data.degree == "moderate"


def test_known_prob_keeps_the_true_probability() -> None:
    data = datasets.known_prob(rows=100_000, minority_fraction=0.01)
    assert data.p_true is not None and data.p_true.shape == (100_000,)
    assert data.p_true.mean() == pytest.approx(0.01, rel=0.01)
    assert data.y.mean() == pytest.approx(0.01, rel=0.1)
    # labels really follow p_true: the rows with the top 1 % of p_true are far more often positive
    top = data.p_true >= np.quantile(data.p_true, 0.99)
    assert data.y[top].mean() > 10 * data.y.mean()


def test_breast_cancer_positive_is_malignant() -> None:
    data = datasets.breast_cancer()
    assert data.n_rows == 569 and int(data.y.sum()) == 212 and data.degree == "mild"


def test_keel_by_name_and_suggestions() -> None:
    assert len(datasets.keel_names()) > 100
    data = datasets.keel("abalone19")
    assert data.n_rows == 4174 and int(data.y.sum()) == 32 and data.degree == "extreme"
    with pytest.raises(ConfigError, match=r"dataset.name='abalone_19'.*did you mean abalone19"):
        datasets.keel("abalone_19")


@pytest.fixture
def churn(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 60, n),
        "plan": rng.choice(["basic", "pro"], n),
        "charges": rng.normal(50, 10, n),
        "label": np.where(rng.random(n) < 0.15, "churned", "stayed"),
    })
    csv, parquet = tmp_path / "churn.csv", tmp_path / "churn.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    return frame, csv, parquet


def test_file_reads_csv_and_parquet_with_string_labels(churn) -> None:
    frame, csv, parquet = churn
    for path in (csv, parquet):
        data = datasets.file(path=str(path), target="label", positive_label="churned")
        assert data.n_rows == len(frame) and data.n_features == 3
        assert int(data.y.sum()) == int((frame["label"] == "churned").sum())
        assert data.categorical_columns == ["plan"]
        assert data.name == "churn"
    default = datasets.file(path=str(csv), target="label")  # positive = the minority class
    assert default.positive_label == "churned"


def test_numeric_positive_label_matches_text_and_numbers(tmp_path) -> None:
    path = tmp_path / "fraud.csv"
    pd.DataFrame({"amount": [1.0, 2, 3, 4, 5, 6], "is_fraud": [0, 1, 0, 0, 1, 0]}).to_csv(path, index=False)
    assert int(datasets.file(path=str(path), target="is_fraud", positive_label=1).y.sum()) == 2
    assert int(datasets.file(path=str(path), target="is_fraud", positive_label="1").y.sum()) == 2


def test_file_errors_are_one_sentence(tmp_path, churn) -> None:
    _, csv, _ = churn
    with pytest.raises(DataError, match=r"dataset.path='.*missing.csv' does not exist"):
        datasets.file(path=str(tmp_path / "missing.csv"), target="label")
    with pytest.raises(DataError, match=r"dataset.target='churn' is not a column.*columns: tenure, plan"):
        datasets.file(path=str(csv), target="churn")
    with pytest.raises(ConfigError, match=r"dataset.positive_label='gone' does not occur"):
        datasets.file(path=str(csv), target="label", positive_label="gone")
    three = tmp_path / "three.csv"
    pd.DataFrame({"x": range(6), "y": ["a", "b", "c", "a", "b", "c"]}).to_csv(three, index=False)
    with pytest.raises(ConfigError, match=r"has 3 classes.*set dataset.positive_label"):
        datasets.file(path=str(three), target="y")
    one = tmp_path / "one.csv"
    pd.DataFrame({"x": range(4), "y": [1, 1, 1, 1]}).to_csv(one, index=False)
    with pytest.raises(DataError, match="single class"):
        datasets.file(path=str(one), target="y")
    nan = tmp_path / "nan.csv"
    pd.DataFrame({"x": range(4), "y": [1, None, 0, 0]}).to_csv(nan, index=False)
    with pytest.raises(DataError, match="1 missing labels"):
        datasets.file(path=str(nan), target="y")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match="cannot be read"):
        datasets.file(path=str(bad), target="y")


def test_drop_takes_one_column_or_a_list_and_must_leave_features(tmp_path) -> None:
    path = tmp_path / "ids.csv"
    pd.DataFrame({"id": range(6), "amount": [1.0, 2, 3, 4, 5, 6], "y": [0, 1, 0, 0, 1, 0]}).to_csv(path, index=False)
    assert datasets.file(path=str(path), target="y", drop="id").X.columns.tolist() == ["amount"]
    with pytest.raises(ConfigError, match=r"dataset.drop=\['id', 'amount'\] leaves no feature columns"):
        datasets.file(path=str(path), target="y", drop=["id", "amount"])


# --------------------------------------------------------------------------- every dataset YAML

def check_labels_are_binary(dataset: datasets.Dataset) -> None:
    assert isinstance(dataset.y, np.ndarray) and dataset.y.ndim == 1
    assert np.issubdtype(dataset.y.dtype, np.integer)
    assert set(np.unique(dataset.y).tolist()) == {0, 1}, "labels are 0/1 and both classes occur"


def check_features_are_a_frame_of_the_rows(dataset: datasets.Dataset) -> None:
    X = dataset.X
    assert isinstance(X, pd.DataFrame) and len(X) == len(dataset.y) and dataset.n_features == X.shape[1] >= 1
    assert set(dataset.categorical_columns) <= set(X.columns)
    assert all(isinstance(X[c].dtype, pd.CategoricalDtype) for c in dataset.categorical_columns)
    rows = np.arange(0, len(dataset.y), 7)
    pd.testing.assert_frame_equal(dataset.features(rows), X.iloc[rows])
    if dataset.p_true is not None:
        assert dataset.p_true.shape == dataset.y.shape
        assert np.all((dataset.p_true >= 0) & (dataset.p_true <= 1))


def check_summary_reports_size_and_imbalance(dataset: datasets.Dataset) -> None:
    summary = dataset.summary()
    assert {"dataset_rows", "dataset_features", "dataset_positives", "dataset_minority_fraction",
            "dataset_degree"} <= set(summary)
    assert summary["dataset_rows"] == len(dataset.y) and summary["dataset_features"] == dataset.X.shape[1]
    assert summary["dataset_positives"] == int(dataset.y.sum())
    assert 0 < summary["dataset_minority_fraction"] <= 0.5
    assert summary["dataset_degree"] == datasets.degree_of_imbalance(summary["dataset_minority_fraction"])
    assert isinstance(dataset.name, str) and dataset.name


DATASET_CHECKS = [
    check_labels_are_binary,
    check_features_are_a_frame_of_the_rows,
    check_summary_reports_size_and_imbalance,
]


@parametrize_with_checks("dataset", DATASET_CHECKS)
def test_dataset_protocol(compose, imbexp_home, component: Component, check) -> None:
    """Every dataset in conf/dataset, at its small setting, through the same checks."""
    cfg = compose(*small(compose, component, imbexp_home))
    check(load(cfg, component.name))


def test_a_dataset_that_needs_inputs_says_what_to_add(compose, imbexp_home, monkeypatch) -> None:
    import components

    monkeypatch.delitem(components.DATASET_INPUTS, "file")
    cfg = compose(*small(compose, Component("dataset", "file"), imbexp_home))
    with pytest.raises(pytest.fail.Exception, match=r"conf/dataset/file.yaml does not load in the tests .*"
                                                    r"DATASET_INPUTS\['file'\]"):
        load(cfg, "file")
    large = compose("dataset=synthetic", "dataset.rows=40000", "dataset.features=2", "dataset.informative=2")
    with pytest.raises(pytest.fail.Exception, match=r"loads 40,000 rows, more than the shared tests' 30,000"):
        load(large, "synthetic")


def test_generated_datasets_are_shrunk_to_enough_positives(compose) -> None:
    from components import MIN_POSITIVES

    cfg = compose("dataset=synthetic", "dataset.rows=1000000", "dataset.minority_fraction=0.01")
    assert small_dataset("synthetic", cfg, None) == [f"dataset.rows={MIN_POSITIVES * 100}"]
