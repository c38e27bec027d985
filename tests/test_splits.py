"""Splits by groups and by time: what a user relies on is that no group is in two parts, that
nothing of the future is in training, and that each part can be scored (both classes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imbexp.errors import ConfigError, DataError
from imbexp.splits import group_folds, make_split, validate_split

HOLDOUT = {"kind": "holdout", "valid_size": 0.2, "test_size": 0.2}


def _grouped(rows: int = 6000, groups: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and group ids; groups of uneven size, some with many positives, most with none."""
    rng = np.random.default_rng(seed)
    group = rng.choice(groups, size=rows, p=rng.dirichlet(np.full(groups, 2.0)))
    risk = rng.beta(0.3, 4, groups)  # a group's own positive rate
    y = (rng.random(rows) < risk[group]).astype(np.int8)
    return y, group


def _parts(split) -> dict[str, np.ndarray]:
    return {"train": split.train_all, "valid": split.folds[0].valid, "test": split.test}


@pytest.mark.parametrize("test_size, valid_size", [(0.2, 0.2), (0.1, 0.15), (0.25, 0.25), (0.3, 0.1)])
def test_no_group_is_in_two_parts_and_each_part_has_both_classes(test_size, valid_size) -> None:
    y, group = _grouped()
    ids = np.array([f"customer-{g}" for g in group], dtype=object)  # ids as text, as a file holds them
    cfg = {"kind": "group", "valid_size": valid_size, "test_size": test_size}
    split = make_split(y, cfg, seed=3, group=ids)
    parts = _parts(split)
    assert sum(len(p) for p in parts.values()) == len(y)
    assert len(np.unique(np.concatenate(list(parts.values())))) == len(y)  # every row in one part
    seen = {name: set(ids[rows]) for name, rows in parts.items()}
    assert not seen["train"] & seen["valid"] and not seen["train"] & seen["test"] and not seen["valid"] & seen["test"]
    for name, rows in parts.items():
        assert set(np.unique(y[rows])) == {0, 1}, name
    # the shares are met to whole folds of groups: within one fold's share of the asked ones
    folds, _, _ = group_folds(test_size, valid_size, len(set(ids)))
    assert len(parts["test"]) / len(y) == pytest.approx(test_size, abs=1 / folds + 0.03)
    assert len(parts["valid"]) / len(y) == pytest.approx(valid_size, abs=1 / folds + 0.03)
    # stratified as far as the groups allow: each part's positive share near the data's
    for rows in parts.values():
        assert y[rows].mean() == pytest.approx(y.mean(), rel=0.5)
    assert "train" in split.description and "groups" in split.description


def test_a_group_split_follows_its_seed() -> None:
    y, group = _grouped()
    cfg = {"kind": "group", "valid_size": 0.2, "test_size": 0.2}
    first = make_split(y, cfg, seed=1, group=group)
    again = make_split(y.copy(), cfg, seed=1, group=group.copy())  # new arrays: computed, not cached
    other = make_split(y, cfg, seed=2, group=group)
    assert np.array_equal(first.test, again.test) and np.array_equal(first.train_all, again.train_all)
    assert not np.array_equal(first.test, other.test)


def test_positives_in_too_few_groups_is_one_sentence() -> None:
    y, group = _grouped()
    y[:] = 0
    y[group == group[0]] = 1  # every positive in one group: one part at most can have them
    with pytest.raises(DataError, match=r"part of split=group .* has no rows of class 1: the positives are in 1 of "
                                        r"\d+ groups.*split=holdout"):
        make_split(y, {"kind": "group", "valid_size": 0.2, "test_size": 0.2}, seed=0, group=group)


def test_a_class_in_too_few_groups_is_named_in_a_multiclass_split() -> None:
    y, group = _grouped()
    y = y.astype(np.int16)
    y[group == group[0]] = 2  # a third class, all in one group
    with pytest.raises(DataError, match=r"has no rows of class 2: the rows of class 2 are in 1 of \d+ groups.*"
                                        r"whose rows of class 2 are in more groups"):
        make_split(y, {"kind": "group", "valid_size": 0.2, "test_size": 0.2}, seed=0, group=group)


def test_two_groups_cannot_make_three_parts() -> None:
    y, _ = _grouped(rows=600)
    with pytest.raises(DataError, match="split=group needs at least 3 groups.*dataset.group has 2"):
        make_split(y, {"kind": "group", "valid_size": 0.2, "test_size": 0.2}, seed=0, group=np.arange(600) % 2)


def _timed(rows: int = 5000, seed: int = 0, datetimes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Labels and times with many ties (whole hours), shuffled so file order is not time order."""
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, 2000, rows)
    y = (rng.random(rows) < 0.08).astype(np.int8)
    if not datetimes:
        return y, hours.astype(np.float64)
    return y, (pd.Timestamp("2024-01-01") + pd.to_timedelta(hours, unit="h")).to_numpy()


@pytest.mark.parametrize("datetimes", [True, False], ids=["datetimes", "numbers"])
@pytest.mark.parametrize("test_size, valid_size", [(0.2, 0.2), (0.1, 0.3)])
def test_a_time_split_trains_on_the_past_and_keeps_ties_together(datetimes, test_size, valid_size) -> None:
    y, time = _timed(datetimes=datetimes)
    split = make_split(y, {"kind": "time", "valid_size": valid_size, "test_size": test_size}, seed=0, time=time)
    parts = _parts(split)
    assert sum(len(p) for p in parts.values()) == len(y)
    assert len(np.unique(np.concatenate(list(parts.values())))) == len(y)
    assert time[parts["train"]].max() < time[parts["valid"]].min()
    assert time[parts["valid"]].max() < time[parts["test"]].min()
    for name, rows in parts.items():
        assert set(np.unique(y[rows])) == {0, 1}, name
    # ties moved a cut by at most one hour's rows (about rows / 2000 = 2.5, a few more at most)
    assert len(parts["test"]) == pytest.approx(test_size * len(y), abs=15)
    assert len(parts["valid"]) == pytest.approx(valid_size * len(y), abs=30)
    # the seed does not move a split by time: the past is the past
    again = make_split(y.copy(), {"kind": "time", "valid_size": valid_size, "test_size": test_size}, seed=9,
                       time=time.copy())
    assert np.array_equal(again.test, split.test)


def test_a_time_split_whose_test_period_has_no_positive_says_which_part_and_what_to_change() -> None:
    y, time = _timed(datetimes=False)
    y[time >= np.quantile(time, 0.9)] = 0  # nothing positive in the latest tenth
    with pytest.raises(DataError, match=r"the test part of split=time \(\d+ rows, .* to .*\) has no rows of class 1; "
                                        r"raise split.test_size"):
        make_split(y, {"kind": "time", "valid_size": 0.2, "test_size": 0.1}, seed=0, time=time)


def test_a_time_column_of_two_distinct_times_cannot_make_three_parts() -> None:
    y, _ = _timed()
    with pytest.raises(DataError, match="dataset.time has 2 distinct times in 5000 rows"):
        make_split(y, {"kind": "time", "valid_size": 0.2, "test_size": 0.2}, seed=0,
                   time=(np.arange(len(y)) % 2).astype(float))


def test_the_cached_split_is_the_one_of_the_same_column() -> None:
    y, group = _grouped()
    cfg = {"kind": "group", "valid_size": 0.2, "test_size": 0.2}
    first = make_split(y, cfg, seed=0, group=group)
    assert make_split(y, cfg, seed=0, group=group) is first  # a sweep's trials share it
    regrouped = (group + 7) % 50  # another column of the same file, the same labels array
    other = make_split(y, cfg, seed=0, group=regrouped)
    assert other is not first
    assert not set(regrouped[other.test]) & set(regrouped[other.train_all])
    # a split that reads no column is cached on the labels alone
    holdout = make_split(y, HOLDOUT, seed=0, group=group)
    assert make_split(y, HOLDOUT, seed=0, group=regrouped) is holdout


def test_a_split_by_a_column_needs_the_column() -> None:
    with pytest.raises(ConfigError, match=r"split=group needs dataset.group, the column of group ids .*; "
                                          r"dataset.group=null: use dataset.group=COLUMN"):
        validate_split({"kind": "group", "valid_size": 0.2, "test_size": 0.2}, {"path": "x.csv", "group": None})
    y, _ = _timed()
    with pytest.raises(ConfigError, match=r"split=time needs dataset.time, .* and the dataset has none; "
                                          r"use dataset=file with dataset.time=COLUMN"):
        make_split(y, {"kind": "time", "valid_size": 0.2, "test_size": 0.2}, seed=0)
    with pytest.raises(ConfigError, match="split.n_splits is not a key of split time"):
        validate_split({"kind": "time", "valid_size": 0.2, "test_size": 0.2, "n_splits": 5})
    with pytest.raises(ConfigError, match="leaves no training rows"):
        validate_split({"kind": "group", "valid_size": 0.5, "test_size": 0.5})
