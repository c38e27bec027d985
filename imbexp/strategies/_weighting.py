from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imbexp.constraints import AnyOf, Interval, Options, PerClass, Worded
from imbexp.errors import ConfigError
from imbexp.strategies._base import (
    PRIOR_CORRECTION,
    WEIGHT_RANGE,
    WEIGHT_WORDS,
    RowSelectingStrategy,
    RowSelection,
    per_class,
    weights_or_ones,
)


class NoRebalancing(RowSelectingStrategy):
    """Train on the true distribution: the baseline every strategy is compared with."""

    name = "none"

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        return RowSelection(np.arange(len(y)), weights_or_ones(sample_weight, len(y)))


class ClassWeight(RowSelectingStrategy):
    """Keep every row; weight the minority class (the one with fewer rows) by ``minority_weight``.

    The minority is chosen by row count, not by weight: with ``dataset.weight`` the rare class can
    carry the larger total (heavy fraud rows), and it is still the one to weight.
    ``balanced`` gives the minority the weight W_majority / W_minority (the classes' total
    weights; their row counts when the rows carry no weights of their own), so both classes carry
    the same total weight (a weight below 1 where the minority's total is the larger); the
    majority keeps its weights. Weighting the minority moves the
    prior the model learns as much as repeating its rows would; ``prior_correction`` maps it back.
    """

    name = "class_weight"
    weights_rows = True
    parameter_constraints = {
        "minority_weight": Worded(AnyOf(Options("balanced"), PerClass(Interval(float, *WEIGHT_RANGE))),
                                  f"use 'balanced' or {WEIGHT_WORDS} (multi-class data: also a map "
                                  "{class: weight})"),
        "prior_correction": PRIOR_CORRECTION,
    }
    factor_name = "minority_weight"

    def __init__(self, minority_weight: Any = "balanced", prior_correction: bool = False) -> None:
        self.minority_weight = dict(minority_weight) if isinstance(minority_weight, Mapping) else minority_weight
        self.prior_correction = prior_correction

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        given = weights_or_ones(sample_weight, len(y))
        if self._classes is not None:
            return self._select_multiclass(y, given)
        if isinstance(self.minority_weight, Mapping):
            raise ConfigError("strategy.minority_weight is a map of classes, which is for multi-class data; "
                              "this dataset is binary: use 'balanced' or one number for the minority class.")
        classes, counts = np.unique(y, return_counts=True)
        minority = classes[np.argmin(counts)]
        if self.minority_weight == "balanced":
            weight = given[y != minority].sum() / given[y == minority].sum()
        else:
            weight = float(self.minority_weight)
        weights = given.copy()
        weights[y == minority] *= weight
        self._note_prior(y, given, y, weights)
        return RowSelection(np.arange(len(y)), weights)

    def _select_multiclass(self, y: np.ndarray, given: np.ndarray) -> RowSelection:
        """Multi-class: ``balanced`` gives every class the total weight of the heaviest one (its
        rows times W_heaviest / W_class), a number weights every class but the largest by row
        count, a map weights the classes it names."""
        codes, counts = np.unique(y, return_counts=True)
        if self.minority_weight == "balanced":
            totals = np.bincount(y, weights=given, minlength=len(self._classes))
            factors = {int(c): float(totals.max() / totals[c]) for c in codes}
        elif isinstance(self.minority_weight, Mapping):
            factors = per_class("minority_weight", self.minority_weight, y, self._classes)
        else:
            largest = int(codes[np.argmax(counts)])
            factors = {int(c): (1.0 if int(c) == largest else float(self.minority_weight)) for c in codes}
        weights = given * np.array([factors.get(c, 1.0) for c in range(len(self._classes))])[np.asarray(y, np.int64)]
        self._note_prior(y, given, y, weights)
        return RowSelection(np.arange(len(y)), weights)

    def label(self) -> str:
        w = self.minority_weight
        if isinstance(w, Mapping):
            return f"{self.name} w={','.join(f'{k}:{v:g}' for k, v in w.items())}" + self.prior_suffix()
        return f"{self.name} w={w if isinstance(w, str) else format(w, 'g')}" + self.prior_suffix()

    def report_label(self) -> str:
        return self.name + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        return {"minority_weight": self.minority_weight, "prior_correction": self.prior_correction}
