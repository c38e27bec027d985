"""The decision curve (Vickers & Elkin 2006): the net benefit of acting on each configuration's test
scores, against the threshold probability at which one would act.

Net benefit at threshold t = TP/n - FP/n x t / (1 - t): a false positive costs t / (1 - t) true
positives, the odds a user accepts by choosing t. Treating everyone is worth the prevalence minus
the negatives' share at that price; treating no one is worth 0. A model is worth its use at a
threshold only where its curve lies above both. Computed by :func:`imbexp.intervals.decision_curve`,
the same function a run's ``test_net_benefit`` comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from imbexp import intervals
from imbexp.plots import LABELLED_LEFT, fixed_margins
from imbexp.report._describe import number
from imbexp.report._figures import new_figure
from imbexp.report._tables import series_colors

#: thresholds drawn per curve
DECISION_POINTS = 101
#: the curve reaches this many times the prevalence: under imbalance the thresholds a user would
#: act on lie near the positive rate, and far above it every curve is treat none's 0
PREVALENCE_SPAN = 5.0
#: inches right of the panel for its legend
LEGEND_RIGHT = 2.6


def decision_thresholds(prevalence: float, tuned: Iterable[float] = ()) -> np.ndarray:
    """0 to 5x the prevalence (at least 0.05, at most 0.95), stretched to show every tuned threshold."""
    upper = max(PREVALENCE_SPAN * prevalence, 0.05)
    tuned = [t for t in (number(value) for value in tuned) if t is not None and 0 < t < 1]
    if tuned:
        upper = max(upper, 1.1 * max(tuned))
    return np.linspace(0.0, min(upper, 0.95), DECISION_POINTS)


def decision_curves(best: dict[str, pd.Series],
                    frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The curves of the runs ``best`` names (series -> run), from their test predictions
    ``frames`` (run id -> ``y_true``, ``y_score``), on one threshold grid for all:

    - curves: ``series``, ``run_id``, ``threshold``, ``net_benefit``, ``treat_all``,
      ``treat_none``, ``prevalence``, a row per series and threshold;
    - marks: ``series``, ``run_id``, ``threshold`` (the run's ``threshold_tuned``) and the
      ``net_benefit`` there, a row per run that logged its tuned threshold.
    """
    drawn = {name: row for name, row in best.items()
             if row["run_id"] in frames and not frames[row["run_id"]].empty}
    if not drawn:
        return pd.DataFrame(), pd.DataFrame()
    prevalence = max(float(np.mean(frames[row["run_id"]]["y_true"])) for row in drawn.values())
    thresholds = decision_thresholds(prevalence, [row.get("threshold_tuned") for row in drawn.values()])
    curves, marks = [], []
    for name, row in drawn.items():
        frame = frames[row["run_id"]]
        y, score = frame["y_true"].to_numpy(), frame["y_score"].to_numpy()
        curve = intervals.decision_curve(y, score, thresholds)
        curves.append(pd.DataFrame({"series": name, "run_id": row["run_id"], "threshold": curve["threshold"],
                                    "net_benefit": curve["model"], "treat_all": curve["treat_all"],
                                    "treat_none": curve["treat_none"], "prevalence": float(np.mean(y))}))
        tuned = number(row.get("threshold_tuned"))
        if tuned is not None:
            marks.append({"series": name, "run_id": row["run_id"], "threshold": tuned,
                          "net_benefit": intervals.net_benefit(y, score, tuned)})
    return pd.concat(curves, ignore_index=True), pd.DataFrame(marks)


def decision_figure(curves: pd.DataFrame, marks: pd.DataFrame,
                    palette: dict[str, Any] | None = None) -> tuple[str, Any, str] | None:
    """The decision curve of every series, with treat all and treat none: (title, figure, caption);
    ``palette``: each series' colour in the report's other figures."""
    if curves.empty:
        return None
    series = list(dict.fromkeys(curves["series"]))
    palette = {**series_colors(series), **(palette or {})}
    fig, axes = new_figure(1, 1, width=LEGEND_RIGHT + 6.5, height=4.6)
    ax = axes[0]
    for name in series:
        part = curves[curves["series"] == name]
        ax.plot(part["threshold"], part["net_benefit"], color=palette[name], linewidth=1.6, label=name)
    # treat all depends on the test rows only: one curve per distinct test set's prevalence
    for prevalence, part in curves.groupby(curves["prevalence"].round(12), sort=True):
        first = part[part["run_id"] == part["run_id"].iloc[0]]
        ax.plot(first["threshold"], first["treat_all"], color="grey", linestyle="--", linewidth=1.1,
                label=f"treat all (prevalence {prevalence:.2%})")
    ax.axhline(0.0, color="black", linewidth=1.0, label="treat none")
    if not marks.empty:
        for name, part in marks.groupby("series", sort=False):
            ax.scatter(part["threshold"], part["net_benefit"], marker="D", s=36, color=palette[name],
                       edgecolors="black", linewidths=0.6, zorder=3)
    top = float(curves["prevalence"].max())
    ax.set_xlim(0.0, float(curves["threshold"].max()))
    ax.set_ylim(-0.25 * top, 1.1 * top)  # treat all falls far below 0 past the prevalence
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.grid(alpha=0.3)
    # beside the panel, not on it: the curves fill the panel's top, where a legend would sit
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_title("Decision curve on test (each configuration at its best run by the objective)", fontsize=10)
    fixed_margins(fig, left=LABELLED_LEFT, right=LEGEND_RIGHT)
    return ("Decision curve", fig,
            "Net benefit = TP/n - FP/n x t/(1 - t) of treating the test rows scored at or above the threshold "
            "probability t (Vickers & Elkin 2006); a group of seeds is drawn from its first seed's predictions. "
            "Diamonds: each run's threshold tuned on valid. A model is worth using at a threshold where its "
            "curve lies above both treat all and treat none.")
