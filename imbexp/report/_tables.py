"""The report's tables as data frames: the leaderboard, the means per factor the figures draw, every
run, and the Pareto front of a two-objective sweep."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from imbexp.metrics import INTERVAL_METRICS
from imbexp.report._runs import ReportRuns

LEADERBOARD_COLUMNS = (
    ("test_pr_auc", "PR-AUC"),
    ("test_roc_auc", "ROC-AUC"),
    ("test_f1", "F1 @ 0.5"),
    ("test_f1_tuned", "F1 tuned"),
    ("test_ece", "ECE"),
    ("test_prediction_bias", "pred. bias"),
    ("test_log_loss", "log loss"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)
RUN_TABLE_COLUMNS = (
    ("test_pr_auc", "PR-AUC"),
    ("test_roc_auc", "ROC-AUC"),
    ("test_f1_tuned", "F1 tuned"),
    ("test_ece", "ECE"),
    ("test_prediction_bias", "pred. bias"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)


def leaderboard(data: ReportRuns) -> pd.DataFrame:
    """One row per (strategy, factor[, dataset, model]): the mean over its runs, ranked by the
    first objective on valid."""
    runs = data.finished
    if runs.empty:
        return pd.DataFrame()
    keys = ["strategy_label", "factor", *data.facets]
    metrics = [m for m, _ in LEADERBOARD_COLUMNS if m in runs] + [k for k in data.objective.keys if k in runs]
    metrics = list(dict.fromkeys(metrics))
    intervals = [f"test_{m}_ci_{b}" for m in INTERVAL_METRICS for b in ("low", "high") if f"test_{m}_ci_{b}" in runs]
    grouped = runs.groupby(keys, dropna=False, sort=False)
    table = grouped[metrics + intervals].mean().join(grouped[metrics].std(ddof=1).add_suffix("_sd"))
    table["runs"] = grouped.size()
    table["factor_name"] = grouped["factor_name"].first()
    table = table.reset_index()
    key = data.objective.keys[0]
    if key in table:
        table = table.sort_values(key, ascending=data.objective.directions[0] == "minimize", na_position="last")
    return table.reset_index(drop=True)


def run_table(data: ReportRuns) -> pd.DataFrame:
    """Every run, in trial order when a sweeper numbered them, else in the order they started."""
    runs = data.runs
    order = ["trial", "start_time"] if runs["trial"].notna().any() else ["start_time"]
    return runs.sort_values(order, na_position="last")


def factor_axis(runs: pd.DataFrame) -> str | None:
    """The factor a report draws its figures against: the one most runs have."""
    names = runs["factor_name"].dropna()
    return str(names.value_counts(sort=True).index[0]) if len(names) else None


def factor_varies(runs: pd.DataFrame) -> bool:
    """Whether the runs take several values of the axis factor: a figure against it has a line to draw."""
    axis = factor_axis(runs)
    return runs.loc[runs["factor_name"] == axis, "factor"].nunique() > 1


def on_axis(runs: pd.DataFrame, axis: str | None) -> pd.DataFrame:
    """The runs as the figures draw them against ``axis``: a run with another factor has none on
    this axis (it is drawn as a level), its label then saying its factor where a series has several."""
    off_axis = runs["factor_name"] != axis  # also every run without a factor
    distinct = runs[off_axis].groupby("strategy_label")["factor"].transform(lambda f: f.nunique(dropna=False))
    named = (distinct > 1).reindex(runs.index, fill_value=False) & runs["factor"].notna()
    labels = runs["strategy_label"].where(~named, runs["strategy_label"] + " " + runs["factor_name"].astype(str)
                                          + "=" + runs["factor"].map(lambda f: f"{f:g}"))
    return runs.assign(strategy_label=labels, factor=runs["factor"].where(~off_axis))


def series_key(runs: pd.DataFrame, facets: Sequence[str]) -> pd.Series:
    """What one line or colour of a figure stands for: the strategy, with the dataset and the
    model when the report spans several."""
    key = runs["strategy_label"].astype(str)
    for facet in facets:
        key = key + " · " + runs[facet].astype(str)
    return key


def factor_table(runs: pd.DataFrame, metrics: Sequence[str], facets: Sequence[str] = ()) -> pd.DataFrame:
    """Mean of each metric per (series, factor), with the interval bounds where logged."""
    runs = runs.assign(series=series_key(runs, facets))
    columns = [m for m in metrics if m in runs]
    columns += [f"{m}_{bound}" for m in metrics for bound in ("ci_low", "ci_high") if f"{m}_{bound}" in runs]
    grouped = runs.groupby(["series", "factor"], dropna=False)[columns]
    table = grouped.mean().reset_index()
    table["runs"] = grouped.size().to_numpy()
    return table


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (one column per objective)."""
    values = np.asarray(values, dtype=np.float64)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    costs = values * signs  # everything minimised
    keep = np.all(np.isfinite(costs), axis=1)
    for i in np.flatnonzero(keep):
        dominated = np.all(costs <= costs[i], axis=1) & np.any(costs < costs[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def pareto_front(data: ReportRuns) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(every run with both objectives, the non-dominated ones sorted by the first) of a
    two-objective report; None for one objective."""
    if len(data.objective.metrics) != 2:
        return None
    x_key, y_key = data.objective.keys
    runs = data.finished
    if x_key not in runs or y_key not in runs:
        return None
    runs = runs[runs[x_key].notna() & runs[y_key].notna()]
    if runs.empty:
        return None
    mask = pareto_mask(runs[[x_key, y_key]].to_numpy(), data.objective.directions)
    return runs, runs[mask].sort_values(x_key)
