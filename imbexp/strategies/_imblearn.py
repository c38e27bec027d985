from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from imbexp import components
from imbexp.constraints import AnyOf, Null, Text, is_number
from imbexp.errors import ConfigError, DataError, first_line
from imbexp.strategies._base import PRIOR_CORRECTION, Strategy, TrainingSet
from imbexp.strategies._resampling import (
    categorical_columns,
    depends_on_seed,
    for_imblearn,
    has_missing,
    minority_count,
    neighbours_within,
    resampled,
    seeded,
)

#: where the sampler sits in the config: every sentence about it names this key path
KEY = "strategy.sampler"
#: samplers that take what a distance-based one cannot (named in the sentences that refuse it)
TAKES_ANY_DATA = "imblearn.under_sampling.RandomUnderSampler or imblearn.over_sampling.RandomOverSampler"


def public_path(obj: Any) -> str:
    """``imblearn.under_sampling.TomekLinks``, not the private module it is defined in."""
    cls = obj if isinstance(obj, type) else type(obj)
    parts = cls.__module__.split(".")
    public = next((i for i, part in enumerate(parts) if part.startswith("_")), len(parts))
    return ".".join(parts[:public] + [cls.__qualname__])


def snake_case(name: str) -> str:
    """``TomekLinks`` -> ``tomek_links``, ``SMOTEENN`` -> ``smoteenn``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def check_sampler(sampler: Any, key: str = KEY) -> Any:
    """``sampler`` if it is an imbalanced-learn sampler whose arguments pass its own parameter
    check, else one sentence naming ``key``.

    imbalanced-learn samplers declare ``_parameter_constraints`` and check them at
    ``fit_resample``, after the data is loaded; :func:`imbexp.models.check_arguments` runs that
    check now, here and on each estimator inside (SMOTEENN's ``smote``, InstanceHardnessThreshold's
    ``estimator``), with the key path of each.
    """
    from imbexp.models import check_arguments  # models imports the strategies

    if not hasattr(sampler, "fit_resample") or isinstance(sampler, type):
        if not hasattr(sampler, "get_params"):
            raise ConfigError(f"{key}={sampler!r} is not allowed; use a sampler spec with {key}._target_, "
                              "e.g. imblearn.under_sampling.TomekLinks.")
        raise ConfigError(f"{key}._target_={public_path(sampler)!r} is not an imbalanced-learn sampler (it has "
                          "no fit_resample); use one such as imblearn.under_sampling.TomekLinks or "
                          "imblearn.over_sampling.SMOTE.")
    _check_arguments(sampler, key, check_arguments)
    ratio = sampler.get_params(deep=False).get("sampling_strategy")
    if getattr(sampler, "_sampling_type", None) == "clean-sampling" and is_number(ratio):
        words = _string_options(sampler) or "auto"
        raise ConfigError(f"{key}.sampling_strategy={ratio!r} is not allowed for {public_path(sampler)}, which "
                          f"removes the rows it judges noisy rather than aiming at a ratio; use {words}.")
    return sampler


def _check_arguments(estimator: Any, key: str, check_arguments: Any) -> None:
    params = estimator.get_params(deep=False)
    check_arguments(estimator, key, params)
    for name, value in params.items():
        if hasattr(value, "get_params") and not isinstance(value, type):
            _check_arguments(value, f"{key}.{name}", check_arguments)


def _string_options(sampler: Any) -> str:
    """The text values ``sampling_strategy`` takes, from the sampler's own constraints."""
    for constraint in getattr(type(sampler), "_parameter_constraints", {}).get("sampling_strategy", []):
        options = getattr(constraint, "options", None)
        if options:
            return ", ".join(sorted(options))
    return ""


def _input_tags(sampler: Any) -> tuple[bool, bool]:
    """Whether the sampler takes missing values, and text (categorical) columns, as it declares."""
    try:
        from sklearn.utils import get_tags
    except ImportError:  # scikit-learn < 1.6: the tags were a dict
        tags = sampler._get_tags()
        return bool(tags.get("allow_nan")), "string" in tags.get("X_types", ())
    found = get_tags(sampler).input_tags
    return bool(found.allow_nan), bool(found.string or found.categorical)


class ImblearnSampler(Strategy):
    """Any imbalanced-learn sampler as a strategy: ``strategy=imblearn
    strategy.sampler._target_=imblearn.under_sampling.TomekLinks`` and the sampler's own
    parameters under ``strategy.sampler.*``; the presets (``strategy=tomek_links``, ``near_miss``,
    ``smote_enn``...) are this adapter with a sampler chosen.

    The sampler is built by :func:`imbexp.components.build` under the key ``strategy.sampler`` and
    its arguments checked at once (:func:`check_sampler`). It is seeded with the run's seed
    wherever it has a ``random_state``. Kept rows keep their weights, synthetic rows take their
    class's mean weight (:mod:`imbexp.strategies._resampling`), so with unweighted data it gives
    no weights of its own. It moves the class prior; ``prior_correction`` maps the scores back.

    Multi-class data: ``sampling_strategy`` as a map names classes by their label text
    (``{cat: 300}``, rows of the class after resampling; a cleaning sampler's list of classes
    too), translated to the codes imbalanced-learn is given; a text (``auto``, ``not majority``...)
    means what imbalanced-learn says; a number r keeps its binary meaning per class (an
    over-sampler grows every class to r x the largest's rows, an under-sampler shrinks every class
    to the smallest's rows / r).
    """

    name = "imblearn"
    parameter_constraints = {
        "name": AnyOf(Text("a short name for run names and reports"), Null("to use the sampler's class name")),
        "prior_correction": PRIOR_CORRECTION,
    }
    factor_name = "sampler.sampling_strategy"

    def __init__(self, sampler: Any, name: str | None = None, prior_correction: bool = False) -> None:
        if isinstance(sampler, Mapping):
            sampler = components.build(sampler, KEY)
        self.sampler = check_sampler(sampler)
        self.name = name or snake_case(type(sampler).__name__)
        self.prior_correction = prior_correction

    @property
    def uses_seed(self) -> bool:  # type: ignore[override]
        return depends_on_seed(self.sampler)

    def _check_classes(self, classes: tuple[str, ...]) -> None:
        from sklearn.base import clone

        self._for_classes(clone(self.sampler), classes)  # the sampler as configured stays keyed by text

    def _for_classes(self, sampler: Any, classes: tuple[str, ...], y: np.ndarray | None = None) -> None:
        """The sampler's ``sampling_strategy`` (its own and that of the samplers inside it, such as
        SMOTEENN's ``smote``) as imbalanced-learn takes it for multi-class codes
        (:func:`imbexp.strategies._resampling.for_imblearn`: maps keyed by codes rather than label
        text, a ratio turned into rows per class for the training labels ``y``)."""
        params = sampler.get_params(deep=True)
        owners = {"": sampler, **{name: value for name, value in params.items() if hasattr(value, "fit_resample")}}
        updates = {}
        for prefix, owner in owners.items():
            param = f"{prefix}__sampling_strategy" if prefix else "sampling_strategy"
            if param in params:
                key = f"{KEY}.{param.replace('__', '.')}"
                updates[param] = for_imblearn(params[param], key, classes, y, getattr(owner, "_sampling_type", None))
        if updates:
            sampler.set_params(**updates)

    def fit_resample(self, X, y, sample_weight=None, *, random_state=0) -> TrainingSet:
        who = f"strategy {self.name}"
        sampler = seeded(self.sampler, random_state)
        if self.classes is not None:
            self._for_classes(sampler, self.classes, y)
        self._check_data(sampler, X, y, who)
        training = resampled(sampler, X, y, sample_weight, who, ratio_key=f"{KEY}.sampling_strategy",
                             explain=lambda exc: self._explain(exc, y), classes=self.classes)
        self._note_prior(y, sample_weight, training.y, training.sample_weight)
        return training

    def _check_data(self, sampler: Any, X, y, who: str) -> None:
        """What the sampler cannot take, said before it fails on it; its ``k_neighbors`` (and
        those of a SMOTE inside it) lowered to the minority rows there are, as strategy=smote does."""
        takes_missing, takes_text = _input_tags(sampler)
        target = f"{KEY}._target_={public_path(sampler)!r}"
        categorical = categorical_columns(X)
        if categorical and not takes_text:
            raise DataError(f"{who} ({target}) works on numeric columns only; the data has categorical columns "
                            f"{categorical[:5]} (encode them, or use a sampler that takes them: "
                            "imblearn.over_sampling.SMOTENC, SMOTEN, RandomOverSampler or "
                            "imblearn.under_sampling.RandomUnderSampler).")
        if not takes_missing and has_missing(X):
            raise DataError(f"{who} ({target}) cannot use rows with missing values; fill them or use "
                            f"{TAKES_ANY_DATA}.")
        for param, value in sampler.get_params(deep=True).items():
            if (param == "k_neighbors" or param.endswith("__k_neighbors")) and is_number(value):
                key = f"{KEY}.{param.replace('__', '.')}"
                lowered = neighbours_within(int(value), y, key, who)
                if lowered != value:
                    sampler.set_params(**{param: lowered})

    def _explain(self, exc: BaseException, y: np.ndarray) -> str | None:
        """A sampler's refusals that have a fix in the config, worded with it."""
        text = first_line(exc)
        who = f"strategy {self.name}"
        if text.startswith("Expected n_neighbors <= n_samples"):
            keys = sorted(f"{KEY}.{p.replace('__', '.')}" for p in self.sampler.get_params(deep=True)
                          if p.endswith("neighbors") or p.endswith("n_neighbors_ver3"))
            return (f"{who} has too few rows for its neighbours ({text}); the training part has "
                    f"{minority_count(y)} minority rows; lower {' or '.join(keys) or 'its neighbour counts'}.")
        if text.startswith("No clusters found with sufficient samples"):
            params = self.sampler.get_params(deep=False)
            return (f"{who} found no cluster with enough minority rows: KMeansSMOTE fills only clusters whose "
                    f"minority share is at least {KEY}.cluster_balance_threshold "
                    f"(={params.get('cluster_balance_threshold')!r}) and that hold more than "
                    f"{KEY}.k_neighbors (={params.get('k_neighbors')!r}) minority rows; lower either, or give "
                    f"{KEY}.kmeans_estimator more clusters.")
        return None

    def _sampler_params(self) -> dict[str, Any]:
        """The sampler's parameters that are plain values (nested estimators are their own)."""
        return {name: value for name, value in self.sampler.get_params(deep=False).items()
                if value is None or isinstance(value, str | int | float | bool)}

    def _variant(self) -> str:
        """What names a series in a report besides the factor: the NearMiss version, a text or
        per-class ``sampling_strategy``."""
        params = self._sampler_params()
        text = f" v{params['version']}" if "version" in params else ""
        ratio = self.sampler.get_params(deep=False).get("sampling_strategy")
        if isinstance(ratio, str) and ratio != "auto":
            text += f" {ratio}"
        elif isinstance(ratio, Mapping):
            text += " n=" + ",".join(f"{label}:{count}" for label, count in ratio.items())
        return text

    def label(self) -> str:
        """``near_miss v2``, ``smote_enn r=0.5``, ``tomek_links +prior``."""
        factor = self.factor()
        return (self.name + self._variant() + (f" r={factor:g}" if factor is not None else "")
                + self.prior_suffix())

    def report_label(self) -> str:
        return self.name + self._variant() + self.prior_suffix()

    def params(self) -> dict[str, Any]:
        given = {f"sampler.{name}": value for name, value in self._sampler_params().items()}
        return {"sampler._target_": public_path(self.sampler), **given, "prior_correction": self.prior_correction}
