"""The columns a report groups and draws runs by, in the words each run's strategy chose.

A run logs its strategy's label without the factor (tag ``imbexp.label``, e.g. ``downsample
+prior``), the name of the parameter its sweeps vary (tag ``imbexp.factor_name``) and that
factor's value (metric ``imbexp.factor``). Runs logged before those tags existed are described by
rebuilding their strategy from its logged ``strategy.*`` params and asking it the same questions,
so the report itself knows no strategy's parameter names.
"""

from __future__ import annotations

import ast
import math
from functools import lru_cache
from typing import Any

import pandas as pd

from imbexp import names
from imbexp.report import _multiclass as multiclass
from imbexp.tracking import DATASET_FACTS, FACTOR_METRIC, FACTOR_NAME_TAG, LABEL_TAG, dataset_fact

_STRATEGY_PARAM = "params.strategy."


def column(runs: pd.DataFrame, name: str) -> pd.Series:
    """``runs[name]``, or a column of None where no run logged it."""
    return runs[name] if name in runs else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def number(text: Any) -> float | None:
    """A finite float, or None for text, missing values and infinities."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _last_word(target: pd.Series) -> pd.Series:
    return target.fillna("").astype(str).str.rsplit(".", n=1).str[-1]


def describe_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Add what a report groups by: ``strategy_name``, ``strategy_label``, ``factor`` (with
    ``factor_name``), ``model``, ``dataset``, ``degree``, ``trial`` and the dataset's facts
    (``dataset_rows``, ``dataset_minority_fraction``...: tracking.DATASET_FACTS); for multi-class runs also
    their worst class's recall and a per-class factor mapping in the label (``_multiclass.describe``)."""
    runs = runs.copy()
    name = column(runs, "tags.strategy").fillna(_last_word(column(runs, "params.strategy._target_")))
    runs["strategy_name"] = name.replace("", "unknown")
    rebuilt = _rebuilt_descriptions(runs)
    runs["strategy_label"] = column(runs, f"tags.{LABEL_TAG}").fillna(rebuilt["label"]).fillna(runs["strategy_name"])
    runs["factor"] = column(runs, FACTOR_METRIC).map(number).astype(float).fillna(rebuilt["factor"])
    factor_name = column(runs, f"tags.{FACTOR_NAME_TAG}").fillna(rebuilt["factor_name"])
    runs["factor_name"] = factor_name.where(runs["factor"].notna())
    model = column(runs, "params.model.name").fillna(_last_word(column(runs, "params.model.estimator._target_")))
    runs["model"] = column(runs, "tags.model").fillna(model).replace("", "unknown")
    runs["dataset"] = column(runs, "tags.dataset").fillna(column(runs, "params.dataset.name")).fillna("unknown")
    runs["degree"] = column(runs, "tags.degree").fillna("")
    runs["trial"] = column(runs, f"tags.{names.TRIAL_NUMBER_TAG}").map(number).astype(float)
    for fact in DATASET_FACTS:  # a number per run, from its tag or the metric older runs logged
        runs[fact] = [dataset_fact(tag, metric) for tag, metric in zip(column(runs, f"tags.{fact}"),
                                                                         column(runs, fact), strict=True)]
    return multiclass.describe(runs)


def _rebuilt_descriptions(runs: pd.DataFrame) -> pd.DataFrame:
    """Label, factor and factor name of each run without the label tag, from its rebuilt strategy."""
    keys = [c for c in runs if c.startswith(_STRATEGY_PARAM)]
    lacking = column(runs, f"tags.{LABEL_TAG}").isna()
    rows = {}
    for index, params in runs.loc[lacking, keys].iterrows():
        given = tuple((key.removeprefix(_STRATEGY_PARAM), value) for key, value in params.items() if pd.notna(value))
        rows[index] = _describe_strategy(given)
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["label", "factor", "factor_name"])
    return frame.reindex(runs.index).astype({"factor": float})


@lru_cache(maxsize=256)
def _describe_strategy(params: tuple[tuple[str, str], ...]) -> tuple[str | None, float | None, str | None]:
    """(report label, factor, factor name) of the strategy these logged params build; all None
    when they build none (a class since renamed, a parameter it no longer takes, another tool's run)."""
    from imbexp import components

    given = dict(params)
    try:
        spec = {"_target_": given.pop("_target_"), **{key: _value(text) for key, text in given.items()}}
        strategy = components.build(spec, "strategy")
        factor = strategy.factor()
        return strategy.report_label(), factor, strategy.factor_name if factor is not None else None
    except Exception:
        return None, None, None


def _value(text: str) -> Any:
    """A logged param back to the value it was: ``10``, ``0.5``, ``True``, ``null``, ``balanced``."""
    if text == "null":
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
