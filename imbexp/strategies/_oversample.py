from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imbexp.constraints import AnyOf, Interval, Options, Worded, is_number
from imbexp.errors import DataError
from imbexp.strategies._base import PRIOR_CORRECTION, ClassMap, Strategy, TrainingSet
from imbexp.strategies._resampling import (
    categorical_columns,
    for_imblearn,
    has_missing,
    neighbours_within,
    resampled,
)

#: minority rows / majority rows after resampling
RATIO = Worded(Interval(float, 0, 1, closed="right"),
               "use a number > 0 and <= 1 (minority rows / majority rows after resampling)")
#: the texts imbalanced-learn's over-samplers take for ``sampling_strategy`` (which classes to
#: grow to the majority's rows; "auto" = "not majority")
OVER_SAMPLING_TEXTS = ("auto", "minority", "not minority", "not majority", "all")
#: ``sampling_strategy`` of the over-samplers: a ratio (binary data), a text, or the rows of
#: each class named after resampling (multi-class data, keyed by label text)
SAMPLING_STRATEGY = AnyOf(
    Worded(AnyOf(RATIO.inner, Options(*OVER_SAMPLING_TEXTS)),
           "use a number > 0 and <= 1 (minority rows / majority rows after resampling, binary data), one of "
           + ", ".join(OVER_SAMPLING_TEXTS)),
    ClassMap(Worded(Interval(int, 0, None, whole_floats=True),
                    "use a whole number >= 0 (the class's rows after resampling)")),
)


def _as_given(value: Any) -> Any:
    """A ratio as a float, a per-class map as a plain dict, a text as it is."""
    if isinstance(value, Mapping):
        return dict(value)
    return float(value) if is_number(value) else value


def _ratio_text(value: Any) -> str:
    """`` r=0.5`` for a ratio, `` not majority`` for a text, `` n=cat:500,dog:300`` for a map."""
    if isinstance(value, Mapping):
        return " n=" + ",".join(f"{label}:{n:g}" for label, n in value.items())
    if isinstance(value, str):
        return f" {value}"
    return f" r={value:g}"


class RandomOversample(Strategy):
    """Repeat random minority rows until minority / majority = ``sampling_strategy``; a repeated
    row carries its source row's weight. This raises the minority's prior, which
    ``prior_correction`` maps back.

    ``sampling_strategy`` may also be a text imbalanced-learn takes (``not majority``: grow every
    class but the majority to the majority's rows) or a map ``{label: rows after resampling}``,
    the forms multi-class data understands as imbalanced-learn does; a number r then grows every
    class to at least r x the largest class's rows."""

    name = "oversample"
    parameter_constraints = {"sampling_strategy": SAMPLING_STRATEGY, "prior_correction": PRIOR_CORRECTION}
    factor_name = "sampling_strategy"

    def __init__(self, sampling_strategy: Any = 1.0, prior_correction: bool = False) -> None:
        self.sampling_strategy = _as_given(sampling_strategy)
        self.prior_correction = prior_correction

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        for_imblearn(self.sampling_strategy, "strategy.sampling_strategy", classes)

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import RandomOverSampler

        ratio = for_imblearn(self.sampling_strategy, "strategy.sampling_strategy", self.classes, y, "over-sampling")
        sampler = RandomOverSampler(sampling_strategy=ratio, random_state=random_state)
        training = resampled(sampler, X, y, sample_weight, f"strategy {self.name}",
                             ratio_key="strategy.sampling_strategy", classes=self.classes)
        self._note_prior(y, sample_weight, training.y, training.sample_weight)
        return training

    def label(self) -> str:
        return f"{self.name}{_ratio_text(self.sampling_strategy)}{self.prior_suffix()}"

    def report_label(self) -> str:
        # a text or a map is no point on a report's axis, so the label keeps it
        variant = "" if is_number(self.sampling_strategy) else _ratio_text(self.sampling_strategy)
        return self.name + variant + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        return {"sampling_strategy": self.sampling_strategy, "prior_correction": self.prior_correction}


SMOTE_KINDS = ("auto", "smote", "adasyn", "borderline", "smotenc")


class Smote(Strategy):
    """imbalanced-learn's synthetic oversamplers. ``auto`` is SMOTE, or SMOTENC when the data
    has categorical columns. The input rows keep their weights, a synthetic row takes its class's
    mean weight (:mod:`imbexp.strategies._resampling`). ``sampling_strategy`` takes what
    :class:`RandomOversample`'s does (a ratio, a text, or a map of rows per class)."""

    name = "smote"
    parameter_constraints = {
        "kind": Worded(Options(*SMOTE_KINDS), f"use one of {', '.join(SMOTE_KINDS)}"),
        "k_neighbors": Interval(int, 1, None, whole_floats=True),
        "sampling_strategy": SAMPLING_STRATEGY,
        "prior_correction": PRIOR_CORRECTION,
    }
    factor_name = "sampling_strategy"

    def __init__(self, kind: str = "auto", k_neighbors: Any = 5, sampling_strategy: Any = 1.0,
                 prior_correction: bool = False) -> None:
        self.kind = kind
        self.k_neighbors = int(k_neighbors)
        self.sampling_strategy = _as_given(sampling_strategy)
        self.prior_correction = prior_correction

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        for_imblearn(self.sampling_strategy, "strategy.sampling_strategy", classes)

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE

        k = neighbours_within(self.k_neighbors, y, "strategy.k_neighbors", "strategy smote")
        categorical = categorical_columns(X)
        kind = self.kind
        if kind == "auto":
            kind = "smotenc" if categorical else "smote"
        if kind == "smotenc" and not categorical:
            raise DataError("strategy.kind=smotenc needs categorical columns; this data has none "
                            "(use kind=smote).")
        if kind != "smotenc" and categorical:
            raise DataError(f"strategy.kind={kind} works on numeric columns only; the data has "
                            f"categorical columns {categorical[:5]} (use kind=smotenc or auto).")
        if has_missing(X):
            raise DataError(f"strategy.kind={kind} cannot use rows with missing values; "
                            "fill them or use another strategy.")
        ratio = for_imblearn(self.sampling_strategy, "strategy.sampling_strategy", self.classes, y, "over-sampling")
        common = {"sampling_strategy": ratio, "random_state": random_state}
        sampler = {
            "smote": lambda: SMOTE(k_neighbors=k, **common),
            "adasyn": lambda: ADASYN(n_neighbors=k, **common),
            "borderline": lambda: BorderlineSMOTE(k_neighbors=k, **common),
            "smotenc": lambda: SMOTENC(categorical_features=categorical, k_neighbors=k, **common),
        }[kind]()
        training = resampled(sampler, X, y, sample_weight, f"strategy {self.name}",
                             ratio_key="strategy.sampling_strategy", classes=self.classes)
        self._note_prior(y, sample_weight, training.y, training.sample_weight)
        return training

    def label(self) -> str:
        # a ratio is the factor, left out as ever; a text or a map names the series
        variant = "" if is_number(self.sampling_strategy) else _ratio_text(self.sampling_strategy)
        return ((self.name if self.kind in ("auto", "smote") else f"{self.name} {self.kind}") + variant
                + self.prior_suffix())

    def report_label(self) -> str:
        return self.label()

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "k_neighbors": self.k_neighbors,
                "sampling_strategy": self.sampling_strategy, "prior_correction": self.prior_correction}
