from __future__ import annotations

from typing import Any

import numpy as np

from imbexp.constraints import AnyOf, Interval, Options, Worded
from imbexp.strategies._base import (
    WEIGHT_RANGE,
    WEIGHT_WORDS,
    RowSelectingStrategy,
    RowSelection,
    weights_or_ones,
)


class NoRebalancing(RowSelectingStrategy):
    """Train on the true distribution: the baseline every strategy is compared with."""

    name = "none"

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        return RowSelection(np.arange(len(y)), weights_or_ones(sample_weight, len(y)))


class ClassWeight(RowSelectingStrategy):
    """Keep every row; weight the minority class by ``minority_weight``.

    ``balanced`` gives the minority the weight n_majority / n_minority, so both classes carry
    the same total weight; the majority keeps weight 1.
    """

    name = "class_weight"
    weights_rows = True
    parameter_constraints = {
        "minority_weight": Worded(AnyOf(Options("balanced"), Interval(float, *WEIGHT_RANGE)),
                                  f"use 'balanced' or {WEIGHT_WORDS}"),
    }
    factor_name = "minority_weight"

    def __init__(self, minority_weight: Any = "balanced") -> None:
        self.minority_weight = minority_weight

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        classes, counts = np.unique(y, return_counts=True)
        minority = classes[np.argmin(counts)]
        weight = (counts.max() / counts.min() if self.minority_weight == "balanced"
                  else float(self.minority_weight))
        weights = weights_or_ones(sample_weight, len(y)).copy()
        weights[y == minority] *= weight
        return RowSelection(np.arange(len(y)), weights)

    def label(self) -> str:
        w = self.minority_weight
        return f"{self.name} w={w if isinstance(w, str) else format(w, 'g')}"

    def params(self) -> dict[str, Any]:
        return {"minority_weight": self.minority_weight}
