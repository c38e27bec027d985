"""The Optuna sweeper as a user runs it: real ``python -m imbexp`` sweeps in subprocesses."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = ["dataset.rows=3000", "model.estimator.n_estimators=20"]


def _study(home: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home.as_posix()}/runs/optuna.db")


def _children(client, parent_id: str):
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                              max_results=1000)


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.smoke
def test_a_sweep_logs_one_parent_and_a_child_per_trial_and_resumes(run_cli, imbexp_home, mlflow_client) -> None:
    name = "resume-test"
    args = ["sweep=downsample_upweight", f"hydra.sweeper.study_name={name}", "tracking.experiment=sweep-resume",
            "hydra.sweeper.sampler.seed=3", *SMALL]
    _ok(run_cli(*args, "hydra.sweeper.n_trials=8"))
    study = _study(imbexp_home, name)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 8

    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = mlflow_client.get_run(parent_id)
    children = _children(mlflow_client, parent_id)
    assert len(children) == 8 and {c.info.status for c in children} == {"FINISHED"}
    by_run = {c.info.run_id: c for c in children}
    for trial in complete:
        child = by_run[trial.user_attrs["mlflow_run_id"]]
        assert child.data.tags["optuna.trial_number"] == str(trial.number)
        assert child.data.tags["optuna.study_name"] == name
        for key, value in trial.params.items():
            assert float(child.data.params[key]) == pytest.approx(value)
        assert child.data.metrics["valid_pr_auc"] == pytest.approx(trial.value)
    # a trial logs its config and test predictions; no model and no plots by default (they cost
    # seconds per trial; the report draws its figures from the predictions)
    assert {a.path for a in mlflow_client.list_artifacts(children[0].info.run_id)} == {"config.yaml", "predictions"}
    assert not [m for m in mlflow_client.search_logged_models([parent.info.experiment_id])
                if m.source_run_id in by_run]
    assert parent.data.metrics["best_valid_pr_auc"] == pytest.approx(
        max(c.data.metrics["valid_pr_auc"] for c in children))
    assert parent.info.status == "FINISHED"
    artifacts = {a.path for a in mlflow_client.list_artifacts(parent_id)}
    assert {"trials.csv", "trials.parquet", "best.json", "plots"} <= artifacts
    plots = {a.path.removeprefix("plots/") for a in mlflow_client.list_artifacts(parent_id, "plots")}
    assert {"optimization_history.png", "param_importances.png",
            "factor_strategy.downsample_factor.png", "factor_strategy.upweight_factor.png"} <= plots

    # the same command with a larger n_trials continues the study, under the same parent
    result = run_cli(*args, "hydra.sweeper.n_trials=12")
    _ok(result)
    assert "8 of 12 trials complete" in result.stdout and "MLflow run" in result.stdout
    study = _study(imbexp_home, name)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 12
    assert len(_children(mlflow_client, parent_id)) == 12
    table = pd.read_csv(mlflow_client.download_artifacts(parent_id, "trials.csv"))
    assert len(table) == 12 and table["valid_ece"].notna().all()


def test_parallel_workers_share_a_conditional_study_and_stop_at_n_trials(run_cli, imbexp_home,
                                                                        mlflow_client) -> None:
    name = "strategies-parallel"
    result = run_cli("-m", "sweep=strategies", f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=5",
                     "hydra.sweeper.n_jobs=2", "hydra.sweeper.sampler.seed=1", "tracking.experiment=sweep-parallel",
                     *SMALL)
    _ok(result)
    assert "worker 1 started" in result.stdout and "x 1 model thread(s)" in result.stdout
    study = _study(imbexp_home, name)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 5
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    for trial in study.trials:
        strategy = trial.params["strategy"]
        own = {k for k in trial.params if k != "strategy"}
        assert own == {"none": set(), "downsample_upweight": {"strategy.downsample_factor", "strategy.upweight_factor"},
                       "downsample": {"strategy.downsample_factor", "strategy.prior_correction"},
                       "class_weight": {"strategy.minority_weight"}, "oversample": {"strategy.sampling_strategy"},
                       "smote": {"strategy.sampling_strategy", "strategy.k_neighbors"}}[strategy]
    children = _children(mlflow_client, study.user_attrs["mlflow_parent_run_id"])
    # a configuration drawn again (strategy=none has no parameters of its own) is answered from
    # the study without a run of its own
    assert len(children) == len([t for t in study.trials if "imbexp.duplicate_of" not in t.user_attrs])
    assert "RUNNING" not in {c.info.status for c in children}


def test_failing_trials_are_fail_and_failed_and_the_sweep_completes(run_cli, imbexp_home, mlflow_client) -> None:
    name = "failing"
    # downsample_factor < 1 is refused by the strategy: those trials fail, the others complete
    result = run_cli("sweep=downsample_upweight", f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=3",
                     "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=1",
                     "hydra.sweeper.max_failure_rate=1.0", "strategy.downsample_factor=choice(0.5, 2.0)",
                     "tracking.experiment=sweep-failing", *SMALL)
    _ok(result)
    study = _study(imbexp_home, name)
    failed = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 3
    assert failed and all(t.params["strategy.downsample_factor"] == 0.5 for t in failed)
    assert all("downsample_factor=0.5 is not allowed" in t.user_attrs["fail_reason"] for t in failed)
    for trial in failed:
        assert mlflow_client.get_run(trial.user_attrs["mlflow_run_id"]).info.status == "FAILED"
    assert "FAIL" in result.stdout


def test_a_grid_runs_each_point_once_and_a_failing_point_is_not_retried(run_cli, imbexp_home) -> None:
    name = "grid-failing"
    _ok(run_cli("sweep=downsample_upweight", f"hydra.sweeper.study_name={name}", "hydra/sweeper/sampler=grid",
                "hydra.sweeper.max_failure_rate=1.0", "strategy.downsample_factor=choice(0.5, 2.0, 4.0)",
                "strategy.upweight_factor=choice(1.0)", "tracking.experiment=sweep-grid", *SMALL))
    trials = _study(imbexp_home, name).trials
    assert sorted((t.params["strategy.downsample_factor"], t.state.name) for t in trials) == [
        (0.5, "FAIL"), (2.0, "COMPLETE"), (4.0, "COMPLETE")]


def test_too_many_failures_stop_the_sweep_with_one_sentence(run_cli) -> None:
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.study_name=all-fail", "hydra.sweeper.n_trials=4",
                     "hydra.sweeper.max_failure_rate=0.25", "strategy.downsample_factor=choice(0.5, 0.7)",
                     "tracking.experiment=sweep-all-fail", *SMALL)
    assert result.returncode == 1  # the sweep failed; the config was fine
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert "2 trials failed, more than hydra.sweeper.max_failure_rate=0.25 x n_trials=4" in error


def test_pareto_stores_a_multi_objective_study_and_logs_its_front(run_cli, imbexp_home, mlflow_client) -> None:
    name = "pareto-test"
    _ok(run_cli("-m", "sweep=pareto", f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=4",
                "tracking.experiment=sweep-pareto", *SMALL))
    study = _study(imbexp_home, name)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = mlflow_client.get_run(parent_id)
    # a configuration answered from the store is on the front beside its original: listed once
    best = [t for t in study.best_trials if "imbexp.duplicate_of" not in t.user_attrs]
    assert parent.data.metrics["pareto_front_size"] == len(best)
    front = pd.read_csv(mlflow_client.download_artifacts(parent_id, "pareto_front.csv"))
    assert sorted(front["trial"]) == sorted(t.number for t in best)
    assert {"valid_pr_auc", "valid_ece"} <= set(front.columns)
    plots = {a.path for a in mlflow_client.list_artifacts(parent_id, "plots")}
    assert "plots/pareto_front.png" in plots


@pytest.mark.parametrize(("args", "words"), [
    (["strategy.downsample_facter=interval(1, 10)"], "key 'strategy.downsample_facter' is not in the config"),
    (['+hydra.sweeper.params.model.estimator.learning_rate="interval(0.1,"'], "cannot be parsed"),
    (["strategy.downsample_factor=interval(10, 1)"], "low 10.0 > high 1.0"),
    (["strategy.downsample_factor=tag(log, interval(0, 10))"], "a log scale needs low > 0"),
    (["hydra.sweeper.direction=[maximize,minimize]"], "has 2 entries but objective.metric names 1"),
    (["hydra.sweeper.storage=postgresql+psycopg2://alice:s3cret@127.0.0.1:1/optuna"],
     "storage='postgresql+psycopg2://alice:***@127.0.0.1:1/optuna' cannot be opened"),
    (["hydra/sweeper/sampler=grid"], "is continuous; sampler=grid needs choice"),
    (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials=0 is not allowed; use an integer >= 1"),
])
def test_bad_input_is_one_clear_sentence(run_cli, args, words) -> None:
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.study_name=bad-input", *args, *SMALL)
    assert result.returncode == 2, result.stderr  # as a single run's bad input
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert words in error
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr + result.stdout
    assert "HYDRA_FULL_ERROR" not in result.stderr  # no stack trace to ask for: the sentence is all


def test_a_study_name_reused_with_another_range_names_the_parameter(run_cli, imbexp_home) -> None:
    storage = f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db"
    (imbexp_home / "runs").mkdir(exist_ok=True)
    study = optuna.create_study(study_name="conflict", storage=storage, direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"strategy.downsample_factor": 5.0}, value=0.5,
        distributions={"strategy.downsample_factor": optuna.distributions.FloatDistribution(1, 10)}))
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.study_name=conflict", *SMALL)
    assert result.returncode == 2
    assert "hydra.sweeper.params.strategy.downsample_factor='tag(log, interval(1, 100))' conflicts with study " \
           "'conflict'" in result.stderr


def test_ctrl_c_while_a_trial_is_being_created_is_raised_once_it_is_recorded() -> None:
    # study.ask() writes the RUNNING trial before it returns: a Ctrl-C in between used to leave
    # it RUNNING, unknown to the clean-up; the sweep now holds the interrupt until it is recorded
    from imbexp.sweeping._impl import _interrupt_after

    before = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with _interrupt_after():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # Python runs signal handlers between bytecodes: here, not later
            steps.append("recorded")
    assert steps == ["recorded"]
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(imbexp_home, mlflow_client) -> None:
    name = "interrupted"
    env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "PYTHONUNBUFFERED": "1"}
    # n_trials far beyond what runs before the interrupt: these trials take a fraction of a
    # second, and 50 of them could all finish before the test saw two complete and pressed Ctrl-C
    process = subprocess.Popen(
        [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", f"hydra.sweeper.study_name={name}",
         "hydra.sweeper.n_trials=1000", "hydra.sweeper.n_jobs=2", "tracking.experiment=sweep-interrupted", *SMALL],
        env=env, cwd=imbexp_home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    # read the output as a terminal would: a full pipe would stall the sweep at its next print
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    storage = optuna.storages.RDBStorage(f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                study = optuna.load_study(study_name=name, storage=storage)
            except KeyError:  # not created yet
                continue
            if len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) >= 2:
                break
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            pytest.fail("the sweep did not stop within 180 s of Ctrl-C:\n" + "".join(lines)[-3000:])
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = "".join(lines)
    assert process.returncode == 130, output[-3000:]
    assert "interrupted" in output
    study = _study(imbexp_home, name)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) >= 2
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    statuses = [c.info.status for c in _children(mlflow_client, parent_id)]
    assert "RUNNING" not in statuses and statuses.count("FINISHED") >= 2
    assert mlflow_client.get_run(parent_id).info.status == "KILLED"


@pytest.mark.smoke
def test_hydra_grid_sweeps_keep_their_own_parent_run(run_cli, mlflow_client) -> None:
    _ok(run_cli("-m", "strategy=none,downsample_upweight", "tracking.experiment=grid-still-works", *SMALL))
    experiment = mlflow_client.get_experiment_by_name("grid-still-works")
    runs = mlflow_client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("imbexp.sweep") == "grid"]
    assert len(parents) == 1
    assert len([r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]) == 2


def _running_trial(study: optuna.Study, session: str, worker: str) -> optuna.Trial:
    trial = study.ask()
    trial.set_user_attr("imbexp.sweep_session", session)
    trial.set_user_attr("imbexp.worker", worker)
    return trial


def test_other_sweep_processes_on_this_host_are_found_by_their_running_trials(tmp_path) -> None:
    from imbexp.names import TRIAL_SESSION_ATTR, TRIAL_WORKER_ATTR
    from imbexp.sweeping import _study

    study = optuna.create_study(storage=f"sqlite:///{tmp_path.as_posix()}/optuna.db", study_name="hosts")
    host = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        _running_trial(study, "mine", f"{host}:{os.getpid()}")  # this command's own trial
        _running_trial(study, "other", f"{host}:{alive.pid}")  # another command here: counts
        _running_trial(study, "other", f"{host}:{dead.pid}")  # its process is gone
        _running_trial(study, "third", f"{host}-elsewhere:{alive.pid}")  # another machine
        finished = _running_trial(study, "other", f"{host}:{alive.pid}")
        study.tell(finished, 0.5)
        found = _study.neighbours_on_host(study.get_trials(), "mine", host, TRIAL_WORKER_ATTR, TRIAL_SESSION_ATTR)
        assert found == {alive.pid}
    finally:
        alive.kill()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core has nothing to split")
def test_a_sweep_splits_the_cores_with_another_command_on_this_host(imbexp_home) -> None:
    # another sweep command of the same study, on this host, is running a trial: this command's
    # trials take half the cores for their model while it does
    name = "shared-host"
    storage = f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db"
    (imbexp_home / "runs").mkdir(exist_ok=True)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    neighbour = _running_trial(study, "another-command", f"{socket.gethostname()}:{other.pid}")
    env = {**os.environ, "IMBEXP_HOME": str(imbexp_home), "PYTHONUNBUFFERED": "1"}
    env.pop("IMBEXP_THREADS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", f"hydra.sweeper.study_name={name}",
         "hydra.sweeper.n_trials=2", "tracking.experiment=sweep-shared-host", *SMALL],
        env=env, cwd=imbexp_home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        # the sweep waits for the neighbour's trial before its last one; end it once ours ran
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
                break
            time.sleep(0.5)
        study.tell(neighbour, state=optuna.trial.TrialState.FAIL)
        process.wait(timeout=240)
        reader.join(timeout=10)
    finally:
        other.kill()
        if process.poll() is None:
            process.kill()
    output = "".join(lines)
    assert process.returncode == 0, output[-3000:]
    # the sweep started with the cores idle then (imbexp.threads); with the neighbour it takes half
    # of every core; on a machine busy at the start (one idle core) that changes nothing, and nothing is said
    started = re.search(r"1 parallel trial\(s\) x (\d+) model thread\(s\)", output)
    assert started, output[-3000:]
    idle = int(started.group(1))
    threads = max(1, (os.cpu_count() or 1) // 2)
    said = f"1 other sweep process(es) running trials on {socket.gethostname()}: {threads} model thread(s)"
    if threads != idle:
        assert said in output, output[-3000:]
    else:
        assert "other sweep process(es) running trials" not in output, output[-3000:]
