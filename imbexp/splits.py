"""Stratified splits. Valid and test keep the true class distribution; only train is rebalanced."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from imbexp.constraints import Constraint, Interval, Options, Worded, check, check_keys
from imbexp.errors import ConfigError, DataError


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


_FRACTION = Worded(Interval(float, 0, 1, closed="neither"), "use a fraction between 0 and 1")
#: what each kind of split reads: key -> what it may hold
RULES: dict[str, dict[str, Constraint]] = {
    "holdout": {"test_size": _FRACTION, "valid_size": _FRACTION},
    "cv": {"test_size": _FRACTION, "n_splits": Interval(int, 2, None), "n_repeats": Interval(int, 1, None)},
}


def validate_split(cfg: Any) -> None:
    """Check the ``split`` config before any data is loaded."""
    kind = check("split.kind", cfg.get("kind"), Options(*RULES))
    check_keys("split", [key for key in cfg if key != "kind"], RULES[kind], what=f"split {kind}")
    for key, constraint in RULES[kind].items():
        check(f"split.{key}", cfg.get(key), constraint)
    if kind == "holdout" and cfg["valid_size"] + cfg["test_size"] >= 1:
        raise ConfigError(f"split.valid_size + split.test_size = {cfg['valid_size'] + cfg['test_size']:g} "
                          "leaves no training rows; keep the sum below 1.")


#: the last split made, with the labels it was made from: the trials of a sweep share it
_last: tuple[np.ndarray, str, Split] | None = None


def make_split(y: np.ndarray, cfg: Any, seed: int) -> Split:
    """Stratified train / valid / test positions (holdout) or test + repeated k-fold (cv).

    The same labels array (the per-process cached dataset), config and seed give the split
    made last time, without recomputing it.
    """
    global _last
    validate_split(cfg)
    key = json.dumps({k: cfg.get(k) for k in ("kind", "test_size", "valid_size", "n_splits", "n_repeats")}
                     | {"seed": seed}, sort_keys=True, default=str)
    if _last is not None and _last[0] is y and _last[1] == key:
        return _last[2]
    split = _make_split(y, cfg, seed)
    _last = (y, key, split)
    return split


def _make_split(y: np.ndarray, cfg: Any, seed: int) -> Split:
    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

    positions = np.arange(len(y))
    train_all, test = _split_off(positions, y, cfg["test_size"], seed, "test", train_test_split)
    _require_minority(y, test, "test", cfg)
    if cfg["kind"] == "holdout":
        valid_share = cfg["valid_size"] / (1 - cfg["test_size"])
        train, valid = _split_off(train_all, y, valid_share, seed + 1, "valid", train_test_split)
        _require_minority(y, valid, "valid", cfg)
        _require_minority(y, train, "train", cfg)
        return Split("holdout", [Fold(np.sort(train), np.sort(valid))], np.sort(train), np.sort(test))
    k = cfg["n_splits"]
    counts = np.bincount(y[train_all], minlength=2)
    if counts.min() < k:
        raise DataError(f"split.n_splits={k} needs at least {k} rows of each class in the "
                        f"training part; it has {int(counts.min())} minority rows. Lower "
                        "split.n_splits or split.test_size.")
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=cfg["n_repeats"], random_state=seed)
    folds = [Fold(train_all[tr], train_all[va]) for tr, va in splitter.split(train_all, y[train_all])]
    return Split("cv", folds, np.sort(train_all), np.sort(test))


def _split_off(positions, y, share, seed, name, train_test_split):
    try:
        return train_test_split(positions, test_size=share, stratify=y[positions], random_state=seed)
    except ValueError as exc:  # too few rows of a class to stratify
        raise DataError(f"the data cannot be split into a stratified {name} part: {exc}") from exc


def _require_minority(y: np.ndarray, part: np.ndarray, name: str, cfg: Any) -> None:
    counts = np.bincount(y[part], minlength=2)
    if counts.min() == 0:
        key = {"test": "split.test_size", "valid": "split.valid_size"}.get(name, "split sizes")
        raise DataError(f"the {name} part has {len(part)} rows and none of class "
                        f"{int(np.argmin(counts))}; the dataset has too few minority rows for "
                        f"{key}={cfg.get(key.split('.')[-1], '?')} (raise it or use more data).")
