"""Multi-class runs: metrics, decision rules, intervals and plots of K >= 3 classes.

Light on import: the submodules (scikit-learn, matplotlib) load when first used, so binary runs
and the CLI's start-up do not pay for them.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["class_key", "check_class_keys", "metrics", "decisions", "intervals", "plots"]

_SUBMODULES = ("metrics", "decisions", "intervals", "plots")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def class_key(label: str) -> str:
    """A class label as it appears in metric and column names (``recall_<key>``, ``p_<key>``):
    every character outside ``[A-Za-z0-9_.-]`` replaced by ``_`` (MLflow's metric names allow
    few characters; "credit card" -> ``credit_card``)."""
    return _UNSAFE.sub("_", str(label))


def check_class_keys(classes: tuple[str, ...] | list[str]) -> None:
    """Refuse class labels whose keys would be empty or collide, which would make two classes
    log under one metric name (``"a b"`` and ``"a_b"`` are both ``a_b``)."""
    from imbexp.errors import DataError

    seen: dict[str, str] = {}
    for label in classes:
        key = class_key(label)
        if not key:
            raise DataError(f"the class label {str(label)!r} is empty; every class needs a non-empty label "
                            "to name its metrics.")
        if key in seen:
            raise DataError(f"the classes {seen[key]!r} and {str(label)!r} both become {key!r} in metric names "
                            "(characters outside A-Z, a-z, 0-9, _ . - become _); rename one of them.")
        seen[key] = str(label)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
