from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imbexp.constraints import AnyOf, Interval, Null, PerClass, Worded
from imbexp.errors import ConfigError, DataError
from imbexp.strategies._base import (
    PRIOR_CORRECTION,
    WEIGHT_RANGE,
    WEIGHT_WORDS,
    RowSelectingStrategy,
    RowSelection,
    class_codes,
    per_class,
    smallest_classes,
    weights_or_ones,
)

#: a downsample factor: 1 keeps every row of its class
FACTOR = PerClass(Interval(float, 1, None))


def downsample_indices(y: np.ndarray, factors: dict[int, float], rng: np.random.Generator,
                       key: str = "downsample_factor", classes: tuple[str, ...] | None = None) -> np.ndarray:
    """Sorted positions of the kept rows: round(n_c / f_c) rows of each class c, drawn
    without replacement; a factor that keeps no row (f_c >= 2 n_c) is refused (the class named
    by its label where ``classes`` gives the labels)."""
    kept = []
    for label, factor in factors.items():
        rows = np.flatnonzero(y == label)
        if factor == 1.0:
            kept.append(rows)
            continue
        n_keep = int(round(len(rows) / factor))
        if n_keep == 0:
            # round(n / f) >= 1 exactly when n / f > 0.5 (round(0.5) is 0), i.e. f < 2 n: the
            # bound in the sentence is the one the rounding applies
            named = label if classes is None else repr(classes[label])
            raise DataError(
                f"strategy.{key}={factor:g} would keep 0 of the {len(rows)} training rows of "
                f"class {named} (a factor f keeps round({len(rows)} / f) rows); use a factor < "
                f"{2 * len(rows)}."
            )
        kept.append(rng.choice(rows, size=n_keep, replace=False))
    return np.sort(np.concatenate(kept))


def _factor_text(factor: Any) -> str:
    """``20`` or, per class, ``0:20,2:5``."""
    if isinstance(factor, dict):
        return ",".join(f"{label}:{value:g}" for label, value in factor.items())
    return f"{factor:g}"


def _as_given(factor: Any) -> Any:
    """A factor as a float, a per-class map as a plain dict."""
    return dict(factor) if isinstance(factor, Mapping) else float(factor)


class _DownsampleBase(RowSelectingStrategy):

    parameter_constraints = {"downsample_factor": FACTOR}
    factor_name = "downsample_factor"

    def __init__(self, downsample_factor: Any = 10.0) -> None:
        self.downsample_factor = _as_given(downsample_factor)
        self._keep_fraction: dict[int, float] = {}
        self._factors: dict[int, float] = {}

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        if isinstance(self.downsample_factor, Mapping):
            class_codes("strategy.downsample_factor", self.downsample_factor, classes)

    def _select(self, y: np.ndarray, random_state: int) -> np.ndarray:
        factors = per_class("downsample_factor", self.downsample_factor, y, self.classes)
        if self.classes is not None:
            self._refuse_smallest(y, factors)
        self._factors = factors
        self._keep_fraction = {c: 1.0 / f for c, f in factors.items()}
        return downsample_indices(y, factors, np.random.default_rng(random_state), classes=self.classes)

    def _refuse_smallest(self, y: np.ndarray, factors: dict[int, float]) -> None:
        """Multi-class data: the smallest class is never downsampled (a number leaves it out; a
        mapping that names it with a factor other than 1 is refused)."""
        for k in smallest_classes(y, len(self.classes)):
            if factors.get(k, 1.0) != 1.0:
                label = self.classes[k]
                raise ConfigError(
                    f"strategy.downsample_factor.{label}={factors[k]:g} is not allowed: {label!r} is the "
                    f"smallest class of the training rows ({int(np.sum(y == k))} rows), which is never "
                    f"downsampled; leave it out of the map or give it 1.")

    def _factor_text(self) -> str:
        return f"f={_factor_text(self.downsample_factor)}"

    def _report_name(self) -> str:
        # a per-class factor is no point on a report's axis, so the label keeps it
        return self.name if self.factor() is not None else f"{self.name} {self._factor_text()}"


class DownsampleUpweight(_DownsampleBase):
    """Keep 1/f of the majority class and weight each kept row by ``upweight_factor`` (= f
    unless set), so the weighted class totals, hence the probabilities, stay as in the data.

    Multi-class data: a number f downsamples every class but the smallest, a map ``{label: f}``
    the classes it names (never the smallest); each class's upweight is its own factor unless
    ``upweight_factor`` says otherwise (a number: every class but the smallest; a map: the
    classes it names, the others keeping their factor)."""

    name = "downsample_upweight"
    weights_rows = True
    parameter_constraints = {
        "downsample_factor": FACTOR,
        "upweight_factor": AnyOf(PerClass(Worded(Interval(float, *WEIGHT_RANGE), f"use {WEIGHT_WORDS}")),
                                 Null("to use the downsample factor")),
    }

    def __init__(self, downsample_factor: Any = 10.0, upweight_factor: Any = None) -> None:
        super().__init__(downsample_factor)
        self.upweight_factor = None if upweight_factor is None else _as_given(upweight_factor)

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        super()._check_classes(classes)
        if isinstance(self.upweight_factor, Mapping):
            class_codes("strategy.upweight_factor", self.upweight_factor, classes)

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        kept = self._select(y, random_state)
        if self.classes is not None and isinstance(self.upweight_factor, Mapping):
            named = per_class("upweight_factor", self.upweight_factor, y, self.classes)
            given = class_codes("strategy.upweight_factor", self.upweight_factor, self.classes)
            weight_of = {k: (named[k] if k in given else self._factors[k]) for k in self._factors}
        else:
            weight_of = per_class(
                "upweight_factor",
                self.downsample_factor if self.upweight_factor is None else self.upweight_factor, y,
                self.classes)
        y_kept = y[kept]
        class_weight = np.ones(len(kept))
        for label, factor in weight_of.items():
            class_weight[y_kept == label] = factor
        weights = weights_or_ones(sample_weight, len(y))[kept] * class_weight
        return RowSelection(kept, weights)

    def label(self) -> str:
        text = f"{self.name} {self._factor_text()}"
        if self.upweight_factor is not None and self.upweight_factor != self.downsample_factor:
            text += f" w={_factor_text(self.upweight_factor)}"
        return text

    def report_label(self) -> str:
        # a set upweight factor stays fixed while a sweep varies f, so it names the series
        if self.upweight_factor is None:
            return self._report_name()
        return f"{self._report_name()} w={_factor_text(self.upweight_factor)}"

    def params(self) -> dict[str, Any]:
        return {"downsample_factor": self.downsample_factor,
                "upweight_factor": self.upweight_factor or self.downsample_factor}


class Downsample(_DownsampleBase):
    """Keep 1/f of the majority class, no weights. This shifts the learned prior;
    ``prior_correction`` undoes it analytically on the predicted probabilities
    (Dal Pozzolo et al. 2015): with beta = 1/f, p = beta p_s / (beta p_s - p_s + 1).

    Multi-class data: the classes are downsampled as :class:`DownsampleUpweight` does, and the
    correction multiplies each class's column by its factor f_k, then renormalises each row."""

    name = "downsample"
    parameter_constraints = {"downsample_factor": FACTOR, "prior_correction": PRIOR_CORRECTION}

    def __init__(self, downsample_factor: Any = 10.0, prior_correction: bool = False) -> None:
        super().__init__(downsample_factor)
        self.prior_correction = prior_correction

    def select_rows(self, y, sample_weight=None, *, random_state=0) -> RowSelection:
        kept = self._select(y, random_state)
        # Odds form of the correction, valid whichever class was downsampled:
        # odds_true = odds_sampled * keep(negative) / keep(positive). The nominal keep fractions
        # 1/f, not the realised shares the other strategies are corrected from: the kept count is
        # round(n / f), and the realised ratio would move every corrected score by up to 1/n.
        if self.classes is not None:  # the same reasoning, per class: column k times 1 / keep_k = f_k
            self._prior_ratio = np.array([1.0 / self._keep_fraction.get(k, 1.0) for k in range(len(self.classes))])
        else:
            self._prior_odds_ratio = self._keep_fraction.get(0, 1.0) / self._keep_fraction.get(1, 1.0)
        return RowSelection(kept, weights_or_ones(sample_weight, len(y))[kept])

    def label(self) -> str:
        return f"{self.name} {self._factor_text()}" + self.prior_suffix()

    def report_label(self) -> str:
        return self._report_name() + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        return {"downsample_factor": self.downsample_factor,
                "prior_correction": self.prior_correction}
