"""A suite's runs, read back from its MLflow experiment as one row per run.

The suite is the experiment, not one command: a resumed suite, a second preset logging into the
same experiment (``elor2022_shares`` beside ``elor2022``) and runs made on other machines all
count. A configuration run twice (a retried trial) counts once, its latest FINISHED run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from imbexp import compare, names, tracking
from imbexp.errors import ImbexpError

#: the columns every row has besides the test metrics
KEYS = ("dataset", "model", "strategy", "seed")


def _strategy_label(run: Any) -> tuple[str, str | None, float | None]:
    """The strategy's name and, where it has one, its factor (name and value)."""
    name = run.data.tags.get("strategy") or run.data.params.get("strategy._target_", "?").rsplit(".", 1)[-1]
    factor = run.data.tags.get(names.FACTOR_NAME_TAG)
    value = run.data.metrics.get(names.FACTOR_METRIC)
    return name, factor, value


def _fact(run: Any, name: str) -> float:
    return tracking.dataset_fact(run.data.tags.get(name), run.data.metrics.get(name))


def load_suite_runs(client: Any, experiment_id: str, metrics: list[str]) -> pd.DataFrame:
    """Every FINISHED run of the experiment that was tested (not a grid's parent, not a group of
    seeds): dataset, model, strategy label, seed, the dataset's size, and ``test_<m>`` /
    ``test_<m>_delta*`` for each metric."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token,
                                  filter_string="attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"])
        runs += [run for run in page if "strategy._target_" in run.data.params and not compare.is_group(run)]
        token = page.token
        if not token:
            break
    if not runs:
        return pd.DataFrame(columns=[*KEYS])
    rows = []
    for run in runs:
        name, factor, value = _strategy_label(run)
        m = run.data.metrics
        row = {"run_id": run.info.run_id,
               "dataset_name": run.data.params.get("dataset.name") or run.data.tags.get("dataset"),
               "dataset_settings": {k: v for k, v in run.data.params.items()
                                    if k.startswith("dataset.") and k not in ("dataset.name", "dataset._target_")},
               "model": run.data.tags.get("model") or run.data.params.get("model.name", "?"),
               "strategy_name": name, "factor_name": factor, "factor": value,
               "seed": int(float(run.data.params.get("seed", 0))),
               "rows": _fact(run, "dataset_rows"), "positives": _fact(run, "dataset_positives"),
               "classes": _fact(run, "dataset_classes"),
               "minority_fraction": _fact(run, "dataset_minority_fraction"),
               "start": run.info.start_time}
        for metric in metrics:
            row[metric] = m.get(f"test_{metric}", math.nan)
            for end in ("", "_ci_low", "_ci_high"):
                row[f"{metric}_delta{end}"] = m.get(f"test_{metric}_delta{end}", math.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["dataset"] = _dataset_labels(frame)
    frame["strategy"] = _labels(frame)
    # newest first (the search's order): a configuration run again keeps its latest run
    frame = frame.drop_duplicates(subset=list(KEYS), keep="first")
    # a multi-class dataset has no positives: its classes and smallest class's share say it instead
    frame["imbalance_ratio"] = (frame["rows"] - frame["positives"]) / frame["positives"]
    frame["minority_fraction"] = frame["minority_fraction"].fillna(frame["positives"] / frame["rows"])
    return frame.reset_index(drop=True)


def _dataset_labels(frame: pd.DataFrame) -> pd.Series:
    """The dataset's name, with the settings that differ between the experiment's runs of it
    (``known_prob minority_fraction=0.01``): a generator at three prevalences is three datasets."""
    varying: dict[str, list[str]] = {}
    for name, group in frame.groupby("dataset_name"):
        keys = sorted({k for settings in group["dataset_settings"] for k in settings})
        varying[name] = [k for k in keys if len({settings.get(k) for settings in group["dataset_settings"]}) > 1]

    def label(row: pd.Series) -> str:
        extra = " ".join(f"{k.removeprefix('dataset.')}={row['dataset_settings'].get(k)}"
                         for k in varying[row["dataset_name"]])
        return f"{row['dataset_name']} {extra}".strip()

    return frame.apply(label, axis=1)


def _labels(frame: pd.DataFrame) -> pd.Series:
    """The strategy's name, with its factor where the experiment ran it at several values on one
    dataset (``oversample sampling_strategy=0.25``), so that each setting is its own contender; a
    factor that only follows the dataset (undersampling to 1:1) stays out of the name."""
    counts = frame.groupby(["strategy_name", "dataset"])["factor"].nunique(dropna=True)
    several = (counts > 1).groupby(level="strategy_name").any()

    def label(row: pd.Series) -> str:
        if several.get(row["strategy_name"], False) and row["factor_name"] and np.isfinite(row["factor"]):
            return f"{row['strategy_name']} {row['factor_name']}={row['factor']:g}"
        return str(row["strategy_name"])

    return frame.apply(label, axis=1) if len(frame) else pd.Series(dtype=str)


def per_dataset(frame: pd.DataFrame, model: str, metric: str) -> pd.DataFrame:
    """The mean of ``metric`` over seeds: a row per dataset, a column per strategy."""
    rows = frame[frame["model"] == model]
    return rows.pivot_table(index="dataset", columns="strategy", values=metric, aggfunc="mean")


def seed_deltas(frame: pd.DataFrame, model: str, metric: str, baseline: str) -> pd.DataFrame:
    """Each strategy's per-seed delta against the baseline on the same dataset and seed (so the
    same test rows): the delta compare.py logged, or where it logged none (too few test positives
    for an interval) the difference of the two runs' test values, which is the same number.
    Columns: dataset, strategy, seed, delta, and the run's paired interval where logged."""
    rows = frame[frame["model"] == model]
    base = rows[rows["strategy"] == baseline].set_index(["dataset", "seed"])[metric]
    out = rows[rows["strategy"] != baseline][["dataset", "strategy", "seed", metric, f"{metric}_delta",
                                              f"{metric}_delta_ci_low", f"{metric}_delta_ci_high"]].copy()
    matched = [base.get((d, s), math.nan) for d, s in zip(out["dataset"], out["seed"], strict=True)]
    difference = out[metric].to_numpy() - np.asarray(matched, dtype=float)
    logged = out[f"{metric}_delta"].to_numpy(dtype=float)
    out["delta"] = np.where(np.isfinite(logged), logged, difference)
    out = out.rename(columns={f"{metric}_delta_ci_low": "low", f"{metric}_delta_ci_high": "high"})
    return out[np.isfinite(out["delta"])][["dataset", "strategy", "seed", "delta", "low", "high"]]


def require_runs(frame: pd.DataFrame, experiment: str) -> None:
    if frame.empty:
        raise ImbexpError(f"experiment {experiment!r} has no finished runs to report; run the suite first "
                          "(python -m imbexp.benchmark suite=NAME).")
