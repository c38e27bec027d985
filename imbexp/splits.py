"""Splits into train / valid / test. Valid and test keep the class distribution they have;
only train is rebalanced.

``holdout`` and ``cv`` are stratified by the labels. ``group`` keeps every group (the rows of one
customer, one patient: ``dataset.group``) in one part, stratified as far as the groups allow.
``time`` trains on the earliest rows and validates and tests on later ones (``dataset.time``), as
a model is used: on cases that come after the ones it learned from. docs/data.md says more.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imbexp.constraints import Constraint, Interval, Options, Worded, check, check_keys
from imbexp.errors import ConfigError, DataError

log = logging.getLogger("imbexp")


@dataclass
class Fold:
    """Row positions of one train / valid pair."""

    train: np.ndarray
    valid: np.ndarray


@dataclass
class Split:
    """``folds`` has one fold for ``holdout`` and k x repeats for ``cv``; ``train_all`` is the
    whole training part (what the test model is fitted on)."""

    kind: str
    folds: list[Fold]
    train_all: np.ndarray
    test: np.ndarray
    #: what each part holds, for a split by groups or time (logged as a tag); empty otherwise
    description: str = ""


_FRACTION = Worded(Interval(float, 0, 1, closed="neither"), "use a fraction between 0 and 1")
#: what each kind of split reads: key -> what it may hold
RULES: dict[str, dict[str, Constraint]] = {
    "holdout": {"test_size": _FRACTION, "valid_size": _FRACTION},
    "cv": {"test_size": _FRACTION, "n_splits": Interval(int, 2, None), "n_repeats": Interval(int, 1, None)},
    "group": {"test_size": _FRACTION, "valid_size": _FRACTION},
    "time": {"test_size": _FRACTION, "valid_size": _FRACTION},
}
#: the dataset column each kind of split is made from: kind -> role (``dataset.<role>``)
NEEDS_COLUMN = {"group": "group", "time": "time"}
#: ``split=group`` puts groups into at most this many stratified folds and gives each part whole
#: folds; more folds meet the shares more finely but StratifiedGroupKFold's cost grows with them
MAX_GROUP_FOLDS = 20


def validate_split(cfg: Any, dataset: Mapping[str, Any] | None = None) -> None:
    """Check the ``split`` config before any data is loaded; with the ``dataset`` config, also
    that a split by groups or time has its column (a source without the key, e.g. a user's
    loader, is asked after loading: :func:`make_split`)."""
    kind = check("split.kind", cfg.get("kind"), Options(*RULES))
    check_keys("split", [key for key in cfg if key != "kind"], RULES[kind], what=f"split {kind}")
    for key, constraint in RULES[kind].items():
        check(f"split.{key}", cfg.get(key), constraint)
    if kind != "cv" and cfg["valid_size"] + cfg["test_size"] >= 1:
        raise ConfigError(f"split.valid_size + split.test_size = {cfg['valid_size'] + cfg['test_size']:g} "
                          "leaves no training rows; keep the sum below 1.")
    if dataset is None:
        return
    role = NEEDS_COLUMN.get(kind)
    if role is not None and role in dataset and dataset.get(role) is None:
        raise ConfigError(f"split={kind} needs dataset.{role}, {_COLUMN_WORDS[role]}; dataset.{role}=null: use "
                          f"dataset.{role}=COLUMN, or another split (holdout, cv).")
    for other, used_by in (("group", "group"), ("time", "time")):
        if dataset.get(other) is not None and kind != used_by:
            log.warning("dataset.%s=%r is set but split=%s does not use it (the column is still kept out of "
                        "the features); use split=%s to split by it", other, dataset.get(other), kind, used_by)


_COLUMN_WORDS = {"group": "the column of group ids (a customer, a patient)",
                 "time": "the column of times (datetimes or numbers)"}

#: the last split made, with the arrays it was made from (labels, groups, times): the trials of
#: a sweep share it
_last: tuple[tuple[Any, ...], str, Split] | None = None


def make_split(y: np.ndarray, cfg: Any, seed: int, *, group: np.ndarray | None = None,
               time: np.ndarray | None = None) -> Split:
    """Train / valid / test positions: stratified (holdout), test + repeated k-fold (cv), by
    ``group`` ids (group) or by ``time`` (time).

    The same arrays (the per-process cached dataset's), config and seed give the split made last
    time, without recomputing it.
    """
    global _last
    validate_split(cfg)
    kind = cfg["kind"]
    columns = {"group": group, "time": time}
    role = NEEDS_COLUMN.get(kind)
    if role is not None and columns[role] is None:
        raise ConfigError(f"split={kind} needs dataset.{role}, {_COLUMN_WORDS[role]}, and the dataset has none; "
                          f"use dataset=file with dataset.{role}=COLUMN (the generators and KEEL sets have no "
                          f"{role} column), or another split (holdout, cv).")
    key = json.dumps({k: cfg.get(k) for k in ("kind", "test_size", "valid_size", "n_splits", "n_repeats")}
                     | {"seed": seed}, sort_keys=True, default=str)
    # only the column the kind reads matters: a holdout split of the same labels is the same
    # split whatever groups the dataset carries
    arrays = (y, columns[role] if role is not None else None)
    if _last is not None and all(a is b for a, b in zip(_last[0], arrays, strict=True)) and _last[1] == key:
        return _last[2]
    if kind == "group":
        split = _group_split(y, group, cfg, seed)
    elif kind == "time":
        split = _time_split(y, time, cfg)
    else:
        split = _make_split(y, cfg, seed)
    _last = (arrays, key, split)
    return split


def _make_split(y: np.ndarray, cfg: Any, seed: int) -> Split:
    from sklearn.model_selection import RepeatedStratifiedKFold

    train_all, test = _split_off(None, y, cfg["test_size"], seed, "test")  # None: every row
    _require_minority(y, test, "test", cfg)
    if cfg["kind"] == "holdout":
        valid_share = cfg["valid_size"] / (1 - cfg["test_size"])
        train, valid = _split_off(train_all, y, valid_share, seed + 1, "valid")
        _require_minority(y, valid, "valid", cfg)
        _require_minority(y, train, "train", cfg)
        train = np.sort(train)  # one array for the fold and the whole training part (they are the same rows)
        return Split("holdout", [Fold(train, np.sort(valid))], train, np.sort(test))
    k = cfg["n_splits"]
    counts = np.bincount(y[train_all], minlength=_n_classes(y))
    if counts.min() < k:
        raise DataError(f"split.n_splits={k} needs at least {k} rows of each class in the "
                        f"training part; it has {int(counts.min())} minority rows. Lower "
                        "split.n_splits or split.test_size.")
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=cfg["n_repeats"], random_state=seed)
    folds = [Fold(train_all[tr], train_all[va]) for tr, va in splitter.split(train_all, y[train_all])]
    return Split("cv", folds, np.sort(train_all), np.sort(test))


def _n_classes(y: np.ndarray) -> int:
    """The classes of the labels (codes 0..K-1): a part must hold every one, the highest too."""
    return max(2, int(y.max()) + 1) if len(y) else 2


def _share_words(y: np.ndarray, part: np.ndarray) -> str:
    """``1.20% positive``; for multi-class labels the smallest class's share of the part."""
    if _n_classes(y) == 2:
        return f"{100 * y[part].mean():.2f}% positive"
    counts = np.bincount(y[part], minlength=_n_classes(y))
    return f"smallest class {100 * counts.min() / max(len(part), 1):.2f}%"


def _split_off(positions, y, share, seed, name):
    try:
        return stratified_split_off(positions, y if positions is None else y[positions], share, seed)
    except ValueError as exc:  # too few rows of a class to stratify
        raise DataError(f"the data cannot be split into a stratified {name} part: {exc}") from exc


def stratified_split_off(positions: np.ndarray | None, y: np.ndarray, test_size: float, seed: int,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split(positions, test_size=test_size, stratify=y, random_state=seed)``, with
    ``positions=None`` for ``np.arange(len(y))`` (never built): the same rows in the same order
    (the same draws of the same generator), in a fraction of its memory. scikit-learn's
    ``StratifiedShuffleSplit`` gathers the rows into Python lists of numpy scalars (about 40
    bytes a row: 0.7 GB over the labels of 10M rows, 7 GB of 100M), and sorts an int64 copy of
    the labels; here each class's rows are found with one comparison and shuffled as int32
    positions (``RandomState.shuffle`` draws the same whatever the dtype)."""
    try:  # scikit-learn's private helpers, so the draws are its own; moved in another release: its split
        from sklearn.model_selection._split import _validate_shuffle_split
        from sklearn.utils.extmath import _approximate_mode
    except ImportError:
        from sklearn.model_selection import train_test_split

        everything = np.arange(len(y)) if positions is None else positions
        return tuple(train_test_split(everything, test_size=test_size, stratify=y, random_state=seed))
    from sklearn.utils import check_random_state

    n_train, n_test = _validate_shuffle_split(len(y), test_size, None, default_test_size=0.25)
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"The least populated classes in y have only 1 member, which is too few. The minimum "
                         f"number of groups for any class cannot be less than 2. Classes with too few members "
                         f"are: {classes[counts < 2].tolist()}")
    for size, words in ((n_train, "train_size"), (n_test, "test_size")):
        if size < len(classes):
            raise ValueError(f"The {words} = {size} should be greater or equal to the number of classes = "
                             f"{len(classes)}")
    rng = check_random_state(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    small = np.int32 if len(y) < 2**31 else np.int64
    train_parts, test_parts = [], []
    for i, label in enumerate(classes):
        chosen = _rows_of(y, label, small)  # the class's rows, ascending (as sklearn's stable sort)
        # shuffled in place: the swaps depend on the length alone, so this is the class's rows
        # indexed by rng.permutation(counts[i]), without a second array of the class's size
        rng.shuffle(chosen)
        train_parts.append(chosen[:n_i[i]].copy())
        test_parts.append(chosen[n_i[i]:n_i[i] + t_i[i]].copy())
        del chosen
    train, test = np.concatenate(train_parts), np.concatenate(test_parts)
    del train_parts, test_parts
    rng.shuffle(train)
    rng.shuffle(test)
    if positions is None:  # int32 below 2**31 rows: half the memory of the positions a run holds
        return train, test
    return positions[train], positions[test]


def _rows_of(y: np.ndarray, label: Any, dtype: Any, chunk: int = 1 << 23) -> np.ndarray:
    """Positions of the rows of ``y`` equal to ``label``, ascending, as ``dtype``; found chunk by
    chunk, so no int64 array of the class's size (0.8 GB for the majority of 100M rows) is made."""
    parts = [(np.flatnonzero(y[start:start + chunk] == label) + start).astype(dtype, copy=False)
             for start in range(0, len(y), chunk)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _require_minority(y: np.ndarray, part: np.ndarray, name: str, cfg: Any) -> None:
    counts = np.bincount(y[part], minlength=_n_classes(y))
    if counts.min() == 0:
        key = {"test": "split.test_size", "valid": "split.valid_size"}.get(name, "split sizes")
        raise DataError(f"the {name} part has {len(part)} rows and none of class "
                        f"{int(np.argmin(counts))}; the dataset has too few minority rows for "
                        f"{key}={cfg.get(key.split('.')[-1], '?')} (raise it or use more data).")


# ----------------------------------------------------------------- by groups


def group_folds(test_size: float, valid_size: float, n_groups: int) -> tuple[int, int, int]:
    """How many stratified folds of groups to make, and how many of them test and valid take.

    The fewest folds (at most :data:`MAX_GROUP_FOLDS`, and no more than there are groups) whose
    whole-fold shares come closest to the asked ones: 0.2 / 0.2 is 5 folds (1 test, 1 valid),
    0.1 / 0.15 is 20 (2 and 3). Fewer folds are cheaper and keep the folds' own balance."""
    best: tuple[float, int, int, int] | None = None
    for k in range(3, min(MAX_GROUP_FOLDS, n_groups) + 1):
        test, valid = max(1, round(test_size * k)), max(1, round(valid_size * k))
        if test + valid >= k:
            continue
        miss = abs(test / k - test_size) + abs(valid / k - valid_size)
        if best is None or miss < best[0] - 1e-9:
            best = (miss, k, test, valid)
    if best is None:
        raise DataError(f"split=group needs at least 3 groups (one each for train, valid and test); "
                        f"dataset.group has {n_groups}; use a column with more groups, or split=holdout.")
    return best[1], best[2], best[3]


def _group_split(y: np.ndarray, group: np.ndarray, cfg: Any, seed: int) -> Split:
    """Whole groups to each part, from one StratifiedGroupKFold: test takes its first folds,
    valid the next, train the rest, so the parts' positive shares are as even as the groups allow."""
    from sklearn.model_selection import StratifiedGroupKFold

    codes, uniques = pd.factorize(group)  # any ids (numbers, text, mixed) as integers
    k, n_test, n_valid = group_folds(cfg["test_size"], cfg["valid_size"], len(uniques))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold = np.empty(len(y), dtype=np.int64)
    with warnings.catch_warnings():
        # "the least populated class has fewer members than n_splits": the parts are checked below,
        # with a sentence that says what to change
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for number, (_, rows) in enumerate(splitter.split(np.zeros((len(y), 1)), y, codes)):
            fold[rows] = number
    test = np.flatnonzero(fold < n_test)
    valid = np.flatnonzero((fold >= n_test) & (fold < n_test + n_valid))
    train = np.flatnonzero(fold >= n_test + n_valid)
    for name, part in (("test", test), ("valid", valid), ("train", train)):
        counts = np.bincount(y[part], minlength=_n_classes(y))
        if counts.min() == 0:
            missing = int(np.argmin(counts))
            holding = np.unique(codes[y == missing]).size
            rows = "the positives" if _n_classes(y) == 2 and missing == 1 else f"the rows of class {missing}"
            raise DataError(f"the {name} part of split=group ({np.unique(codes[part]).size} groups, {len(part)} "
                            f"rows) has no rows of class {missing}: {rows} are in "
                            f"{holding} of {len(uniques)} groups, too few to share between train, valid and "
                            f"test; use data whose {rows.removeprefix('the ')} are in more groups, or split=holdout.")
    for name, part, asked in (("test", test, cfg["test_size"]), ("valid", valid, cfg["valid_size"])):
        if abs(len(part) / len(y) - asked) > 0.05:  # a few large groups: said, since a share was asked
            largest = np.bincount(codes).max()
            log.warning("split=group: the %s part holds %.1f%% of the rows (split.%s_size=%g asked for); the "
                        "largest group alone has %.1f%%", name, 100 * len(part) / len(y), name, asked,
                        100 * largest / len(y))
    parts = ", ".join(f"{name} {np.unique(codes[part]).size} groups ({len(part)} rows, "
                      f"{_share_words(y, part)})"
                      for name, part in (("train", train), ("valid", valid), ("test", test)))
    return Split("group", [Fold(train, valid)], train, test,
                 description=f"{parts}; {k} stratified group folds")


# ----------------------------------------------------------------- by time


def _time_split(y: np.ndarray, time: np.ndarray, cfg: Any) -> Split:
    """The earliest rows train, the next ``valid_size`` of the rows validate, the last
    ``test_size`` test. Rows of one time stay in one part, so every train time is before every
    valid time, and every valid time before every test time."""
    order = np.argsort(time, kind="stable")
    ordered = time[order]
    n = len(y)
    cut_valid = _cut(ordered, round(n * (1 - cfg["valid_size"] - cfg["test_size"])), 1, n - 2)
    cut_test = None if cut_valid is None else _cut(ordered, round(n * (1 - cfg["test_size"])), cut_valid + 1, n - 1)
    if cut_valid is None or cut_test is None:
        raise DataError(f"dataset.time has {len(np.unique(ordered))} distinct times in {n} rows, too few to "
                        "give train, valid and test rows of their own times; use a finer time column, or "
                        "split=holdout.")
    parts = {"train": order[:cut_valid], "valid": order[cut_valid:cut_test], "test": order[cut_test:]}
    spans = {name: (ordered[start], ordered[end - 1]) for name, (start, end) in
             (("train", (0, cut_valid)), ("valid", (cut_valid, cut_test)), ("test", (cut_test, n)))}
    for name, part in parts.items():
        counts = np.bincount(y[part], minlength=_n_classes(y))
        if counts.min() == 0:
            first, last = (_time_text(t) for t in spans[name])
            change = {"train": "lower split.valid_size + split.test_size",
                      "valid": "raise split.valid_size", "test": "raise split.test_size"}[name]
            raise DataError(f"the {name} part of split=time ({len(part)} rows, {first} to {last}) has no rows "
                            f"of class {int(np.argmin(counts))}; {change}, or use data over a longer period.")
    train, valid, test = (np.sort(parts[name]) for name in ("train", "valid", "test"))
    description = ", ".join(f"{name} {_time_text(spans[name][0])} to {_time_text(spans[name][1])} "
                            f"({len(parts[name])} rows, {_share_words(y, parts[name])})"
                            for name in ("train", "valid", "test"))
    return Split("time", [Fold(train, valid)], train, test, description=description)


def _cut(ordered: np.ndarray, at: int, low: int, high: int) -> int | None:
    """The row (in time order) where the next part starts: ``at`` moved to the nearer edge of its
    run of equal times, so no time is in two parts; within ``low..high``, else ``None``."""
    if low > high:
        return None
    at = min(max(at, low), high)
    if ordered[at - 1] != ordered[at]:
        return at
    before = int(np.searchsorted(ordered, ordered[at], side="left"))
    after = int(np.searchsorted(ordered, ordered[at], side="right"))
    for edge in sorted((before, after), key=lambda edge: (abs(edge - at), -edge)):
        if low <= edge <= high:
            return edge
    return None


def _time_text(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(pd.Timestamp(value))
    return f"{float(value):g}"
