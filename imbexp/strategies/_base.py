from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from imbexp.errors import ConfigError


@dataclass
class TrainingSet:
    """What a strategy hands to the model: rows, labels and one weight per row.

    ``indices`` are the positions of the kept input rows when the strategy only selects
    rows (downsampling); ``None`` when it synthesises new ones.
    """

    X: pd.DataFrame
    y: np.ndarray
    sample_weight: np.ndarray
    indices: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(len(self.y))

    @property
    def minority_fraction(self) -> float:
        share = float(np.mean(self.y))
        return min(share, 1.0 - share)


@dataclass
class RowSelection:
    """The training rows a strategy keeps (positions into its input) and their weights."""

    indices: np.ndarray
    sample_weight: np.ndarray


class Strategy(ABC):
    """A rebalancing strategy. Subclasses validate their parameters in ``__init__``.

    Strategies that only keep and weight rows (``selects_rows``) decide from the labels alone
    through :meth:`select_rows`; their ``fit_resample`` is that selection applied to ``X``.
    A run can then read only the kept rows of a large file.
    """

    name: ClassVar[str]
    selects_rows: ClassVar[bool] = False
    #: the parameter this strategy's sweeps vary (its "factor"), which reports draw on their x
    #: axis; None for a strategy without one
    factor_name: ClassVar[str | None] = None

    @abstractmethod
    def fit_resample(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        random_state: int = 0,
    ) -> TrainingSet:
        """Rebalance the training part (never valid or test)."""

    def select_rows(self, y: np.ndarray, sample_weight: np.ndarray | None = None, *,
                    random_state: int = 0) -> RowSelection | None:
        """The rows ``fit_resample`` would keep, from the labels alone; ``None`` for strategies
        that synthesise rows and need the features."""
        return None

    def correct_probabilities(self, p: np.ndarray) -> np.ndarray:
        """Map scores of a model fitted on the rebalanced data back to the true prior."""
        return p

    def label(self) -> str:
        """Short text for run names, e.g. ``downsample_upweight f=20``."""
        return self.name

    def params(self) -> dict[str, Any]:
        """The strategy's parameters as they were given."""
        return {}

    def factor(self) -> float | None:
        """The value of ``factor_name`` when it is one number; None when the strategy has no
        factor or it is not one number ("balanced", a per-class mapping), which no axis can show."""
        value = self.params().get(self.factor_name) if self.factor_name else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def report_label(self) -> str:
        """The label without the factor, e.g. ``downsample +prior``: runs that differ only in the
        factor are one series of a report, a line against the factor and a column beside it."""
        return self.name


class RowSelectingStrategy(Strategy):
    """A strategy that only keeps and weights rows: it decides from the labels alone
    (:meth:`select_rows`), so large files can be read after the choice, and
    :meth:`fit_resample` is one indexed copy of the kept rows."""

    selects_rows: ClassVar[bool] = True

    @abstractmethod
    def select_rows(self, y: np.ndarray, sample_weight: np.ndarray | None = None, *,
                    random_state: int = 0) -> RowSelection:
        """The kept rows and their weights."""

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        selection = self.select_rows(y, sample_weight, random_state=random_state)
        keep_all = selection.indices.size == len(y)  # positions 0..n-1 in order: no copy needed
        return TrainingSet(X=X if keep_all else X.iloc[selection.indices],
                           y=y if keep_all else y[selection.indices],
                           sample_weight=selection.sample_weight, indices=selection.indices)


def weights_or_ones(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    return np.asarray(sample_weight, dtype=np.float64)


def check_number(key: str, value: Any, *, low: float, low_inclusive: bool, allowed: str) -> float:
    """One sentence naming the key, the bad value and what is allowed."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        raise ConfigError(f"strategy.{key}={value!r} is not allowed; use {allowed}.")
    return float(value)


def per_class(key: str, value: Any, y: np.ndarray, *, low: float, low_inclusive: bool,
              allowed: str) -> dict[int, float]:
    """A factor for each class: a number applies to the majority class, a mapping to the
    classes it names (the shape that multi-class rebalancing will use)."""
    classes, counts = np.unique(y, return_counts=True)
    if isinstance(value, Mapping):
        factors = {int(c): 1.0 for c in classes}
        for label, factor in value.items():
            if int(label) not in factors:
                raise ConfigError(f"strategy.{key} names class {label!r}, which is not in the "
                                  f"training labels {sorted(factors)}.")
            factors[int(label)] = check_number(f"{key}.{label}", factor, low=low,
                                               low_inclusive=low_inclusive, allowed=allowed)
        return factors
    majority = int(classes[np.argmax(counts)])
    return {int(c): (float(value) if int(c) == majority else 1.0) for c in classes}
