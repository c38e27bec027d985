"""One self-contained HTML page from an MLflow experiment or a sweep's parent run.

    python -m imbexp.report --run PARENT_RUN_ID          # a sweep (grid or Optuna)
    python -m imbexp.report --experiment known_prob      # every run of an experiment
    python -m imbexp.report --experiment known_prob --run latest --claims-figure   # + runs/reports/<name>-claims.png

The page holds a leaderboard of the strategies (95 % intervals where the runs logged them, or the
reason they logged none; each run's paired deltas against its baseline with a verdict, where it
logged them; a run of repeated seeds as one row, mean ± sd and the t interval across its seeds),
metrics, prediction bias, fit time and training rows against the strategies' factor, reliability
curves of the strategies overlaid with the calibration metrics, a decision curve, the Pareto front
of a two-objective sweep and a table of every run. Plots are embedded as base64 PNG, so the file
opens anywhere on its own. It is written to ``runs/reports/`` and, for a sweep, logged to the parent
run as ``report/<name>.html``.

Multi-class runs (tag ``imbexp.classes``) get their own leaderboard (macro F1, balanced accuracy,
macro PR-AUC, the worst class's recall, log loss, top-label ECE), tables of each class's prediction
bias and recall, the confusion matrices, class-wise reliability and per-class precision-recall of
the best run, and their own panels against a one-number factor; a per-class factor mapping
(``downsample_factor={a: 5, b: 2}``) has no axis and is named in the strategy's label
(``_multiclass``).

Each run names its own strategy and factor (tags ``imbexp.label``, ``imbexp.factor_name``, metric
``imbexp.factor``); the report groups and draws by those. The parts: ``_runs`` reads the runs
(``mlflow.search_runs``), ``_describe`` adds the columns it groups by, ``_tables`` the tables,
``_figures``, ``_reliability`` and ``_decision`` the matplotlib figures, ``_multiclass`` what
multi-class runs add, ``_html`` the page from ``templates/report.html.j2``, ``_cli`` writes it and
is the command.
"""

from imbexp.intervals import INTERVAL_METRICS
from imbexp.report._cli import main, reports_dir, write_report
from imbexp.report._decision import decision_curves, decision_figure, decision_thresholds
from imbexp.report._figures import (
    CLAIMS_PANELS,
    MORE_FACTOR_PANELS,
    claims_figure,
    draw_against_factor,
    figure_png,
    pareto_section,
)
from imbexp.report._html import render_html
from imbexp.report._reliability import choose_runs, reliability_figures, reliability_points
from imbexp.report._runs import ReportError, ReportRuns, default_tracking_uri, load_runs, recent_parent_runs
from imbexp.report._tables import delta_of, factor_table, leaderboard, pareto_mask, verdict_words

__all__ = [
    "CLAIMS_PANELS",
    "INTERVAL_METRICS",
    "MORE_FACTOR_PANELS",
    "ReportError",
    "ReportRuns",
    "choose_runs",
    "claims_figure",
    "decision_curves",
    "decision_figure",
    "decision_thresholds",
    "delta_of",
    "default_tracking_uri",
    "draw_against_factor",
    "factor_table",
    "figure_png",
    "leaderboard",
    "load_runs",
    "main",
    "pareto_mask",
    "pareto_section",
    "recent_parent_runs",
    "reliability_figures",
    "reliability_points",
    "render_html",
    "reports_dir",
    "verdict_words",
    "write_report",
]
