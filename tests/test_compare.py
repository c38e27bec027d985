"""Paired comparisons with the baseline, ``compare_to`` and ``repeats``, as real commands on a real
MLflow store; every delta is checked against the two runs' own logged predictions."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from components import one_sentence

from imbexp import compare, intervals, names
from imbexp.errors import ConfigError

#: about 60 test positives: enough for intervals (intervals.MIN_POSITIVES), a few seconds a run
TINY = ["dataset=known_prob", "dataset.rows=6000", "dataset.minority_fraction=0.05",
        "model.estimator.n_estimators=10", "tracking.log_model=false", "metrics.bootstrap=200"]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMBEXP_THREADS", "1")


def _runs(client, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id], max_results=1000)


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _predictions(client, run_id: str, tmp_path) -> pd.DataFrame:
    folder = tmp_path / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return pd.read_parquet(client.download_artifacts(run_id, "predictions/test.parquet", str(folder)))


def _assert_paired(client, run, other, tmp_path, suffix: str = "") -> dict[str, intervals.Delta]:
    """The run's logged deltas are those of the two runs' logged test predictions, and each
    interval holds its delta."""
    a, b = _predictions(client, run.info.run_id, tmp_path), _predictions(client, other.info.run_id, tmp_path)
    expected = intervals.paired(a["y_true"].to_numpy(), a["y_score"].to_numpy(), b["y_score"].to_numpy(),
                                run.data.metrics["threshold_tuned"], other.data.metrics["threshold_tuned"],
                                n_bins=15, n_resamples=200, seed=int(run.data.params["seed"]))
    metrics = run.data.metrics
    for metric, delta in expected.items():
        key = f"test_{metric}_delta{suffix}"
        assert metrics[key] == pytest.approx(delta.value, abs=1e-12), key
        assert metrics[f"{key}_ci_low"] == pytest.approx(delta.low, abs=1e-12)
        assert metrics[f"{key}_ci_low"] <= metrics[key] <= metrics[f"{key}_ci_high"], key
        assert metrics[f"{key}_p"] == pytest.approx(delta.p, abs=1e-12)
    return expected


def _table(stdout: str) -> str:
    """The table a grid or sweep prints at its end: its title line and the indented lines after it."""
    lines = stdout[stdout.index("vs baseline (strategy=none"):].splitlines()
    end = next((i for i, line in enumerate(lines[1:], start=1) if not line.startswith("  ")), len(lines))
    return "\n".join(lines[:end])


def _deltas(run) -> list[str]:
    return [key for key in run.data.metrics if "_delta" in key]


@pytest.mark.smoke
def test_a_grid_compares_each_run_with_the_none_run_of_the_same_settings(run_cli, mlflow_client, tmp_path) -> None:
    done = _ok(run_cli("-m", *TINY, "strategy=none,downsample_upweight", "tracking.experiment=cmp-grid"))
    runs = {run.data.tags.get("strategy"): run for run in _runs(mlflow_client, "cmp-grid")
            if names.SWEEP_TAG not in run.data.tags}
    none, downsampled = runs["none"], runs["downsample_upweight"]
    assert downsampled.data.tags[names.BASELINE_RUN_TAG] == none.info.run_id
    deltas = _assert_paired(mlflow_client, downsampled, none, tmp_path)
    assert _deltas(none) == [] and names.BASELINE_RUN_TAG not in none.data.tags
    # the table at the grid's end: the configuration, each shown metric's delta and its verdict
    table = _table(done.stdout)
    assert downsampled.info.run_id in table
    for metric in ("pr_auc", "roc_auc", "prediction_bias", "ece"):
        line = next(line for line in table.splitlines() if line.strip().startswith(metric))
        assert f"{deltas[metric].value:+.4f}" in line and deltas[metric].verdict(metric) in line
    assert max(len(line) for line in table.splitlines()) < 120
    assert "adding a strategy=none run" not in done.stdout


def test_a_grid_without_a_none_job_adds_one_baseline_and_compares_with_factor_1(run_cli, mlflow_client,
                                                                                tmp_path) -> None:
    done = _ok(run_cli("-m", *TINY, "strategy=downsample_upweight", "strategy.downsample_factor=1,10",
                       "tracking.experiment=cmp-added"))
    runs = _runs(mlflow_client, "cmp-added")
    (parent,) = [run for run in runs if run.data.tags.get(names.SWEEP_TAG) == "grid"]
    (baseline,) = [run for run in runs if run.data.tags.get(names.BASELINE_TAG) == "true"]
    assert "adding a strategy=none run" in done.stdout and baseline.info.run_id in [
        run.info.run_id for run in runs if run.data.tags.get(names.PARENT_RUN_TAG) == parent.info.run_id]
    assert baseline.data.params["strategy._target_"] == "imbexp.strategies.NoRebalancing"
    assert baseline.info.status == "FINISHED" and parent.info.status == "FINISHED"
    by_factor = {run.data.params.get("strategy.downsample_factor"): run for run in runs
                 if run.data.tags.get("strategy") == "downsample_upweight"}
    one, ten = by_factor["1"], by_factor["10"]
    for run in (one, ten):  # both against the one added baseline
        assert run.data.tags[names.BASELINE_RUN_TAG] == baseline.info.run_id
        _assert_paired(mlflow_client, run, baseline, tmp_path)
    assert ten.data.tags[names.FACTOR1_RUN_TAG] == one.info.run_id
    _assert_paired(mlflow_client, ten, one, tmp_path, suffix=names.FACTOR1_SUFFIX)
    assert not any(names.FACTOR1_SUFFIX in key for key in one.data.metrics)
    assert parent.data.metrics["runs"] == 2 and parent.data.metrics["baselines_added"] == 1
    assert all(len(line) < 120 for line in done.stdout.splitlines() if line.startswith("[compare]"))


@pytest.fixture(scope="module")
def reference(imbexp_home) -> str:
    """One run of the tiny config in experiment cmp-to, which the compare_to tests compare with."""
    env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "IMBEXP_THREADS": "1"}
    _ok(subprocess.run([sys.executable, "-m", "imbexp", *TINY, "tracking.experiment=cmp-to"], cwd=imbexp_home,
                       env=env, capture_output=True, text=True, timeout=600))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{imbexp_home.as_posix()}/runs/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("cmp-to").experiment_id])
    return run.info.run_id


def _compare_to(run_cli, client, reference: str, *args: str):
    """``compare_to=<reference>`` with ``args``: the command and the run it made."""
    before = {run.info.run_id for run in _runs(client, "cmp-to")}
    done = run_cli(*TINY, *args, f"compare_to={reference}", "tracking.experiment=cmp-to")
    made = [run for run in _runs(client, "cmp-to") if run.info.run_id not in before]
    return done, made


def _delta_line(stdout: str, against: str, metric: str) -> str:
    lines = stdout[stdout.index(f"vs {against}"):].splitlines()
    return next(line for line in lines if line.strip().startswith(f"{metric} "))


def test_compare_to_a_slightly_different_model_logs_intervals_around_each_delta(run_cli, mlflow_client, reference,
                                                                               tmp_path) -> None:
    done, (run,) = _compare_to(run_cli, mlflow_client, reference, "model.estimator.n_estimators=11")
    _ok(done)
    assert run.data.tags[names.COMPARED_TO_TAG] == reference
    deltas = _assert_paired(mlflow_client, run, mlflow_client.get_run(reference), tmp_path)
    line = _delta_line(done.stdout, reference, "pr_auc")
    assert f"{deltas['pr_auc'].value:+.4f}" in line and deltas["pr_auc"].verdict("pr_auc") in line


def test_compare_to_the_same_configuration_finds_no_difference(run_cli, mlflow_client, reference) -> None:
    done, (run,) = _compare_to(run_cli, mlflow_client, reference)
    _ok(done)
    for metric in intervals.DELTA_METRICS:  # every delta 0, in an interval that holds it
        key = f"test_{metric}_delta"
        assert run.data.metrics[key] == pytest.approx(0, abs=1e-12)
        assert run.data.metrics[f"{key}_ci_low"] <= 0 <= run.data.metrics[f"{key}_ci_high"]
        if metric in compare.SHOWN:
            assert _delta_line(done.stdout, reference, metric).rstrip().endswith("no detectable difference")


def test_compare_to_finds_a_crippled_model_worse(run_cli, mlflow_client, reference) -> None:
    # no leaf can hold 100,000 rows: the model never splits and scores every row the same
    done, (run,) = _compare_to(run_cli, mlflow_client, reference, "model.estimator.min_child_samples=100000")
    _ok(done)
    assert run.data.metrics["test_pr_auc_delta_ci_high"] < 0 and run.data.metrics["test_roc_auc_delta_ci_high"] < 0
    assert _delta_line(done.stdout, reference, "pr_auc").rstrip().endswith("worse")


def test_compare_to_refuses_other_test_rows_in_one_sentence(run_cli, mlflow_client, reference) -> None:
    done, (run,) = _compare_to(run_cli, mlflow_client, reference, "seed=1")
    assert "tested on other rows" in one_sentence(done)
    assert _deltas(run) == [] and run.info.status == "FINISHED"  # the run itself is kept


def test_compare_to_an_unknown_run_is_refused_before_the_data_is_read(run_cli, mlflow_client, compose,
                                                                     reference) -> None:
    count = len(_runs(mlflow_client, "cmp-to"))
    refused = run_cli(*TINY, "compare_to=nonsense", "tracking.experiment=cmp-to")
    line = one_sentence(refused)
    assert line.startswith("imbexp: error: compare_to='nonsense' is not allowed; use the 32-character hex id")
    assert "rows, 10 features" not in refused.stdout + refused.stderr
    for value, words in (("0123456789abcdef0123456789abcdef", "is not a run in"),
                         (reference, "is a single run, but repeats=2")):
        cfg = compose(*TINY, f"compare_to={value}", "repeats=2", "tracking.experiment=cmp-to")
        with pytest.raises(ConfigError, match=words):
            compare.check_compare_to(cfg)
    assert len(_runs(mlflow_client, "cmp-to")) == count
    # a FINISHED run that was never tested (a grid's parent, say) is refused before the run too
    untested = mlflow_client.create_run(mlflow_client.get_experiment_by_name("cmp-to").experiment_id).info.run_id
    mlflow_client.set_terminated(untested, "FINISHED")
    with pytest.raises(ConfigError, match="has no predictions/test.parquet to pair with"):
        compare.check_compare_to(compose(*TINY, f"compare_to={untested}", "tracking.experiment=cmp-to"))
    mlflow_client.delete_run(untested)


def test_repeats_runs_seeds_under_a_group_with_their_mean_and_spread(run_cli, mlflow_client) -> None:
    done = _ok(run_cli(*TINY, "repeats=3", "seed=4", "tracking.experiment=cmp-repeats"))
    runs = _runs(mlflow_client, "cmp-repeats")
    (group,) = [run for run in runs if names.REPEATS_TAG in run.data.tags]
    seeds = sorted((run for run in runs if run is not group), key=lambda run: int(run.data.tags[names.REPEAT_TAG]))
    assert group.data.tags[names.REPEATS_TAG] == "3" and group.info.status == "FINISHED"
    assert [run.data.params["seed"] for run in seeds] == ["4", "5", "6"]
    assert [run.data.tags[names.REPEAT_TAG] for run in seeds] == ["0", "1", "2"]
    for run in seeds:
        assert run.data.tags[names.REPEAT_GROUP_TAG] == group.info.run_id
        assert run.data.tags[names.PARENT_RUN_TAG] == group.info.run_id and run.info.status == "FINISHED"
    g = group.data.metrics
    for key in ("test_pr_auc", "test_roc_auc", "valid_pr_auc", "test_ece"):
        values = [run.data.metrics[key] for run in seeds]
        assert g[key] == pytest.approx(np.mean(values), rel=1e-12)
        assert g[f"{key}_sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    mean, sd, low, high = intervals.seed_interval([run.data.metrics["test_pr_auc"] for run in seeds])
    assert (g["test_pr_auc_seed_ci_low"], g["test_pr_auc_seed_ci_high"]) == pytest.approx((low, high))
    assert low < mean < high and "valid_pr_auc_seed_ci_low" not in g
    assert f"group run {group.info.run_id}" in done.stdout
    # the dataset's facts are the seeds' tags, copied to the group: no metric of a constant
    assert group.data.tags["dataset_rows"] == seeds[0].data.tags["dataset_rows"] == "6000"
    assert not [key for key in g if key.startswith("dataset_")]
    refused = run_cli(*TINY, "repeats=0", "tracking.experiment=cmp-repeats")
    assert one_sentence(refused).startswith("imbexp: error: repeats=0 is not allowed; use an integer from 1 to 100")


def test_a_grid_of_repeats_logs_the_seed_mean_of_the_paired_deltas(run_cli, mlflow_client) -> None:
    _ok(run_cli("-m", *TINY, "repeats=2", "strategy=none,downsample_upweight", "tracking.experiment=cmp-grid-rep"))
    runs = _runs(mlflow_client, "cmp-grid-rep")
    groups = {run.data.tags["strategy"]: run for run in runs if names.REPEATS_TAG in run.data.tags}
    assert len(groups) == 2 and not any(run.data.tags.get(names.BASELINE_TAG) for run in runs)
    group = groups["downsample_upweight"]
    seeds = [run for run in runs if run.data.tags.get(names.REPEAT_GROUP_TAG) == group.info.run_id]
    baselines = {run.data.params["seed"]: run.info.run_id for run in runs
                 if run.data.tags.get(names.REPEAT_GROUP_TAG) == groups["none"].info.run_id}
    assert len(seeds) == 2 and len(baselines) == 2
    for run in seeds:  # each seed against the none run of its own seed
        assert run.data.tags[names.BASELINE_RUN_TAG] == baselines[run.data.params["seed"]]
    values = [run.data.metrics["test_pr_auc_delta"] for run in seeds]
    mean, _, low, high = intervals.seed_interval(values)
    g = group.data.metrics
    assert g["test_pr_auc_delta"] == pytest.approx(mean)
    assert (g["test_pr_auc_delta_ci_low"], g["test_pr_auc_delta_ci_high"]) == pytest.approx((low, high))
    assert _deltas(groups["none"]) == []


@pytest.mark.smoke
def test_a_sweep_of_repeats_optimises_the_seed_mean(run_cli, mlflow_client) -> None:
    import optuna

    done = _ok(run_cli("sweep=downsample_upweight", "hydra.sweeper.study_name=cmp-sweep-rep",
                       "hydra.sweeper.n_trials=1", "repeats=2", *TINY, "tracking.experiment=cmp-sweep-rep"))
    runs = _runs(mlflow_client, "cmp-sweep-rep")
    (trial_run,) = [run for run in runs if names.TRIAL_NUMBER_TAG in run.data.tags]
    assert trial_run.data.tags[names.REPEATS_TAG] == "2" and trial_run.info.status == "FINISHED"
    seeds = [run for run in runs if run.data.tags.get(names.PARENT_RUN_TAG) == trial_run.info.run_id]
    assert sorted(run.data.params["seed"] for run in seeds) == ["0", "1"]
    storage = f"sqlite:///{os.environ['IMBEXP_HOME']}/runs/optuna.db"
    (trial,) = optuna.load_study(study_name="cmp-sweep-rep", storage=storage).trials
    assert trial.value == pytest.approx(np.mean([run.data.metrics["valid_pr_auc"] for run in seeds]))
    assert trial_run.data.metrics["valid_pr_auc"] == pytest.approx(trial.value)
    # no baseline in the experiment: one per seed is added, and the group gets its seed-mean deltas
    assert done.stdout.count("adding a strategy=none run") == 2
    assert math.isfinite(trial_run.data.metrics["test_pr_auc_delta"])


def test_a_stopped_repeats_leaves_no_run_running(imbexp_home, mlflow_client) -> None:
    env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "imbexp", *TINY, "repeats=20", "tracking.experiment=cmp-stop"],
                               cwd=imbexp_home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stopped once a seed run is under way
        found = mlflow_client.get_experiment_by_name("cmp-stop")
        if found and len(mlflow_client.search_runs([found.experiment_id])) >= 3:
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    runs = _runs(mlflow_client, "cmp-stop")
    (group,) = [run for run in runs if names.REPEATS_TAG in run.data.tags]
    assert group.info.status == "KILLED" and group.info.run_id in err
    assert all(run.info.status in ("FINISHED", "KILLED") for run in runs), \
        [(run.info.run_name, run.info.status) for run in runs] + [err[-2000:]]


@pytest.mark.parametrize("command", [["-m", "strategy=downsample_upweight"],
                                     ["sweep=downsample_upweight", "hydra.sweeper.n_trials=1",
                                      "hydra.sweeper.study_name=cmp-stop-compare"]], ids=["grid", "sweep"])
def test_a_stop_while_comparing_ends_the_parent_killed(imbexp_home, mlflow_client, command: list[str]) -> None:
    experiment = f"cmp-stop-{command[0].strip('-')[:5]}"
    env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "imbexp", *command, *TINY, f"tracking.experiment={experiment}"],
                               cwd=imbexp_home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stdout:  # stopped as the missing baseline is about to be run
        seen.append(line)
        if "adding a strategy=none run" in line:
            process.send_signal(signal.SIGTERM)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, "".join(seen) + out + err[-2000:]
    assert "Traceback" not in out + err
    runs = _runs(mlflow_client, experiment)
    (parent,) = [run for run in runs if names.PARENT_RUN_TAG not in run.data.tags]
    assert parent.info.status == "KILLED"
    if command[0] == "-m":  # the command's last line names the parent it closed
        assert err.strip().splitlines()[-1].endswith(f"grid parent run {parent.info.run_id} marked KILLED")
    else:
        assert "[sweep] comparisons stopped by SIGTERM" in out and f"parent run {parent.info.run_id}" in out
    assert all(run.info.status in ("FINISHED", "KILLED") for run in runs)
