"""What a run ends as when it is stopped: real signals to a real ``python -m imbexp`` process,
a real SQLite MLflow store, and the next command (or ``python -m imbexp.runs``) closing what
a kill -9 left RUNNING (docs/reliability.md, "Lifecycle")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from imbexp import names

TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false", "metrics.bootstrap=0"]
#: a run that fits for a minute or more unless stopped: time to see it RUNNING, then signal it
LONG = ["dataset.rows=20000", "model.estimator.n_estimators=20000", "tracking.log_model=false", "metrics.bootstrap=0"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "IMBEXP_HOME": str(home), "PYTHONUNBUFFERED": "1", "IMBEXP_THREADS": "1"}


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches a command started from a terminal. Started in the background (nohup, a job
    of a non-interactive shell) the tests would pass on SIGINT ignored, and imbexp rightly keeps
    an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(home: Path, experiment: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "imbexp", *LONG, f"tracking.experiment={experiment}"],
                            cwd=home, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)


def _running_run(client, experiment: str, process: subprocess.Popen, timeout: float = 180):
    """The run ``process`` opened, once it is RUNNING (polled: under load startup takes long)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before it could be stopped: {process.communicate()}"
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            runs = client.search_runs([found.experiment_id], f"tags.`{names.PID_TAG}` = '{process.pid}'")
            if runs and runs[0].info.status == "RUNNING":
                return runs[0]
        time.sleep(0.3)
    process.kill()
    pytest.fail(f"no RUNNING run of pid {process.pid} within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_single_run_killed_in_one_line(imbexp_home, mlflow_client, signum, code):
    experiment = f"stop-{signal.Signals(signum).name}"
    process = _start(imbexp_home, experiment)
    run = _running_run(mlflow_client, experiment, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == code, stderr
    assert "Traceback" not in stderr + stdout
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines()[-1] == f"imbexp: stopped by {name}; run {run.info.run_id} marked KILLED"
    after = mlflow_client.get_run(run.info.run_id)
    assert after.info.status == "KILLED"
    assert after.data.tags[names.STOP_REASON_TAG] == name
    assert after.data.tags[names.HOST_TAG] == socket.gethostname()


@pytest.mark.slow
def test_the_next_command_closes_a_run_left_by_kill_9(imbexp_home, mlflow_client, run_cli):
    experiment = "stop-kill9"
    process = _start(imbexp_home, experiment)
    run = _running_run(mlflow_client, experiment, process)
    process.kill()
    process.wait(timeout=60)
    assert mlflow_client.get_run(run.info.run_id).info.status == "RUNNING"  # nothing ran in the process

    result = run_cli(*TINY, f"tracking.experiment={experiment}")

    assert result.returncode == 0, result.stderr
    closed = [line for line in (result.stdout + result.stderr).splitlines() if "marked 1 run(s) KILLED" in line]
    assert len(closed) == 1 and run.info.run_id in closed[0] and f"pid {process.pid}" in closed[0]
    after = mlflow_client.get_run(run.info.run_id)
    assert after.info.status == "KILLED"
    assert "was gone" in after.data.tags[names.STOP_REASON_TAG]
    # the command's own run finished, and was not mistaken for a dead one
    own = mlflow_client.search_runs([after.info.experiment_id], "attributes.status = 'FINISHED'")
    assert len(own) == 1 and own[0].data.tags[names.PID_TAG] != str(process.pid)


@pytest.mark.slow
def test_runs_command_lists_and_closes_a_killed_run(imbexp_home, mlflow_client):
    experiment = "stop-runs-command"
    process = _start(imbexp_home, experiment)
    run = _running_run(mlflow_client, experiment, process)
    process.kill()
    process.wait(timeout=60)
    command = [sys.executable, "-m", "imbexp.runs", "--experiment", experiment]

    listed = subprocess.run(command, cwd=imbexp_home, env=_env(imbexp_home), capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(run.info.run_id))
    assert row.split()[1:4] == [socket.gethostname(), str(process.pid), "gone"]
    assert mlflow_client.get_run(run.info.run_id).info.status == "RUNNING"  # listing changes nothing

    closed = subprocess.run([*command[:3], "close", *command[3:]], cwd=imbexp_home, env=_env(imbexp_home),
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0, closed.stderr
    assert run.info.run_id in closed.stdout and "KILLED" in closed.stdout
    assert mlflow_client.get_run(run.info.run_id).info.status == "KILLED"


def test_runs_command_tells_live_reused_and_other_hosts_apart(imbexp_home, mlflow_client):
    """Runs made with the tags a run records, for processes that really exist: a live process
    (left alone), its pid with another start time (a reused pid: closed), another host's run
    (left alone, unless older than --older-than)."""
    experiment_id = mlflow_client.create_experiment("stop-states")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        started = psutil.Process(sleeper.pid).create_time()
        here = {names.HOST_TAG: socket.gethostname(), names.PID_TAG: str(sleeper.pid)}
        hours_ago = int((time.time() - 3 * 3600) * 1000)
        alive = mlflow_client.create_run(experiment_id, tags={**here, names.PROCESS_START_TAG: f"{started:.2f}"})
        reused = mlflow_client.create_run(experiment_id, tags={**here, names.PROCESS_START_TAG: f"{started - 50:.2f}"})
        elsewhere = mlflow_client.create_run(experiment_id, start_time=hours_ago, tags={
            names.HOST_TAG: "another-machine", names.PID_TAG: "1", names.PROCESS_START_TAG: "1.0"})
        command = [sys.executable, "-m", "imbexp.runs", "close", "--experiment", "stop-states"]

        first = subprocess.run(command, cwd=imbexp_home, env=_env(imbexp_home), capture_output=True, text=True,
                               timeout=120)
        assert first.returncode == 0, first.stderr
        status = {run.info.run_id: mlflow_client.get_run(run.info.run_id).info.status
                  for run in (alive, reused, elsewhere)}
        assert status == {alive.info.run_id: "RUNNING", reused.info.run_id: "KILLED",
                          elsewhere.info.run_id: "RUNNING"}

        older = subprocess.run([*command, "--older-than", "2"], cwd=imbexp_home, env=_env(imbexp_home),
                               capture_output=True, text=True, timeout=120)
        assert older.returncode == 0, older.stderr
        assert mlflow_client.get_run(elsewhere.info.run_id).info.status == "KILLED"
        assert mlflow_client.get_run(alive.info.run_id).info.status == "RUNNING"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_runs_command_refuses_an_unknown_experiment(imbexp_home, mlflow_client):
    result = subprocess.run([sys.executable, "-m", "imbexp.runs", "--experiment", "no-such-thing"],
                            cwd=imbexp_home, env=_env(imbexp_home), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("imbexp: error: --experiment=no-such-thing is not an experiment")
    assert "Traceback" not in result.stderr


def test_runs_command_on_a_store_not_made_yet_makes_none(tmp_path):
    db = tmp_path / "new" / "mlflow.db"
    result = subprocess.run([sys.executable, "-m", "imbexp.runs", "--tracking-uri", f"sqlite:///{db}"],
                            cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no RUNNING runs" in result.stdout and "no store there yet" in result.stdout
    assert not db.exists()


def test_runs_command_on_new_stores_started_together_all_succeed(tmp_path):
    """Several commands on one brand-new store take the first-use lock: none crashes in
    another's CREATE TABLE."""
    db = tmp_path / "mlflow.db"
    db.touch()  # an empty file, as a store another command is just making
    uri = f"sqlite:///{db}"
    commands = [subprocess.Popen([sys.executable, "-m", "imbexp.runs", "--tracking-uri", uri], cwd=tmp_path,
                                 env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    for command in commands:
        out, err = command.communicate(timeout=300)
        assert command.returncode == 0, err
        assert "no RUNNING runs" in out


@pytest.mark.slow
def test_a_grid_with_a_failed_job_closes_its_parent_failed_with_the_rest(imbexp_home, mlflow_client, run_cli):
    experiment = "grid-failure"
    result = run_cli("-m", "strategy=downsample", "strategy.downsample_factor=2,1000000", *TINY,
                     f"tracking.experiment={experiment}")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("imbexp: error: 1 of 2 grid jobs failed (first: strategy.downsample_factor=1000000:")
    experiment_id = mlflow_client.get_experiment_by_name(experiment).experiment_id
    parents = mlflow_client.search_runs([experiment_id], f"tags.`{names.SWEEP_TAG}` = 'grid'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FAILED" and parent.info.run_id in last
    assert parent.data.metrics["runs"] == 2 and parent.data.metrics["runs_failed"] == 1
    children = mlflow_client.search_runs([experiment_id], f"tags.`{names.PARENT_RUN_TAG}` = '{parent.info.run_id}'")
    finished = [run for run in children if run.info.status == "FINISHED"]
    assert len(finished) == 1 and finished[0].data.params["strategy.downsample_factor"] == "2"
    artifacts = {item.path for item in mlflow_client.list_artifacts(parent.info.run_id)}
    assert "failed_jobs.txt" in artifacts
    failed = mlflow_client.download_artifacts(parent.info.run_id, "failed_jobs.txt")
    assert "strategy.downsample_factor=1000000" in Path(failed).read_text()
    report = [item.path for item in mlflow_client.list_artifacts(parent.info.run_id, "report")]
    assert len(report) == 1 and report[0].endswith(".html")


@pytest.mark.slow
def test_sigterm_to_a_grid_ends_its_job_and_its_parent_killed(imbexp_home, mlflow_client):
    experiment = "grid-sigterm"
    process = subprocess.Popen([sys.executable, "-m", "imbexp", "-m", "strategy=none,downsample", *LONG,
                                f"tracking.experiment={experiment}"], cwd=imbexp_home, env=_env(imbexp_home),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, job = time.monotonic() + 180, None
    while job is None and time.monotonic() < deadline:  # the first job's run, nested under the parent
        assert process.poll() is None, process.communicate()
        found = mlflow_client.get_experiment_by_name(experiment)
        runs = mlflow_client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'") if found else []
        job = next((run for run in runs if names.PARENT_RUN_TAG in run.data.tags), None)
        time.sleep(0.3)
    assert job is not None, "the grid's first job did not start"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr
    assert "Traceback" not in stdout + stderr
    parent_id = job.data.tags[names.PARENT_RUN_TAG]
    assert stderr.strip().splitlines()[-1] == (f"imbexp: stopped by SIGTERM; run {job.info.run_id} marked KILLED; "
                                               f"grid parent run {parent_id} marked KILLED")
    assert mlflow_client.get_run(job.info.run_id).info.status == "KILLED"
    assert mlflow_client.get_run(parent_id).info.status == "KILLED"
    # the second job never started
    children = mlflow_client.search_runs([job.info.experiment_id], f"tags.`{names.PARENT_RUN_TAG}` = '{parent_id}'")
    assert len(children) == 1


def _with_test_modules(env: dict[str, str]) -> dict[str, str]:
    """The environment with this folder importable (``custom_models``) in the command."""
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                               env.get("PYTHONPATH")]))}


@pytest.mark.slow
def test_a_sigterm_swallowed_by_a_finalizer_still_stops_a_grid(imbexp_home, mlflow_client):
    # Python ignores what a finalizer raises, the signal handler's Stopped included: the grid ran
    # every job, exited 0, and a second SIGTERM was ignored. The stop is kept and acted on.
    experiment = "grid-finalizer-sigterm"
    result = subprocess.run(
        [sys.executable, "-m", "imbexp", "-m", "strategy=none,downsample", "dataset=breast_cancer",
         "model=logistic_regression", "model.estimator.estimator._target_=custom_models.StopInFinalizerLogistic",
         "tracking.plots=false", "tracking.log_model=false", "metrics.bootstrap=0",
         f"tracking.experiment={experiment}"],
        cwd=imbexp_home, env=_with_test_modules(_env(imbexp_home)), capture_output=True, text=True, timeout=300)

    assert result.returncode == 143, result.stderr[-3000:]
    assert "Exception ignored in" in result.stderr  # Python's own line: the stop was swallowed there
    found = mlflow_client.get_experiment_by_name(experiment)
    runs = mlflow_client.search_runs([found.experiment_id])
    [parent] = [run for run in runs if names.PARENT_RUN_TAG not in run.data.tags]
    children = [run for run in runs if names.PARENT_RUN_TAG in run.data.tags]
    assert len(children) == 1, "the second job must not start"
    assert children[0].info.status == "FINISHED"  # the stop came inside its fit and was not seen there
    assert parent.info.status == "KILLED"
    assert result.stderr.strip().splitlines()[-1] == (
        f"imbexp: stopped by SIGTERM; run {children[0].info.run_id} had ended FINISHED; "
        f"grid parent run {parent.info.run_id} marked KILLED")


#: SIGTERM at random moments of an MLflow logging loop on SQLite, through the single run's stop
#: handler; after each stop, whether another connection can write at once
_STOPS_WHILE_LOGGING = """
import os, random, signal, sqlite3, sys, threading
from mlflow.tracking import MlflowClient
from imbexp import lifecycle

path, n = sys.argv[1], int(sys.argv[2])
client = MlflowClient(f"sqlite:///{path}")
experiment = client.create_experiment("stops")
random.seed(0)
for stop in range(n):
    run = client.create_run(experiment).info.run_id
    signal.signal(signal.SIGTERM, lifecycle._raise_stopped)  # the handler sets SIG_IGN once it stops
    try:  # the signal can come before the timer's start() returns
        threading.Timer(random.uniform(0.0, 0.05), os.kill, (os.getpid(), signal.SIGTERM)).start()
        while True:
            client.log_metric(run, "m", 1.0)
            client.set_tag(run, "t", "x")
    except lifecycle.Stopped:
        pass
    probe = sqlite3.connect(path, timeout=0.5)
    try:
        probe.execute("INSERT INTO tags (key, value, run_uuid) VALUES ('probe', 'p', ?)", (run,))
        probe.commit()
    except sqlite3.OperationalError as exc:
        sys.exit(f"after stop {stop + 1}: {exc}")
    finally:
        probe.close()
print(f"{n} stops")
"""


def test_a_stop_inside_a_database_call_leaves_no_lock_behind(tmp_path):
    # The stop was raised inside SQLAlchemy between a write and its commit: the process kept
    # SQLite's write lock, its own KILLED waited 20 s and failed, and the run stayed RUNNING
    # (within 2 to 6 stops of this loop). The stop now waits for the database call to return.
    result = subprocess.run([sys.executable, "-c", _STOPS_WHILE_LOGGING, str(tmp_path / "m.db"), "100"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "100 stops"
