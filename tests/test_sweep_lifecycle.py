"""How a sweep ends when it is stopped: real ``python -m imbexp`` sweeps, real signals, real pids.

Each test starts a sweep in its own process group, waits (polling the study, never a fixed
sleep) for the state it needs, signals the process the way a user, ``timeout`` or the kernel
would, and checks what is left: processes by pid, trials in the Optuna study, runs in MLflow.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false", "metrics.bootstrap=0"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_until(condition: Callable[[], object], timeout: float, what: str, output: Callable[[], str] = str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s\n{output()[-4000:]}")


class Sweep:
    """One ``python -m imbexp`` sweep command in its own process group, its output in a file."""

    def __init__(self, home: Path, study_name: str, *extra: str) -> None:
        self.home, self.study_name = home, study_name
        self.log = home / f"{study_name}-{uuid.uuid4().hex[:6]}.out"
        env = {**os.environ, "IMBEXP_HOME": str(home), "PYTHONUNBUFFERED": "1", "IMBEXP_THREADS": "1"}
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", f"hydra.sweeper.study_name={study_name}",
                 f"tracking.experiment={study_name}", *TINY, *extra],
                env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"worker \d+ started \(pid (\d+)", self.output())]

    def study(self) -> optuna.Study | None:
        try:
            return optuna.load_study(study_name=self.study_name,
                                     storage=f"sqlite:///{self.home.as_posix()}/runs/optuna.db")
        except KeyError:  # not created yet
            return None

    def trials(self, *states: TrialState) -> list[optuna.trial.FrozenTrial]:
        study = self.study()
        return study.get_trials(deepcopy=False, states=states or None) if study else []

    def running_in(self, pid: int) -> list[optuna.trial.FrozenTrial]:
        where = f"{socket.gethostname()}:{pid}"
        return [t for t in self.trials(TrialState.RUNNING) if t.user_attrs.get("imbexp.worker") == where]

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not end within {timeout:.0f} s\n{self.output()[-4000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def sweeps(imbexp_home: Path):
    started: list[Sweep] = []

    def start(study_name: str, *extra: str) -> Sweep:
        sweep = Sweep(imbexp_home, study_name, *extra)
        started.append(sweep)
        return sweep

    yield start
    for sweep in started:
        sweep.kill()
        for pid in sweep.worker_pids():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _children(client, parent_id: str):
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                              max_results=1000)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.mark.slow
def test_sigterm_to_a_leader_stops_its_worker_and_closes_the_parent_run(sweeps, mlflow_client) -> None:
    sweep = sweeps(_name("sigterm"), "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=1000")
    # the worker is in its loop once it has run a trial; stop while both run one
    worker = _wait_until(lambda: sweep.worker_pids(), 120, "the worker's start", sweep.output)[0]
    _wait_until(lambda: sweep.trials(TrialState.COMPLETE) and sweep.running_in(worker), 180,
                "a trial running in the worker", sweep.output)
    os.kill(sweep.process.pid, signal.SIGTERM)  # the leader alone, as timeout(1) or docker stop do
    assert sweep.wait(120) == 128 + signal.SIGTERM, sweep.output()[-3000:]
    _wait_until(lambda: not _alive(worker), 10, f"the end of worker pid {worker}", sweep.output)
    assert "stopped by SIGTERM" in sweep.output()
    assert "Traceback" not in sweep.output()
    assert not sweep.trials(TrialState.RUNNING)
    cut_short = [t.user_attrs["mlflow_run_id"] for t in sweep.trials(TrialState.FAIL)
                 if "mlflow_run_id" in t.user_attrs]
    assert cut_short, "the trials cut short are FAIL"
    assert {mlflow_client.get_run(run_id).info.status for run_id in cut_short} == {"KILLED"}
    parent_id = sweep.study().user_attrs["mlflow_parent_run_id"]
    assert mlflow_client.get_run(parent_id).info.status == "KILLED"
    assert "RUNNING" not in [c.info.status for c in _children(mlflow_client, parent_id)]


def _freeze_both_with_a_trial_in_the_worker(sweep: Sweep, worker: int) -> optuna.trial.FrozenTrial:
    """Pause the leader and its worker at a moment the worker holds a trial with its MLflow run,
    and return that trial as the study has it then (neither process can change it)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _wait_until(lambda: [t for t in sweep.running_in(worker) if "mlflow_run_id" in t.user_attrs], 180,
                    "a trial running in the worker with its MLflow run", sweep.output)
        os.kill(sweep.process.pid, signal.SIGSTOP)
        os.kill(worker, signal.SIGSTOP)
        held = [t for t in sweep.running_in(worker) if "mlflow_run_id" in t.user_attrs]
        if held:
            return held[0]
        os.kill(worker, signal.SIGCONT)  # it finished that trial meanwhile: try the next one
        os.kill(sweep.process.pid, signal.SIGCONT)
    pytest.fail(f"the worker held no trial when paused\n{sweep.output()[-3000:]}")


@pytest.mark.slow
def test_a_trial_whose_worker_died_during_the_stop_is_failed_by_the_leader(sweeps, mlflow_client) -> None:
    sweep = sweeps(_name("leftover"), "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=1000")
    worker = _wait_until(lambda: sweep.worker_pids(), 120, "the worker's start", sweep.output)[0]
    # the worker killed mid-trial while its leader is paused, then the stop: nothing is left to
    # fail that trial but the leader (its clean-up after the workers, or its loop if it gets there first)
    trial = _freeze_both_with_a_trial_in_the_worker(sweep, worker)
    leader = sweep.process.pid
    try:
        os.kill(worker, signal.SIGKILL)
        _wait_until(lambda: not _alive(worker), 10, f"the end of worker pid {worker}", sweep.output)
        os.kill(leader, signal.SIGTERM)
    finally:
        os.kill(leader, signal.SIGCONT)
    assert sweep.wait(120) == 128 + signal.SIGTERM, sweep.output()[-3000:]
    assert "Traceback" not in sweep.output()
    assert not sweep.trials(TrialState.RUNNING), sweep.output()[-3000:]
    failed = {t.number: t for t in sweep.trials(TrialState.FAIL)}
    assert trial.number in failed, sweep.output()[-3000:]
    assert (f"trial {trial.number} was left running by a stopped worker" in sweep.output()
            or f"trial {trial.number}'s process" in sweep.output()), sweep.output()[-3000:]
    assert mlflow_client.get_run(failed[trial.number].user_attrs["mlflow_run_id"]).info.status == "KILLED"


@pytest.mark.slow
def test_kill_9_of_a_leader_ends_its_worker_within_seconds(sweeps) -> None:
    sweep = sweeps(_name("kill9"), "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=1000")
    worker = _wait_until(lambda: sweep.worker_pids(), 120, "the worker's start", sweep.output)[0]
    _wait_until(lambda: sweep.running_in(worker), 180, "a trial running in the worker", sweep.output)
    os.kill(sweep.process.pid, signal.SIGKILL)  # the leader alone: nothing of it runs to pass a stop on
    killed = time.monotonic()
    _wait_until(lambda: not _alive(worker), 20, f"the end of worker pid {worker}", sweep.output)
    print(f"worker gone {time.monotonic() - killed:.1f} s after kill -9 of its leader")
    # the worker failed its own trial on the way out; only the dead leader's may stay RUNNING
    assert not sweep.running_in(worker)
    # the next imbexp command on the store closes what the dead leader held: its parent run too
    uri = f"sqlite:///{sweep.home.as_posix()}/runs/mlflow.db"
    closed = subprocess.run([sys.executable, "-m", "imbexp.runs", "close", "--tracking-uri", uri],
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0, closed.stderr
    parent = sweep.study().user_attrs["mlflow_parent_run_id"]
    assert MlflowClient(uri).get_run(parent).info.status == "KILLED", closed.stdout


def test_n_jobs_above_the_bound_is_one_sentence(run_cli) -> None:
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.n_jobs=1000", *TINY)
    assert result.returncode == 2
    cores = os.cpu_count() or 1
    assert (f"imbexp: error: hydra.sweeper.n_jobs=1000 is not allowed; use an integer from 1 to {4 * cores} "
            f"(4 x this host's {cores} core(s)) or -1 (one per core).") in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "worker" not in result.stdout


@pytest.mark.slow
def test_a_worker_that_cannot_be_started_stops_the_started_ones(sweeps, imbexp_home, mlflow_client) -> None:
    folder = imbexp_home / _name("unstartable")
    (folder / "worker-2.log").mkdir(parents=True)  # the second worker's log cannot be opened
    sweep = sweeps(folder.name, "hydra.sweeper.n_jobs=3", "hydra.sweeper.n_trials=50", f"hydra.sweep.dir={folder}")
    assert sweep.wait(180) == 1, sweep.output()[-3000:]
    output = sweep.output()
    assert "imbexp: error: worker 2 of hydra.sweeper.n_jobs=3 could not be started (IsADirectoryError" in output
    assert "Traceback" not in output
    [first] = sweep.worker_pids()
    _wait_until(lambda: not _alive(first), 10, f"the end of worker pid {first}", sweep.output)
    study = sweep.study()
    assert not sweep.trials(TrialState.RUNNING)
    assert mlflow_client.get_run(study.user_attrs["mlflow_parent_run_id"]).info.status == "FAILED"


@pytest.mark.slow
def test_without_heartbeats_a_resume_fails_and_retries_a_trial_whose_process_died(sweeps, mlflow_client) -> None:
    name = _name("no-heartbeat")
    args = ("hydra.sweeper.heartbeat_interval=null", "hydra.sweeper.n_trials=4")
    first = sweeps(name, *args)
    pid = first.process.pid

    def held() -> list[optuna.trial.FrozenTrial]:
        return [t for t in first.running_in(pid) if "mlflow_run_id" in t.user_attrs]

    # kill -9 while it holds a trial with its MLflow run: paused first, so the trial seen is the
    # one it dies with (between a trial's ask and its run's creation there is no run to close)
    deadline = time.monotonic() + 180
    dead = None
    while dead is None and time.monotonic() < deadline:
        _wait_until(lambda: first.trials(TrialState.COMPLETE) and held(), 180,
                    "a running trial with its MLflow run after a complete one", first.output)
        os.kill(pid, signal.SIGSTOP)
        dead = next(iter(held()), None)
        if dead is None:
            os.kill(pid, signal.SIGCONT)
    assert dead is not None, first.output()[-3000:]
    first.kill()  # nothing fails the trial it was running

    resumed = sweeps(name, *args)
    assert resumed.wait(240) == 0, resumed.output()[-3000:]
    assert "is gone: failed, and queued again" in resumed.output()
    assert len(resumed.trials(TrialState.COMPLETE)) == 4
    assert not resumed.trials(TrialState.RUNNING)
    study = resumed.study()
    assert study.trials[dead.number].state == TrialState.FAIL
    assert mlflow_client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == dead.number]
    assert retried and retried[0].params == dead.params


@pytest.mark.slow
def test_three_commands_started_at_once_under_load_elect_one_parent_run(sweeps, imbexp_home, mlflow_client) -> None:
    name = _name("election")
    mlflow_client.create_experiment(name)  # a new study; the experiment's own creation is not under test
    optuna.storages.RDBStorage(f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db")  # the tables exist
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        commands = [sweeps(name, "hydra.sweeper.n_trials=6") for _ in range(3)]
        codes = [c.wait(300) for c in commands]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert codes == [0, 0, 0], "\n".join(c.output()[-2000:] for c in commands)
    study = commands[0].study()
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    ran = [t for t in study.trials if t.state.is_finished()]  # not a trial enqueued that no command ran
    assert {t.user_attrs.get("imbexp.parent_run_id") for t in ran} == {parent_id}, \
        [(t.number, t.state.name, sorted(t.user_attrs)) for t in study.trials]
    experiment = mlflow_client.get_experiment_by_name(name).experiment_id
    parents = mlflow_client.search_runs([experiment], filter_string="tags.`imbexp.sweep` = 'optuna'",
                                        max_results=100)
    assert [r.info.run_id for r in parents if "mlflow.parentRunId" not in r.data.tags] == [parent_id]
    assert mlflow_client.get_run(parent_id).info.status == "FINISHED"
    # a configuration drawn again is answered from the store, with no MLflow run of its own
    ran = [t for t in ran if "imbexp.duplicate_of" not in t.user_attrs]
    assert len(_children(mlflow_client, parent_id)) == len(ran), \
        [(t.number, t.state.name, sorted(t.user_attrs)) for t in study.trials]


@pytest.mark.slow
def test_a_sigterm_swallowed_by_a_finalizer_still_stops_the_sweep(sweeps, mlflow_client, monkeypatch) -> None:
    # Python ignores what a finalizer raises, the stop handler's exception included (a finalizer of
    # SQLAlchemy's or MLflow's running at the moment the signal lands): the sweep ran on to its end.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                   os.environ.get("PYTHONPATH")])))
    sweep = sweeps(_name("finalizer"), "hydra.sweeper.n_trials=6",
                   "hydra.sweeper.custom_search_space=custom_models.stop_in_a_finalizer_at_trial_1")
    assert sweep.wait(240) == 128 + signal.SIGTERM, sweep.output()[-3000:]
    output = sweep.output()
    assert "Exception ignored in" in output and "stopped by SIGTERM" in output
    # trial 1 got the stop in its set-up, unseen there; it finished, and no trial came after it
    assert sorted(t.number for t in sweep.trials(TrialState.COMPLETE)) == [0, 1], output[-3000:]
    assert not sweep.trials(TrialState.RUNNING)
    parent_id = sweep.study().user_attrs["mlflow_parent_run_id"]
    assert mlflow_client.get_run(parent_id).info.status == "KILLED"
    assert "RUNNING" not in [c.info.status for c in _children(mlflow_client, parent_id)]
