from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from imbexp.constraints import Constraint, Options, PerClass, check
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
        """The smallest class's share of the rows (binary: the minority's)."""
        y = np.asarray(self.y)
        if y.size and int(y.max()) > 1:  # multi-class codes: the smallest class present
            counts = np.bincount(y.astype(np.int64))
            return float(counts[counts > 0].min() / y.size)
        share = float(np.mean(y))
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
    #: multi-class: the class labels (text, in code order) that :meth:`bind_classes` set;
    #: ``None`` for binary data
    classes: tuple[str, ...] | None = None
    #: multi-class: share of class k in the rows given / its share in the rows trained on
    #: (weighted), in code order, noted when the strategy last ran: what
    #: :meth:`correct_probabilities` multiplies column k by before renormalising each row
    _prior_ratio: np.ndarray | None = None

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

    def bind_classes(self, classes: tuple[str, ...] | None) -> Strategy:
        """Learn the run's class labels (text, in code order; ``None`` for binary data, where
        this changes nothing). A per-class mapping in the config then names classes by their
        label text, and what the config asks that these classes cannot give (a class that does
        not exist, a ratio only binary data has) is refused now, before any model is fitted."""
        self.classes = None if classes is None else tuple(str(label) for label in classes)
        self._prior_ratio = None
        if self.classes is not None:
            self._check_classes(self.classes)
        return self

    def _check_classes(self, classes: tuple[str, ...]) -> None:  # noqa: B027 (a hook, not abstract)
        """What a strategy refuses of multi-class data before it sees any row (a hook)."""

    def correct_probabilities(self, p: np.ndarray) -> np.ndarray:
        """Map scores of a model fitted on the rebalanced data back to the true prior: with
        ``prior_correction``, the odds are multiplied by the ratio :meth:`_note_prior` found
        when the strategy last ran (the fit these scores come from). Multi-class scores, one
        column per class in code order, have each column multiplied by the class's prior ratio
        and each row renormalised (:func:`prior_corrected_classes`)."""
        if not self.prior_correction:
            return p
        if np.ndim(p) == 2:
            return prior_corrected_classes(p, self._prior_ratio)
        return prior_corrected(p, self._prior_odds_ratio)

    def _note_prior(self, y_given: np.ndarray, weight_given: np.ndarray | None, y_trained: np.ndarray,
                    weight_trained: np.ndarray) -> None:
        """Note how far the strategy moved the class prior: the weighted positive share of the
        training set it produced against that of the rows it was given (only when asked to
        correct: a training set left with one class is then the model's to refuse, not this);
        for multi-class data, the vector of the classes' weighted shares before and after."""
        if not self.prior_correction:
            return
        if self.classes is not None:
            self._prior_ratio = class_prior_ratio(y_given, weight_given, y_trained, weight_trained, self.classes)
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


class ClassMap(PerClass):
    """A map ``{class: value}`` only, never one value: a parameter whose single values mean
    something else (``sampling_strategy``: a number is a ratio, a map the rows per class). Being a
    :class:`PerClass`, :func:`imbexp.constraints.check` names a bad entry by its own key."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, Mapping) and super().is_satisfied_by(value)

    def allowed(self) -> str:
        return f"a map {{class: {self.each.allowed()}}}"


#: ``strategy.prior_correction``, on every strategy that moves the class prior
PRIOR_CORRECTION = Options(True, False)


def prior_corrected(p: np.ndarray, odds_ratio: float) -> np.ndarray:
    """Scores of a model fitted under a shifted class prior, mapped back: odds times
    ``odds_ratio`` (Saerens et al. 2002; with the ratio 1/f of downsampling, Dal Pozzolo et al.
    2015's p = beta p_s / (beta p_s - p_s + 1)). A monotone map, so rankings are unchanged."""
    p = np.asarray(p, dtype=np.float64)
    # rounding takes a score of 1.0 to 1 + 2.2e-16, which scikit-learn's metrics refuse
    return np.clip(odds_ratio * p / (odds_ratio * p - p + 1.0), 0.0, 1.0)


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


def class_shares(y: np.ndarray, sample_weight: np.ndarray | None, n_classes: int) -> np.ndarray:
    """Each class's share of the rows' total weight (of the rows, without weights), code order."""
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    totals = np.bincount(np.asarray(y, dtype=np.int64), weights=weight, minlength=n_classes)[:n_classes]
    total = totals.sum()
    return totals / total if total > 0 else totals


def class_prior_ratio(y_given: np.ndarray, weight_given: np.ndarray | None, y_trained: np.ndarray,
                      weight_trained: np.ndarray | None, classes: tuple[str, ...]) -> np.ndarray:
    """share_k(rows given) / share_k(rows trained on), per class in code order: the multi-class
    form of :func:`prior_odds_ratio`. A model fitted under the moved prior learns
    P_s(k | x) proportional to P(k | x) times the inverse of this ratio, so multiplying column k
    by it and renormalising restores the given rows' prior (Saerens et al. 2002). A class absent
    from the rows given is absent from the rows trained on too, and keeps the ratio 1."""
    given = class_shares(y_given, weight_given, len(classes))
    trained = class_shares(y_trained, weight_trained, len(classes))
    lost = np.flatnonzero((given > 0) & (trained <= 0))
    if lost.size:
        k = int(lost[0])
        raise DataError(f"the prior correction needs every class in the training rows, with weight; class "
                        f"{classes[k]!r} had a share of {given[k]:.3g} before the strategy and none after.")
    ratio = np.ones(len(classes))
    present = given > 0
    ratio[present] = given[present] / trained[present]
    return ratio


def prior_corrected_classes(p: np.ndarray, ratio: np.ndarray | None) -> np.ndarray:
    """Multi-class scores (n, K) under a shifted class prior, mapped back: column k times
    ``ratio[k]`` (the given prior of k over the prior trained on), each row renormalised to sum to
    1 (Saerens et al. 2002, the multi-class form of :func:`prior_corrected`). Written here because
    neither scikit-learn nor imbalanced-learn offers the adjustment. ``None`` (no ratio noted)
    leaves the scores as they are."""
    p = np.asarray(p, dtype=np.float64)
    if ratio is None:
        return p
    ratio = np.asarray(ratio, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != ratio.size:
        raise ValueError(f"scores of shape {p.shape} do not have one column per class ({ratio.size})")
    scaled = p * ratio
    total = scaled.sum(axis=1, keepdims=True)
    return np.divide(scaled, total, out=np.zeros_like(scaled), where=total > 0)


def weights_or_ones(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    return np.asarray(sample_weight, dtype=np.float64)


def class_code(key: str, label: Any, classes: tuple[str, ...]) -> int:
    """The code of the class a config mapping names by its label text (``str(label)``), or one
    sentence naming ``key`` and the classes there are."""
    text = str(label)
    if text in classes:
        return classes.index(text)
    raise ConfigError(f"{key} names class {text!r}, which is not a class of this data; its classes are "
                      f"{', '.join(repr(c) for c in classes)}.")


def class_codes(key: str, mapping: Mapping[Any, Any], classes: tuple[str, ...]) -> dict[int, Any]:
    """A mapping keyed by label text, keyed by class code instead (``key`` names it in a refusal)."""
    return {class_code(key, label, classes): value for label, value in mapping.items()}


def smallest_classes(y: np.ndarray, n_classes: int) -> list[int]:
    """The codes of the classes with the fewest training rows (several when tied), among those present."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)[:n_classes]
    fewest = counts[counts > 0].min() if (counts > 0).any() else 0
    return [int(k) for k in np.flatnonzero((counts == fewest) & (counts > 0))]


def per_class(key: str, value: Any, y: np.ndarray, classes: tuple[str, ...] | None = None) -> dict[int, float]:
    """A factor for each class: a number applies to the majority class, a mapping to the
    classes it names. The values were checked against ``parameter_constraints`` when the
    strategy was made; the class labels can only be checked against the training labels.

    Multi-class data (``classes``, the labels in code order): a number applies to every class
    except the smallest (the one with the fewest training rows; all of them when tied), a mapping
    names classes by their label text; the result covers the classes present in ``y``."""
    if classes is not None:
        present = [int(k) for k in np.unique(y)]
        factors = {k: 1.0 for k in present}
        if isinstance(value, Mapping):
            for k, factor in class_codes(f"strategy.{key}", value, classes).items():
                if k in factors:
                    factors[k] = float(factor)
            return factors
        smallest = smallest_classes(y, len(classes))
        return {k: (1.0 if k in smallest else float(value)) for k in present}
    classes, counts = np.unique(y, return_counts=True)
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
