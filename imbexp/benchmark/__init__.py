"""Which strategy wins across datasets: a suite of ordinary runs and its cross-dataset report.

    python -m imbexp.benchmark suite=keel_small            # run what is missing, then the report
    python -m imbexp.benchmark suite=keel_small --report-only
    python -m imbexp -m suite=keel_small                   # the runs alone

A suite (``conf/suite/*.yaml``) is a preset of imbexp's sweeper whose params are all choices:
datasets x strategies x models x seeds, run as a grid (each point once, resumable, ``n_jobs``
processes, shared storage), in one MLflow experiment. ``_results`` reads that experiment back,
``_stats`` ranks and tests the strategies per model and metric (autorank, statsmodels' Holm
correction, imbexp's paired deltas), ``_html`` writes the page, ``_cli`` is the command.
The methods are listed in the report itself and in docs/benchmark.md.
"""

from imbexp.benchmark._cli import main, write_suite_report
from imbexp.benchmark._results import load_suite_runs
from imbexp.benchmark._stats import MetricResult, Pairwise, analyse, dataset_verdicts

__all__ = ["MetricResult", "Pairwise", "analyse", "dataset_verdicts", "load_suite_runs", "main",
           "write_suite_report"]
