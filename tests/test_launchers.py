"""The sweeper through Hydra's other launchers, as docs/running-at-scale.md names them: joblib on
this machine, submitit's local executor, and hydra-ray-launcher on a real two-node Ray cluster
that the test starts on loopback. Each runs a real ``python -m imbexp`` sweep and checks what it
left in the study and in MLflow, and that the jobs really ran where the launcher puts them
(another process, a submitit job, a Ray node).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import psutil
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false"]
#: Ray rewrites 127.0.0.1 (and localhost) to the host's outward address, for nodes and for
#: --address alike; other loopback addresses it takes as given, so the cluster stays on loopback
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"


def _sweep(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m imbexp sweep=downsample_upweight ARGS`` on tiny data, as a user runs it."""
    env = {**os.environ, "IMBEXP_HOME": str(home), "IMBEXP_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "RAY_USAGE_STATS_ENABLED": "0"}
    result = subprocess.run([sys.executable, "-m", "imbexp", "sweep=downsample_upweight", *TINY, *args],
                            cwd=home, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _trials_and_runs(home: Path, study_name: str, n_trials: int, mlflow_client) -> list[tuple]:
    """The study's trials with their MLflow child runs, checked as every sweep must leave them."""
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{home.as_posix()}/runs/optuna.db")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == n_trials
    # the only others allowed: trials asked past the total by racing processes, put back WAITING
    assert {t.state for t in study.get_trials()} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.WAITING}
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    assert mlflow_client.get_run(parent_id).info.status == "FINISHED"
    pairs = []
    for trial in trials:
        run = mlflow_client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.data.metrics["valid_pr_auc"] == pytest.approx(trial.value)
        for key, value in trial.params.items():
            assert float(run.data.params[key]) == pytest.approx(value)
        pairs.append((trial, run))
    return pairs


def _sweep_pid(trial: optuna.trial.FrozenTrial) -> int:
    """The sweep process that asked for the trial (its ``imbexp.worker``, host:pid)."""
    return int(trial.user_attrs["imbexp.worker"].rsplit(":", 1)[1])


def test_a_sweep_through_the_joblib_launcher_runs_each_trial_in_a_joblib_worker(imbexp_home) -> None:
    home = imbexp_home
    name = "through-joblib"
    result = _sweep(home, "hydra/launcher=joblib", f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=2",
                    "hydra.sweeper.n_jobs=2", "hydra.sweeper.sampler.seed=1")
    assert "Joblib.Parallel(" in result.stdout + result.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home.as_posix()}/runs/mlflow.db")
    pairs = _trials_and_runs(home, name, 2, client)
    for trial, run in pairs:
        # the run was logged by a loky worker process, not by the sweep process that holds the trial
        assert int(run.data.tags["imbexp.pid"]) != _sweep_pid(trial)
    # n_jobs=2 is two sweep processes (each hands one trial at a time to its own joblib pool)
    assert "worker 1 started" in result.stdout


def test_a_sweep_through_submitits_local_executor_runs_each_trial_as_a_submitit_job(imbexp_home) -> None:
    """submitit's SLURM executor cannot run here (no SLURM); its local executor goes through the
    same launcher code (the job pickled into a submission folder, run by submitit in a process
    of its own, its result read back), with a local process where SLURM would queue a job."""
    home = imbexp_home
    name = "through-submitit-local"
    # verbose: a quiet sweep's job prints no summary, so its log would not name the run it made
    _sweep(home, "hydra/launcher=submitit_local", f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=2",
           "hydra.sweeper.sampler.seed=1", "hydra.sweeper.verbose=true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home.as_posix()}/runs/mlflow.db")
    pairs = _trials_and_runs(home, name, 2, client)
    job_pids = {int(run.data.tags["imbexp.pid"]) for _, run in pairs}
    assert len(job_pids) == 2 and not job_pids & {_sweep_pid(trial) for trial, _ in pairs}  # a process per trial
    logs = list(home.glob("runs/hydra/multirun/*/*/.submitit/*/*_0_log.out"))
    for _, run in pairs:
        # the job's output, where submitit keeps it, is this trial's run
        assert len([log for log in logs if f"MLflow run {run.info.run_id}" in log.read_text()]) == 1


# --- Ray ----------------------------------------------------------------------------------------

@dataclass
class RayCluster:
    address: str
    temp_dirs: tuple[Path, Path]  # the head's and the worker node's --temp-dir

    def node_of(self, pid: int) -> int | None:
        """The node (0 head, 1 worker) that ran Ray worker process ``pid``, from the core-worker
        log Ray writes for each of its worker processes in the node's session; None if neither.
        (The processes themselves end with the sweep command, the Ray job they worked for.)"""
        for node, temp in enumerate(self.temp_dirs):
            if list(temp.glob(f"session_latest/logs/python-core-worker-*_{pid}.log")):
                return node
        return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("", 0))  # Ray's servers listen on every interface
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _group_alive(group: int) -> bool:
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def _stop_group(group: int) -> None:
    """Stop one node: its processes are the process group of the ``ray start`` that began it (not
    ``ray stop``, which stops every Ray process on the host, other people's too)."""
    for signum, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signum)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(group):
            time.sleep(0.2)
        if not _group_alive(group):
            return


@pytest.fixture
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a worker node, 1 CPU each, on loopback; stopped even when the test fails."""
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    assert ray, "the ray command is missing: pip install -e '.[test]' brings it"
    # short: Ray's unix sockets live under the temp dir, and a socket path has at most 107 bytes
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port, client, dashboard, *node_ports = _free_ports(9)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--disable-usage-stats", "--object-store-memory=80000000"]

    def node_ports_args(offset: int) -> list[str]:
        agent, grpc, metrics = node_ports[offset:offset + 3]
        return [f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={grpc}",
                f"--metrics-export-port={metrics}"]

    head_cmd = [ray, "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                f"--ray-client-server-port={client}", f"--dashboard-port={dashboard}", "--include-dashboard=false",
                f"--temp-dir={temp / 'head'}", *common, *node_ports_args(0)]
    worker_cmd = [ray, "start", f"--address={HEAD_IP}:{port}", f"--node-ip-address={WORKER_IP}",
                  f"--temp-dir={temp / 'worker'}", *common, *node_ports_args(3)]
    started: list[subprocess.Popen] = []
    try:
        # both at once: the worker's ray start waits for the head's GCS by itself
        for command in (head_cmd, worker_cmd):
            started.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True, start_new_session=True))
        for process in started:
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0, output[-4000:]
        yield RayCluster(address=f"{HEAD_IP}:{port}", temp_dirs=(temp / "head", temp / "worker"))
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.kill()
            _stop_group(process.pid)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.smoke  # Hydra 1.4 refused this sweep until the Ray settings left hydra.launcher alone
def test_a_sweep_through_the_ray_launcher_runs_its_trials_as_tasks_on_a_local_cluster(imbexp_home,
                                                                                       ray_cluster) -> None:
    home = imbexp_home
    name = "through-ray"
    result = _sweep(home, "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_cluster.address}",
                    f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                    "hydra.sweeper.sampler.seed=1")
    assert "Ray Launcher is launching 1 jobs" in result.stdout + result.stderr
    from mlflow.tracking import MlflowClient

    # the trials' runs are in the sweep's store: the Ray tasks got the sweep's IMBEXP_HOME
    client = MlflowClient(f"sqlite:///{home.as_posix()}/runs/mlflow.db")
    pairs = _trials_and_runs(home, name, 2, client)
    nodes = []
    for trial, run in pairs:
        job_pid = int(run.data.tags["imbexp.pid"])
        assert job_pid != _sweep_pid(trial)
        # a Ray worker process of this cluster logged the run (Ray keeps a node's workers for reuse)
        node = ray_cluster.node_of(job_pid)
        assert node is not None, f"trial {trial.number}'s job (pid {job_pid}) was not a task of the test's cluster"
        nodes.append(node)
    # each node has 1 CPU and a trial's task takes 1: two trials running at once ran on both nodes
    spans = sorted((t.datetime_start, t.datetime_complete, node) for (t, _), node in zip(pairs, nodes, strict=True))
    for (_, end, node), (start, _, other) in zip(spans, spans[1:], strict=False):
        if start < end:
            assert node != other


def test_the_ray_launcher_keeps_what_the_user_set_and_fills_in_the_rest(imbexp_home, monkeypatch) -> None:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
    from omegaconf import OmegaConf

    from imbexp.sweeping._launchers import prepare_ray

    monkeypatch.delenv("IMBEXP_QUIET_TRIALS", raising=False)  # a verbose sweep: nothing to forward

    def launcher(**ray: object):
        built = RayLauncher(ray=OmegaConf.create(ray))  # as Hydra builds it from hydra.launcher
        prepare_ray(built)
        return built.ray_cfg

    given = launcher(init={"address": "head:6379", "runtime_env": {"env_vars": {"IMBEXP_HOME": "/shared/runs-home"}}},
                     remote={"num_cpus": 4})
    assert given.init.object_store_memory is None  # set, as null: ray.init refuses a size when joining
    assert dict(given.init.runtime_env.env_vars) == {"IMBEXP_HOME": "/shared/runs-home", "IMBEXP_THREADS": "4"}
    # no address: Ray starts a local instance, where the launcher's object store size is allowed
    local = launcher(init={"address": None}, remote={})
    assert "object_store_memory" not in local.init
    assert dict(local.init.runtime_env.env_vars) == {"IMBEXP_HOME": str(imbexp_home.resolve().as_posix()),
                                                     "IMBEXP_THREADS": "1"}
    # a quiet sweep: the tasks print no summary of their own either
    from imbexp.sweeping._experiment import mark_quiet

    mark_quiet(False)
    assert launcher(init={"address": None}, remote={}).init.runtime_env.env_vars["IMBEXP_QUIET_TRIALS"] == "1"
    mark_quiet(True)
    assert "IMBEXP_QUIET_TRIALS" not in launcher(init={"address": None}, remote={}).init.runtime_env.env_vars
    # another launcher is left alone
    joblib = JoblibLauncher(n_jobs=2)
    prepare_ray(joblib)
    assert dict(joblib.joblib) == {"n_jobs": 2}
