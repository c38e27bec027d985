"""The file source never changes the user's data silently: each case is a real file, written
here, read as a user would (``python -m imbexp dataset=file ...``), and in-process where the
values themselves are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from components import one_sentence

from imbexp.datasets import File
from imbexp.errors import ConfigError, DataError

SMALL = ("model.estimator.n_estimators=10", "tracking.log_model=false", "metrics.bootstrap=0")


def _frame(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Five informative float columns and a 10 % positive label ``y``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(int)
    X = rng.normal(size=(rows, 5)) + y[:, None]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["y"] = y
    return frame


def _unparsable(path: Path) -> Path:
    frame = _frame()
    frame["f0"] = frame["f0"].astype(object)
    frame.loc[:4, "f0"] = "1,234.500"
    frame.loc[5:24, "f0"] = "n/a?"  # 25 of 2000 cells: 98.75 % still numbers
    frame.to_csv(path, index=False)
    return path


def _nested(path: Path) -> Path:
    frame = _frame()
    frame["tags"] = [[1, 2]] * len(frame)
    frame["where"] = [{"lat": 1.0}] * len(frame)
    frame.to_parquet(path)
    return path


def _latin1(path: Path) -> Path:
    frame = _frame(200)
    frame["town"] = "Zürich"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    return path


REFUSED = {
    # file maker, extra overrides, words the one sentence must hold
    "unparsable cells": (_unparsable, (), ["column 'f0'", "25 of its 2000", "'1,234.500'", "'n/a?'",
                                           "dataset.unparsable=missing"]),
    "empty file": (lambda p: (p.write_text(""), p)[1], (), ["empty file"]),
    "header only": (lambda p: (p.write_text("f0,f1,y\n"), p)[1], (), ["header (f0, f1, y) but no rows"]),
    "list and struct columns": (_nested, (), ["tags (list<", "where (struct<", "dataset.drop=[tags,where]"]),
    "wrong encoding": (_latin1, (), ["not utf-8 text", "dataset.encoding=latin-1"]),
    "separator of two characters": (lambda p: (_frame(200).to_csv(p, index=False), p)[1],
                                    ("dataset.sep=';;'",), ["dataset.sep=';;' is not allowed"]),
    "unknown encoding": (lambda p: (_frame(200).to_csv(p, index=False), p)[1],
                         ("dataset.encoding=klingon",), ["dataset.encoding='klingon' is not allowed"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_data_that_cannot_be_used_as_it_is_stops_withone_sentence(run_cli, tmp_path, case) -> None:
    make, overrides, words = REFUSED[case]
    suffix = ".parquet" if case == "list and struct columns" else ".csv"
    path = make(tmp_path / f"data{suffix}")
    done = run_cli("dataset=file", f"dataset.path={path}", "dataset.target=y", *overrides, *SMALL,
                   "tracking.experiment=data-refused")
    sentence = one_sentence(done)
    for word in words:
        assert word in sentence, sentence


def test_unparsable_cells_read_as_missing_when_asked_and_the_run_says_how_many(run_cli, tmp_path,
                                                                             mlflow_client) -> None:
    path = _unparsable(tmp_path / "cells.csv")
    done = run_cli("dataset=file", f"dataset.path={path}", "dataset.target=y", "dataset.unparsable=missing",
                   *SMALL, "tracking.experiment=data-coerced")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "column 'f0': 25 of 2000 non-empty cells are not numbers" in done.stderr + done.stdout
    # the column stays a number column: in-process, the same file gives float32 with 25 missing
    data = File(path=str(path), target="y", unparsable="missing").load()
    assert data.X["f0"].dtype == np.float32 and int(data.X["f0"].isna().sum()) == 25
    assert "f0" not in data.categorical_columns
    # and it ranks as well as the clean column does, unlike the categorical one of before
    clean = _frame()
    assert np.allclose(data.X["f0"].to_numpy()[25:], clean["f0"].to_numpy()[25:], atol=1e-6)
    kept = File(path=str(path), target="y", unparsable="category").load()
    assert "f0" in kept.categorical_columns  # the old reading, now only when asked for


def test_mostly_numeric_means_at_least_90_percent_of_the_non_empty_cells(tmp_path) -> None:
    frame = _frame(1000)
    frame["code"] = [str(i) if i % 10 else "n/a?" for i in range(1000)]  # exactly 90 % numbers
    frame["label"] = [str(i) if i % 5 else "-" for i in range(1000)]  # 80 %: a text column
    frame.loc[::7, "code"] = None  # empty cells do not count either way
    frame.to_csv(tmp_path / "codes.csv", index=False)
    with pytest.raises(DataError, match="column 'code' is mostly numbers"):
        File(path=str(tmp_path / "codes.csv"), target="y").load()
    data = File(path=str(tmp_path / "codes.csv"), target="y", drop=["code"]).load()
    assert "label" in data.categorical_columns


def test_a_messy_csv_is_read_with_every_change_said(run_cli, tmp_path, mlflow_client) -> None:
    """``;``-separated, saved with its index, names LightGBM refuses, a value beyond float32."""
    frame = _frame().rename(columns={"f0": "price: eur", "f1": 'tag["x"]', "f2": "price_ eur"})
    frame.loc[3, "f3"] = 1e300
    path = tmp_path / "messy.csv"
    frame.to_csv(path, sep=";")  # index=True: the first column has no name
    done = run_cli("dataset=file", f"dataset.path={path}", "dataset.target=y", *SMALL,
                   "tracking.experiment=data-messy")
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stderr + done.stdout
    assert "columns separated by ';'" in said
    assert "'Unnamed: 0'" in said and "dropped" in said
    assert "renamed for the models" in said
    assert "column 'f3' holds values beyond float32's range" in said
    (run,) = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("data-messy").experiment_id])
    assert run.data.tags["dataset_features"] == "5"  # the index is not a feature
    renames = json.loads(Path(mlflow_client.download_artifacts(run.info.run_id, "dataset_column_renames.json",
                                                               str(tmp_path))).read_text())
    # the rename of "price: eur" would repeat the file's own "price_ eur": it gets a suffix
    assert renames == {"price: eur": "price_ eur_2", 'tag["x"]': "tag__x__"}
    data = File(path=str(path), target="y").load()
    assert data.X["f3"].dtype == np.float64 and data.X["f3"].iloc[3] == 1e300
    assert np.isfinite(data.X["f3"]).all()


@pytest.mark.parametrize("sep, suffix", [(";", ".csv"), ("\t", ".csv"), ("\t", ".tsv"), ("|", ".txt"),
                                         (",", ".csv.gz")])
def test_the_delimiter_is_detected(tmp_path, sep, suffix) -> None:
    frame = _frame(300)
    path = tmp_path / f"data{suffix}"
    frame.to_csv(path, sep=sep, index=False)
    data = File(path=str(path), target="y").load()
    assert list(data.X.columns) == ["f0", "f1", "f2", "f3", "f4"]
    assert np.allclose(data.X["f1"].to_numpy(), frame["f1"].to_numpy(), atol=1e-6)


def test_a_given_separator_and_encoding_are_used(tmp_path) -> None:
    path = _latin1(tmp_path / "towns.csv")
    text = path.read_bytes().decode("latin-1").replace(",", ":")
    path.write_bytes(text.encode("latin-1"))
    data = File(path=str(path), target="y", sep=":", encoding="latin-1").load()
    assert list(data.X["town"].cat.categories) == ["Zürich"]
    assert File(path=str(path), target="y", sep="\\t", encoding="latin-1").sep == "\\t"  # tab, as typed
    with pytest.raises(ConfigError, match=r"dataset.sep=';;' is not allowed"):
        File(path=str(path), target="y", sep=";;")


def test_parquet_datetimes_and_large_floats_read_whole_and_in_batches(tmp_path) -> None:
    """Both ways of reading give the same values: datetimes as seconds, float64 kept where
    float32 would overflow, names renamed, and nested columns can be dropped."""
    frame = _frame(3000)
    frame["when"] = pd.Timestamp("2021-03-04", tz="Europe/Paris") + pd.to_timedelta(np.arange(3000), unit="h")
    frame["f4"] = frame["f4"] * 1e300
    frame["a:b"] = 1.5
    frame["tags"] = [[1]] * 3000
    path = tmp_path / "data.parquet"
    frame.to_parquet(path, index=False)
    source = File(path=str(path), target="y", drop=["tags"], read_in_batches=True, batch_rows=1000)
    whole = source.load()
    labels = source.load_labels()
    rows = np.arange(0, 3000, 3)
    read = source.read_rows(labels, rows)
    expected = (frame["when"].dt.tz_convert("UTC").dt.tz_localize(None) - pd.Timestamp("1970-01-01"))
    for data, at in ((whole, np.arange(3000)), (read, rows)):
        assert list(data.X.columns) == ["f0", "f1", "f2", "f3", "f4", "when", "a_b"]
        assert data.column_renames == {"a:b": "a_b"}
        assert data.X["when"].dtype == np.float64
        assert np.array_equal(data.X["when"].to_numpy(), expected.dt.total_seconds().to_numpy()[at])
        assert data.X["f4"].dtype == np.float64 and np.isfinite(data.X["f4"]).all()
        assert np.array_equal(data.X["f4"].to_numpy(), frame["f4"].to_numpy()[at])
        assert data.X["f0"].dtype == np.float32
    with pytest.raises(DataError, match=r"list or struct columns.*tags"):
        File(path=str(path), target="y", read_in_batches=True).load_labels()


def test_the_batch_reader_applies_the_mostly_numeric_rule(tmp_path) -> None:
    frame = _frame(3000)
    frame["f0"] = frame["f0"].map("{:.4f}".format)
    frame.loc[::50, "f0"] = "n/a?"  # 2 % of the cells, all at even rows
    path = tmp_path / "text.parquet"
    frame.to_parquet(path, index=False)
    source = File(path=str(path), target="y", read_in_batches=True, batch_rows=1000)
    labels = source.load_labels()
    with pytest.raises(DataError, match=r"column 'f0' is mostly numbers, but 60 of its 1500"):
        source.read_rows(labels, np.arange(0, 3000, 2))
    coerced = File(path=str(path), target="y", read_in_batches=True, unparsable="missing")
    data = coerced.read_rows(coerced.load_labels(), np.arange(0, 3000, 2))
    assert data.X["f0"].dtype == np.float32 and int(data.X["f0"].isna().sum()) == 60
    assert "f0" not in data.categorical_columns


def test_a_csv_column_of_iso_dates_is_read_as_seconds(tmp_path) -> None:
    frame = _frame(500)
    when = pd.Timestamp("2021-03-04 10:00") + pd.to_timedelta(np.arange(500), unit="min")
    frame["when"] = when
    frame.loc[7, "when"] = None  # an empty cell stays missing
    frame["day"] = when.strftime("%Y-%m-%d")
    frame["note"] = ["2021-03-04 or later"] * 500  # not a date: a text column
    frame.to_csv(tmp_path / "dates.csv", index=False)
    data = File(path=str(tmp_path / "dates.csv"), target="y").load()
    seconds = (when - pd.Timestamp("1970-01-01")).total_seconds().to_numpy()
    assert data.X["when"].dtype == np.float64 and np.isnan(data.X["when"].iloc[7])
    assert np.array_equal(np.delete(data.X["when"].to_numpy(), 7), np.delete(seconds, 7))
    assert data.X["day"].iloc[0] == pd.Timestamp("2021-03-04").timestamp()
    assert data.categorical_columns == ["note"]


def test_a_parquet_decimal_column_is_read_as_numbers(tmp_path) -> None:
    import decimal

    frame = _frame(300)
    frame["amount"] = [decimal.Decimal(f"{i}.25") for i in range(300)]  # was a category per value
    frame.to_parquet(tmp_path / "money.parquet", index=False)
    data = File(path=str(tmp_path / "money.parquet"), target="y").load()
    assert "amount" not in data.categorical_columns
    assert np.array_equal(data.X["amount"].to_numpy(), np.arange(300) + 0.25)


def test_a_code_column_with_letters_beside_numbers_stays_categories(tmp_path) -> None:
    """ICD-9 codes: '250.83' parses, 'V27' and 'E909' do not, and there are many of them: a code
    column, read as categories as before, not a numeric column with stray cells."""
    frame = _frame(1000)
    frame["diagnosis"] = [f"V{i % 40}" if i % 12 == 0 else f"{250 + i % 90}.{i % 7}" for i in range(1000)]
    frame.to_csv(tmp_path / "icd.csv", index=False)
    data = File(path=str(tmp_path / "icd.csv"), target="y").load()
    assert "diagnosis" in data.categorical_columns


def test_an_iso_date_column_with_an_impossible_date_isone_sentence(tmp_path) -> None:
    frame = _frame(200)
    frame["day"] = pd.date_range("2021-01-01", periods=200, freq="D").strftime("%Y-%m-%d")
    frame.loc[7, "day"] = "2021-02-30"
    frame.to_csv(tmp_path / "days.csv", index=False)
    with pytest.raises(DataError, match=r"column 'day' holds ISO 8601 dates, but 1 cells are no valid date "
                                        r"\('2021-02-30'\)"):
        File(path=str(tmp_path / "days.csv"), target="y").load()


def test_a_tsv_keeps_its_tab_when_a_text_column_holds_commas(tmp_path) -> None:
    frame = _frame(300)
    frame["town"] = "Springfield, IL"
    frame.to_csv(tmp_path / "towns.tsv", sep="\t", index=False)
    data = File(path=str(tmp_path / "towns.tsv"), target="y").load()
    assert list(data.X.columns) == ["f0", "f1", "f2", "f3", "f4", "town"]


def _with_roles(rows: int = 2000) -> pd.DataFrame:
    frame = _frame(rows)
    rng = np.random.default_rng(1)
    frame["weight"] = rng.uniform(0.5, 2.0, rows)
    frame["amount"] = rng.gamma(2.0, 40.0, rows)
    frame["account"] = pd.array(rng.integers(0, 200, rows), dtype="Int64")  # nullable, as Parquet keeps ids
    frame["booked"] = pd.date_range("2024-01-01", periods=rows, freq="37min", tz="Europe/Zurich")
    return frame


ROLES = ("dataset.weight=weight", "dataset.cost=amount", "dataset.group=account", "dataset.time=booked")


def test_role_columns_are_read_the_same_whole_and_in_batches(tmp_path) -> None:
    frame = _with_roles()
    path = tmp_path / "roles.parquet"
    frame.to_parquet(path)
    source = File(path=str(path), target="y", weight="weight", cost="amount", group="account", time="booked",
                  batch_rows=1000)
    whole = source.load()
    labels = source.load_labels()
    rows = np.arange(0, len(frame), 3)
    batched = source.read_rows(labels, rows)
    # the weight, group and time columns are not features; the cost column is one
    assert list(whole.X.columns) == ["f0", "f1", "f2", "f3", "f4", "amount"]
    assert list(batched.X.columns) == list(whole.X.columns) == list(labels.X.columns)
    assert np.array_equal(whole.weight, frame["weight"].to_numpy())
    assert np.array_equal(whole.cost, frame["amount"].to_numpy())
    assert np.array_equal(whole.group.astype(np.int64), frame["account"].to_numpy(dtype=np.int64))
    utc = frame["booked"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    assert np.array_equal(whole.time, utc)  # a zoned time, in UTC
    for role in ("weight", "cost", "group", "time"):  # one value per label, whatever rows were read
        assert np.array_equal(getattr(labels, role), getattr(whole, role)), role
        assert np.array_equal(getattr(batched, role), getattr(whole, role)), role
    pd.testing.assert_frame_equal(batched.X, whole.X.iloc[rows])


def test_a_csv_gives_the_same_role_columns_and_drop_keeps_the_cost_out_of_the_features(tmp_path) -> None:
    frame = _with_roles(500)
    csv_path, parquet_path = tmp_path / "roles.csv", tmp_path / "roles.parquet"
    frame.to_csv(csv_path, index=False)
    frame.to_parquet(parquet_path)
    keys = {"target": "y", "weight": "weight", "cost": "amount", "group": "account", "time": "booked"}
    from_csv = File(path=str(csv_path), drop=["amount"], **keys).load()
    from_parquet = File(path=str(parquet_path), **keys).load()
    assert "amount" not in from_csv.X.columns and np.array_equal(from_csv.cost, from_parquet.cost)
    assert np.allclose(from_csv.weight, from_parquet.weight)
    assert np.array_equal(from_csv.time, from_parquet.time)  # the CSV's ISO text, parsed with its offsets
    assert np.array_equal(from_csv.group.astype(np.int64), from_parquet.group.astype(np.int64))


@pytest.mark.parametrize("column, words", [
    ("account", "dataset.group='account' is missing in 1 rows (the first is row 9)"),
    ("booked", "dataset.time='booked' is missing in 1 rows (the first is row 9)"),
])
def test_a_missing_group_or_time_isone_sentence(tmp_path, column, words) -> None:
    frame = _with_roles(300)
    frame.loc[9, column] = None
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        File(path=str(path), target="y", group="account", time="booked").load()


def test_drop_that_leaves_only_role_columns_isone_sentence(tmp_path) -> None:
    frame = _with_roles(300)[["y", "weight", "account", "f0"]]
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"dataset.drop=\['f0'\] leaves no feature columns .* besides the target "
                                          r"'y' and the columns \['weight', 'account'\]"):
        File(path=str(path), target="y", weight="weight", group="account", drop=["f0"]).load()
