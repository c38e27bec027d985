"""The user's commands, as real ``python -m imbexp`` processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

SMALL = ["dataset.rows=4000", "model.estimator.n_estimators=30"]


def _runs(client, experiment: str):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id])


@pytest.mark.smoke
def test_readme_command_logs_one_run(run_cli, mlflow_client) -> None:
    done = run_cli("strategy=downsample_upweight", "tracking.experiment=readme")
    assert done.returncode == 0, done.stderr
    assert "downsample_upweight f=10 · lightgbm" in done.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in done.stdout
    (run,) = _runs(mlflow_client, "readme")
    assert run.info.status == "FINISHED"
    assert run.data.params["strategy.downsample_factor"] == "10"
    assert run.info.run_id in done.stdout


@pytest.mark.smoke
def test_a_sweep_preset_needs_no_dash_m_and_keeps_the_print_flags(run_cli) -> None:
    # `sweep=NAME` adds --multirun, which Hydra refuses beside --cfg: the config is printed instead
    done = run_cli("--cfg", "job", "sweep=downsample_upweight")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["strategy"]["_target_"] == "imbexp.strategies.DownsampleUpweight"
    done = run_cli("--cfg", "hydra", "sweep=downsample_upweight")
    assert done.returncode == 0, done.stderr
    hydra_cfg = yaml.safe_load(done.stdout)["hydra"]
    assert hydra_cfg["sweeper"]["_target_"] == "hydra_plugins.imbexp_sweeper.imbexp_optuna_sweeper.ImbexpOptunaSweeper"


def test_keel_smote_random_forest(run_cli, mlflow_client) -> None:
    done = run_cli("dataset=keel", "dataset.name=abalone19", "strategy=smote", "model=random_forest",
                   "model.estimator.estimator.n_estimators=30")
    assert done.returncode == 0, done.stderr
    run = _runs(mlflow_client, "abalone19")[0]
    assert run.data.tags["degree"] == "extreme" and run.data.tags["strategy"] == "smote"


def test_file_dataset_from_the_command_line(run_cli, mlflow_client, imbexp_home) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.random(n) < 0.05
    frame = pd.DataFrame({"amount": rng.gamma(2, 50, n) * (1 + 2 * y), "merchant": rng.choice(["a", "b", "c"], n),
                          "is_fraud": y.astype(int)})
    data = imbexp_home / "data"
    data.mkdir(exist_ok=True)
    frame.to_parquet(data / "fraud.parquet")
    done = run_cli("dataset=file", "dataset.path=data/fraud.parquet", "dataset.target=is_fraud",
                   "dataset.positive_label=1", "model.estimator.n_estimators=30")
    assert done.returncode == 0, done.stderr
    run = _runs(mlflow_client, "fraud")[0]
    assert run.data.tags["dataset_rows"] == str(n)
    assert run.data.tags["dataset_positives"] == str(int(y.sum()))


def test_grid_over_every_strategy_groups_runs_under_one_parent(run_cli, mlflow_client) -> None:
    strategies = ["none", "downsample_upweight", "downsample", "class_weight", "oversample", "smote"]
    done = run_cli("-m", f"strategy={','.join(strategies)}", *SMALL, "tracking.experiment=grid")
    assert done.returncode == 0, done.stderr
    runs = _runs(mlflow_client, "grid")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == len(strategies)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert sorted(r.data.tags["strategy"] for r in children) == sorted(strategies)
    assert all(r.info.status == "FINISHED" for r in runs)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    pd.DataFrame({"x": range(10), "y": [1] * 10}).to_csv(folder / "one_class.csv", index=False)
    pd.DataFrame({"x": range(6), "y": list("abcabc")}).to_csv(folder / "three.csv", index=False)
    pd.DataFrame({"x": range(6), "y": [0, 1, None, 0, 0, 1]}).to_csv(folder / "nan.csv", index=False)
    pd.DataFrame({"x": range(200), "y": [1, 1] + [0] * 198}).to_csv(folder / "two_pos.csv", index=False)
    return folder


BAD_INPUTS = {
    "factor below one": (["strategy=downsample_upweight", "strategy.downsample_factor=0.5"],
                         "strategy.downsample_factor=0.5 is not allowed; use a number >= 1"),
    "factor not a number": (["strategy=downsample_upweight", "strategy.downsample_factor=lots"],
                            "strategy.downsample_factor='lots' is not allowed"),
    "upweight not positive": (["strategy=downsample_upweight", "strategy.upweight_factor=0"],
                              "strategy.upweight_factor=0 is not allowed; use a number > 0"),
    "factor keeps no majority row": (["strategy=downsample_upweight", "strategy.downsample_factor=1e9"],
                                     "would keep 0 of the"),
    "missing path": (["dataset=file", "dataset.path=nowhere.csv", "dataset.target=y"],
                     "dataset.path='nowhere.csv' does not exist"),
    "target not a column": (["dataset=file", "dataset.path={bad}/three.csv", "dataset.target=label"],
                            "dataset.target='label' is not a column of {bad}/three.csv; columns: x, y"),
    "one class": (["dataset=file", "dataset.path={bad}/one_class.csv", "dataset.target=y"], "single class"),
    "three tiny classes": (["dataset=file", "dataset.path={bad}/three.csv", "dataset.target=y"],
                           "has 3 classes ('a', 'b', 'c'), and some have fewer than 3 rows"),
    "nan labels": (["dataset=file", "dataset.path={bad}/nan.csv", "dataset.target=y"], "1 missing labels"),
    "unknown keel": (["dataset=keel", "dataset.name=yeast55"], "did you mean yeast5"),
    "unknown dataset key": (["+dataset.rowz=100"], "dataset.rowz is not a parameter of "
                                                   "imbexp.datasets.Synthetic; did you mean dataset.rows?"),
    "no minority in test": (["dataset=file", "dataset.path={bad}/two_pos.csv", "dataset.target=y"],
                            "none of class 1"),
    "model logging not a switch": (["tracking.log_model=1"], "tracking.log_model=1 is not allowed; use auto"),
    "unknown metric": (["objective.metric=acuracy"], "objective.metric='acuracy' is not a known metric; "
                                                      "use one of precision, recall"),
    "unknown split key": (["+split.foldz=3"], "split.foldz is not a key of split holdout; its keys"),
    "unknown model key": (["+model.estimatr.n_estimators=5"], "model.estimatr is not a key of model; did you "
                                                               "mean model.estimator?"),
    "a value lightgbm checks when it fits": (["model.estimator.num_leaves=-5"],
                                             "model.estimator 'lightgbm.sklearn.LGBMClassifier' could not be fitted"),
    "a sweep's shared typo": (["sweep=downsample_upweight", "+objective.metrik=f1", "hydra.sweeper.n_trials=2",
                               "hydra.sweeper.study_name=shared-typo"],
                              "objective.metrik is not a key of objective; did you mean objective.metric?"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_sentence_and_a_nonzero_exit(run_cli, bad_files, case: str) -> None:
    args, message = BAD_INPUTS[case]
    args = [a.format(bad=bad_files) for a in args]
    done = run_cli(*args, "model.estimator.n_estimators=30", "tracking.experiment=bad")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert message.format(bad=bad_files) in error


ISSUE_4_BAD_INPUTS = {
    "prevalence above one": (["deployment.prevalence=1.5"], "deployment.prevalence=1.5 is not allowed"),
    "prevalence zero": (["deployment.prevalence=0"], "deployment.prevalence=0 is not allowed"),
    "negative cost": (["threshold.rule=min_cost", "threshold.cost_fp=-1"],
                      "threshold.cost_fp=-1 is not allowed; costs are numbers >= 0"),
    "min recall outside": (["threshold.rule=precision_at_recall", "threshold.min_recall=1.2"],
                           "threshold.min_recall=1.2 is not allowed; use a number in [0, 1]"),
    "unknown calibration": (["calibration=platt"], "calibration='platt' is not allowed; use one of none"),
    "too few minority rows to calibrate": (["dataset=keel", "dataset.name=abalone19", "calibration=isotonic"],
                                           "calibration=isotonic needs at least 30 minority rows in valid"),
}


@pytest.mark.parametrize("case", list(ISSUE_4_BAD_INPUTS))
def test_bad_analysis_options(run_cli, case: str) -> None:
    args, message = ISSUE_4_BAD_INPUTS[case]
    done = run_cli(*args, "model.estimator.n_estimators=30", "tracking.experiment=bad")
    assert done.returncode == 2, done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert message in error


def test_an_unset_environment_variable_is_one_sentence(run_cli) -> None:
    done = run_cli("sweep=downsample_upweight",
                   "hydra.sweeper.storage=postgresql+psycopg2://u:${oc.env:IMBEXP_TEST_UNSET_PW}@127.0.0.1:1/db")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert "hydra.sweeper.storage reads the environment variable IMBEXP_TEST_UNSET_PW, which is not set" in error


@pytest.mark.parametrize("command", [["dataset=breast_cancer"],
                                     ["sweep=downsample_upweight", "hydra.sweeper.n_trials=1"]])
def test_bad_model_threads_in_the_environment_are_one_sentence(run_cli, monkeypatch, command) -> None:
    monkeypatch.setenv("IMBEXP_THREADS", "two")
    done = run_cli(*command, "model.estimator.n_estimators=30", "tracking.experiment=bad-threads")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "HYDRA_FULL_ERROR" not in done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert "IMBEXP_THREADS='two' is not allowed; use a whole number >= 1" in error


def test_a_sweep_preset_chosen_in_a_config_file_needs_dash_m(run_cli, tmp_path) -> None:
    """sweep=NAME on the command line starts a sweep by itself; a preset chosen in a config file
    cannot (Hydra fixes the mode first), and a single run would ignore its search space."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.yaml").write_text("defaults:\n  - config\n  - override sweep: downsample_upweight\n"
                                                 "  - _self_\n")
    done = run_cli(f"--config-dir={tmp_path / 'conf'}", "-cn", "mine", "dataset.rows=2000")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "imbexp: error: the config selects the Optuna sweeper (a sweep preset), but this is a single run; " \
           "add -m" in done.stderr


def test_the_console_shows_what_calibration_and_deployment_did(run_cli, mlflow_client) -> None:
    done = run_cli("strategy=downsample", "strategy.downsample_factor=10", "calibration=sigmoid",
                   "deployment.prevalence=0.005", "dataset.rows=20000", "metrics.bootstrap=0",
                   "tracking.log_model=false", "tracking.plots=false", "tracking.experiment=console-lines")
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = done.stdout.split("MLflow run ")[1].split()[0]
    m = mlflow_client.get_run(run_id).data.metrics
    calibrated = next(line for line in done.stdout.splitlines() if line.strip().startswith("calibration=sigmoid"))
    assert f"test ECE {m['test_ece']:.4f} ({m['test_uncalibrated_ece']:.4f} before)" in calibrated
    deployed = next(line for line in done.stdout.splitlines() if line.strip().startswith("deployed at prevalence"))
    assert f"threshold {m['threshold_deploy']:.4f}" in deployed and f"pr_auc {m['test_deploy_pr_auc']:.4f}" in deployed
