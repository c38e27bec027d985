"""Multi-class data sources: files with more than two classes, the multi-class KEEL sets and the
generators' ``classes`` / ``class_fractions``; the binary defaults stay as they were."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbexp import datasets
from imbexp.errors import ConfigError, DataError

#: this checkout's dataset options (the app may read the configs of another install)
CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"


def _frame(labels: np.ndarray, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.standard_normal(len(labels)), "b": rng.standard_normal(len(labels)),
                         "label": labels})


@pytest.fixture
def animals() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.choice(["dog", "cat", "bird"], size=600, p=[0.7, 0.25, 0.05])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_with_three_text_classes_is_multiclass_in_alphabetical_order(tmp_path, animals, suffix) -> None:
    path = tmp_path / f"animals{suffix}"
    frame = _frame(animals)
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    data = datasets.file(path=str(path), target="label")
    assert data.is_multiclass and data.classes == ("bird", "cat", "dog") and data.positive_label == ""
    assert data.y.dtype == np.int16 and list(data.X.columns) == ["a", "b"]
    np.testing.assert_array_equal(np.asarray(data.classes)[data.y], animals)  # code = position in classes
    assert data.minority_fraction == pytest.approx(np.mean(animals == "bird"))
    assert data.summary()["dataset_classes"] == 3


def test_integer_labels_sort_numerically_and_floats_read_as_their_integers(tmp_path) -> None:
    labels = np.repeat([10, 2, 1], [50, 30, 20])
    path = tmp_path / "codes.parquet"
    _frame(labels).to_parquet(path)
    data = datasets.file(path=str(path), target="label")
    assert data.classes == ("1", "2", "10")  # 2 before 10: numbers, not text
    np.testing.assert_array_equal(data.class_counts(), [20, 30, 50])
    floats = tmp_path / "floats.csv"
    _frame(labels.astype(float)).to_csv(floats, index=False)
    assert datasets.file(path=str(floats), target="label").classes == ("1", "2", "10")


def test_natural_order_puts_numbers_first_then_text() -> None:
    from imbexp.datasets._files import natural_order

    assert natural_order(["b", "10", "a", "2", "-1", "1.5"]) == ["-1", "1.5", "2", "10", "a", "b"]


def test_a_positive_label_keeps_one_vs_rest_and_two_classes_stay_binary(tmp_path, animals) -> None:
    path = tmp_path / "animals.csv"
    _frame(animals).to_csv(path, index=False)
    data = datasets.file(path=str(path), target="label", positive_label="cat")
    assert not data.is_multiclass and data.positive_label == "cat"
    np.testing.assert_array_equal(data.y, (animals == "cat").astype(np.int8))
    two = tmp_path / "two.csv"
    _frame(np.where(animals == "bird", "bird", "other")).to_csv(two, index=False)
    binary = datasets.file(path=str(two), target="label")
    assert binary.classes is None and binary.positive_label == "bird" and binary.y.dtype == np.int8


def test_a_class_with_fewer_than_three_rows_is_one_sentence_naming_it(tmp_path) -> None:
    path = tmp_path / "rare.csv"
    _frame(np.array(["a"] * 50 + ["b"] * 40 + ["c"] * 2)).to_csv(path, index=False)
    with pytest.raises(DataError) as error:
        datasets.file(path=str(path), target="label")
    message = str(error.value)
    assert "'c' (2 rows)" in message and "'a' (" not in message and "stratified split" in message
    assert "\n" not in message
    # one-vs-rest needs no stratum per class
    assert datasets.file(path=str(path), target="label", positive_label="c").y.sum() == 2


def test_a_multiclass_parquet_file_reads_in_batches(tmp_path, animals) -> None:
    path = tmp_path / "animals.parquet"
    frame = _frame(animals)
    frame.to_parquet(path)
    source = datasets.File(path=str(path), target="label", read_in_batches=True, batch_rows=1000)
    labels = source.load_labels()
    assert labels.classes == ("bird", "cat", "dog") and labels.X.shape == (0, 2)
    rows = np.flatnonzero(labels.y != 2)  # every bird and cat, no dog
    data = source.read_rows(labels, rows)
    assert data.classes == labels.classes
    np.testing.assert_array_equal(data.features(rows)["a"].to_numpy(), frame["a"].to_numpy()[rows].astype(np.float32))
    np.testing.assert_array_equal(data.y, labels.y)


@pytest.mark.parametrize("fractions", [None, [0.6, 0.3, 0.1], [0.5, 0.2, 0.2, 0.1]])
def test_synthetic_makes_the_asked_class_shares(fractions) -> None:
    classes = 3 if fractions is None else len(fractions)
    data = datasets.synthetic(rows=20_000, features=6, informative=4, classes=classes,
                              class_fractions=fractions, minority_fraction=0.02)
    expected = [0.845, 0.135, 0.02] if fractions is None else fractions
    assert data.classes == tuple(str(k) for k in range(classes)) and data.y.dtype == np.int16
    np.testing.assert_allclose(data.class_counts() / data.n_rows, expected, atol=0.005)
    assert data.X.dtypes.unique().tolist() == [np.float32]


def test_the_default_shares_fall_by_one_ratio_to_the_minority_fraction() -> None:
    from imbexp.datasets._generators import class_shares

    shares = class_shares(4, None, 0.01)
    assert sum(shares) == pytest.approx(1) and shares[-1] == pytest.approx(0.01)
    ratios = np.asarray(shares[1:]) / np.asarray(shares[:-1])
    np.testing.assert_allclose(ratios, ratios[0])


@pytest.mark.parametrize("fractions", [[0.7, 0.2, 0.1], None])
def test_known_prob_draws_its_labels_from_the_kept_softmax(fractions) -> None:
    source = datasets.KnownProb(rows=60_000, features=5, classes=3, class_fractions=fractions, minority_fraction=0.05)
    data = source.load()
    assert data.classes == ("0", "1", "2") and data.p_true.shape == (60_000, 3)
    np.testing.assert_allclose(data.p_true.sum(axis=1), 1.0)
    wanted = fractions or source._shares
    np.testing.assert_allclose(data.p_true.mean(axis=0), wanted, atol=1e-4)  # the intercepts hit the shares
    shares = data.class_counts() / data.n_rows
    np.testing.assert_allclose(shares, data.p_true.mean(axis=0), atol=0.01)
    # the labels follow p_true: rows with a high P(class 2) are class 2 about that often
    high = data.p_true[:, 2] > 0.5
    assert data.y[high].tolist().count(2) / high.sum() == pytest.approx(data.p_true[high, 2].mean(), abs=0.03)
    from sklearn.metrics import log_loss

    # the truth scores better than the class shares alone
    assert log_loss(data.y, data.p_true) < log_loss(data.y, np.tile(shares, (data.n_rows, 1)))


def test_known_prob_fresh_rows_come_from_the_same_generator() -> None:
    source = datasets.KnownProb(rows=20_000, features=4, classes=4, class_fractions=[0.55, 0.25, 0.15, 0.05])
    first, fresh = source.load(), source.fresh(40_000, seed=7)
    assert fresh.classes == first.classes and fresh.p_true.shape == (40_000, 4)
    np.testing.assert_allclose(fresh.p_true.sum(axis=1), 1.0)
    np.testing.assert_allclose(fresh.class_counts() / fresh.n_rows, [0.55, 0.25, 0.15, 0.05], atol=0.01)
    assert not np.array_equal(fresh.X.to_numpy()[:100], first.X.to_numpy()[:100])
    again = source.fresh(40_000, seed=7)
    np.testing.assert_array_equal(again.y, fresh.y)


@pytest.mark.parametrize(("params", "words"), [
    ({"classes": 3, "class_fractions": [0.5, 0.5]}, "dataset.class_fractions=[0.5, 0.5] is not allowed; use a list "
                                                    "of 3 shares"),
    ({"classes": 3, "class_fractions": [0.5, 0.3, 0.3]}, "summing to 1"),
    ({"classes": 2, "class_fractions": [0.9, 0.1]}, "needs dataset.classes >= 3"),
    ({"classes": 1}, "dataset.classes=1 is not allowed"),
    ({"classes": 4, "minority_fraction": 0.3}, "dataset.minority_fraction=0.3 is too large for dataset.classes=4"),
])
def test_bad_class_settings_are_one_sentence(params, words) -> None:
    for source in (datasets.Synthetic, datasets.KnownProb):
        with pytest.raises(ConfigError) as error:
            source(**params)
        assert words in str(error.value) and "\n" not in str(error.value)


def test_the_binary_generators_are_unchanged_by_the_new_defaults() -> None:
    plain = datasets.synthetic(rows=2000, features=5, informative=3)
    explicit = datasets.synthetic(rows=2000, features=5, informative=3, classes=2, class_fractions=None)
    assert plain.classes is None and plain.y.dtype == np.int8
    np.testing.assert_array_equal(plain.y, explicit.y)
    np.testing.assert_array_equal(plain.X.to_numpy(), explicit.X.to_numpy())
    known = datasets.known_prob(rows=5000, classes=2)
    assert known.p_true.shape == (5000,) and known.classes is None


def test_keel_multiclass_sets_load_by_name_with_their_labels() -> None:
    names = datasets.keel_multiclass_names()
    assert {"page_blocks", "car", "glass"} <= set(names)
    cars = datasets.keel_multiclass("car")
    assert cars.classes == ("acc", "good", "unacc", "vgood") and cars.n_rows == 1728
    np.testing.assert_array_equal(cars.class_counts(), [384, 69, 1210, 65])
    glass = datasets.keel_multiclass("glass")
    assert glass.classes == ("1", "2", "3", "5", "6", "7")
    with pytest.raises(ConfigError, match=r"^dataset.name='cars' is not a multi-class KEEL set.*use one of .*car, "):
        datasets.KeelMulticlass("cars")
    with pytest.raises(DataError, match=r"dataset.name='abalone' has 28 classes .*'1' \(1 row\)"):
        datasets.keel_multiclass("abalone")


def test_the_listing_keeps_the_binary_sets_and_adds_the_multiclass_ones() -> None:
    out = subprocess.run([sys.executable, "-m", "imbexp.datasets"], capture_output=True, text=True,
                         check=True).stdout
    binary, _, multi = out.partition("\n\n")
    assert binary.splitlines() == datasets.keel_names()
    heading, *names = multi.splitlines()
    assert "dataset=keel_multiclass" in heading and names == datasets.keel_multiclass_names()


@pytest.mark.parametrize(("option", "overrides", "classes"), [
    ("synthetic", {"rows": 3000, "classes": 3, "class_fractions": [0.8, 0.15, 0.05]}, ("0", "1", "2")),
    ("known_prob", {"rows": 3000, "classes": 3}, ("0", "1", "2")),
    ("keel_multiclass", {"name": "newthyroid"}, ("1", "2", "3")),
    ("synthetic", {"rows": 3000}, None),  # the option's defaults stay binary
    ("known_prob", {"rows": 3000}, None),
])
def test_the_dataset_options_take_the_multiclass_keys(option, overrides, classes) -> None:
    from omegaconf import OmegaConf

    from imbexp.datasets import load_dataset

    spec = OmegaConf.merge(OmegaConf.load(CONF / f"{option}.yaml"), overrides)
    data = load_dataset(spec)
    assert data.classes == classes
    if "class_fractions" in overrides:
        np.testing.assert_allclose(data.class_counts() / data.n_rows, overrides["class_fractions"], atol=0.005)
