"""The report's matplotlib figures against the factor, and the Pareto front.

Drawn on matplotlib's ``Figure`` without pyplot (no global state, no GUI backend, safe inside a
sweep) and laid out with fixed margins rather than a layout engine (see ``plots.fixed_margins``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from imbexp.plots import LABELLED_LEFT, fixed_margins
from imbexp.report import _multiclass as multiclass
from imbexp.report._runs import ReportRuns
from imbexp.report._tables import (
    factor_axis,
    factor_table,
    on_axis,
    palette_of,
    pareto_front,
    round_text,
    series_of,
    series_order,
)

#: a grid of at most this many factors, each of at most two significant figures, is ticked at its
#: own values (what the user typed); other factors get round log ticks
GRID_TICKS = 8

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
    ("train_positive_fraction", "Positive share of training rows"),
    ("train_minority_fraction", "Minority share of training rows"),
    ("test_calibration_slope", "Calibration slope (test)"),
    ("test_calibration_intercept", "Calibration intercept (test)"),
    ("test_net_benefit", "Net benefit at the tuned threshold (test)"),
)
#: a panel left out where the runs have its successor (runs before issue 13 logged only the old one)
SUPERSEDED = {"train_minority_fraction": "train_positive_fraction"}


def new_figure(rows: int, cols: int, width: float = 5.2, height: float = 3.6):
    """A figure of ``rows`` x ``cols`` panels and its axes, flat; no layout engine: the caller
    places the panels with ``fixed_margins``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    return fig, axes


def figure_png(fig, dpi: int = 90) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


#: a legend of more entries than this leaves the axes for the band below them, in columns
LEGEND_ON_AXES = 10


def legend_columns(fig, labels: Sequence[str], most: int | None = None) -> int:
    """As many legend columns as the longest label fits across the figure (about 12 characters
    an inch at the legends' size, with the marker), at most ``most``."""
    fitting = int(fig.get_figwidth() * 12 / (max(map(len, labels)) + 6))
    return max(1, min(len(labels), fitting, most or len(labels)))


def legend_or_below(fig, ax, **legend: Any) -> float:
    """``ax``'s legend on the axes, or below the panels past :data:`LEGEND_ON_AXES` entries;
    returns the band below (0 on the axes), for ``fixed_margins(below=...)``."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) > LEGEND_ON_AXES:
        return legend_below(fig, handles, labels)
    ax.legend(fontsize=8, **legend)
    return 0.0


def legend_below(fig, handles: Sequence[Any], labels: Sequence[str], fontsize: float = 8) -> float:
    """A figure legend below the panels, in as many columns as its longest label fits across the
    figure (about 12 characters an inch at this size, with the marker), the figure made taller by
    the band it needs; returns that band in inches, for ``fixed_margins(below=...)``. Many
    strategies are never merged into one series, so their legend leaves the axes it would cover."""
    columns = legend_columns(fig, labels)
    band = 0.2 + 0.2 * math.ceil(len(labels) / columns)
    fig.set_figheight(fig.get_figheight() + band)
    fig.legend(handles, labels, loc="lower center", ncols=columns, fontsize=fontsize, frameon=False)
    return band


def factor_words(name: str | None) -> str:
    """``downsample_factor`` -> ``downsample factor``: the factor as an axis or a heading names it."""
    return (name or "factor").replace("_", " ")


def draw_against_factor(runs: pd.DataFrame, panels: Sequence[tuple[str, str]], facets: Sequence[str] = (),
                        cols: int = 2, title: str | None = None):
    """One panel per metric against the factor most runs have (log axis): a line per strategy, a
    dashed level for strategies without that factor, and a band of the 95 % intervals where the
    runs have them: a run's logged interval, for a group of seeds the t interval across its seeds
    (``_seed_ci_low`` / ``_seed_ci_high``, see ``factor_table``), so that the claims figure's
    bands hold the spread between seeds wherever the runs were repeated."""
    def drawn(metric: str) -> bool:
        return metric in runs and runs[metric].notna().any()

    panels = [(metric, label) for metric, label in panels
              if drawn(metric) and not (metric in SUPERSEDED and drawn(SUPERSEDED[metric]))]
    if not panels:
        return None
    axis = factor_axis(runs)
    runs = runs.assign(series=series_of(runs, facets))
    palette = palette_of(runs, facets)
    table = factor_table(on_axis(runs, axis), [m for m, _ in panels], facets)
    series = sorted(dict.fromkeys(table["series"]), key=series_order)
    fig, axes = new_figure(math.ceil(len(panels) / cols), cols)
    for ax, (metric, label) in zip(axes, panels, strict=False):
        _draw_panel(ax, table, series, metric, palette)
        _scale_panel(ax, table, metric)
        ax.set_xlabel(f"{factor_words(axis)} f")
        ax.set_title(label, fontsize=10)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    # one entry per label: a series drawn as several dashed levels (no factor) is one entry
    entries = dict(zip(*reversed(axes[0].get_legend_handles_labels()), strict=True))
    labels, handles = list(entries), list(entries.values())
    legend_rows = 0
    if handles:
        # binned labels such as ``downsample_upweight w 50–100`` take several columns' width
        columns = legend_columns(fig, labels, most=4)
        legend_rows = math.ceil(len(labels) / columns)
        fig.legend(handles, labels, loc="lower center", ncols=columns, fontsize=9, frameon=False)
    fixed_margins(fig, title=title, below=0.1 + 0.25 * legend_rows)
    return fig


def _draw_panel(ax, table: pd.DataFrame, series: list[str], metric: str, palette: dict[str, Any]) -> None:
    for number, name in enumerate(series):
        part = table[table["series"] == name]
        with_factor = part[part["factor"].notna()].sort_values("factor")
        color = palette[name]
        if len(with_factor):
            # Thinner lines for later series: strategies that rank alike (downsample with and
            # without prior correction) draw on top of each other and stay both visible.
            ax.plot(with_factor["factor"], with_factor[metric], marker="o", color=color, label=name,
                    linewidth=max(1.0, 3.2 - 0.8 * number), ms=max(3.0, 7.0 - 1.5 * number))
            low, high = f"{metric}_ci_low", f"{metric}_ci_high"
            if low in with_factor and with_factor[low].notna().all():
                ax.fill_between(with_factor["factor"], with_factor[low], with_factor[high],
                                color=color, alpha=0.15, linewidth=0)
                if len(with_factor) == 1:  # a band of one point has no width: an error bar instead
                    # Drawn around the interval's own middle, not the point: a bootstrap interval
                    # need not contain the point estimate (a biased metric such as ECE).
                    lower = with_factor[low].to_numpy(dtype=float)
                    upper = with_factor[high].to_numpy(dtype=float)
                    ax.errorbar(with_factor["factor"].to_numpy(dtype=float), (lower + upper) / 2,
                                yerr=(upper - lower) / 2, fmt="none", ecolor=color, elinewidth=1.2, capsize=3)
        for value in part.loc[part["factor"].isna(), metric].dropna():
            ax.axhline(value, color=color, linestyle="--", linewidth=1.2, label=f"{name} (no factor)")


def _scale_panel(ax, table: pd.DataFrame, metric: str) -> None:
    if metric.endswith("prediction_bias") or metric.startswith("test_prediction_bias_"):  # per class too
        ax.axhline(0.0, color="black", linewidth=0.8)
        _symlog_if_wide(ax, table[metric])
    wide = _spread(table[metric]) > 20
    if metric == "train_rows" or (metric in ("fit_seconds", "test_ece") and wide):
        ax.set_yscale("log")
    factors = sorted(table["factor"].dropna().unique())
    if factors:
        factor_ticks(ax, factors)
    ax.grid(alpha=0.3)


def factor_ticks(ax, factors: Sequence[float]) -> None:
    """A log factor axis (the factors are >= 1 or shares, and span decades) with major ticks at
    round values: a small grid's own factors (1, 3, 10, 30), else 1, 2, 5 in each decade over up
    to three decades, the decades alone beyond, every digit within half a decade; an Optuna
    sweep's 40 sampled factors are points, not ticks, which merged into one smear. A single
    factor is its own tick, to three significant figures. The decades are those of the axis as
    drawn (its margins widen a narrow range), so the ticks are counted over what is shown."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator, StrMethodFormatter

    ax.set_xscale("log")
    positive = sorted({float(f) for f in factors if f > 0})
    if not positive:
        return
    if len(positive) == 1:
        ax.xaxis.set_major_locator(FixedLocator(positive))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: round_text(x)))
        ax.xaxis.set_minor_locator(NullLocator())
        return
    if len(positive) <= GRID_TICKS and all(float(round_text(f, 2)) == f for f in positive):
        ax.xaxis.set_major_locator(FixedLocator(positive))
    else:
        low, high = ax.get_xlim()  # after autoscaling to the drawn factors
        decades = math.log10(high / low) if low > 0 and high > low else math.log10(max(positive) / min(positive))
        subs = (1.0,) if decades > 3 else (1.0, 2.0, 5.0) if decades >= 0.5 else tuple(range(1, 10))
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=subs))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())  # the round values are the ticks


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
    prediction bias and ECE, fit time and training rows, PR-AUC and ROC-AUC, against f.

    Where the runs are groups of repeated seeds (``repeats=k``), each point is the mean over the
    seeds and its band the 95 % t interval across them: a claim about the technique, not about one
    split, resample and model draw. Single runs keep the interval they logged on their test rows.

    Multi-class runs get their own panels (``_multiclass.factor_panels``: macro F1, balanced
    accuracy, macro PR-AUC, the worst class's recall, log loss, ECE, cost, each class's bias)."""
    words = factor_words(factor_axis(runs))
    if multiclass.any_multiclass(runs):
        return draw_against_factor(runs, multiclass.factor_panels(runs), facets, cols=3,
                                   title=f"{words.capitalize()} f: multi-class metrics, calibration and "
                                         f"cost{_context(runs)}")
    return draw_against_factor(runs, CLAIMS_PANELS, facets, cols=2,
                               title=f"{words.capitalize()} f: calibration, cost and ranking{_context(runs)}")


def _context(runs: pd.DataFrame) -> str:
    """`` · known_prob, 200,000 rows, 0.98 % positives · lightgbm`` when the runs share them."""
    parts = []
    if runs["dataset"].nunique() == 1:
        text = str(runs["dataset"].iloc[0])
        share = "{:.2%} of the smallest class" if multiclass.any_multiclass(runs) else "{:.2%} positives"
        for column, fmt in (("dataset_rows", "{:,.0f} rows"), ("dataset_minority_fraction", share)):
            if column in runs and runs[column].nunique() == 1:
                text += ", " + fmt.format(runs[column].iloc[0])
        parts.append(text)
    if runs["model"].nunique() == 1:
        parts.append(str(runs["model"].iloc[0]))
    return "".join(f" · {part}" for part in parts)


def pareto_section(data: ReportRuns) -> tuple[Any | None, pd.DataFrame | None]:
    """The Pareto front of the runs on the two objectives (valid), drawn over every run."""
    found = pareto_front(data)
    if found is None:
        return None, None
    runs, front = found
    x_key, y_key = data.objective.keys
    series = series_of(runs, data.facets)
    palette = palette_of(data.finished, data.facets)
    fig, axes = new_figure(1, 1, width=7.0, height=5.0)
    ax = axes[0]
    for name in sorted(dict.fromkeys(series), key=series_order):
        part = runs[series == name]
        ax.scatter(part[x_key], part[y_key], s=22, color=palette[name], alpha=0.6, label=name)
    ax.plot(front[x_key], front[y_key], color="black", drawstyle="steps-post" if len(front) > 1 else "default",
            linewidth=1.2)
    ax.scatter(front[x_key], front[y_key], s=70, facecolors="none", edgecolors="black", label="Pareto front")
    ax.set_xlabel(f"{x_key} ({data.objective.directions[0]})")
    ax.set_ylabel(f"{y_key} ({data.objective.directions[1]})")
    ax.grid(alpha=0.3)
    below = legend_or_below(fig, ax)
    ax.set_title(f"Pareto front on valid: {len(front)} of {len(runs)} runs", fontsize=10)
    fixed_margins(fig, left=LABELLED_LEFT, below=below)
    return fig, front
