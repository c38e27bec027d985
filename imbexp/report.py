"""One self-contained HTML page from an MLflow experiment or a sweep's parent run.

    python -m imbexp.report --run PARENT_RUN_ID          # a sweep (grid or Optuna)
    python -m imbexp.report --experiment known_prob      # every run of an experiment
    python -m imbexp.report --experiment known_prob --run latest --claims-figure docs/claims.png

The page holds a leaderboard of the strategies (bootstrap intervals where the runs logged them),
metrics, prediction bias, fit time and training rows against the downsample factor, reliability
curves of the strategies overlaid, the Pareto front of a two-objective sweep and a table of every
run. Plots are embedded as base64 PNG, so the file opens anywhere on its own. It is written to
``runs/reports/`` and, for a sweep, logged to the parent run as ``report/<name>.html``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import io
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imbexp._paths import runs_dir, sqlite_file
from imbexp.config import Objective, parse_objective
from imbexp.errors import ImbexpError
from imbexp.metrics import INTERVAL_METRICS
from imbexp.plots import LABELLED_LEFT, fixed_margins
from imbexp.tracking import redact

__all__ = ["ReportError", "claims_figure", "load_runs", "main", "pareto_mask", "write_report"]

#: the claims figure: (metric, title) panels, two per row, read row by row
CLAIMS_PANELS = (
    ("test_prediction_bias", "Prediction bias (test)"),
    ("test_ece", "ECE (test)"),
    ("fit_seconds", "Fit time (s)"),
    ("train_rows", "Training rows"),
    ("test_pr_auc", "PR-AUC (test)"),
    ("test_roc_auc", "ROC-AUC (test)"),
)
#: more panels against the factor, drawn when the runs have them
MORE_FACTOR_PANELS = (
    ("test_f1_tuned", "F1 at the tuned threshold (test)"),
    ("test_log_loss", "Log loss (test)"),
    ("test_brier", "Brier score (test)"),
    ("test_mean_abs_error_vs_p_true", "Mean |score - p_true| (test)"),
    ("threshold_tuned", "Threshold tuned on valid"),
    ("train_minority_fraction", "Minority share of training rows"),
)
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
#: at most this many runs' predictions are read for the reliability curves
MAX_PREDICTION_DOWNLOADS = 60
#: at most this many factors drawn per strategy in the reliability small multiples
MAX_FACTORS_PER_PANEL = 7
RELIABILITY_BINS = 10
PARENT_TAG = "mlflow.parentRunId"
_PARAM = "params."
_TAG = "tags."


class ReportError(ImbexpError):
    """The report cannot be built from what was asked for (explained in one sentence)."""


def progress(message: str) -> None:
    """Report progress on stderr, so stdout stays clean for scripts."""
    print(f"imbexp report: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Reading runs
# --------------------------------------------------------------------------------------------


@dataclass
class ReportRuns:
    """The runs one report is about: a sweep's children or an experiment's leaf runs."""

    client: Any = field(repr=False)
    tracking_uri: str
    title: str
    name: str
    experiments: list[str]
    runs: pd.DataFrame
    objective: Objective
    parent: Any | None = None
    facets: list[str] = field(default_factory=list)

    @property
    def finished(self) -> pd.DataFrame:
        """The runs that finished with test metrics: what the plots and the leaderboard use."""
        frame = self.runs[self.runs["status"] == "FINISHED"]
        if "test_pr_auc" in frame:
            frame = frame[frame["test_pr_auc"].notna()]
        else:
            frame = frame.iloc[0:0]
        return frame


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """Without MLflow's per-file progress bars, which would bury the report's own progress."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def default_tracking_uri() -> str:
    """``sqlite:///<project root>/runs/mlflow.db``, the store ``python -m imbexp`` writes to."""
    return f"sqlite:///{(runs_dir() / 'mlflow.db').as_posix()}"


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    db = sqlite_file(tracking_uri)
    if db is not None:
        if not db.is_file():  # opening it would create an empty store
            raise ReportError(f"there is no MLflow store at {db}; run an experiment or a sweep first "
                              "(python -m imbexp ...), or give --tracking-uri.")
    return MlflowClient(tracking_uri=tracking_uri)


def _search(client, experiment_ids: list[str], filter_string: str = "", limit: int | None = None,
            order_by: list[str] | None = None) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=1000,
                                  order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            return runs[:limit] if limit is not None else runs


def _frame(runs: Iterable[Any], experiment_names: dict[str, str]) -> pd.DataFrame:
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name or run.data.tags.get("mlflow.runName", ""),
            "status": run.info.status,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
            "experiment": experiment_names.get(run.info.experiment_id, run.info.experiment_id),
            "artifact_uri": run.info.artifact_uri,
        }
        row.update({f"{_PARAM}{k}": v for k, v in run.data.params.items()})
        row.update({f"{_TAG}{k}": v for k, v in run.data.tags.items()})
        row.update(run.data.metrics)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["run_id", "run_name", "status", "start_time", "end_time", "experiment",
                                     "artifact_uri"])
    return frame


def _experiment_names(client) -> dict[str, str]:
    return {e.experiment_id: e.name for e in client.search_experiments()}


def _describe_experiments(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none yet"


def recent_parent_runs(client, experiment_ids: list[str] | None = None, limit: int = 5) -> list[Any]:
    """The newest runs that have child runs (sweep parents), newest first."""
    if experiment_ids is None:
        experiment_ids = list(_experiment_names(client))
    if not experiment_ids:
        return []
    recent = _search(client, experiment_ids, limit=2000, order_by=["attributes.start_time DESC"])
    parents: list[str] = []
    for run in recent:
        parent = run.data.tags.get(PARENT_TAG)
        if parent and parent not in parents:
            parents.append(parent)
        if len(parents) == limit:
            break
    found = []
    for run_id in parents:
        try:
            found.append(client.get_run(run_id))
        except Exception:  # a parent deleted after its children ran
            continue
    return sorted(found, key=lambda r: r.info.start_time or 0, reverse=True)


def _describe_parents(runs: Sequence[Any], names: dict[str, str]) -> str:
    if not runs:
        return "no sweep parent runs yet"
    items = []
    for run in runs:
        when = _when(run.info.start_time)
        items.append(f"{run.info.run_id} ({run.info.run_name or 'unnamed'}, experiment "
                     f"{names.get(run.info.experiment_id, run.info.experiment_id)}, {when})")
    return "recent sweep parent runs: " + "; ".join(items)


def _when(millis: float | None) -> str:
    if millis is None or (isinstance(millis, float) and math.isnan(millis)):
        return "-"
    return datetime.fromtimestamp(float(millis) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_runs(tracking_uri: str, parent_run_id: str | None = None, experiment: str | None = None) -> ReportRuns:
    """Find the runs of a report.

    ``parent_run_id`` (``"latest"`` = the newest sweep parent, within ``experiment`` if given):
    the parent's child runs (``tags.mlflow.parentRunId``), whichever sweeper made them.
    ``experiment`` alone: every run of the experiment that is not itself a parent.
    """
    client = _client(tracking_uri)
    names = _experiment_names(client)
    experiment_id = None
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ReportError(f"there is no experiment named {experiment!r} in {redact(tracking_uri)}; "
                              f"experiments: {_describe_experiments(names.values())}.")
        experiment_id = found.experiment_id
    if parent_run_id is None and experiment is None:
        raise ReportError("name what to report on: --experiment NAME or --run PARENT_RUN_ID (or --run latest); "
                          f"experiments: {_describe_experiments(names.values())}; "
                          f"{_describe_parents(recent_parent_runs(client), names)}.")

    parent = None
    if parent_run_id == "latest":
        scope = [experiment_id] if experiment_id else None
        parents = recent_parent_runs(client, scope, limit=1)
        if not parents:
            where = f"experiment {experiment!r}" if experiment else redact(tracking_uri)
            raise ReportError(f"there is no sweep parent run in {where}; experiments: "
                              f"{_describe_experiments(names.values())}.")
        parent = parents[0]
    elif parent_run_id is not None:
        parent = _get_run(client, parent_run_id, names)

    if parent is not None:
        progress(f"reading the runs of {parent.info.run_id} ({parent.info.run_name})")
        children = _search(client, [parent.info.experiment_id],
                           filter_string=f"tags.{PARENT_TAG} = '{parent.info.run_id}'")
        if children:
            runs = _frame(children, names)
            title = f"Sweep {parent.info.run_name or parent.info.run_id}"
            name = f"{names.get(parent.info.experiment_id, 'runs')}-{parent.info.run_id[:8]}"
            experiments = [names.get(parent.info.experiment_id, parent.info.experiment_id)]
        else:  # a single run: a report of that run alone
            runs = _frame([parent], names)
            title = f"Run {parent.info.run_name or parent.info.run_id}"
            name = f"{names.get(parent.info.experiment_id, 'runs')}-{parent.info.run_id[:8]}"
            experiments = [names.get(parent.info.experiment_id, parent.info.experiment_id)]
            parent = None
    else:
        progress(f"reading the runs of experiment {experiment!r}")
        everything = _frame(_search(client, [experiment_id]), names)
        if f"{_TAG}{PARENT_TAG}" in everything:
            parents = set(everything[f"{_TAG}{PARENT_TAG}"].dropna())
            runs = everything[~everything["run_id"].isin(parents)]
        else:
            runs = everything
        title = f"Experiment {experiment}"
        name = str(experiment)
        experiments = [str(experiment)]

    runs = _describe_runs(runs.reset_index(drop=True))
    objective = _objective(tracking_uri, runs)
    facets = [column for column in ("dataset", "model") if runs[column].nunique(dropna=True) > 1]
    progress(f"{len(runs)} runs ({int((runs['status'] == 'FINISHED').sum())} finished)")
    return ReportRuns(client=client, tracking_uri=tracking_uri, title=title, name=_slug(name),
                      experiments=experiments, runs=runs, objective=objective, parent=parent,
                      facets=facets)


def _get_run(client, run_id: str, names: dict[str, str]):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise ReportError(
            f"there is no run with id {run_id!r}; {_describe_parents(recent_parent_runs(client), names)} "
            f"(or --experiment NAME with one of: {_describe_experiments(names.values())})."
        ) from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "report"


def _param(runs: pd.DataFrame, key: str) -> pd.Series:
    column = f"{_PARAM}{key}"
    return runs[column] if column in runs else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _tag(runs: pd.DataFrame, key: str) -> pd.Series:
    column = f"{_TAG}{key}"
    return runs[column] if column in runs else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _describe_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Add the columns a report groups by: strategy (with the options that set its runs apart),
    downsample factor, model, dataset and trial number."""
    runs = runs.copy()
    target = _param(runs, "strategy._target_").fillna("").astype(str)
    name = _tag(runs, "strategy").fillna(target.str.rsplit(".", n=1).str[-1]).replace("", "unknown")
    runs["strategy_name"] = name
    runs["factor"] = _param(runs, "strategy.downsample_factor").map(_number)
    runs["factor"] = runs["factor"].astype(float)
    model_param = _param(runs, "model.name").fillna(
        _param(runs, "model.estimator._target_").fillna("").astype(str).str.rsplit(".", n=1).str[-1])
    runs["model"] = _tag(runs, "model").fillna(model_param).replace("", "unknown")
    runs["dataset"] = _tag(runs, "dataset").fillna(_param(runs, "dataset.name")).fillna("unknown")
    runs["degree"] = _tag(runs, "degree").fillna("")
    runs["trial"] = _tag(runs, "optuna.trial_number").map(_number)

    # The options other than the factor that differ between runs of one strategy name it apart,
    # e.g. "downsample +prior" or "class_weight minority_weight=50".
    option_columns = [c for c in runs.columns if c.startswith(f"{_PARAM}strategy.")
                      and c not in (f"{_PARAM}strategy._target_", f"{_PARAM}strategy.downsample_factor")]
    labels = []
    for index, row in runs.iterrows():
        same = runs[runs["strategy_name"] == row["strategy_name"]]
        parts = [row["strategy_name"]]
        for column in option_columns:
            values = same[column].fillna("null").astype(str)
            if column == f"{_PARAM}strategy.upweight_factor":
                values = values.where(values != "null", "f")
            if values.nunique() <= 1:
                continue
            key = column.removeprefix(f"{_PARAM}strategy.")
            value = values.loc[index]
            if key == "prior_correction":
                if value == "True":
                    parts.append("+prior")
            elif key == "upweight_factor":
                parts.append(f"w={value}")
            else:
                parts.append(f"{key}={value}")
        labels.append(" ".join(parts))
    runs["strategy_label"] = labels if labels else pd.Series(dtype=object)
    # A lone prior-corrected downsample still says so.
    prior = _param(runs, "strategy.prior_correction").astype(str) == "True"
    lone = prior & ~runs["strategy_label"].astype(str).str.contains(r"\+prior", regex=True)
    runs.loc[lone, "strategy_label"] = runs.loc[lone, "strategy_label"] + " +prior"
    return runs


def _download(tracking_uri: str, artifact_uri: str, path: str, dst: str) -> str:
    """One artifact of a run into the folder ``dst``. Found from the run's artifact location:
    by run id (``runs:/``) MLflow looks the run and its logged models up first, several times
    slower than the download itself."""
    from mlflow.artifacts import download_artifacts

    return download_artifacts(artifact_uri=f"{artifact_uri.rstrip('/')}/{path}", dst_path=dst,
                              tracking_uri=tracking_uri)


def _objective(tracking_uri: str, runs: pd.DataFrame) -> Objective:
    """The objective the runs were measured for, read from a run's ``config.yaml``."""
    from omegaconf import OmegaConf

    default = Objective(("pr_auc",), ("maximize",))
    finished = runs[runs["status"] == "FINISHED"]
    for artifact_uri in finished["artifact_uri"].head(3):
        try:
            with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
                path = _download(tracking_uri, artifact_uri, "config.yaml", tmp)
                cfg = OmegaConf.load(path)
            return parse_objective(cfg)
        except Exception:  # an older run without config.yaml, or one from another tool
            continue
    return default


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _figure(rows: int, cols: int, width: float = 5.2, height: float = 3.6):
    # matplotlib's Figure without pyplot: no global state, no GUI backend, safe inside a sweep.
    # No layout engine: the caller places the panels with fixed_margins.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    return fig, axes


def figure_png(fig, dpi: int = 90) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    # Sorted, so a strategy has the same colour in every figure of a report.
    return {label: cmap(i % 10) for i, label in enumerate(sorted(set(labels)))}


def _series_key(runs: pd.DataFrame, facets: Sequence[str]) -> pd.Series:
    key = runs["strategy_label"].astype(str)
    for facet in facets:
        key = key + " · " + runs[facet].astype(str)
    return key


def factor_table(runs: pd.DataFrame, metrics: Sequence[str], facets: Sequence[str] = ()) -> pd.DataFrame:
    """Mean of each metric per (series, factor), with the interval bounds where logged."""
    runs = runs.assign(series=_series_key(runs, facets))
    columns = [m for m in metrics if m in runs]
    for metric in metrics:
        for bound in ("ci_low", "ci_high"):
            if f"{metric}_{bound}" in runs:
                columns.append(f"{metric}_{bound}")
    grouped = runs.groupby(["series", "factor"], dropna=False)[columns]
    table = grouped.mean().reset_index()
    table["runs"] = grouped.size().to_numpy()
    return table


def draw_against_factor(runs: pd.DataFrame, panels: Sequence[tuple[str, str]], facets: Sequence[str] = (),
                        cols: int = 2, title: str | None = None):
    """One panel per metric against the downsample factor (log axis): a line per strategy, a
    dashed level for strategies without a factor, a band where bootstrap intervals were logged."""
    from matplotlib.ticker import NullLocator

    panels = [(metric, label) for metric, label in panels if metric in runs and runs[metric].notna().any()]
    if not panels:
        return None
    table = factor_table(runs, [m for m, _ in panels], facets)
    series = list(dict.fromkeys(table["series"]))
    colors = _colors(series)
    rows = math.ceil(len(panels) / cols)
    fig, axes = _figure(rows, cols)
    factors = sorted(table["factor"].dropna().unique())
    for ax, (metric, label) in zip(axes, panels, strict=False):
        for number, name in enumerate(series):
            part = table[table["series"] == name]
            with_factor = part[part["factor"].notna()].sort_values("factor")
            color = colors[name]
            if len(with_factor):
                # Thinner lines for later series: strategies that rank alike (downsample with and
                # without prior correction) draw on top of each other and stay both visible.
                ax.plot(with_factor["factor"], with_factor[metric], marker="o", color=color, label=name,
                        linewidth=max(1.0, 3.2 - 0.8 * number), ms=max(3.0, 7.0 - 1.5 * number))
                low, high = f"{metric}_ci_low", f"{metric}_ci_high"
                if low in with_factor and with_factor[low].notna().all():
                    ax.fill_between(with_factor["factor"], with_factor[low], with_factor[high],
                                    color=color, alpha=0.15, linewidth=0)
            for value in part.loc[part["factor"].isna(), metric].dropna():
                ax.axhline(value, color=color, linestyle="--", linewidth=1.2, label=f"{name} (no factor)")
        if metric.endswith("prediction_bias"):
            ax.axhline(0.0, color="black", linewidth=0.8)
            _symlog_if_wide(ax, table[metric])
        if metric in ("train_rows",) or (metric == "fit_seconds" and _spread(table[metric]) > 20):
            ax.set_yscale("log")
        if metric == "test_ece" and _spread(table[metric]) > 20:
            ax.set_yscale("log")
        if factors:
            ax.set_xscale("log")
            ax.set_xticks(factors)
            ax.set_xticklabels([f"{f:g}" for f in factors])
            ax.xaxis.set_minor_locator(NullLocator())  # the factors are the ticks
        ax.set_xlabel("downsample factor f")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    legend_rows = 0
    if handles:
        columns = min(len(labels), 4)
        legend_rows = math.ceil(len(labels) / columns)
        fig.legend(handles, labels, loc="lower center", ncols=columns, fontsize=9, frameon=False)
    fixed_margins(fig, title=title, below=0.1 + 0.25 * legend_rows)
    return fig


def _spread(values: pd.Series) -> float:
    positive = values[values > 0].dropna()
    if positive.empty:
        return 1.0
    return float(positive.max() / positive.min())


def _symlog_if_wide(ax, values: pd.Series) -> None:
    """Uncorrected downsampling can bias by 0.3 while the others stay within 0.001; a symmetric
    log axis shows both."""
    magnitude = values.abs().dropna()
    magnitude = magnitude[magnitude > 0]
    if len(magnitude) and magnitude.max() / max(magnitude.min(), 1e-12) > 50:
        ax.set_yscale("symlog", linthresh=max(float(np.quantile(magnitude, 0.25)), 1e-4))


def claims_figure(runs: pd.DataFrame, facets: Sequence[str] = ()):
    """The six panels that check the claims of downsampling and upweighting, side by side:
    prediction bias and ECE, fit time and training rows, PR-AUC and ROC-AUC, against f."""
    return draw_against_factor(runs, CLAIMS_PANELS, facets, cols=2,
                               title=f"Downsampling by f: calibration, cost and ranking{_context(runs)}")


def _context(runs: pd.DataFrame) -> str:
    """`` · known_prob, 200,000 rows, 0.98 % positives · lightgbm`` when the runs share them."""
    parts = []
    if runs["dataset"].nunique() == 1:
        text = str(runs["dataset"].iloc[0])
        for column, fmt in (("dataset_rows", "{:,.0f} rows"), ("dataset_minority_fraction", "{:.2%} positives")):
            if column in runs and runs[column].nunique() == 1:
                text += ", " + fmt.format(runs[column].iloc[0])
        parts.append(text)
    if runs["model"].nunique() == 1:
        parts.append(str(runs["model"].iloc[0]))
    return "".join(f" · {part}" for part in parts)


def reliability_points(y_score: np.ndarray, truth: np.ndarray, n_bins: int = RELIABILITY_BINS):
    """(mean score, mean truth, rows) per quantile bin of the scores.

    By hand rather than scikit-learn's ``calibration_curve`` because ``truth`` may be the known
    probability ``p_true`` (not a label), which averages far less noisily than rare 0/1 labels.
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    edges = np.unique(np.quantile(y_score, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) < 2:
        return np.array([y_score.mean()]), np.array([truth.mean()]), np.array([len(y_score)])
    bins = np.clip(np.searchsorted(edges, y_score, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(bins, minlength=len(edges) - 1)
    filled = counts > 0
    predicted = np.bincount(bins, weights=y_score, minlength=len(edges) - 1)[filled] / counts[filled]
    observed = np.bincount(bins, weights=truth, minlength=len(edges) - 1)[filled] / counts[filled]
    return predicted, observed, counts[filled]


def _read_predictions(tracking_uri: str, artifact_uris: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each run's test predictions, by run id, from ``{run id: artifact location}``."""
    frames = {}
    with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
        for number, (run_id, artifact_uri) in enumerate(artifact_uris.items(), start=1):
            if number == 1 or number % 10 == 0 or number == len(artifact_uris):
                progress(f"reading test predictions {number}/{len(artifact_uris)}")
            try:
                path = _download(tracking_uri, artifact_uri, "predictions/test.parquet", f"{tmp}/{run_id}")
                frames[run_id] = pd.read_parquet(path)
            except Exception:  # a failed run logged no predictions
                continue
    return frames


def _pick_by_objective(runs: pd.DataFrame, objective: Objective) -> pd.Series:
    """The best run of ``runs`` by the first objective on valid."""
    key = objective.keys[0]
    if key not in runs or runs[key].isna().all():
        return runs.iloc[-1]
    ascending = objective.directions[0] == "minimize"
    return runs.sort_values(key, ascending=ascending, na_position="last").iloc[0]


def _spread_pick(values: Sequence[float], limit: int) -> list[float]:
    values = sorted(values)
    if len(values) <= limit:
        return values
    positions = np.unique(np.round(np.linspace(0, len(values) - 1, limit)).astype(int))
    return [values[i] for i in positions]


def reliability_figures(data: ReportRuns) -> list[tuple[str, Any, str]]:
    """Reliability curves: the strategies overlaid (each at its best run by the objective), then
    one panel per strategy with a curve per downsample factor."""
    runs = data.finished.assign(series=_series_key(data.finished, data.facets))
    if runs.empty:
        return []
    best = {name: _pick_by_objective(part, data.objective) for name, part in runs.groupby("series", sort=False)}
    per_factor: dict[str, list[pd.Series]] = {}
    for name, part in runs.groupby("series", sort=False):
        factors = part["factor"].dropna().unique()
        if len(factors) > 1:
            chosen = _spread_pick(list(factors), MAX_FACTORS_PER_PANEL)
            per_factor[name] = [_pick_by_objective(part[part["factor"] == f], data.objective) for f in chosen]
    wanted = {row["run_id"]: row["artifact_uri"]
              for row in [*best.values(), *(row for rows in per_factor.values() for row in rows)]}
    frames = _read_predictions(data.tracking_uri, dict(list(wanted.items())[:MAX_PREDICTION_DOWNLOADS]))
    if not frames:
        return []
    use_truth = all("p_true" in frame for frame in frames.values())
    truth_label = "mean true probability p_true" if use_truth else "observed positive rate"

    figures = []
    colors = _colors(list(best))
    fig, axes = _figure(2, 1, width=7.5, height=3.4)
    top, bottom = axes
    fig.get_axes()[0].get_gridspec().set_height_ratios([3, 1.2])
    for name, row in best.items():
        frame = frames.get(row["run_id"])
        if frame is None:
            continue
        truth = frame["p_true"] if use_truth else frame["y_true"]
        predicted, observed, _ = reliability_points(frame["y_score"], truth)
        factor = "" if pd.isna(row["factor"]) else f" f={row['factor']:g}"
        top.plot(predicted, observed, marker="o", ms=4, color=colors[name], label=f"{name}{factor}")
        scores = np.clip(frame["y_score"].to_numpy(), 1e-6, 1.0)
        bottom.hist(scores, bins=np.logspace(-6, 0, 61), histtype="step", color=colors[name], linewidth=1.2)
    _reliability_axes(top, truth_label)
    top.set_title(f"Reliability on test, strategies overlaid (each at its best run by {data.objective.keys[0]}); "
                  f"quantile bins", fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_xscale("log")
    bottom.set_yscale("log")
    bottom.minorticks_off()  # as on the curves above
    bottom.set_xlim(1e-4, 1.0)
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("test rows")
    bottom.grid(alpha=0.3)
    fixed_margins(fig, left=LABELLED_LEFT)
    figures.append(("Reliability, strategies overlaid", fig,
                    f"y axis: {truth_label} in each of {RELIABILITY_BINS} quantile bins of the scores; "
                    "the diagonal is perfect calibration. Below: the distribution of the scores."))

    if per_factor:
        cols = min(3, len(per_factor))
        rows = math.ceil(len(per_factor) / cols)
        fig, axes = _figure(rows, cols, width=4.6, height=4.0)
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        all_factors = sorted({r["factor"] for rows_ in per_factor.values() for r in rows_})
        scale = {f: cmap(i / max(len(all_factors) - 1, 1)) for i, f in enumerate(all_factors)}
        for ax, (name, chosen) in zip(axes, per_factor.items(), strict=False):
            for row in chosen:
                frame = frames.get(row["run_id"])
                if frame is None:
                    continue
                truth = frame["p_true"] if use_truth else frame["y_true"]
                predicted, observed, _ = reliability_points(frame["y_score"], truth)
                ax.plot(predicted, observed, marker="o", ms=3, color=scale[row["factor"]],
                        label=f"f={row['factor']:g}")
            _reliability_axes(ax, truth_label)
            ax.set_title(name, fontsize=10)
            ax.legend(fontsize=7, loc="upper left")
        for ax in axes[len(per_factor):]:
            ax.set_visible(False)
        fixed_margins(fig, left=LABELLED_LEFT)
        figures.append(("Reliability per strategy, by downsample factor", fig,
                        f"One curve per factor (at most {MAX_FACTORS_PER_PANEL}); y axis: {truth_label}."))
    return figures


def _reliability_axes(ax, truth_label: str) -> None:
    """Log-log axes: under imbalance almost every score is below 0.05, where linear axes see nothing."""
    lines = [line for line in ax.get_lines()]
    values = np.concatenate([np.concatenate([line.get_xdata(), line.get_ydata()]) for line in lines]) \
        if lines else np.array([1e-3, 1.0])
    positive = values[values > 0]
    low = max(10 ** math.floor(math.log10(positive.min())), 1e-5) if positive.size else 1e-3
    ax.plot([low, 1], [low, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # A tick and a grid line per decade: minor ticks over these four or more decades took half
    # the time of drawing the figure.
    ax.minorticks_off()
    ax.set_xlim(low, 1)
    ax.set_ylim(low, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel(truth_label)
    ax.grid(alpha=0.3)


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (one column per objective)."""
    values = np.asarray(values, dtype=np.float64)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    costs = values * signs  # everything minimised
    keep = np.ones(len(costs), dtype=bool)
    for i, row in enumerate(costs):
        if not np.all(np.isfinite(row)):
            keep[i] = False
            continue
        dominated = np.all(costs <= row, axis=1) & np.any(costs < row, axis=1)
        keep[i] = not dominated.any()
    return keep


def pareto_section(data: ReportRuns) -> tuple[Any | None, pd.DataFrame | None]:
    """The Pareto front of the runs on the two objectives (valid), drawn over every run."""
    if len(data.objective.metrics) != 2:
        return None, None
    x_key, y_key = data.objective.keys
    runs = data.finished
    if x_key not in runs or y_key not in runs:
        return None, None
    runs = runs[runs[x_key].notna() & runs[y_key].notna()]
    if runs.empty:
        return None, None
    mask = pareto_mask(runs[[x_key, y_key]].to_numpy(), data.objective.directions)
    front = runs[mask].sort_values(x_key)
    series = _series_key(runs, data.facets)
    colors = _colors(list(dict.fromkeys(series)))
    fig, axes = _figure(1, 1, width=7.0, height=5.0)
    ax = axes[0]
    for name in dict.fromkeys(series):
        part = runs[series == name]
        ax.scatter(part[x_key], part[y_key], s=22, color=colors[name], alpha=0.6, label=name)
    ax.plot(front[x_key], front[y_key], color="black", drawstyle="steps-post" if len(front) > 1 else "default",
            linewidth=1.2)
    ax.scatter(front[x_key], front[y_key], s=70, facecolors="none", edgecolors="black", label="Pareto front")
    ax.set_xlabel(f"{x_key} ({data.objective.directions[0]})")
    ax.set_ylabel(f"{y_key} ({data.objective.directions[1]})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Pareto front on valid: {len(front)} of {len(runs)} runs", fontsize=10)
    fixed_margins(fig, left=LABELLED_LEFT)
    return fig, front


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;
 padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.92rem}.note{color:#555;font-size:.88rem;max-width:75em}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}
th,td{border-bottom:1px solid #e5e5e5;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#f5f5f7;position:sticky;top:0}td.text,th.text{text-align:left}
tr.best td{background:#eef7ee}.ci{display:block;color:#777;font-size:.75rem;white-space:nowrap}
tr.failed td{color:#b00}code{font-size:.8rem}img{max-width:100%;height:auto;border:1px solid #eee}
figure{margin:1rem 0}figcaption{color:#555;font-size:.85rem}
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: Any, metric: str = "") -> str:
    number = _number(value)
    if number is None:
        return "–"
    if metric in ("train_rows", "runs"):
        return f"{number:,.0f}"
    if metric == "factor" or (not metric and number.is_integer()):
        return f"{number:g}"
    if metric == "fit_seconds":
        return f"{number:.2f}"
    if abs(number) != 0 and abs(number) < 1e-3:
        return f"{number:.2e}"
    return f"{number:.4f}"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _figure_html(title: str, fig_or_png: Any, caption: str = "") -> str:
    png = fig_or_png if isinstance(fig_or_png, bytes) else figure_png(fig_or_png)
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{_img(png, title)}{cap}</figure>"


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
    table = grouped[metrics + intervals].mean()
    spread = grouped[metrics].std(ddof=1).add_suffix("_sd")
    table = table.join(spread)
    table["runs"] = grouped.size()
    table = table.reset_index()
    key = data.objective.keys[0]
    if key in table:
        table = table.sort_values(key, ascending=data.objective.directions[0] == "minimize", na_position="last")
    return table.reset_index(drop=True)


def _leaderboard_html(data: ReportRuns) -> str:
    table = leaderboard(data)
    if table.empty:
        return "<p>No finished runs with test metrics.</p>"
    objective = data.objective.keys[0]
    head = ['<th class="text">strategy</th>', "<th>factor</th>"]
    head += [f'<th class="text">{_esc(f)}</th>' for f in data.facets]
    head += ["<th>runs</th>", f"<th>{_esc(objective)}</th>"]
    head += [f"<th>{_esc(label)}</th>" for metric, label in LEADERBOARD_COLUMNS if metric in table]
    body = []
    for position, row in table.iterrows():
        cells = [f'<td class="text">{_esc(row["strategy_label"])}</td>', f"<td>{_fmt(row['factor'], 'factor')}</td>"
                 if pd.notna(row["factor"]) else "<td>–</td>"]
        cells += [f'<td class="text">{_esc(row[f])}</td>' for f in data.facets]
        cells += [f"<td>{int(row['runs'])}</td>", _metric_cell(row, objective)]
        cells += [_metric_cell(row, metric) for metric, _ in LEADERBOARD_COLUMNS if metric in table]
        css = ' class="best"' if position == 0 else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return (f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f'<p class="note">Ranked by {_esc(objective)} ({_esc(data.objective.directions[0])}), the objective '
            "measured on valid; every other column is on test. Brackets: the bootstrap 95 % interval the run "
            "logged (none when it logged none). A group of several runs (seeds, repeated trials) shows the "
            "mean, and ± the standard deviation across its runs.</p>")


def _metric_cell(row: pd.Series, metric: str) -> str:
    value = _fmt(row.get(metric), metric)
    extra = ""
    runs = int(row.get("runs", 1))
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if runs == 1 and _number(low) is not None and _number(high) is not None:
        extra = f'<span class="ci">[{_fmt(low, metric)}, {_fmt(high, metric)}]</span>'
    elif runs > 1 and _number(row.get(f"{metric}_sd")) is not None:
        extra = f'<span class="ci">± {_fmt(row.get(f"{metric}_sd"), metric)}</span>'
    return f"<td>{value}{extra}</td>"


def _runs_html(data: ReportRuns) -> str:
    runs = data.runs.copy()
    has_trials = runs["trial"].notna().any()
    runs = runs.sort_values(["trial", "start_time"] if has_trials else ["start_time"], na_position="last")
    objective_keys = [k for k in data.objective.keys if k in runs]
    head = ["<th>#</th>"] + (["<th>trial</th>"] if has_trials else [])
    head += ['<th class="text">run</th>', '<th class="text">run id</th>', '<th class="text">status</th>',
             '<th class="text">strategy</th>', "<th>factor</th>"]
    head += [f'<th class="text">{_esc(f)}</th>' for f in data.facets]
    head += [f"<th>{_esc(k)}</th>" for k in objective_keys]
    head += [f"<th>{_esc(label)}</th>" for metric, label in RUN_TABLE_COLUMNS if metric in runs]
    body = []
    for number, (_, row) in enumerate(runs.iterrows(), start=1):
        cells = [f"<td>{number}</td>"]
        if has_trials:
            cells.append(f"<td>{_fmt(row['trial'], 'runs')}</td>")
        cells += [f'<td class="text">{_esc(row["run_name"])}</td>',
                  f'<td class="text"><code>{_esc(row["run_id"])}</code></td>',
                  f'<td class="text">{_esc(row["status"])}</td>',
                  f'<td class="text">{_esc(row["strategy_label"])}</td>',
                  f"<td>{_fmt(row['factor'], 'factor') if pd.notna(row['factor']) else '–'}</td>"]
        cells += [f'<td class="text">{_esc(row[f])}</td>' for f in data.facets]
        cells += [f"<td>{_fmt(row.get(k), k)}</td>" for k in objective_keys]
        cells += [f"<td>{_fmt(row.get(metric), metric)}</td>" for metric, _ in RUN_TABLE_COLUMNS if metric in runs]
        css = ' class="failed"' if row["status"] != "FINISHED" else ""
        body.append(f'<tr data-run-id="{_esc(row["run_id"])}"{css}>{"".join(cells)}</tr>')
    return (f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _frame_html(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    columns = [c for c in columns if c in frame]
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(_fmt(v) if _number(v) is not None and not isinstance(v, str) else v)}"
                                    "</td>" for v in row) + "</tr>"
                   for row in frame[columns].itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _parent_artifacts(data: ReportRuns) -> tuple[list[tuple[str, bytes]], list[tuple[str, pd.DataFrame]]]:
    """PNG plots and Pareto tables a sweeper logged to the parent run (two folder levels deep)."""
    if data.parent is None:
        return [], []
    client, run_id, artifact_uri = data.client, data.parent.info.run_id, data.parent.info.artifact_uri
    paths: list[str] = []
    try:
        level = list(client.list_artifacts(run_id))
        for item in level:
            if item.is_dir and item.path != "report":
                paths += [sub.path for sub in client.list_artifacts(run_id, item.path) if not sub.is_dir]
            elif not item.is_dir:
                paths.append(item.path)
    except Exception:
        return [], []
    images, tables = [], []
    with tempfile.TemporaryDirectory(prefix="imbexp-report-") as tmp:
        for path in paths:
            lower = path.lower()
            try:
                if lower.endswith(".png"):
                    images.append((path, Path(_download(data.tracking_uri, artifact_uri, path, tmp)).read_bytes()))
                elif "pareto" in lower and lower.endswith((".csv", ".json", ".parquet")):
                    local = _download(data.tracking_uri, artifact_uri, path, tmp)
                    reader = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}
                    tables.append((path, reader[lower.rsplit(".", 1)[-1]](local)))
            except Exception:  # an artifact that cannot be read is left out, not fatal
                continue
    return images, tables


def render_html(data: ReportRuns, claims_png: bytes | None = None) -> str:
    """The whole page."""
    finished = data.finished
    sections: list[str] = []
    datasets = ", ".join(f"{d} ({g})" if g else str(d) for d, g in
                         finished[["dataset", "degree"]].drop_duplicates().itertuples(index=False)) or "–"
    models = ", ".join(sorted(finished["model"].dropna().astype(str).unique())) or "–"
    failed = int((data.runs["status"] != "FINISHED").sum())
    meta = [f"{len(data.runs)} runs ({failed} not finished)", f"dataset: {datasets}", f"model: {models}",
            "objective: " + ", ".join(f"{k} ({d})" for k, d in zip(data.objective.keys, data.objective.directions,
                                                                    strict=True)),
            f"experiment: {', '.join(data.experiments)}", f"tracking: {redact(data.tracking_uri)}"]
    if data.parent is not None:
        tags = data.parent.data.tags
        meta.insert(0, f"parent run {data.parent.info.run_id} ({data.parent.info.status})")
        for key in ("optuna.study_name", "imbexp.sweep", "imbexp.overrides"):
            if tags.get(key):
                meta.append(f"{key}: {tags[key]}")
    meta.append(f"written {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}")

    sections.append("<h2>Leaderboard</h2>" + _leaderboard_html(data))

    if finished["factor"].notna().any():
        progress("drawing the metrics against the downsample factor")
        figure = claims_png or _png_or_none(claims_figure(finished, data.facets))
        if figure:
            sections.append(
                "<h2>Against the downsample factor</h2>"
                '<p class="note">Prediction bias (mean predicted probability minus the observed positive rate) '
                "and ECE say whether the outputs are still probabilities; fit time and training rows are the "
                "cost; PR-AUC and ROC-AUC the ranking (a prior correction is monotone, so it leaves them as they "
                "were). Means over the runs at each factor; shaded: bootstrap 95 % intervals where logged; "
                "dashed: strategies without a factor.</p>"
                + _figure_html("claims", figure))
        more = draw_against_factor(finished, MORE_FACTOR_PANELS, data.facets, cols=3)
        if more is not None:
            sections.append(_figure_html("more metrics against the factor", more,
                                         "More metrics against the downsample factor."))

    progress("drawing the reliability curves")
    reliability = reliability_figures(data)
    if reliability:
        sections.append("<h2>Reliability</h2>" + "".join(_figure_html(t, f, c) for t, f, c in reliability))

    images, tables = _parent_artifacts(data)
    pareto_fig, front = pareto_section(data)
    pareto_images = [(p, png) for p, png in images if "pareto" in p.lower()]
    if pareto_fig is not None or pareto_images or tables:
        parts = ["<h2>Pareto front</h2>"]
        for path, png in pareto_images:
            parts.append(_figure_html(path, png, f"Logged by the sweep: {path}"))
        for path, table in tables:
            parts.append(f'<p class="note">Logged by the sweep: {_esc(path)}</p>' + _frame_html(table, table.columns))
        if pareto_fig is not None:
            parts.append(_figure_html("pareto front", pareto_fig))
            parts.append(_frame_html(front, ["run_name", "run_id", "strategy_label", "factor", *data.objective.keys]))
        sections.append("".join(parts))
    other_images = [(p, png) for p, png in images if "pareto" not in p.lower()]
    if other_images:
        sections.append("<h2>Sweep plots</h2>" + "".join(_figure_html(p, png, p) for p, png in other_images))

    sections.append(f"<h2>Every run ({len(data.runs)})</h2>" + _runs_html(data))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(data.title)} · imbexp report</title><style>{_STYLE}</style></head><body>"
            f"<h1>{_esc(data.title)}</h1><p class=\"meta\">{' · '.join(_esc(m) for m in meta)}</p>"
            + "".join(sections) + "</body></html>\n")


def _png_or_none(fig) -> bytes | None:
    return None if fig is None else figure_png(fig, dpi=100)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def reports_dir(tracking_uri: str) -> Path:
    """``reports/`` next to a SQLite store (``runs/reports``), else under the project's ``runs/``."""
    db = sqlite_file(tracking_uri)
    return (db.parent if db is not None else runs_dir()) / "reports"


def write_report(tracking_uri: str | None = None, parent_run_id: str | None = None, experiment: str | None = None,
                 *, output: Path | None = None, claims_png: Path | None = None,
                 log_to_parent: bool = True) -> Path:
    """Build the HTML report of a sweep's parent run or of an experiment and return its path.

    Written to ``runs/reports/<name>.html`` (or ``output``) and, for a parent run, logged to it
    as ``report/<name>.html``. ``claims_png`` also saves the claims figure there.
    """
    tracking_uri = tracking_uri or default_tracking_uri()
    with _quiet_downloads():
        return _write_report(tracking_uri, parent_run_id, experiment, output, claims_png, log_to_parent)


def _write_report(tracking_uri: str, parent_run_id: str | None, experiment: str | None, output: Path | None,
                  claims_png: Path | None, log_to_parent: bool) -> Path:
    data = load_runs(tracking_uri, parent_run_id, experiment)
    figure_bytes = None
    if claims_png is not None:
        figure = claims_figure(data.finished, data.facets) if data.finished["factor"].notna().any() else None
        if figure is None:
            raise ReportError("the runs have no strategy.downsample_factor, so there is no claims figure to draw; "
                              "run the preset: python -m imbexp sweep=claims.")
        figure_bytes = figure_png(figure, dpi=100)
        claims_png = Path(claims_png)
        claims_png.parent.mkdir(parents=True, exist_ok=True)
        claims_png.write_bytes(figure_bytes)
        progress(f"claims figure written to {claims_png}")
    page = render_html(data, figure_bytes)
    path = Path(output) if output is not None else reports_dir(tracking_uri) / f"{data.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    if data.parent is not None and log_to_parent:
        data.client.log_artifact(data.parent.info.run_id, str(path), "report")
    progress(f"report written to {path}")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imbexp.report",
        description="Turn an MLflow experiment or a sweep's parent run into one self-contained HTML page.")
    parser.add_argument("--experiment", help="report every run of this MLflow experiment (or scope --run latest)")
    parser.add_argument("--run", dest="run_id", metavar="PARENT_RUN_ID",
                        help="report the child runs of this sweep parent run; 'latest' = the newest sweep")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: sqlite:///<project root>/runs/mlflow.db)")
    parser.add_argument("--output", type=Path, default=None,
                        help="HTML file to write (default: runs/reports/<name>.html)")
    parser.add_argument("--claims-figure", type=Path, default=None, metavar="PNG",
                        help="also save the six-panel claims figure to this PNG (e.g. docs/claims.png)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imbexp.report``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        path = write_report(args.tracking_uri, args.run_id, args.experiment, output=args.output,
                            claims_png=args.claims_figure, log_to_parent=not args.no_log)
    except ImbexpError as exc:
        print(f"imbexp report: error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
