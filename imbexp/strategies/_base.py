from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from imbexp.constraints import Constraint, Options, check
from imbexp.errors import ConfigError, DataError


@dataclass
class TrainingSet:
    """What a strategy hands to the model: rows, labels and one weight per row.

    ``indices`` are the positions of the kept input rows when the strategy only selects or
    repeats rows (downsampling, an imbalanced-learn under-sampler, random oversampling: a
    position repeats where a row is repeated); ``None`` when it synthesises new ones.
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


def _checked(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` preceded by the check of each argument against ``parameter_constraints``."""
    signature = inspect.signature(init)

    @functools.wraps(init)  # keeps the signature, which the builder reads to refuse unknown keys
    def checked_init(self: Strategy, *args: Any, **kwargs: Any) -> None:
        given = signature.bind(self, *args, **kwargs).arguments
        for name, value in list(given.items())[1:]:
            constraint = type(self).parameter_constraints.get(name)
            if constraint is not None:
                check(f"strategy.{name}", value, constraint)
        init(self, *args, **kwargs)

    return checked_init


class Strategy(ABC):
    """A rebalancing strategy.

    Its parameters are declared as data, ``parameter_constraints`` (the vocabulary of
    :mod:`imbexp.constraints`), and checked here before the subclass's ``__init__`` runs, so every
    strategy refuses a bad value with the same sentence, made from what it declares.

    Strategies that only keep and weight rows (``selects_rows``) decide from the labels alone
    through :meth:`select_rows`; their ``fit_resample`` is that selection applied to ``X``.
    A run can then read only the kept rows of a large file. ``weights_rows`` says whether the
    strategy gives rows weights other than the dataset's own, so the model must take
    ``sample_weight`` in ``fit`` (checked before any data is loaded).
    """

    name: ClassVar[str]
    selects_rows: ClassVar[bool] = False
    weights_rows: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: whether the seed chooses the result (a random draw); a deterministic rule (Tomek links,
    #: edited nearest neighbours) gives the same rows whatever the seed
    uses_seed: bool = True
    #: set by the strategies that move the class prior and offer ``strategy.prior_correction``
    prior_correction: bool = False
    #: odds(prior of the rows given) / odds(prior of the rows trained on), noted when the
    #: strategy last ran: what :meth:`correct_probabilities` multiplies the odds by
    _prior_odds_ratio: float = 1.0
    #: a multi-class run's labels in code order (:meth:`bind_classes`); None for binary data
    _classes: tuple[str, ...] | None = None
    #: per class code, share given / share trained on (multi-class: what the probabilities of
    #: each class are multiplied by before the rows are renormalised)
    _prior_class_ratio: np.ndarray | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked(cls.__dict__["__init__"])  # type: ignore[method-assign]
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

    def bind_classes(self, classes: tuple[str, ...] | None) -> None:
        """The run's class labels in code order (multi-class data), so that per-class mappings in
        the config name classes by their label text; None (binary data) changes nothing."""
        self._classes = None if classes is None else tuple(str(c) for c in classes)

    def correct_probabilities(self, p: np.ndarray) -> np.ndarray:
        """Map scores of a model fitted on the rebalanced data back to the true prior: with
        ``prior_correction``, the odds are multiplied by the ratio :meth:`_note_prior` found
        when the strategy last ran (the fit these scores come from). Multi-class probabilities
        (n, K): each class's column times its share given / share trained on, rows renormalised
        (the same Bayes step, Saerens et al. 2002)."""
        if not self.prior_correction:
            return p
        if np.ndim(p) == 2:
            ratio = self._prior_class_ratio if self._prior_class_ratio is not None else np.ones(np.shape(p)[1])
            return class_prior_corrected(p, ratio)
        return prior_corrected(p, self._prior_odds_ratio)

    def _note_prior(self, y_given: np.ndarray, weight_given: np.ndarray | None, y_trained: np.ndarray,
                    weight_trained: np.ndarray) -> None:
        """Note how far the strategy moved the class prior: the weighted positive share of the
        training set it produced against that of the rows it was given (only when asked to
        correct: a training set left with one class is then the model's to refuse, not this)."""
        if not self.prior_correction:
            return
        if self._classes is not None:
            self._prior_class_ratio = class_prior_ratio(y_given, weight_given, y_trained, weight_trained,
                                                        len(self._classes))
        else:
            self._prior_odds_ratio = prior_odds_ratio(y_given, weight_given, y_trained, weight_trained)

    def label(self) -> str:
        """Short text for run names, e.g. ``downsample_upweight f=20``."""
        return self.name

    def prior_suffix(self) -> str:
        """`` +prior`` for a strategy whose scores are prior-corrected, else nothing: the end of
        its labels, so corrected and uncorrected runs are told apart in names and reports."""
        return " +prior" if self.prior_correction else ""

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


#: the range of a class weight relative to the other class's (``minority_weight``,
#: ``upweight_factor``). Measured with LightGBM on 3,000 rows at 5 % minority: a weight of 1e15
#: leaves 16 distinct scores and 1e20 a constant model (ROC-AUC 0.5: the other class vanishes
#: from the double-precision gradient sums); 1e-5 gives a constant model too (no leaf reaches
#: min_child_weight's hessian sum), 1e-4 does not. The bounds keep a margin on both sides.
WEIGHT_RANGE = (1e-3, 1e12)
WEIGHT_WORDS = "a number > 0 within 0.001 to 1e12 (beyond, a booster's model turns constant)"


#: ``strategy.prior_correction``, on every strategy that moves the class prior
PRIOR_CORRECTION = Options(True, False)


def prior_corrected(p: np.ndarray, odds_ratio: float) -> np.ndarray:
    """Scores of a model fitted under a shifted class prior, mapped back: odds times
    ``odds_ratio`` (Saerens et al. 2002; with the ratio 1/f of downsampling, Dal Pozzolo et al.
    2015's p = beta p_s / (beta p_s - p_s + 1)). A monotone map, so rankings are unchanged."""
    p = np.asarray(p, dtype=np.float64)
    # rounding takes a score of 1.0 to 1 + 2.2e-16, which scikit-learn's metrics refuse
    return np.clip(odds_ratio * p / (odds_ratio * p - p + 1.0), 0.0, 1.0)


def class_prior_corrected(P: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Multi-class probabilities of a model fitted under shifted class shares, mapped back: each
    column times ``ratio`` (share given / share trained on), each row renormalised to 1."""
    P = np.asarray(P, dtype=np.float64) * np.asarray(ratio, dtype=np.float64)[None, :]
    total = P.sum(axis=1, keepdims=True)
    return np.divide(P, total, out=np.full_like(P, 1.0 / P.shape[1]), where=total > 0)


def class_shares(y: np.ndarray, sample_weight: np.ndarray | None, n_classes: int) -> np.ndarray:
    """Each class code's share of the rows' total weight (of the rows, without weights)."""
    y = np.asarray(y, dtype=np.int64)
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    totals = np.bincount(y, weights=weight, minlength=n_classes)
    return totals / totals.sum()


def class_prior_ratio(y_given: np.ndarray, weight_given: np.ndarray | None, y_trained: np.ndarray,
                      weight_trained: np.ndarray | None, n_classes: int) -> np.ndarray:
    """Per class, share given / share trained on: what the multi-class prior correction
    multiplies each class's probability by. Every class must keep some training weight."""
    given = class_shares(y_given, weight_given, n_classes)
    trained = class_shares(y_trained, weight_trained, n_classes)
    if np.any(trained <= 0) or np.any(given <= 0):
        raise DataError("the prior correction needs every class in the training rows, with weight; the shares "
                        f"were {np.round(given, 4).tolist()} before the strategy and "
                        f"{np.round(trained, 4).tolist()} after.")
    return given / trained


def positive_share(y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """The positives' share of the rows' total weight (of the rows, without weights)."""
    positive = np.asarray(y) == 1
    if sample_weight is None:
        return float(np.mean(positive))
    weight = np.asarray(sample_weight, dtype=np.float64)
    return float(weight[positive].sum() / weight.sum())


def prior_odds_ratio(y_given: np.ndarray, weight_given: np.ndarray | None, y_trained: np.ndarray,
                     weight_trained: np.ndarray | None) -> float:
    """odds(positive share of the rows given) / odds(positive share of the rows trained on).

    A model fitted on the training set learns odds times the inverse of this ratio (the
    class-conditional densities are the rows', only the prior moved), so multiplying its odds by
    the ratio restores the given rows' prior. For downsampling by f without weights the ratio is
    about 1/f; for class weights w on the minority, 1/w.
    """
    given, trained = positive_share(y_given, weight_given), positive_share(y_trained, weight_trained)
    if not (0 < given < 1 and 0 < trained < 1):
        raise DataError(f"the prior correction needs both classes in the training rows, with weight; the "
                        f"positive share was {given:.3g} before the strategy and {trained:.3g} after.")
    return (given / (1.0 - given)) / (trained / (1.0 - trained))


def weights_or_ones(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    return np.asarray(sample_weight, dtype=np.float64)


def per_class(key: str, value: Any, y: np.ndarray, names: tuple[str, ...] | None = None) -> dict[int, float]:
    """A factor for each class code: a number applies to the majority class (multi-class data,
    ``names`` given: to every class but the smallest), a mapping to the classes it names (by
    label text for multi-class data, by code 0/1 for binary). The values were checked against
    ``parameter_constraints`` when the strategy was made; the class labels can only be checked
    against the training labels."""
    classes, counts = np.unique(y, return_counts=True)
    if names is not None:
        codes = {label: code for code, label in enumerate(names)}
        if isinstance(value, Mapping):
            factors = {int(c): 1.0 for c in classes}
            for label, factor in value.items():
                if str(label) not in codes:
                    raise ConfigError(f"strategy.{key} names class {str(label)!r}, which is not a class of the data; "
                                      f"the classes are {', '.join(map(repr, names))}.")
                factors[codes[str(label)]] = float(factor)
            return factors
        smallest = int(classes[np.argmin(counts)])
        return {int(c): (1.0 if int(c) == smallest else float(value)) for c in classes}
    if isinstance(value, Mapping):
        factors = {int(c): 1.0 for c in classes}
        for label, factor in value.items():
            if int(label) not in factors:
                raise ConfigError(f"strategy.{key} names class {label!r}, which is not in the "
                                  f"training labels {sorted(factors)}.")
            factors[int(label)] = float(factor)
        return factors
    majority = int(classes[np.argmax(counts)])
    return {int(c): (float(value) if int(c) == majority else 1.0) for c in classes}
