"""The cross-dataset benchmark: a small suite run end to end as a user runs it, its report's
numbers checked against scipy computed here from the runs MLflow holds, and its resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import friedmanchisquare, rankdata

SETS = ("ecoli1", "pima", "glass1", "yeast3", "vehicle0")  # autorank needs 5 datasets or more
STRATEGIES = ("none", "oversample", "smote")
EXPERIMENT = "suite-test"
SMALL = [
    "suite=keel_small", f"dataset.name=choice({','.join(SETS)})", f"strategy=choice({','.join(STRATEGIES)})",
    "model=choice(logistic_regression)", "seed=choice(0)", "hydra.sweeper.n_jobs=2",
    f"tracking.experiment={EXPERIMENT}", "hydra.sweeper.study_name=suite-test", "metrics.bootstrap=0",
]


def _benchmark(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMBEXP_HOME": str(home), "PYTHONUNBUFFERED": "1", "IMBEXP_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "imbexp.benchmark", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=600)


def _leaf_runs(client) -> list:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'", max_results=1000)
    return [run for run in runs if "strategy._target_" in run.data.params]


def _test_values(client, metric: str) -> dict[tuple[str, str], float]:
    return {(run.data.params["dataset.name"], run.data.tags["strategy"]): run.data.metrics[f"test_{metric}"]
            for run in _leaf_runs(client)}


@pytest.mark.smoke
def test_small_suite_ranks_and_friedman_match_scipy_and_a_rerun_runs_nothing(imbexp_home, mlflow_client):
    done = _benchmark(imbexp_home, *SMALL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = imbexp_home / "runs" / "reports" / "suite-keel_small.html"
    summary = json.loads(page.with_suffix(".json").read_text())
    html = page.read_text()
    assert "Friedman" in html and "Nemenyi" in html and "Holm" in html and "data:image/png;base64," in html

    values = {metric: _test_values(mlflow_client, metric) for metric in ("roc_auc", "brier")}
    # two processes share the grid: every point ran, none twice
    assert len(values["roc_auc"]) == summary["runs"] == len(SETS) * len(STRATEGIES)
    assert len(_leaf_runs(mlflow_client)) == len(SETS) * len(STRATEGIES)
    results = {r["metric"]: r for r in summary["results"] if r["model"] == "logistic_regression"}
    for metric, lower_is_better in (("roc_auc", False), ("brier", True)):
        table = np.array([[values[metric][(d, s)] for s in STRATEGIES] for d in SETS])
        # rank 1 = best on each dataset, ties averaged, as every benchmark paper ranks
        ranks = np.mean([rankdata(row if lower_is_better else -row) for row in table], axis=0)
        result = results[metric]
        assert result["datasets"] == sorted(SETS)
        assert result["omnibus"] == "friedman" and result["posthoc"] == "nemenyi"
        for strategy, rank in zip(STRATEGIES, ranks, strict=True):
            assert result["mean_ranks"][strategy] == pytest.approx(rank)
        assert result["friedman_p"] == pytest.approx(friedmanchisquare(*table.T).pvalue)
        for pairwise in result["vs_baseline"]:  # every dataset is counted once
            counted = pairwise["wins"] + pairwise["ties"] + pairwise["losses"] + pairwise["untested"]
            assert counted == len(SETS)
            assert pairwise["p_holm"] >= pairwise["p"]

    # the report is logged to the grid's parent run
    parent = summary["parent_run_id"]
    logged = {a.path for a in mlflow_client.list_artifacts(parent, "benchmark")}
    assert logged == {"benchmark/suite-keel_small.html", "benchmark/suite-keel_small.json"}

    # resume: the same command runs none of the grid again, and reports the same numbers
    again = _benchmark(imbexp_home, *SMALL)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "15 of 15 trials are complete; nothing to run" in again.stdout, again.stdout + again.stderr[-3000:]
    assert len(_test_values(mlflow_client, "roc_auc")) == len(SETS) * len(STRATEGIES)
    rerun = json.loads(page.with_suffix(".json").read_text())
    assert rerun["runs"] == summary["runs"] == len(SETS) * len(STRATEGIES)
    assert rerun["results"] == summary["results"]


def test_an_unknown_suite_is_one_sentence(imbexp_home):
    done = _benchmark(imbexp_home, "suite=keel_smal")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("imbexp: error: suite=keel_smal is not a suite preset; use one of ")
    assert "keel_small" in done.stderr and "Traceback" not in done.stderr
