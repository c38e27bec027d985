from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imbexp.constraints import AnyOf, Interval, Options, Worded
from imbexp.errors import ConfigError
from imbexp.strategies._base import (
    PRIOR_CORRECTION,
    WEIGHT_RANGE,
    WEIGHT_WORDS,
    ClassMap,
    RowSelectingStrategy,
    RowSelection,
    class_codes,
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

    Multi-class data: ``balanced`` weights every class k by W_majority / W_k (the majority, the
    class with the most rows, keeps its weights), so every class carries the majority's total, as
    the binary rule does; a map ``{label: weight}`` weights the classes it names (the others keep
    their weights); a number weights every class but the largest (by rows), as the binary rule
    weights every class but the majority. A map is for multi-class data only.
    """

    name = "class_weight"
    weights_rows = True
    parameter_constraints = {
        "minority_weight": AnyOf(
            Worded(AnyOf(Options("balanced"), Interval(float, *WEIGHT_RANGE)), f"use 'balanced' or {WEIGHT_WORDS}"),
            ClassMap(Worded(Interval(float, *WEIGHT_RANGE), f"use {WEIGHT_WORDS}"))),
        "prior_correction": PRIOR_CORRECTION,
    }
    factor_name = "minority_weight"

    def __init__(self, minority_weight: Any = "balanced", prior_correction: bool = False) -> None:
        self.minority_weight = dict(minority_weight) if isinstance(minority_weight, Mapping) else minority_weight
        self.prior_correction = prior_correction

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        if isinstance(self.minority_weight, Mapping):
            class_codes("strategy.minority_weight", self.minority_weight, classes)

    def _class_weights(self, y: np.ndarray, given: np.ndarray) -> np.ndarray:
        """Multi-class data: the weight each class's rows are multiplied by, in code order."""
        n_classes = len(self.classes)
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)[:n_classes]
        factor = np.ones(n_classes)
        if self.minority_weight == "balanced":
            totals = np.bincount(np.asarray(y, dtype=np.int64), weights=given, minlength=n_classes)[:n_classes]
            present = counts > 0
            factor[present] = totals[int(np.argmax(counts))] / totals[present]
        elif isinstance(self.minority_weight, Mapping):
            for k, weight in class_codes("strategy.minority_weight", self.minority_weight, self.classes).items():
                factor[k] = float(weight)
        else:  # every class but the one with the most rows, as the binary rule
            factor[counts > 0] = float(self.minority_weight)
            factor[int(np.argmax(counts))] = 1.0
        return factor

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        given = weights_or_ones(sample_weight, len(y))
        if self.classes is not None:
            weights = given * self._class_weights(y, given)[np.asarray(y, dtype=np.int64)]
            self._note_prior(y, given, y, weights)
            return RowSelection(np.arange(len(y)), weights)
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

    def _weight_text(self) -> str:
        w = self.minority_weight
        if isinstance(w, Mapping):
            return ",".join(f"{label}:{value:g}" for label, value in w.items())
        return w if isinstance(w, str) else format(w, "g")

    def label(self) -> str:
        return f"{self.name} w={self._weight_text()}" + self.prior_suffix()

    def report_label(self) -> str:
        # a per-class map is no point on a report's axis, so the label keeps it
        mapped = f" w={self._weight_text()}" if isinstance(self.minority_weight, Mapping) else ""
        return self.name + mapped + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        return {"minority_weight": self.minority_weight, "prior_correction": self.prior_correction}
