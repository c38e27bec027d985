"""Reliability curves from the runs' test predictions: the strategies overlaid, then one panel per
strategy with a curve per factor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imbexp.config import Objective
from imbexp.names import FEASIBLE_TAG
from imbexp.plots import LABELLED_LEFT, fixed_margins
from imbexp.report._figures import factor_words, legend_or_below, new_figure
from imbexp.report._runs import ReportRuns, read_predictions
from imbexp.report._tables import factor_axis, on_axis, palette_of, round_text, series_of

#: at most this many runs' predictions are read for the reliability curves
MAX_PREDICTION_DOWNLOADS = 60
#: at most this many factors drawn per strategy in the reliability small multiples
MAX_FACTORS_PER_PANEL = 7
RELIABILITY_BINS = 10


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


def _pick_by_objective(runs: pd.DataFrame, objective: Objective) -> pd.Series:
    """The best run of ``runs`` by the first objective on valid; a sweep's infeasible trials
    (``hydra.sweeper.constraints``) only when no run is feasible."""
    feasible = runs.get(f"tags.{FEASIBLE_TAG}")
    if feasible is not None and (feasible != "false").any():
        runs = runs[feasible != "false"]
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


@dataclass
class ChosenRuns:
    """The runs whose test predictions the figures draw: per series its best run by the objective,
    and per strategy with several factors the best run at each of up to
    :data:`MAX_FACTORS_PER_PANEL` factors. A group of seeds stands in by its first seed's
    predictions, under the group's label."""

    best: dict[str, pd.Series]
    per_factor: dict[str, list[pd.Series]]
    axis: str | None
    #: each series' colour, as in every figure of the report
    palette: dict[str, str]

    def artifact_uris(self) -> dict[str, str]:
        rows = [*self.best.values(), *(row for rows in self.per_factor.values() for row in rows)]
        wanted = {row["run_id"]: row["artifact_uri"] for row in rows}
        return dict(list(wanted.items())[:MAX_PREDICTION_DOWNLOADS])


def choose_runs(data: ReportRuns) -> ChosenRuns:
    """The runs the reliability curves and the decision curve draw (see :class:`ChosenRuns`)."""
    finished = data.finished  # a property that filters the runs: read once
    axis = factor_axis(finished)
    runs = on_axis(finished.assign(series=series_of(finished, data.facets)), axis)
    best = {name: _stand_in(data, _pick_by_objective(part, data.objective))
            for name, part in runs.groupby("series", sort=False)}
    per_factor: dict[str, list[pd.Series]] = {}
    for name, part in runs.groupby("series", sort=False):
        factors = part["factor"].dropna().unique()
        if len(factors) > 1:
            chosen = _spread_pick(list(factors), MAX_FACTORS_PER_PANEL)
            per_factor[name] = [_stand_in(data, _pick_by_objective(part[part["factor"] == f], data.objective))
                                for f in chosen]
    return ChosenRuns(best, per_factor, axis, palette_of(finished, data.facets))


def _stand_in(data: ReportRuns, row: pd.Series) -> pd.Series:
    """``row``, or for a group its first seed under the group's label, series and factor."""
    found = data.representative(row)
    if found is row:
        return row
    found = found.copy()
    for name in ("strategy_label", "factor", "series"):
        found[name] = row[name]
    return found


def reliability_figures(data: ReportRuns, chosen: ChosenRuns | None = None,
                        frames: dict[str, pd.DataFrame] | None = None) -> list[tuple[str, Any, str]]:
    """Reliability curves: the strategies overlaid (each at its best run by the objective), then
    one panel per strategy with a curve per factor; as (title, figure, caption). ``chosen`` and
    ``frames`` (the test predictions by run id), when the caller already has them."""
    if data.finished.empty:
        return []
    chosen = chosen or choose_runs(data)
    if frames is None:
        frames = read_predictions(data.tracking_uri, chosen.artifact_uris())
    if not frames:
        return []
    curves = _Curves(frames)
    figures = [_overlaid(curves, chosen.best, data.objective, chosen.palette)]
    if chosen.per_factor:
        figures.append(_per_factor(curves, chosen.per_factor, chosen.axis))
    return figures


class _Curves:
    """The runs' reliability points against ``p_true`` when every run has it, else the labels."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames
        self.use_truth = all("p_true" in frame for frame in frames.values())
        self.truth_label = "mean true probability p_true" if self.use_truth else "observed positive rate"

    def points(self, run_id: str):
        frame = self.frames.get(run_id)
        if frame is None or frame.empty:
            return None
        return reliability_points(frame["y_score"], frame["p_true"] if self.use_truth else frame["y_true"])


def _overlaid(curves: _Curves, best: dict[str, pd.Series], objective: Objective,
              palette: dict[str, str]) -> tuple[str, Any, str]:
    fig, (top, bottom) = new_figure(2, 1, width=7.5, height=3.4)
    fig.get_axes()[0].get_gridspec().set_height_ratios([3, 1.2])
    for name, row in best.items():
        points = curves.points(row["run_id"])
        if points is None:
            continue
        factor = "" if pd.isna(row["factor"]) else f" f={round_text(row['factor'])}"
        top.plot(points[0], points[1], marker="o", ms=4, color=palette[name], label=f"{name}{factor}")
        scores = np.clip(curves.frames[row["run_id"]]["y_score"].to_numpy(), 1e-6, 1.0)
        bottom.hist(scores, bins=np.logspace(-6, 0, 61), histtype="step", color=palette[name], linewidth=1.2)
    _reliability_axes(top, curves.truth_label)
    top.set_title(f"Reliability on test, strategies overlaid (each at its best run by {objective.keys[0]}); "
                  f"quantile bins", fontsize=10)
    below = legend_or_below(fig, top, loc="upper left")
    bottom.set_xscale("log")
    bottom.set_yscale("log")
    bottom.minorticks_off()  # as on the curves above
    bottom.set_xlim(1e-4, 1.0)
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("test rows")
    bottom.grid(alpha=0.3)
    fixed_margins(fig, left=LABELLED_LEFT, below=below)
    return ("Reliability, strategies overlaid", fig,
            f"y axis: {curves.truth_label} in each of {RELIABILITY_BINS} quantile bins of the scores; "
            "the diagonal is perfect calibration. Below: the distribution of the scores.")


def _per_factor(curves: _Curves, per_factor: dict[str, list[pd.Series]], axis: str | None) -> tuple[str, Any, str]:
    from matplotlib import colormaps

    cols = min(3, len(per_factor))
    fig, axes = new_figure(math.ceil(len(per_factor) / cols), cols, width=4.6, height=4.0)
    cmap = colormaps["viridis"]
    all_factors = sorted({r["factor"] for rows in per_factor.values() for r in rows})
    scale = {f: cmap(i / max(len(all_factors) - 1, 1)) for i, f in enumerate(all_factors)}
    for ax, (name, chosen) in zip(axes, per_factor.items(), strict=False):
        for row in chosen:
            points = curves.points(row["run_id"])
            if points is not None:
                ax.plot(points[0], points[1], marker="o", ms=3, color=scale[row["factor"]],
                        label=f"f={round_text(row['factor'])}")
        _reliability_axes(ax, curves.truth_label)
        ax.set_title(name, fontsize=10)
        if ax.get_legend_handles_labels()[0]:  # a series whose runs left no predictions has none
            ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(per_factor):]:
        ax.set_visible(False)
    fixed_margins(fig, left=LABELLED_LEFT)
    return (f"Reliability per strategy, by {factor_words(axis)}", fig,
            f"One curve per factor (at most {MAX_FACTORS_PER_PANEL}); y axis: {curves.truth_label}.")


def _reliability_axes(ax, truth_label: str) -> None:
    """Log-log axes: under imbalance almost every score is below 0.05, where linear axes see nothing."""
    lines = list(ax.get_lines())
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
