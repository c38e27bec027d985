"""One sweep, many processes: real ``python -m imbexp`` workers on PostgreSQL and an MLflow server.

Every test starts the same sweep command several times at once, as users do on many machines
(docs/running-at-scale.md), against the session's throwaway PostgreSQL 15 (a fresh database per
test) and ``mlflow server`` (an experiment per test). The storage password reaches the workers
only through the environment (``${oc.env:IMBEXP_PG_PASSWORD}`` in the storage URL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = ["dataset.rows=3000", "model.estimator.n_estimators=20", "metrics.bootstrap=0"]
PASSWORD_ENV = "IMBEXP_PG_PASSWORD"
FACTORS = ("strategy.downsample_factor", "strategy.upweight_factor")


@dataclass
class ScaleOut:
    """One test's share of the services, and the worker processes it starts."""

    home: Path
    storage: str  # the real URL, password included: for the test's own checks only
    storage_override: str  # what the workers get: the password comes from the environment
    password: str
    tracking_uri: str
    experiment: str
    study_name: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", self.storage_override,
                f"hydra.sweeper.study_name={self.study_name}", f"tracking.uri={self.tracking_uri}",
                f"tracking.experiment={self.experiment}", *SMALL, *extra]

    def start(self, count: int, *extra: str) -> list[subprocess.Popen]:
        """``count`` processes running the same command, started together (own process groups)."""
        started = []
        for _ in range(count):
            log = self.home / f"worker-{len(self.logs)}.out"
            with open(log, "wb") as out:
                proc = subprocess.Popen(self.command(*extra), env=self.env, cwd=self.home, stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            self.procs.append(proc)
            self.logs.append(log)
            started.append(proc)
        return started

    def wait(self, procs: list[subprocess.Popen], timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"a worker did not finish within {timeout:.0f} s\n{self.output()[-6000:]}")

    def output(self) -> str:
        return "\n".join(f"--- {log.name} ---\n{log.read_text(errors='replace')}" for log in self.logs)

    def assert_ok(self, procs: list[subprocess.Popen]) -> None:
        codes = [p.returncode for p in procs]
        assert codes == [0] * len(procs), f"exit codes {codes}\n{self.output()[-8000:]}"

    def study(self) -> optuna.Study:
        return optuna.load_study(study_name=self.study_name, storage=self.storage)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


@pytest.fixture
def scale_out(postgres, mlflow_server_uri, tmp_path):
    from services import quiet_mlflow_env

    storage = postgres.create_database()
    database = storage.rsplit("/", 1)[1]
    name = f"scale-{uuid.uuid4().hex[:8]}"
    override = (f"hydra.sweeper.storage=postgresql+psycopg2://{postgres.user}:${{oc.env:{PASSWORD_ENV}}}"
                f"@{postgres.host}:{postgres.port}/{database}")
    env = {**quiet_mlflow_env(), "IMBEXP_HOME": str(tmp_path), PASSWORD_ENV: postgres.password}
    env.pop("PGPASSWORD", None)
    run = ScaleOut(home=tmp_path, storage=storage, storage_override=override, password=postgres.password,
                   tracking_uri=mlflow_server_uri, experiment=name, study_name=name, env=env)
    try:
        yield run
    finally:
        run.stop()


def _client(run: ScaleOut):
    from mlflow.tracking import MlflowClient

    return MlflowClient(run.tracking_uri)


def _all_runs(run: ScaleOut):
    """Every run of the test's experiment, deleted ones included."""
    from mlflow.entities import ViewType

    client = _client(run)
    experiment = client.get_experiment_by_name(run.experiment)
    assert experiment is not None, run.output()[-4000:]
    return client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def _parent_and_children(run: ScaleOut, study: optuna.Study):
    runs = [r for r in _all_runs(run) if r.info.lifecycle_stage == "active"]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [(r.info.run_name, r.info.status) for r in parents]
    parent = parents[0]
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(runs) - 1
    return parent, {r.info.run_id: r for r in children}


def _assert_nothing_running(run: ScaleOut, study: optuna.Study) -> None:
    assert not study.get_trials(states=(TrialState.RUNNING,))
    running = [(r.info.run_name, r.info.lifecycle_stage) for r in _all_runs(run) if r.info.status == "RUNNING"]
    assert not running, f"MLflow runs left RUNNING: {running}"


def _assert_children_match_trials(study: optuna.Study, children: dict) -> None:
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        child = children[trial.user_attrs["mlflow_run_id"]]
        assert child.info.status == "FINISHED"
        assert child.data.tags["optuna.trial_number"] == str(trial.number)
        for key, value in trial.params.items():
            assert float(child.data.params[key]) == pytest.approx(value), (trial.number, key)
        assert child.data.metrics["valid_pr_auc"] == pytest.approx(trial.value)


def _assert_no_credentials(run: ScaleOut) -> None:
    """Neither the password nor the full storage URL in any param, tag, metric name or artifact
    of the sweep's runs, nor in what the workers printed."""
    secrets = [run.password, run.storage]
    client = _client(run)
    runs = _all_runs(run)
    for found in runs:
        fields = json.dumps({"params": found.data.params, "tags": found.data.tags,
                             "metrics": sorted(found.data.metrics), "name": found.info.run_name})
        for secret in secrets:
            assert secret not in fields, f"a credential in run {found.info.run_name}'s params/tags/metrics"
    with tempfile.TemporaryDirectory() as tmp:
        files = 0
        for found in runs:
            local = Path(client.download_artifacts(found.info.run_id, "", str(Path(tmp) / found.info.run_id)))
            for path in local.rglob("*"):
                if path.is_file():
                    files += 1
                    data = path.read_bytes()
                    for secret in secrets:
                        assert secret.encode() not in data, f"a credential in artifact {path.relative_to(tmp)}"
        assert files >= len(runs)  # every run has artifacts: config.yaml, predictions, the parent's tables
    output = run.output()
    for secret in secrets:
        assert secret not in output
    assert "***@" in output  # the storage is shown, redacted


def test_three_workers_share_one_study_and_one_parent_run(scale_out: ScaleOut) -> None:
    procs = scale_out.start(3, "hydra.sweeper.n_trials=12", "hydra.sweeper.sampler.seed=0")
    scale_out.wait(procs)
    scale_out.assert_ok(procs)

    study = scale_out.study()
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12
    # the only others allowed: trials asked past n_trials by workers racing for the last ones,
    # put back in the queue (WAITING) before anything ran or was logged
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.WAITING and "mlflow_run_id" not in t.user_attrs for t in others), others
    # the three processes really shared the work
    assert len({t.user_attrs["imbexp.worker"] for t in complete}) >= 2

    parent, children = _parent_and_children(scale_out, study)
    assert len(children) == 12 and parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_complete"] == 12
    _assert_children_match_trials(study, children)
    _assert_nothing_running(scale_out, study)
    _assert_no_credentials(scale_out)
    # one command (the one that ran the last trial) wrote the parent's summary and report
    output = scale_out.output()
    assert output.count("[sweep] report:") == 1, output[-6000:]


def test_a_worker_killed_mid_trial_is_failed_retried_and_the_study_completes(scale_out: ScaleOut) -> None:
    procs = scale_out.start(3, "hydra.sweeper.n_trials=12", "hydra.sweeper.heartbeat_interval=2")
    by_pid = {str(p.pid): p for p in procs}
    victim_trial = victim = None
    deadline = time.monotonic() + 150
    while victim is None:
        assert time.monotonic() < deadline, "no trial started\n" + scale_out.output()[-6000:]
        assert all(p.poll() is None for p in procs), scale_out.output()[-6000:]
        time.sleep(0.5)
        try:
            trials = scale_out.study().get_trials(deepcopy=False)
        except KeyError:  # the study is not created yet
            continue
        if not any(t.state == TrialState.COMPLETE for t in trials):
            continue  # kill in the thick of the sweep, not during start-up
        for trial in trials:
            pid = str(trial.user_attrs.get("imbexp.worker", "")).rpartition(":")[2]
            if trial.state == TrialState.RUNNING and pid in by_pid and "mlflow_run_id" in trial.user_attrs:
                victim_trial, victim = trial, by_pid[pid]
                break
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and anything it started
    survivors = [p for p in procs if p is not victim]
    scale_out.wait(survivors)
    assert victim.wait() == -signal.SIGKILL
    scale_out.assert_ok(survivors)

    study = scale_out.study()
    trials = study.get_trials()
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 12
    dead = next(t for t in trials if t.number == victim_trial.number)
    assert dead.state == TrialState.FAIL and "fail_reason" not in dead.user_attrs  # died, did not raise
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1 and retries[0].params == dead.params
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING}
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [dead.number]

    client = _client(scale_out)
    assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"  # its process is gone
    parent, children = _parent_and_children(scale_out, study)
    assert parent.info.status == "FINISHED"
    assert sorted(r.info.status for r in children.values()) == ["FINISHED"] * 12 + ["KILLED"]
    _assert_children_match_trials(study, children)
    _assert_nothing_running(scale_out, study)


def test_a_grid_shared_by_workers_runs_every_point_once(scale_out: ScaleOut) -> None:
    points = {(f, w) for f in (1.0, 2.0, 4.0) for w in (1.0, 4.0)}
    procs = scale_out.start(3, "hydra/sweeper/sampler=grid", "strategy.downsample_factor=choice(1.0, 2.0, 4.0)",
                            "strategy.upweight_factor=choice(1.0, 4.0)")
    scale_out.wait(procs)
    scale_out.assert_ok(procs)

    study = scale_out.study()
    run = [t for t in study.get_trials() if "mlflow_run_id" in t.user_attrs]  # every trial that ran
    assert sorted(tuple(t.params[k] for k in FACTORS) for t in run) == sorted(points)
    assert all(t.state == TrialState.COMPLETE for t in run)
    # the rest: points two workers drew at once, dropped (PRUNED) before running, or re-queued
    assert {t.state for t in study.get_trials() if t not in run} <= {TrialState.PRUNED, TrialState.WAITING}

    parent, children = _parent_and_children(scale_out, study)
    assert sorted(tuple(float(c.data.params[k]) for k in FACTORS) for c in children.values()) == sorted(points)
    _assert_nothing_running(scale_out, study)
